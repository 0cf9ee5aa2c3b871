"""The ratchet (docs/architecture.md §4): parents, the moving head, stale ideas and rebasing.

Every idea records in its front matter the line, commit and code it branched from
(`parent`); an older idea without one has its parent read from git (the merge base of its
branch with the line). The head of the line (main, or the trunk) is the reference. An
idea whose parent's code is no longer the head's is stale: `harness rebase SLUG` merges
the head into its branch and queues its seeds again, and only runs at the new code decide.
"""

from __future__ import annotations

import math
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness import gitops
from harness.config import Config
from harness.errors import ConfigError, GitError, UsageError, WorktreeError
from harness.layout import Layout, branch_of
from harness.loop.ideas import PARENT, Idea, find_idea, ideas_lock, log_change, rewrite_idea
from harness.loop.worktrees import Worktree, create_worktree, find_worktree
from harness.record.code import code_of, fill_codes, record_paths
from harness.record.compare import Side
from harness.record.reference import Head, head_of, line_head, seeds_measured, side_of_code
from harness.record.results import valid_runs
from harness.record.standing import Standing, standing

if TYPE_CHECKING:
    import polars as pl

MERGED = re.compile(r"\b(exp/[a-z0-9][a-z0-9-]*)")
IDEA_LINE = "idea:"  # a stacked idea's parent line: `idea:<slug>`
OPEN = ("implementing", "testing", "reported")  # statuses whose ideas may still be decided


# -- the trunk and where a new idea starts -------------------------------------------------


def ensure_line(layout: Layout, config: Config) -> str:
    """The line's branch, the trunk created from main on first use."""
    if not gitops.branch_exists(layout.root, config.main_branch):
        raise ConfigError(
            f"the main branch {config.main_branch!r} does not exist: commit on it first, "
            "or set main_branch in [tool.harness]"
        )
    if config.advance == "trunk" and not gitops.branch_exists(layout.root, config.trunk):
        gitops.git("branch", config.trunk, config.main_branch, cwd=layout.root)
    return config.line


def branch_point(layout: Layout, config: Config, *, stacked_on: str | None) -> dict[str, str]:
    """The parent a new idea gets: the head of the line, or another idea's branch tip."""
    if stacked_on is None:
        line = ensure_line(layout, config)
        head = head_of(layout.root, config, line)
        assert head is not None  # ensure_line checked the branch
        return {"line": line, "commit": head.commit, "code": head.code}
    base = find_idea(layout, stacked_on)
    head = head_of(layout.root, config, base.branch)
    if head is None:
        raise WorktreeError(
            f"idea {stacked_on!r} has no branch {base.branch} to stack on: create its "
            f"worktree with `harness worktree create {stacked_on}` and commit its change"
        )
    return {"line": IDEA_LINE + stacked_on, "commit": head.commit, "code": head.code}


def create_idea_worktree(
    layout: Layout, config: Config, slug: str, *, stacked_on: str | None = None
) -> tuple[Worktree, Idea]:
    """The idea's worktree, branched from the head of the line (or from another idea's
    tip, stacked), with that parent recorded in the idea's front matter."""
    if stacked_on == slug:
        raise WorktreeError(f"idea {slug!r} cannot be stacked on itself: name another idea")
    find_idea(layout, slug)  # an unknown idea is refused before any branch is made
    parent = branch_point(layout, config, stacked_on=stacked_on)
    worktree, _ = create_worktree(layout, config, slug, start=parent["commit"])
    return worktree, record_parent(layout, slug, parent)


def record_parent(layout: Layout, slug: str, parent: dict[str, str]) -> Idea:
    with ideas_lock(layout):
        return rewrite_idea(find_idea(layout, slug), changes={PARENT: parent})


# -- an idea's parent, code and standing ----------------------------------------------------


def parent_of(layout: Layout, config: Config, idea: Idea) -> Head | None:
    """What the idea branched from: its front matter, else the merge base with the line."""
    if idea.parent is not None:
        line = idea.parent["line"]
        branch = branch_of(line.removeprefix(IDEA_LINE)) if line.startswith(IDEA_LINE) else line
        return Head(branch, idea.parent["commit"], idea.parent["code"])
    line = config.line if gitops.branch_exists(layout.root, config.line) else config.main_branch
    out = gitops.git("merge-base", idea.branch, line, cwd=layout.root, check=False).strip()
    code = code_of(layout.root, out, record=record_paths(config)) if out else None
    return Head(line, out, code) if code else None


