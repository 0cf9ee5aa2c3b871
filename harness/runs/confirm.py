"""Held-out confirmation of a winner (docs/architecture.md §4).

Many small greedy keeps can over-fit the validation split. When `[tool.harness] confirm`
names a command (an evaluation on data the agent never looks at while iterating),
`harness submit` runs it for the candidate and for the current best with the same seeds,
each at the exact commit its results came from, in a throwaway worktree under
`5_worktrees/`. The rows are recorded with status `confirm` and the metric
`confirm_metric`, so they never count as validation results. A decision uses only the runs
made for it: `confirm` (submit --wait) runs every seed of both sides here, and the queued
flow counts only the rows of the tasks it queued (`harness.reports.confirming`). Confirm
rows on record are never reused: they are text that could have been appended by hand.

The win holds when the candidate beats the current best on the held-out metric by more
than `min_effect` and by more than the spread of the confirmation runs themselves (the
baseline noise was measured on the validation split, not on this one).
"""

from __future__ import annotations

import shutil
import statistics
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from harness import gitops
from harness.config import Config, resolve_argv
from harness.errors import HarnessError
from harness.layout import Layout, find_layout
from harness.record.code import code_of, record_paths
from harness.record.compare import Comparison, Noise, Side, beats, compare_sides
from harness.record.journal import add_entry, heading_time
from harness.record.reference import Head
from harness.record.results import append_rows, is_finite, new_run_id, valid_runs
from harness.rules.integrity import check_integrity
from harness.runs.evaluation import (
    EvalRequest,
    describe_worktree,
    execute,
    flag_changes,
    with_environment,
)
from harness.runs.records import close_run, finalise, open_run

if TYPE_CHECKING:
    import polars as pl

STATUS = "confirm"
BASELINE = "baseline"  # the reference's rows are recorded under this idea
NOISE = Noise(None, 0, "the spread of the confirmation runs (held-out noise is not measured)")


@dataclass(frozen=True)
class Target:
    """One side of a confirmation: an idea (or the baseline) at the commit to evaluate."""

    label: str  # the `idea` of its rows
    branch: str
    commit: str
    name: str = ""  # how the confirmation names it (else its label)

    @property
    def shown(self) -> str:
        return self.name or self.label


@dataclass(frozen=True)
class Confirmation:
    metric: str
    seeds: tuple[int, ...]
    candidate: Target
    reference: Target
    candidate_rows: tuple[dict[str, Any], ...]  # one valid confirm row per seed, at most
    reference_rows: tuple[dict[str, Any], ...]
    comparison: Comparison | None  # None while a side has no value
    holds: bool
    reason: str
    ran: tuple[dict[str, Any], ...] = ()  # rows recorded by this confirmation

    @property
    def pending(self) -> bool:
        wanted = len(self.seeds)
        return len(self.candidate_rows) < wanted or len(self.reference_rows) < wanted


def confirm_metric(config: Config) -> str:
    return config.confirm_metric or config.metric


def is_configured(config: Config) -> bool:
    return bool(config.confirm)


def seeds_of(side: Side, config: Config) -> tuple[int, ...]:
    """The candidate's seeds (the reference runs the same ones), else 0..seeds-1."""
    return tuple(sorted(side.by_seed)) or tuple(range(config.seeds))


def target_of(layout: Layout, config: Config, frame: pl.DataFrame, label: str) -> Target:
    """Where `label`'s results came from: its branch head for an idea with a branch, else the
    commit of its latest valid run (the baseline: main at the time of its runs)."""
    import polars as pl

    branch = config.main_branch if label == BASELINE else f"exp/{label}"
    if label != BASELINE:
        head = gitops.resolve_commit(layout.root, f"refs/heads/{branch}")
        if head:
            return Target(label, branch, head)
    rows = valid_runs(frame, config).filter(pl.col("idea") == label)
    for commit in reversed(rows.get_column("commit").to_list()):
        found = commit and gitops.resolve_commit(layout.root, commit)
        if found:
            return Target(label, branch, found)
    head = gitops.resolve_commit(layout.root, f"refs/heads/{branch}")
    if head is None:
        raise HarnessError(
            f"cannot confirm against {label!r}: neither its runs' commits nor branch {branch} "
            "exist here; fetch them, or unset [tool.harness] confirm"
        )
    return Target(label, branch, head)


