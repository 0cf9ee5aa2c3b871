"""The confirmation runs one `harness submit` queued, known by their task tokens.

A `confirm` row in results.tsv is text anyone can append, with a `frozen_sha` copied from
a real row. So the second `submit` never takes a confirmation from the file alone: the
first one keeps the token of every task it queued (`<git dir>/harness/confirm/<slug>.json`,
written atomically) with the decision it serves (candidate, reference, seeds), and the
second counts only the rows that carry one of those tokens, match the task's side, commit
and seed, lie before any break of the chain, and have the closed run record the harness
kept for the run (`harness.runs.records`). A token with two rows means someone copied it:
both are ignored. Anything missing is queued again.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.fileio import write_atomic
from harness.layout import Layout
from harness.runs.confirm import STATUS, Target
from harness.runs.records import closed_dir

if TYPE_CHECKING:
    import polars as pl


@dataclass(frozen=True)
class QueuedRun:
    token: str
    label: str  # the side: the target's label
    commit: str
    seed: int
    queue_task: str  # `<backend>:<id>`


@dataclass(frozen=True)
class Pending:
    """What one submit queued for one decision."""

    candidate: str  # label:branch:commit
    reference: str
    seeds: tuple[int, ...]
    runs: tuple[QueuedRun, ...]

    def serves(self, candidate: Target, reference: Target, seeds: tuple[int, ...]) -> bool:
        return (self.candidate, self.reference, self.seeds) == (
            target_text(candidate),
            target_text(reference),
            seeds,
        )


def target_text(target: Target) -> str:
    return f"{target.label}:{target.branch}:{target.commit}"


def pending_path(layout: Layout, slug: str) -> Path:
    return layout.state_dir / "confirm" / f"{slug}.json"


def load_pending(layout: Layout, slug: str) -> Pending | None:
    """What the last submit of `slug` queued (None: nothing, or a file that is not one)."""
    try:
        data = json.loads(pending_path(layout, slug).read_text(encoding="utf-8"))
        runs = tuple(QueuedRun(**run) for run in data["runs"])
        return Pending(data["candidate"], data["reference"], tuple(data["seeds"]), runs)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save_pending(layout: Layout, slug: str, pending: Pending) -> None:
    write_atomic(pending_path(layout, slug), json.dumps(asdict(pending), indent=1))


def clear_pending(layout: Layout, slug: str) -> None:
    pending_path(layout, slug).unlink(missing_ok=True)


def rows_of(
    layout: Layout, frame: pl.DataFrame, runs: tuple[QueuedRun, ...]
) -> dict[str, dict[str, Any]]:
    """token -> the one trusted row of each queued run that has one (see the docstring)."""
    import polars as pl

    tokens = {run.token: run for run in runs}
    found = frame.filter(pl.col("task_token").is_in(list(tokens)))
    counts: dict[str, int] = {}
    for token in found.get_column("task_token").to_list():
        counts[token] = counts.get(token, 0) + 1
    trusted = {}
    for row in found.iter_rows(named=True):
        run = tokens[row["task_token"]]
        if counts[run.token] == 1 and is_row_of(layout, row, run):
            trusted[run.token] = row
    return trusted


def is_row_of(layout: Layout, row: dict[str, Any], run: QueuedRun) -> bool:
    """The row is the queued run's: its side, commit and seed, and the harness's own record
    of the run (closed, holding this row's token and value)."""
    if (row["idea"], row["commit"], row["seed"]) != (run.label, run.commit, run.seed):
        return False
    try:
        path = closed_dir(layout) / f"{row['run_id']}.json"
        kept = json.loads(path.read_text(encoding="utf-8")).get("row") or {}
    except (OSError, ValueError, UnicodeDecodeError, AttributeError):
        return False
    return kept.get("task_token") == run.token and kept.get("value") == row["value"]


def is_valid(row: dict[str, Any]) -> bool:
    """A confirmation run that gave its held-out metric with the FROZEN files as on main."""
    from harness.record.results import is_finite

    return row["status"] == STATUS and row["integrity"] == "ok" and is_finite(row["value"])
