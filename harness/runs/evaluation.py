"""`harness eval`: run the evaluation in a worktree and record the run, whatever happens.

The command (`[tool.harness] eval` unless one is given) gets `--seed N` appended and the
environment variables HARNESS_SEED, HARNESS_METRICS_FILE and HARNESS_RUN_ID. Its output
streams to the terminal and to `<git dir>/harness/logs/<run id>.log`. The metrics come
from the metrics file or the `key: value` lines after `---` (see `harness.record.metrics`).

Every run becomes a row of the root results.tsv and an entry of the root journal: a
crash, a missing metric, a timeout or an interrupt too, with its status and the tail of
its log. The question, hypothesis, expected effect and queue task come from the request
or from HARNESS_QUESTION, HARNESS_HYPOTHESIS, HARNESS_EXPECTED and HARNESS_QUEUE_TASK
(which is how a queued run passes its label on).

The full evaluation refuses a worktree whose research code has uncommitted changes (a
result must name the code it measured); `allow_dirty` (or HARNESS_ALLOW_DIRTY=1, which
`harness queue add --allow-dirty` sets) runs it anyway, and its row, marked dirty, never
counts as a result.

Nothing runs unless its outcome can be kept (`preflight`), and the run is on record from
its start (`records`): a harness killed at any moment leaves a run record that the next
`harness sync`, `status` or `next` turns into a row and an entry.
"""

from __future__ import annotations

import getpass
import os
import secrets
import shlex
import signal
import socket
import time
from contextlib import suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TextIO

from harness import gitops
from harness.config import Config, load_config, resolve_argv
from harness.errors import HarnessError, RecordError, UsageError, WorktreeError
from harness.fileio import exclusive_lock
from harness.layout import Layout, find_layout, idea_of
from harness.queue.base import is_past_deadline
from harness.record.code import worktree_code
from harness.record.journal import add_entry, run_entry
from harness.record.metrics import metric_value, parse_channel
from harness.record.reference import Head, line_head
from harness.record.results import (
    append_locked,
    check_appendable,
    format_row,
    new_run_id,
    read_results,
    record_lock,
    sanitise,
    utc_now,
)
from harness.rules.globs import matches
from harness.rules.integrity import OTHER_COMMAND, Integrity, check_integrity, touched_since
from harness.runs.channel import MetricsChannel
from harness.runs.preflight import check_writable
from harness.runs.records import TREE_ENV, OpenRun, close_run, finalise, hand_over, open_run
from harness.runs.streaming import Execution, run_logged

ENV_FIELDS = {
    "question": "HARNESS_QUESTION",
    "hypothesis": "HARNESS_HYPOTHESIS",
    "expected": "HARNESS_EXPECTED",
    "queue_task": "HARNESS_QUEUE_TASK",
    "task_token": "HARNESS_TASK_TOKEN",
}
EXIT_CODES = {"ok": 0, "crash": 1, "timeout": 124}  # "killed": 128 + the signal's number
MAX_DESCRIPTION = 1500
ALLOW_DIRTY = "HARNESS_ALLOW_DIRTY"
MAX_LISTED = 5


@dataclass(frozen=True)
class EvalRequest:
    """What to run and the label it carries; None fields fall back to the environment."""

    command: tuple[str, ...] = ()
    seed: int | None = None
    question: str | None = None
    hypothesis: str | None = None
    expected: str | None = None
    queue_task: str | None = None
    task_token: str | None = None  # the queue task's harness token (survives id reuse)
    timeout: float | None = None
    description: str = ""
    idea: str | None = None  # None: from the branch
    allow_dirty: bool | None = None  # None: HARNESS_ALLOW_DIRTY


@dataclass(frozen=True)
class RecordedRun:
    row: dict[str, Any]
    log_path: Path
    entry: str

    @property
    def exit_code(self) -> int:
        """As a shell reports a death by signal N: 128 + N (Ctrl-C 130, SIGTERM 143)."""
        if self.row["status"] == "killed":
            stopped_by = self.row["extra"].get("stopped_by", "SIGINT")
            return 128 + int(signal.Signals[stopped_by])
        return EXIT_CODES.get(self.row["status"], 1)


