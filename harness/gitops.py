"""Every git operation of the harness goes through here, as a call of the `git` binary.

Each function runs one git command and reads its machine-readable output (`-z`,
`--porcelain`, plumbing formats), so git's own rules (wildmatch, worktrees, renames) apply
unchanged, and importing this module costs nothing. The harness does not use gitpython:
it would cost 50-80 ms of imports, spawns `git` itself for most of what the harness
does, and has no model of linked worktrees.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from harness.errors import GitError, HarnessError, NotARepository

FALLBACK_IDENTITY = ("-c", "user.name=harness", "-c", "user.email=harness@localhost")
# Every git call of the harness ignores replace refs: `git replace` (which rewrites what a
# commit or blob id reads as) must not fool a guard, the audit or a recorded identity.
NO_REPLACE = ("--no-replace-objects",)


def git(*args: str, cwd: Path, input: str | None = None, check: bool = True) -> str:
    """Run `git args...` in `cwd` and return its stdout. Raises GitError with the stderr tail."""
    argv = ["git", *args]
    try:
        proc = subprocess.run(
            ["git", *NO_REPLACE, *args],
            cwd=cwd,
            input=input,
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError:
        raise _not_found(cwd) from None
    except NotADirectoryError:
        raise NotARepository(f"{cwd} is not a directory") from None
    if check and proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["(no stderr)"]
        raise GitError(f"`{' '.join(argv)}` failed in {cwd}: {tail[0]}")
    return proc.stdout


def _not_found(cwd: Path) -> HarnessError:
    """What a FileNotFoundError of subprocess means: the folder is gone, or git is."""
    if not Path(cwd).exists():
        return NotARepository(f"{cwd} does not exist (removed while git ran in it): run again")
    return GitError("git is not installed: install it (e.g. apt-get install git)")


def git_bytes(*args: str, cwd: Path, input: bytes | None = None) -> bytes:
    """`git()` for output that is not text: paths as git stores them, blob contents."""
    argv = ["git", *args]
    try:
        proc = subprocess.run(
            ["git", *NO_REPLACE, *args], cwd=cwd, input=input, capture_output=True, check=False
        )
    except FileNotFoundError:
        raise _not_found(cwd) from None
    except NotADirectoryError:
        raise NotARepository(f"{cwd} is not a directory") from None
    if proc.returncode != 0:
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["(no stderr)"]
        raise GitError(f"`{' '.join(argv)}` failed in {cwd}: {tail[0]}")
    return proc.stdout


def read_blobs(blob_ids: Iterable[str], *, cwd: Path) -> dict[str, str]:
    """{blob id: text} in one `git cat-file --batch`; bytes kept exactly (surrogateescape)."""
    ids = sorted(blob_ids)
    if not ids:
        return {}
    output = git_bytes(
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


def existing_commits(revisions: Iterable[str], *, cwd: Path) -> set[str]:
    """Those of `revisions` that name a commit here, in one `git cat-file --batch-check`
    (a record can name thousands of commits, most of them long gone). git answers each
    line with `<id> commit <size>`, or `<revision> missing`."""
    asked = sorted(set(revisions))
    if not asked:
        return set()
    lines = "".join(f"{revision}^{{commit}}\n" for revision in asked).encode()
    answers = git_bytes("cat-file", "--batch-check", cwd=cwd, input=lines).splitlines()
    pairs = zip(asked, answers, strict=True)  # one answer line per asked line
    return {revision for revision, answer in pairs if answer.split()[1:2] == [b"commit"]}


def is_repository(path: Path) -> bool:
    proc = subprocess.run(
        ["git", *NO_REPLACE, "rev-parse", "--git-dir"], cwd=path, capture_output=True, check=False
    )
    return proc.returncode == 0


def init_repository(path: Path, *, branch: str) -> None:
    git("init", "--quiet", f"--initial-branch={branch}", cwd=path)


def has_commits(path: Path) -> bool:
    proc = subprocess.run(
        ["git", *NO_REPLACE, "rev-parse", "--verify", "--quiet", "HEAD"],
        cwd=path,
        capture_output=True,
    )
    return proc.returncode == 0


def has_identity(path: Path) -> bool:
    """True when git knows who commits (user.email set, or the GIT_* variables)."""
    if os.environ.get("GIT_AUTHOR_EMAIL") and os.environ.get("GIT_COMMITTER_EMAIL"):
        return True
    return bool(git("config", "user.email", cwd=path, check=False).strip())


def commit_paths(path: Path, paths: list[str], *, message: str, verify: bool = True) -> str:
    """Stage exactly `paths` and commit them; returns the new commit's sha.

    Runs `git commit` (so the pre-commit guard runs too). When git has no identity
    configured, commits as `harness <harness@localhost>` rather than failing.
    """
    identity = () if has_identity(path) else FALLBACK_IDENTITY
    git("add", "--", *paths, cwd=path)
    args = [*identity, "commit", "--quiet", "-m", message]
    if not verify:
        args.append("--no-verify")
    git(*args, "--", *paths, cwd=path)
    return git("rev-parse", "HEAD", cwd=path).strip()


def current_branch(path: Path) -> str | None:
    """The checked-out branch, or None when HEAD is detached."""
    name = git("symbolic-ref", "--quiet", "--short", "HEAD", cwd=path, check=False).strip()
    return name or None


def head_commit(path: Path) -> str | None:
    out = git("rev-parse", "--verify", "--quiet", "HEAD", cwd=path, check=False).strip()
    return out or None


def is_dirty(path: Path) -> bool:
    """True when the worktree has staged, unstaged or untracked (not ignored) changes."""
    return bool(git("status", "--porcelain", "--untracked-files=normal", cwd=path).strip())


# -- worktrees and branches --------------------------------------------------------------


@dataclass(frozen=True)
class WorktreeEntry:
    """One entry of `git worktree list --porcelain`."""

    path: Path
    head: str | None
    branch: str | None  # short name (exp/slug), None when detached
    prunable: bool  # its directory is gone; `git worktree prune` drops it
    locked: bool


def worktree_entries(root: Path) -> list[WorktreeEntry]:
    """Every worktree of the repository, the main one first."""
    entries = []
    for block in git("worktree", "list", "--porcelain", cwd=root).split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            key, _, value = line.partition(" ")
            if key:
                fields[key] = value
        if "worktree" not in fields:
            continue
        branch = fields.get("branch", "")
        entries.append(
            WorktreeEntry(
                path=Path(fields["worktree"]),
                head=fields.get("HEAD") or None,
                branch=branch.removeprefix("refs/heads/") or None,
                prunable="prunable" in fields,
                locked="locked" in fields,
            )
        )
    return entries


def is_branch_name(name: str, *, cwd: Path) -> bool:
    """Whether git accepts `name` as a branch name (`git check-ref-format --branch`)."""
    proc = subprocess.run(
        ["git", "check-ref-format", "--branch", name], cwd=cwd, capture_output=True, check=False
    )
    return proc.returncode == 0 and not name.startswith("-")


def branch_exists(root: Path, name: str) -> bool:
    out = git("rev-parse", "--verify", "--quiet", f"refs/heads/{name}", cwd=root, check=False)
    return bool(out.strip())


def add_worktree(root: Path, path: Path, *, branch: str, start: str) -> None:
    """Create `path` as a worktree on a new branch `branch` starting at `start`."""
    git("worktree", "add", "--quiet", "-b", branch, str(path), start, cwd=root)


def remove_worktree(root: Path, path: Path, *, force: bool = False) -> None:
    git("worktree", "remove", *(["--force"] if force else []), str(path), cwd=root)


def prune_worktrees(root: Path) -> None:
    """Forget worktrees whose directories were deleted by hand."""
    git("worktree", "prune", cwd=root)


def delete_branch(root: Path, name: str, *, force: bool = False) -> None:
    git("branch", "-D" if force else "-d", name, cwd=root)


def is_merged(root: Path, branch: str, *, into: str) -> bool:
    """True when every commit of `branch` is on `into`."""
    proc = subprocess.run(
        ["git", *NO_REPLACE, "merge-base", "--is-ancestor", branch, into],
        cwd=root,
        capture_output=True,
    )
    return proc.returncode == 0


def ahead_behind(path: Path, ref: str, *, base: str) -> tuple[int, int]:
    """(commits on `ref` not on `base`, commits on `base` not on `ref`)."""
    out = git("rev-list", "--left-right", "--count", f"{ref}...{base}", cwd=path)
    ahead, behind = out.split()
    return int(ahead), int(behind)


# -- remotes, commits of chosen paths, throwaway worktrees -------------------------------


def remote_url(root: Path, name: str) -> str | None:
    """The URL of remote `name`, or None when the repository has no such remote."""
    out = git("remote", "get-url", name, cwd=root, check=False).strip()
    return out or None


def push_branch(root: Path, remote: str, branch: str) -> None:
    """Push `branch` to `remote` (same name there) and track it."""
    git(
        "push",
        "--quiet",
        "--set-upstream",
        remote,
        f"refs/heads/{branch}:refs/heads/{branch}",
        cwd=root,
    )


def status_entries(path: Path, *, untracked: str = "all") -> list[tuple[str, str]]:
    """(two-letter status, path) of every change of a worktree, untracked files one by one.

    Renames are listed as a deletion and an addition, so each path stands on its own.
    `untracked="normal"` lists a new directory as `dir/` instead of each file in it.
    """
    listed = git(
        "status", "--porcelain", "-z", "--no-renames", f"--untracked-files={untracked}", cwd=path
    )
    return [(record[:2], record[3:]) for record in listed.split("\0") if len(record) > 3]


def commit_only(path: Path, paths: list[str], *, message: str) -> str:
    """Commit exactly `paths` (their working-tree state), leaving every other change alone.

    `git commit --only` builds the commit from HEAD plus these paths, so other staged or
    unstaged changes stay as they were. The pre-commit guard runs as for any commit; when
    it refuses, the RuleViolation carries its `harness:` lines.
    """
    identity = () if has_identity(path) else FALLBACK_IDENTITY
    present = [name for name in paths if (path / name).exists() or (path / name).is_symlink()]
    if present:  # new files must be known to git; deletions need no staging
        git("add", "--all", "--", *present, cwd=path)
    argv = [
        "git",
        *NO_REPLACE,
        *identity,
        "commit",
        "--quiet",
        "--only",
        "-m",
        message,
        "--",
        *paths,
    ]
    proc = subprocess.run(argv, cwd=path, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        refusals = [line for line in proc.stderr.splitlines() if line.startswith("harness: ")]
        if refusals:
            from harness.errors import RuleViolation

            reasons = "; ".join(line.removeprefix("harness: ") for line in refusals)
            raise RuleViolation(f"the pre-commit guard refused the commit: {reasons}")
        tail = proc.stderr.strip().splitlines()[-1:] or ["(no stderr)"]
        raise GitError(f"`git commit` of {len(paths)} path(s) failed in {path}: {tail[0]}")
    return git("rev-parse", "HEAD", cwd=path).strip()


def file_at(path: Path, revision: str, name: str) -> str | None:
    """The text of `name` in `revision`, or None when it has no such file."""
    proc = subprocess.run(
        ["git", *NO_REPLACE, "show", f"{revision}:{name}"],
        cwd=path,
        capture_output=True,
        check=False,
    )
    return proc.stdout.decode("utf-8", "surrogateescape") if proc.returncode == 0 else None


def resolve_commit(path: Path, revision: str) -> str | None:
    """The full sha `revision` names, or None when it names no commit here."""
    out = git("rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}", cwd=path, check=False)
    return out.strip() or None


def add_detached_worktree(root: Path, path: Path, *, commit: str) -> None:
    """A throwaway worktree at `commit` with no branch (remove it with remove_worktree)."""
    git("worktree", "add", "--quiet", "--detach", str(path), commit, cwd=root)


def ignored_paths(root: Path, paths: list[str]) -> list[str]:
    """The paths (relative to root) that .gitignore and the other exclude files ignore."""
    if not paths:
        return []
    result = subprocess.run(
        ["git", *NO_REPLACE, "check-ignore", "-z", "--stdin"],
        cwd=root,
        input="\0".join(paths) + "\0",
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode not in (0, 1):  # 1: none ignored
        raise GitError(f"git check-ignore failed: {result.stderr.strip()}")
    return [p for p in result.stdout.split("\0") if p]


def is_tracked(root: Path, path: str) -> bool:
    result = subprocess.run(
        ["git", *NO_REPLACE, "ls-files", "--error-unmatch", "--", path],
        cwd=root,
        capture_output=True,
        check=False,
    )
    return result.returncode == 0
