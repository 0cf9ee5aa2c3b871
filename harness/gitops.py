"""Every git operation of the harness goes through here.

Hot paths (the guard, layout discovery) call the `git` binary directly through `git()`,
which costs one process and no imports. Richer operations use gitpython, imported only
inside the functions that need it so that `harness --help` stays fast.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import GitError, NotARepository

if TYPE_CHECKING:
    import git as gitpython

FALLBACK_IDENTITY = ("-c", "user.name=harness", "-c", "user.email=harness@localhost")


def git(*args: str, cwd: Path, input: str | None = None, check: bool = True) -> str:
    """Run `git args...` in `cwd` and return its stdout. Raises GitError with the stderr tail."""
    argv = ["git", *args]
    try:
        proc = subprocess.run(
            argv, cwd=cwd, input=input, capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        raise GitError("git is not installed: install it (e.g. apt-get install git)") from None
    except NotADirectoryError:
        raise NotARepository(f"{cwd} is not a directory") from None
    if check and proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["(no stderr)"]
        raise GitError(f"`{' '.join(argv)}` failed in {cwd}: {tail[0]}")
    return proc.stdout


def git_bytes(*args: str, cwd: Path, input: bytes | None = None) -> bytes:
    """`git()` for output that is not text: paths as git stores them, blob contents."""
    argv = ["git", *args]
    try:
        proc = subprocess.run(argv, cwd=cwd, input=input, capture_output=True, check=False)
    except FileNotFoundError:
        raise GitError("git is not installed: install it (e.g. apt-get install git)") from None
    except NotADirectoryError:
        raise NotARepository(f"{cwd} is not a directory") from None
    if proc.returncode != 0:
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["(no stderr)"]
        raise GitError(f"`{' '.join(argv)}` failed in {cwd}: {tail[0]}")
    return proc.stdout


def is_repository(path: Path) -> bool:
    proc = subprocess.run(
        ["git", "rev-parse", "--git-dir"], cwd=path, capture_output=True, check=False
    )
    return proc.returncode == 0


def init_repository(path: Path, *, branch: str) -> None:
    git("init", "--quiet", f"--initial-branch={branch}", cwd=path)


def has_commits(path: Path) -> bool:
    proc = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", "HEAD"], cwd=path, capture_output=True
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


def open_repo(path: Path) -> gitpython.Repo:
    """A gitpython Repo for `path` (imported lazily: it costs about 80 ms)."""
    import git as gitpython

    try:
        return gitpython.Repo(path, search_parent_directories=True)
    except (gitpython.InvalidGitRepositoryError, gitpython.NoSuchPathError):
        raise NotARepository(f"{path} is not inside a git repository") from None
