"""Comparisons against the noise: standard errors, paired seeds, verdicts, expectations."""

from __future__ import annotations

import json
import math
import random
import statistics
from pathlib import Path

import pytest

from harness.config import Config
from harness.record.compare import (
    Noise,
    Side,
    beats,
    compare,
    compare_sides,
    judge_expected,
    noise_of,
)
from harness.record.results import read_results
from tests.test_results import row, write_rows

BASELINE = [1.00, 1.02, 0.98, 1.01, 0.99]  # std 0.0158


def record(repo: Path, idea: str, values: list[float], *, seeds: list[int] | None = None) -> None:
    seeds = seeds if seeds is not None else list(range(len(values)))
    rows = [
        row(f"{idea}-{i}", value, idea=idea, seed=seed)
        for i, (seed, value) in enumerate(zip(seeds, values, strict=True))
    ]
    write_rows(repo, *rows)


def frame_of(repo: Path):
    return read_results(repo / "results.tsv")


def test_a_clear_improvement_beats_min_effect_and_the_noise(research_repo: Path) -> None:
    record(research_repo, "baseline", BASELINE)
    record(research_repo, "better", [0.94, 0.96, 0.92])
    result = compare(frame_of(research_repo), "baseline", "better", Config(min_effect=0.01))
    assert result.a.n == 5 and result.b.n == 3
    assert result.difference == pytest.approx(-0.06)
    assert result.improvement == pytest.approx(0.06)
    assert result.noise.method == "MAD of the baseline" and result.noise.seeds == 5
    assert result.noise.sigma == pytest.approx(0.01 * 1.4826)
    # each side brings the larger of the baseline noise and its own spread over seeds
    spread_a, spread_b = 0.0158114, 0.02  # sample std of BASELINE and of `better`
    error = (spread_a**2 / 5 + spread_b**2 / 3) ** 0.5
    assert result.confidence == pytest.approx(0.06 / error, rel=1e-4)
    assert result.paired is not None and result.paired.seeds == (0, 1, 2)
    assert result.paired.differences == pytest.approx((-0.06, -0.06, -0.06))
    assert result.verdict.startswith("better is better than baseline by 0.06: more than")
    assert beats(result.improvement, result.confidence, min_effect=0.01)


def test_a_spread_out_candidate_is_not_judged_by_a_tight_baseline(research_repo) -> None:
    """Two baseline seeds agree to 0.001; the candidate varies by 0.03 over its seeds. The
    difference is judged against the candidate's own spread, not the baseline's."""
    record(research_repo, "baseline", [2.2131, 2.2151])
    record(research_repo, "unstable", [2.184, 2.154, 2.168])
    result = compare(frame_of(research_repo), "baseline", "unstable", Config(min_effect=0.01))
    spread = result.b.std
    assert spread is not None and spread > 0.01
    assert result.standard_error == pytest.approx(
        ((result.noise.sigma or 0) ** 2 / 2 + spread**2 / 3) ** 0.5
    )
    assert result.confidence is not None and result.confidence < 6


def test_a_small_difference_is_within_the_noise_or_below_min_effect(research_repo) -> None:
    record(research_repo, "baseline", BASELINE)
    record(research_repo, "tweak", [0.985, 1.005, 0.975], seeds=[10, 11, 12])
    frame = frame_of(research_repo)
    within = compare(frame, "baseline", "tweak", Config(min_effect=0.001))
    assert within.paired is None  # no seed in common
    assert "within the noise" in within.verdict
    assert not beats(within.improvement, within.confidence, min_effect=0.001)
    small = compare(frame, "baseline", "tweak", Config(min_effect=0.05))
    assert small.verdict.endswith("not more than min_effect")


def test_max_direction_and_run_ids(research_repo: Path) -> None:
    record(research_repo, "baseline", BASELINE)
    record(research_repo, "worse", [0.5])
    result = compare(frame_of(research_repo), "worse-0", "baseline-1", Config(direction="max"))
    assert (result.a.label, result.a.n, result.b.mean) == ("worse-0", 1, 1.02)
    assert result.improvement == pytest.approx(0.52)


def test_a_repeated_seed_is_one_sample(research_repo: Path) -> None:
    record(research_repo, "baseline", [1.0, 1.1, 1.0, 1.0], seeds=[0, 1, 0, 0])
    record(research_repo, "b", [1.0])
    result = compare(frame_of(research_repo), "baseline", "b", Config())
    assert result.a.values == (1.0, 1.1) and result.a.runs == 4


def test_without_a_baseline_the_noise_is_pooled_from_both_sides(research_repo) -> None:
    record(research_repo, "a", [1.0, 1.1, 0.9])
    record(research_repo, "b", [0.5, 0.6, 0.4])
    result = compare(frame_of(research_repo), "a", "b", Config())
    assert result.noise.sigma is None
    assert result.standard_error == pytest.approx(0.1 * (2 / 3) ** 0.5)


def side(label: str, by_seed: dict[int, float]) -> Side:
    values = tuple(by_seed.values())
    std = statistics.stdev(values) if len(values) > 1 else None
    return Side(label, values, by_seed, statistics.fmean(values), std, len(values))