def head_target(layout: Layout, config: Config, frame: pl.DataFrame, head: Head) -> Target:
    """The reference of a held-out confirmation: the head of the line, at its commit. Its
    rows are the baseline's (idea `baseline`); it is named "baseline" only in review mode
    while main's head is the code the first baseline was measured on, else as the head it
    is (in trunk mode, always: the line is the trunk)."""
    import polars as pl

    target = Target(BASELINE, head.branch, head.commit)
    first = valid_runs(frame, config).filter(pl.col("idea") == BASELINE).head(1).to_dicts()
    original = first and _code_of_row(layout, config, first[0]) == head.code
    if original and config.advance == "review":
        return target
    return replace(target, name=f"head {head.label}")


def _code_of_row(layout: Layout, config: Config, row: dict[str, Any]) -> str | None:
    if row.get("code"):
        return str(row["code"])
    commit = row.get("commit")
    return code_of(layout.root, commit, record=record_paths(config)) if commit else None


def judge(
    config: Config,
    *,
    seeds: tuple[int, ...],
    candidate: Target,
    reference: Target,
    candidate_rows: tuple[dict[str, Any], ...],
    reference_rows: tuple[dict[str, Any], ...],
) -> Confirmation:
    """Does the candidate's win hold on the held-out metric?"""
    metric = confirm_metric(config)
    missing = []
    for target, rows in ((candidate, candidate_rows), (reference, reference_rows)):
        have = {row["seed"] for row in rows}
        absent = [str(seed) for seed in seeds if seed not in have]
        if absent:
            missing.append(f"{target.shown} (seeds {', '.join(absent)})")
    comparison, holds = None, False
    if missing:
        reason = f"no held-out {metric} yet for {' and '.join(missing)}"
    else:
        comparison = compare_sides(
            _side(reference.shown, reference_rows),
            _side(candidate.shown, candidate_rows),
            config=replace(config, metric=metric),
            noise=NOISE,
        )
        holds = beats(comparison.improvement, comparison.confidence, min_effect=config.min_effect)
        reason = f"held-out {metric}: {comparison.verdict}"
    return Confirmation(
        metric=metric,
        seeds=seeds,
        candidate=candidate,
        reference=reference,
        candidate_rows=candidate_rows,
        reference_rows=reference_rows,
        comparison=comparison,
        holds=holds,
        reason=reason,
    )


def _side(label: str, rows: tuple[dict[str, Any], ...]) -> Side:
    by_seed = {int(row["seed"]): float(row["value"]) for row in rows}
    values = tuple(by_seed.values())
    std = statistics.stdev(values) if len(values) > 1 else None
    return Side(label, values, by_seed, statistics.fmean(values), std, len(values))


