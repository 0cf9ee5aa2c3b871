"""`harness sync`: nothing that ran is ever missing from the record.

A queued `harness eval` records its own row. A task that ended without doing so (it
crashed before recording, was killed, timed out, lost its worker, failed to spawn, or
was cancelled by the scheduler) gets a row here: its final state as the status, its
label, its seed, its log tail, and a journal entry. Rows are matched to tasks under the
record lock, so running sync twice, or two syncs at once, adds nothing twice.

First, though, the runs whose `harness eval` died before recording them (their run
records, see `records`) get their rows: a task's run thus keeps what its own record knows
(its run id, log, label), and the task's queue status (`lost`, `timeout`) when the queue
has one. A row's journal entry is held by a run record too until it is written, so a
sync killed between the two leaves the entry to the next sync.

A row belongs to a task by the task's harness token (the `task_token` column), because
backend ids are reused: pueue counts from 0 again after `pueue reset`, a `clean` of every
task, or on a new daemon. A row without a token (written by an older harness, or into a
results.tsv whose older header has no `task_token` column) is matched by `queue_task`
(`<backend>:<id>`) as before, except that a row stamped before the task was queued cannot
be its row.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import gitops
from harness.config import Config
from harness.errors import HarnessError
from harness.fileio import exclusive_lock
from harness.layout import Layout, find_layout
from harness.queue.base import Backend, TaskState
from harness.queue.times import seconds_between
from harness.record.journal import add_entry, run_entry
from harness.record.results import (
    append_locked,
    new_run_id,
    read_results,
    sanitise,
    utc_now,
)
from harness.rules.integrity import check_integrity
from harness.runs.evaluation import describe_worktree, label_columns
from harness.runs.records import close_run, hold_entry, settle_runs

# final task state -> results status; a task that succeeded without a row ran no evaluation
STATUS_OF = {"failed": "crash", "killed": "killed", "timed_out": "timeout", "lost": "lost"}
LOG_TAIL_LINES = 12
CLOCK_SLACK_S = 1.0  # row timestamps have whole seconds; queue times have milliseconds


@dataclass
class SyncReport:
    recorded: list[dict[str, Any]] = field(default_factory=list)  # the rows added
    already: int = 0  # finished tasks whose row exists
    not_evaluations: list[str] = field(default_factory=list)  # succeeded, no row: not an eval
    unfinished: int = 0


def sync(layout: Layout, config: Config, backend: Backend) -> SyncReport:
    """Record a row (and a journal entry) for every finished task that has none."""
    report = SyncReport()
    held: list[dict[str, Any]] = []
    tasks = backend.states()
    report.unfinished = sum(not task.is_final for task in tasks)
    finished = [task for task in tasks if task.is_final]
    report.recorded += settle_runs(layout, config, statuses=lambda: queue_statuses(finished)).rows
    with exclusive_lock(layout.record_lock):
        known = recorded_tasks(layout)
        for task in finished:
            if known.has(task):
                report.already += 1
            elif task.state == "succeeded":
                report.not_evaluations.append(task.queue_task)
            else:
                row = row_for(task, layout=layout, config=config, backend=backend)
                hold_entry(layout, row)
                append_locked(layout.results_tsv, [row])
                report.recorded.append(row)
                held.append(row)
    if held:
        frame = read_results(layout.results_tsv)
        for row in held:
            add_entry(layout, run_entry(row, config=config, frame=frame, changed=()))
            close_run(layout, row["run_id"])
    return report


def sync_runs(layout: Layout, config: Config) -> SyncReport:
    """What sync can do without a queue: the runs whose harness died, from their records."""
    return SyncReport(recorded=settle_runs(layout, config).rows)


def queue_statuses(finished: list[TaskState]) -> dict[str, str]:
    """queue task (`local:3`), and token, -> the results status its final state means.

    A run record with a task token takes its task's status by the token, since the id
    may belong to a newer task by now (see the module's docstring).
    """
    statuses = {}
    for task in finished:
        if task.state in STATUS_OF:
            statuses[task.queue_task] = STATUS_OF[task.state]
            if task.token:
                statuses[task.token] = STATUS_OF[task.state]
    return statuses


@dataclass(frozen=True)
class RecordedTasks:
    """The queue tasks results.tsv has rows of: tokens, and ids of the rows without one."""

    tokens: frozenset[str]
    untokened: dict[str, list[str]]  # queue_task -> timestamps of its rows without a token

    def has(self, task: TaskState) -> bool:
        """Whether a row of the task exists (see the module's docstring)."""
        if task.token and task.token in self.tokens:
            return True
        stamps = self.untokened.get(task.queue_task, ())
        return any(not _before(stamp, task.enqueued_at) for stamp in stamps)


def recorded_tasks(layout: Layout) -> RecordedTasks:
    """What the rows of results.tsv say about the tasks they belong to."""
    if not layout.results_tsv.exists():
        return RecordedTasks(frozenset(), {})
    frame = read_results(layout.results_tsv, untrusted=True)  # every row written counts here
    frame = frame.select("queue_task", "task_token", "timestamp")
    return tasks_of_rows(frame.iter_rows())


def tasks_of_rows(rows: Iterable[tuple[str | None, str | None, str | None]]) -> RecordedTasks:
    """RecordedTasks from (queue_task, task_token, timestamp) of every row."""
    tokens: set[str] = set()
    untokened: dict[str, list[str]] = {}
    for queue_task, token, stamp in rows:
        if token:
            tokens.add(token)
        elif queue_task:
            untokened.setdefault(queue_task, []).append(stamp or "")
    return RecordedTasks(frozenset(tokens), untokened)


def _before(stamp: str, enqueued_at: str | None) -> bool:
    """Whether a row's timestamp is earlier than its task was queued (False when unknown)."""
    if not stamp or not enqueued_at:
        return False
    try:
        gap = seconds_between(enqueued_at, stamp)
    except ValueError:  # a hand-edited timestamp: match by id alone, as before
        return False
    return gap is not None and gap < -CLOCK_SLACK_S


def row_for(task: TaskState, *, layout: Layout, config: Config, backend: Backend) -> dict[str, Any]:
    """The results row of a task that ended without recording one."""
    from harness.runs.evaluation import EvalRequest

    env = dict(task.env)
    seed = _int(env.get("HARNESS_SEED"))
    request = EvalRequest(
        question=env.get("HARNESS_QUESTION", ""),
        hypothesis=env.get("HARNESS_HYPOTHESIS", ""),
        expected=env.get("HARNESS_EXPECTED", ""),
        queue_task=task.queue_task,
        task_token=task.token or None,
    )
    run_id = new_run_id()
    row = _where(task, layout=layout, config=config, request=request, seed=seed, run_id=run_id)
    detail = f"{task.state} in the {task.backend} queue"
    if task.exit_code is not None:
        detail += f" (exit code {task.exit_code})"
    if task.detail:
        detail += f" [{task.detail}]"
    row.update(
        agent=env.get("HARNESS_AGENT") or row["agent"],  # who queued it, when the task says
        timestamp=task.ended_at or utc_now(),
        status=STATUS_OF[task.state],
        value=None,
        duration_s=seconds_between(task.started_at, task.ended_at),
        extra={"exit_code": task.exit_code, "synced": True, "command": task.command},
        description=sanitise(f"{detail}; recorded by harness sync; log: {_tail(backend, task)}"),
    )
    return row


def _where(
    task: TaskState,
    *,
    layout: Layout,
    config: Config,
    request: Any,
    seed: int | None,
    run_id: str,
) -> dict[str, Any]:
    """Branch, commit, idea and integrity of the task's worktree, when it still exists."""
    cwd = Path(task.cwd)
    try:
        here = find_layout(cwd)
    except HarnessError:  # the worktree is gone: only the task's own words remain
        columns = label_columns(config, request=request, seed=seed, run_id=run_id)
        return columns | {"idea": cwd.name, "integrity": ""}
    row = describe_worktree(here, config, request=request, seed=seed or 0, run_id=run_id)
    row["seed"] = seed
    integrity = check_integrity(here.worktree, root=layout.root, config=config)
    row.update(frozen_sha=integrity.frozen_sha, integrity=integrity.status)
    if not gitops.head_commit(here.worktree):
        row["commit"] = ""
    return row


def _tail(backend: Backend, task: TaskState) -> str:
    try:
        text = backend.log(task.task_id, tail=LOG_TAIL_LINES)
    except HarnessError as exc:
        return f"(no log: {exc})"
    return " | ".join(line.strip() for line in text.splitlines() if line.strip())[-1500:]


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None
