"""`harness results import FILE`: adopt a results table of another layout.

The common layout of autoresearch-style loops is `commit, val_bpb, memory_gb, status,
description`, with statuses keep / discard / crash and crashed runs written as 0.0. Each
row becomes a harness row and its own experiment, named by its commit (the idea column is
the commit's first seven characters): the metric column gives `value` (not for crashes: a
crash has no value), keep and discard are valid runs (`ok`) with the decision kept in
`extra` (`decision`: keep or discard), columns with a harness name map onto that column,
and every other column goes into `extra`, with the source line and status. The keep rows,
in file order, are the chain of accepted changes of that loop (`imported_chain`).

A copy of the original is kept in `<git dir>/harness/imports/` first. When FILE is the
root results.tsv itself, it is replaced by the harness layout (atomically); otherwise the
rows are appended. An imported row's run id is `import-` and a hash of its line's content
(with a count for identical lines), so importing a file again adds only its new rows. A
byte-order mark and CRLF line ends are accepted. Imported rows have no FROZEN-files hash
(`frozen_sha` is empty): the harness cannot check the evaluation that produced them, and
takes them as valid.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.config import Config
from harness.errors import RecordError, UsageError
from harness.fileio import exclusive_lock, not_utf8, write_atomic
from harness.layout import Layout
from harness.record.metrics import parse_value
from harness.record.results import append_locked, record_lock, sealed_text, utc_now
from harness.record.schema import RESULTS_COLUMNS, RUN_STATUSES, known_header

if TYPE_CHECKING:
    import polars as pl

STATUS_MAP = {"keep": "ok", "discard": "ok", "crash": "crash", "crashed": "crash"}
DECISIONS = ("keep", "discard")
IMPORTED_IDEA = "imported"  # the idea of a row that names no commit


@dataclass(frozen=True)
class ImportReport:
    source: Path
    copy: Path
    rows: int  # rows added now
    valid: int
    replaced: bool  # the root results.tsv was the foreign file and now has the harness layout
    known: int = 0  # rows of the file that were on record already


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
    header, records = parse_table(source, data.decode("utf-8-sig"))
    column = metric_column or config.metric
    if column not in header:
        raise UsageError(
            f"{source} has no column {column!r} (columns: {', '.join(header)}): "
            "name the metric column with --metric-column"
        )
    digest = hashlib.sha256(data).hexdigest()[:8]
    ids = content_ids(record for _, record in records)
    rows = [
        convert(record, line=line, config=config, column=column, run_id=run_id, name=source.name)
        for (line, record), run_id in zip(records, ids, strict=True)
    ]
    replacing = source == layout.results_tsv.resolve()
    with exclusive_lock(record_lock(layout)):
        known = set() if replacing else recorded_ids(layout.results_tsv)
        new = [row for row in rows if row["run_id"] not in known]
        copy = _keep_copy(layout, source, digest)
        if replacing:
            write_atomic(layout.results_tsv, sealed_text(new))
        elif new:
            append_locked(layout.results_tsv, new)
    valid = sum(1 for row in new if row["status"] == "ok" and row["value"] is not None)
    return ImportReport(source, copy, len(new), valid, replacing, known=len(rows) - len(new))


def content_ids(records: Iterable[dict[str, str]]) -> list[str]:
    """A run id per row from its content: the same line imported again gets the same id."""
    seen: Counter[str] = Counter()
    ids = []
    for record in records:
        text = "\t".join(f"{key}={value.strip()}" for key, value in record.items())
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
        seen[digest] += 1
        count = seen[digest]
        ids.append(f"import-{digest}" + (f"-{count}" if count > 1 else ""))
    return ids


def recorded_ids(path: Path) -> set[str]:
    """The run ids of the imported rows already in results.tsv (the first column)."""
    try:
        lines = path.read_bytes().split(b"\n")
    except FileNotFoundError:
        return set()
    return {
        line.split(b"\t", 1)[0].decode("utf-8", "replace")
        for line in lines[1:]
        if line.startswith(b"import-")
    }


def imported_chain(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """The imported loop's accepted changes (its keep rows), in the order it kept them."""
    import polars as pl

    if frame.is_empty():
        return []
    kept = frame.filter(
        pl.col("run_id").str.starts_with("import-")
        & pl.col("extra").str.contains('"decision":"keep"', literal=True)
    )
    return kept.to_dicts()


def chain_text(frame: pl.DataFrame, *, limit: int = 4) -> str | None:
    """One line on the imported chain: its length, its last steps and the head's value."""
    import polars as pl

    chain = imported_chain(frame)
    if not chain:
        return None
    imported = frame.filter(pl.col("run_id").str.starts_with("import-"))
    steps = [f"{row['idea']} {row['value']:.4f}" for row in chain if row["value"] is not None]
    shown = (["..."] if len(steps) > limit else []) + steps[-limit:]
    return (
        f"{len(chain)} kept of {imported.height} imported rows: {' -> '.join(shown)} "
        f"(head {chain[-1]['idea']})"
    )


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
    record: dict[str, str], *, line: int, config: Config, column: str, run_id: str, name: str
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
    if source_status.lower() in DECISIONS:
        extra["decision"] = source_status.lower()
    for key, text in record.items():
        if key in (column, "status"):
            continue
        typed = _typed(key, text)
        if typed is not None:
            row[key] = typed
        elif text:
            extra[key] = parse_value(text)
    commit = (row["commit"] or "").strip()
    row.update(
        run_id=run_id,
        timestamp=row["timestamp"] or utc_now(),
        idea=row["idea"] or (commit[:7].lower() if commit else IMPORTED_IDEA),
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


def is_untracked(layout: Layout) -> bool:
    """True when the root results.tsv is not in git (autoresearch's .gitignore ignores it)."""
    from harness import gitops

    return not gitops.is_tracked(layout.root, layout.results_tsv.name)
