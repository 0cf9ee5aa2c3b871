"""results.tsv: one row per evaluation run, appended whole, read with polars.

Writing: a row is formatted completely first (every value sanitised, so a tab or a newline
in a question can never tear it), then appended with one `write` under the record lock
that every worktree shares, flushed and fsynced. Rows are never rewritten or dropped.

Reading: every line is checked before polars parses it, so a torn, hand-edited or
foreign row is reported with its line number instead of being silently skipped or
misread. A valid result is a row with status `ok`, integrity `ok` and a finite value of
the configured metric; only those count for `best` and comparisons.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import secrets
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard

from harness.config import Config
from harness.errors import RecordError, UnknownRun, UsageError
from harness.fileio import exclusive_lock, write_atomic
from harness.fileio import utc_now as utc_now  # the one clock of every record
from harness.layout import Layout
from harness.record.chain import COLUMN as CHAIN
from harness.record.chain import ChainCheck, check_chain, last_chain, seal_lines
from harness.record.schema import FIRST_COLUMNS, RESULTS_COLUMNS, header_line, known_header

if TYPE_CHECKING:
    import polars as pl

UNSAFE = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")
TYPE_NAMES = {"int": "an integer", "float": "a number", "bool": "true or false"}
BOOL_TEXT = {"true": True, "false": False}
CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"  # base32 without i, l, o, u
COMMIT_PREFIX = re.compile(r"^[0-9a-fA-F]{4,40}$")


def record_lock(layout: Layout) -> Path:
    """The one lock of results.tsv and the journal, shared by every worktree."""
    return layout.record_lock


def new_run_id() -> str:
    """Sortable by time, unique by construction: `20261123-091500.123-7zk3q9m2xw4hb8tn`.

    The UTC time to the millisecond, then 80 random bits in lower-case Crockford base32
    (as a ULID has): two ids of the same millisecond collide with odds of 1 in 2**80.
    The record refuses a duplicate anyway (`append_locked`).
    """
    now = datetime.now(UTC)
    bits = secrets.randbits(80)
    tail = "".join(CROCKFORD[(bits >> shift) & 31] for shift in range(75, -1, -5))
    return f"{now:%Y%m%d-%H%M%S}.{now.microsecond // 1000:03d}-{tail}"


def sanitise(text: str) -> str:
    """One line of text without tabs: control characters and line breaks become spaces."""
    return UNSAFE.sub(" ", text)


def format_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dict | list):
        return sanitise(json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str))
    return sanitise(str(value))


def format_row(values: Mapping[str, Any], columns: Iterable[str] = RESULTS_COLUMNS) -> str:
    """The complete TSV line (with its newline) of a row given as {column: value}."""
    unknown = set(values) - set(RESULTS_COLUMNS)
    if unknown:
        raise RecordError(f"not a results.tsv column: {', '.join(sorted(unknown))}")
    return "\t".join(format_value(values.get(name)) for name in columns) + "\n"


def append_rows(layout: Layout, rows: Iterable[Mapping[str, Any]]) -> None:
    """Append complete rows to the root results.tsv under the record lock, fsynced."""
    with exclusive_lock(record_lock(layout)):
        append_locked(layout.results_tsv, rows)


def append_locked(path: Path, rows: Iterable[Mapping[str, Any]]) -> None:
    """Append whole rows in the file's own columns, each sealed by the chain (see
    `harness.record.chain`); the caller holds the record lock."""
    rows = list(rows)
    data = _read_regular(path)
    refuse_known_run_ids(path, rows, data=data)
    prefix, columns = _prefix_for(path)
    lines = [format_row({**row, CHAIN: None}, columns).encode("utf-8") for row in rows]
    if CHAIN in columns:
        index = columns.index(CHAIN)
        unsealed = [line[:-1] for line in lines]
        lines = [line + b"\n" for line in seal_lines(last_chain(data, index), unsealed, index)]
    payload = b"".join(lines)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as exc:
        raise RecordError(f"cannot append to {path}: {exc.strerror}") from None
    try:
        os.write(fd, prefix + payload)
        os.fsync(fd)
    except OSError as exc:
        raise RecordError(f"cannot append to {path}: {exc.strerror}") from None
    finally:
        os.close(fd)


def sealed_text(rows: Iterable[Mapping[str, Any]]) -> str:
    """A whole new results.tsv of `rows` in today's layout, header first, chained."""
    index = tuple(RESULTS_COLUMNS).index(CHAIN)
    lines = [format_row({**row, CHAIN: None}).rstrip("\n").encode("utf-8") for row in rows]
    body = b"".join(line + b"\n" for line in seal_lines(b"", lines, index))
    return header_line() + body.decode("utf-8")


