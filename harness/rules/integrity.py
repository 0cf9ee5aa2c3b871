"""Evaluation integrity: a hash of the FROZEN files as an evaluation saw them.

Every results row stores `frozen_sha`, computed from the worktree the evaluation ran in
(working-tree content, so an uncommitted edit counts). A row whose hash differs from the
FROZEN files of the main branch is `modified` and never counts as a result. This holds
even when the pre-commit hook was bypassed.

The hash covers (path, git blob id, git file mode) of every file matching the FROZEN
globs, in sorted order, so the same content gives the same hash whether it is read from
a worktree or from a commit. The mode of a regular file (100644) is left out of the hash,
so a row recorded before modes counted keeps its hash; an executable bit or a symlink
changes it. `harness eval` takes the hash before the run and again after it, and looks
at the FROZEN files' change times: FROZEN files swapped in for the length of a run (and
swapped back) are seen too.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from harness.config import Config
from harness.gitops import git
from harness.rules.globs import matches


def blob_id(content: bytes) -> str:
    """The git blob id (sha1) of `content`, as `git hash-object` prints it."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


REGULAR = "100644"
OTHER_COMMAND = "command"  # the integrity of a row from a command other than `eval`


def digest(entries: dict[str, str]) -> str:
    """The hash of {path: "blob id" or "blob id mode"}; an empty set of files has one too."""
    lines = "".join(f"{path}\t{blob}\n" for path, blob in sorted(entries.items()))
    return hashlib.sha256(lines.encode()).hexdigest()[:16]


def entry(blob: str, mode: str) -> str:
    """What the hash holds of one file: its blob id, and its mode unless a regular file's."""
    return blob if mode == REGULAR else f"{blob} {mode}"


def worktree_mode(target: Path) -> str:
    """The git mode of a worktree file, as `git add` would record it."""
    if target.is_symlink():
        return "120000"
    return "100755" if target.stat().st_mode & 0o100 else REGULAR


def worktree_frozen_files(worktree: Path, patterns: tuple[str, ...]) -> dict[str, str]:
    """{path: blob id} of the files of a worktree (tracked or not) matching the globs."""
    listed = git("ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=worktree)
    entries = {}
    for path in sorted(set(filter(None, listed.split("\0")))):
        if matches(path, patterns):
            target = worktree / path
            if target.is_symlink():
                entries[path] = entry(blob_id(str(target.readlink()).encode()), "120000")
            elif target.is_file():
                entries[path] = entry(blob_id(target.read_bytes()), worktree_mode(target))
    return entries


def touched_since(worktree: Path, patterns: tuple[str, ...], since_ns: int) -> list[str]:
    """FROZEN paths of a worktree whose inode changed after `since_ns` (time.time_ns()).

    The change time (ctime) moves with every write, rename, link or mode change, and no
    one can set it back: a file swapped in and restored within a run, which leaves the
    content hash as it was, shows here.
    """
    listed = git("ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=worktree)
    touched = []
    for path in sorted(set(filter(None, listed.split("\0")))):
        if matches(path, patterns):
            try:
                if (worktree / path).lstat().st_ctime_ns > since_ns:
                    touched.append(path)
            except FileNotFoundError:
                touched.append(path)
    return touched


def commit_frozen_files(repo: Path, rev: str, patterns: tuple[str, ...]) -> dict[str, str]:
    """{path: blob id} of the files matching the globs in commit `rev`."""
    entries = {}
    for record in git("ls-tree", "-r", "-z", rev, cwd=repo).split("\0"):
        if not record:
            continue
        meta, path = record.split("\t", 1)
        if matches(path, patterns):
            mode, _, blob = meta.split()
            entries[path] = entry(blob, mode)
    return entries


@dataclass(frozen=True)
class Integrity:
    frozen_sha: str  # of the worktree the evaluation runs in
    main_sha: str  # of the main branch
    changed: tuple[str, ...]  # FROZEN paths that differ from main

    @property
    def status(self) -> str:
        return "ok" if self.frozen_sha == self.main_sha else "modified"


def check_integrity(worktree: Path, *, root: Path, config: Config) -> Integrity:
    """Compare the FROZEN files of `worktree` with those of the main branch."""
    patterns = config.rules.frozen
    here = worktree_frozen_files(worktree, patterns)
    main = commit_frozen_files(root, config.main_branch, patterns)
    changed = sorted(p for p in here.keys() | main.keys() if here.get(p) != main.get(p))
    return Integrity(frozen_sha=digest(here), main_sha=digest(main), changed=tuple(changed))


@dataclass(frozen=True)
class WorktreeIntegrity:
    path: Path
    branch: str | None  # None: detached HEAD
    integrity: Integrity

    def to_json(self) -> dict[str, object]:
        return {
            "worktree": str(self.path),
            "branch": self.branch,
            "status": self.integrity.status,
            "frozen_sha": self.integrity.frozen_sha,
            "main_sha": self.integrity.main_sha,
            "changed": list(self.integrity.changed),
        }


def list_worktrees(root: Path) -> list[tuple[Path, str | None]]:
    """(path, branch) of every worktree of the repository whose directory exists."""
    found: list[tuple[Path, str | None]] = []
    for record in git("worktree", "list", "--porcelain", "-z", cwd=root).split("\0\0"):
        fields = dict(line.partition(" ")[::2] for line in record.split("\0") if line.strip())
        path = Path(fields.get("worktree", ""))
        if not fields.get("worktree") or "bare" in fields or not path.is_dir():
            continue
        branch = fields.get("branch", "").removeprefix("refs/heads/") or None
        found.append((path, branch))
    return found


def check_worktrees(root: Path, *, config: Config) -> list[WorktreeIntegrity]:
    """The integrity of every worktree (the main one first) against the main branch."""
    return [
        WorktreeIntegrity(path, branch, check_integrity(path, root=root, config=config))
        for path, branch in list_worktrees(root)
    ]
