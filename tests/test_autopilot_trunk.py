"""The autopilot in trunk mode: the scripted agent of tests/autopilot.py, which follows
`harness next --json` alone, drives a night with `advance = "trunk"`.

Twelve ideas, three with a real additive effect of three noise sigmas (an effect file the
idea adds; the noise is drawn from a hash of the code and the seed) and nine with none,
the embedded local queue and real git worktrees and merges. Each confirmed winner is
merged into the research trunk, later ideas branch from the trunk's head, ideas left
behind by a winner are rebased and tested again. At the end the trunk holds the three
real ideas and no null one, its measured value is within the noise of the sum of the
three effects, and the body of the trunk -> main pull request lists the chain in order.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from harness.cli import main
from harness.queue.local import LocalBackend
from harness.record.results import read_results
from tests.autopilot import SIGMA, Autopilot, fake_research_repo, plans, quoted_slug
from tests.conftest import git
from tests.test_autopilot import timings

TRUNK = "research/trunk"
# Five seeds: an effect of 3 sigma is then 4.7 standard errors of a difference, so each
# real idea passes both the validation and the held-out test with odds of about 0.99 and
# a null idea with odds of about 0.0005 (a min_effect of one sigma, two standard errors).
SEEDS = 5


@pytest.fixture
def trunk_repo(research_repo: Path):
    repo = fake_research_repo(
        research_repo, ideas_target=12, advance="trunk", seeds=SEEDS, min_effect=SIGMA
    )
    yield repo
    LocalBackend(repo / ".git" / "harness" / "queue").stop_worker()


@pytest.mark.timeout(1200)  # a minute or two on an idle machine; more on a shared one
def test_the_autopilot_advances_the_trunk_with_the_real_ideas_alone(
    trunk_repo: Path, capsys
) -> None:
    repo = trunk_repo
    pilot = Autopilot(repo, plans())

    ended = pilot.run(capsys)

    assert ended == "budget", [a["action"] for a in pilot.actions[-5:]]
    assert all(step.code == 0 for step in pilot.steps)
    real = [plan.slug for plan in pilot.plans if plan.is_real]
    null = [plan.slug for plan in pilot.plans if not plan.is_real]

    # The trunk holds the three real ideas, merged in the order they won, and no null one.
    kept = git(repo, "ls-tree", "--name-only", f"{TRUNK}:effects").split()
    assert sorted(kept) == sorted([".keep", *(f"{slug}.txt" for slug in real)])
    head = status_json(repo, capsys)["head"]
    assert head["branch"] == TRUNK
    assert sorted(head["chain"]) == sorted(f"exp/{slug}" for slug in real)
    # Its value, the mean over its seeds, is within the noise of the sum of the effects.
    assert head["seeds"] >= 3
    truth = 2.0 + sum(plan.effect for plan in pilot.plans)
    assert abs(head["mean"] - truth) < 3 * SIGMA / head["seeds"] ** 0.5, (head, truth)
    # The pull request trunk -> main lists the chain, in the order of the trunk's merges.
    body = (repo / "9_reports" / "trunk_pr.md").read_text()
    listed = [line.split("`")[1] for line in body.splitlines() if line[:1].isdigit()]
    assert listed == head["chain"], body

    # Nothing done twice: every idea critiqued, branched and reported once, queued at most
    # once by `queue add`; a rebase onto a new head queues its seeds itself (an idea left
    # behind before it was queued is tested first by its rebase). Each seed ran once per
    # queueing, no more.
    slugs = [plan.slug for plan in pilot.plans]
    for word in ("worktree create", "idea critique", "report"):
        per_idea = Counter(
            quoted_slug(step.command) or step.slug or ""
            for step in pilot.commands_of(word)
            if "--inferences" not in step.command
        )
        assert per_idea == Counter(slugs), (word, per_idea)
    rebased = Counter(step.slug for step in pilot.commands_of("rebase"))
    queued = Counter(quoted_slug(step.command) for step in pilot.commands_of("queue add"))
    assert set(queued.values()) == {1}, queued
    times = {slug: queued[slug] + rebased[slug] for slug in slugs}
    frame = read_results(repo / "results.tsv")
    assert frame.filter(pl.col("status").is_in(["crash", "timeout", "killed", "lost"])).is_empty()
    ok = frame.filter(pl.col("status") == "ok")
    for slug in slugs:
        runs = ok.filter(pl.col("idea") == slug).get_column("seed").to_list()
        assert Counter(runs) == Counter(dict.fromkeys(range(SEEDS), times[slug])), slug
        assert not ok.filter(pl.col("idea") == slug).get_column("dirty").any()

    ideas = {i["slug"]: i for i in idea_list(repo, capsys)}
    assert all(ideas[slug]["decision"] for slug in slugs), {s: ideas[s] for s in slugs}
    winners = [slug for slug in slugs if ideas[slug]["status"] == "submitted"]
    false = [slug for slug in winners if slug in null]
    with capsys.disabled():
        print(
            f"\nautopilot (trunk): {len(slugs)} ideas ({len(real)} real), {frame.height} runs "
            f"({ok.filter(pl.col('idea') == 'baseline').height} of the heads), "
            f"{len(winners)} winner(s) found, {len(false)} false winner(s), "
            f"{sum(rebased.values())} rebase(s); trunk {head['mean']:.5f} over "
            f"{head['seeds']} seeds, truth {truth:.5f}; {len(pilot.actions)} actions, "
            f"{len(pilot.steps)} commands; {timings(pilot)}"
        )
    assert sorted(winners) == sorted(real)


def status_json(repo: Path, capsys) -> dict:
    return json.loads(in_repo(repo, capsys, "status", "--json"))


def idea_list(repo: Path, capsys) -> list[dict]:
    return json.loads(in_repo(repo, capsys, "idea", "list", "--json"))


def in_repo(repo: Path, capsys, *args: str) -> str:
    previous = Path.cwd()
    os.chdir(repo)
    try:
        capsys.readouterr()
        assert main(list(args)) == 0
        return capsys.readouterr().out
    finally:
        os.chdir(previous)