def test_the_paired_confidence_is_the_mean_difference_over_its_standard_error() -> None:
    a = side("a", {0: 1.00, 1: 1.10, 2: 0.90})
    b = side("b", {0: 0.95, 1: 1.04, 2: 0.86, 3: 5.0})  # seed 3: not paired
    differences = [-0.05, -0.06, -0.04]
    error = statistics.stdev(differences) / math.sqrt(3)
    noise = Noise(0.01, 5, "MAD of the baseline")
    lower = compare_sides(a, b, config=Config(), noise=noise).paired
    assert lower is not None and lower.seeds == (0, 1, 2)
    assert lower.differences == pytest.approx(differences)
    assert lower.confidence == pytest.approx(0.05 / error)  # lower is better: b improves
    higher = compare_sides(a, b, config=Config(direction="max"), noise=noise).paired
    assert higher is not None and higher.confidence == pytest.approx(-0.05 / error)
    two = compare_sides(
        side("a", {0: 1.0, 1: 1.1}), side("b", {0: 0.9, 1: 1.05}), config=Config(), noise=noise
    )
    assert two.paired is not None and two.paired.confidence == pytest.approx(0.075 / 0.025)
    exact = side("e", {0: 1.0, 1: 1.5, 2: 0.5})
    same = compare_sides(
        exact, side("c", {0: 0.75, 1: 1.25, 2: 0.25}), config=Config(), noise=noise
    )
    assert same.paired is not None and same.paired.confidence is None  # no spread: no figure


def test_sides_sharing_seeds_always_get_a_confidence_without_baseline_noise() -> None:
    """Why compare_sides needs no fallback to the paired confidence: on 2,000 random pairs
    of sides, whenever the per-seed differences give a confidence, the pooled one exists."""
    rng = random.Random(19)
    unmeasured = Noise(None, 0, "not measured")
    for _ in range(2000):
        seeds = rng.sample(range(6), rng.randint(1, 6))
        level = rng.choice([0.0, 0.001, 0.1])
        a = side("a", {s: round(1 + rng.gauss(0, level), 3) for s in seeds})
        b = side(
            "b", {s: round(0.95 + rng.gauss(0, level), 3) for s in rng.sample(seeds, len(seeds))}
        )
        comparison = compare_sides(a, b, config=Config(), noise=unmeasured)
        if comparison.paired is not None and comparison.paired.confidence is not None:
            assert comparison.confidence is not None, (a, b)
        if len(seeds) >= 2 and (a.std or b.std):
            assert comparison.standard_error and comparison.confidence is not None


def test_the_noise_estimate_resists_one_odd_run() -> None:
    calm = noise_of([1.00, 1.01, 0.99, 1.00, 1.02])
    odd = noise_of([1.00, 1.01, 0.99, 1.00, 1.50])
    assert odd.sigma == pytest.approx(calm.sigma)
    assert noise_of([1.0]).sigma is None
    assert noise_of([1.0, 1.0, 1.2]).method == "std of the baseline"  # MAD 0: fall back


def test_the_compare_command(research_repo: Path, cli) -> None:
    record(research_repo, "baseline", BASELINE)
    record(research_repo, "better", [0.94, 0.96, 0.92])
    write_rows(research_repo, row("broken-0", None, idea="broken", status="crash"))
    out = cli("results", "compare", "baseline", "better", cwd=research_repo).out
    assert "reference (A) baseline: mean 1, std 0.0158114, n 5" in out
    assert "candidate (B) better: mean 0.94, std 0.02, n 3" in out
    assert "improvement of the candidate +0.06 (positive: better is better)" in out
    assert "paired by seed (candidate - reference): 0: -0.06, 1: -0.06, 2: -0.06" in out
    assert out.splitlines()[-1].startswith("verdict: better is better than baseline by 0.06")
    data = json.loads(
        cli("results", "compare", "baseline", "better", "--json", cwd=research_repo).out
    )
    assert data["b"]["n"] == 3 and data["paired"]["seeds"] == [0, 1, 2]
    unknown = cli("results", "compare", "baseline", "nope", cwd=research_repo)
    assert unknown.code == 1  # as for an unknown idea or queue task
    assert unknown.err == (
        "harness: no run id, idea or commit 'nope' in results.tsv: see `harness results`\n"
    )
    broken = cli("results", "compare", "baseline", "broken", cwd=research_repo)
    assert broken.code == 2
    assert "idea 'broken' has no valid run" in broken.err and "crash" in broken.err


@pytest.mark.parametrize(
    ("expected", "observed", "threshold", "start"),
    [
        (None, -0.1, 0.02, "no expected effect was stated"),
        ("expect -0.05 val_bpb", -0.06, 0.02, "seen: expected -0.05, observed -0.06"),
        ("-0.05", -0.01, 0.02, "not seen: the effect is within the noise; expected -0.05, "),
        ("-0.05", 0.04, 0.02, "the other way: expected -0.05, observed +0.04"),
        ("-0.10", -0.03, 0.02, "smaller than expected: expected -0.1, observed -0.03"),
        ("-0.05", -0.04, 0.02, "seen: expected -0.05, observed -0.04"),
        ("+2.195", 0.121, 0.02, "smaller than expected: expected +2.195, observed +0.121"),
        ("0", 0.01, 0.02, "seen: expected no effect"),
        ("lower", -0.1, 0.02, "cannot tell: 'lower' states no number"),
        ("-0.05", None, 0.02, "cannot tell: no reference value"),
        ("-0.05", -0.06, None, "seen: expected -0.05, observed -0.06 (noise not measured)"),
    ],
)
def test_judging_the_expected_effect(expected, observed, threshold, start: str) -> None:
    assert judge_expected(expected, observed, threshold).startswith(start)
