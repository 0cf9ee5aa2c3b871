"""The Slurm backend: `sbatch` to queue, `squeue` (then `sacct`) to read states, `scancel`.

A shared filesystem is assumed, as on any research cluster: the worktree a task runs in,
the harness's Python environment and this backend's folder (in the repository's git
directory) must be visible at the same paths on the compute nodes. The folder holds:

    tasks/<id>.json          what was queued (argv, cwd, HARNESS_* variables, label, log
                             path, timeout), and the final state once one was seen
    logs/<id>-<token>.log    the task's stdout and stderr (Slurm's --output and --error)
    logs/<id>-<token>.exit   the command's exit status, written by the job script

States come from `squeue` while the controller remembers a job (`MinJobAge`, 5 minutes by
default, after it ended), then from `sacct` when accounting is enabled, then from the exit
file; a job known to none of them ended without leaving a status (killed, timed out, or
its node died) and is reported `lost`. A final state is stored in the task's record, so
a finished job is asked about once. Only tasks queued through this folder are reported.

A task's timeout is enforced twice: to the second by `python -m harness.queue.wrap` in
the job (exit 124, read as `timed_out`, as with pueue), and as Slurm's `--time`, in whole
minutes and one minute longer, which the scheduler also uses to plan.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import shlex
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from loguru import logger

from harness.config import Config, SlurmSettings
from harness.errors import HarnessError, QueueError, QueueUnavailable, UnknownTask, UsageError
from harness.fileio import write_atomic
from harness.layout import Layout
from harness.queue.base import (
    TASK_ENV,
    TaskSpec,
    TaskState,
    check_spec,
    harness_env,
    identity,
    inherited_env,
    read_from,
    tail_lines,
    with_token,
)
from harness.queue.procs import TIMEOUT_EXIT
from harness.queue.slurm_parse import SACCT_FIELDS, SEP, SQUEUE_FIELDS, parse_sacct, parse_squeue
from harness.queue.times import utc_now

MAX_COMMENT = 1024  # sbatch refuses a longer --comment
IDS_PER_CALL = 500  # job ids per squeue/sacct call, well under any argv limit
CHDIR_FAILED = 97  # the job script's exit code when the worktree is not on the node
QUERY_ENV = {"TZ": "UTC", "SLURM_TIME_FORMAT": "standard"}  # times as ISO 8601, in UTC
OTHER_BACKEND = 'or choose another backend: queue = "local"'
LOCAL_LOCK_OPTIONS = ("nolock", "local_lock=all", "local_lock=posix")  # nfs(5)


def open_backend(*, layout: Layout, config: Config) -> SlurmBackend:
    """The Slurm backend of a research repository (what `harness.queue.choice` opens)."""
    return SlurmBackend(layout.state_dir / "slurm", settings=config.slurm)


class SlurmBackend:
    """Queue tasks as Slurm batch jobs; the task id is the Slurm job id."""

    name = "slurm"

    def __init__(self, state_dir: Path, *, settings: SlurmSettings | None = None) -> None:
        self.state_dir = state_dir
        self.settings = settings or SlurmSettings()
        self.tasks_dir = state_dir / "tasks"
        self.logs_dir = state_dir / "logs"
        self._has_accounting: bool | None = None  # None: not asked yet
        self._warned = False  # about node-local locks, once per instance

    def is_available(self) -> tuple[bool, str]:
        """True when `sinfo` reaches a controller; the reason names the fix otherwise."""
        try:
            proc = _run(["sinfo", "-h", "-o", "%P %a"])
        except QueueUnavailable as exc:
            return False, str(exc)
        if proc.returncode != 0:
            problem = _tail(proc.stderr)
            return False, f"sinfo failed ({problem}): start slurmctld, {OTHER_BACKEND}"
        partitions = ", ".join(line.replace(" ", ":") for line in proc.stdout.splitlines())
        reason = f"Slurm controller reachable; partitions {partitions or '(none)'}"
        locks = node_local_locks(self.state_dir, mounts=_read_mounts())
        return True, f"{reason}; but {locks}" if locks else reason

    def submit(self, spec: TaskSpec) -> str:
        """Queue `spec` with sbatch; returns the Slurm job id."""
        spec = with_token(spec)
        check_slurm_spec(spec, logs_dir=self.logs_dir)
        self._warn_of_local_locks()
        stem = self.logs_dir / f"%j-{secrets.token_hex(4)}"  # Slurm puts the job id for %j
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        argv = sbatch_argv(spec, settings=self.settings, log=Path(f"{stem}.log"))
        script = job_script(spec, exit_file=Path(f"{stem}.exit"))
        proc = _run(argv, stdin=script, env={**inherited_env(os.environ), **spec.env})
        if proc.returncode != 0:
            raise _sbatch_error(proc.stderr)
        job_id = proc.stdout.strip().split(";", 1)[0]  # `id;cluster` on a federation
        if not job_id.isdigit():
            raise QueueError(f"sbatch printed {proc.stdout.strip()!r} instead of a job id")
        files = str(stem).replace("%j", job_id)
        record = {
            "task_id": job_id,
            "argv": list(spec.argv),
            "cwd": spec.cwd,
            "env": harness_env({**spec.env, TASK_ENV: f"{self.name}:{job_id}"}),
            "label": spec.label,
            "group": spec.group,
            "timeout": spec.timeout,
            "log": f"{files}.log",
            "exit_file": f"{files}.exit",
            "submitted_at": utc_now(),
            "final": None,
        }
        self._write_record(job_id, record)
        return job_id

    def _warn_of_local_locks(self) -> None:
        if not self._warned:
            self._warned = True
            problem = node_local_locks(self.state_dir, mounts=_read_mounts())
            if problem:
                logger.warning(problem)

    def states(self, task_ids: list[str] | None = None) -> list[TaskState]:
        """States of the given tasks (all queued through this folder when None)."""
        records = self._records(task_ids)
        ids = [i for i in task_ids if i in records] if task_ids is not None else list(records)
        known = {i: state for i in ids if (state := _cached_state(records[i]))}
        asked = [i for i in ids if i not in known]
        seen = {s.task_id: s for s in self._squeue(asked)}
        forgotten = [i for i in asked if i not in seen]
        if forgotten and self._accounting_enabled():
            seen.update((s.task_id, s) for s in self._sacct(forgotten))
        for task_id in asked:
            record = records[task_id]
            state = _with_record(seen.get(task_id) or _from_exit_file(record), record)
            if state.is_final and state.state != "lost":  # lost: asked again next time
                self._write_record(task_id, {**record, "final": _jsonable(state)})
            known[task_id] = state
        return [known[i] for i in ids]

    def cancel(self, task_id: str) -> None:
        """scancel the job; nothing to do when it has ended already."""
        found = self.states([task_id])
        if not found:
            raise UnknownTask(f"the slurm queue has no task {task_id}")
        if found[0].is_final:
            return
        proc = _run(["scancel", task_id])
        if proc.returncode != 0:
            raise QueueError(f"scancel {task_id} failed: {_tail(proc.stderr)}")

    def log_file(self, task_id: str) -> Path:
        """The file the job's output is appended to (`harness queue follow` tails it)."""
        record = self._records([task_id]).get(task_id)
        if record is None:
            raise UnknownTask(f"the slurm queue has no task {task_id}")
        return Path(record["log"])

    def log(self, task_id: str, *, tail: int | None = None) -> str:
        """The job's output file (stdout and stderr) so far; empty until the job starts."""
        record = self._records([task_id]).get(task_id)
        if record is None:
            raise UnknownTask(f"the slurm queue has no task {task_id}")
        try:
            text = Path(record["log"]).read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        return tail_lines(text, tail)

    def read_log_from(self, task_id: str, offset: int) -> bytes:
        """The bytes the job's output file gained after its first `offset` (for `follow`)."""
        record = self._records([task_id]).get(task_id)
        if record is None:
            raise UnknownTask(f"the slurm queue has no task {task_id}")
        return read_from(Path(record["log"]), offset)

    # -- Slurm's commands ------------------------------------------------------------

    def _squeue(self, ids: Sequence[str]) -> list[TaskState]:
        fields = ",".join(f"{name}:0{SEP}" for name in SQUEUE_FIELDS[:-1])
        states: list[TaskState] = []
        for chunk in _chunks(ids):
            proc = _run(
                ["squeue", "-h", "-t", "all", "-j", ",".join(chunk), "-O", f"{fields},Comment:0"],
                env=_query_env(),
            )
            if proc.returncode == 0:
                states += parse_squeue(proc.stdout)
            elif "Invalid job id" not in proc.stderr:  # what one forgotten id gives
                raise QueueUnavailable(
                    f"squeue failed ({_tail(proc.stderr)}): is slurmctld running? {OTHER_BACKEND}"
                )
        return states

    def _sacct(self, ids: Sequence[str]) -> list[TaskState]:
        states: list[TaskState] = []
        for chunk in _chunks(ids):
            proc = _run(
                ["sacct", "-X", "-P", "-n", "-j", ",".join(chunk), "-o", ",".join(SACCT_FIELDS)],
                env=_query_env(),
            )
            if proc.returncode != 0:
                logger.warning(
                    "sacct failed ({}): old jobs read from exit files", _tail(proc.stderr)
                )
                return states
            states += parse_sacct(proc.stdout)
        return states

    def _accounting_enabled(self) -> bool:
        """Whether sacct answers (it exits 1 with "accounting storage is disabled" if not)."""
        if self._has_accounting is None:
            proc = _run(["sacct", "-n", "-X", "-j", "1", "-o", "JobID"], env=_query_env())
            self._has_accounting = proc.returncode == 0
        return self._has_accounting

    # -- records ---------------------------------------------------------------------

    def _write_record(self, task_id: str, record: dict[str, Any]) -> None:
        write_atomic(
            self.tasks_dir / f"{task_id}.json",
            json.dumps(record, ensure_ascii=False, indent=1) + "\n",
        )

    def _records(self, task_ids: Iterable[str] | None) -> dict[str, dict[str, Any]]:
        """The records of the given tasks that exist, by id, oldest job first."""
        if task_ids is None:
            paths = list(self.tasks_dir.glob("*.json")) if self.tasks_dir.is_dir() else []
        else:
            paths = [self.tasks_dir / f"{i}.json" for i in task_ids if i.isdigit()]
        records = {}
        for path in sorted(paths, key=lambda p: int(p.stem) if p.stem.isdigit() else -1):
            try:
                records[path.stem] = json.loads(path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                continue
            except (OSError, ValueError) as exc:
                raise QueueError(
                    f"cannot read {path} ({exc}): delete it to forget the task"
                ) from None
        return records


def check_slurm_spec(spec: TaskSpec, *, logs_dir: Path) -> None:
    """Refuse what Slurm would mangle: a missing directory (it runs the job in /tmp instead,
    without a word), a label sbatch refuses or that breaks its line-based output."""
    check_spec(spec)
    if not os.path.isabs(spec.cwd):
        raise UsageError(f"working directory {spec.cwd} must be an absolute path")
    if "\n" in spec.label or "\r" in spec.label or SEP in spec.label:
        raise UsageError("the label (question and hypothesis) must be one line: remove newlines")
    if len(spec.label) > MAX_COMMENT:
        raise UsageError(
            f"the label is {len(spec.label)} characters with the harness's task token; "
            f"Slurm keeps at most {MAX_COMMENT}: "
            "shorten the question or the hypothesis"
        )
    if "%" in str(logs_dir) or "\\" in str(logs_dir):
        raise UsageError(f"{logs_dir} holds % or \\, which Slurm reads as a pattern: move it")


def node_local_locks(path: Path, *, mounts: str) -> str | None:
    """A warning when locks under `path` bind only this machine (NFS mounted `nolock`).

    `mounts` is the text of /proc/mounts; the mount holding `path` is the longest mount
    point it lies under. The record lock (`fcntl.lockf`) then keeps out writers on this
    node only, and rows appended from two nodes at once can interleave.
    """
    target = str(path.absolute())
    best: tuple[str, str, str] | None = None
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        point = fields[1].replace("\\040", " ")
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) > len(best[0])):
            best = (point, fields[2], fields[3])
    if best is None or not best[1].startswith("nfs"):
        return None
    local = [option for option in best[2].split(",") if option in LOCAL_LOCK_OPTIONS]
    if not local:
        return None
    return (
        f"{best[0]} is mounted with {local[0]}: file locks there bind this machine only, so "
        "runs on several nodes may interleave their results.tsv rows; remount without it"
    )


