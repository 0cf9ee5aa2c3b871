"""`harness results commit`: only the record, on main, through the guard."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import git
from tests.loop_helpers import fast_repo, run_baseline


@pytest.fixture
def repo(research_repo: Path, cli) -> Path:
    root = fast_repo(research_repo)
    run_baseline(cli, root)
    cli("idea", "new", "lower", "--title", "A lower level", cwd=root)
    return root


def committed_paths(root: Path) -> set[str]:
    return set(git(root, "show", "--name-only", "--no-renames", "--format=", "HEAD").split())


def test_only_the_record_is_committed_whatever_else_is_dirty(repo: Path, cli) -> None:
    (repo / "train.py").write_text((repo / "train.py").read_text() + "# unfinished\n")
    (repo / "scratch.txt").write_text("staged, not mine to commit\n")
    git(repo, "add", "scratch.txt")
    (repo / "9_reports" / "draft.md").write_text("# a draft report\n")
    before = git(repo, "rev-parse", "HEAD").strip()

    result = cli("results", "commit", cwd=repo)

    assert result.code == 0, result.err
    idea = next((repo / "1_ideas").glob("*_lower.md")).relative_to(repo).as_posix()
    assert committed_paths(repo) == {
        "results.tsv",
        "RESEARCH_JOURNAL.md",
        idea,
        "9_reports/draft.md",
    }
    assert git(repo, "rev-parse", "HEAD^").strip() == before
    status = git(repo, "status", "--porcelain").splitlines()
    assert sorted(status) == [" M train.py", "A  scratch.txt"]
    message = git(repo, "log", "-1", "--format=%B")
    assert message.splitlines()[0] == (
        "Record: 4 runs, 4 journal entries, 1_ideas (1 new), 9_reports (1 new)"
    )
    assert "- results.tsv: 4 new runs (baseline: 4 ok)" in message
    assert "- RESEARCH_JOURNAL.md: 4 new entries" in message


def test_the_summary_counts_what_came_since_the_last_record_commit(repo: Path, cli) -> None:
    cli("results", "commit", cwd=repo)
    cli("eval", "--seed", "7", cwd=repo)

    result = cli("results", "commit", "--json", cwd=repo)

    data = json.loads(result.out)
    assert data["paths"] == ["RESEARCH_JOURNAL.md", "results.tsv"]
    assert data["message"].startswith("Record: 1 run, 1 journal entry\n")
    assert data["commit"] == git(repo, "rev-parse", "HEAD").strip()
    again = cli("results", "commit", cwd=repo)
    assert again.code == 0
    assert again.out == "nothing to commit: the record is committed already\n"


def test_the_record_is_committed_on_main_only(repo: Path, cli) -> None:
    git(repo, "switch", "--quiet", "-c", "elsewhere")
    result = cli("results", "commit", cwd=repo)
    assert result.code == 2
    assert result.err.startswith(f"harness: the main worktree {repo} is on elsewhere, not main")


def test_the_guard_checks_the_record_commit(repo: Path, cli) -> None:
    cli("results", "commit", cwd=repo)
    journal = repo / "RESEARCH_JOURNAL.md"
    journal.write_text(journal.read_text().replace("baseline", "BASELINE"))  # rewrites history
    head = git(repo, "rev-parse", "HEAD").strip()

    result = cli("results", "commit", cwd=repo)

    assert result.code == 3
    assert result.err.startswith("harness: the pre-commit guard refused the commit: ")
    assert "RESEARCH_JOURNAL.md" in result.err and "APPEND-ONLY" in result.err
    assert git(repo, "rev-parse", "HEAD").strip() == head


def test_from_a_worktree_it_commits_the_roots_record(repo: Path, cli) -> None:
    cli("worktree", "create", "lower", cwd=repo)
    branch = git(repo, "rev-parse", "exp/lower").strip()
    result = cli("results", "commit", cwd=repo / "5_worktrees" / "lower")
    assert result.code == 0, result.err
    assert "results.tsv" in committed_paths(repo)
    assert git(repo, "rev-parse", "exp/lower").strip() == branch
    assert git(repo, "rev-parse", "main^").strip() == branch


def test_renamed_and_deleted_record_files_are_committed_too(repo: Path, cli) -> None:
    cli("results", "commit", cwd=repo)
    idea = next((repo / "1_ideas").glob("*_lower.md")).relative_to(repo).as_posix()
    git(repo, "mv", idea, "1_ideas/2000-01-01_lower.md")  # staged rename
    (repo / "0_docs" / "problem.md").unlink()  # unstaged deletion

    result = cli("results", "commit", cwd=repo)

    assert result.code == 0, result.err
    assert committed_paths(repo) == {idea, "1_ideas/2000-01-01_lower.md", "0_docs/problem.md"}
    assert git(repo, "status", "--porcelain") == ""
    assert git(repo, "log", "-1", "--format=%s").strip() == (
        "Record: 0_docs (1 deleted), 1_ideas (1 new, 1 deleted)"
    )
