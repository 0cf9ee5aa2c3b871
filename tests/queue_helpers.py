"""Helpers shared by the queue tests: small commands, waiting, process checks."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from harness.queue.base import Backend, TaskState


def python(code: str, *args: str) -> tuple[str, ...]:
    """The argv running `code` with this interpreter."""
    return (sys.executable, "-c", code, *args)


def wait_until(predicate: Callable[[], bool], *, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def state_of(backend: Backend, task_id: str) -> TaskState:
    (state,) = backend.states([task_id])
    return state


def is_alive(pid: int) -> bool:
    """Whether a process runs (a zombie, dead but not reaped, counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")
