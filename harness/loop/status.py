"""`harness status`: the loop at a glance, computed from a LoopState snapshot."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.config import Config
from harness.loop.ideas import STATUSES
from harness.loop.ratchet import RatchetState
from harness.loop.state import BASELINE, Action, LoopState, live_ideas, mean_of, next_action
from harness.loop.worktrees import Worktree
from harness.queue.base import TaskState


@dataclass(frozen=True)
class Best:
    """The mean of an idea's counting runs (ok, with the FROZEN files as on main)."""

    slug: str
    value: float
    runs: int

    def to_json(self) -> dict[str, Any]:
        return {"idea": self.slug, "value": self.value, "runs": self.runs}


@dataclass(frozen=True)
class BestRun:
    """The best single counting run: one run, not a mean, never what decisions use."""

    slug: str
    value: float
    seed: int | None
    commit: str

    def to_json(self) -> dict[str, Any]:
        return {"idea": self.slug, "value": self.value, "seed": self.seed, "commit": self.commit}


@dataclass(frozen=True)
class Summary:
    ideas_by_status: dict[str, int]
    ideas_live: int  # every idea but the abandoned ones
    ideas_target: int
    worktrees: list[Worktree]
    idea_status: dict[str, str]  # slug -> status, for the worktree lines
    active_tasks: list[TaskState]
    runs: int
    best_run: BestRun | None  # shown labelled as one run; the best is the head (ratchet)
    baseline: Best | None
    action: Action
    ratchet: RatchetState | None = None  # the head of the line: the one notion of best
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (slug, why)
    finished_tasks: dict[str, int] = field(default_factory=dict)  # final state -> count
    record_warning: str | None = None  # the chain of results.tsv is broken or unsealed

    @property
    def ideas_needed(self) -> int:
        return max(0, self.ideas_target - self.ideas_live)

    def to_json(self) -> dict[str, Any]:
        return {
            "ideas": {
                "by_status": self.ideas_by_status,
                "live": self.ideas_live,
                "target": self.ideas_target,
                "needed": self.ideas_needed,
            },
            "worktrees": [
                w.to_json() | {"idea_status": self.idea_status.get(w.slug)} for w in self.worktrees
            ],
            "queue": [
                {"id": t.task_id, "state": t.state, "label": t.label, "cwd": t.cwd}
                for t in self.active_tasks
            ],
            "finished_tasks": self.finished_tasks,
            "rejected": [{"idea": slug, "why": why} for slug, why in self.rejected],
            "runs": self.runs,
            "best": head_json(self.ratchet),  # the one notion of best: the head of the line
            "baseline": self.baseline.to_json() if self.baseline else None,
            "next": self.action.to_json(),
            "head": head_json(self.ratchet),
            "record_warning": self.record_warning,
            "best_run": self.best_run.to_json() if self.best_run else None,
        }


def idea_means(state: LoopState) -> list[Best]:
    """The mean of every idea's (and the baseline's) counting runs."""
    slugs = dict.fromkeys(run.idea for run in state.runs if run.counts)
    found = []
    for slug in slugs:
        runs = [run for run in state.runs_of(slug) if run.counts]
        value = mean_of(runs)
        if value is not None:
            found.append(Best(slug, value, len(runs)))
    return found


def best_single_run(state: LoopState, config: Config) -> BestRun | None:
    """The best counting run in the metric's direction (the first of equals)."""
    runs = [run for run in state.runs if run.counts and run.value is not None]
    if not runs:
        return None
    sign = 1.0 if config.direction == "min" else -1.0
    run = min(runs, key=lambda r: sign * (r.value or 0.0))
    return BestRun(run.idea, run.value or 0.0, run.seed, run.commit)


def head_json(ratchet: RatchetState | None) -> dict[str, Any] | None:
    """The head, its mean over seeds and its chain (the best), and the stale ideas."""
    best = ratchet.best_json() if ratchet is not None else None
    return None if ratchet is None or best is None else best | {"stale": list(ratchet.stale)}


def summarise(state: LoopState, config: Config) -> Summary:
    counts = dict.fromkeys((*STATUSES[:5], "rejected", *STATUSES[5:]), 0)
    for idea in state.ideas:
        counts[idea.shown_status] += 1
    rejected = [
        (idea.slug, str(idea.decision).removeprefix("not submitted: "))
        for idea in state.ideas
        if idea.shown_status == "rejected"
    ]
    return Summary(
        ideas_by_status=counts,
        ideas_live=len(live_ideas(state)),
        ideas_target=config.ideas_target,
        worktrees=list(state.worktrees),
        idea_status={idea.slug: idea.status for idea in state.ideas},
        active_tasks=list(state.active_tasks),
        runs=len(state.runs),
        best_run=best_single_run(state, config),
        baseline=next((b for b in idea_means(state) if b.slug == BASELINE), None),
        action=next_action(state, config),
        ratchet=state.ratchet,
        rejected=rejected,
        finished_tasks=dict(state.finished_tasks),
        record_warning=state.record_warning,
    )
