"""advance = "trunk": confirmed winners are merged into the research trunk by `harness
submit`, new ideas branch from it, one pull request trunk -> main carries the chain, and
the trunk is protected like main. Real repositories, worktrees and merges; the evaluation
of known truth of tests/ratchet_helpers.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.layout import find_layout
from harness.loop.ideas import find_idea
from tests.conftest import git
from tests.ratchet_helpers import evaluate_seeds, idea_with_effect, next_of, truth_repo

TRUNK = "research/trunk"


@pytest.fixture
def repo(research_repo: Path, cli) -> Path:
    root = truth_repo(research_repo, advance="trunk")
    assert cli("baseline", "--seeds", "3", cwd=root).code == 0
    return root


def first_parents(root: Path) -> list[str]:
    return git(
        root, "log", "--first-parent", "--reverse", "--format=%s", f"main..{TRUNK}"
    ).splitlines()


def test_two_winners_found_in_parallel_both_join_the_trunk_in_order(repo: Path, cli) -> None:
    main = git(repo, "rev-parse", "main").strip()
    first = idea_with_effect(cli, repo, "first", "-0.05")
    assert git(repo, "rev-parse", TRUNK).strip() == main  # created from main on first use
    assert find_idea(find_layout(repo), "first").parent["line"] == TRUNK  # type: ignore[index]
    second = idea_with_effect(cli, repo, "second", "-0.03")
    null = idea_with_effect(cli, repo, "nothing", "0.0")
    for worktree in (first, second, null):
        evaluate_seeds(cli, worktree)

    done = json.loads(cli("submit", "first", "--wait", "--json", cwd=repo).out)
    assert done["submitted"] and done["merged"] == git(repo, "rev-parse", TRUNK).strip()
    assert first_parents(repo) == [f"Merge exp/first into {TRUNK}"]
    assert git(repo, "rev-parse", "main").strip() == main  # main stays the human's
    assert next_of(repo).kind != "baseline"  # the merge kept first's code: its runs are the head's

    action = next_of(repo)
    assert (action.kind, action.slug) in {("rebase", "second"), ("rebase", "nothing")}
    for slug, worktree in (("second", second), ("nothing", null)):
        assert cli("rebase", slug, "--no-queue", cwd=repo).code == 0
        assert (worktree / "effects" / "first.txt").exists()
        evaluate_seeds(cli, worktree)
    assert cli("submit", "nothing", "--wait", cwd=repo).code == 1
    result = cli("submit", "second", "--wait", cwd=repo)
    assert result.code == 0, result.out + result.err

    assert first_parents(repo) == [
        f"Merge exp/first into {TRUNK}",
        f"Merge exp/second into {TRUNK}",
    ]
    files = git(repo, "ls-tree", "-r", "--name-only", TRUNK, "effects").split()
    assert files == ["effects/README", "effects/first.txt", "effects/second.txt"]
    body = (repo / "9_reports" / "trunk_pr.md").read_text()
    assert body.index("`exp/first`") < body.index("`exp/second`")
    assert "exp/nothing" not in body
    assert "   - Effect: -0.0" in body and "over head research/trunk@" in body
    head = f"head {TRUNK}@{git(repo, 'rev-parse', f'{TRUNK}^1').strip()[:8]}"  # first's merge
    assert f"   - Held-out: held-out test_bpb: second is better than {head} by " in body
    assert f"confirmed on held-out data: held-out test_bpb: second is better than {head}" in (
        result.out
    )
    journal = (repo / "RESEARCH_JOURNAL.md").read_text()
    assert f" · confirm · second vs {head} · holds\n" in journal
    assert f" · confirm · first vs head {TRUNK}@{main[:8]} · holds\n" in journal
    (report,) = (repo / "9_reports").glob("*_second.md")
    assert f"second is better than {head} by " in report.read_text()
    assert f" | {head} | 0 | " in report.read_text()  # its confirmation runs, named so too
    assert "than baseline" not in body + result.out + report.read_text()
    assert "   - Report: [9_reports/" in body
    assert f"gh pr create --base main --head {TRUNK}" in result.out
    checked = cli("guard", "--range", f"main..{TRUNK}", cwd=repo)  # CI on trunk -> main
    assert checked.code == 0, checked.out + checked.err
    later = idea_with_effect(cli, repo, "third", "-0.01")
    assert (later / "effects" / "second.txt").exists()  # new ideas start from the trunk's head


def test_code_committed_straight_onto_the_trunk_is_refused(repo: Path, cli) -> None:
    idea_with_effect(cli, repo, "first", "-0.05")  # creates the trunk
    place = repo / "5_worktrees" / "on-trunk"
    git(repo, "worktree", "add", "--quiet", str(place), TRUNK)
    (place / "lib.txt").write_text("sneaked in\n")
    git(place, "add", "lib.txt")
    result = cli("guard", "--staged", cwd=place)
    assert result.code != 0
    assert f"lib.txt cannot change on {TRUNK} ({TRUNK} is protected)" in result.out + result.err
    git(place, "commit", "--quiet", "--no-verify", "-m", "bypass the hook")
    ranged = cli("guard", "--range", f"main..{TRUNK}", cwd=repo)
    assert ranged.code != 0 and f"lib.txt cannot change on {TRUNK}" in ranged.out + ranged.err
