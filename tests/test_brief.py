"""`harness brief`: the state of the research in one call, within about 150 lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import git
from tests.loop_helpers import evaluate, fast_repo, run_baseline, start_idea


@pytest.fixture
def repo(research_repo: Path) -> Path:
    return fast_repo(research_repo)


def test_the_brief_says_what_was_tried_what_won_and_what_to_do(repo: Path, cli) -> None:
    run_baseline(cli, repo)
    for slug, level in (("lower", "1.95"), ("same", "2.001")):
        evaluate(cli, start_idea(cli, repo, slug, level))
        mine = repo.parent / f"{slug}.md"
        mine.write_text(f"What {slug} taught us.\n")
        assert cli("report", slug, "--inferences", str(mine), cwd=repo).code == 0
        cli("submit", slug, "--wait", cwd=repo)
    cli("idea", "new", "later", "--title", "Something for later", cwd=repo)

    result = cli("brief", cwd=repo)

    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert len(lines) <= 150
    text = result.out
    assert "- metric `val_bpb`, lower is better; min_effect 0.01; seeds 3" in text
    assert "- FROZEN (never edited without a human's META_MODE): eval.py, program.md" in text
    assert "submitted (winners): lower" in text
    assert "\nhead main@" in text and "val_bpb (mean of 3 seed(s), se 0.0" in text
    assert "  no change accepted into main yet" in text  # review mode: a human merges
    effect = "effect -0.05 over its parent, 3 seed(s); submitted"
    assert f"- lower [submitted] rating -, {effect}" in text
    assert "- same [rejected] rating -, effect +0.001 over its parent, 3 seed(s); not" in text
    assert "- later [proposed]" in text
    assert "- same: What same taught us." in text
    assert "· submit · same · not submitted: Decision: not submitted" in text
    assert "run(s) not committed: `harness results commit`" in text
    assert lines[-2:] == [
        "commit-record: 16 run(s) of results.tsv are not committed on main: commit the record",
        "  run:   harness results commit",
    ]

    data = json.loads(cli("brief", "--json", cwd=repo).out)
    assert set(data) == {
        "program", "best", "ideas", "learned", "lessons", "queue", "warnings", "next",
    }  # fmt: skip
    assert data["next"]["schema"] == 1 and data["next"]["action"] == "commit-record"


def test_the_brief_of_a_fresh_repository_points_to_the_baseline(research_repo: Path, cli) -> None:
    result = cli("brief", cwd=research_repo)
    assert result.code == 0, result.err
    assert "no valid baseline yet: `harness baseline`" in result.out
    assert result.out.rstrip().endswith("  run:   harness baseline --seeds 3")


def test_init_writes_agents_and_claude_files_that_are_frozen(research_repo: Path, cli) -> None:
    for name in ("AGENTS.md", "CLAUDE.md"):
        text = (research_repo / name).read_text()
        assert "program.md" in text and "harness brief" in text and "FROZEN" in text
    (research_repo / "AGENTS.md").write_text("Do whatever you like.\n")
    git(research_repo, "add", "AGENTS.md")
    refused = cli("guard", "--staged", cwd=research_repo)
    assert refused.code == 3 and "AGENTS.md" in refused.err and "FROZEN" in refused.err
