"""Every path the harness touches, found from any worktree of a research repository.

A research repository has one main worktree (the root: where `main` is checked out and
where the GLOBAL files are written) and any number of linked worktrees under
`5_worktrees/<slug>`. Whichever of them a command runs in, `find_layout` returns the
same root, so records always land in the root copy.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ConfigError, NotARepository

IDEAS_DIR = "1_ideas"
REPORTS_DIR = "9_reports"
WORKTREES_DIR = "5_worktrees"
BRANCH_PREFIX = "exp/"  # an idea's branch is exp/<slug>
BASELINE = "baseline"  # the idea of a run on the main branch
# Referee mode (docs/architecture.md §6): this file in the git common dir names the
# referee's home, whose clone holds the record; results are read from there.
REFEREE_MARKER = "harness/referee.json"
REFEREE_CLONE = "clone"


@dataclass(frozen=True)
class Layout:
    worktree: Path  # the worktree the command runs in (may be the root itself)
    root: Path  # the main worktree
    git_common_dir: Path  # shared by every worktree: locks and the local queue live here
    referee: Path | None = None  # referee mode: the referee's home (its clone has the record)

    @property
    def record_root(self) -> Path:
        """Where results.tsv lives: the root, or in referee mode the referee's clone."""
        return self.root if self.referee is None else self.referee / REFEREE_CLONE

    @property
    def is_root(self) -> bool:
        return self.worktree == self.root

    @property
    def pyproject(self) -> Path:
        return self.root / "pyproject.toml"

    @property
    def program(self) -> Path:
        return self.root / "program.md"

    @property
    def results_tsv(self) -> Path:
        return self.record_root / "results.tsv"

    @property
    def journal(self) -> Path:
        return self.root / "RESEARCH_JOURNAL.md"

    @property
    def human_journal(self) -> Path:
        return self.root / "human_journal.md"

    @property
    def meta_journal(self) -> Path:
        return self.root / "meta_journal.md"

    @property
    def ideas_dir(self) -> Path:
        return self.root / IDEAS_DIR

    @property
    def reports_dir(self) -> Path:
        return self.root / REPORTS_DIR

    @property
    def worktrees_dir(self) -> Path:
        return self.root / WORKTREES_DIR

    @property
    def state_dir(self) -> Path:
        """Harness state shared by all worktrees and never committed (in the git dir)."""
        return self.git_common_dir / "harness"

    @property
    def record_state_dir(self) -> Path:
        """The git dir's harness state of the record's repository: its run records and logs
        (the referee's clone's in referee mode)."""
        if self.referee is None:
            return self.state_dir
        return self.referee / REFEREE_CLONE / ".git" / "harness"

    @property
    def record_lock(self) -> Path:
        """The one lock of results.tsv and the journals, shared by every worktree."""
        return self.state_dir / "record.lock"

    def worktree_path(self, slug: str) -> Path:
        return self.worktrees_dir / slug

    def idea_in(self, path: Path) -> str:
        """The idea whose worktree holds `path`: its slug, `baseline` in the main worktree."""
        if path == self.root:
            return BASELINE
        if path.is_relative_to(self.worktrees_dir) and path != self.worktrees_dir:
            return path.relative_to(self.worktrees_dir).parts[0]
        return path.name


def branch_of(slug: str) -> str:
    """The branch of an idea: `exp/<slug>`."""
    return BRANCH_PREFIX + slug


def idea_of(branch: str | None, *, main_branch: str, commit: str | None) -> str:
    """`exp/<slug>` -> slug; the main branch -> baseline; other branches keep their name."""
    if branch is None:
        return f"detached-{(commit or 'unknown')[:10]}"
    if branch.startswith(BRANCH_PREFIX) and len(branch) > len(BRANCH_PREFIX):
        return branch.removeprefix(BRANCH_PREFIX)
    return BASELINE if branch == main_branch else branch


def find_layout(start: Path | None = None) -> Layout:
    """The layout of the repository containing `start` (default: the current directory)."""
    start = (start or Path.cwd()).resolve()
    try:
        proc = subprocess.run(
            [
                "git",
                "rev-parse",
                "--path-format=absolute",
                "--show-toplevel",
                "--git-dir",
                "--git-common-dir",
            ],
            cwd=start,
            capture_output=True,
            text=True,
            check=False,
        )
    except (FileNotFoundError, NotADirectoryError):
        raise NotARepository(f"{start} is not a directory inside a git repository") from None
    lines = proc.stdout.splitlines()
    if proc.returncode != 0 or len(lines) != 3:
        raise NotARepository(
            f"{start} is not inside a git repository: run `harness init` there, "
            "or cd into a research repository"
        )
    worktree, git_dir, common_dir = (Path(line) for line in lines)
    return Layout(
        worktree=worktree,
        root=_main_worktree(worktree, git_dir, common_dir),
        git_common_dir=common_dir,
        referee=referee_home(common_dir),
    )


def referee_home(common_dir: Path) -> Path | None:
    """The referee's home named by the marker `harness referee setup` left, else None."""
    import json

    marker = common_dir / REFEREE_MARKER
    try:
        home = json.loads(marker.read_text())["home"]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        raise ConfigError(
            f"{marker} is unreadable or has no home: run `harness referee setup` again"
        ) from None
    return Path(home)


def _main_worktree(worktree: Path, git_dir: Path, common_dir: Path) -> Path:
    if git_dir == common_dir:  # this is the main worktree
        return worktree
    if common_dir.name == ".git":
        return common_dir.parent
    # A linked worktree of a repository whose git dir lives apart (--separate-git-dir):
    # git itself does not record where the main worktree is.
    raise NotARepository(
        f"cannot tell the main worktree of {worktree} (its git dir {common_dir} lives apart): "
        "run the harness from the main worktree"
    )
