"""Deciding with the noise in view (docs/architecture.md §4).

The noise is measured on the baseline: the spread of its valid runs over seeds (one value
per seed: a repeated seed would make the spread look smaller than it is), estimated
robustly as 1.4826 times the median absolute deviation, so one odd run does not decide
it. A difference counts only when it is larger than `min_effect` and larger than
`BEYOND_NOISE` standard errors of the difference.

The confidence figure is the improvement divided by its standard error: about 2 or more
is unlikely to be noise; below 1 it is indistinguishable from noise. When both sides ran
the same seeds, the per-seed (paired) differences are reported as well, because the seed's
own effect cancels in them.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.config import Config
from harness.errors import UsageError
from harness.record.results import select_rows, valid_runs

if TYPE_CHECKING:
    import polars as pl

MAD_TO_SIGMA = 1.4826
BEYOND_NOISE = 2.0
NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


@dataclass(frozen=True)
class Noise:
    sigma: float | None  # the spread of one run's value; None: not measured
    seeds: int  # how many baseline seeds it comes from
    method: str  # "MAD of the baseline", "std of the baseline", or why there is none


@dataclass(frozen=True)
class Side:
    label: str
    values: tuple[float, ...]  # one per seed (repeats of a seed averaged)
    by_seed: dict[int, float]  # mean value per seed
    mean: float
    std: float | None  # sample standard deviation; None for a single value
    runs: int  # valid runs, repeats included

    @property
    def n(self) -> int:
        return len(self.values)


@dataclass(frozen=True)
class Paired:
    seeds: tuple[int, ...]
    differences: tuple[float, ...]  # b - a per seed
    mean: float
    confidence: float | None  # mean improvement over its standard error (n >= 2)


@dataclass(frozen=True)
class Comparison:
    a: Side
    b: Side
    difference: float  # mean(b) - mean(a)
    improvement: float  # how much better b is than a, in the metric's direction
    min_effect: float
    noise: Noise
    standard_error: float | None
    confidence: float | None
    paired: Paired | None
    verdict: str


def baseline_noise(frame: pl.DataFrame, config: Config, *, head_code: str | None = None) -> Noise:
    """The noise of one run, from every measured head (docs/architecture.md §4).

    Each code the baseline ran at (and the head's code, whatever ran it) is one group, one
    value per seed; the spread is pooled around each group's own mean, so a head that
    moved never looks like noise and every new head's runs sharpen the estimate.
    """
    import polars as pl

    valid = valid_runs(frame, config)
    measured = pl.col("idea") == "baseline"
    if head_code is not None:
        measured = measured | (pl.col("code") == head_code)
    rows = valid.filter(measured)
    key = pl.coalesce(pl.col("code"), pl.col("commit"), pl.lit(""))
    groups = [samples(group) for _, group in rows.group_by(key, maintain_order=True)]
    groups = [values for values in groups if values]
    if len(groups) <= 1:
        return noise_of(groups[0] if groups else [])
    return pooled_noise(groups)


def pooled_noise(groups: list[list[float]]) -> Noise:
    """The spread of several groups around their own means (robust, as noise_of)."""
    residuals = []
    for values in groups:
        if len(values) > 1:
            middle = statistics.fmean(values)
            scale = math.sqrt(len(values) / (len(values) - 1))  # a mean eats one degree
            residuals += [(v - middle) * scale for v in values]
    count = sum(len(values) for values in groups)
    heads = f"{len(groups)} measured heads"
    if len(residuals) < 2:
        return Noise(None, count, f"not measured: no head of the {heads} has 2 seeds")
    mad = statistics.median(abs(r) for r in residuals) * MAD_TO_SIGMA
    if mad > 0:
        return Noise(mad, count, f"MAD pooled over {heads}")
    spread = math.sqrt(sum(r * r for r in residuals) / len(residuals))
    return Noise(spread, count, f"std pooled over {heads}")


def noise_of(values: list[float]) -> Noise:
    if len(values) < 2:
        return Noise(None, len(values), "not measured: run `harness baseline`")
    middle = statistics.median(values)
    mad = statistics.median(abs(v - middle) for v in values) * MAD_TO_SIGMA
    if mad > 0:
        return Noise(mad, len(values), "MAD of the baseline")
    return Noise(statistics.stdev(values), len(values), "std of the baseline")


def side_of(frame: pl.DataFrame, key: str, config: Config) -> Side:
    """The valid runs of a run id or an idea."""
    rows, kind = select_rows(frame, key)
    valid = valid_runs(rows, config)
    if valid.is_empty():
        statuses = ", ".join(rows.get_column("status").cast(str).fill_null("?").to_list()[:10])
        raise UsageError(
            f"{kind} {key!r} has no valid run (status ok, integrity ok, a finite value; it has: "
            f"{statuses}): nothing to compare"
        )
    return side_from_valid(key, valid)


def side_from_valid(label: str, valid: pl.DataFrame) -> Side:
    """A Side from rows that are all valid runs (at least one)."""
    values = tuple(samples(valid))
    std = statistics.stdev(values) if len(values) > 1 else None
    return Side(label, values, _by_seed(valid), mean_of(values), std, valid.height)


def compare_sides(a: Side, b: Side, *, config: Config, noise: Noise) -> Comparison:
    """B against A: the difference, its standard error and the verdict."""
    difference = b.mean - a.mean
    improvement = -difference if config.direction == "min" else difference
    error = _standard_error(a, b, noise)
    # No fallback to the paired confidence is needed: when two sides share two seeds, each
    # has a spread, so the pooled error exists (zero only if both are constant, and then so
    # are the per-seed differences). tests/test_compare.py checks this on random sides.
    confidence = improvement / error if error else None
    paired = _paired(a, b, config)
    verdict = _verdict(improvement, confidence, config.min_effect, a.label, b.label)
    return Comparison(
        a, b, difference, improvement, config.min_effect, noise, error, confidence, paired, verdict
    )


def compare(frame: pl.DataFrame, a: str, b: str, config: Config) -> Comparison:
    """Compare two ideas or run ids of results.tsv."""
    return compare_sides(
        side_of(frame, a, config),
        side_of(frame, b, config),
        config=config,
        noise=baseline_noise(frame, config),
    )


def _by_seed(rows: pl.DataFrame) -> dict[int, float]:
    """The mean value per seed (runs without a seed are left out)."""
    grouped: dict[int, list[float]] = {}
    for seed, value in zip(rows.get_column("seed"), rows.get_column("value"), strict=True):
        if seed is not None:
            grouped.setdefault(int(seed), []).append(float(value))
    return {seed: mean_of(values) for seed, values in sorted(grouped.items())}


def mean_of(values: Sequence[float]) -> float:
    """The mean of finite values; never overflows (the sum of values near 1e308 can)."""
    try:
        return statistics.fmean(values)
    except OverflowError:
        return math.fsum(value / len(values) for value in values)


def samples(rows: pl.DataFrame) -> list[float]:
    """One value per seed (a repeated seed is one sample), plus every run without a seed."""
    unseeded = rows.filter(rows.get_column("seed").is_null()).get_column("value").to_list()
    return list(_by_seed(rows).values()) + [float(v) for v in unseeded]


def _standard_error(a: Side, b: Side, noise: Noise) -> float | None:
    """From the baseline noise when measured, else pooled from the two sides.

    A side whose own spread over seeds is larger than the baseline noise brings its own
    spread: a change can make a model less stable, and the baseline's few seeds must not
    make that side look more certain than its runs are.
    """
    if noise.sigma is not None:
        spread_a = max(noise.sigma, a.std or 0.0)
        spread_b = max(noise.sigma, b.std or 0.0)
        return math.sqrt(spread_a**2 / a.n + spread_b**2 / b.n)
    spreads = [(s.std, s.n) for s in (a, b) if s.std is not None]
    if len(spreads) < 2:
        return None
    pooled = sum((n - 1) * std**2 for std, n in spreads) / sum(n - 1 for _, n in spreads)
    return math.sqrt(pooled * (1 / a.n + 1 / b.n)) or None


def _paired(a: Side, b: Side, config: Config) -> Paired | None:
    seeds = tuple(sorted(set(a.by_seed) & set(b.by_seed)))
    if not seeds:
        return None
    differences = tuple(b.by_seed[s] - a.by_seed[s] for s in seeds)
    mean = statistics.fmean(differences)
    confidence = None
    if len(differences) > 1 and statistics.stdev(differences) > 0:
        error = statistics.stdev(differences) / math.sqrt(len(differences))
        confidence = (-mean if config.direction == "min" else mean) / error
    return Paired(seeds, differences, mean, confidence)


def _verdict(
    improvement: float, confidence: float | None, min_effect: float, a: str, b: str
) -> str:
    size = abs(improvement)
    if improvement == 0:
        return f"{b} and {a} are equal"
    better, worse = (b, a) if improvement > 0 else (a, b)
    if size <= min_effect:
        return f"{better} is better than {worse} by {size:.6g}, not more than min_effect"
    if confidence is None:
        return f"{better} is better than {worse} by {size:.6g}; the noise is not measured"
    if abs(confidence) < BEYOND_NOISE:
        return (
            f"{better} is better than {worse} by {size:.6g}, within the noise "
            f"({abs(confidence):.1f} standard errors)"
        )
    return (
        f"{better} is better than {worse} by {size:.6g}: more than min_effect and the noise "
        f"({abs(confidence):.1f} standard errors)"
    )


def beats(improvement: float, confidence: float | None, *, min_effect: float) -> bool:
    """True when an improvement is larger than min_effect and beyond the noise."""
    return improvement > min_effect and confidence is not None and confidence >= BEYOND_NOISE


def effect_threshold(noise: Noise, min_effect: float) -> float | None:
    """The smallest effect that counts: min_effect, or two noise sigmas when larger."""
    if noise.sigma:
        return max(min_effect, BEYOND_NOISE * noise.sigma)
    return min_effect if min_effect > 0 else None


def expected_number(expected: str | None) -> float | None:
    """The signed effect an `expected` text states (`-0.05 val_bpb` -> -0.05), if any."""
    match = NUMBER.search(expected or "")
    return float(match.group(0)) if match else None


def judge_expected(expected: str | None, observed: float | None, threshold: float | None) -> str:
    """Whether an observed effect (value minus reference) is the signed change expected.

    Judged by sign and size against the noise (`threshold`, the smallest effect that
    counts): `seen` (the expected sign, and no smaller than expected by more than the
    noise), `smaller than expected`, `not seen` (within the noise), or `the other way`.
    """
    target = expected_number(expected)
    if not expected:
        return "no expected effect was stated"
    if target is None:
        return f"cannot tell: {expected!r} states no number"
    if observed is None:
        return "cannot tell: no reference value to measure the effect against"
    margin = threshold or 0.0
    within = threshold is not None and abs(observed) <= threshold
    noise = f" (noise ±{threshold:.6g})" if threshold is not None else " (noise not measured)"
    said = f"expected {target:+.6g}, observed {observed:+.6g}{noise}"
    if target == 0:
        outcome = "seen" if within else "not seen"
        return f"{outcome}: expected no effect, observed {observed:+.6g}{noise}"
    if within:
        return f"not seen: the effect is within the noise; {said}"
    if observed * target < 0:
        return f"the other way: {said}"
    if abs(observed) < abs(target) - margin:
        return f"smaller than expected: {said}"
    return f"seen: {said}"