def code_now(layout: Layout, config: Config, idea: Idea) -> str | None:
    """The code of the idea's branch tip (None without a branch)."""
    tip = gitops.resolve_commit(layout.root, f"refs/heads/{idea.branch}")
    return code_of(layout.root, tip, record=record_paths(config)) if tip else None


def idea_standing(layout: Layout, config: Config, frame: pl.DataFrame, slug: str) -> Standing:
    """The idea's runs at its code now, against the head of the line and its parent."""
    idea = find_idea(layout, slug)
    head = line_head(layout.root, config)
    if head is None:
        raise ConfigError(f"the main branch {config.main_branch!r} has no commit yet")
    frame = fill_codes(frame, layout.root, config)
    parent = parent_of(layout, config, idea)
    code = code_now(layout, config, idea)
    return standing(frame, config, slug, code=code, head=head, parent=parent)


def check_fresh(layout: Layout, config: Config, idea: Idea, where: Standing) -> None:
    """Refuse to decide on an idea whose parent is not the head (nothing is recorded)."""
    if where.against_head is None:
        raise UsageError(where.reason)  # no decision without the head's runs
    if not where.is_stale:
        return
    line = (idea.parent or {}).get("line", "")
    base = line.removeprefix(IDEA_LINE) if line.startswith(IDEA_LINE) else None
    ideas = {base: find_idea(layout, base)} if base else {}
    if base and not is_stale(layout, config, idea, where.head, ideas):
        raise UsageError(
            f"idea {idea.slug!r} is stacked on {base!r}, which has not joined {where.head.branch} "
            f"yet: decide on {base} first (`harness submit {base}`), or test {idea.slug} on the "
            f"head alone with `harness rebase {idea.slug}`"
        )
    raise UsageError(where.reason)


# -- the state `harness next` reads --------------------------------------------------------


@dataclass(frozen=True)
class RatchetState:
    head: Head | None
    head_seeds: int  # distinct seeds with a valid run of the head's code
    stale: tuple[str, ...]  # open ideas whose parent is no longer the head
    head_side: Side | None = None  # the head's valid runs: the one notion of best
    chain: tuple[str, ...] = ()  # the exp/ branches merged into the line, oldest first
    outdated: tuple[str, ...] = ()  # open ideas with valid runs only of older code than now
    waiting: tuple[str, ...] = ()  # stacked ideas whose parent idea has not joined the line

    def best_json(self) -> dict[str, Any] | None:
        """The one notion of best: the head of the line, its mean over seeds (std, the
        standard error of the mean, n seeds) and the chain of accepted changes."""
        if self.head is None:
            return None
        side = self.head_side
        return {
            "branch": self.head.branch,
            "commit": self.head.commit,
            "code": self.head.code,
            "mean": side.mean if side else None,
            "std": side.std if side else None,
            "se": standard_error(side),
            "seeds": self.head_seeds,
            "runs": side.runs if side else 0,
            "chain": list(self.chain),
        }

    def lines(self, metric: str) -> list[str]:
        """The head in words: its mean ± se over seeds, its chain, the stale ideas."""
        side = self.head_side
        if self.head is None or side is None:
            return []  # not measured yet: `harness next` says baseline
        se = standard_error(side)
        spread = f", se {se:.2g}" if se is not None else ""
        lines = [f"{self.head.label} {side.mean:.4f} {metric} (mean of {side.n} seed(s){spread})"]
        if self.chain:
            lines.append(f"accepted: {' -> '.join(self.chain)}")
        if self.stale:
            lines.append(f"stale: {', '.join(self.stale)} (`harness rebase SLUG`)")
        return lines


def standard_error(side: Side | None) -> float | None:
    """The standard error of a side's mean over seeds (None below two seeds)."""
    if side is None or side.std is None or side.n < 2:
        return None
    return side.std / math.sqrt(side.n)