def evaluate(
    request: EvalRequest,
    *,
    start: Path | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    config: Config | None = None,
) -> RecordedRun:
    """Run the evaluation in the worktree containing `start` and record it (with
    `config` instead of the repository's: the referee runs the research code as another
    user through its configured command, docs/architecture.md §6)."""
    layout = find_layout(start)
    config = config or load_config(layout.root)
    check_appendable(layout.results_tsv)
    request = with_environment(request)
    command, seed = split_seed(request.command or config.eval, request.seed)
    if request.timeout is not None and request.timeout <= 0:
        raise UsageError(f"--timeout must be a positive number of seconds, got {request.timeout}")
    refuse_uncommitted(layout, config, allow=request.allow_dirty)
    run_id = new_run_id()
    started_ns = time.time_ns()
    integrity = check_integrity(layout.worktree, root=layout.root, config=config)
    row = describe_worktree(layout, config, request=request, seed=seed, run_id=run_id)
    row.update(frozen_sha=integrity.frozen_sha, integrity=integrity.status)
    log_path = layout.state_dir / "logs" / f"{run_id}.log"
    argv = [*resolve_argv(command), "--seed", str(seed)]
    check_writable(layout, log_dir=log_path.parent)
    run = open_run(layout, row, command=argv, log_path=log_path)
    try:
        ended = execute(
            argv,
            layout=layout,
            config=config,
            row=row,
            log_path=log_path,
            timeout=request.timeout or config.timeout,
            sinks=(stdout, stderr),
            run=run,
        )
    except HarnessError:  # the command could not start: there is no run to record
        close_run(layout, run.run_id)
        raise
    row.update(ended)
    changed = flag_changes(row, before=integrity, layout=layout, config=config, since=started_ns)
    if request.command and command != config.eval:
        flag_command(row, command=command)
    if request.description:
        row["description"] = _join(request.description, row["description"])
    entry = record_run(layout, config, row, changed=changed, run=run)
    return RecordedRun(row=row, log_path=log_path, entry=entry)


def execute(
    argv: list[str],
    *,
    layout: Layout,
    config: Config,
    row: dict[str, Any],
    log_path: Path,
    timeout: float,
    sinks: tuple[TextIO | None, TextIO | None],
    run: OpenRun | None = None,
) -> dict[str, Any]:
    """Run argv in the worktree with the run's environment; the outcome's columns.

    Its processes carry the run's marker (`run`'s, else a new one), so none outlives it.
    """
    marker = run.marker if run else f"{row['run_id']}.{secrets.token_hex(8)}"
    with MetricsChannel() as channel:
        env = run_environment(run_id=row["run_id"], seed=row["seed"], metrics=channel.env_value)
        execution = run_logged(
            argv,
            cwd=layout.worktree,
            env=env,
            log_path=log_path,
            timeout=timeout,
            stdout=sinks[0],
            stderr=sinks[1],
            marker=(TREE_ENV, marker),
            heartbeat=run.path(layout) if run else None,
            pass_fds=channel.pass_fds,
        )
        data, overflowed = channel.received()  # the run's processes are gone by now
    received = parse_channel(data, overflowed=overflowed)
    return outcome(execution, received=received, config=config, log_path=log_path)


def flag_changes(
    row: dict[str, Any], *, before: Integrity, layout: Layout, config: Config, since: int
) -> tuple[str, ...]:
    """Mark the row `modified` when FROZEN files changed during the run (their hash after
    it, or their change times); returns the FROZEN paths that differ from main."""
    after = check_integrity(layout.worktree, root=layout.root, config=config)
    during = touched_since(layout.worktree, config.rules.frozen, since)
    if after.frozen_sha != before.frozen_sha or during:
        listed = ", ".join(during or sorted(set(before.changed) ^ set(after.changed)))
        row["integrity"] = "modified"
        row["description"] = _join(
            row.get("description", ""),
            f"the FROZEN files changed during the run ({listed or 'their modes'}): "
            "this run never counts",
        )
    return tuple(sorted(set(before.changed) | set(after.changed)))


def flag_command(row: dict[str, Any], *, command: tuple[str, ...]) -> None:
    """A row of a command other than the configured evaluation: kept, never counted."""
    if row["integrity"] == "ok":  # `modified` says more, and never counts either
        row["integrity"] = OTHER_COMMAND
    text = (
        shlex.join(command).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    )
    row["extra"] = {**(row.get("extra") or {}), "command": text}


