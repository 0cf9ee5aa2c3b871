"""The queued held-out confirmation of `harness submit`: queue it, then decide from it.

The first submit of a winner queues one task per side and seed (labelled `confirm SLUG:`)
and keeps their tokens (`harness.runs.confirm_tokens`); the next submit decides from the
rows of exactly those tasks. While some still run it waits; a task that ended without a
trusted row is queued again (a row appended by hand, or a token copied, is never one); a
task that failed before writing any row makes the confirmation fail. Rows recorded by any
other run, however they look, are not asked.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from harness.config import Config
from harness.layout import Layout
from harness.queue.base import TOKEN_ENV, TaskState
from harness.record.standing import Standing
from harness.runs import confirm as held_out
from harness.runs.confirm_tokens import (
    Pending,
    QueuedRun,
    judged,
    load_pending,
    rows_of,
    save_pending,
    settle_pending,
    target_text,
)

if TYPE_CHECKING:
    import polars as pl


@dataclass(frozen=True)
class Progress:
    """The confirmation decided, or the tasks it waits for (and whether they are new)."""

    confirmation: held_out.Confirmation | None
    tasks: tuple[str, ...] = ()  # `<backend>:<id>` of the tasks it waits for
    queued_now: bool = False


def confirmation_progress(
    layout: Layout, config: Config, frame: pl.DataFrame, where: Standing
) -> Progress:
    """Queue the confirmation of this decision, wait for it, or judge it from its own runs."""
    slug = where.side.label
    candidate = held_out.target_of(layout, config, frame, slug)
    reference = held_out.head_target(layout, config, frame, where.head)
    seeds = held_out.seeds_of(where.side, config)
    pending = load_pending(layout, slug)
    if pending is None or not pending.serves(candidate, reference, seeds):
        todo = [(target, seed) for target in (candidate, reference) for seed in seeds]
        runs = queue_runs(layout, config, todo, pair=(candidate, reference))
        pending = Pending(target_text(candidate), target_text(reference), seeds, runs)
        save_pending(layout, slug, pending)
        return Progress(None, tuple(run.queue_task for run in runs), queued_now=True)
    rows = rows_of(layout, frame, pending.runs)
    missing = [run for run in pending.runs if run.token not in rows]
    if missing:
        states = task_states(layout, config)
        waiting = [run for run in missing if _is_waiting(states.get(run.token))]
        if waiting:
            return Progress(None, tuple(run.queue_task for run in waiting))
        failed = [run for run in missing if _failed_without_row(states.get(run.token), frame)]
        if not failed:
            sides = {candidate.label: candidate, reference.label: reference}
            todo = [(sides[run.label], run.seed) for run in missing]
            again = queue_runs(layout, config, todo, pair=(candidate, reference))
            kept = tuple(run for run in pending.runs if run.token in rows)
            save_pending(layout, slug, replace(pending, runs=(*kept, *again)))
            return Progress(None, tuple(run.queue_task for run in again), queued_now=True)
    settle_pending(layout, slug)  # decided: a later submit queues afresh, the report keeps it
    return Progress(judged(config, pending, rows, candidate, reference, missing))


def queue_runs(
    layout: Layout,
    config: Config,
    todo: list[tuple[held_out.Target, int]],
    *,
    pair: tuple[held_out.Target, held_out.Target],
) -> tuple[QueuedRun, ...]:
    """Queue one confirmation task per (target, seed), each with a token made here."""
    from harness.queue.choice import open_configured
    from harness.queue.ops import make_specs
    from harness.runs.confirm_task import LABEL
    from harness.runs.referee_client import request_env

    _, backend = open_configured(layout, config)
    queued = []
    for target, seed in todo:
        token = secrets.token_hex(8)
        argv = [
            "python", "-m", "harness.runs.confirm_task",
            "--run", target_text(target), "--seed", str(seed),
            "--candidate", target_text(pair[0]), "--reference", target_text(pair[1]),
        ]  # fmt: skip
        question = (
            LABEL.format(slug=pair[0].label)
            + f"held-out {held_out.confirm_metric(config)} of {target.shown} at "
            f"{target.commit[:10]}, seed {seed}"
        )
        (spec,) = make_specs(
            argv, cwd=layout.root, question=question, group=config.pueue.group,
            timeout=config.timeout, extra_env={TOKEN_ENV: token, **request_env(layout)},
        )  # fmt: skip
        task = f"{backend.name}:{backend.submit(spec)}"
        queued.append(QueuedRun(token, target.label, target.commit, seed, task))
    return tuple(queued)


def task_states(layout: Layout, config: Config) -> dict[str, TaskState]:
    """The configured queue's tasks by token."""
    from harness.queue.choice import open_configured

    _, backend = open_configured(layout, config)
    return {task.token: task for task in backend.states() if task.token}


def _is_waiting(task: TaskState | None) -> bool:
    return task is not None and not task.is_final


def _failed_without_row(task: TaskState | None, frame: pl.DataFrame) -> bool:
    """The queue says the task failed, and no row at all carries its token."""
    import polars as pl

    if task is None or task.state == "succeeded":
        return False
    return frame.filter(pl.col("task_token") == task.token).is_empty()
