"""Writing shared files so that no reader sees half of one, and rendering text: the
templates, and the aligned tables of the commands' text output.

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
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from harness.errors import HarnessError, RecordError

T = TypeVar("T")


def utc_now() -> str:
    """Now as the harness writes it in every file: `2026-11-23T09:15:00.123Z` (UTC, ISO 8601)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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


def render_template(text: str, context: dict[str, Any]) -> str:
    import jinja2

    environment = jinja2.Environment(
        keep_trailing_newline=True, undefined=jinja2.StrictUndefined, autoescape=False
    )
    return environment.from_string(text).render(**context)


def format_table(
    rows: Iterable[Sequence[str]],
    *,
    headings: Sequence[str] | None = None,
    right: Collection[int] = (),
    limits: Mapping[int, int] | None = None,
) -> list[str]:
    """Text rows as aligned columns two spaces apart, one line each (no trailing spaces).

    A column is as wide as its widest cell; `limits` caps a column (by index), a longer
    cell ending in `…`; the columns in `right` are right-aligned (numbers).
    """
    table = [list(headings)] if headings is not None else []
    table += [list(row) for row in rows]
    if not table:
        return []
    caps = limits or {}
    table = [[_clip(cell, caps.get(i)) for i, cell in enumerate(row)] for row in table]
    widths = [max(len(row[i]) for row in table if i < len(row)) for i in range(len(table[0]))]
    return [
        "  ".join(
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ).rstrip()
        for row in table
    ]


def _clip(text: str, limit: int | None) -> str:
    return text if limit is None or len(text) <= limit else text[: limit - 1] + "…"


def poll_until(
    ready: Callable[[], T | None],
    *,
    timeout: float | None,
    every: float,
    at_most: float | None = None,
    timed_out: Callable[[], Exception],
) -> T:
    """Call `ready` until it returns something other than None, and return that.

    Waits `every` seconds between calls (doubling up to `at_most` when given); raises
    `timed_out()` once `timeout` seconds have passed (None: waits for ever).
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    pause = every
    while True:
        result = ready()
        if result is not None:
            return result
        if deadline is not None and time.monotonic() > deadline:
            raise timed_out()
        time.sleep(pause)
        if at_most is not None:
            pause = min(pause * 2, at_most)


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

    def locked() -> bool | None:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError:
            return None

    def timed_out() -> HarnessError:
        return HarnessError(
            f"could not lock {path} within {timeout:.0f} s: another harness "
            "process holds it; wait, or check for a hung process"
        )

    try:
        # short waits first: most holders only append one line
        poll_until(locked, timeout=timeout, every=0.0005, at_most=0.01, timed_out=timed_out)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
