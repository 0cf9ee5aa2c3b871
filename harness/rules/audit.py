"""`harness audit`: a check of the main branch's whole history, not a list.

It finds every commit of main's history that changed a FROZEN file or the `[tool.harness]`
table, each with the grant that allowed it (see harness.rules.grants: the grant in force
on main's first-parent line where the commit entered main, committed before it), and it
fails on:

- a FROZEN or config change without a grant (the first commit, which creates the FROZEN
  files and the table, needs none);
- an APPEND-ONLY violation anywhere in main's history (a journal truncated, or a row of
  results.tsv edited or deleted, with `--no-verify`, say);
- a rewritten history: the head of main it last audited (kept in `refs/harness/audited`)
  is no longer an ancestor of main (a `rebase -i --root` that folds a FROZEN change into
  the first commit, a reset, a force-push pulled).

The ref moves to main's head only when an audit passes, so a problem is reported until a
human accepts it by moving the ref (`git update-ref refs/harness/audited <main>`): commits
below the ref are listed but not checked again (which also keeps a long history's audit
cheap: the journals' old versions are not read again). `harness init` sets the ref at the
first commit; a fresh clone (CI) has none, and checks the whole history.

Every git call ignores replace refs (harness.gitops).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from harness import gitops
from harness.config import CONFIG_FILE, Config
from harness.layout import Layout
from harness.rules import policy
from harness.rules.globs import matches
from harness.rules.grants import GrantLine, grant_line, is_ancestor
from harness.rules.guard import commit_changes, load_contents
from harness.rules.policy import Change, Context

FIRST_COMMIT = "the first commit"
AUDITED_REF = "refs/harness/audited"


@dataclass(frozen=True)
class AuditEntry:
    commit: str
    time: datetime
    author: str
    subject: str
    paths: tuple[str, ...]  # the FROZEN paths it changed, and pyproject.toml for the table
    grant: str | None  # what allowed it, or None
    config_keys: tuple[str, ...] = ()  # the [tool.harness] keys it changed

    def to_json(self) -> dict[str, object]:
        return {
            "commit": self.commit,
            "time": self.time.isoformat(),
            "author": self.author,
            "subject": self.subject,
            "paths": list(self.paths),
            "config_keys": list(self.config_keys),
            "grant": self.grant,
        }


@dataclass(frozen=True)
class AuditReport:
    entries: list[AuditEntry]  # newest first
    problems: list[str] = field(default_factory=list)  # one line each; any fails the audit
    head: str | None = None  # the head of main audited

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "head": self.head,
            "changes": [e.to_json() for e in self.entries],
            "problems": self.problems,
        }


def audit(layout: Layout, *, config: Config) -> AuditReport:
    """Audit the main branch's history; moves `refs/harness/audited` to its head unless the
    history was rewritten (which it reports until a human moves the ref)."""
    cwd = layout.root
    head = gitops.resolve_commit(cwd, f"refs/heads/{config.main_branch}")
    if head is None:
        return AuditReport([], [], None)
    history = main_history(layout, config=config)
    line = grant_line(cwd, head, humans=config.humans)
    problems, accepted = accepted_commits(cwd, head, main=config.main_branch)
    checked = content_checks(history, config, accepted=accepted, cwd=cwd)
    entries = []
    for sha, parents, time, author, subject, paths in history:
        frozen = tuple(p for p in paths if matches(p, config.rules.frozen))
        keys, broken = checked.get(sha, ((), []))
        problems += [f"{sha[:10]}: {message}" for message in broken]
        if not frozen and not keys:
            continue
        grant = FIRST_COMMIT if not parents else grant_of(sha, head, line, cwd=cwd)
        shown = frozen + ((CONFIG_FILE,) if keys else ())
        entries.append(AuditEntry(sha, time, author, subject, shown, grant, keys))
        if grant is None and sha not in accepted:
            what = ", ".join(frozen + tuple(f"[tool.harness] {k}" for k in keys))
            problems.append(f"{sha[:10]}: {what} changed on {config.main_branch} without a grant")
    if not problems:
        mark_audited(cwd, head)
    return AuditReport(entries, problems, head)


def grant_of(sha: str, head: str, line: GrantLine, *, cwd: Path) -> str | None:
    """The grant in force where `sha` entered main, if it was committed before `sha`."""
    entry = sha if sha in line.in_force else entry_point(sha, head, cwd=cwd)
    grant = line.at(entry) if entry else None
    if grant is None or not is_ancestor(grant.commit, sha, cwd=cwd):
        return None
    return grant.describe()


def entry_point(sha: str, head: str, *, cwd: Path) -> str | None:
    """The first commit of main's first-parent line that has `sha` (the merge bringing it)."""
    listed = gitops.git(
        "rev-list", "--first-parent", "--ancestry-path", f"{sha}..{head}", cwd=cwd
    ).split()
    return listed[-1] if listed else None


