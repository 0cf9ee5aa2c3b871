"""A private pueue daemon for the contract suite, started so that it can never hang a test.

`pueued -d` forks: its parent exits and the daemon keeps every file it inherited. Started
with its output captured, the daemon holds the capturing pipes open and the test waits for
an end of file that never comes. So the daemon gets a log file for its output, no stdin, a
session of its own (so that one signal to that process group reaches it and whatever it
forked), bounded waits for its starter and its socket, and a teardown that kills the group.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

START_TIMEOUT = 10.0


@dataclass
class Daemon:
    """A started daemon: its process group, where it talks and where its output went."""

    pgid: int
    socket: Path
    log: Path
    pid_file: Path | None = None  # where the daemon writes its pid, in case it left the group
    starter: subprocess.Popen[bytes] | None = None

    def stop(self, *, shutdown: list[str] | None = None, timeout: float = 5.0) -> None:
        """Ask it to shut down (`shutdown` argv, bounded), then kill its whole group."""
        if shutdown:
            with contextlib.suppress(subprocess.TimeoutExpired, OSError):
                subprocess.run(
                    shutdown,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    timeout=timeout,
                )
        kill_group(self.pgid, timeout=timeout)
        if self.starter is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.starter.wait(timeout=timeout)  # reaped, not left a zombie
        pid = _read_pid(self.pid_file)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


def start_daemon(
    argv: list[str],
    *,
    socket: Path,
    log: Path,
    pid_file: Path | None = None,
    timeout: float = START_TIMEOUT,
) -> Daemon:
    """Run a self-daemonising starter and return once its socket exists (or fail, bounded).

    Raises RuntimeError, with the daemon's own output, when the socket does not appear
    within `timeout` seconds; what was started is killed first.
    """
    deadline = time.monotonic() + timeout
    with log.open("ab") as sink:
        starter = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=sink, stderr=sink, start_new_session=True
        )
    daemon = Daemon(starter.pid, socket, log, pid_file=pid_file, starter=starter)
    while not socket.exists():  # the starter may exit at once (pueued -d) or stay (no -d)
        if time.monotonic() > deadline or (starter.poll() not in (None, 0)):
            daemon.stop()
            output = " | ".join(log.read_text(errors="replace").split("\n"))[-500:]
            raise RuntimeError(f"{argv[0]} made no socket at {socket} within {timeout} s: {output}")
        time.sleep(0.02)
    return daemon


def kill_group(pgid: int, *, timeout: float) -> None:
    """SIGKILL a process group and wait (bounded) until none of it runs."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _runs_in(pgid):
        time.sleep(0.02)


def _runs_in(pgid: int) -> bool:
    """Whether a process of the group runs (zombies, dead but not yet reaped, do not)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":  # fields: state, ppid, pgrp, ...
            return True
    return False


def _read_pid(path: Path | None) -> int | None:
    try:
        text = path.read_text().strip() if path else ""
    except OSError:
        return None
    return int(text) if text.isdigit() and int(text) > 1 else None
