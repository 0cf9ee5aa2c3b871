"""Where an idea stands against every other result on record (docs/architecture.md §4).

An idea is a winner when it beats the valid results of every other idea and of the
baseline, each by more than `min_effect` and by more than the noise. The comparisons
themselves are `harness.record.compare`'s; this module only lines them up, the strongest
competitor first, and says in one sentence why an idea is or is not a winner.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.config import Config
from harness.errors import UsageError
from harness.record.compare import (
    Comparison,
    Noise,
    Side,
    baseline_noise,
    beats,
    compare_sides,
    side_from_valid,
)
from harness.record.results import valid_runs

if TYPE_CHECKING:
    import polars as pl

BASELINE = "baseline"


@dataclass(frozen=True)
class Standing:
    side: Side  # the idea's own valid runs
    noise: Noise
    min_effect: float
    others: tuple[Comparison, ...]  # each other result (a) against the idea (b), best first

    @property
    def best(self) -> Comparison | None:
        """The comparison with the strongest other result."""
        return self.others[0] if self.others else None

    @property
    def baseline(self) -> Comparison | None:
        return next((c for c in self.others if c.a.label == BASELINE), None)

    @property
    def unbeaten(self) -> Comparison | None:
        """The first other result the idea does not beat, if any."""
        return next((c for c in self.others if not self.is_beaten(c)), None)

    def is_beaten(self, comparison: Comparison) -> bool:
        return beats(comparison.improvement, comparison.confidence, min_effect=self.min_effect)

    @property
    def is_winner(self) -> bool:
        return bool(self.others) and self.unbeaten is None

    @property
    def reason(self) -> str:
        name = self.side.label
        if not self.others:
            return f"no other valid result to compare {name} with: run `harness baseline` first"
        missed = self.unbeaten
        if missed is not None:
            return f"{name} does not beat {missed.a.label}: {missed.verdict}"
        best = self.others[0]
        rest = len(self.others) - 1
        tail = f", and the {rest} other result(s) too" if rest else ""
        return f"{name} beats the best other result, {best.a.label}: {best.verdict}{tail}"


def valid_side(frame: pl.DataFrame, config: Config, label: str) -> Side:
    """The valid runs of `label`; a clear error when it has none (with what it has)."""
    import polars as pl

    rows = frame.filter(pl.col("idea") == label)
    valid = valid_runs(rows, config)
    if valid.is_empty():
        statuses = rows.get_column("status").cast(str).fill_null("?").to_list()
        if not statuses:
            raise UsageError(
                f"idea {label!r} has no run recorded: queue its evaluation first "
                f"(`harness queue add --seeds {config.seeds} -- just eval` in its worktree)"
            )
        counts = ", ".join(f"{statuses.count(s)} {s}" for s in dict.fromkeys(statuses))
        raise UsageError(
            f"idea {label!r} has no valid run ({counts}; a valid run has status ok and "
            f"integrity ok): fix its code and run `just eval` again in its worktree, or "
            f"abandon it with `harness idea set {label} --status abandoned --reason ...`"
        )
    return side_from_valid(label, valid)


def standing(frame: pl.DataFrame, config: Config, label: str) -> Standing:
    """`label` against every other idea (and the baseline) that has a valid run."""
    import polars as pl

    side = valid_side(frame, config, label)
    noise = baseline_noise(frame, config)
    valid = valid_runs(frame, config)
    others = []
    for other in dict.fromkeys(valid.get_column("idea").to_list()):
        if other and other != label:
            theirs = side_from_valid(other, valid.filter(pl.col("idea") == other))
            others.append(compare_sides(theirs, side, config=config, noise=noise))
    sign = 1 if config.direction == "min" else -1
    others.sort(key=lambda c: sign * c.a.mean)
    return Standing(side, noise, config.min_effect, tuple(others))