CHUNK = 32  # commits whose contents are read in one batch (a journal's versions add up)


def content_checks(
    history: list[tuple[str, list[str], datetime, str, str, list[str]]],
    config: Config,
    *,
    accepted: set[str],
    cwd: Path,
) -> dict[str, tuple[tuple[str, ...], list[str]]]:
    """{commit: ([tool.harness] keys it changed, APPEND-ONLY violations)} for the commits
    that touched pyproject.toml, or an APPEND-ONLY file when not yet accepted."""

    def wanted(sha: str, path: str) -> bool:
        return path == CONFIG_FILE or (
            sha not in accepted and matches(path, policy.appended(config.rules))
        )

    commits = [
        (sha, parents)
        for sha, parents, _, _, _, paths in history
        if parents and any(wanted(sha, p) for p in paths)
    ]
    context = Context(config.rules, None, config.main_branch)
    results = {}
    for start in range(0, len(commits), CHUNK):
        per_commit = []
        for sha, parents in commits[start : start + CHUNK]:
            _, changes = commit_changes([sha, *parents], cwd=cwd)
            per_commit.append((sha, [c for c in changes if any(wanted(sha, p) for p in c.paths)]))
        everything = load_contents([c for _, cs in per_commit for c in cs], config, cwd=cwd)
        position = 0
        for sha, changes in per_commit:
            filled = everything[position : position + len(changes)]
            position += len(changes)
            keys = tuple(key for change in filled for key in policy.config_keys(change))
            results[sha] = (keys, append_only_problems(filled, context))
    return results


def append_only_problems(changes: list[Change], context: Context) -> list[str]:
    return [v.message for c in changes for v in policy.check_append(c, context)]


def accepted_commits(cwd: Path, head: str, *, main: str) -> tuple[list[str], set[str]]:
    """(the rewritten-history problem, if any; the commits below the audited head)."""
    audited = gitops.resolve_commit(cwd, AUDITED_REF)
    if audited is None:
        return [], set()
    if not is_ancestor(audited, head, cwd=cwd):
        return [
            f"{main}'s history was rewritten: {audited[:10]}, the head last audited "
            f"({AUDITED_REF}), is no longer an ancestor of {main}; if a human rewrote it on "
            f"purpose, audit the new history and run `git update-ref {AUDITED_REF} {main}`"
        ], set()
    return [], set(gitops.git("rev-list", audited, cwd=cwd).split())


def mark_audited(cwd: Path, head: str) -> None:
    """Record `head` as the head of main last audited (passed, or accepted by `harness
    init` for the first commit)."""
    gitops.git("update-ref", AUDITED_REF, head, cwd=cwd)


def main_history(
    layout: Layout, *, config: Config
) -> list[tuple[str, list[str], datetime, str, str, list[str]]]:
    """(sha, parents, commit time, author, subject, changed paths) of the main branch."""
    output = gitops.git_bytes(
        "log",
        "--format=%x1e%H%x1f%P%x1f%ct%x1f%an%x1f%s",
        "--name-only",
        "--no-renames",
        "--diff-merges=dense-combined",
        "-z",
        f"refs/heads/{config.main_branch}",
        "--",
        cwd=layout.root,
    )
    history = []
    for record in output.split(b"\x1e")[1:]:
        header, *names = record.split(b"\0")
        sha, parents, stamp, author, subject = header.decode("utf-8", "replace").split("\x1f")
        paths = [os.fsdecode(name.lstrip(b"\n")) for name in names if name.strip(b"\n")]
        time = datetime.fromtimestamp(int(stamp), UTC)
        history.append((sha, parents.split(), time, author, subject, paths))
    return history
