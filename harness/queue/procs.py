"""Process groups: signalling a task's whole tree, exit codes, starting a detached process."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

GRACE_S = 5.0  # seconds between SIGTERM and SIGKILL when `harness eval` stops its command
# A queue stopping a task (a `harness eval`) waits longer: the evaluation first stops its own
# command (GRACE_S) and then writes its row, which an earlier SIGKILL would lose.
QUEUE_GRACE_S = 3 * GRACE_S
TIMEOUT_EXIT = 124  # the exit code of a task stopped by its timeout (as coreutils `timeout`)
SIGKILL_EXIT = 128 + signal.SIGKILL  # 137: a death by SIGKILL, as a shell reports it


def signal_group(pgid: int | None, sig: int) -> bool:
    """Send `sig` to a process group; False when the group is gone (or never was)."""
    if not pgid or pgid <= 1:
        return False
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def exit_code_of(returncode: int) -> int:
    """A shell-style exit code: a death by signal N is 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


def signal_name(exit_code: int) -> str:
    """`SIGKILL` for 137; an empty string when the code is not a death by signal."""
    if exit_code <= 128:
        return ""
    try:
        return signal.Signals(exit_code - 128).name
    except ValueError:
        return ""


def spawn_detached(argv: list[str], *, log: Path, cwd: Path) -> None:
    """Start argv in a new session, detached from this process and its terminal.

    A short-lived `sh` puts it in the background and exits, so the new process is
    adopted by init: it outlives the terminal, and it never becomes our zombie.
    """
    subprocess.run(
        ["/bin/sh", "-c", '"$@" </dev/null >>"$0" 2>&1 &', str(log), *argv],
        start_new_session=True,
        close_fds=True,
        check=True,
        cwd=cwd,
    )
