"""`harness worktree ...` and `harness implement`: one git worktree per idea."""

from __future__ import annotations

from harness.cli.args import Slug
from harness.cli.idea import repository


def register(app) -> None:
    from tyro.extras import SubcommandApp

    sub = SubcommandApp()
    sub.command(create)
    sub.command(name="list")(list_worktrees)
    sub.command(remove)
    sub.command(prune)
    app.command(sub, name="worktree", help="Create, list and remove the ideas' worktrees.")
    app.command(implement)


def create(slug: Slug, /) -> int:
    """Create 5_worktrees/SLUG on a new branch exp/SLUG from the main branch.

    Marks the idea implementing and prints the worktree's path. Works from any worktree.

    Args:
        slug: The idea (see `harness idea list`).
    """
    from loguru import logger

    from harness.loop.worktrees import create_worktree

    layout, config = repository()
    worktree, idea = create_worktree(layout, config, slug)
    logger.info(f"branch {worktree.branch} from {config.main_branch}; idea {slug} is {idea.status}")
    print(worktree.path)
    return 0


def implement(slug: Slug, /) -> int:
    """Start implementing an idea: the same as `harness worktree create SLUG`.

    Args:
        slug: The idea (see `harness idea pick`).
    """
    return create(slug)


def list_worktrees(*, json: bool = False) -> int:
    """List the ideas' worktrees: slug, branch, idea status, clean or dirty, commits
    ahead (+) and behind (-) the main branch, path.

    Args:
        json: Print a JSON array instead.
    """
    from harness.loop.ideas import load_ideas
    from harness.loop.worktrees import list_worktrees as listed

    layout, config = repository()
    worktrees = listed(layout, config)
    status = {idea.slug: idea.status for idea in load_ideas(layout)}
    if json:
        import json as jsonlib

        rows = [w.to_json() | {"idea_status": status.get(w.slug)} for w in worktrees]
        print(jsonlib.dumps(rows, indent=2))
        return 0
    for line in worktree_lines(worktrees, status):
        print(line)
    return 0


def worktree_lines(worktrees, status: dict[str, str]) -> list[str]:
    """One aligned line per worktree (shared with `harness status`)."""
    from harness.fileio import format_table

    rows = []
    for w in worktrees:
        state = "missing" if w.missing else ("dirty" if w.dirty else "clean")
        distance = "" if w.ahead is None else f"+{w.ahead} -{w.behind}"
        idea = status.get(w.slug, "no idea")
        rows.append([w.slug, w.branch or "-", idea, state, distance, str(w.path)])
    return format_table(rows)


def remove(slug: Slug, /, *, force: bool = False, delete_branch: bool = False) -> int:
    """Remove an idea's worktree (the branch stays unless --delete-branch).

    Refuses when the worktree has uncommitted changes, or when --delete-branch would drop
    commits the main branch lacks, unless --force.

    Args:
        slug: The idea.
        force: Throw away uncommitted changes, and delete an unmerged branch.
        delete_branch: Delete the branch exp/SLUG too.
    """
    from harness.loop.worktrees import remove_worktree

    layout, config = repository()
    removal = remove_worktree(layout, config, slug, force=force, delete_branch=delete_branch)
    print(f"removed {removal.worktree.path}")
    if removal.branch_deleted:
        print(f"deleted branch {removal.worktree.branch}")
    return 0


def prune(*, finished: bool = False) -> int:
    """Forget worktrees whose folders were deleted by hand.

    Args:
        finished: Also remove the clean worktrees of submitted and abandoned ideas (their
            branches stay); ones with uncommitted changes are kept and listed.
    """
    from harness.loop.worktrees import prune_worktrees

    layout, config = repository()
    result = prune_worktrees(layout, config, finished=finished)
    for slug in result.forgotten:
        print(f"forgot   {slug} (its folder was gone)")
    for slug in result.removed:
        print(f"removed  {slug}")
    for slug in result.kept:
        print(f"kept     {slug} (uncommitted changes)")
    return 0
