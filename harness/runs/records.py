"""Run records: a run is on record from the moment it starts, so no run can vanish.

Before the evaluation starts, `harness eval` writes `<git dir>/harness/runs/<run id>.json`
(atomically): who runs it (host, pid and the pid's start time, the boot), where and what
(worktree, command, log), the row's columns known so far (label, queue task, task token,
commit, integrity) and the marker its processes carry. Next to it sits a small reserve
file, so that a disk filled during the run still has room for the row and the entry.
When the evaluation has ended, the record is rewritten with the complete row (`final`),
then the row is appended, the journal entry written, and the record moved into
`runs/closed/`.

Moved rather than marked done: the folder then holds only the runs not yet wholly on
record, so the check `harness status` and `harness next` make each time is a listing of
a folder that is empty but for the runs in flight. The closed record stays as the proof
that a row came from a run of the harness: `harness verify` asks every evaluation row for
its closed record and its log (a row appended by hand has neither).

`settle_runs` (from `harness sync`, and cheaply from every `status` and `next`) takes the
records whose process is gone: it kills what is left of the run, appends the row (the
final one when the run got that far; else `killed`, or `lost` when the run was on another
machine that stopped touching its record, with the log tail) unless results.tsv has one
with that run id, writes the journal entry unless the journal names the run, and removes
the record, all under the record lock: each run gets one row and one entry, however many
syncs run, at once or after one another.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.config import Config
from harness.errors import HarnessError, RecordError
from harness.fileio import exclusive_lock, write_atomic
from harness.layout import Layout
from harness.queue.proctree import boot_id, is_same_process, kill_marked, start_time
from harness.record.journal import has_run_entry, run_entry
from harness.record.results import append_locked, read_results, record_lock, sanitise
from harness.rules.appendonly import prepend_locked

TREE_ENV = "HARNESS_RUN_TREE"  # in every process of a run: how its tree is found and ended
RESERVE_BYTES = 256 * 1024
STALE_S = 300.0  # a record untouched this long on another machine: that run is lost
TAIL_LINES = 12


@dataclass
class OpenRun:
    """One run record, as stored in `runs/<run id>.json`."""

    run_id: str
    host: str
    pid: int
    pid_started: int | None
    boot: str
    worktree: str
    command: list[str]
    log: str
    started_at: float  # time.time()
    marker: str  # the value of TREE_ENV in the run's processes
    row: dict[str, Any] = field(default_factory=dict)
    final: bool = False  # row is complete: append it as it is
    handed_over: bool = False  # its harness gave up writing it (a full disk): sync finishes
    entry: bool = True  # an entry of its own once recorded (a confirmation run shares one)

    def path(self, layout: Layout) -> Path:
        return runs_dir(layout) / f"{self.run_id}.json"


def runs_dir(layout: Layout) -> Path:
    return layout.record_state_dir / "runs"  # the referee's in referee mode


def open_run(
    layout: Layout,
    row: dict[str, Any],
    *,
    command: list[str],
    log_path: Path,
    entry: bool = True,
) -> OpenRun:
    """Write the record of a run about to start (and its reserve); raises HarnessError."""
    run = _this_process(
        layout,
        row,
        command=list(command),
        log=str(log_path),
        marker=f"{row['run_id']}.{secrets.token_hex(8)}",
        entry=entry,
    )
    _write_reserve(layout, run.run_id)
    _save(layout, run)
    return run


def hold_entry(layout: Layout, row: dict[str, Any]) -> None:
    """A record for a complete row about to be appended (by `harness sync`) whose journal
    entry follows: if this process dies between the two, the next sync writes the entry."""
    _save(layout, _this_process(layout, row, command=[], log="", marker="", final=True))


def _this_process(
    layout: Layout,
    row: dict[str, Any],
    *,
    command: list[str],
    log: str,
    marker: str,
    entry: bool = True,
    final: bool = False,
) -> OpenRun:
    """A run record held by this process (its pid, start time, host and boot)."""
    pid = os.getpid()
    return OpenRun(
        run_id=row["run_id"],
        host=socket.gethostname(),
        pid=pid,
        pid_started=start_time(pid),
        boot=boot_id(),
        worktree=str(layout.worktree),
        started_at=time.time(),
        command=command,
        log=log,
        marker=marker,
        row=dict(row),
        entry=entry,
        final=final,
    )


def finalise(layout: Layout, run: OpenRun, row: dict[str, Any]) -> None:
    """Keep the finished run's row in its record, so a kill now cannot cost the row.

    The reserve is given back first: its room is what the row and the entry need when
    the run filled the disk. A record that cannot be rewritten keeps the older one.
    """
    _reserve_path(layout, run.run_id).unlink(missing_ok=True)
    run.row, run.final = dict(row), True
    with contextlib.suppress(HarnessError):  # the first record still accounts for the run
        _save(layout, run)


def hand_over(layout: Layout, run: OpenRun) -> None:
    """This process could not finish recording the run: the next sync does, even while
    this process lives on."""
    run.handed_over = True
    with contextlib.suppress(HarnessError):  # once this process exits, it is settled anyway
        _save(layout, run)


def closed_dir(layout: Layout) -> Path:
    """Where the records of runs wholly on record stay (`harness verify` reads them)."""
    return runs_dir(layout) / "closed"


def close_run(layout: Layout, run_id: str) -> None:
    """The row and the entry are written: the record moves out of the runs in flight."""
    _reserve_path(layout, run_id).unlink(missing_ok=True)
    path = runs_dir(layout) / f"{run_id}.json"
    try:
        closed_dir(layout).mkdir(parents=True, exist_ok=True)
        os.replace(path, closed_dir(layout) / path.name)
    except FileNotFoundError:
        return  # closed already (by another sync)
    except OSError:
        path.unlink(missing_ok=True)  # never leave a closed run looking open


def open_runs(layout: Layout) -> list[OpenRun]:
    """Every run record, oldest first (a record that is not one is a RecordError)."""
    try:
        paths = sorted(runs_dir(layout).glob("*.json"))
    except OSError:
        return []
    runs = []
    for path in paths:
        try:
            runs.append(OpenRun(**json.loads(path.read_text(encoding="utf-8"))))
        except FileNotFoundError:
            continue  # closed meanwhile
        except (ValueError, TypeError, UnicodeDecodeError):
            raise RecordError(f"{path} is not a harness run record: move it aside") from None
    return runs


def is_running(run: OpenRun, *, layout: Layout) -> bool:
    """Whether the run's harness process still lives (elsewhere: still touches its record)."""
    if run.handed_over:
        return False
    if run.host == socket.gethostname() and run.boot == boot_id():
        return is_same_process(run.pid, started=run.pid_started)
    if run.host == socket.gethostname():
        return False  # this machine was restarted since
    try:
        touched = run.path(layout).stat().st_mtime
    except FileNotFoundError:
        return False
    return time.time() - touched < STALE_S


