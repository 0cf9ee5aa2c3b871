"""The watchdog of one run: the evaluation never outlives the harness process.

The kernel ends the evaluation's first process when the harness dies (a parent-death
signal, set in `streaming`), but not what that process started. So every run also has a
watchdog: a small process in a session of its own that holds the read end of a pipe whose
write end only the harness holds. When the pipe closes without the harness saying `done`
(the harness was killed, even by SIGKILL), the watchdog kills the run's process group and
every process that carries the run's marker in its environment, then exits.

While it waits it touches the run record now and then: the heartbeat by which another
machine sharing the repository tells a live run from a lost one.

Its arguments are `FD NAME=VALUE [HEARTBEAT_PATH]`; the harness writes `pgid N` once the
evaluation started and `done` when it ended the run itself. It runs without `site` and
imports only a few standard modules, so it costs the run next to nothing.
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
from typing import TYPE_CHECKING

from harness.queue.proctree import kill_marked

if TYPE_CHECKING:
    import subprocess

HEARTBEAT_S = 30.0
_RELEASED: list[subprocess.Popen[bytes]] = []  # watchdogs let go of, not yet reaped
# the watchdog's own start: no `site`, the harness found where this process found it
_HOME = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
_LAUNCH = (
    f"import sys; sys.path.insert(0, {_HOME!r}); "
    "from harness.runs.watchdog import main; sys.exit(main(sys.argv[1:]))"
)


class Watchdog:
    """The harness's side: start the watchdog, tell it the group, release it at the end."""

    def __init__(self, marker: tuple[str, str], *, heartbeat: os.PathLike[str] | None) -> None:
        import subprocess

        read_fd, self.write_fd = os.pipe()
        argv = [sys.executable, "-S", "-c", _LAUNCH, str(read_fd), "=".join(marker)]
        if heartbeat is not None:
            argv.append(os.fspath(heartbeat))
        try:
            self.process: subprocess.Popen[bytes] | None = subprocess.Popen(
                argv,
                pass_fds=(read_fd,),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                start_new_session=True,  # out of reach of whatever kills the harness's group
            )
        except OSError:
            self.process = None  # the parent-death signal and the final kill still hold
        finally:
            os.close(read_fd)

    def guard(self, pgid: int) -> None:
        self._say(f"pgid {pgid}\n")

    def release(self) -> None:
        """The harness ended the run's processes itself: let the watchdog go.

        Not waited for (it may still be starting): it is reaped by a later release, or by
        init once the harness exits.
        """
        self._say("done\n")
        with contextlib.suppress(OSError):
            os.close(self.write_fd)
        if self.process is not None:
            _RELEASED.append(self.process)
        _RELEASED[:] = [process for process in _RELEASED if process.poll() is None]

    def _say(self, line: str) -> None:
        with contextlib.suppress(OSError):
            os.write(self.write_fd, line.encode())


def watch(
    fd: int, *, marker: tuple[str, str], heartbeat: str | None, interval: float = HEARTBEAT_S
) -> int:
    """Wait for the pipe to close; end the run's processes unless told `done`."""
    pgid = None
    pending = b""
    while True:
        ready, _, _ = select.select([fd], [], [], interval)
        if not ready:
            if heartbeat:
                with contextlib.suppress(OSError):
                    os.utime(heartbeat)
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            if line == b"done":
                return 0
            if line.startswith(b"pgid "):
                pgid = int(line.split()[1])
    kill_marked(*marker, pgid=pgid)
    return 0


def main(argv: list[str]) -> int:
    """`FD NAME=VALUE [HEARTBEAT_PATH]` (only the harness calls it)."""
    fd, marker, *heartbeat = argv
    name, _, value = marker.partition("=")
    return watch(int(fd), marker=(name, value), heartbeat=heartbeat[0] if heartbeat else None)
