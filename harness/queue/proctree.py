"""Finding and ending every process of a run or a task, wherever it has wandered.

A process group reaches most of a tree, but not a process that started a session of its
own (a daemon, a tool that calls `setsid`). What every descendant does keep is its
environment, so each tree is marked with a variable of its own (`NAME=unique value`) and
found again by reading `/proc/<pid>/environ`. Also: a process's start time, which tells a
live process from a stranger that reused its pid. Standard library only: the run's
watchdog imports this module and nothing heavier.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time

MAX_ROUNDS = 50  # a tree that forks faster than it is killed still ends within these


def processes_with_env(name: str, value: str) -> list[int]:
    """Pids (other than this process) whose environment holds exactly `name=value`."""
    wanted = f"{name}={value}".encode()
    found = []
    try:
        names = os.listdir("/proc")
    except OSError:
        return []
    me = os.getpid()
    for entry in names:
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as handle:
                environ = handle.read()
        except OSError:  # gone already, or not ours to read
            continue
        if wanted in environ.split(b"\0"):
            found.append(int(entry))
    return found


def kill_marked(name: str, value: str, *, pgid: int | None = None) -> int:
    """SIGKILL the process group `pgid` and every process marked `name=value`.

    Scans again until none is left (a zombie's environment reads empty, so the dead drop
    out), because a process may fork between a scan and the kill. Returns how many
    processes were sent the signal.
    """
    if pgid and pgid > 1:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
    killed = 0
    for _ in range(MAX_ROUNDS):
        pids = processes_with_env(name, value)
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                killed += 1
        time.sleep(0.005)  # let the kernel tear them down before looking again
    return killed


def start_time(pid: int) -> int | None:
    """When `pid` started, in clock ticks since boot (field 22 of /proc/PID/stat)."""
    return _stat(pid)[1]


def _stat(pid: int) -> tuple[str, int | None]:
    """(state letter, start time) of `pid`; ('', None) when it cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as handle:
            after_name = handle.read().rsplit(")", 1)[1].split()
        return after_name[0], int(after_name[19])  # after the name: field 3 (state) on
    except (OSError, IndexError, ValueError):
        return "", None


def boot_id() -> str:
    """This boot of this machine ('' where the kernel does not say)."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="utf-8") as handle:
            return handle.read().strip()
    except OSError:
        return ""


def is_same_process(pid: int, *, started: int | None) -> bool:
    """Whether `pid` is alive and is the process that started at `started`."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, another user's: the start time decides
    state, now = _stat(pid)
    if state in ("Z", "X"):  # dead, not yet reaped by its parent
        return False
    if now is None:
        return started is None  # no /proc here: trust the pid alone
    return started is None or now == started
