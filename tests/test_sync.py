"""`harness sync` with the real local queue: tasks that ended without a row get one, once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from harness.queue.local import LocalBackend
from harness.record.results import read_results
from tests.conftest import git
from tests.queue_helpers import wait_until

# an "evaluation" that records itself through harness eval, and prints its metric
GOOD_EVAL = "print('---'); print('val_bpb: 2.5')"


@pytest.fixture
def repo(research_repo: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("HARNESS_QUEUE", "local")
    yield research_repo
    LocalBackend(research_repo / ".git" / "harness" / "queue").stop_worker()


def test_sync_records_failed_and_killed_tasks_once(repo: Path, cli) -> None:
    git(repo, "worktree", "add", "--quiet", "5_worktrees/wider", "-b", "exp/wider")
    worktree = repo / "5_worktrees" / "wider"
    label = ("-q", "does 'wider' help?", "-H", "expect -0.02; $HOME stays")
    crash = ("sh", "-c", "echo 'Traceback: boom' >&2; exit 3")
    cli("queue", "add", *label, "--seeds", "2", "--", *crash, cwd=worktree)  # local:0, local:1
    cli("queue", "add", "--", "harness", "eval", "--", "python", "-c", GOOD_EVAL, cwd=worktree)
    cli("queue", "add", "--", "true", cwd=worktree)  # local:3, not an evaluation
    cli("queue", "add", "--", "sleep", "60", cwd=worktree)  # local:4, killed below
    wait_until(
        lambda: json.loads(cli("queue", "status", "--json", cwd=repo).out)[4]["state"] == "running"
    )
    assert cli("queue", "kill", "local:4", cwd=repo).code == 0
    ids = [f"local:{n}" for n in range(5)]
    assert cli("queue", "wait", *ids, cwd=repo).code == 1  # some tasks failed

    first = cli("sync", cwd=worktree)
    assert first.code == 0, first.err
    rows = read_results(repo / "results.tsv").sort("queue_task")
    by_task = {row["queue_task"]: row for row in rows.iter_rows(named=True)}
    assert set(by_task) == {"local:0", "local:1", "local:2", "local:4"}
    assert by_task["local:2"]["status"] == "ok" and by_task["local:2"]["value"] == 2.5
    for task, seed in (("local:0", 0), ("local:1", 1)):
        row = by_task[task]
        assert (row["status"], row["idea"], row["seed"]) == ("crash", "wider", seed)
        assert row["question"] == "does 'wider' help?"
        assert row["hypothesis"] == "expect -0.02; $HOME stays"
        assert row["value"] is None
        assert "Traceback: boom" in row["description"]
        assert json.loads(row["extra"])["exit_code"] == 3
        assert row["integrity"] == "ok" and row["branch"] == "exp/wider"
    assert by_task["local:4"]["status"] == "killed"
    assert "3 recorded, 1 already recorded" in first.out
    assert "1 succeeded without a row (not evaluations): local:3" in first.out
    journal = (repo / "RESEARCH_JOURNAL.md").read_text()
    assert journal.count("local:0") == 1 and journal.count("local:4") == 1

    again = cli("sync", cwd=repo)
    assert "0 recorded, 4 already recorded" in again.out
    assert len(read_results(repo / "results.tsv")) == 4
    assert (repo / "RESEARCH_JOURNAL.md").read_text() == journal


def test_sync_with_nothing_queued_adds_nothing(repo: Path, cli) -> None:
    result = cli("sync", "--json", cwd=repo)
    assert result.code == 0
    assert json.loads(result.out) == {
        "recorded": [], "already": 0, "not_evaluations": [], "unfinished": 0
    }  # fmt: skip
    assert read_results(repo / "results.tsv").height == 0
    assert isinstance(read_results(repo / "results.tsv"), pl.DataFrame)