def refuse_known_run_ids(
    path: Path, rows: list[Mapping[str, Any]], *, data: bytes | None = None
) -> None:
    """Raise RecordError when a row's run id is in `path` already, or twice among `rows`.

    A run id names one row: `harness results compare ID`, the run's log and its journal
    entry rely on it. The caller holds the record lock, so no other writer can slip a row
    in between this check and the append.
    """
    ids = [format_value(row.get("run_id")) for row in rows]
    data = _read_regular(path) if data is None else data
    for index, run_id in enumerate(ids):
        if not run_id:
            continue
        where = "twice among the new rows" if run_id in ids[:index] else f"in {path} already"
        if run_id in ids[:index] or b"\n" + run_id.encode() + b"\t" in data:
            raise RecordError(
                f"run id {run_id} is {where}: a run id names one row, so nothing was "
                "appended; give each run its own id (`new_run_id()`)"
            )


def _read_regular(path: Path) -> bytes:
    """The bytes of `path` up to its size: a device (/dev/full reads without end) gives none."""
    try:
        with path.open("rb") as handle:
            return handle.read(os.fstat(handle.fileno()).st_size)
    except FileNotFoundError:
        return b""


def upgrade_header(layout: Layout) -> tuple[int, int]:
    """Give an older results.tsv today's header, every row padded with empty new columns,
    and seal its unsealed rows into the chain (once: a sealed file has none left).

    Returns (columns added, rows sealed); (0, 0): already current. Values are never
    changed; a file whose chain breaks is refused (sealing would bless the break); the file
    is replaced atomically under the record lock.
    """
    with exclusive_lock(record_lock(layout)):
        path = layout.results_tsv
        data = _read_bytes(path)
        _, columns = _prefix_for(path)
        added = len(RESULTS_COLUMNS) - len(columns)
        _check_lines(path, data, len(columns))
        lines = data.split(b"\n")
        if lines[-1] == b"":
            lines.pop()
        rows = [line.rstrip(b"\r") + b"\t" * added for line in lines[1:]]
        index = tuple(RESULTS_COLUMNS).index(CHAIN)
        chain = check_chain(b"\n".join([b"", *rows]), index)
        if chain.is_broken:
            raise RecordError(f"{chain.warning(path.name)}; nothing was sealed")
        if added == 0 and chain.unsealed == 0:
            return 0, 0
        sealed = seal_lines(b"", rows, index) if chain.unsealed else rows
        body = b"".join(line + b"\n" for line in sealed).decode("utf-8")
        write_atomic(path, header_line() + body)
        return added, len(rows) if chain.unsealed else 0


def check_appendable(path: Path) -> None:
    """Raise RecordError now when rows could not be appended to `path` (another layout)."""
    _prefix_for(path)


def _prefix_for(path: Path) -> tuple[bytes, tuple[str, ...]]:
    """What to write before the rows, and the file's columns.

    The header for a new file; a newline when the last line lacks one (never glue rows).
    """
    every = tuple(RESULTS_COLUMNS)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return header_line().encode(), every
    if size == 0:
        return header_line().encode(), every
    with path.open("rb") as handle:
        first = handle.readline()
        handle.seek(size - 1)
        last = handle.read(1)
    columns = known_header(first.decode("utf-8", errors="replace"))
    if columns is None:
        raise RecordError(
            f"{path} does not start with the harness header (another tool's layout?): "
            f"move it aside and adopt it with `harness results import FILE`"
        )
    return (b"" if last == b"\n" else b"\n"), columns


def read_results(path: Path, *, untrusted: bool = False) -> pl.DataFrame:
    """Every trusted row, typed: the rows from the first break of the chain on are left
    out (`untrusted` keeps them, for bookkeeping that must see every row written).
    A RecordError names the first line that cannot be read."""
    frame, chain = read_record(path)
    if untrusted or not chain.is_broken:
        return frame
    return frame.head(chain.trusted)


def read_record(path: Path) -> tuple[pl.DataFrame, ChainCheck]:
    """Every row, typed, and what the chain says of them (`harness.record.chain`).

    Fast path: when the file holds exactly as many tabs as its lines need, polars parses
    it (polars refuses a line with too many fields, so equal totals mean every line has
    the right width). Otherwise every line is checked in Python to name the bad one.
    """
    import polars as pl

    data = _read_bytes(path)
    header = _header(path, data)
    width = len(header)
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    problem = "the tab count does not match"
    if data.count(b"\t") == (width - 1) * lines:
        try:
            frame = pl.read_csv(
                io.BytesIO(data), separator="\t", quote_char=None, infer_schema=False
            )
            missing = [name for name in RESULTS_COLUMNS if name not in frame.columns]
            frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(n) for n in missing)
            chain = check_chain(data, header.index(CHAIN) if CHAIN in header else None)
            return _typed(path, frame), chain
        except pl.exceptions.ComputeError as exc:
            problem = str(exc).splitlines()[0]
    _check_lines(path, data, width)
    raise RecordError(f"{path} cannot be read ({problem}): repair it by hand")


