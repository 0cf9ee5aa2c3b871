"""`harness next --json` as a contract: every command it gives runs as given, in every state.

The autopilot (test_autopilot.py) walks the common path; these walk the edges: missing
seeds, a crash at the branch's head, a worktree removed by hand, uncommitted changes in
an idea under test, an unfilled report, the budget spent. Each state is reached on a
real repository (the fast evaluation of loop_helpers, the local queue), and each command
`next` gives is run in a real shell from the repository root, with no edit.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.loop.state import KINDS, RULES
from harness.queue.local import LocalBackend
from tests.conftest import commit_files, git
from tests.loop_helpers import fast_repo, start_idea

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture
def repo(research_repo: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HARNESS_QUEUE", "local")
    root = fast_repo(research_repo)
    configure(root, "ideas_target = 30", "ideas_target = 1")  # no ideating unless asked
    yield root
    LocalBackend(root / ".git" / "harness" / "queue").stop_worker()


def configure(repo: Path, old: str, new: str) -> None:
    pyproject = repo / "pyproject.toml"
    text = pyproject.read_text()
    assert old in text
    commit_files(repo, {"pyproject.toml": text.replace(old, new)}, "configure", meta=True)


def next_json(cli, repo: Path) -> dict:
    result = cli("next", "--json", cwd=repo)
    assert result.code == 0, result.err
    action = json.loads(result.out)
    assert action["schema"] == 1 and action["action"] in KINDS
    return action


def run_commands(action: dict, repo: Path) -> list[str]:
    """Run every command of `action` as given, from the root; their outputs."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    outputs = []
    for command in action["commands"]:
        assert not re.search(r"\b(SLUG|FILE|TITLE|HYPOTHESIS)\b", command), command
        proc = subprocess.run(
            ["bash", "-c", command], cwd=repo, env=env, capture_output=True, text=True
        )
        assert proc.returncode == 0, f"`{command}` failed: {proc.stdout}{proc.stderr}"
        outputs.append(proc.stdout)
    return outputs


def step(cli, repo: Path, kind: str, slug: str | None = None, **drafts: str) -> dict:
    """Ask `next`, check it says `kind` (for `slug`), write its needs, run its commands."""
    action = next_json(cli, repo)
    assert (action["action"], action["slug"]) == (kind, slug), action
    for need in action["needs"]:
        if need["file"]:
            Path(need["file"]).write_text(drafts[need["name"]])
    run_commands(action, repo)
    return action


def measured(cli, repo: Path) -> None:
    step(cli, repo, "baseline")
    step(cli, repo, "commit-record")


def test_missing_seeds_are_queued_and_nothing_is_queued_twice(repo: Path, cli) -> None:
    measured(cli, repo)
    worktree = start_idea(cli, repo, "lower", "1.95")
    for seed in (0, 1):
        assert cli("eval", "--seed", str(seed), cwd=worktree).code == 0
    action = step(cli, repo, "test", "lower")
    assert "--only-seeds 2 " in action["commands"][1]
    assert "--expected" not in action["commands"][1]  # the idea file states none
    assert next_json(cli, repo)["action"] == "wait"  # queued: not advised again
    step(cli, repo, "wait")
    step(cli, repo, "report", "lower")
    step(cli, repo, "infer", "lower", inferences="Lower is lower.\n")
    step(cli, repo, "submit", "lower")  # a winner: its held-out confirmation is queued
    step(cli, repo, "wait")
    step(cli, repo, "submit", "lower")
    assert "status: submitted" in next((repo / "1_ideas").glob("*_lower.md")).read_text()


def test_a_crash_at_the_head_asks_for_a_fix_not_the_same_runs(repo: Path, cli) -> None:
    measured(cli, repo)
    worktree = start_idea(cli, repo, "broken", "crash")
    smoke_passes = "import sys\nif '--smoke' in sys.argv:\n    sys.exit(0)\n"
    source = (worktree / "fake_eval.py").read_text()
    commit_files(worktree, {"fake_eval.py": smoke_passes + source}, "a smoke that passes")
    step(cli, repo, "test", "broken")
    step(cli, repo, "wait")
    action = next_json(cli, repo)
    assert (action["action"], action["slug"]) == ("implement", "broken")
    assert "crashed at its head commit" in action["reason"]
    (need,) = action["needs"]
    assert (need["name"], need["where"]) == ("change", str(worktree))
    (worktree / "level.txt").write_text("1.9\n")
    run_commands(action, repo)
    action = step(cli, repo, "test", "broken")
    assert "--seeds 3 " in action["commands"][1]  # the fix is new code: every seed again


