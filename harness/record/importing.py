"""`harness results import FILE`: adopt a results table of another layout.

The common layout of autoresearch-style loops is `commit, val_bpb, memory_gb, status,
description`, with statuses keep / discard / crash and crashed runs written as 0.0. Each
row becomes a harness row: the metric column gives `value` (not for crashes: a crash has
no value), keep and discard are valid runs (`ok`), columns with a harness name map onto
that column, and every other column goes into `extra`, with the source line and status.

A copy of the original is kept in `<git dir>/harness/imports/` first. When FILE is the
root results.tsv itself, it is replaced by the harness layout (atomically); otherwise the
rows are appended. Imported rows get run ids `import-<file hash>-<line>`, so importing
the same file twice is refused. They have no FROZEN-files hash (`frozen_sha` is empty):
the harness cannot check the evaluation that produced them, and takes them as valid.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.config import Config
from harness.errors import RecordError, UsageError
from harness.fileio import exclusive_lock, not_utf8, write_atomic
from harness.layout import Layout
from harness.record.metrics import parse_value
from harness.record.results import append_locked, format_row, record_lock, utc_now
from harness.record.schema import RESULTS_COLUMNS, RUN_STATUSES, header_line, known_header

STATUS_MAP = {"keep": "ok", "discard": "ok", "crash": "crash", "crashed": "crash"}
IMPORTED_IDEA = "imported"


@dataclass(frozen=True)
class ImportReport:
    source: Path
    copy: Path
    rows: int
    valid: int
    replaced: bool  # the root results.tsv was the foreign file and now has the harness layout


def is_foreign_results(path: Path) -> bool:
    """True when `path` exists with a first line other than the harness header."""
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            first = handle.readline()
    except FileNotFoundError:
        return False
    return bool(first) and known_header(first) is None


def import_results(
    layout: Layout, config: Config, source: Path, *, metric_column: str | None = None
) -> ImportReport:
    """Map the rows of `source` into the root results.tsv, keeping a copy of it first."""
    source = source.resolve()
    data = _read(source)
    header, records = parse_table(source, data.decode("utf-8"))
    column = metric_column or config.metric
    if column not in header:
        raise UsageError(
            f"{source} has no column {column!r} (columns: {', '.join(header)}): "
            "name the metric column with --metric-column"
        )
    digest = hashlib.sha256(data).hexdigest()[:8]
    rows = [
        convert(record, line=line, config=config, column=column, digest=digest, name=source.name)
        for line, record in records
    ]
    payload = "".join(format_row(row) for row in rows)
    replacing = source == layout.results_tsv.resolve()
    with exclusive_lock(record_lock(layout)):
        _refuse_twice(layout, digest, source)
        copy = _keep_copy(layout, source, digest)
        if replacing:
            write_atomic(layout.results_tsv, header_line() + payload)
        else:
            append_locked(layout.results_tsv, rows)
    valid = sum(1 for row in rows if row["status"] == "ok" and row["value"] is not None)
    return ImportReport(source, copy, len(rows), valid, replacing)


def _read(source: Path) -> bytes:
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {source}: {exc.strerror}") from None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecordError(not_utf8(str(source), data, exc)) from None
    return data


def parse_table(source: Path, text: str) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """(header, [(line number, {column: text})]); a row of the wrong width is an error."""
    lines = text.split("\n")
    header = lines[0].rstrip("\r").split("\t")
    if header == list(RESULTS_COLUMNS):
        raise UsageError(f"{source} has the harness layout already: nothing to import")
    if len(header) < 2:
        raise RecordError(f"{source} line 1 is not a tab-separated header: nothing to import")
    records = []
    for number, line in enumerate(lines[1:], start=2):
        fields = line.rstrip("\r").split("\t")
        if not line.strip():
            continue
        if len(fields) != len(header):
            raise RecordError(
                f"{source} line {number} has {len(fields)} fields, expected {len(header)}: "
                "repair that line, then import again (nothing was imported)"
            )
        records.append((number, dict(zip(header, fields, strict=True))))
    return header, records


def convert(
    record: dict[str, str], *, line: int, config: Config, column: str, digest: str, name: str
) -> dict[str, Any]:
    """One foreign row as a harness row."""
    source_status = record.get("status", "").strip()
    status = STATUS_MAP.get(source_status.lower(), source_status.lower())
    raw_value = parse_value(record.get(column, "").strip())
    value = float(raw_value) if isinstance(raw_value, int | float) else None
    if status not in RUN_STATUSES:
        status = "ok" if value is not None else "crash"
    if status != "ok":
        value = None  # a crash's 0.0 is not a result
    row: dict[str, Any] = {name: None for name in RESULTS_COLUMNS}
    extra: dict[str, Any] = {"imported_from": name, "source_line": line}
    if source_status:
        extra["source_status"] = source_status
    for key, text in record.items():
        if key in (column, "status"):
            continue
        typed = _typed(key, text)
        if typed is not None:
            row[key] = typed
        elif text:
            extra[key] = parse_value(text)
    row.update(
        run_id=f"import-{digest}-{line:05d}",
        timestamp=row["timestamp"] or utc_now(),
        idea=row["idea"] or IMPORTED_IDEA,
        metric=config.metric,
        value=value,
        status=status,
        integrity="ok",
        frozen_sha=None,
        extra=extra,
    )
    return row


def _typed(key: str, text: str) -> Any:
    """The value for harness column `key`, or None (then it goes into extra)."""
    if key not in RESULTS_COLUMNS or key in ("run_id", "extra", "integrity", "frozen_sha"):
        return None
    kind, value = RESULTS_COLUMNS[key], parse_value(text.strip())
    if kind == "int":
        return value if isinstance(value, int) else None
    if kind == "float":
        return float(value) if isinstance(value, int | float) else None
    if kind == "bool":
        return {"true": True, "false": False}.get(text.strip().lower())
    return text or None


def _refuse_twice(layout: Layout, digest: str, source: Path) -> None:
    marker = f"import-{digest}-".encode()
    path = layout.results_tsv
    if path.exists() and not is_foreign_results(path) and marker in path.read_bytes():
        raise UsageError(f"{source} was imported already (run ids import-{digest}-*)")


def _keep_copy(layout: Layout, source: Path, digest: str) -> Path:
    folder = layout.state_dir / "imports"
    copy = folder / f"{digest}-{source.name}"
    temporary = folder / f".{copy.name}.{os.getpid()}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, temporary)
        os.replace(temporary, copy)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
        raise RecordError(
            f"cannot keep a copy of {source.name} in {folder} ({exc.strerror}): nothing was "
            "imported; make that folder writable"
        ) from None
    return copy