def chain_warning(path: Path) -> str | None:
    """The chain's warning for the file at `path` (None when it holds, or cannot be read:
    the reader that reads it says why)."""
    try:
        return read_record(path)[1].warning(path.name)
    except RecordError:
        return None


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise RecordError(f"{path} does not exist: run `harness init` to create it") from None


def _header(path: Path, data: bytes) -> list[str]:
    end = data.find(b"\n")
    first = data[: end if end >= 0 else len(data)].rstrip(b"\r")
    if not first:
        raise RecordError(f"{path} is empty: it needs the header line (`harness init` writes it)")
    header = first.decode("utf-8", errors="replace").split("\t")
    missing = [name for name in FIRST_COLUMNS if name not in header]
    if missing:
        raise RecordError(
            f"{path} line 1 is not the harness header (no column {', '.join(missing[:3])}): "
            "if the file came from another tool, adopt it with `harness results import FILE`"
        )
    return header


def _check_lines(path: Path, data: bytes, width: int) -> None:
    """Name the first line that is not valid UTF-8 or has the wrong number of fields."""
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    for number, line in enumerate(lines[1:], start=2):
        if line.count(b"\t") != width - 1:
            raise RecordError(_torn_message(path, number, line.count(b"\t") + 1, width))
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            raise RecordError(
                f"{path} line {number} is not valid UTF-8: repair that line"
            ) from None


def _torn_message(path: Path, number: int, fields: int, expected: int) -> str:
    what = "is empty" if fields == 1 else f"has {fields} fields, expected {expected}"
    return (
        f"{path} line {number} {what} (a torn or hand-edited row): repair or remove that "
        "line by hand; the harness never rewrites rows"
    )


def _typed(path: Path, frame: pl.DataFrame) -> pl.DataFrame:
    import polars as pl

    casts = []
    for name, kind in RESULTS_COLUMNS.items():
        column = pl.col(name)
        if kind == "int":
            casts.append(column.cast(pl.Int64, strict=False))
        elif kind == "float":
            casts.append(column.cast(pl.Float64, strict=False))
        elif kind == "bool":
            casts.append(column.str.to_lowercase().replace_strict(BOOL_TEXT, default=None))
    typed = frame.with_columns(casts)
    for name, kind in RESULTS_COLUMNS.items():
        if kind in TYPE_NAMES:
            _check_cast(path, frame, typed, name, kind)
    return typed


def _check_cast(path: Path, raw: pl.DataFrame, typed: pl.DataFrame, name: str, kind: str) -> None:
    import polars as pl

    bad = raw.select(
        pl.arg_where(pl.col(name).is_not_null() & typed.get_column(name).is_null())
    ).to_series()
    if len(bad):
        row = int(bad[0])
        raise RecordError(
            f"{path} line {row + 2}: column {name} holds {raw[name][row]!r}, not "
            f"{TYPE_NAMES[kind]}: repair that line by hand; the harness never rewrites rows"
        )


def valid_runs(frame: pl.DataFrame, config: Config) -> pl.DataFrame:
    """Rows that count as results: status ok, integrity ok, committed code (not dirty), a
    finite value of the metric."""
    import polars as pl

    return frame.filter(
        (pl.col("status") == "ok")
        & (pl.col("integrity") == "ok")
        & ~pl.col("dirty").fill_null(False)
        & (pl.col("metric") == config.metric)
        & pl.col("value").is_not_null()
        & pl.col("value").is_finite()
    )


def best_run(
    frame: pl.DataFrame, config: Config, *, exclude: str | None = None
) -> dict[str, Any] | None:
    """The best valid row by the configured direction (the earliest of equals), or None."""
    import polars as pl

    valid = valid_runs(frame, config)
    if exclude is not None:
        valid = valid.filter(pl.col("run_id") != exclude)
    if valid.is_empty():
        return None
    values = valid.get_column("value")
    index = values.arg_min() if config.direction == "min" else values.arg_max()
    return valid.row(index or 0, named=True)


def select_rows(frame: pl.DataFrame, key: str) -> tuple[pl.DataFrame, str]:
    """The rows of a run id, else of an idea, else of a commit (a prefix of 4 or more
    hex digits): (rows, "run"|"idea"|"commit")."""
    import polars as pl

    rows = frame.filter(pl.col("run_id") == key)
    if not rows.is_empty():
        return rows, "run"
    rows = frame.filter(pl.col("idea") == key)
    if not rows.is_empty():
        return rows, "idea"
    if COMMIT_PREFIX.match(key):
        rows = frame.filter(pl.col("commit").str.starts_with(key.lower()))
        commits = rows.get_column("commit").unique().to_list()
        if len(commits) > 1:
            listed = ", ".join(sorted(c[:12] for c in commits)[:4])
            raise UsageError(f"commit prefix {key!r} is ambiguous ({listed}): give more of it")
        if commits:
            return rows, "commit"
    raise UnknownRun(f"no run id, idea or commit {key!r} in results.tsv: see `harness results`")


def is_finite(value: float | None) -> TypeGuard[float]:
    return value is not None and math.isfinite(value)
