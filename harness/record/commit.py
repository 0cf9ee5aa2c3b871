"""`harness results commit`: keep the record in git history, on the main branch.

Commits the GLOBAL files (results.tsv, the journal) and the record folders (0_docs/,
1_ideas/, 9_reports/) of the main worktree, and nothing else: other changes there, staged
or not, stay as they are. The message summarises what was added since the record was
last committed (new runs by idea and status, new journal entries, files added or changed
per folder). The commit goes through the pre-commit guard like any other.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from harness import gitops
from harness.config import Config
from harness.errors import RecordError, UsageError
from harness.fileio import read_text
from harness.layout import Layout
from harness.rules.appendonly import ENTRY_MARK
from harness.rules.globs import matches

SUBJECT = "Record"
RESULTS = "results.tsv"
TEXT_SUFFIXES = (".md", ".tsv")  # record files every reader expects as UTF-8 text


@dataclass(frozen=True)
class RecordCommit:
    sha: str | None  # None: nothing to commit
    paths: tuple[str, ...]
    message: str

    def to_json(self) -> dict[str, object]:
        return {"commit": self.sha, "paths": list(self.paths), "message": self.message}


def record_changes(layout: Layout, config: Config) -> list[tuple[str, str]]:
    """(status, path) of the uncommitted changes of the root that belong to the record."""
    patterns = (*config.rules.global_, *config.rules.records)
    return [
        (code, path) for code, path in gitops.status_entries(layout.root) if matches(path, patterns)
    ]


def commit_record(layout: Layout, config: Config) -> RecordCommit:
    """Commit the record's changes on the main branch; nothing else is touched."""
    branch = gitops.current_branch(layout.root)
    if branch != config.main_branch:
        raise UsageError(
            f"the main worktree {layout.root} is on {branch or 'a detached HEAD'}, not "
            f"{config.main_branch}: the record is committed on {config.main_branch} only; "
            f"check it out there first"
        )
    ignored = ignored_global_files(layout, config)
    if ignored:
        raise UsageError(
            f"{', '.join(ignored)} ignored by git (.gitignore), so the record cannot be "
            f"committed: add a line `!/{ignored[0]}` to .gitignore (`harness init` does it)"
        )
    changes = record_changes(layout, config)
    if not changes:
        return RecordCommit(None, (), "nothing to commit: the record is committed already")
    check_text_files(layout, [path for code, path in changes if "D" not in code])
    message = summary(layout, config, changes)
    paths = [path for _, path in changes]
    sha = gitops.commit_only(layout.root, paths, message=message)
    return RecordCommit(sha, tuple(paths), message)


def check_text_files(layout: Layout, paths: list[str]) -> None:
    """Refuse to commit a record text file that is not UTF-8: every reader would fail on it."""
    for path in paths:
        target = layout.root / path
        if path.endswith(TEXT_SUFFIXES) and target.is_file():
            try:
                read_text(target, name=path)
            except RecordError as exc:
                raise RecordError(f"nothing committed: {exc}") from None


def ignored_global_files(layout: Layout, config: Config) -> list[str]:
    """The GLOBAL files that exist in the root but that git ignores."""
    present = [p for p in config.rules.global_ if (layout.root / p).is_file()]
    return gitops.ignored_paths(layout.root, present)


def summary(layout: Layout, config: Config, changes: list[tuple[str, str]]) -> str:
    """`Record: ...` and one line per file or folder, from the changes against HEAD."""
    short, details = [], []
    global_paths = {p for _, p in changes if matches(p, config.rules.global_)}
    for path in sorted(global_paths, key=lambda p: (p != RESULTS, p)):
        head_text = gitops.file_at(layout.root, "HEAD", path) or ""
        text = (layout.root / path).read_text(encoding="utf-8", errors="replace")
        if path == RESULTS:
            brief, detail = results_summary(head_text, text)
        else:
            brief, detail = journal_summary(path, head_text, text)
        short.append(brief)
        details.append(detail)
    for folder, counts in sorted(folder_counts(changes, config).items()):
        described = ", ".join(f"{n} {kind}" for kind, n in counts.items())
        short.append(f"{folder} ({described})")
        details.append(f"{folder}/: {described}")
    subject = f"{SUBJECT}: {', '.join(short)}"
    return subject + "\n\n" + "\n".join(f"- {line}" for line in details) + "\n"


def results_summary(old: str, new: str) -> tuple[str, str]:
    """New rows of results.tsv, counted by idea and status."""
    if not new.startswith(old) or not old:
        return f"{RESULTS} changed", f"{RESULTS}: changed (not only appended)"
    lines = [line for line in new[len(old) :].splitlines() if line.strip()]
    header = new.split("\n", 1)[0].split("\t")
    idea, status = header.index("idea"), header.index("status")
    counts: Counter[tuple[str, str]] = Counter()
    for line in lines:
        fields = line.split("\t")
        if len(fields) == len(header):
            counts[(fields[idea], fields[status])] += 1
    by_idea: dict[str, list[str]] = {}
    for (name, state), n in counts.items():
        by_idea.setdefault(name, []).append(f"{n} {state}")
    listed = "; ".join(f"{name}: {', '.join(parts)}" for name, parts in by_idea.items())
    runs = plural(len(lines), "run")
    return runs, f"{RESULTS}: {plural(len(lines), 'new run')} ({listed})"


def journal_summary(path: str, old: str, new: str) -> tuple[str, str]:
    """New entries of an append-only journal (lines starting with `## `)."""
    added = _entries(new) - _entries(old)
    if added <= 0:
        return f"{path} changed", f"{path}: changed"
    return plural(added, "journal entry"), f"{path}: {plural(added, 'new entry')}"


def plural(count: int, noun: str) -> str:
    if count == 1:
        return f"1 {noun}"
    return f"{count} {noun[:-1]}ies" if noun.endswith("y") else f"{count} {noun}s"


def _entries(text: str) -> int:
    return sum(line.startswith(ENTRY_MARK) for line in text.splitlines())


def folder_counts(changes: list[tuple[str, str]], config: Config) -> dict[str, Counter[str]]:
    """{top folder: Counter(added/changed/deleted)} of the record folders' changes."""
    found: dict[str, Counter[str]] = {}
    for code, path in changes:
        if matches(path, config.rules.global_):
            continue
        folder = path.split("/", 1)[0] if "/" in path else path
        kind = "deleted" if "D" in code else "new" if code in ("??", "A ", "AM") else "changed"
        found.setdefault(folder, Counter())[kind] += 1
    return found