def sbatch_argv(spec: TaskSpec, *, settings: SlurmSettings, log: Path) -> list[str]:
    """The sbatch command line for `spec` (the job script comes on stdin)."""
    argv = ["sbatch", "--parsable", f"--job-name={job_name(spec)}", f"--chdir={spec.cwd}"]
    argv += [f"--output={log}", f"--error={log}", "--export=ALL"]
    if spec.label:
        argv.append(f"--comment={spec.label}")
    options = {
        "--partition": settings.partition,
        "--time": settings.time_limit or time_limit(spec.timeout),
        "--gres": settings.gres,
        "--cpus-per-task": str(settings.cpus) if settings.cpus else None,
        "--mem": settings.memory,
        "--account": settings.account,
    }
    argv += [f"{option}={value}" for option, value in options.items() if value]
    return argv + list(settings.extra_args)


def time_limit(timeout: float | None) -> str | None:
    """Slurm's --time for a timeout: whole minutes, rounded up, plus one, so that the
    harness's own (exact) timeout ends the task first and says so."""
    return None if timeout is None else str(math.ceil(timeout / 60) + 1)


def job_name(spec: TaskSpec) -> str:
    """`<group>-<worktree>[-seed<N>]`, e.g. `harness-wider-mlp-seed1`."""
    parts = [spec.group, Path(spec.cwd).name]
    if spec.env.get("HARNESS_SEED"):
        parts.append(f"seed{spec.env['HARNESS_SEED']}")
    return re.sub(r"[^A-Za-z0-9._-]+", "_", "-".join(p for p in parts if p))[:128]


