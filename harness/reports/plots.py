"""The report's plot: every valid run over time, one idea's runs highlighted, best so far.

matplotlib with the Agg backend (no display needed), imported only here and only when a
report is rendered.
"""

from __future__ import annotations

from pathlib import Path

from harness.reports.svgplot import PlotPoint, best_so_far


def save_progress_plot(
    points: list[PlotPoint], target: Path, *, metric: str, direction: str, idea: str
) -> Path:
    """Write a PNG of `points` (highlight = a run of `idea`) to `target`; returns it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    valid = [p for p in points if p.kind == "valid" and p.value is not None]
    others = [p for p in valid if not p.highlight]
    mine = [p for p in valid if p.highlight]
    flagged = [p for p in points if p.kind == "modified" and p.value is not None]
    failed = [p for p in points if p.kind == "failed" or p.value is None]

    figure, axes = plt.subplots(figsize=(8, 4), dpi=110)
    axes.scatter(
        *_xy(others),
        s=14,
        color="#8aa1c1",
        label="other runs",
        zorder=2,
    )
    axes.scatter(
        *_xy(mine),
        s=40,
        color="#d1495b",
        edgecolor="black",
        linewidth=0.6,
        label=f"{idea}",
        zorder=4,
    )
    if flagged:
        axes.scatter(
            *_xy(flagged),
            s=30,
            facecolor="none",
            edgecolor="#e08a00",
            label="integrity modified",
            zorder=3,
        )
    steps = best_so_far(points, direction)
    if steps:
        last = max(p.index for p in points)
        xs = [i + 1 for i, _ in steps] + [last + 1]
        ys = [v for _, v in steps] + [steps[-1][1]]
        axes.step(
            xs, ys, where="post", color="#1a7f37", linewidth=1.8, label="best so far", zorder=3
        )
    if failed:
        bottom = axes.get_ylim()[0]
        axes.scatter(
            [p.index + 1 for p in failed],
            [bottom] * len(failed),
            marker="x",
            color="#c62828",
            s=20,
            label="failed (no value)",
            zorder=3,
            clip_on=False,
        )
    axes.set_xlabel("run, in the order recorded")
    axes.set_ylabel(f"{metric} ({'lower' if direction == 'min' else 'higher'} is better)")
    axes.grid(alpha=0.3)
    axes.legend(loc="best", fontsize=8)
    figure.tight_layout()
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp.png")
    figure.savefig(temporary)
    plt.close(figure)
    temporary.replace(target)
    return target


def _xy(points: list[PlotPoint]) -> tuple[list[int], list[float]]:
    """1-based run positions and values of points that have a value."""
    pairs = [(p.index + 1, p.value) for p in points if p.value is not None]
    return [x for x, _ in pairs], [y for _, y in pairs]
