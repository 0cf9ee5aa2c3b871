"""What Slurm's client commands print, turned into `TaskState`s (pure functions, no I/O).

Two raw formats, one function each:

- `parse_squeue`: `squeue -h -t all -j IDS -O FIELDS` with `SQUEUE_FIELDS`. Every field is
  unpadded (size 0) and followed by an ASCII unit separator, so no value can shift a
  column; the comment, the only free text, comes last. `exit_code` there is a raw wait
  status (768 = exit 3; 15 = killed by SIGTERM).
- `parse_sacct`: `sacct -X -P -n -j IDS -o FIELDS` with `SACCT_FIELDS`, the accounting
  database's view of jobs the controller has forgotten. `|`-separated, no free text but
  the last field; `ExitCode` is `code:signal` and a state may read `CANCELLED by 0`. With
  `-X` the exit code is the allocation's: a cancelled or timed-out job reads `0:0` there,
  where squeue gives the signal that ended it.

Both are run with `TZ=UTC`, so their naive times are UTC.
"""

from __future__ import annotations

from typing import Final

from harness.errors import QueueError
from harness.queue.base import State, TaskState
from harness.queue.times import normalise_time

SEP: Final = "\x1f"  # ASCII unit separator: never part of a job name, path or state
SQUEUE_FIELDS: Final = (
    "JobID",
    "State",
    "exit_code",
    "Reason",
    "SubmitTime",
    "StartTime",
    "EndTime",
    "WorkDir",
    "Name",
    "Comment",
)
SACCT_FIELDS: Final = ("JobIDRaw", "State", "ExitCode", "Submit", "Start", "End", "JobName")

# Every job state of Slurm 22.05 (squeue(1), "JOB STATE CODES"), by the harness state it
# means. A state not listed is treated as still running (see `harness_state`).
SLURM_STATES: Final[dict[str, State]] = {
    "PENDING": "queued",
    "CONFIGURING": "queued",  # nodes allocated, still booting: the command has not started
    "REQUEUED": "queued",
    "REQUEUE_FED": "queued",
    "REQUEUE_HOLD": "queued",
    "RESV_DEL_HOLD": "queued",
    "SPECIAL_EXIT": "queued",  # requeued and held by the site's epilog
    "RUNNING": "running",
    "COMPLETING": "running",  # ended; Slurm is still cleaning up, the outcome may change
    "SUSPENDED": "running",
    "STOPPED": "running",
    "SIGNALING": "running",
    "STAGE_OUT": "running",
    "RESIZING": "running",
    "COMPLETED": "succeeded",
    "FAILED": "failed",
    "OUT_OF_MEMORY": "failed",  # the command used more memory than it asked for
    "CANCELLED": "killed",
    "PREEMPTED": "killed",
    "REVOKED": "killed",
    "TIMEOUT": "timed_out",
    "DEADLINE": "timed_out",
    "NODE_FAIL": "lost",  # the node died under the command: its outcome is unknown
    "BOOT_FAIL": "lost",  # the node never came up: the command never ran
}
_NO_TIME: Final = frozenset({"", "N/A", "Unknown", "None", "NONE", "(null)"})
_NO_TEXT: Final = frozenset({"", "(null)", "None"})


def harness_state(slurm_state: str, exit_code: int | None) -> tuple[State, int | None]:
    """The harness state and exit code of a Slurm state (`CANCELLED by 0` reads CANCELLED).

    The exit code is kept only for a task that ended and has one: a job cancelled while
    pending (Slurm's `0:0`) has none, nor has a job whose node failed. COMPLETED with a
    non-zero code (not seen, but cheap to be sure of) is a failure.
    """
    name = slurm_state.split(" ", 1)[0].upper()
    state = SLURM_STATES.get(name, "running")
    if state in ("queued", "running"):
        return state, None
    if state == "succeeded" and exit_code:
        return "failed", exit_code
    if state == "lost" or (exit_code == 0 and state in ("killed", "timed_out")):
        return state, None
    return state, exit_code