def with_environment(request: EvalRequest) -> EvalRequest:
    """The request with its missing label fields taken from the HARNESS_* variables."""

    def pick(name: str) -> str | None:
        given = getattr(request, name)
        return given if given is not None else (os.environ.get(ENV_FIELDS[name]) or None)

    return replace(
        request,
        question=pick("question"),
        hypothesis=pick("hypothesis"),
        expected=pick("expected"),
        queue_task=pick("queue_task"),
        task_token=pick("task_token"),
    )


def split_seed(command: tuple[str, ...], seed: int | None) -> tuple[tuple[str, ...], int]:
    """(command without a trailing `--seed N`, the seed to use).

    `harness queue add --seeds 3 -- harness eval -- CMD` appends `--seed N` after CMD, so
    a seed inside the command counts when none was given to `harness eval` itself.
    """
    if len(command) >= 2 and command[-2] == "--seed":
        try:
            inner = int(command[-1])
        except ValueError:
            raise UsageError(f"--seed needs an integer, got {command[-1]!r}") from None
        command = command[:-2]
        seed = inner if seed is None else seed
    if seed is None:
        seed = _environment_seed()
    return command, seed


def _environment_seed() -> int:
    text = os.environ.get("HARNESS_SEED", "0")
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"HARNESS_SEED={text!r} is not an integer: unset or fix it") from None


def run_environment(*, run_id: str, seed: int, metrics: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "HARNESS_SEED": str(seed),
            "HARNESS_METRICS_FILE": metrics,
            "HARNESS_RUN_ID": run_id,
            "PYTHONUNBUFFERED": "1",  # stream a Python evaluation's output as it comes
        }
    )
    return env


def describe_worktree(
    layout: Layout, config: Config, *, request: EvalRequest, seed: int, run_id: str
) -> dict[str, Any]:
    """The row's columns known before the run: where, what code, what label."""
    worktree = layout.worktree
    branch = gitops.current_branch(worktree)
    commit = gitops.head_commit(worktree)
    dirty = has_code_changes(worktree, config)
    return label_columns(config, request=request, seed=seed, run_id=run_id) | {
        "timestamp": utc_now(),
        "idea": request.idea or idea_of(branch, main_branch=config.main_branch, commit=commit),
        "branch": branch or "",
        "commit": commit or "",
        "dirty": dirty,
        "code": worktree_code(worktree, config, dirty=dirty) if commit else None,
    }


def label_columns(
    config: Config, *, request: EvalRequest, seed: int | None, run_id: str
) -> dict[str, Any]:
    """The row's columns that do not depend on the worktree: the run, its seed and label."""
    return {
        "run_id": run_id,
        "seed": seed,
        "metric": config.metric,
        "question": request.question,
        "hypothesis": request.hypothesis,
        "expected": request.expected,
        "queue_task": request.queue_task,
        "host": socket.gethostname(),
        "task_token": request.task_token,
        "agent": os.environ.get("HARNESS_AGENT") or _user(),
    }


def _user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no LOGNAME/USER and no passwd entry (some containers)
        return str(os.getuid())


def code_changes(worktree: Path, config: Config) -> list[str]:
    """Uncommitted changes other than to the record (GLOBAL files and record folders)."""
    record = config.rules.global_ + config.rules.records
    entries = gitops.status_entries(worktree, untracked="normal")  # a rename: both paths
    return [path for _, path in entries if not matches(path, record)]


def has_code_changes(worktree: Path, config: Config) -> bool:
    return bool(code_changes(worktree, config))


def is_dirty_allowed(allow: bool | None) -> bool:
    if allow is not None:
        return allow
    return os.environ.get(ALLOW_DIRTY, "") not in ("", "0")


def refuse_uncommitted(layout: Layout, config: Config, *, allow: bool | None) -> None:
    """A WorktreeError naming the uncommitted research code, unless dirty runs are allowed."""
    if is_dirty_allowed(allow):
        return
    changed = code_changes(layout.worktree, config)
    if not changed:
        return
    listed = ", ".join(changed[:MAX_LISTED])
    more = f" and {len(changed) - MAX_LISTED} more" if len(changed) > MAX_LISTED else ""
    raise WorktreeError(
        f"{layout.worktree} has uncommitted changes to the research code ({listed}{more}): "
        "commit them first (a result must name the code it measured), or pass "
        "--allow-dirty to run anyway (its row never counts); `just smoke` runs on anything"
    )


