"""The progression of the metric over all runs, as a self-contained SVG (no scripts, no fonts).

Every valid run is a point; the best-so-far line is the chain of heads of the line (the
reference every idea is judged against): one step per accepted change, at its mean over
seeds, with an error bar of mean ± the standard error over seeds (without a chain, it
steps through the single runs that improved on all before them); runs of ideas that
became pull requests are ringed; integrity-flagged runs are hollow orange
points, and runs without a value (crashes, timeouts, kills) are red ticks on a band under
the plot, so that nothing that ran is hidden and nothing invalid looks like a result.
The y range is fitted to the bulk of the valid values, so one diverged run cannot
flatten the rest; points beyond it are drawn as triangles on the edge.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from html import escape
from typing import Any

WIDTH, HEIGHT = 960, 340
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 58
BAND = 14  # the strip under the plot for runs without a value

Scale = Callable[[float], float]  # data coordinate -> pixel


@dataclass(frozen=True)
class PlotPoint:
    index: int  # position in time order
    value: float | None  # None: the run produced no value
    kind: str  # "valid", "modified" (integrity), or "failed"
    label: str  # tooltip: run id, idea, value
    highlight: bool = False  # an idea that became a pull request


def points_from_rows(
    rows: Iterable[Mapping[str, Any]], *, highlight: Callable[[str], bool]
) -> list[PlotPoint]:
    """Results rows of one metric, in the order recorded, classified for a plot: a run
    without a finite value or not `ok` is failed; an ok run whose FROZEN files differ
    from main is modified; `highlight(idea)` marks the runs to set apart."""
    points = []
    for index, row in enumerate(rows):
        value = row["value"]
        if row["status"] != "ok" or value is None or not math.isfinite(value):
            kind, value = "failed", None
        else:
            kind = "valid" if row["integrity"] == "ok" else "modified"
        shown = "no value" if value is None else f"{value:.6g}"
        label = f"{row['run_id']} · {row['idea']} · seed {row['seed']} · {row['status']} · {shown}"
        points.append(PlotPoint(index, value, kind, label, highlight=highlight(row["idea"])))
    return points


@dataclass(frozen=True)
class ChainStep:
    """A head of the line in the plot: from the run that completed its seeds, its mean."""

    index: int  # position in time order where it starts
    mean: float
    se: float | None  # the standard error of the mean over seeds (None below two seeds)
    label: str  # tooltip: the head, its mean ± se, its seeds


# The look of a plot that stands alone (a report's file); the dashboard styles its own.
FILE_STYLE = (
    "svg { font: 12px system-ui, sans-serif; background: #fff; } "
    ".frame { fill: #fbfbfc; stroke: #e3e6eb; } .grid { stroke: #edf0f3; } "
    ".run { fill: #5b7fb3; opacity: .75; } .win { fill: #1a7f37; stroke: #0b4f1f; "
    "stroke-width: 2; } .modified { fill: none; stroke: #b45309; stroke-width: 1.5; } "
    ".failed { stroke: #c62828; stroke-width: 1.5; } .best { fill: none; stroke: #1a7f37; "
    "stroke-width: 2; } .spread { stroke: #1a7f37; stroke-width: 1.5; } "
    ".tick { fill: #667085; } .axis, .legend { fill: #1d2330; }"
)


def progression_file(
    points: list[PlotPoint],
    *,
    metric: str,
    direction: str,
    highlighted: str,
    chain: tuple[ChainStep, ...] = (),
) -> str:
    """The same plot as a standalone SVG file: its own style, and a legend line on top."""
    body = progression_svg(points, metric=metric, direction=direction, chain=chain)
    best = "the head of the line: green steps, mean ± se" if chain else "best so far: green line"
    legend = (
        f'<text x="{LEFT}" y="11" class="legend">{escape(highlighted)}: large green points; '
        f"other valid runs: blue; {best}; FROZEN files changed: hollow; "
        "no value: red ticks</text>"
    )
    head, _, rest = body.partition(">")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'{head} width="{WIDTH}" height="{HEIGHT}"><style>{FILE_STYLE}</style>\n{legend}{rest}\n'
    )


def progression_svg(
    points: list[PlotPoint], *, metric: str, direction: str, chain: tuple[ChainStep, ...] = ()
) -> str:
    """The plot as an `<svg>` element (a string); `chain` draws the best-so-far line as
    the steps of the heads of the line, else the single runs that improved."""
    if not points:
        return _empty(metric)
    valid = [p.value for p in points if p.kind == "valid" and p.value is not None]
    low, high = _value_range(
        valid or [p.value for p in points if p.value is not None] or [0.0], direction
    )
    width = WIDTH - LEFT - RIGHT
    height = HEIGHT - TOP - BOTTOM - BAND
    last = max(p.index for p in points) or 1

    def x(index: float) -> float:
        return LEFT + width * index / last

    def y(value: float) -> float:
        return TOP + height * (high - value) / (high - low)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-label="{escape(metric)} over all runs" class="progression">',
        f'<rect x="{LEFT}" y="{TOP}" width="{width}" height="{height}" class="frame"/>',
    ]
    parts += _y_axis(low, high, y, metric)
    parts += _x_axis(last, x)
    if chain:
        parts += _chain_line(chain, x, y, low, high, last)
    else:
        parts.append(_best_line(points, x, y, low, high, direction))
    for point in points:
        parts.append(_mark(point, x, y, low, high))
    parts.append("</svg>")
    return "\n".join(parts)


def _empty(metric: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} 80" class="progression">'
        f'<text x="20" y="45">no runs of {escape(metric)} yet</text></svg>'
    )


def _value_range(values: list[float], direction: str) -> tuple[float, float]:
    """The whole of the best end, and the bulk (97%) of the worst end, of the values."""
    ordered = sorted(values)
    cut = int(0.03 * len(ordered))  # nothing is cut from fewer than 34 values
    if direction == "min":
        low, high = ordered[0], ordered[len(ordered) - 1 - cut]
    else:
        low, high = ordered[cut], ordered[-1]
    if high - low < 1e-12:
        low, high = low - 0.5, high + 0.5
    margin = (high - low) * 0.06
    return low - margin, high + margin


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    raw = (high - low) / count
    step = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= step * factor:
            step *= factor
            break
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(count + 2) if first + i * step <= high]


def _y_axis(low: float, high: float, y: Scale, metric: str) -> list[str]:
    parts = []
    for tick in _ticks(low, high):
        ty = y(tick)
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{ty:.1f}" y2="{ty:.1f}" class="grid"/>'
        )
        parts.append(
            f'<text x="{LEFT - 6}" y="{ty + 4:.1f}" class="tick" '
            f'text-anchor="end">{tick:.4g}</text>'
        )
    parts.append(
        f'<text x="14" y="{TOP + 10}" class="axis" transform="rotate(-90 14 {TOP + 10})" '
        f'text-anchor="end">{escape(metric)}</text>'
    )
    return parts


def _x_axis(last: int, x: Scale) -> list[str]:
    base = HEIGHT - BOTTOM
    parts = [
        f'<text x="{LEFT - 6}" y="{base - 3}" class="tick" text-anchor="end">failed</text>',
        f'<text x="{(LEFT + WIDTH - RIGHT) / 2}" y="{HEIGHT - 8}" class="axis" '
        'text-anchor="middle">run, in the order recorded</text>',
    ]
    for tick in _ticks(0, last, 6):
        if tick == int(tick):
            parts.append(
                f'<text x="{x(int(tick)):.1f}" y="{base + 18}" class="tick" '
                f'text-anchor="middle">{int(tick) + 1}</text>'
            )
    return parts


def best_so_far(points: list[PlotPoint], direction: str) -> list[tuple[int, float]]:
    """(index, value) of every valid run that improved on all valid runs before it."""
    steps: list[tuple[int, float]] = []
    for point in points:
        if point.kind != "valid" or point.value is None:
            continue
        if not steps or _better(point.value, steps[-1][1], direction):
            steps.append((point.index, point.value))
    return steps


def _better(value: float, reference: float, direction: str) -> bool:
    return value < reference if direction == "min" else value > reference


def _best_line(
    points: list[PlotPoint], x: Scale, y: Scale, low: float, high: float, direction: str
) -> str:
    steps = best_so_far(points, direction)
    if not steps:
        return ""

    def clamp(value: float) -> float:
        return y(min(max(value, low), high))

    first_index, first_value = steps[0]
    path = [f"M{x(first_index):.1f},{clamp(first_value):.1f}"]
    for index, value in steps[1:]:
        path.append(f"H{x(index):.1f} V{clamp(value):.1f}")
    path.append(f"H{x(max(p.index for p in points)):.1f}")
    return f'<path d="{" ".join(path)}" class="best"><title>best so far</title></path>'


def _chain_line(
    chain: tuple[ChainStep, ...], x: Scale, y: Scale, low: float, high: float, last: int
) -> list[str]:
    """Each head a step at its mean, held until the next, with its error bar."""

    def clamp(value: float) -> float:
        return y(min(max(value, low), high))

    path = [f"M{x(chain[0].index):.1f},{clamp(chain[0].mean):.1f}"]
    path += [f"H{x(step.index):.1f} V{clamp(step.mean):.1f}" for step in chain[1:]]
    path.append(f"H{x(last):.1f}")
    title = "the head of the line (mean over seeds ± se)"
    parts = [f'<path d="{" ".join(path)}" class="best"><title>{title}</title></path>']
    for step in chain:
        px, se = x(step.index), step.se or 0.0
        top, bottom = clamp(step.mean + se), clamp(step.mean - se)
        parts.append(
            f'<path d="M{px:.1f},{top:.1f} V{bottom:.1f} M{px - 4:.1f},{top:.1f} H{px + 4:.1f} '
            f'M{px - 4:.1f},{bottom:.1f} H{px + 4:.1f}" class="spread">'
            f"<title>{escape(step.label)}</title></path>"
        )
    return parts


def _mark(point: PlotPoint, x: Scale, y: Scale, low: float, high: float) -> str:
    px = x(point.index)
    title = f"<title>{escape(point.label)}</title>"
    if point.value is None or point.kind == "failed":
        base = HEIGHT - BOTTOM
        return (
            f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{base - BAND + 2}" y2="{base - 2}" '
            f'class="failed">{title}</line>'
        )
    css = "modified" if point.kind == "modified" else ("win" if point.highlight else "run")
    if point.value > high or point.value < low:
        edge = y(high) if point.value > high else y(low)
        tip = 6 if point.value > high else -6
        return (
            f'<path d="M{px - 4:.1f},{edge:.1f} H{px + 4:.1f} L{px:.1f},{edge + tip:.1f} Z" '
            f'class="{css} off">{title}</path>'
        )
    radius = 5 if point.highlight else 3
    return (
        f'<circle cx="{px:.1f}" cy="{y(point.value):.1f}" r="{radius}" '
        f'class="{css}">{title}</circle>'
    )