@dataclass
class Settled:
    rows: list[dict[str, Any]] = field(default_factory=list)  # the rows added
    entries: int = 0  # journal entries written


def settle_runs(
    layout: Layout,
    config: Config,
    *,
    statuses: Callable[[], Mapping[str, str]] | None = None,
) -> Settled:
    """Give every run whose process is gone its row and entry, once; remove its record.

    `statuses` gives, only when a run needs it, a map from queue task (`local:3`) to
    the status its queue gave it (`lost`), which a killed run of that task takes.
    """
    dead = [run for run in open_runs(layout) if not is_running(run, layout=layout)]
    settled = Settled()
    if not dead:
        return settled
    by_task = statuses() if statuses and any(run.row.get("queue_task") for run in dead) else {}
    for run in dead:
        if run.host == socket.gethostname() and run.marker:
            kill_marked(TREE_ENV, run.marker)  # the kernel and the watchdog should have
    with exclusive_lock(record_lock(layout)):
        dead = [run for run in dead if run.path(layout).exists()]  # not settled meanwhile
        recorded = _recorded_ids(layout)
        for run in dead:
            if run.run_id not in recorded:
                row = run.row if run.final else ended_row(run, layout=layout, statuses=by_task)
                append_locked(layout.results_tsv, [row])
                settled.rows.append(row)
        added = {row["run_id"] for row in settled.rows}  # a killed run's entry is its own
        needing = [run for run in dead if run.entry or run.run_id in added]
        settled.entries = _write_missing_entries(layout, config, needing)
        for run in dead:
            close_run(layout, run.run_id)
    return settled


def _recorded_ids(layout: Layout) -> set[str]:
    if not layout.results_tsv.exists():
        return set()
    every = read_results(layout.results_tsv, untrusted=True)  # a row after a break too
    return set(every.get_column("run_id").to_list())


def _write_missing_entries(layout: Layout, config: Config, runs: list[OpenRun]) -> int:
    """Journal entries, derived from the rows of results.tsv, for runs the journal lacks."""
    import polars as pl

    try:
        journal = layout.journal.read_text(encoding="utf-8")
    except FileNotFoundError:
        journal = ""
    except (OSError, UnicodeDecodeError) as exc:
        raise RecordError(
            f"cannot read {layout.journal} ({exc}): repair it, then run `harness sync`"
        ) from None
    missing = [run.run_id for run in runs if not has_run_entry(journal, run.run_id)]
    if not missing:
        return 0
    frame = read_results(layout.results_tsv, untrusted=True)  # the rows, not a decision
    written = 0
    for run_id in missing:
        rows = frame.filter(pl.col("run_id") == run_id).rows(named=True)
        if rows:
            prepend_locked(layout.journal, run_entry(rows[0], config=config, frame=frame))
            written += 1
    return written


def ended_row(
    run: OpenRun, *, layout: Layout, statuses: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The row of a run whose harness process ended before recording it."""
    here = run.host == socket.gethostname()
    status = "killed" if here else "lost"
    task = run.row.get("task_token") or run.row.get("queue_task") or ""  # ids can be reused
    status = (statuses or {}).get(task, status)
    log = Path(run.log)
    ended = _mtime(log) or _mtime(run.path(layout)) or time.time()
    if here:
        what = f"the harness process {run.pid} ended before recording the run"
    else:
        what = f"the harness process {run.pid} on {run.host} has not been heard from since"
        what += f" {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(ended))}"
    description = f"{what}; recorded by harness sync; log tail: {log_tail(log)}"
    return {
        **run.row,
        "status": status,
        "value": None,
        "duration_s": round(max(0.0, ended - run.started_at), 3),
        "extra": {"exit_code": None, "log": run.log, "synced": True},
        "description": sanitise(description)[-1500:],
    }


def log_tail(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, path.stat().st_size - 16384))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return "(no log)"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " | ".join(lines[-TAIL_LINES:]) or "(empty log)"


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


def _save(layout: Layout, run: OpenRun) -> None:
    write_atomic(run.path(layout), json.dumps(asdict(run), default=str))


def _reserve_path(layout: Layout, run_id: str) -> Path:
    return runs_dir(layout) / f"{run_id}.reserve"


def _write_reserve(layout: Layout, run_id: str) -> None:
    """Real blocks (not a sparse file), given back when the run ends."""
    path = _reserve_path(layout, run_id)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:
            handle.write(b"\0" * RESERVE_BYTES)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        path.unlink(missing_ok=True)
        raise HarnessError(
            f"cannot write the run record in {path.parent}: {exc.strerror}; nothing was run"
        ) from None