def job_script(spec: TaskSpec, *, exit_file: Path) -> str:
    """A POSIX shell script running the task in its worktree and keeping its exit status.

    The `cd` repeats `--chdir` on purpose: when the worktree is not visible on the compute
    node, Slurm runs the job in /tmp without a word; the script fails instead.
    """
    head, _, rest = str(exit_file).partition("%j")
    exit_path = f'{shlex.quote(head)}"$SLURM_JOB_ID"{shlex.quote(rest)}'
    cwd = shlex.quote(spec.cwd)
    command = list(spec.argv)
    if spec.timeout is not None:
        wrapper = [sys.executable, "-m", "harness.queue.wrap", f"--timeout={spec.timeout:g}"]
        command = [*wrapper, "--", *command]
    return (
        "#!/bin/sh\n"
        "# A harness task: the command, then its exit status kept next to its log.\n"
        f'export {TASK_ENV}="slurm:$SLURM_JOB_ID"\n'
        f"cd -- {cwd} || {{ printf 'harness: %s is not visible on %s: the worktree must be "
        f'on a filesystem the compute nodes share\\n\' {cwd} "$(hostname)" >&2; '
        f"exit {CHDIR_FAILED}; }}\n"
        f"{shlex.join(command)}\n"
        "status=$?\n"
        f"printf '%s\\n' \"$status\" > {exit_path}\n"
        'exit "$status"\n'
    )


