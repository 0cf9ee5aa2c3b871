"""`harness worktree ...` and `harness implement`: one git worktree per idea."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from tyro.conf import arg

from harness.cli.args import Slug
from harness.cli.idea import repository

if TYPE_CHECKING:
    from collections.abc import Iterable

    from tyro.extras import SubcommandApp

    from harness.loop.worktrees import Worktree


def register(app: SubcommandApp) -> None:
    from tyro.extras import SubcommandApp

    sub = SubcommandApp()
    sub.command(create)
    sub.command(name="list")(list_worktrees)
    sub.command(remove)
    sub.command(prune)
    app.command(sub, name="worktree", help="Create, list and remove the ideas' worktrees.")
    app.command(implement)
    app.command(rebase)


def create(
    slug: Slug,
    /,
    *,
    from_: Annotated[str | None, arg(name="from", metavar="IDEA")] = None,
) -> int:
    """Create 5_worktrees/SLUG on a new branch exp/SLUG from the head of the line.

    The line is main, or the research trunk when [tool.harness] advance = "trunk". With
    --from IDEA the branch starts at that idea's tip instead (a stacked experiment). The
    commit and code it branched from are recorded in the idea's front matter (`parent`).
    Marks the idea implementing and prints the worktree's path. Works from any worktree.

    Args:
        slug: The idea (see `harness idea list`).
        from_: Stack on this idea: branch from the tip of exp/IDEA.
    """
    from loguru import logger

    from harness.loop.ratchet import create_idea_worktree

    layout, config = repository()
    worktree, idea = create_idea_worktree(layout, config, slug, stacked_on=from_)
    parent = idea.parent or {}
    logger.info(
        f"branch {worktree.branch} from {parent.get('line')} at {parent.get('commit', '')[:10]}; "
        f"idea {slug} is {idea.status}"
    )
    print(worktree.path)
    return 0


def implement(slug: Slug, /) -> int:
    """Start implementing an idea: the same as `harness worktree create SLUG`.

    Args:
        slug: The idea (see `harness idea pick`).
    """
    return create(slug)


def rebase(slug: Slug, /, *, queue: bool = True) -> int:
    """Bring a stale idea onto the head of its line: merge the head into exp/SLUG in its
    worktree, record the new parent, and queue its seeds again.

    An idea is stale when the head of the line (main, or the trunk) moved past the commit
    it branched from; only runs at the new code decide it. On conflicts the merge is left
    in progress and the files are listed: resolve them, `git add` them, then run this
    again (it commits the merge and goes on). Exits 1 while conflicts remain.

    Args:
        slug: The stale idea (see `harness next`).
        queue: Queue the seeds again (--no-queue: run `just eval` yourself).
    """
    import shlex

    from harness.loop.ratchet import rebase_idea

    layout, config = repository()
    result = rebase_idea(layout, config, slug, queue=queue)
    if not result.merged:
        where = shlex.quote(str(result.worktree))
        print(f"conflicts merging {result.head.label} into exp/{slug}:")
        for name in result.conflicts:
            print(f"  {name}")
        print(
            f"resolve them in {result.worktree}, `git -C {where} add` them, "
            f"then run `harness rebase {slug}` again"
        )
        return 1
    print(f"exp/{slug} now holds {result.head.label}; its parent is the head")
    for task in result.queued:
        print(f"queued {task}")
    return 0


def list_worktrees(*, json: bool = False) -> int:
    """List the ideas' worktrees: slug, branch, idea status, clean or dirty, commits
    ahead (+) and behind (-) the line (main, or the trunk), path.

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


def worktree_lines(worktrees: Iterable[Worktree], status: dict[str, str]) -> list[str]:
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
