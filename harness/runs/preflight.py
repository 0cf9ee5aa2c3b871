"""Before an evaluation starts: can its outcome be kept?

An evaluation may take hours, so what it needs to be recorded is tried first, by doing
it (opening for append, creating a file): permission bits alone would say yes to root on
a read-only mount or an immutable file. The first place that fails is named in one line,
and nothing is run.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from harness.errors import RecordError
from harness.layout import Layout

QUEUE_FOLDERS = ("", "tasks", "pending", "logs")  # of the local queue, where it exists


def check_writable(layout: Layout, *, log_dir: Path) -> None:
    """Raise RecordError naming the first of the run's places that cannot be written."""
    state = layout.state_dir
    places: list[tuple[str, Path, bool]] = [  # (what, path, is a folder)
        ("the record", layout.results_tsv, False),
        ("the journal", layout.journal, False),
        ("the record's folder", layout.root, True),  # new results.tsv, journal replacement
        ("the record lock", layout.record_lock, False),
        ("the logs folder", log_dir, True),
        ("the run records folder", state / "runs", True),
        ("the metrics folder", state / "tmp", True),
    ]
    queue = state / "queue"
    places += [
        ("the queue folder", queue / name, True)
        for name in QUEUE_FOLDERS
        if (queue / name).is_dir()
    ]
    for what, path, is_folder in places:
        problem = _folder_problem(path) if is_folder else _file_problem(path)
        if problem:
            raise RecordError(
                f"cannot write {what} {path} ({problem}): fix its permissions or free some "
                "space; nothing was run"
            )


def _file_problem(path: Path) -> str:
    """Why `path` cannot be opened for writing ('' when it can; a missing file can be)."""
    if not path.exists():
        return _folder_problem(path.parent)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_APPEND))
    except OSError as exc:
        return exc.strerror or str(exc)
    return ""


def _folder_problem(path: Path) -> str:
    """Why no file can be created in `path` ('' when one can)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".harness-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        return exc.strerror or str(exc)
    return ""
