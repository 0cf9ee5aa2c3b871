"""Text and JSON renderings of the record for `harness results`."""

from __future__ import annotations

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


def render_table(frame: pl.DataFrame) -> str:
    """One line per run, aligned, long texts clipped."""
    if frame.is_empty():
        return "no runs recorded yet: run `just eval` or `harness baseline`"
    rows = frame.select([name for name, _, _ in TABLE]).iter_rows(named=True)
    limits = {i: width for i, (_, _, width) in enumerate(TABLE) if width is not None}
    return "\n".join(
        format_table(
            ([_cell(name, row[name]) for name, _, _ in TABLE] for row in rows),
            headings=[heading for _, heading, _ in TABLE],
            right=NUMBERS,
            limits=limits,
        )
    )


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
        f"best {metric}: {row['value']:.6g} ({order} valid), run {row['run_id']}, "
        f"idea {row['idea']}, seed {row['seed']}, commit {str(row['commit'] or '')[:10]}"
    )


def render_comparison(c: Comparison, *, metric: str) -> str:
    lines = [_side_line("A", c.a), _side_line("B", c.b)]
    lines.append(f"B - A: {c.difference:+.6g} {metric}; improvement {c.improvement:+.6g}")
    noise = f"{c.noise.sigma:.6g} ({c.noise.method}, {c.noise.seeds} seeds)"
    lines.append(f"noise: {noise if c.noise.sigma is not None else c.noise.method}")
    if c.standard_error is not None and c.confidence is not None:
        lines.append(
            f"standard error {c.standard_error:.6g}; confidence {c.confidence:+.2f} "
            "(improvement / standard error; >= 2 is beyond the noise)"
        )
    if c.paired is not None:
        pairs = ", ".join(
            f"{s}: {d:+.6g}" for s, d in zip(c.paired.seeds, c.paired.differences, strict=True)
        )
        confidence = f", confidence {c.paired.confidence:+.2f}" if c.paired.confidence else ""
        lines.append(f"paired by seed (B - A): {pairs}; mean {c.paired.mean:+.6g}{confidence}")
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