def _sbatch_error(stderr: str) -> HarnessError:
    tail = _tail(stderr)
    if "Unable to contact slurm controller" in stderr or "establish a configuration" in stderr:
        return QueueUnavailable(
            f"sbatch cannot reach the Slurm controller ({tail}): {OTHER_BACKEND}"
        )
    return QueueError(f"sbatch refused the task: {tail}")


def _from_exit_file(record: dict[str, Any]) -> TaskState:
    """The state of a job Slurm has forgotten, from the exit status its script left."""
    try:
        text = Path(record["exit_file"]).read_text().strip()
    except OSError:
        text = ""
    if not text.isdigit():
        detail = "Slurm no longer knows the job and it left no exit status (cancelled, "
        detail += "timed out by Slurm, or its node failed)"
        return TaskState(task_id=record["task_id"], state="lost", detail=detail)
    code = int(text)
    return TaskState(
        task_id=record["task_id"],
        state="succeeded" if code == 0 else "failed",
        exit_code=code,
        detail="ended (status from the job's exit file; Slurm no longer knows the job)",
    )


def _with_record(state: TaskState, record: dict[str, Any]) -> TaskState:
    """What Slurm reports, completed with what the harness queued."""
    if record.get("timeout") and state.state == "failed" and state.exit_code == TIMEOUT_EXIT:
        timeout = record["timeout"]
        state = replace(state, state="timed_out", detail=f"stopped by its timeout ({timeout:g} s)")
    label, token = identity(record.get("label", ""), record.get("env", {}))
    return replace(
        state,
        backend="slurm",
        label=label,
        token=token,
        group=record.get("group", ""),
        cwd=record.get("cwd", state.cwd),
        command=shlex.join(record.get("argv", [])),
        env=record.get("env", {}),
        enqueued_at=state.enqueued_at or record.get("submitted_at"),
    )


def _cached_state(record: dict[str, Any]) -> TaskState | None:
    """The final state stored in a record (None when none was, or in an older shape)."""
    final = record.get("final")
    if not final:
        return None
    try:
        return TaskState(**final)
    except TypeError:
        return None


def _jsonable(state: TaskState) -> dict[str, Any]:
    data = asdict(state)
    data["env"] = dict(state.env)
    return data


def _run(
    argv: list[str], *, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            argv, input=stdin, capture_output=True, text=True, env=env, check=False, timeout=120
        )
    except FileNotFoundError:
        raise QueueUnavailable(
            f"{argv[0]} not found: install Slurm's client commands (Debian: slurm-client) "
            f"and point them at your cluster, {OTHER_BACKEND}"
        ) from None
    except subprocess.TimeoutExpired:
        raise QueueUnavailable(
            f"{argv[0]} did not answer within 120 s: is slurmctld busy?"
        ) from None


def _read_mounts() -> str:
    try:
        return Path("/proc/mounts").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _query_env() -> dict[str, str]:
    return {**os.environ, **QUERY_ENV}


def _chunks(ids: Sequence[str]) -> Iterable[Sequence[str]]:
    return (ids[i : i + IDS_PER_CALL] for i in range(0, len(ids), IDS_PER_CALL))


def _tail(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " / ".join(lines[-2:]) or "no message"
