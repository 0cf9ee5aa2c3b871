"""The guard: collect the changes of the index or of a range of commits, check the rules.

One function (`harness.rules.policy.check`), three callers: the pre-commit hook and
`harness guard --staged` (the index against HEAD), and `harness guard --range BASE..HEAD`
(every commit of a pull request, so a commit made with `--no-verify` is still caught).

It runs on every commit, so it stays cheap: one `git diff-index` for the paths, and the
contents only of APPEND-ONLY files, read in one `git cat-file --batch`. The configuration
and the META_MODE grant come from a place the change cannot touch: for the index, the
main worktree's pyproject.toml and human_journal.md; for a range, those files as they are
in BASE, so a pull request cannot loosen its own check.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from harness import gitops
from harness.config import Config, load_config, parse_config
from harness.errors import ConfigError, GitError, UsageError
from harness.layout import find_layout
from harness.rules import policy as rules
from harness.rules.meta import meta_state, read_journal
from harness.rules.policy import Change, Context, Violation

RAW_KINDS: dict[str, rules.ChangeKind] = {
    "A": "add",
    "C": "add",
    "D": "delete",
    "M": "modify",
    "R": "rename",
    "T": "typechange",
    "U": "modify",
}
SYMLINK_MODE = "120000"
DIFF_ARGS = ("--raw", "-z", "-M", "--no-abbrev")


@dataclass(frozen=True)
class GuardReport:
    violations: list[Violation]
    commits: int  # commits checked (1 for the index)
    changes: int  # changed paths checked
    branch: str | None
    meta: bool

    @property
    def ok(self) -> bool:
        return not self.violations

    def to_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "commits": self.commits,
            "changes": self.changes,
            "branch": self.branch,
            "meta_mode": self.meta,
            "violations": [
                {"commit": v.commit, "path": v.path, "rule": v.rule, "message": v.message}
                for v in self.violations
            ],
        }


def parse_raw(output: bytes) -> list[Change]:
    """Changes from `git diff-index/diff-tree --raw -z` output."""
    fields = output.split(b"\0")
    changes, i = [], 0
    while i < len(fields) and fields[i].startswith(b":"):
        old_mode, new_mode, old_blob, new_blob, status = fields[i][1:].decode().split()
        letter = status[0]
        if letter in "RC":
            old_path, path, i = os.fsdecode(fields[i + 1]), os.fsdecode(fields[i + 2]), i + 3
        else:
            old_path, path, i = None, os.fsdecode(fields[i + 1]), i + 2
        change = Change(
            path=path,
            kind=classify(letter, old_mode, new_mode, old_blob, new_blob),
            old_path=old_path if letter == "R" else None,
            old_mode=old_mode,
            new_mode=new_mode,
            old_blob=old_blob,
            new_blob=new_blob,
        )
        changes.append(change)
    return changes


def classify(letter: str, old_mode: str, new_mode: str, old: str, new: str) -> rules.ChangeKind:
    kind = RAW_KINDS.get(letter, "modify")
    if kind in ("add", "typechange") and new_mode == SYMLINK_MODE:
        return "symlink"
    if kind == "modify" and old == new and old_mode != new_mode:
        return "mode"
    return kind


def load_contents(changes: list[Change], config: Config, *, cwd: Path) -> list[Change]:
    """`changes` with old and new texts filled in where the rules need them."""
    wanted = [c for c in changes if rules.needs_content(c, config.rules)]
    if not wanted:
        return changes
    texts = read_blobs({b for c in wanted for b in (c.old_blob, c.new_blob)}, cwd=cwd)
    return [
        replace(c, old_text=texts[c.old_blob], new_text=texts[c.new_blob]) if c in wanted else c
        for c in changes
    ]


def read_blobs(blob_ids: Iterable[str], *, cwd: Path) -> dict[str, str]:
    """{blob id: text} in one `git cat-file --batch`; bytes kept exactly (surrogateescape)."""
    ids = sorted(blob_ids)
    output = gitops.git_bytes(
        "cat-file", "--batch", cwd=cwd, input="".join(f"{b}\n" for b in ids).encode()
    )
    texts, position = {}, 0
    for blob in ids:
        end = output.index(b"\n", position)
        header = output[position:end].split()
        size = int(header[2])
        texts[blob] = output[end + 1 : end + 1 + size].decode("utf-8", "surrogateescape")
        position = end + 1 + size + 1
    return texts


def check_staged(
    start: Path | None = None, *, environ: Mapping[str, str] | None = None
) -> GuardReport:
    """Check what is staged in the worktree containing `start` (what the hook runs)."""
    layout = find_layout(start)
    config = load_config(layout.root)
    environ = os.environ if environ is None else environ
    meta = meta_state(environ=environ, journal_text=read_journal(layout)).active
    cwd = layout.worktree
    branch, merging = head_state(cwd)
    changes = parse_raw(index_diff(cwd))
    for merge_head in merging:
        others = changed_paths(["diff-index", "--cached", merge_head], cwd=cwd)
        changes = [c for c in changes if others.intersection(c.paths)]
    changes = load_contents(changes, config, cwd=cwd)
    context = Context(config.rules, branch, config.main_branch, meta)
    return GuardReport(rules.check(changes, context), 1, len(changes), branch, meta)


def index_diff(cwd: Path) -> bytes:
    """Raw diff of the index against HEAD (against the empty tree before the first commit)."""
    try:
        return gitops.git_bytes("diff-index", "--cached", *DIFF_ARGS, "HEAD", cwd=cwd)
    except GitError:
        if gitops.has_commits(cwd):
            raise
    empty = gitops.git("hash-object", "-t", "tree", "--stdin", cwd=cwd, input="").strip()
    return gitops.git_bytes("diff-index", "--cached", *DIFF_ARGS, empty, cwd=cwd)


def head_state(cwd: Path) -> tuple[str | None, list[str]]:
    """(the checked-out branch or None when detached, the commits of a merge in progress)."""
    args = ("rev-parse", "--path-format=absolute", "--git-path", "MERGE_HEAD")
    out = gitops.git(*args, "--symbolic-full-name", "HEAD", cwd=cwd, check=False).splitlines()
    merge_head = Path(out[0]) if out else None
    merging = merge_head.read_text().split() if merge_head and merge_head.exists() else []
    if len(out) == 2 and out[1].startswith("refs/heads/"):
        return out[1].removeprefix("refs/heads/"), merging
    return gitops.current_branch(cwd), merging  # detached, or no commit yet


def changed_paths(args: list[str], *, cwd: Path) -> set[str]:
    """The paths a `git diff-index`/`diff-tree` invocation reports (no rename pairing)."""
    output = gitops.git_bytes(
        *args[:1], "-r", "--name-only", "-z", "--no-renames", *args[1:], cwd=cwd
    )
    return {os.fsdecode(name) for name in output.split(b"\0") if name}


def check_range(
    spec: str,
    *,
    start: Path | None = None,
    branch: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> GuardReport:
    """Check every commit of `BASE..HEAD` with the rules and the META_MODE grant of BASE.

    `branch` is the branch the commits are on; by default the branch HEAD names (`main..exp/x`
    means exp/x; `HEAD` the checked-out branch). Commits on no branch count as not on main.
    """
    base, head = parse_range(spec)
    cwd = find_layout(start).worktree
    base_sha, head_sha = resolve(base, cwd=cwd), resolve(head, cwd=cwd)
    config = config_at(base_sha, cwd=cwd, label=base)
    environ = os.environ if environ is None else environ
    journal = show_file(base_sha, "human_journal.md", cwd=cwd) or ""
    meta = meta_state(environ=environ, journal_text=journal).active
    if branch is None:
        branch = branch_named(head, cwd=cwd)
    listed = gitops.git("rev-list", "--reverse", "--parents", f"{base_sha}..{head_sha}", cwd=cwd)
    per_commit = [commit_changes(line.split(), cwd=cwd) for line in listed.splitlines()]
    everything = load_contents([c for _, changes in per_commit for c in changes], config, cwd=cwd)
    context = Context(config.rules, branch, config.main_branch, meta)
    violations, position = [], 0
    for sha, changes in per_commit:
        filled = everything[position : position + len(changes)]
        position += len(changes)
        violations += [replace(v, commit=sha) for v in rules.check(filled, context)]
    return GuardReport(violations, len(per_commit), len(everything), branch, meta)


def branch_named(revision: str, *, cwd: Path) -> str | None:
    """The branch a revision names (`exp/x`, `refs/heads/exp/x`, `HEAD`), else None."""
    out = gitops.git("rev-parse", "--symbolic-full-name", revision, cwd=cwd, check=False)
    name = out.strip()
    return name.removeprefix("refs/heads/") if name.startswith("refs/heads/") else None


def parse_range(spec: str) -> tuple[str, str]:
    base, dots, head = spec.partition("..")
    if not dots or not base or not head or head.startswith("."):
        raise UsageError(f"--range wants BASE..HEAD (two revisions, two dots), got {spec!r}")
    return base, head


def resolve(revision: str, *, cwd: Path) -> str:
    out = gitops.git(
        "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}", cwd=cwd, check=False
    )
    if not out.strip():
        raise UsageError(
            f"{revision!r} is not a commit here: fetch it, or name an existing revision"
        )
    return out.strip()


def show_file(commit: str, path: str, *, cwd: Path) -> str | None:
    """The text of `path` in `commit`, or None when the commit has no such file."""
    try:
        return gitops.git_bytes("show", f"{commit}:{path}", cwd=cwd).decode(
            "utf-8", "surrogateescape"
        )
    except GitError:
        return None


def config_at(commit: str, *, cwd: Path, label: str) -> Config:
    """`[tool.harness]` as the pyproject.toml of `commit` has it."""
    text = show_file(commit, "pyproject.toml", cwd=cwd)
    if text is None:
        raise ConfigError(
            f"{label} has no pyproject.toml: the range check reads [tool.harness] from BASE"
        )
    try:
        tool = tomllib.loads(text).get("tool", {})
        table = tool.get("harness") if isinstance(tool, dict) else None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"pyproject.toml of {label} is not valid TOML ({exc})") from None
    if table is None:
        raise ConfigError(
            f"pyproject.toml of {label} has no [tool.harness] table: run `harness init`"
        )
    return parse_config(table)


def commit_changes(line: list[str], *, cwd: Path) -> tuple[str, list[Change]]:
    """(sha, changes) of one commit from a `rev-list --parents` line: sha, then parents.

    A merge commit's changes are the paths that differ from every parent (what the merge
    itself decided); what came from a parent was checked in that parent's own commit.
    """
    sha, parents = line[0], line[1:]
    tree_args = ["diff-tree", "--no-commit-id", "-r", *DIFF_ARGS]
    if not parents:
        return sha, parse_raw(gitops.git_bytes(*tree_args, "--root", sha, cwd=cwd))
    changes = parse_raw(gitops.git_bytes(*tree_args, parents[0], sha, cwd=cwd))
    for parent in parents[1:]:
        others = changed_paths(["diff-tree", parent, sha], cwd=cwd)
        changes = [c for c in changes if others.intersection(c.paths)]
    return sha, changes
