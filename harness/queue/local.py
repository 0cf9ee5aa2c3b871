"""The embedded local queue: the default backend when no pueue daemon answers.

Tasks live in a folder shared by every worktree (`local_store`), and a detached worker
process (`local_worker`) runs them. Adding a task takes the queue lock, writes the task,
and starts a worker when none is alive, so several processes may add at the same moment
and a dead worker is replaced by the next `add` (or by reading the queue while tasks
wait). A task whose worker died while it ran is reported `lost`.

Like pueue, a task runs with the environment of the `add` call, which is stored in its
record (readable by the user only).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from harness.errors import QueueError, UnknownTask
from harness.fileio import poll_until
from harness.queue.base import (
    TASK_ENV,
    TaskSpec,
    TaskState,
    check_spec,
    inherited_env,
    read_from,
    tail_lines,
    with_token,
)
from harness.queue.local_store import GroupSettings, QueueStore, Record, to_state
from harness.queue.procs import signal_group, spawn_detached
from harness.queue.times import utc_now

DEFAULT_IDLE_EXIT = 10.0
STARTUP_WINDOW = 5.0  # seconds a spawned worker has to take its lock before another is spawned


class LocalBackend:
    """The local queue in `queue_dir`; `parallel` tasks of a group run at once."""

    name = "local"

    def __init__(
        self,
        queue_dir: Path,
        *,
        parallel: int = 1,
        pin_gpus: bool = False,
        idle_exit: float = DEFAULT_IDLE_EXIT,
    ) -> None:
        self.store = QueueStore(queue_dir)
        self.settings = GroupSettings(parallel=parallel, pin_gpus=pin_gpus)
        self.idle_exit = idle_exit

    def is_available(self) -> tuple[bool, str]:
        return True, f"the embedded queue in {self.store.root}"

    def submit(self, spec: TaskSpec) -> str:
        check_spec(spec)
        spec = with_token(spec)
        self.store.ensure()
        self.store.check_writable()
        with self.store.locked():
            self.store.set_group(spec.group, self.settings)
            task_id = self.store.allocate_id()
            env = {**inherited_env(os.environ), **spec.env, TASK_ENV: f"{self.name}:{task_id}"}
            record = Record(
                id=task_id,
                argv=list(spec.argv),
                cwd=spec.cwd,
                env=env,
                label=spec.label,
                group=spec.group,
                timeout=spec.timeout,
                enqueued_at=utc_now(),
            )
            try:
                self.store.write(record)
                self.store.mark_pending(task_id)
            except OSError as exc:  # no half-added task: a record without its marker runs
                (self.store.tasks_dir / f"{task_id}.json").unlink(missing_ok=True)
                raise QueueError(
                    f"cannot add the task: {exc.filename or self.store.root}: "
                    f"{exc.strerror or exc}: make the queue folder writable"
                ) from None
            # Under the lock: a worker deciding to exit holds it while it lets go of its
            # worker lock, so either that worker sees this task or we see it gone.
            self._start_worker_if_needed()
        self.store.wake()
        return str(task_id)

    def states(self, task_ids: list[str] | None = None) -> list[TaskState]:
        ids = self.store.all_ids() if task_ids is None else [_number(t) for t in task_ids]
        alive = self.store.is_worker_alive()
        records = [r for r in map(self.store.read, ids) if r is not None]
        if not alive and any(r.state in ("queued", "running") for r in records):
            self.ensure_worker()  # tasks wait and nobody runs them: restart the worker
        return [to_state(r, worker_alive=alive) for r in records]

    def cancel(self, task_id: str) -> None:
        number = _number(task_id)
        with self.store.locked():
            record = self._record(number)
            if record.state == "queued":
                record.state, record.ended_at = "killed", utc_now()
                record.detail = "removed from the queue before it started"
                self.store.clear_pending(number)
            elif record.state == "running" and self.store.is_worker_alive():
                record.kill_requested_at = time.time()
            elif record.state == "running":  # its worker died: end what is left of it
                signal_group(record.pid, signal.SIGKILL)
                record.state, record.ended_at = "killed", utc_now()
                record.detail = "its worker had died; its processes were killed"
            else:
                raise QueueError(f"task local:{number} has already ended ({record.state})")
            self.store.write(record)
        self.store.wake()

    def log_file(self, task_id: str) -> Path:
        """The file the task's output is appended to (`harness queue follow` tails it)."""
        number = _number(task_id)
        if self.store.read(number) is None:
            raise _unknown(number)
        return self.store.log_path(number)

    def log(self, task_id: str, *, tail: int | None = None) -> str:
        number = _number(task_id)
        if self.store.read(number) is None:
            raise _unknown(number)
        try:
            text = self.store.log_path(number).read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        return tail_lines(text, tail)

    def read_log_from(self, task_id: str, offset: int) -> bytes:
        """The bytes the task's log gained after its first `offset` (for `follow`)."""
        number = _number(task_id)
        if self.store.read(number) is None:
            raise _unknown(number)
        return read_from(self.store.log_path(number), offset)

    # Operations only the local queue has.

    def ensure_worker(self) -> None:
        """Start a worker unless one is alive (or just starting), and wake it."""
        self.store.ensure()
        with self.store.locked():
            self._start_worker_if_needed()
        self.store.wake()

    def worker_pid(self) -> int | None:
        """The pid of the live worker, if any."""
        return self.store.worker_pid() if self.store.is_worker_alive() else None

    def stop_worker(self, *, timeout: float = 15.0) -> None:
        """Stop the worker: its running tasks are killed, queued ones stay queued."""
        pid = self.worker_pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        poll_until(
            lambda: None if self.store.is_worker_alive() else True,
            timeout=timeout,
            every=0.02,
            timed_out=lambda: QueueError(f"the local queue's worker (pid {pid}) did not stop"),
        )

    def _start_worker_if_needed(self) -> None:
        """Spawn a worker unless one is alive or was spawned moments ago (lock held)."""
        if self.store.is_worker_alive():
            return
        marker = self.store.worker_starting_path
        try:
            if time.time() - marker.stat().st_mtime < STARTUP_WINDOW:
                return
        except FileNotFoundError:
            pass
        marker.touch()
        argv = [sys.executable, "-m", "harness.queue.local_worker", str(self.store.root)]
        argv += ["--idle-exit", f"{self.idle_exit:g}"]
        spawn_detached(argv, log=self.store.worker_log_path, cwd=self.store.root)

    def _record(self, number: int) -> Record:
        record = self.store.read(number)
        if record is None:
            raise _unknown(number)
        return record


def _number(task_id: str) -> int:
    text = task_id.removeprefix("local:")
    if not text.isdigit():
        raise UnknownTask(f"{task_id!r} is not a task id of the local queue (e.g. 12 or local:12)")
    return int(text)


def _unknown(number: int) -> UnknownTask:
    return UnknownTask(f"the local queue has no task {number}: see `harness queue status`")
