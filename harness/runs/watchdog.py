"""The watchdog of one run: the evaluation never outlives the harness process.

The kernel ends the evaluation's first process when the harness dies (a parent-death
signal, set in `streaming`), but not what that process started. So every run also has a
watchdog: a small process in a session of its own that holds the read end of a pipe whose
write end only the harness holds. When the pipe closes without the harness saying `done`
(the harness was killed, even by SIGKILL), the watchdog kills the run's process group and
every process that carries the run's marker in its environment, then exits.

While it waits it touches the run record now and then: the heartbeat by which another
machine sharing the repository tells a live run from a lost one.

`python -m harness.runs.watchdog --fd N --marker NAME=VALUE [--heartbeat PATH]`; the
harness writes `pgid N` once the evaluation started and `done` when it ended the run
itself. Standard library only, so it starts fast.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import subprocess
import sys

from harness.queue.proctree import kill_marked

HEARTBEAT_S = 30.0


class Watchdog:
    """The harness's side: start the watchdog, tell it the group, release it at the end."""

    def __init__(self, marker: tuple[str, str], *, heartbeat: os.PathLike | None) -> None:
        read_fd, self.write_fd = os.pipe()
        argv = [sys.executable, "-m", "harness.runs.watchdog", "--fd", str(read_fd)]
        argv += ["--marker", "=".join(marker)]
        if heartbeat is not None:
            argv += ["--heartbeat", os.fspath(heartbeat)]
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
        """The harness ended the run's processes itself: let the watchdog go."""
        self._say("done\n")
        with contextlib.suppress(OSError):
            os.close(self.write_fd)
        if self.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=5)

    def _say(self, line: str) -> None:
        with contextlib.suppress(OSError):
            os.write(self.write_fd, line.encode())


def watch(fd: int, *, marker: tuple[str, str], heartbeat: str | None) -> int:
    """Wait for the pipe to close; end the run's processes unless told `done`."""
    pgid = None
    pending = b""
    while True:
        ready, _, _ = select.select([fd], [], [], HEARTBEAT_S)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.runs.watchdog")
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--marker", required=True)
    parser.add_argument("--heartbeat", default=None)
    args = parser.parse_args(argv)
    name, _, value = args.marker.partition("=")
    return watch(args.fd, marker=(name, value), heartbeat=args.heartbeat)


if __name__ == "__main__":
    sys.exit(main())
