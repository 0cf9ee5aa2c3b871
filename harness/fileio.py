"""Writing shared files so that no reader sees half of one, and rendering the templates.

Every write to a shared file is either atomic (a temporary file, fsynced, then renamed) or
an append made under `exclusive_lock`. The lock is a POSIX record lock (`fcntl.lockf`)
rather than `flock`, because it also works over NFS (v4, or v3 with lockd), where a
cluster's compute nodes share the repository; the kernel releases it when its holder dies,
so a killed writer never leaves the record locked.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.errors import HarnessError, RecordError


def write_atomic(target: Path, text: str) -> None:
    """Write through a temporary file in the same directory, then rename: never half a file."""
    temporary = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except OSError as exc:
        if temporary and os.path.exists(temporary):
            os.unlink(temporary)
        raise HarnessError(f"cannot write {target}: {exc.strerror}") from None


def read_text(path: Path, *, name: str | None = None) -> str:
    """The text of a UTF-8 file; a byte that is not UTF-8 is a RecordError naming the
    file, the byte offset and the line, so the user can find it (FileNotFoundError and
    other OSErrors pass through to the caller, which knows what a missing file means)."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecordError(not_utf8(name or str(path), data, exc)) from None


def not_utf8(name: str, data: bytes, exc: UnicodeDecodeError) -> str:
    """The one-line message for a file that is not valid UTF-8."""
    line = data.count(b"\n", 0, exc.start) + 1
    return (
        f"{name} is not valid UTF-8: byte 0x{data[exc.start]:02x} at offset {exc.start} "
        f"(line {line}): re-save the file as UTF-8 or remove that byte"
    )


def render_template(text: str, context: dict) -> str:
    import jinja2

    environment = jinja2.Environment(
        keep_trailing_newline=True, undefined=jinja2.StrictUndefined, autoescape=False
    )
    return environment.from_string(text).render(**context)


@contextmanager
def exclusive_lock(path: Path, *, timeout: float = 120.0) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if missing) for the `with` block."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise HarnessError(
            f"cannot open the lock {path}: {exc.strerror}: make its folder writable"
        ) from None
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
