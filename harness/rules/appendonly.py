"""APPEND-ONLY files (journals): a header, then entries, newest on top.

DESIGN.md section 3: if the old file is `H + B`, where `H` is everything before the first
line starting with `## ` and `B` the rest, a valid new file is `H + X + B`. The harness
writes new entries exactly that way, atomically (temporary file, fsync, rename) and under
the record lock, so readers never see half an entry and concurrent writers never lose one.
"""

from __future__ import annotations

from pathlib import Path

from harness.errors import RecordError

ENTRY_MARK = "## "


def split_header(text: str) -> tuple[str, str]:
    """(header, body): the body starts at the first line beginning with `## `."""
    if text.startswith(ENTRY_MARK):
        return "", text
    index = text.find("\n" + ENTRY_MARK)
    if index < 0:
        return text, ""
    return text[: index + 1], text[index + 1 :]


def is_valid_append(old: str, new: str) -> bool:
    """True when `new` is `old`'s header, then added text, then `old`'s entries unchanged."""
    header, body = split_header(old)
    return new.startswith(header) and new.endswith(body) and len(new) >= len(header) + len(body)


def prepend_text(old: str, entry: str) -> str:
    """`old` with `entry` inserted between its header and its first entry."""
    if not entry.startswith(ENTRY_MARK):
        raise RecordError(f"a journal entry must start with {ENTRY_MARK!r}, got {entry[:20]!r}")
    header, body = split_header(old)
    if header and not header.endswith("\n\n"):
        header += "\n" if header.endswith("\n") else "\n\n"
    return header + entry.rstrip("\n") + "\n\n" + body


def prepend_entry(path: Path, entry: str, *, lock_path: Path) -> None:
    """Insert `entry` (text starting with `## `) on top of the entries of `path`."""
    from harness.fileio import exclusive_lock  # imported here: the guard reads this module

    with exclusive_lock(lock_path):
        prepend_locked(path, entry)


def prepend_locked(path: Path, entry: str) -> None:
    """`prepend_entry` for a caller that holds the lock already."""
    from harness.fileio import read_text, write_atomic

    # a writer killed between writing its temporary file and the rename left that file;
    # under the lock no other writer is mid-write, so any such file is stale
    for stale in path.parent.glob(f".{path.name}.*"):
        stale.unlink(missing_ok=True)
    old = read_text(path) if path.exists() else ""
    write_atomic(path, prepend_text(old, entry))
