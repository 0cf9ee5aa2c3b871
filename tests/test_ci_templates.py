"""The CI workflow shipped in the template and the pre-commit framework hook definition.

GitHub Actions itself cannot run here: the workflow's shell steps are run with bash in a
clone of a real repository that has a pull request ref, as the runner would run them (the
`uses:` steps, checkout and setup-python, are done by the test itself)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import git

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ".github/workflows/harness-guard.yml"


def workflow_steps(repo: Path) -> dict[str, dict]:
    document = yaml.safe_load((repo / WORKFLOW).read_text())
    assert list(document[True]) == ["pull_request_target"]  # YAML reads `on:` as True
    assert document["permissions"] == {"contents": "read"}
    return {step["name"]: step for step in document["jobs"]["guard"]["steps"]}


def run_step(step: dict, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    path = f"{Path(sys.executable).parent}:/usr/bin:/bin"
    return subprocess.run(
        ["bash", "-e", "-c", step["run"]],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": path, **env},
    )


@pytest.fixture
def pull_request(research_repo: Path, tmp_path: Path) -> tuple[Path, Path]:
    """(origin, a CI checkout of main) with pull request 7 from exp/idea on the origin."""
    worktree = research_repo / "5_worktrees" / "idea"
    git(research_repo, "worktree", "add", "--quiet", "-b", "exp/idea", str(worktree))
    (worktree / "train.py").write_text("x = 1\n")
    git(worktree, "commit", "--quiet", "-am", "idea")
    checkout = tmp_path / "ci"
    git(tmp_path, "clone", "--quiet", "--branch", "main", str(research_repo), str(checkout))
    return research_repo, checkout


def publish(origin: Path) -> None:
    git(origin, "update-ref", "refs/pull/7/head", "exp/idea")


def test_init_writes_and_commits_the_workflow(research_repo: Path) -> None:
    assert WORKFLOW in git(research_repo, "ls-files").splitlines()
    steps = workflow_steps(research_repo)
    assert "harness guard --range" in steps["Check every commit of the pull request"]["run"]


def test_the_workflow_passes_a_clean_pull_request(pull_request: tuple[Path, Path]) -> None:
    origin, checkout = pull_request
    publish(origin)
    steps = workflow_steps(checkout)
    fetch = run_step(
        steps["Fetch the pull request's commits (as objects only)"], checkout, NUMBER="7"
    )
    assert fetch.returncode == 0, fetch.stderr
    check = steps["Check every commit of the pull request"]
    result = run_step(check, checkout, HEAD_BRANCH="exp/idea", BASE_BRANCH="main")
    assert result.returncode == 0, result.stderr


def test_the_workflow_fails_a_pull_request_with_a_no_verify_commit(
    pull_request: tuple[Path, Path],
) -> None:
    origin, checkout = pull_request
    worktree = origin / "5_worktrees" / "idea"
    (worktree / "eval.py").write_text("print('val_bpb: 0.0')\n")
    git(worktree, "commit", "--quiet", "--no-verify", "-am", "easier evaluation")
    sha = git(worktree, "rev-parse", "HEAD").strip()
    publish(origin)
    steps = workflow_steps(checkout)
    run_step(steps["Fetch the pull request's commits (as objects only)"], checkout, NUMBER="7")
    check = steps["Check every commit of the pull request"]
    result = run_step(check, checkout, HEAD_BRANCH="exp/idea", BASE_BRANCH="main")
    assert result.returncode == 3
    assert f"harness: {sha[:10]}: eval.py is FROZEN: editing it" in result.stderr


def test_a_fork_main_branch_is_not_taken_for_main(pull_request: tuple[Path, Path]) -> None:
    origin, checkout = pull_request
    worktree = origin / "5_worktrees" / "idea"
    (worktree / "results.tsv").write_text((worktree / "results.tsv").read_text() + "forged\n")
    git(worktree, "commit", "--quiet", "--no-verify", "-am", "a better row")
    publish(origin)
    steps = workflow_steps(checkout)
    run_step(steps["Fetch the pull request's commits (as objects only)"], checkout, NUMBER="7")
    check = steps["Check every commit of the pull request"]
    result = run_step(check, checkout, HEAD_BRANCH="main", BASE_BRANCH="main")
    assert result.returncode == 3
    assert (
        "results.tsv is GLOBAL: it is committed only on main, not on branch pull-request/main"
        in (result.stderr)
    )


def test_the_pre_commit_framework_hook_runs_the_guard(research_repo: Path) -> None:
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "harness-guard"
    assert (hook["language"], hook["pass_filenames"], hook["always_run"]) == ("python", False, True)
    (research_repo / "eval.py").write_text("print(0)\n")
    git(research_repo, "add", "eval.py")
    proc = subprocess.run(
        shlex.split(hook["entry"]),
        cwd=research_repo,
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"},
    )
    assert proc.returncode == 3
    assert proc.stderr.startswith("harness: eval.py is FROZEN: editing it needs META_MODE=1")