def exit_from_wait_status(status: int) -> int:
    """A shell-style exit code from a raw wait status: 768 -> 3, 15 (SIGTERM) -> 143."""
    signal = status & 0x7F
    return 128 + signal if signal else (status >> 8) & 0xFF


def exit_from_pair(text: str) -> int | None:
    """A shell-style exit code from Slurm's `code:signal`: `3:0` -> 3, `0:15` -> 143."""
    code, _, signal = text.partition(":")
    if not code.isdigit():
        return None
    return 128 + int(signal) if signal.isdigit() and int(signal) else int(code)


def utc_time(text: str) -> str | None:
    """`2026-11-23T09:15:08` (UTC, as printed under TZ=UTC) as `2026-11-23T09:15:08.000Z`."""
    text = text.strip()
    if text in _NO_TIME:
        return None
    try:
        return normalise_time(f"{text}Z")
    except ValueError:
        return None


def parse_squeue(text: str) -> list[TaskState]:
    """Task states from `squeue -h -t all -O` output in the `SQUEUE_FIELDS` format."""
    states = []
    for line in text.splitlines():
        if not line.strip():
            continue
        values = line.split(SEP, len(SQUEUE_FIELDS) - 1)
        if len(values) != len(SQUEUE_FIELDS):
            raise QueueError(f"squeue printed a line the harness cannot read: {line[:200]!r}")
        job_id, raw_state, status, reason, submit, start, end, workdir, name, comment = values
        code = exit_from_wait_status(int(status)) if status.strip().isdigit() else None
        states.append(
            _task_state(
                job_id,
                raw_state,
                code,
                times=(submit, start, end),
                reason=reason,
                cwd=workdir,
                label=comment,
                command=name,
            )
        )
    return states


def parse_sacct(text: str) -> list[TaskState]:
    """Task states from `sacct -X -P -n` output in the `SACCT_FIELDS` format."""
    states = []
    for line in text.splitlines():
        if not line.strip():
            continue
        values = line.split("|", len(SACCT_FIELDS) - 1)
        if len(values) != len(SACCT_FIELDS):
            raise QueueError(f"sacct printed a line the harness cannot read: {line[:200]!r}")
        job_id, raw_state, exit_pair, submit, start, end, name = values
        states.append(
            _task_state(
                job_id,
                raw_state,
                exit_from_pair(exit_pair),
                times=(submit, start, end),
                reason="",
                cwd="",
                label="",
                command=name,
            )
        )
    return states


def _task_state(
    job_id: str,
    raw_state: str,
    exit_code: int | None,
    *,
    times: tuple[str, str, str],
    reason: str,
    cwd: str,
    label: str,
    command: str,
) -> TaskState:
    state, code = harness_state(raw_state, exit_code)
    submit, start, end = times
    # A pending job's StartTime is a forecast; a job cancelled before it started (no
    # signal, no exit code) reads StartTime = EndTime = the moment it was cancelled.
    never_ran = state == "killed" and code is None and start.strip() == end.strip()
    started = state != "queued" and not never_ran
    detail = raw_state.strip()
    if reason.strip() not in _NO_TEXT:
        detail = f"{detail} ({reason.strip()})"
    if raw_state.split(" ", 1)[0].upper() not in SLURM_STATES:
        detail += ": a Slurm state the harness does not know, treated as running"
    return TaskState(
        task_id=job_id.strip(),
        state=state,
        label="" if label in _NO_TEXT else label,
        cwd="" if cwd in _NO_TEXT else cwd,
        command="" if command in _NO_TEXT else command,
        exit_code=code,
        enqueued_at=utc_time(submit),
        started_at=utc_time(start) if started else None,
        ended_at=utc_time(end) if state not in ("queued", "running") else None,
        detail=detail,
    )
