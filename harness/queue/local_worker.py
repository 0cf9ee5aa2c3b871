"""The worker of the local queue: a detached process that runs the queued tasks.

`python -m harness.queue.local_worker QUEUE_DIR` runs one. At most one worker serves a
queue: it holds `worker.lock` for its whole life, and a second one exits at once. It runs
the queued tasks in id order, up to each group's `parallel` at a time, each in its own
process group (so a kill or a timeout reaches the whole tree), and writes every change of
state under the queue lock. On start it marks the tasks a dead worker left running as
`lost` and kills what is left of them: the task's process group and every process that
carries the task's marker (TREE_ENV) in its environment, so an evaluation that a queued
`harness eval` started in a session of its own dies too, before any new task starts.
It exits after `--idle-exit` seconds with nothing to do; `harness queue add` starts a new
one when needed.

It sleeps in `select` on a self-pipe (woken by SIGCHLD when a task ends) and on the
`wake` FIFO (written by `add` and `kill`), so a new task starts within milliseconds
without busy polling.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from harness.queue.base import deadline_env
from harness.queue.local_store import LOST_DETAIL, GroupSettings, QueueStore, Record
from harness.queue.procs import QUEUE_GRACE_S, TIMEOUT_EXIT, exit_code_of, signal_group, signal_name
from harness.queue.proctree import kill_marked
from harness.queue.times import utc_now

MAX_SLEEP = 1.0
TREE_ENV = "HARNESS_LOCAL_TASK"  # marks every process of a task: see `tree_marker`


@dataclass
class Child:
    """A task this worker started and has not yet seen end."""

    task_id: int
    popen: subprocess.Popen[bytes]
    group: str
    slot: int
    deadline: float | None
    reason: str = ""  # why it is being stopped: "killed", "timed_out", "stopped"
    term_at: float | None = None  # when SIGTERM went to its group
    kill_sent: bool = False


class Worker:
    def __init__(self, store: QueueStore, *, idle_exit: float) -> None:
        self.store = store
        self.idle_exit = idle_exit
        self.children: dict[int, Child] = {}
        self.stopping = False

    def run(self) -> int:
        self.store.ensure()
        lock_fd = os.open(self.store.worker_lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.lockf(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return 0  # another worker serves this queue
        self.store.worker_pid_path.write_text(f"{os.getpid()}\n", encoding="utf-8")
        self.store.worker_starting_path.unlink(missing_ok=True)
        wake_fd = os.open(self.store.wake_path, os.O_RDWR | os.O_NONBLOCK)
        signal_fd = self._install_signals()
        with self.store.locked():
            self._recover()
        idle_since = time.monotonic()
        while True:
            with self.store.locked():
                self._reap()
                self._enforce()
                if not self.stopping:
                    self._start_ready()
                busy = bool(self.children or (not self.stopping and self.store.pending_ids()))
                now = time.monotonic()
                if busy:
                    idle_since = now
                elif self.stopping or now - idle_since >= self.idle_exit:
                    os.close(lock_fd)  # released before the queue lock: see LocalBackend.submit
                    return 0
            self._sleep([signal_fd, wake_fd], self._next_timeout(idle_since))

    def _install_signals(self) -> int:
        read_fd, write_fd = os.pipe()
        os.set_blocking(read_fd, False)
        os.set_blocking(write_fd, False)
        signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # `sh ... &` left it ignored: reset
        signal.signal(signal.SIGQUIT, signal.SIG_DFL)  # so that tasks inherit the defaults
        return read_fd

    def _on_stop(self, signum: int, frame: object) -> None:
        self.stopping = True

    def _recover(self) -> None:
        """Tasks left `running` belong to a dead worker: they are lost; end their processes."""
        pending = set(self.store.pending_ids())
        for task_id in self.store.all_ids():
            record = self.store.read(task_id)
            if record is None or record.state not in ("running", "queued"):
                continue
            if record.state == "queued":
                if task_id not in pending:  # a crash between writing record and marker
                    self.store.mark_pending(task_id)
                continue
            if record.pid and _is_session_leader(record.pid):
                signal_group(record.pid, signal.SIGKILL)
            kill_marked(TREE_ENV, tree_marker(self.store, record))
            record.state, record.detail, record.ended_at = "lost", LOST_DETAIL, utc_now()
            self.store.write(record)

    def _start_ready(self) -> None:
        groups = self.store.groups()
        for task_id in self.store.pending_ids():
            record = self.store.read(task_id)
            if record is None or record.state != "queued":
                self.store.clear_pending(task_id)
                continue
            settings = groups.get(record.group, GroupSettings())
            used = {c.slot for c in self.children.values() if c.group == record.group}
            if len(used) >= settings.parallel:
                continue
            slot = min(set(range(len(used) + 1)) - used)
            self._launch(record, slot=slot, pin_gpu=settings.pin_gpus)

    def _launch(self, record: Record, *, slot: int, pin_gpu: bool) -> None:
        env = dict(record.env)
        if pin_gpu:
            env["CUDA_VISIBLE_DEVICES"] = str(slot)
        if record.timeout:
            env.update(deadline_env(record.timeout))
        record.started_at = utc_now()
        env[TREE_ENV] = tree_marker(self.store, record)
        try:
            log_fd = os.open(
                self.store.log_path(record.id), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600
            )
        except OSError as exc:  # the task fails with the reason; the worker goes on
            message = f"cannot write its log {self.store.log_path(record.id)}: {exc.strerror}"
            record.state, record.detail, record.ended_at = "failed", message, utc_now()
            self.store.write(record)
            self.store.clear_pending(record.id)
            return
        try:
            popen = _spawn(record, env=env, log_fd=log_fd)
        except OSError as exc:
            message = _spawn_failure(record, exc)
            os.write(log_fd, f"harness: {message}\n".encode())
            record.state, record.detail, record.ended_at = "failed", message, utc_now()
            record.exit_code = 127 if isinstance(exc, FileNotFoundError) else 126
            self.store.write(record)
            self.store.clear_pending(record.id)
            return
        finally:
            os.close(log_fd)
        record.state, record.pid, record.slot = "running", popen.pid, slot
        self.store.write(record)
        self.store.clear_pending(record.id)
        deadline = time.monotonic() + record.timeout if record.timeout else None
        self.children[record.id] = Child(record.id, popen, record.group, slot, deadline)

    def _reap(self) -> None:
        for task_id, child in list(self.children.items()):
            returncode = child.popen.poll()
            if returncode is None:
                continue
            signal_group(child.popen.pid, signal.SIGKILL)  # whatever it left behind
            del self.children[task_id]
            record = self.store.read(task_id)
            if record is not None:
                kill_marked(TREE_ENV, tree_marker(self.store, record))
                _finish(record, exit_code_of(returncode), child.reason)
                self.store.write(record)

    def _enforce(self) -> None:
        """Kill requests, timeouts, a stopping worker; SIGKILL after the grace period."""
        now = time.monotonic()
        for child in self.children.values():
            if not child.reason:
                child.reason = self._stop_reason(child, now)
                if child.reason:
                    child.term_at = now
                    signal_group(child.popen.pid, signal.SIGTERM)
            elif child.term_at and now - child.term_at >= QUEUE_GRACE_S and not child.kill_sent:
                child.kill_sent = True
                signal_group(child.popen.pid, signal.SIGKILL)

    def _stop_reason(self, child: Child, now: float) -> str:
        record = self.store.read(child.task_id)
        if record is not None and record.kill_requested_at is not None:
            return "killed"
        if child.deadline is not None and now >= child.deadline:
            return "timed_out"
        return "stopped" if self.stopping else ""

    def _next_timeout(self, idle_since: float) -> float:
        now = time.monotonic()
        moments = [idle_since + self.idle_exit] if not self.children else []
        for child in self.children.values():
            if child.deadline is not None and not child.reason:
                moments.append(child.deadline)
            if child.term_at is not None and not child.kill_sent:
                moments.append(child.term_at + QUEUE_GRACE_S)
        return max(0.0, min([now + MAX_SLEEP, *moments]) - now)

    def _sleep(self, fds: list[int], timeout: float) -> None:
        if self.stopping and not self.children:
            return
        ready, _, _ = select.select(fds, [], [], timeout)
        for fd in ready:
            try:
                while os.read(fd, 4096):
                    pass
            except BlockingIOError:
                pass


def tree_marker(store: QueueStore, record: Record) -> str:
    """Unique to one start of one task of one queue (ids restart when a queue is reset)."""
    return f"{store.root.resolve()}:{record.id}:{record.enqueued_at}:{record.started_at}"


def _spawn(record: Record, *, env: dict[str, str], log_fd: int) -> subprocess.Popen[bytes]:
    if not os.path.isdir(record.cwd):
        raise NotADirectoryError(f"working directory {record.cwd} does not exist")
    return subprocess.Popen(
        record.argv,
        cwd=record.cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log_fd,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        close_fds=True,
    )


def _spawn_failure(record: Record, exc: OSError) -> str:
    if isinstance(exc, NotADirectoryError):
        return f"failed to spawn: {exc}"
    if isinstance(exc, FileNotFoundError):
        return f"failed to spawn: command not found: {record.argv[0]}"
    return f"failed to spawn {record.argv[0]}: {exc.strerror or exc}"


def _finish(record: Record, exit_code: int, reason: str) -> None:
    record.exit_code, record.ended_at = exit_code, utc_now()
    if reason == "killed":
        record.state, record.detail = "killed", "killed by `harness queue kill`"
    elif reason == "timed_out" or (record.timeout and exit_code == TIMEOUT_EXIT):
        # 124 from a task with a timeout: the task's own `harness eval` stopped it first
        record.state, record.detail = "timed_out", f"timed out after {record.timeout:g} s"
    elif reason == "stopped":
        record.state, record.detail = "killed", "the worker was stopped"
    elif exit_code == 0:
        record.state, record.detail = "succeeded", ""
    else:
        name = signal_name(exit_code)
        record.state, record.detail = "failed", f"died of {name}" if name else ""


def _is_session_leader(pid: int) -> bool:
    """A task's leader leads its own session; a stranger that reused the pid rarely does."""
    try:
        return os.getsid(pid) == pid
    except (ProcessLookupError, PermissionError):
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.queue.local_worker")
    parser.add_argument("queue_dir", type=Path)
    parser.add_argument("--idle-exit", type=float, default=10.0)
    args = parser.parse_args(argv)
    return Worker(QueueStore(args.queue_dir), idle_exit=args.idle_exit).run()


if __name__ == "__main__":
    sys.exit(main())
