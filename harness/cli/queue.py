"""`harness queue ...`: queue evaluations (pueue or the embedded local queue) and watch them."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any, Literal

from tyro.conf import Positional, arg

from harness.cli.args import Task

if TYPE_CHECKING:
    from tyro.extras import SubcommandApp

    from harness.config import Config
    from harness.layout import Layout
    from harness.runs.sync import SyncReport

BackendFlag = Literal["auto", "pueue", "local", "slurm"]
TEXT_ROWS_DONE = 20  # finished tasks `status` shows without --all


def register(app: SubcommandApp) -> None:
    from tyro.extras import SubcommandApp

    sub = SubcommandApp()
    for command in (add, status, log, follow, wait, kill):
        sub.command(command)
    app.command(sub, name="queue")
    app.command(sync)


def add(
    command: Positional[Annotated[list[str], arg(metavar="-- CMD ...")]],
    /,
    *,
    question: Annotated[str, arg(aliases=("-q",))] = "",
    hypothesis: Annotated[str, arg(aliases=("-H",))] = "",
    expected: str = "",
    seeds: int | None = None,
    all_seeds: bool = False,
    only_seeds: tuple[int, ...] = (),
    group: str | None = None,
    backend: BackendFlag = "auto",
    gpus: int | None = None,
    allow_dirty: bool = False,
) -> int:
    """Queue a command (usually `just eval`) in this worktree, labelled with its question.

    Prints the id of each queued task (e.g. local:12), one a line. The task runs in the
    root of this worktree with this shell's environment plus HARNESS_QUESTION,
    HARNESS_HYPOTHESIS, HARNESS_EXPECTED and HARNESS_QUEUE_TASK, so a queued
    `harness eval` records its label. Refuses a worktree whose research code has
    uncommitted changes (naming them) unless --allow-dirty. The idea of an `exp/SLUG`
    worktree moves to `testing`. Example:
    harness queue add --seeds 3 -q "does warmup help?" -H "expect -0.02 val_bpb" -- just eval

    Args:
        command: The command to run, after `--`.
        question: The question the run answers (the label's `Q:`).
        hypothesis: What you expect and why (the label's `H:`).
        expected: The expected change of the metric, signed: -0.02 means 0.02 lower; none:
            a number in --hypothesis, else the idea file's Expected effect.
        seeds: Queue N tasks, with `--seed 0` .. `--seed N-1` appended (and HARNESS_SEED).
        all_seeds: Queue one task per seed of [tool.harness] seeds.
        only_seeds: Queue one task for each of these seeds (e.g. the ones still missing).
        group: The queue group (default [tool.harness.pueue] group, `harness`).
        backend: The queue to use; default: [tool.harness] queue, HARNESS_QUEUE, then auto.
        gpus: Run up to N tasks of the group at once, one GPU each (default [tool.harness] gpus).
        allow_dirty: Queue from uncommitted code anyway; its rows never count as results.
    """
    from loguru import logger

    from harness.queue.ops import make_specs, open_queue
    from harness.runs.evaluation import ALLOW_DIRTY, refuse_uncommitted
    from harness.runs.referee_client import request_env

    queue, _ = open_queue(flag=_flag(backend), gpus=gpus, group=group)
    refuse_uncommitted(queue.layout, queue.config, allow=allow_dirty)
    slug = _idea_here(queue.layout, queue.config)
    specs = make_specs(
        command,
        cwd=queue.layout.worktree,
        question=question,
        hypothesis=hypothesis,
        expected=_expected(queue.layout, slug, expected=expected, hypothesis=hypothesis),
        seeds=queue.config.seeds if all_seeds and seeds is None else seeds,
        only_seeds=only_seeds,
        group=group or queue.config.pueue.group,
        timeout=queue.config.timeout,
        extra_env=({ALLOW_DIRTY: "1"} if allow_dirty else {}) | request_env(queue.layout),
    )
    ids = []
    for spec in specs:
        task_id = queue.backend.submit(spec)
        ids.append(f"{queue.backend.name}:{task_id}")
        print(ids[-1], flush=True)
    logger.info(f"queued {len(specs)} task(s) on {queue.choice.describe()}")
    if slug is not None:
        _mark_testing(queue.layout, slug, ids)
    return 0


def _idea_here(layout: Layout, config: Config) -> str | None:
    """The idea of this worktree's `exp/SLUG` branch, or None (main, another branch)."""
    from harness import gitops

    branch = gitops.current_branch(layout.worktree) or ""
    return branch.removeprefix("exp/") if branch.startswith("exp/") else None


def _expected(layout: Layout, slug: str | None, *, expected: str, hypothesis: str) -> str:
    from harness.loop.expectation import resolve_expected

    found = resolve_expected(layout, slug, expected=expected or None, hypothesis=hypothesis)
    return found.text


def _mark_testing(layout: Layout, slug: str, ids: list[str]) -> None:
    """Queued runs mean the idea is under test (`harness next` then never queues it again)."""
    from loguru import logger

    from harness.errors import RecordError, UnknownIdea, UsageError
    from harness.loop.ideas import advance

    shown = ids[0] if len(ids) == 1 else f"{ids[0]} .. {ids[-1]}"
    try:
        advance(layout, slug, "testing", note=f"queued {shown}")
    except (UnknownIdea, UsageError):  # a branch without an idea file
        pass
    except RecordError as exc:
        logger.warning(f"idea status not updated: {exc}")


def status(
    *,
    as_json: Annotated[bool, arg(name="json")] = False,
    show_all: Annotated[bool, arg(name="all")] = False,
    backend: BackendFlag = "auto",
) -> int:
    """Show the queue's tasks: id, idea, state, runtime, result and label.

    Args:
        as_json: Print every task as one JSON array (for scripts and agents).
        show_all: Show every finished task, not only the latest ones.
        backend: The queue to read; default: as configured (see `harness doctor`).
    """
    import json

    from loguru import logger

    from harness.queue.ops import describe, open_queue

    queue, _ = open_queue(flag=_flag(backend))
    rows = [describe(state, queue.layout) for state in queue.backend.states()]
    values = _recorded_values(queue.layout)
    for row in rows:  # the metric each finished evaluation recorded, beside its ending
        row["value"] = values.get(row["id"])
    if as_json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    logger.info(f"queue: {queue.choice.describe()}")
    _print_table(rows, show_all=show_all)
    return 0


def log(task: Task, /, *, tail: int | None = None, backend: BackendFlag = "auto") -> int:
    """Print a task's output (stdout and stderr) so far.

    Args:
        task: The task id, e.g. 12 or local:12.
        tail: Only the last N lines.
        backend: The queue to read when the id has no prefix.
    """
    from harness.queue.ops import open_queue

    queue, task_id = open_queue(flag=_flag(backend), ref=task)
    sys.stdout.write(queue.backend.log(task_id, tail=tail))
    return 0


def follow(task: Task, /, *, backend: BackendFlag = "auto") -> int:
    """Print a task's output as it grows, until the task ends; exits 0 if it succeeded.

    Args:
        task: The task id, e.g. 12 or local:12.
        backend: The queue to read when the id has no prefix.
    """
    from harness.queue.ops import follow as follow_task
    from harness.queue.ops import open_queue

    queue, task_id = open_queue(flag=_flag(backend), ref=task)

    def write(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    final = follow_task(queue.backend, task_id, write=write)
    print(f"{final.queue_task} {final.state}", file=sys.stderr)
    return 0 if final.state == "succeeded" else 1


def wait(
    tasks: Positional[Annotated[list[str], arg(metavar="[TASK ...]")]] = [],  # noqa: B006
    /,
    *,
    backend: BackendFlag = "auto",
    exit_zero: bool = False,
) -> int:
    """Wait until the given tasks (default: all queued and running ones) have ended.

    Prints one line per task; exits 0 when every one succeeded, 1 otherwise (0 with
    --exit-zero, as `harness next` asks: a failed run is recorded, not a failed wait).

    Args:
        tasks: Task ids, e.g. 12 or local:12; none: every task queued or running now.
        backend: The queue to read when the ids have no prefix.
        exit_zero: Exit 0 once every task has ended, however it ended.
    """
    from harness.queue.ops import active_ids, bare_id, open_queue, result_of, wait_for

    queue, _ = open_queue(flag=_flag(backend), ref=tasks[0] if tasks else None)
    ids = [bare_id(task, queue.backend.name) for task in tasks] or active_ids(queue.backend)
    if not ids:
        print("nothing to wait for: no task is queued or running", file=sys.stderr)
        return 0
    finals = wait_for(queue.backend, ids)
    for state in finals:
        print(f"{state.queue_task}\t{state.state}\t{result_of(state)}\t{state.label}")
    return 0 if exit_zero or all(state.state == "succeeded" for state in finals) else 1


def kill(task: Task, /, *, backend: BackendFlag = "auto") -> int:
    """Kill a running task (its whole process group) or remove a queued one.

    Args:
        task: The task id, e.g. 12 or local:12.
        backend: The queue to use when the id has no prefix.
    """
    from harness.queue.ops import open_queue

    queue, task_id = open_queue(flag=_flag(backend), ref=task)
    queue.backend.cancel(task_id)
    print(f"killing {queue.backend.name}:{task_id}")
    return 0


def _recorded_values(layout: Layout) -> dict[str, float]:
    """queue task id -> the value its results.tsv row holds (an unreadable record: none)."""
    from harness.errors import RecordError
    from harness.record.results import read_results

    if not layout.results_tsv.exists():
        return {}
    try:
        frame = read_results(layout.results_tsv)
    except RecordError:
        return {}
    rows = frame.select("queue_task", "value").drop_nulls().iter_rows()
    return {str(task): float(value) for task, value in rows}


def _flag(backend: str) -> str | None:
    return None if backend == "auto" else backend


def row_end(row: dict[str, Any]) -> tuple[str, str]:
    return row["result"], row["label"]


def _print_table(rows: list[dict[str, Any]], *, show_all: bool) -> None:
    from harness.queue.ops import format_runtime

    done = [row for row in rows if row["result"]]
    hidden = 0 if show_all else max(0, len(done) - TEXT_ROWS_DONE)
    hide = {id(row) for row in done[:hidden]}
    from harness.fileio import format_table

    def with_value(
        row: dict[str, Any],
    ) -> dict[str, Any]:  # the metric a finished evaluation recorded
        value = row.get("value")
        return row if value is None else {**row, "result": f"{value:.6g}"}

    shown = [
        [
            row["id"],
            row["idea"],
            row["state"],
            format_runtime(row["runtime_s"]),
            *row_end(with_value(row)),
        ]
        for row in rows
        if id(row) not in hide
    ]
    headings = ["ID", "IDEA", "STATE", "RUNTIME", "RESULT", "LABEL"]
    for line in format_table(shown, headings=headings, right={3}, limits={1: 20}):
        print(line)
    if hidden:
        print(f"({hidden} older finished task(s) not shown: --all shows them)", file=sys.stderr)


def sync(*, backend: BackendFlag = "auto", json: bool = False) -> int:
    """Record every finished task that did not record its own row (crash, kill, timeout, lost).

    Each gets a results.tsv row with its final state as the status, its label, seed and
    log tail, and a journal entry. So does every `harness eval` that died before recording
    its run (its run record says so), and every recorded run whose journal entry is
    missing gets it. Running it twice adds nothing twice.

    Args:
        backend: The queue to read; default: [tool.harness] queue, HARNESS_QUEUE, then auto.
        json: Print the rows added as JSON.
    """
    import json as jsonlib

    from harness.errors import QueueUnavailable
    from harness.layout import find_layout
    from harness.queue.ops import open_queue
    from harness.runs.sync import sync as sync_record

    if find_layout().referee is not None:
        print("referee mode: the referee records every request it takes; nothing to sync here")
        return 0
    try:
        queue, _ = open_queue(flag=_flag(backend))
        report = sync_record(queue.layout, queue.config, queue.backend)
    except QueueUnavailable as exc:
        report = _sync_runs_only(exc)
    if json:
        print(
            jsonlib.dumps(
                {
                    "recorded": report.recorded,
                    "already": report.already,
                    "not_evaluations": report.not_evaluations,
                    "unfinished": report.unfinished,
                },
                default=str,
            )
        )
        return 0
    for row in report.recorded:
        what = row["queue_task"] or "a run whose harness died"  # from its run record
        print(f"recorded {what}: {row['status']} ({row['idea']}) as run {row['run_id']}")
    print(
        f"{len(report.recorded)} recorded, {report.already} already recorded, "
        f"{report.unfinished} still queued or running"
    )
    if report.not_evaluations:
        print(
            f"{len(report.not_evaluations)} succeeded without a row (not evaluations): "
            + ", ".join(report.not_evaluations[:10])
        )
    return 0


def _sync_runs_only(problem: Exception) -> SyncReport:
    """No queue to read: the runs whose harness died are recorded all the same."""
    from loguru import logger

    from harness.cli.idea import repository
    from harness.runs.sync import sync_runs

    logger.warning(f"{problem}; only the runs whose harness died are recorded")
    layout, config = repository()
    return sync_runs(layout, config)
