"""The metrics channel: a pipe only the evaluation process holds, named as a file.

`HARNESS_METRICS_FILE` names the write end of a pipe (`/dev/fd/N`) handed to the
evaluation's first process and to no one else: nothing under the repository to find,
list or rewrite, and what was written cannot be taken back. The evaluation opens it once
and writes one JSON object; a second object, or anything after the first, is written by
someone else (research code that reached the channel) and makes the run a crash (see
`harness.record.metrics.parse_channel`).

A reader thread drains the pipe while the run lives, so an evaluation writing a lot never
blocks on it; the harness stops reading once the run's processes are ended.

While a channel is open the harness's process is not dumpable (Linux): its /proc entries,
the pipe's read end among them, are closed to the user's other processes, so research
code cannot reopen the pipe through /proc/<harness pid>/fd to read or write it.
"""

from __future__ import annotations

import os
import select
import threading
from types import TracebackType

from harness.runs.streaming import PRCTL

MAX_BYTES = 1 << 20  # a metrics object is small: more than this is not a summary
POLL_S = 0.05
PR_GET_DUMPABLE, PR_SET_DUMPABLE = 3, 4  # from <linux/prctl.h>


class _Seal:
    """Not dumpable while any channel of this process is open; as before after the last."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.open = 0
        self.before = 1
        self.prctl = PRCTL

    def __enter__(self) -> None:
        with self.lock:
            if self.open == 0 and self.prctl is not None:
                self.before = self.prctl(PR_GET_DUMPABLE, 0, 0, 0, 0)
                self.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
            self.open += 1

    def __exit__(self, *_: object) -> None:
        with self.lock:
            self.open -= 1
            if self.open == 0 and self.prctl is not None and self.before > 0:
                self.prctl(PR_SET_DUMPABLE, self.before, 0, 0, 0)


_SEAL = _Seal()


class MetricsChannel:
    """`with MetricsChannel() as channel:` run with `channel.env_value` in the environment
    and `channel.pass_fds` passed on, then `channel.received()` once the run ended."""

    def __init__(self) -> None:
        self._read_fd, self._write_fd = os.pipe()
        os.set_inheritable(self._write_fd, True)
        self._chunks: list[bytes] = []
        self._size = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()
        _SEAL.__enter__()

    @property
    def env_value(self) -> str:
        return f"/dev/fd/{self._write_fd}"

    @property
    def pass_fds(self) -> tuple[int, ...]:
        return (self._write_fd,)

    def received(self) -> tuple[bytes, bool]:
        """(what was written, whether it overflowed MAX_BYTES), once the writers are gone."""
        self._close_writer()
        self._stop.set()
        self._thread.join()
        return b"".join(self._chunks), self._size > MAX_BYTES

    def _drain(self) -> None:
        while True:
            ready, _, _ = select.select([self._read_fd], [], [], POLL_S)
            if not ready:
                if self._stop.is_set():
                    return
                continue
            chunk = os.read(self._read_fd, 65536)
            if not chunk or (self._stop.is_set() and self._size > MAX_BYTES):
                return  # the end, or a writer that never stops
            if self._size <= MAX_BYTES:
                self._chunks.append(chunk)
            self._size += len(chunk)

    def _close_writer(self) -> None:
        if self._write_fd >= 0:
            os.close(self._write_fd)
            self._write_fd = -1

    def __enter__(self) -> MetricsChannel:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._close_writer()
        self._stop.set()
        self._thread.join()
        os.close(self._read_fd)
        _SEAL.__exit__()
