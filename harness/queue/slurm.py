"""The Slurm backend: `sbatch` to queue, `squeue` (then `sacct`) to read states, `scancel`.

A shared filesystem is assumed, as on any research cluster: the worktree a task runs in
and this backend's folder (in the repository's git directory) must be visible at the
same paths on the compute nodes. The folder holds:

    tasks/<id>.json          what was queued (argv, cwd, HARNESS_* variables, label, log
                             path), and the final state once one was seen
    logs/<id>-<token>.log    the task's stdout and stderr (Slurm's --output and --error)
    logs/<id>-<token>.exit   the command's exit status, written by the job script

States come from `squeue` while the controller remembers a job (`MinJobAge`, 5 minutes by
default, after it ended), then from `sacct` when accounting is enabled, then from the exit
file; a job known to none of them ended without leaving a status (killed, timed out, or
its node died) and is reported `lost`. A final state is stored in the task's record, so a
finished job is asked about once.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import shlex
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loguru import logger

from harness.config import SlurmSettings
from harness.errors import HarnessError, QueueError, QueueUnavailable, UnknownTask, UsageError
from harness.fileio import write_atomic
from harness.queue.base import TaskSpec, TaskState
from harness.queue.slurm_parse import (
    SACCT_FIELDS,
    SEP,
    SQUEUE_FIELDS,
    parse_sacct,
    parse_squeue,
)

MAX_COMMENT = 1024  # sbatch refuses a longer --comment
IDS_PER_CALL = 500  # job ids per squeue/sacct call, well under any argv limit
TASK_ENV = "HARNESS_QUEUE_TASK"  # `slurm:<job id>`, set by the job script
CHDIR_FAILED = 97  # the job script's exit code when the worktree is not on the node
QUERY_ENV = {"TZ": "UTC", "SLURM_TIME_FORMAT": "standard"}  # times as ISO 8601, in UTC
INSTALL_HINT = (
    "install Slurm's client commands (Debian: slurm-client) and point them at your "
    'cluster, or choose another backend: queue = "local"'
)


class SlurmBackend:
    """Queue tasks as Slurm batch jobs; the task id is the Slurm job id."""

    name = "slurm"

    def __init__(self, state_dir: Path, *, settings: SlurmSettings | None = None) -> None:
        self.state_dir = state_dir
        self.settings = settings or SlurmSettings()
        self.tasks_dir = state_dir / "tasks"
        self.logs_dir = state_dir / "logs"
        self._has_accounting: bool | None = None  # None: not asked yet

    def is_available(self) -> tuple[bool, str]:
        """True when `sinfo` reaches a controller; the reason names the fix otherwise."""
        try:
            proc = _run(["sinfo", "-h", "-o", "%P %a"])
        except QueueUnavailable as exc:
            return False, str(exc)
        if proc.returncode != 0:
            return False, f"sinfo failed ({_tail(proc.stderr)}): start slurmctld, or {_ALT}"
        partitions = ", ".join(line.replace(" ", ":") for line in proc.stdout.splitlines())
        return True, f"Slurm controller reachable; partitions {partitions or '(none)'}"

    # -- submit ----------------------------------------------------------------------

    def submit(self, spec: TaskSpec) -> str:
        """Queue `spec` with sbatch; returns the Slurm job id."""
        check_slurm_spec(spec)
        token = secrets.token_hex(4)
        log_pattern = self.logs_dir / f"%j-{token}.log"
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        argv = sbatch_argv(spec, settings=self.settings, log=log_pattern)
        script = job_script(spec, exit_file=self.logs_dir / f"%j-{token}.exit")
        proc = _run(argv, stdin=script, env={**os.environ, **spec.env})
        if proc.returncode != 0:
            raise _sbatch_error(proc.stderr)
        job_id = proc.stdout.strip().split(";", 1)[0]
        if not job_id.isdigit():
            raise QueueError(f"sbatch printed {proc.stdout.strip()!r} instead of a job id")
        self._write_record(
            job_id,
            {
                "task_id": job_id,
                "argv": list(spec.argv),
                "cwd": spec.cwd,
                "env": {k: v for k, v in spec.env.items() if k.startswith("HARNESS_")},
                "label": spec.label,
                "group": spec.group,
                "log": str(log_pattern).replace("%j", job_id),
                "exit_file": str(self.logs_dir / f"{job_id}-{token}.exit"),
                "submitted_at": _now(),
                "final": None,
            },
        )
        return job_id

    # -- states ----------------------------------------------------------------------

    def states(self, task_ids: list[str] | None = None) -> list[TaskState]:
        """States of the given jobs (all this repository queued when None)."""
        records = self._records(task_ids)
        ids = list(task_ids) if task_ids is not None else sorted(records, key=_id_order)
        known = {i: TaskState(**records[i]["final"]) for i in ids if _final_of(records.get(i))}
        asked = [i for i in ids if i not in known]
        seen = {s.task_id: s for s in self._squeue(asked)}
        forgotten = [i for i in asked if i not in seen]
        if forgotten and self._accounting_enabled():
            seen.update((s.task_id, s) for s in self._sacct(forgotten))
        for task_id in asked:
            record = records.get(task_id)
            state = seen.get(task_id) or (_from_exit_file(record) if record else None)
            if state is None:
                continue
            if record:
                state = _with_record(state, record)
                if state.is_final and state.state != "lost":  # lost: asked again next time
                    self._store_final(record, state)
            known[task_id] = state
        return [known[i] for i in ids if i in known]

    def _squeue(self, ids: Sequence[str]) -> list[TaskState]:
        fields = ",".join(f"{name}:0{SEP}" for name in SQUEUE_FIELDS[:-1])
        states = []
        for chunk in _chunks(ids):
            proc = _run(
                ["squeue", "-h", "-t", "all", "-j", ",".join(chunk), "-O", f"{fields},Comment:0"],
                env=_query_env(),
            )
            if proc.returncode != 0 and "Invalid job id" not in proc.stderr:
                raise QueueUnavailable(
                    f"squeue failed ({_tail(proc.stderr)}): is slurmctld running? {_ALT}"
                )
            states += parse_squeue(proc.stdout) if proc.returncode == 0 else []
        return states

    def _sacct(self, ids: Sequence[str]) -> list[TaskState]:
        states: list[TaskState] = []
        for chunk in _chunks(ids):
            proc = _run(
                ["sacct", "-X", "-P", "-n", "-j", ",".join(chunk), "-o", ",".join(SACCT_FIELDS)],
                env=_query_env(),
            )
            if proc.returncode != 0:
                logger.warning("sacct failed ({}): states of old jobs unknown", _tail(proc.stderr))
                return states
            states += parse_sacct(proc.stdout)
        return states

    def _accounting_enabled(self) -> bool:
        if self._has_accounting is None:
            proc = _run(["sacct", "-n", "-X", "-j", "1", "-o", "JobID"], env=_query_env())
            self._has_accounting = proc.returncode == 0
        return self._has_accounting

    # -- cancel and log --------------------------------------------------------------

    def cancel(self, task_id: str) -> None:
        """scancel the job; nothing to do when it has ended already."""
        found = self.states([task_id])
        if not found:
            raise UnknownTask(f"no Slurm job {task_id}: `harness queue status` lists the tasks")
        if found[0].is_final:
            return
        proc = _run(["scancel", task_id])
        if proc.returncode != 0:
            raise QueueError(f"scancel {task_id} failed: {_tail(proc.stderr)}")

    def log(self, task_id: str, *, tail: int | None = None) -> str:
        """The job's output file (stdout and stderr) so far; empty until the job starts."""
        record = self._records([task_id]).get(task_id)
        if record is None:
            raise UnknownTask(
                f"no task {task_id} was queued from this repository with the Slurm backend"
            )
        try:
            text = Path(record["log"]).read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        if tail is None:
            return text
        return "".join(text.splitlines(keepends=True)[-tail:]) if tail > 0 else ""

    # -- records ---------------------------------------------------------------------

    def _record_path(self, task_id: str) -> Path:
        return self.tasks_dir / f"{task_id}.json"

    def _write_record(self, task_id: str, record: dict[str, Any]) -> None:
        path = self._record_path(task_id)
        if path.exists() and json.loads(path.read_text())["submitted_at"] != record["submitted_at"]:
            logger.warning("Slurm reused job id {} (was the cluster reset?): replacing", task_id)
        write_atomic(path, json.dumps(record, ensure_ascii=False, indent=1) + "\n")

    def _store_final(self, record: dict[str, Any], state: TaskState) -> None:
        write_atomic(
            self._record_path(state.task_id),
            json.dumps({**record, "final": asdict(state)}, ensure_ascii=False, indent=1) + "\n",
        )

    def _records(self, task_ids: Iterable[str] | None) -> dict[str, dict[str, Any]]:
        if task_ids is None:
            paths = sorted(self.tasks_dir.glob("*.json")) if self.tasks_dir.is_dir() else []
        else:
            paths = [self._record_path(i) for i in task_ids if i.isdigit()]
        records = {}
        for path in paths:
            try:
                records[path.stem] = json.loads(path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                continue
            except (OSError, ValueError) as exc:
                raise QueueError(
                    f"cannot read {path} ({exc}): delete it to forget the task"
                ) from None
        return records


_ALT = 'or choose another backend: queue = "local"'


def check_slurm_spec(spec: TaskSpec) -> None:
    """Refuse what Slurm would mangle: a missing directory (it runs in /tmp instead, silently)
    and a label sbatch refuses or that would break line-based parsing."""
    if not spec.argv:
        raise UsageError("empty command: give one after `--`, e.g. `-- just eval`")
    if not os.path.isabs(spec.cwd) or not os.path.isdir(spec.cwd):
        raise UsageError(
            f"working directory {spec.cwd} does not exist (Slurm would run the task in /tmp "
            "instead): create the worktree first, on a filesystem the compute nodes share"
        )
    if "\n" in spec.label or "\r" in spec.label or SEP in spec.label:
        raise UsageError("the label (question and hypothesis) must be one line: remove newlines")
    if len(spec.label) > MAX_COMMENT:
        raise UsageError(
            f"the label is {len(spec.label)} characters; Slurm keeps at most {MAX_COMMENT}: "
            "shorten the question or the hypothesis"
        )


def sbatch_argv(spec: TaskSpec, *, settings: SlurmSettings, log: Path) -> list[str]:
    """The sbatch command line for `spec` (the job script comes on stdin)."""
    argv = ["sbatch", "--parsable", f"--job-name={job_name(spec)}", f"--chdir={spec.cwd}"]
    argv += [f"--output={log}", f"--error={log}", "--export=ALL"]
    if spec.label:
        argv.append(f"--comment={spec.label}")
    time_limit = settings.time_limit or _minutes(spec.timeout)
    options = {
        "--partition": settings.partition,
        "--time": time_limit,
        "--gres": settings.gres,
        "--cpus-per-task": str(settings.cpus) if settings.cpus else None,
        "--mem": settings.memory,
        "--account": settings.account,
    }
    argv += [f"{option}={value}" for option, value in options.items() if value]
    return argv + list(settings.extra_args)


def job_name(spec: TaskSpec) -> str:
    """`<group>-<worktree>[-seed<N>]`, e.g. `harness-wider-mlp-seed1`."""
    parts = [spec.group, Path(spec.cwd).name]
    if spec.env.get("HARNESS_SEED"):
        parts.append(f"seed{spec.env['HARNESS_SEED']}")
    return re.sub(r"[^A-Za-z0-9._-]+", "_", "-".join(p for p in parts if p))[:128]


def job_script(spec: TaskSpec, *, exit_file: Path) -> str:
    """A POSIX shell script running `spec.argv` in its worktree and keeping its exit status.

    The `cd` repeats `--chdir` on purpose: when the worktree is not visible on the compute
    node, Slurm runs the job in /tmp without a word; the script fails instead.
    """
    head, _, rest = str(exit_file).partition("%j")
    exit_path = f'{shlex.quote(head)}"$SLURM_JOB_ID"{shlex.quote(rest)}'
    cwd = shlex.quote(spec.cwd)
    return (
        "#!/bin/sh\n"
        "# A harness task: the command, then its exit status kept next to its log.\n"
        f'export {TASK_ENV}="slurm:$SLURM_JOB_ID"\n'
        f"cd -- {cwd} || {{ printf 'harness: %s is not visible on %s: the worktree must be "
        f'on a filesystem the compute nodes share\\n\' {cwd} "$(hostname)" >&2; '
        f"exit {CHDIR_FAILED}; }}\n"
        f"{shlex.join(spec.argv)}\n"
        "status=$?\n"
        f"printf '%s\\n' \"$status\" > {exit_path}\n"
        'exit "$status"\n'
    )


def _minutes(timeout: float | None) -> str | None:
    """Slurm counts time limits in whole minutes: round up."""
    return None if timeout is None else str(max(1, math.ceil(timeout / 60)))


def _sbatch_error(stderr: str) -> HarnessError:
    tail = _tail(stderr)
    if "Unable to contact slurm controller" in stderr or "establish a configuration" in stderr:
        return QueueUnavailable(f"sbatch cannot reach the Slurm controller ({tail}): {_ALT}")
    return QueueError(f"sbatch refused the task: {tail}")


def _from_exit_file(record: dict[str, Any]) -> TaskState:
    """The state of a job Slurm has forgotten, from the exit status its script left."""
    try:
        text = Path(record["exit_file"]).read_text().strip()
    except OSError:
        text = ""
    task_id = record["task_id"]
    if not text.isdigit():
        return TaskState(
            task_id=task_id,
            state="lost",
            detail="Slurm no longer knows the job and it left no exit status "
            "(cancelled, timed out, or its node failed)",
        )
    code = int(text)
    return TaskState(
        task_id=task_id,
        state="succeeded" if code == 0 else "failed",
        exit_code=code,
        detail="ended (status from the job's exit file; Slurm no longer knows the job)",
    )


def _with_record(state: TaskState, record: dict[str, Any]) -> TaskState:
    """What Slurm reports, completed with what the harness queued."""
    return replace(
        state,
        label=record.get("label", state.label),
        group=record.get("group", state.group),
        cwd=record.get("cwd") or state.cwd,
        command=shlex.join(record.get("argv", [])) or state.command,
        enqueued_at=state.enqueued_at or record.get("submitted_at"),
    )


def _final_of(record: dict[str, Any] | None) -> bool:
    return bool(record and record.get("final"))


def _run(
    argv: list[str], *, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            argv, input=stdin, capture_output=True, text=True, env=env, check=False, timeout=120
        )
    except FileNotFoundError:
        raise QueueUnavailable(f"{argv[0]} not found: {INSTALL_HINT}") from None
    except subprocess.TimeoutExpired:
        raise QueueUnavailable(
            f"{argv[0]} did not answer within 120 s: is slurmctld busy?"
        ) from None


def _query_env() -> dict[str, str]:
    return {**os.environ, **QUERY_ENV}


def _chunks(ids: Sequence[str]) -> Iterable[Sequence[str]]:
    return (ids[i : i + IDS_PER_CALL] for i in range(0, len(ids), IDS_PER_CALL))


def _tail(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " / ".join(lines[-2:]) or "no message"


def _id_order(task_id: str) -> tuple[int, str]:
    return (int(task_id), "") if task_id.isdigit() else (0, task_id)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
