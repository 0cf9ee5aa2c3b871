"""The chain of heads of the line as the steps of the best-so-far line of a plot.

Each head the line has had (harness.loop.ratchet.line_history) with valid runs of its code
is one step: its mean over seeds and the standard error of that mean, starting at the run
that completed its seeds (its last run when it has fewer), in the order runs were recorded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.config import Config
from harness.layout import Layout
from harness.loop.ratchet import line_history, standard_error
from harness.record.code import fill_codes
from harness.record.reference import side_of_code
from harness.reports.svgplot import ChainStep

if TYPE_CHECKING:
    import polars as pl


def chain_steps(layout: Layout, config: Config, frame: pl.DataFrame) -> tuple[ChainStep, ...]:
    """The steps of the heads, in the row order of `frame`'s runs of the metric."""
    import polars as pl

    runs = fill_codes(frame.filter(pl.col("metric") == config.metric), layout.root, config)
    runs = runs.with_row_index("position")
    steps: list[ChainStep] = []
    for head in line_history(layout, config):
        side = side_of_code(runs, config, head.code, head.label)
        if side is None:
            continue
        index = max(completed_at(runs, config, head.code), steps[-1].index if steps else 0)
        se = standard_error(side)
        spread = f" ± {se:.4g} (se)" if se is not None else ""
        label = f"head {head.label}: {side.mean:.6g}{spread}, mean of {side.n} seed(s)"
        steps.append(ChainStep(index, side.mean, se, label))
    return tuple(steps)


def completed_at(runs: pl.DataFrame, config: Config, code: str) -> int:
    """The position of the run that gave `code` its `seeds`-th seed (else its last run)."""
    import polars as pl

    from harness.record.results import valid_runs

    mine = valid_runs(runs, config).filter(pl.col("code") == code)
    seen: set[object] = set()
    for position, seed in mine.select("position", "seed").iter_rows():
        seen.add(seed)
        if len(seen) >= config.seeds:
            return int(position)
    return int(mine.get_column("position")[-1])
