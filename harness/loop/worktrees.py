"""One git worktree per idea: `5_worktrees/<slug>` on branch `exp/<slug>`.

Every operation runs git in the main worktree (the root), so it works the same from
inside any worktree. What a worktree is, and how far it is from the main branch, is
always read from git itself, never remembered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import gitops
from harness.config import Config
from harness.errors import ConfigError, WorktreeError
from harness.layout import BRANCH_PREFIX, WORKTREES_DIR, Layout, branch_of
from harness.loop.ideas import Idea, find_idea, load_ideas, mark_implementing, validate_slug

FINISHED = ("submitted", "abandoned")


@dataclass(frozen=True)
class Worktree:
    slug: str
    branch: str | None
    path: Path
    missing: bool  # the directory is gone; `harness worktree prune` forgets it
    dirty: bool | None = None  # None when missing
    ahead: int | None = None  # commits on the branch that the line (main, or the trunk) lacks
    behind: int | None = None  # commits on the line that the branch lacks

    def to_json(self) -> dict[str, Any]:
        return {
            "slug": self.slug,
            "branch": self.branch,
            "path": str(self.path),
            "missing": self.missing,
            "dirty": self.dirty,
            "ahead": self.ahead,
            "behind": self.behind,
        }


def _slug_of(layout: Layout, entry: gitops.WorktreeEntry) -> str | None:
    """The idea an entry belongs to: its folder under 5_worktrees/, or its exp/ branch.

    A dot folder there is the harness's own throwaway worktree (a confirmation, a merge
    into the trunk, the trunk's baseline), made and removed while other commands read."""
    if entry.path.name.startswith("."):
        return None
    if entry.path.parent == layout.worktrees_dir:
        return entry.path.name
    if entry.branch and entry.branch.startswith(BRANCH_PREFIX):
        return entry.branch.removeprefix(BRANCH_PREFIX)
    return None


def list_worktrees(layout: Layout, config: Config, *, details: bool = True) -> list[Worktree]:
    """The idea worktrees, sorted by slug; `details` adds dirty and ahead/behind (2 git calls
    per worktree)."""
    found = []
    for entry in gitops.worktree_entries(layout.root)[1:]:
        slug = _slug_of(layout, entry)
        if slug is not None:
            found.append(Worktree(slug, entry.branch, entry.path, missing=entry.prunable))
    if details and found:
        # the line new ideas branch from: in trunk mode main lacks every accepted winner
        lines = (config.line, config.main_branch)
        base = next((b for b in lines if gitops.branch_exists(layout.root, b)), None)
        found = [w if w.missing else _with_details(layout, w, base=base) for w in found]
    return sorted(found, key=lambda w: w.slug)


def _with_details(layout: Layout, worktree: Worktree, *, base: str | None) -> Worktree:
    ahead = behind = None
    if worktree.branch and base:
        ahead, behind = gitops.ahead_behind(layout.root, worktree.branch, base=base)
    return Worktree(
        worktree.slug,
        worktree.branch,
        worktree.path,
        missing=False,
        dirty=gitops.is_dirty(worktree.path),
        ahead=ahead,
        behind=behind,
    )


def find_worktree(layout: Layout, config: Config, slug: str) -> Worktree | None:
    for worktree in list_worktrees(layout, config, details=False):
        if worktree.slug == slug or worktree.branch == branch_of(slug):
            return worktree
    return None


def create_worktree(
    layout: Layout, config: Config, slug: str, *, start: str | None = None
) -> tuple[Worktree, Idea]:
    """Create `5_worktrees/<slug>` on a new branch `exp/<slug>` from `start` (default: the
    main branch) and mark the idea `implementing`."""
    idea = find_idea(layout, slug)
    if idea.status in FINISHED:
        raise WorktreeError(
            f"idea {slug!r} is {idea.status}: reopen it first with "
            f"`harness idea set {slug} --status proposed`"
        )
    branch, path = branch_of(slug), layout.worktree_path(slug)
    existing = find_worktree(layout, config, slug)
    if existing is not None:
        raise WorktreeError(
            f"idea {slug!r} has a worktree already: {existing.path} "
            f"(remove it with `harness worktree remove {slug}`)"
        )
    if path.exists():
        raise WorktreeError(f"{path} exists and is not a worktree: move it away, then retry")
    if gitops.branch_exists(layout.root, branch):
        raise WorktreeError(
            f"branch {branch} exists already without a worktree: check it out with "
            f"`git worktree add {WORKTREES_DIR}/{slug} {branch}`, or delete it with "
            f"`git branch -D {branch}`"
        )
    if not gitops.branch_exists(layout.root, config.main_branch):
        raise ConfigError(
            f"the main branch {config.main_branch!r} does not exist: commit on it first, "
            "or set main_branch in [tool.harness]"
        )
    gitops.add_worktree(layout.root, path, branch=branch, start=start or config.main_branch)
    idea = mark_implementing(layout, slug)
    return Worktree(slug, branch, path, missing=False, dirty=False, ahead=0, behind=0), idea


@dataclass(frozen=True)
class Removal:
    worktree: Worktree
    branch_deleted: bool


def remove_worktree(
    layout: Layout, config: Config, slug: str, *, force: bool = False, delete_branch: bool = False
) -> Removal:
    """Remove an idea's worktree; refuses uncommitted changes (and an unmerged branch when
    deleting it) unless `force`. Nothing is removed when a check fails."""
    validate_slug(slug)
    worktree = find_worktree(layout, config, slug)
    if worktree is None:
        raise WorktreeError(f"idea {slug!r} has no worktree: see `harness worktree list`")
    if not force and not worktree.missing and gitops.is_dirty(worktree.path):
        raise WorktreeError(
            f"{worktree.path} has uncommitted changes: commit them, "
            "or pass --force to throw them away"
        )
    branch = worktree.branch if delete_branch else None
    if branch and not force and not gitops.is_merged(layout.root, branch, into=config.main_branch):
        raise WorktreeError(
            f"branch {branch} has commits that {config.main_branch} lacks: remove the worktree "
            "without --delete-branch, or add --force to delete the branch too"
        )
    if worktree.missing:
        gitops.prune_worktrees(layout.root)
    else:
        gitops.remove_worktree(layout.root, worktree.path, force=force)
    if branch:
        gitops.delete_branch(layout.root, branch, force=True)
    return Removal(worktree, branch_deleted=bool(branch))


@dataclass
class Pruned:
    forgotten: list[str] = field(default_factory=list)  # directories deleted by hand
    removed: list[str] = field(default_factory=list)  # clean worktrees of finished ideas
    kept: list[str] = field(default_factory=list)  # finished, but with uncommitted changes


def prune_worktrees(layout: Layout, config: Config, *, finished: bool = False) -> Pruned:
    """Forget worktrees whose directory is gone; with `finished`, also remove the clean
    worktrees of ideas that are submitted or abandoned."""
    statuses = {idea.slug: idea.status for idea in load_ideas(layout)} if finished else {}
    result = Pruned()
    for worktree in list_worktrees(layout, config, details=False):
        if worktree.missing:
            result.forgotten.append(worktree.slug)
        elif statuses.get(worktree.slug) in FINISHED:
            if gitops.is_dirty(worktree.path):
                result.kept.append(worktree.slug)
            else:
                gitops.remove_worktree(layout.root, worktree.path)
                result.removed.append(worktree.slug)
    gitops.prune_worktrees(layout.root)
    return result