def read_ratchet(
    layout: Layout, config: Config, ideas: tuple[Idea, ...], frame: pl.DataFrame | None
) -> RatchetState:
    head = line_head(layout.root, config)
    if head is None:
        return RatchetState(None, 0, ())
    seeds, side = 0, None
    outdated: tuple[str, ...] = ()
    if frame is not None:
        frame = fill_codes(frame, layout.root, config)
        seeds = seeds_measured(frame, config, head.code)
        side = side_of_code(frame, config, head.code, f"head {head.label}")
        outdated = outdated_ideas(layout, config, ideas, frame)
    by_slug = {idea.slug: idea for idea in ideas}
    found: dict[str, list[str]] = {"stale": [], "waiting": [], "fresh": []}
    for idea in ideas:
        if idea.status in OPEN and idea.decision is None:
            found[freshness(layout, config, idea, head, by_slug)].append(idea.slug)
    chain = accepted_chain(layout.root, head.branch)
    stale, waiting = tuple(found["stale"]), tuple(found["waiting"])
    return RatchetState(head, seeds, stale, side, chain, outdated, waiting)


def outdated_ideas(
    layout: Layout, config: Config, ideas: tuple[Idea, ...], frame: pl.DataFrame
) -> tuple[str, ...]:
    """Open ideas whose code changed (a rebase, a new commit) after their valid runs and
    that have fewer than `seeds` seeds at their code now: they are to be tested again."""
    import polars as pl

    valid = valid_runs(frame, config)
    found = []
    for idea in ideas:
        if idea.status not in ("testing", "reported") or idea.decision is not None:
            continue
        mine = valid.filter(pl.col("idea") == idea.slug)
        code = code_now(layout, config, idea) if not mine.is_empty() else None
        if code is not None and seeds_measured(mine, config, code) < config.seeds:
            found.append(idea.slug)
    return tuple(found)


def accepted_chain(root: Path, branch: str) -> tuple[str, ...]:
    """The exp/ branches merged into `branch` along its first parents, oldest first (read
    from the merge subjects: the harness's, git's own, and a hosting site's)."""
    out = gitops.git(
        "log", "--first-parent", "--merges", "--reverse", "--format=%s", branch, cwd=root
    )
    found = (MERGED.search(subject) for subject in out.splitlines())
    return tuple(match.group(1) for match in found if match)


def line_history(layout: Layout, config: Config) -> list[Head]:
    """The heads the line has had, oldest first: the commit its chain of accepted changes
    starts from, each accepted merge, and the head now (a human's commit may follow the
    last merge). Commits of one code are one head, the first of them kept."""
    head = line_head(layout.root, config)
    if head is None:
        return []
    out = gitops.git(
        "log", "--first-parent", "--merges", "--reverse", "--format=%H %P%x1f%s", head.branch,
        cwd=layout.root,
    )  # fmt: skip
    merges = [
        commits.split()
        for commits, _, subject in (line.partition("\x1f") for line in out.splitlines())
        if MERGED.search(subject)
    ]
    commits = ([merges[0][1]] if merges else []) + [m[0] for m in merges] + [head.commit]
    found: dict[str, Head] = {}
    for commit in commits:
        code = code_of(layout.root, commit, record=record_paths(config))
        if code is not None and code not in found:
            found[code] = Head(head.branch, commit, code)
    return list(found.values())


def is_stale(
    layout: Layout, config: Config, idea: Idea, head: Head, by_slug: dict[str, Idea]
) -> bool:
    """The parent is no longer the head: re-test on top of the head before deciding."""
    return freshness(layout, config, idea, head, by_slug) == "stale"


def freshness(
    layout: Layout, config: Config, idea: Idea, head: Head, by_slug: dict[str, Idea]
) -> str:
    """ "fresh" (its parent is the head), "stale", or "waiting".

    A stacked idea waits while its parent idea is open or submitted but not yet merged;
    once that idea has joined the line, been rejected or dropped, it is stale unless the
    head is exactly its parent's code.
    """
    if not gitops.branch_exists(layout.root, idea.branch):
        return "fresh"
    parent = parent_of(layout, config, idea)
    if parent is None or parent.code == head.code:
        return "fresh"
    if gitops.is_merged(layout.root, idea.branch, into=head.branch):
        return "fresh"  # it has joined the line already
    line = (idea.parent or {}).get("line", "")
    if not line.startswith(IDEA_LINE):
        return "stale"
    base = by_slug.get(line.removeprefix(IDEA_LINE))
    if base is None or base.status == "abandoned" or (base.decision or "").startswith("not"):
        return "stale"
    if gitops.is_merged(layout.root, base.branch, into=head.branch):
        return "stale"
    return "waiting"


# -- rebasing a stale idea -------------------------------------------------------------------


