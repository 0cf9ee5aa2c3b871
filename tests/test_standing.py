"""Where an idea stands against every other result: the winner's decision, on real rows."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_results import row, write_rows

from harness.config import Config
from harness.errors import UsageError
from harness.record.results import read_results
from harness.record.standing import standing

CONFIG = Config(min_effect=0.01)
BASELINE = [1.000, 1.002, 0.998, 1.001, 0.999]  # noise about 0.0015


def record(repo: Path, idea: str, values: list[float], **fields) -> None:
    write_rows(
        repo,
        *(
            row(f"{idea}-{seed}", v, idea=idea, seed=seed, **fields)
            for seed, v in enumerate(values)
        ),
    )


def frame_of(repo: Path):
    return read_results(repo / "results.tsv")


def test_an_idea_that_beats_every_other_result_is_the_winner(research_repo: Path) -> None:
    record(research_repo, "baseline", BASELINE)
    record(research_repo, "small", [0.980, 0.981, 0.979])
    record(research_repo, "big", [0.950, 0.951, 0.949])
    won = standing(frame_of(research_repo), CONFIG, "big")
    assert won.is_winner and won.unbeaten is None
    assert [c.a.label for c in won.others] == ["small", "baseline"]  # the strongest first
    assert won.best is not None and won.best.a.label == "small"
    assert won.baseline is not None and won.baseline.a.label == "baseline"
    assert won.reason.startswith("big beats the best other result, small: big is better")
    assert won.reason.endswith(", and the 1 other result(s) too")
    lost = standing(frame_of(research_repo), CONFIG, "small")
    assert not lost.is_winner and lost.unbeaten is not None and lost.unbeaten.a.label == "big"
    assert lost.reason.startswith("small does not beat big: big is better than small by 0.03")


def test_beating_only_the_baseline_or_by_too_little_is_no_win(research_repo: Path) -> None:
    record(research_repo, "baseline", BASELINE)
    record(research_repo, "tiny", [0.995, 0.996, 0.994])  # 0.005 better: under min_effect
    tiny = standing(frame_of(research_repo), CONFIG, "tiny")
    assert not tiny.is_winner
    assert "not more than min_effect" in tiny.reason


def test_the_direction_decides_what_the_strongest_other_result_is(research_repo: Path) -> None:
    maximise = Config(min_effect=0.01, direction="max")
    record(research_repo, "baseline", BASELINE)
    record(research_repo, "high", [1.05, 1.051, 1.049])
    record(research_repo, "higher", [1.10, 1.101, 1.099])
    top = standing(frame_of(research_repo), maximise, "higher")
    assert top.is_winner and [c.a.label for c in top.others] == ["high", "baseline"]
    assert not standing(frame_of(research_repo), CONFIG, "higher").is_winner  # lower is better


def test_invalid_rows_never_count_for_or_against(research_repo: Path) -> None:
    record(research_repo, "baseline", BASELINE)
    record(research_repo, "cheat", [0.5, 0.5, 0.5], integrity="modified")
    record(research_repo, "good", [0.950, 0.951, 0.949])
    good = standing(frame_of(research_repo), CONFIG, "good")
    assert good.is_winner and [c.a.label for c in good.others] == ["baseline"]
    with pytest.raises(UsageError, match=r"idea 'cheat' has no valid run \(3 ok; a valid run"):
        standing(frame_of(research_repo), CONFIG, "cheat")
    with pytest.raises(UsageError, match="idea 'ghost' has no run recorded: queue its"):
        standing(frame_of(research_repo), CONFIG, "ghost")


def test_alone_on_record_an_idea_is_no_winner(research_repo: Path) -> None:
    record(research_repo, "lonely", [0.9, 0.91])
    alone = standing(frame_of(research_repo), CONFIG, "lonely")
    assert not alone.is_winner and alone.best is None and alone.baseline is None
    assert alone.reason == (
        "no other valid result to compare lonely with: run `harness baseline` first"
    )
