"""Text and JSON renderings of the record for `harness results`."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from harness.fileio import format_table
from harness.record.compare import Comparison, Side

if TYPE_CHECKING:
    import polars as pl

TABLE = (  # column, heading, widest (None: the run id is shown whole, to be copied)
    ("run_id", "run", None),
    ("timestamp", "when (UTC)", 16),
    ("idea", "idea", 22),
    ("seed", "seed", 6),
    ("value", "value", 12),
    ("status", "status", 7),
    ("integrity", "integ", 8),
    ("duration_s", "secs", 9),
    ("question", "question", 40),
)
NUMBERS = {3, 4, 7}  # seed, value, secs: right-aligned


def render_table(frame: pl.DataFrame, *, show: tuple[str, ...] = ()) -> str:
    """One line per run, aligned, long texts clipped; `show` adds metrics of `extra`."""
    if frame.is_empty():
        return "no runs recorded yet: run `just eval` or `harness baseline`"
    shown = [(key, key, max(8, len(key))) for key in show]
    columns = [*TABLE[:-1], *shown, TABLE[-1]]
    limits = {i: width for i, (_, _, width) in enumerate(columns) if width is not None}
    right = NUMBERS | set(range(len(TABLE) - 1, len(columns) - 1))  # shown metrics too
    cells = (
        [_cell(name, values[name]) for name, _, _ in columns]
        for values in (row | shown_values(row, show) for row in frame.iter_rows(named=True))
    )
    lines = format_table(
        cells, headings=[heading for _, heading, _ in columns], right=right, limits=limits
    )
    return "\n".join(lines)


def shown_values(row: dict[str, Any], keys: tuple[str, ...]) -> dict[str, str]:
    """{key: text} of the `extra` metrics named by [tool.harness] show (empty when absent)."""
    if not keys:
        return {}
    try:
        extra = json.loads(row.get("extra") or "{}")
    except ValueError:
        extra = {}
    if not isinstance(extra, dict):
        extra = {}
    return {key: _shown(extra.get(key)) for key in keys}


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else str(value)


def _cell(name: str, value: Any) -> str:
    if value is None:
        return ""
    if name == "value":
        return f"{value:.6g}"
    if name == "duration_s":
        return f"{value:.1f}"
    if name == "timestamp":
        return str(value).replace("T", " ")[:16]
    return str(value)


def render_best(row: dict[str, Any] | None, *, metric: str, direction: str) -> str:
    if row is None:
        return f"no valid {metric} yet (status ok and integrity ok): run `harness baseline`"
    order = "lowest" if direction == "min" else "highest"
    return (
        f"best single run {metric}: {row['value']:.6g} ({order} valid), run {row['run_id']}, "
        f"idea {row['idea']}, seed {row['seed']}, commit {str(row['commit'] or '')[:10]}"
    )


def render_comparison(c: Comparison, *, metric: str) -> str:
    lines = [_side_line("reference (A)", c.a), _side_line("candidate (B)", c.b)]
    lines.append(
        f"candidate - reference: {c.difference:+.6g} {metric}; improvement of the candidate "
        f"{c.improvement:+.6g} (positive: {c.b.label} is better)"
    )
    if c.noise.sigma is None:
        lines.append(f"noise: {c.noise.method}")
    else:
        lines.append(f"noise: {c.noise.sigma:.6g} ({c.noise.method}, {c.noise.seeds} seeds)")
    if c.standard_error is not None and c.confidence is not None:
        lines.append(
            f"standard error {c.standard_error:.6g}; confidence {c.confidence:+.2f} "
            f"(the candidate's improvement / standard error; >= 2: {c.b.label} is better "
            f"beyond the noise, <= -2: {c.a.label} is)"
        )
    if c.paired is not None:
        pairs = ", ".join(
            f"{s}: {d:+.6g}" for s, d in zip(c.paired.seeds, c.paired.differences, strict=True)
        )
        confidence = f", confidence {c.paired.confidence:+.2f}" if c.paired.confidence else ""
        lines.append(
            f"paired by seed (candidate - reference): {pairs}; mean {c.paired.mean:+.6g}"
            f"{confidence}"
        )
    lines.append(f"min_effect: {c.min_effect:g}")
    lines.append(f"verdict: {c.verdict}")
    return "\n".join(lines)


def _side_line(name: str, side: Side) -> str:
    std = f"{side.std:.6g}" if side.std is not None else "n/a"
    runs = f" ({side.runs} runs)" if side.runs != side.n else ""
    return f"{name} {side.label}: mean {side.mean:.6g}, std {std}, n {side.n}{runs}"


def comparison_dict(c: Comparison) -> dict[str, Any]:
    data = asdict(c)
    for key in ("a", "b"):
        data[key]["n"] = getattr(c, key).n
        data[key]["by_seed"] = {str(k): v for k, v in data[key]["by_seed"].items()}
    return data