def outcome(
    execution: Execution,
    *,
    received: tuple[dict[str, Any] | None, str],
    config: Config,
    log_path: Path,
) -> dict[str, Any]:
    """status, value, duration, extra and description of a finished execution.

    `received` is what the metrics channel gave (`parse_channel`): once it gave anything,
    a summary or a problem, the stdout summary is ignored.
    """
    metrics, problem = received
    repeated = ""
    if metrics is None and not problem:
        metrics = execution.summary.metrics()
        repeated = execution.summary.repeat_problem(config.metric)
    metrics = metrics or {}
    value, missing = metric_value(metrics, config.metric) if metrics else (None, "")
    if repeated:  # two values and no telling which is the result
        value = None
    status, reason = _status(execution, value, repeated or problem or missing)
    extra = {k: v for k, v in metrics.items() if k != config.metric}
    extra["exit_code"] = execution.exit_code
    extra["log"] = str(log_path)
    if execution.stopped_by is not None:
        extra["stopped_by"] = signal.Signals(execution.stopped_by).name
    description = ""
    if status != "ok":
        description = _join(reason, "log tail: " + " | ".join(execution.tail[-8:]))
    if execution.log_problem:  # the run itself is whole: only its log is not
        extra["log_warning"] = execution.log_problem
        description = _join(f"warning: {execution.log_problem}", description)
    return {
        "value": value,
        "status": status,
        "duration_s": round(execution.duration_s, 3),
        "extra": extra,
        "description": description,
    }


def _status(execution: Execution, value: float | None, problem: str) -> tuple[str, str]:
    if execution.ending == "timeout":
        return "timeout", f"timed out after {execution.duration_s:.0f} s"
    if execution.ending == "interrupted" and is_past_deadline(os.environ):
        return "timeout", "stopped by the queue's timeout"
    if execution.ending == "interrupted":
        return "killed", f"interrupted ({_stop_name(execution.stopped_by)})"
    if execution.exit_code != 0:
        return "crash", f"exit code {execution.exit_code}"
    if value is None:
        return "crash", problem or "no metrics: neither HARNESS_METRICS_FILE nor `---` lines"
    return "ok", ""


def _stop_name(signum: int | None) -> str:
    return "Ctrl-C" if signum in (None, signal.SIGINT) else signal.Signals(signum).name


def _join(*parts: str) -> str:
    text = sanitise("; ".join(p for p in parts if p))
    return text if len(text) <= MAX_DESCRIPTION else text[: MAX_DESCRIPTION - 3] + "..."


def _head(layout: Layout, config: Config) -> Head | None:
    """The head of the line, for the journal entry (None when it cannot be read)."""
    try:
        return line_head(layout.root, config)
    except HarnessError:
        return None


def record_run(
    layout: Layout,
    config: Config,
    row: dict[str, Any],
    *,
    changed: tuple[str, ...] = (),
    run: OpenRun | None = None,
) -> str:
    """Append the row to the root results.tsv and its entry to the root journal.

    Returns the journal entry. The row is written first and on its own, so a journal
    that cannot be read or written never costs the row. With the run's record: the
    record keeps the finished row until both are written, then it is removed; what
    could not be written (a full disk) is written by the next `harness sync`.
    """
    format_row(row)  # refuses a row with an unknown column before the lock is taken
    if run is not None:
        finalise(layout, run, row)
    frame = None
    with exclusive_lock(record_lock(layout)):
        try:
            append_locked(layout.results_tsv, [row])
        except RecordError as exc:
            if run is None:
                raise
            hand_over(layout, run)
            raise RecordError(
                f"{exc}; the run is kept in {run.path(layout)}: `harness sync` records it "
                "once results.tsv can be written"
            ) from None
        with suppress(RecordError):  # the entry then says the record is unreadable
            frame = read_results(layout.results_tsv)
    entry = run_entry(row, config=config, frame=frame, changed=changed, head=_head(layout, config))
    try:
        add_entry(layout, entry)
    except (HarnessError, OSError) as exc:
        if run is None:
            raise
        from loguru import logger

        hand_over(layout, run)
        logger.warning(
            f"run {row['run_id']} is recorded, its journal entry is not ({exc}): "
            "`harness sync` writes it"
        )
        return entry
    if run is not None:
        close_run(layout, run.run_id)
    return entry
