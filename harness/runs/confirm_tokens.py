"""The confirmation runs one `harness submit` queued, known by their task tokens.

A `confirm` row in results.tsv is text anyone can append, with a `frozen_sha` copied from
a real row. So the second `submit` never takes a confirmation from the file alone: the
first one keeps the token of every task it queued (`<git dir>/harness/confirm/<slug>.json`,
written atomically) with the decision it serves (candidate, reference, seeds), and the
second counts only the rows that carry one of those tokens, match the task's side, commit
and seed, lie before any break of the chain, and have the closed run record the harness
kept for the run (`harness.runs.records`). A token with two rows means someone copied it:
both are ignored. Anything missing is queued again. Once decided, the file moves to
`<slug>.decided.json`: the next submit queues afresh, and the report keeps showing the
runs of the decision (`trusted_confirmation`), never other rows.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.config import Config
from harness.fileio import write_atomic
from harness.layout import Layout
from harness.runs.confirm import STATUS, Confirmation, Target, judge
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


def load_pending(layout: Layout, slug: str, *, decided: bool = False) -> Pending | None:
    """What the last submit of `slug` queued (None: nothing, or a file that is not one);
    `decided`: what the last decision of `slug` was taken from."""
    path = decided_path(layout, slug) if decided else pending_path(layout, slug)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        runs = tuple(QueuedRun(**run) for run in data["runs"])
        return Pending(data["candidate"], data["reference"], tuple(data["seeds"]), runs)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save_pending(layout: Layout, slug: str, pending: Pending) -> None:
    write_atomic(pending_path(layout, slug), json.dumps(asdict(pending), indent=1))


def decided_path(layout: Layout, slug: str) -> Path:
    return layout.state_dir / "confirm" / f"{slug}.decided.json"


def settle_pending(layout: Layout, slug: str) -> None:
    """The runs of a decision taken: kept aside for the report, out of the next submit's way."""
    path = pending_path(layout, slug)
    if path.exists():
        os.replace(path, decided_path(layout, slug))


def trusted_confirmation(
    layout: Layout,
    config: Config,
    frame: pl.DataFrame,
    *,
    candidate: Target,
    reference: Target,
    seeds: tuple[int, ...],
) -> Confirmation | None:
    """The confirmation from the runs submit queued for this decision (waiting, or decided),
    their trusted rows only; None when submit queued none for it."""
    slug = candidate.label
    for pending in (load_pending(layout, slug), load_pending(layout, slug, decided=True)):
        if pending is not None and pending.serves(candidate, reference, seeds):
            rows = rows_of(layout, frame, pending.runs)
            return judged(config, pending, rows, candidate, reference, [])
    return None


def judged(
    config: Config,
    pending: Pending,
    rows: dict[str, dict[str, Any]],
    candidate: Target,
    reference: Target,
    failed: list[QueuedRun],
) -> Confirmation:
    def side(label: str) -> tuple[dict[str, Any], ...]:
        found = [
            rows[run.token] for run in pending.runs if run.label == label and run.token in rows
        ]
        return tuple(sorted((row for row in found if is_valid(row)), key=lambda r: r["seed"]))

    result = judge(
        config,
        seeds=pending.seeds,
        candidate=candidate,
        reference=reference,
        candidate_rows=side(candidate.label),
        reference_rows=side(reference.label),
    )
    result = replace(result, ran=tuple(rows.values()))
    broken = [
        f"{row['idea']} seed {row['seed']} {row['status']}"
        for row in rows.values()
        if not is_valid(row)
    ]
    broken += [
        f"{run.label} seed {run.seed}: task {run.queue_task} left no trusted row" for run in failed
    ]
    if broken:
        reason = f"confirmation runs failed ({', '.join(broken)})"
        result = replace(result, holds=False, reason=reason)
    return result


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