@dataclass(frozen=True)
class Rebase:
    slug: str
    head: Head
    merged: bool  # False: conflicts wait for the agent
    conflicts: tuple[str, ...]
    queued: tuple[str, ...]  # task ids of the seeds queued again
    worktree: Path


def rebase_idea(layout: Layout, config: Config, slug: str, *, queue: bool = True) -> Rebase:
    """Merge the head of the line into `exp/SLUG` in its worktree, then queue its seeds.

    On conflicts the merge is left in progress and the files are listed: resolve them,
    `git add` them, and run this again (it then commits the merge and goes on).
    """
    idea = find_idea(layout, slug)
    worktree = find_worktree(layout, config, slug)
    if worktree is None or worktree.missing:
        raise WorktreeError(
            f"idea {slug!r} has no worktree to rebase in: create it with "
            f"`git worktree add 5_worktrees/{slug} {idea.branch}`"
        )
    head = line_head(layout.root, config)
    assert head is not None
    path = worktree.path
    if _merge_in_progress(path):
        conflicts = _conflicts(path)
        if conflicts:
            return Rebase(slug, head, False, conflicts, (), path)
        _commit_merge(path)
    else:
        _refuse_dirty(path, slug)
        conflicts = _merge(path, head)
        if conflicts:
            return Rebase(slug, head, False, conflicts, (), path)
    code = code_of(path, "HEAD", record=record_paths(config)) or ""
    parent = {"line": head.branch, "commit": head.commit, "code": head.code}
    _reopen(layout, slug, parent, note=f"rebased onto {head.label} (code {code[:10]})")
    queued = queue_seeds(layout, config, idea, path) if queue else ()
    return Rebase(slug, head, True, (), queued, path)


def _merge_in_progress(path: Path) -> bool:
    out = gitops.git("rev-parse", "--verify", "--quiet", "MERGE_HEAD", cwd=path, check=False)
    return bool(out.strip())


def _conflicts(path: Path) -> tuple[str, ...]:
    out = gitops.git("diff", "--name-only", "--diff-filter=U", cwd=path)
    return tuple(out.split())


def _refuse_dirty(path: Path, slug: str) -> None:
    if gitops.is_dirty(path):
        where = shlex.quote(str(path))
        raise WorktreeError(
            f"{path} has uncommitted changes: commit them (`git -C {where} commit -am ...`) "
            f"or discard them, then `harness rebase {slug}` again"
        )


def _identity(path: Path) -> tuple[str, ...]:
    return () if gitops.has_identity(path) else gitops.FALLBACK_IDENTITY


def _merge(path: Path, head: Head) -> tuple[str, ...]:
    """Merge the head's commit; the conflicted files (none when it merged)."""
    message = f"Merge {head.branch} ({head.commit[:10]}) into the idea: rebased on the head"
    try:
        gitops.git(*_identity(path), "merge", "--no-edit", "-m", message, head.commit, cwd=path)
    except GitError:
        conflicts = _conflicts(path)
        if not conflicts:
            raise
        return conflicts
    return ()


def _commit_merge(path: Path) -> None:
    try:
        gitops.git(*_identity(path), "commit", "--no-edit", "--quiet", cwd=path)
    except GitError as exc:
        raise WorktreeError(f"the resolved merge in {path} could not be committed: {exc}") from None


def _reopen(layout: Layout, slug: str, parent: dict[str, str], *, note: str) -> None:
    """The new parent; a reported idea goes back to testing, its decision to come."""
    with ideas_lock(layout):
        idea = find_idea(layout, slug)
        changes: dict[str, object] = {PARENT: parent}
        if idea.status == "reported":
            changes["status"] = "testing"
            note += "; reported -> testing"
        rewrite_idea(idea, changes=changes, body=log_change(idea.body, note))


def queue_seeds(layout: Layout, config: Config, idea: Idea, path: Path) -> tuple[str, ...]:
    """Queue `just eval` over the configured seeds in the idea's worktree."""
    from harness.queue.choice import open_configured
    from harness.queue.ops import make_specs

    _, backend = open_configured(layout, config)
    specs = make_specs(
        ["just", "eval"],
        cwd=path,
        question=f"does {idea.title} still help on top of the head?",
        hypothesis="rebased on the new head: re-tested",
        seeds=config.seeds,
        group=config.pueue.group,
        timeout=config.timeout,
    )
    return tuple(f"{backend.name}:{backend.submit(spec)}" for spec in specs)
