"""An exclusive lock shared by every worktree and every process of a research repository.

POSIX record locks (`fcntl.lockf`) are used rather than `flock`, because they also work
over NFS (v4, or v3 with lockd), where a cluster's compute nodes share the repository.
The lock is released by the kernel when its holder dies, so a killed writer never
leaves the record locked.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.errors import HarnessError


@contextmanager
def exclusive_lock(path: Path, *, timeout: float = 120.0) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if missing) for the `with` block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        pause = 0.0005  # short waits first: most holders only append one line
        while True:
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise HarnessError(
                        f"could not lock {path} within {timeout:.0f} s: another harness "
                        "process holds it; wait, or check for a hung process"
                    ) from None
                time.sleep(pause)
                pause = min(pause * 2, 0.01)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
