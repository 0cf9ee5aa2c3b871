"""RESEARCH_JOURNAL.md: an entry per recorded run, and the researcher's own notes.

Entries are prepended to the root copy below its header (the APPEND-ONLY rule) with an
atomic replace, under the same lock as results.tsv. A run entry states what was asked
(Q, H), what was measured, the best so far and the difference, whether the expected
effect was seen against the noise, and any integrity warning. A note keeps the
observation (measured) apart from the inference (interpretation).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from harness.config import Config
from harness.errors import UsageError
from harness.layout import Layout
from harness.record.compare import (
    baseline_noise,
    effect_threshold,
    expected_number,
    judge_expected,
)
from harness.record.reference import Head, side_of_code
from harness.record.results import best_run, is_finite, record_lock, sanitise, valid_runs
from harness.rules.appendonly import prepend_entry
from harness.rules.integrity import OTHER_COMMAND

if TYPE_CHECKING:
    import polars as pl

MAX_DETAIL = 400
HEADING_START = re.compile(r"^(#)", re.MULTILINE)


def heading_time() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def add_entry(layout: Layout, entry: str) -> None:
    """Prepend `entry` to the root journal under the record lock."""
    prepend_entry(layout.journal, entry, lock_path=record_lock(layout))


def has_run_entry(journal_text: str, run_id: str) -> bool:
    """Whether the journal holds the entry of run `run_id` (its heading names the run)."""
    return f" · run {run_id} · " in journal_text


def run_entry(
    row: dict[str, Any],
    *,
    config: Config,
    frame: pl.DataFrame | None,
    changed: tuple[str, ...] = (),
    head: Head | None = None,
) -> str:
    """The journal entry of one recorded run; `frame` is results.tsv (None: unreadable).

    `changed` lists the FROZEN files that differ from the main branch, if known; `head` is
    the head of the line, the reference the run is set against once it is measured.
    """
    seed = "" if row.get("seed") is None else f" seed {row['seed']}"
    lines = [
        f"## {heading_time()} · run {row['run_id']} · {row['idea']}{seed} · {row['status']}",
        "",
        f"- Question: {_text(row.get('question'))}",
        f"- Hypothesis: {_text(row.get('hypothesis'))}",
        f"- Expected: {_expected(row.get('expected'), row.get('metric'))}",
        f"- Observation: {_observation(row)}",
    ]
    if row.get("queue_task"):
        lines.append(f"- Queue task: {row['queue_task']}")
    if frame is None:
        lines.append(
            "- Best single run so far: unknown (results.tsv cannot be read: `harness results`)"
        )
    else:
        lines += _against_record(row, config=config, frame=frame, head=head)
    if row.get("integrity") == OTHER_COMMAND:
        extra = row["extra"] if isinstance(row.get("extra"), dict) else {}
        lines.append(
            f"- Integrity: command: `{_text(extra.get('command'))}` is not the configured "
            "evaluation; this run never counts as a result"
        )
    elif row.get("integrity") != "ok":
        which = f" ({', '.join(changed)})" if changed else ""
        lines.append(
            f"- Integrity: {row.get('integrity')}: the FROZEN files{which} differ from "
            f"{config.main_branch}; this run never counts as a result"
        )
    return "\n".join(lines) + "\n"


def _text(value: Any) -> str:
    return sanitise(str(value)) if value not in (None, "") else "(not given)"


def _expected(expected: Any, metric: Any) -> str:
    """The expected change as the signed change it is: `-0.02 val_bpb (lower by 0.02)`."""
    change = expected_number(str(expected)) if expected not in (None, "") else None
    if change is None:
        return _text(expected)
    way = "lower" if change < 0 else "higher" if change > 0 else "no change"
    size = f" by {abs(change):g}" if change else ""
    return f"{change:+g} {metric or ''} ({way}{size})".replace("  ", " ")


def _observation(row: dict[str, Any]) -> str:
    where = f"commit {str(row.get('commit') or '?')[:10]}, {row.get('branch') or '?'}"
    where += ", uncommitted changes" if row.get("dirty") else ""
    took = f"{row['duration_s']:.1f} s" if row.get("duration_s") is not None else "?"
    if is_finite(row.get("value")):
        text = f"{row['metric']} = {row['value']:.6g} ({row['status']}, {took}, {where})"
    else:
        text = f"no {row['metric']} ({row['status']}, {took}, {where})"
    if row.get("status") != "ok" and row.get("description"):
        text += f": {_clip(str(row['description']))}"
    return text


def _clip(text: str) -> str:
    text = sanitise(text)
    return text if len(text) <= MAX_DETAIL else "..." + text[-MAX_DETAIL:]


def _against_record(
    row: dict[str, Any], *, config: Config, frame: pl.DataFrame, head: Head | None = None
) -> list[str]:
    import polars as pl

    best = best_run(frame, config, exclude=row["run_id"])
    value: float | None = row.get("value") if row.get("status") == "ok" else None
    lines = []
    if best is None:
        lines.append("- Best single run so far: none (this is the first valid run)")
    else:
        text = (
            f"- Best single run so far: {best['value']:.6g} (run {best['run_id']}, {best['idea']})"
        )
        if is_finite(value):
            difference = value - best["value"]
            better = config.is_better(value, best["value"])
            text += f"; difference {difference:+.6g}, {'a new best' if better else 'not better'}"
        lines.append(text)
    others = frame.filter(pl.col("run_id") != row["run_id"])
    baseline = valid_runs(others, config).filter(pl.col("idea") == "baseline")
    reference = None if baseline.is_empty() else float(baseline.get_column("value").mean())  # type: ignore[arg-type]
    against = "the baseline mean"
    at_head = None if head is None else side_of_code(others, config, head.code, head.label)
    if head is not None and at_head is not None:
        reference, against = at_head.mean, f"the mean of the head {head.label}"
        lines.append(
            f"- Head of the line: {head.label}, mean {at_head.mean:.6g} over {at_head.n} seed(s)"
        )
    observed = value - reference if is_finite(value) and reference is not None else None
    noise = baseline_noise(others, config, head_code=head.code if head else None)
    threshold = effect_threshold(noise, config.min_effect)
    judged = judge_expected(row.get("expected"), observed, threshold)
    lines.append(f"- Expected effect (against {against}): {judged}")
    return lines


def note_entry(observation: str, inference: str | None = None, *, idea: str | None = None) -> str:
    """A researcher's entry: the observation, and the inference kept apart from it."""
    if not observation.strip():
        raise UsageError("--observation is empty: say what was measured or seen")
    topic = f" · {sanitise(idea)}" if idea else ""
    lines = [f"## {heading_time()} · note{topic}", "", f"**Observation.** {_block(observation)}"]
    if inference and inference.strip():
        lines += ["", f"**Inference.** {_block(inference)}"]
    return "\n".join(lines) + "\n"


def _block(text: str) -> str:
    """Free text as a paragraph that cannot start a new entry or heading."""
    return HEADING_START.sub(r"\\\1", text.strip())


def add_note(
    layout: Layout, observation: str, inference: str | None = None, *, idea: str | None = None
) -> str:
    entry = note_entry(observation, inference, idea=idea)
    add_entry(layout, entry)
    return entry
