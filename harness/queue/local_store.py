"""The local queue on disk: one JSON record per task, changed only under one lock.

The folder (`<git common dir>/harness/queue`, shared by every worktree) holds:

    lock            the queue lock (`harness.fileio.exclusive_lock`): every change holds it
    next_id         the next task id
    groups.json     {group: {"parallel": N, "pin_gpus": bool}}
    tasks/<id>.json one record per task (mode 0600: it holds the caller's environment)
    pending/<id>    an empty marker per queued task, so the worker never reads old records
    logs/<id>.log   the task's stdout and stderr
    worker.lock     held by the live worker for its whole life (the kernel frees it on death)
    worker.pid      the live worker's pid
    worker.starting touched when a worker is spawned, removed once it holds its lock
    wake            a FIFO: one byte written there wakes the worker at once

Records are replaced atomically (write, then rename), so a reader never sees half of one.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shlex
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.errors import QueueError
from harness.fileio import exclusive_lock
from harness.queue.base import TaskState, harness_env, identity

LOST_DETAIL = "its worker died while it ran; its outcome is unknown"


@dataclass
class Record:
    """One task of the local queue, as stored in `tasks/<id>.json`."""

    id: int
    argv: list[str]
    cwd: str
    env: dict[str, str]
    label: str = ""
    group: str = "harness"
    timeout: float | None = None
    state: str = "queued"
    exit_code: int | None = None
    enqueued_at: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    detail: str = ""
    pid: int | None = None  # also the task's process group id
    slot: int | None = None
    kill_requested_at: float | None = None  # time.time() of `cancel`


@dataclass(frozen=True)
class GroupSettings:
    parallel: int = 1
    pin_gpus: bool = False


class QueueStore:
    """The files of one local queue. Methods that change records expect the lock held."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tasks_dir = root / "tasks"
        self.pending_dir = root / "pending"
        self.logs_dir = root / "logs"
        self.wake_path = root / "wake"
        self.worker_lock_path = root / "worker.lock"
        self.worker_pid_path = root / "worker.pid"
        self.worker_log_path = root / "worker.log"
        self.worker_starting_path = root / "worker.starting"

    def ensure(self) -> None:
        """Create the folders and the wake FIFO (idempotent)."""
        try:
            for folder in (self.tasks_dir, self.pending_dir, self.logs_dir):
                folder.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):
                os.mkfifo(self.wake_path, 0o600)
        except OSError as exc:
            raise QueueError(_unwritable(Path(exc.filename or self.root), exc)) from None

    def check_writable(self) -> None:
        """QueueError when a folder a task needs cannot be written: a task is never
        accepted that no worker could run (or log)."""
        for folder in (self.root, self.tasks_dir, self.pending_dir, self.logs_dir):
            if not os.access(folder, os.W_OK | os.X_OK):
                raise QueueError(_unwritable(folder, PermissionError("not writable")))

    def locked(self) -> contextlib.AbstractContextManager[None]:
        return exclusive_lock(self.root / "lock")

    def allocate_id(self) -> int:
        path = self.root / "next_id"
        try:
            task_id = int(path.read_text(encoding="utf-8") or "0")
        except FileNotFoundError:
            task_id = 0
        except ValueError:  # not a number (UnicodeDecodeError is a ValueError too)
            raise QueueError(f"{path} does not hold a task number: move it aside") from None
        self._replace(path, f"{task_id + 1}\n")
        return task_id

    def write(self, record: Record) -> None:
        self._replace(self.tasks_dir / f"{record.id}.json", json.dumps(asdict(record)))

    def read(self, task_id: int) -> Record | None:
        path = self.tasks_dir / f"{task_id}.json"
        try:
            return Record(**json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError):
            raise QueueError(
                f"{path} is not a task record of the local queue: move it aside"
            ) from None

    def all_ids(self) -> list[int]:
        return _ids_in(self.tasks_dir, suffix=".json")

    def pending_ids(self) -> list[int]:
        return _ids_in(self.pending_dir, suffix="")

    def mark_pending(self, task_id: int) -> None:
        (self.pending_dir / str(task_id)).touch()

    def clear_pending(self, task_id: int) -> None:
        (self.pending_dir / str(task_id)).unlink(missing_ok=True)

    def log_path(self, task_id: int) -> Path:
        return self.logs_dir / f"{task_id}.log"

    def groups(self) -> dict[str, GroupSettings]:
        path = self.root / "groups.json"
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            return {name: GroupSettings(**values) for name, values in raw.items()}
        except FileNotFoundError:
            return {}
        except (ValueError, TypeError, AttributeError):
            raise QueueError(
                f"{path} is not the local queue's group settings: move it aside"
            ) from None

    def set_group(self, name: str, settings: GroupSettings) -> None:
        groups = self.groups()
        if groups.get(name) != settings:
            groups[name] = settings
            text = json.dumps({key: asdict(value) for key, value in groups.items()})
            self._replace(self.root / "groups.json", text)

    def is_worker_alive(self) -> bool:
        """Whether a worker holds the worker lock. Never call this from the worker itself."""
        try:
            fd = os.open(self.worker_lock_path, os.O_RDWR)
        except FileNotFoundError:
            return False
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        finally:
            os.close(fd)  # also drops the probe's own lock, had it got one
        return False

    def worker_pid(self) -> int | None:
        try:
            return int(self.worker_pid_path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return None

    def wake(self) -> None:
        """Nudge the worker; does nothing when no worker listens."""
        try:
            fd = os.open(self.wake_path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:  # ENXIO: no reader; ENOENT: no queue yet
            if exc.errno not in (errno.ENXIO, errno.ENOENT):
                raise
            return
        try:
            os.write(fd, b"!")
        except BlockingIOError:  # the pipe is full: the worker is awake anyway
            pass
        finally:
            os.close(fd)

    def _replace(self, path: Path, text: str) -> None:
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, text.encode("utf-8"))
        finally:
            os.close(fd)
        os.replace(temporary, path)


def _unwritable(path: Path, exc: OSError) -> str:
    reason = exc.strerror or str(exc)
    return f"the local queue cannot write {path} ({reason}): make it writable for this user"


def _ids_in(folder: Path, *, suffix: str) -> list[int]:
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return []
    stems = (name.removesuffix(suffix) for name in names if name.endswith(suffix))
    return sorted(int(stem) for stem in stems if stem.isdigit())


def to_state(record: Record, *, worker_alive: bool) -> TaskState:
    """The task state of a record; a running task without a live worker is `lost`."""
    state, detail = record.state, record.detail
    if state == "running" and not worker_alive:
        state, detail = "lost", LOST_DETAIL
    label, token = identity(record.label, record.env)
    return TaskState(
        task_id=str(record.id),
        state=state,  # type: ignore[arg-type]
        label=label,
        token=token,
        group=record.group,
        cwd=record.cwd,
        command=shlex.join(record.argv),
        exit_code=record.exit_code,
        enqueued_at=record.enqueued_at,
        started_at=record.started_at,
        ended_at=record.ended_at,
        detail=detail,
        backend="local",
        env=harness_env(record.env),
    )
