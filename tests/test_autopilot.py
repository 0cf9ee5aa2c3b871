"""The autopilot: a scripted agent that follows `harness next --json` alone drives the loop.

Twelve ideas, three with a real effect of three noise sigmas and nine with none, on a
fake evaluation of known truth (tests/autopilot.py), the embedded local queue and real
git worktrees. The agent must reach the end of its budget without a single command that
failed, and without doing again anything already done or queued.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from harness.queue.local import LocalBackend
from harness.record.results import read_results
from tests.autopilot import Autopilot, fake_research_repo, plans, quoted_slug


@pytest.fixture
def autopilot_repo(research_repo: Path):
    repo = fake_research_repo(research_repo, ideas_target=12)
    yield repo
    LocalBackend(repo / ".git" / "harness" / "queue").stop_worker()


@pytest.mark.timeout(1200)  # about a minute on an idle machine; much more on a shared one
def test_the_autopilot_runs_the_loop_in_review_mode_on_next_alone(
    autopilot_repo: Path, capsys
) -> None:
    repo = autopilot_repo
    pilot = Autopilot(repo, plans())

    ended = pilot.run(capsys)
    print(
        f"\nautopilot: {len(pilot.actions)} actions, {len(pilot.steps)} commands; {timings(pilot)}"
    )

    assert ended == "budget", [a["action"] for a in pilot.actions[-5:]]
    assert all(step.code == 0 for step in pilot.steps)
    # Nothing done twice: each idea written, critiqued, branched, queued, reported and
    # decided exactly once (no seed crashed, so no seed was queued again).
    slugs = [plan.slug for plan in pilot.plans]
    ideas = {i["slug"]: i for i in json.loads(idea_list(repo, capsys))}
    for word in ("worktree create", "queue add", "report", "submit", "idea critique"):
        per_idea = Counter(
            quoted_slug(step.command) or step.slug or ""
            for step in pilot.commands_of(word)
            if "--inferences" not in step.command
        )
        once = Counter(slugs)
        if word == "submit":  # a winner's first submit queues its held-out confirmation
            once.update(step.slug or "" for step in pilot.steps if "not decided yet" in step.output)
        assert per_idea == once, (word, per_idea)
    inferred = Counter(step.slug for step in pilot.steps if "--inferences" in step.command)
    assert inferred == Counter(slugs)
    assert len(pilot.commands_of("baseline")) == 1

    frame = read_results(repo / "results.tsv")
    ok = frame.filter(pl.col("status") == "ok")
    assert ok.filter(pl.col("idea") == "baseline").height == 4  # 3 seeds and a repeat
    for slug in slugs:
        runs = ok.filter(pl.col("idea") == slug)
        assert sorted(runs.get_column("seed").to_list()) == [0, 1, 2], slug
        assert set(runs.get_column("expected").to_list()) == {"-0.006"}
        assert not runs.get_column("dirty").any()
    assert frame.filter(pl.col("status").is_in(["crash", "timeout", "killed", "lost"])).is_empty()

    # Every idea is decided, and no null idea is submitted. (In review mode a real idea
    # must beat every other result, the other real ones included, so how many win depends
    # on the order; the ratchet's trunk mode is where all three must.)
    assert all(ideas[slug]["decision"] for slug in slugs)
    submitted = {slug for slug in slugs if ideas[slug]["status"] == "submitted"}
    real = {plan.slug for plan in pilot.plans if plan.is_real}
    assert submitted <= real  # no false winner
    # Every kind of step of the loop was taken, each from `next` alone.
    taken = {a["action"] for a in pilot.actions}
    expected_kinds = {"baseline", "commit-record", "ideate", "critique", "implement", "test"}
    assert expected_kinds | {"report", "infer", "submit"} <= taken, taken  # wait: if it must
    with capsys.disabled():
        false = len(submitted - real)
        print(
            f"autopilot (review): {len(slugs)} ideas ({len(real)} real), {frame.height} runs, "
            f"{len(submitted)} winner(s), {false} false winner(s); {len(pilot.actions)} "
            f"actions, {len(pilot.steps)} commands; {timings(pilot)}"
        )


def idea_list(repo: Path, capsys) -> str:
    import os

    from harness.cli import main

    previous = Path.cwd()
    os.chdir(repo)
    try:
        capsys.readouterr()
        assert main(["idea", "list", "--json"]) == 0
        return capsys.readouterr().out
    finally:
        os.chdir(previous)


def timings(pilot: Autopilot) -> str:
    """Seconds spent per action, to see where the autopilot's time goes."""
    spent: dict[str, float] = {}
    for step in pilot.steps:
        spent[step.action] = spent.get(step.action, 0.0) + step.seconds
    spent["next"] = pilot.next_seconds
    ranked = sorted(spent.items(), key=lambda item: -item[1])
    return ", ".join(f"{name} {seconds:.1f} s" for name, seconds in ranked)
