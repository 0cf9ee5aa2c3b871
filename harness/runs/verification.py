"""`harness verify`: is the record what the harness wrote?

Three checks, each a line per problem:
- the chain of results.tsv (`harness.record.chain`): the first line that breaks it;
- the committed record: the results.tsv committed on the main branch is where today's file
  starts (rows are only ever appended), so a committed row edited or deleted is seen even
  when whoever did it recomputed the chain after it;
- the runs: every row written by an evaluation has its closed run record
  (`<git dir>/harness/runs/closed/<run id>.json`, whose row is that row) and its log.
  Imported rows (`import-...`) come from a file, not a run, and are not asked. Rows older
  than the first row with a closed record were written before the harness kept them: they
  are counted as unchecked, not as problems.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness import gitops
from harness.config import Config
from harness.layout import Layout
from harness.record.results import read_record
from harness.runs.records import closed_dir

if TYPE_CHECKING:
    import polars as pl

IMPORTED = "import-"
CHECKED_COLUMNS = ("idea", "commit", "seed", "status", "value", "metric", "task_token")


@dataclass
class Verification:
    rows: int = 0
    problems: list[str] = field(default_factory=list)
    checked: int = 0  # rows whose run record and log were found
    imported: int = 0
    unchecked: int = 0  # rows older than the run records
    unsealed: int = 0  # rows from before the chain

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self, name: str) -> str:
        parts = [f"{self.checked} with their run record and log"]
        parts += [f"{self.imported} imported"] if self.imported else []
        parts += [f"{self.unchecked} older than the run records"] if self.unchecked else []
        parts += [f"{self.unsealed} from before the chain"] if self.unsealed else []
        return f"{name}: {self.rows} rows, chain intact, {', '.join(parts)}"


def verify_record(layout: Layout, config: Config) -> Verification:
    """Every check; a RecordError when results.tsv cannot be read at all."""
    path = layout.results_tsv
    frame, chain = read_record(path)
    found = Verification(rows=chain.rows, unsealed=chain.unsealed)
    warning = chain.warning(path.name)
    if chain.is_broken and warning:
        found.problems.append(warning)
    found.problems += committed_problems(layout, config)
    records = closed_dir(layout)
    started = False
    for line, row in enumerate(frame.iter_rows(named=True), start=2):
        run_id = str(row["run_id"] or "")
        if run_id.startswith(IMPORTED):
            found.imported += 1
            continue
        record = _load(records / f"{run_id}.json")
        started = started or record is not None
        if not started:
            found.unchecked += 1
            continue
        problem = run_problem(path.name, line, row, record)
        if record is not None and line - 2 < chain.unsealed:
            problem = (
                f"{path.name} line {line} (run {run_id}) has no chain value, though its run "
                "was recorded by a harness that seals every row: the chain was removed"
            )
        if problem:
            found.problems.append(problem)
        else:
            found.checked += 1
    return found


def unrecorded(layout: Layout, frame: pl.DataFrame, *, mask: pl.Expr) -> list[str]:
    """The run-record problems of the counting rows `mask` selects (a decision's rows),
    from the first row the harness kept a record of on, as `verify_record` asks them."""
    import polars as pl

    records = closed_dir(layout)
    numbered = frame.with_row_index("line", offset=2)
    first = None
    for line, run_id in numbered.select("line", "run_id").iter_rows():
        if (records / f"{run_id}.json").exists():
            first = line
            break
    if first is None:
        return []
    chosen = numbered.filter(
        mask & (pl.col("line") >= first) & ~pl.col("run_id").str.starts_with(IMPORTED)
    )
    problems = []
    for found in chosen.iter_rows(named=True):
        record = _load(records / f"{found['run_id']}.json")
        problem = run_problem(layout.results_tsv.name, found["line"], found, record)
        problems += [problem] if problem else []
    return problems


def run_problem(
    name: str, line: int, row: dict[str, Any], record: dict[str, Any] | None
) -> str | None:
    """What is wrong with one evaluation row's run record or log, or None."""
    where = f"{name} line {line} (run {row['run_id']})"
    if record is None:
        return (
            f"{where} has no run record in runs/closed/: no harness run wrote it (a row "
            "appended by hand?); it must not be trusted"
        )
    kept = record.get("row") or {}
    differing = [name for name in CHECKED_COLUMNS if not _same(kept.get(name), row[name])]
    if differing:
        return (
            f"{where} differs from its run record in {', '.join(differing)}: the row was "
            "edited after the run"
        )
    log = record.get("log") or ""
    if record.get("command") and not (log and Path(log).is_file()):
        return f"{where}: its log {log or '(none named)'} is missing"
    return None


def committed_problems(layout: Layout, config: Config) -> list[str]:
    """The committed results.tsv of the main branch must start today's file."""
    name = layout.results_tsv.name
    committed = gitops.file_at(layout.root, f"refs/heads/{config.main_branch}", name)
    if not committed:
        return []
    now = layout.results_tsv.read_bytes()
    old = committed.encode("utf-8", "surrogateescape")
    if now.startswith(old):
        return []
    old_lines, new_lines = old.split(b"\n"), now.split(b"\n")
    line = next(
        (n for n, (a, b) in enumerate(zip(old_lines, new_lines, strict=False), 1) if a != b),
        min(len(old_lines), len(new_lines)),
    )
    return [
        f"{name} line {line} differs from the record committed on {config.main_branch}: a "
        f"committed row was edited or deleted; `git diff {config.main_branch} -- {name}` "
        "shows it: restore that line"
    ]


def _load(path: Path) -> dict[str, Any] | None:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return loaded if isinstance(loaded, dict) else None


def _same(kept: object, value: object) -> bool:
    """A run record's value (JSON) against the typed row's (polars)."""
    if kept in (None, "") and value in (None, ""):
        return True
    if isinstance(value, float) and isinstance(kept, int | float):
        return float(kept) == value
    return str(kept) == str(value)