def confirm(
    layout: Layout,
    config: Config,
    frame: pl.DataFrame,
    *,
    candidate: Target,
    reference: Target,
    seeds: tuple[int, ...],
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> Confirmation:
    """Run the confirmation (every seed of both sides), record it, judge it from those
    runs alone, add a journal entry."""
    ran: list[dict[str, Any]] = []
    sides = []
    for target in (candidate, reference):
        new = run_target(
            layout, config, target, seeds, against=(candidate, reference), sinks=(stdout, stderr)
        )
        ran += new
        valid = [row for row in new if row["status"] == STATUS and row["integrity"] == "ok"]
        sides.append(tuple(row for row in valid if is_finite(row["value"])))
    result = judge(
        config,
        seeds=seeds,
        candidate=candidate,
        reference=reference,
        candidate_rows=sides[0],
        reference_rows=sides[1],
    )
    result = replace(result, ran=tuple(ran))
    failed = [row for row in ran if row["status"] != STATUS or row["integrity"] != "ok"]
    if failed:
        listed = ", ".join(f"{r['idea']} seed {r['seed']} {r['status']}" for r in failed)
        result = replace(result, holds=False, reason=f"confirmation runs failed ({listed})")
    add_entry(layout, confirm_entry(result))
    return result


def run_target(
    layout: Layout,
    config: Config,
    target: Target,
    seeds: tuple[int, ...],
    *,
    against: tuple[Target, Target],
    sinks: tuple[TextIO | None, TextIO | None],
) -> list[dict[str, Any]]:
    """Run the confirm command for `seeds` at `target.commit` in a throwaway worktree."""
    from loguru import logger

    which = "-".join(map(str, seeds))  # one place per seed list: queued seeds may run at once
    place = layout.worktrees_dir / f".confirm-{target.label}-{target.commit[:10]}-s{which}"
    if place.exists():
        shutil.rmtree(place)
        gitops.prune_worktrees(layout.root)
    gitops.add_detached_worktree(layout.root, place, commit=target.commit)
    try:
        rows = []
        for number, seed in enumerate(seeds, start=1):
            logger.info(
                f"held-out confirmation: {target.shown} at {target.commit[:10]}, seed {seed} "
                f"({number} of {len(seeds)}): {' '.join(config.confirm)}"
            )
            rows.append(
                run_seed(layout, config, target, seed, place=place, against=against, sinks=sinks)
            )
        return rows
    finally:
        gitops.remove_worktree(layout.root, place, force=True)


def run_seed(
    layout: Layout,
    config: Config,
    target: Target,
    seed: int,
    *,
    place: Path,
    against: tuple[Target, Target],
    sinks: tuple[TextIO | None, TextIO | None],
) -> dict[str, Any]:
    """One recorded confirmation run (status `confirm` when it gave its metric)."""
    here = find_layout(place)
    held_out = replace(config, metric=confirm_metric(config))
    candidate, reference = against
    question = (
        f"held-out confirmation: does {candidate.shown} beat {reference.shown} "
        f"on {held_out.metric}?"
    )
    # the queue task's token and id (a queued confirmation): the next submit finds it by them
    request = with_environment(EvalRequest(seed=seed, question=question, idea=target.label))
    row = describe_worktree(here, held_out, request=request, seed=seed, run_id=new_run_id())
    started_ns = time.time_ns()
    integrity = check_integrity(place, root=layout.root, config=config)
    row.update(branch=target.branch, frozen_sha=integrity.frozen_sha, integrity=integrity.status)
    argv = [*resolve_argv(config.confirm), "--seed", str(seed)]
    log_path = layout.state_dir / "logs" / f"{row['run_id']}.log"
    run = open_run(layout, row, command=argv, log_path=log_path, entry=False)
    row.update(
        execute(
            argv,
            layout=here,
            config=held_out,
            row=row,
            log_path=log_path,
            timeout=config.timeout,
            sinks=sinks,
            run=run,
        )
    )
    flag_changes(row, before=integrity, layout=here, config=config, since=started_ns)
    if row["status"] == "ok":
        row["status"] = STATUS
    finalise(layout, run, row)  # the closed record holds the row as appended (harness verify)
    append_rows(layout, [row])
    close_run(layout, run.run_id)  # the confirmation's own entry follows, for all its runs
    return row


def confirm_entry(result: Confirmation) -> str:
    """The journal entry of a confirmation: both sides per seed, and the verdict."""
    outcome = "holds" if result.holds else "does not hold"
    lines = [
        f"## {heading_time()} · confirm · {result.candidate.shown} vs "
        f"{result.reference.shown} · {outcome}",
        "",
        f"- Question: does {result.candidate.shown} beat {result.reference.shown} on the "
        f"held-out {result.metric}, with seeds {', '.join(map(str, result.seeds))}?",
    ]
    for target, rows in (
        (result.candidate, result.candidate_rows),
        (result.reference, result.reference_rows),
    ):
        values = ", ".join(f"seed {row['seed']}: {row['value']:.6g}" for row in rows) or "none"
        lines.append(f"- Observation: {target.shown} at {target.commit[:10]}: {values}")
    if result.ran:
        lines.append(f"- Ran: {', '.join(row['run_id'] for row in result.ran)}")
    lines.append(f"- Verdict: {result.reason}")
    return "\n".join(lines) + "\n"