def test_a_worktree_removed_by_hand_is_brought_back(repo: Path, cli) -> None:
    measured(cli, repo)
    start_idea(cli, repo, "gone", "1.9")
    git(repo, "worktree", "remove", "5_worktrees/gone")
    action = step(cli, repo, "implement", "gone")
    assert action["commands"][-1].endswith("git worktree add --quiet 5_worktrees/gone exp/gone")
    assert (repo / "5_worktrees" / "gone" / "level.txt").read_text() == "1.9\n"
    step(cli, repo, "test", "gone")


def test_uncommitted_changes_of_an_idea_under_test_are_committed_first(repo: Path, cli) -> None:
    measured(cli, repo)
    worktree = start_idea(cli, repo, "edit", "1.9")
    cli("idea", "set", "edit", "--status", "testing", cwd=repo)
    (worktree / "level.txt").write_text("1.8\n")
    refused = cli("queue", "add", "--seeds", "3", "--", "harness", "eval", cwd=worktree)
    assert refused.code == 1 and "uncommitted changes to the research code (level.txt)" in (
        refused.err
    )
    step(cli, repo, "implement", "edit")
    assert git(worktree, "status", "--porcelain") == ""
    step(cli, repo, "test", "edit")


def test_ideate_critique_and_implement_from_drafts(repo: Path, cli) -> None:
    configure(repo, "ideas_target = 1", "ideas_target = 2")
    measured(cli, repo)
    idea = "# Lower the level\n\n## Hypothesis\n\nA lower level.\n\n## Expected effect\n\n-0.05\n"
    step(cli, repo, "ideate", idea=idea)
    step(cli, repo, "ideate", idea=idea.replace("Lower the level", "Halve the level"))
    step(cli, repo, "critique", "lower-the-level", critique="Fine.\nRating: 8/10\n")
    step(cli, repo, "critique", "halve-the-level", critique="Meh.\nRating: 4/10\n")
    step(cli, repo, "implement", "lower-the-level")
    worktree = repo / "5_worktrees" / "lower-the-level"
    action = next_json(cli, repo)
    assert action["action"] == "implement" and action["needs"][0]["where"] == str(worktree)
    (worktree / "level.txt").write_text("1.95\n")
    run_commands(action, repo)
    action = step(cli, repo, "test", "lower-the-level")
    assert (
        "--hypothesis 'A lower level.' --expected -0.05 -- harness eval" in (action["commands"][1])
    )


def test_stop_when_the_budget_is_spent(repo: Path, cli) -> None:
    configure(repo, "# max_runs = 200", "max_runs = 4")
    step(cli, repo, "baseline")
    action = step(cli, repo, "stop")
    assert "harness results commit" in action["commands"]


def test_the_readme_documents_every_action_and_every_rule() -> None:
    text = README.read_text()
    table = text[text.index("### The rules of `harness next`") :]
    for kind in KINDS:
        assert f"`{kind}`" in table, kind
    for rule in RULES:
        assert f"`{rule.name}`" in table, rule.name
    rows = [line.split("`")[1] for line in table.splitlines() if line.startswith("| `")]
    assert rows[: len(RULES)] == [rule.name for rule in RULES], "in the order they are tried"


def test_a_winners_confirmation_is_queued_then_decided_from_its_rows(
    repo: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    hold = repo.parent / "release"  # the held-out runs wait for it: no race with `next`
    source = (repo / "fake_eval.py").read_text()
    held = (
        "import os, sys, time\n"
        "while '--split' in sys.argv and not os.path.exists(os.environ.get('HOLD', '/')):\n"
        "    time.sleep(0.05)\n"
    )
    commit_files(repo, {"fake_eval.py": held + source}, "held-out runs wait", meta=True)
    monkeypatch.setenv("HOLD", str(hold))
    measured(cli, repo)
    worktree = start_idea(cli, repo, "lower", "1.95")
    step(cli, repo, "test", "lower")
    step(cli, repo, "wait")
    step(cli, repo, "report", "lower")
    step(cli, repo, "infer", "lower", inferences="Lower is lower.\n")

    action = step(cli, repo, "submit", "lower")
    (idea,) = (repo / "1_ideas").glob("*_lower.md")
    assert "status: reported" in idea.read_text() and "decision:" not in idea.read_text()
    queued = [t for t in LocalBackend(repo / ".git" / "harness" / "queue").states()]
    assert len(queued) == 3 + 6
    assert all(t.label.startswith("Q: confirm lower: held-out test_bpb of ") for t in queued[3:])
    assert next_json(cli, repo)["action"] == "wait"  # never `submit` while they run

    hold.write_text("go\n")
    step(cli, repo, "wait")
    assert action["commands"] == step(cli, repo, "submit", "lower")["commands"]
    assert "status: submitted" in idea.read_text()
    journal = (repo / "RESEARCH_JOURNAL.md").read_text()
    assert " · confirm · lower vs baseline · holds\n" in journal
    assert worktree.exists()
