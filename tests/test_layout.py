"""Finding the research root and the main worktree from anywhere in the repository."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import NotARepository
from harness.layout import find_layout
from tests.conftest import git


def test_from_the_root_and_a_subdirectory(research_repo: Path) -> None:
    for start in (research_repo, research_repo / "1_ideas"):
        layout = find_layout(start)
        assert layout.root == research_repo.resolve()
        assert layout.worktree == research_repo.resolve()
        assert layout.is_root
        assert layout.git_common_dir == research_repo.resolve() / ".git"


def test_from_a_linked_worktree_the_root_is_the_main_worktree(research_repo: Path) -> None:
    linked = research_repo / "5_worktrees" / "wider"
    git(research_repo, "worktree", "add", "--quiet", "-b", "exp/wider", str(linked))
    layout = find_layout(linked / "0_docs")
    assert layout.worktree == linked.resolve()
    assert layout.root == research_repo.resolve()
    assert not layout.is_root
    assert layout.results_tsv == research_repo.resolve() / "results.tsv"
    assert layout.state_dir == research_repo.resolve() / ".git" / "harness"


def test_from_a_worktree_outside_the_repository(research_repo: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    git(research_repo, "worktree", "add", "--quiet", "-b", "exp/far", str(elsewhere))
    assert find_layout(elsewhere).root == research_repo.resolve()


def test_with_a_separate_git_dir(tmp_path: Path) -> None:
    work, gitdir = tmp_path / "work", tmp_path / "store.git"
    work.mkdir()
    git(work, "init", "--quiet", f"--separate-git-dir={gitdir}")
    git(work, "commit", "--quiet", "--allow-empty", "-m", "start")
    layout = find_layout(work)
    assert layout.root == work.resolve()
    assert layout.git_common_dir == gitdir.resolve()


def test_outside_a_repository_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(NotARepository, match="is not inside a git repository: run `harness init`"):
        find_layout(tmp_path)
