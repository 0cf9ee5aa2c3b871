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


def run_workflow(
    origin: Path, checkout: Path, *, head_branch: str
) -> subprocess.CompletedProcess[str]:
    """Open pull request 7 from exp/idea on `origin`, then run the workflow's shell steps."""
    git(origin, "update-ref", "refs/pull/7/head", "exp/idea")
    steps = workflow_steps(checkout)
    fetch_step = steps["Fetch the pull request's commits (as objects only)"]
    fetch = run_step(fetch_step, checkout, NUMBER="7")
    assert fetch.returncode == 0, fetch.stderr
    check = steps["Check every commit of the pull request"]
    return run_step(check, checkout, HEAD_BRANCH=head_branch, BASE_BRANCH="main")


def commit_on_branch(origin: Path, relative: str, text: str) -> str:
    """Commit on exp/idea with --no-verify (the hook skipped); returns the sha."""
    worktree = origin / "5_worktrees" / "idea"
    (worktree / relative).write_text(text)
    git(worktree, "commit", "--quiet", "--no-verify", "-am", f"change {relative}")
    return git(worktree, "rev-parse", "HEAD").strip()


def test_init_writes_and_commits_the_workflow(research_repo: Path) -> None:
    assert WORKFLOW in git(research_repo, "ls-files").splitlines()
    steps = workflow_steps(research_repo)
    assert "harness guard --range" in steps["Check every commit of the pull request"]["run"]


def test_the_workflow_passes_a_clean_pull_request(pull_request: tuple[Path, Path]) -> None:
    result = run_workflow(*pull_request, head_branch="exp/idea")
    assert result.returncode == 0, result.stderr


def test_the_workflow_fails_a_pull_request_with_a_no_verify_commit(
    pull_request: tuple[Path, Path],
) -> None:
    sha = commit_on_branch(pull_request[0], "eval.py", "print('val_bpb: 0.0')\n")
    result = run_workflow(*pull_request, head_branch="exp/idea")
    assert result.returncode == 3
    assert f"harness: {sha[:10]}: eval.py is FROZEN: editing it" in result.stderr


def test_a_fork_main_branch_is_not_taken_for_main(pull_request: tuple[Path, Path]) -> None:
    results = (pull_request[0] / "results.tsv").read_text()
    commit_on_branch(pull_request[0], "results.tsv", results + "forged\n")
    result = run_workflow(*pull_request, head_branch="main")
    assert result.returncode == 3
    expected = (
        "results.tsv is GLOBAL: it is committed only on main, not on branch pull-request/main"
    )
    assert expected in result.stderr


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


def test_the_workflow_audits_the_base_branch(pull_request: tuple[Path, Path]) -> None:
    """The audit step fails the job on a FROZEN change of the base branch without a grant
    (pushed to main with --no-verify, past the hooks and any pull request)."""
    checkout = pull_request[1]
    audit = workflow_steps(checkout)["Audit the base branch's history"]
    assert run_step(audit, checkout).returncode == 0
    (checkout / "eval.py").write_text("print('val_bpb: 0.0')\n")
    git(checkout, "commit", "--quiet", "--no-verify", "-am", "sneaky")
    sha = git(checkout, "rev-parse", "HEAD").strip()
    result = run_step(audit, checkout)
    assert result.returncode == 3
    assert f"harness: audit: {sha[:10]}: eval.py changed on main without a grant" in result.stderr
