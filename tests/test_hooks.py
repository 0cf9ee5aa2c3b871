"""The pre-commit hook: installed by `harness init`, shared by every worktree, independent
of PATH, and careful with hooks it did not write. Real repositories, real `git commit`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.rules.hooks import CHAINED_NAME, hook_state, hooks_dir, install_hook
from tests.conftest import commit_files, git


def commit(repo: Path, *, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "commit", "--quiet", "-m", "attempt"],
        cwd=repo,
        capture_output=True,
        text=True,
        env=env or dict(os.environ),
    )


def stage_frozen_edit(repo: Path) -> None:
    (repo / "eval.py").write_text("print('val_bpb: 0.0')\n")
    git(repo, "add", "eval.py")


def test_init_installs_the_hook_with_this_python(research_repo: Path, cli) -> None:
    hook = research_repo / ".git" / "hooks" / "pre-commit"
    assert os.access(hook, os.X_OK)
    assert f"HARNESS_PYTHON={sys.executable}\n" in hook.read_text()
    assert hook_state(research_repo)[0] == "ok"
    assert (
        "OK    hooks        pre-commit guard installed in" in cli("doctor", cwd=research_repo).out
    )


def test_the_hook_works_from_a_linked_worktree_and_without_python_on_path(
    research_repo: Path,
) -> None:
    worktree = research_repo / "5_worktrees" / "idea"
    git(research_repo, "worktree", "add", "--quiet", "-b", "exp/idea", str(worktree))
    assert hooks_dir(worktree) == hooks_dir(research_repo)
    stage_frozen_edit(worktree)
    env = {**os.environ, "PATH": "/usr/bin:/bin"}  # git, but no harness and no venv python
    proc = commit(worktree, env=env)
    assert proc.returncode == 1
    assert "harness: eval.py is FROZEN: editing it needs META_MODE=1" in proc.stderr


def test_a_hook_whose_python_is_gone_says_so_and_refuses(research_repo: Path, cli) -> None:
    install_hook(research_repo, python="/nowhere/venv/bin/python")
    (research_repo / "1_ideas" / "x.md").write_text("x\n")
    git(research_repo, "add", "1_ideas/x.md")
    proc = commit(research_repo)
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        "harness: the pre-commit guard cannot run: /nowhere/venv/bin/python is gone; "
        "run `harness hooks install` from the environment that has harness"
    )
    state, detail = hook_state(research_repo)
    assert state == "stale" and "/nowhere/venv/bin/python, which is gone" in detail
    assert "WARN  hooks" in cli("doctor", cwd=research_repo).out
    assert cli("hooks", "install", cwd=research_repo).out.startswith("installed")
    assert commit(research_repo).returncode == 0


def test_reinstalling_changes_nothing(research_repo: Path, cli) -> None:
    hook = research_repo / ".git" / "hooks" / "pre-commit"
    before, stat, files = hook.read_bytes(), hook.stat(), sorted(hook.parent.iterdir())
    result = cli("hooks", "install", cwd=research_repo)
    assert (result.code, result.out.split()[:1]) == (0, ["up"])
    assert result.out.startswith("up to date  ")
    after = hook.stat()
    assert hook.read_bytes() == before and (after.st_mode, after.st_ino) == (
        stat.st_mode,
        stat.st_ino,
    ), "the hook file is left exactly as it was (not even rewritten)"
    assert sorted(hook.parent.iterdir()) == files, "no chained or backup hook appears"


@pytest.fixture
def foreign_hook(research_repo: Path) -> Path:
    hook = research_repo / ".git" / "hooks" / "pre-commit"
    hook.write_text('#!/bin/sh\necho "lint ran" > "$(git rev-parse --show-toplevel)/lint.log"\n')
    hook.chmod(0o755)
    return hook


def test_a_foreign_hook_is_not_replaced_silently(
    research_repo: Path, foreign_hook: Path, cli
) -> None:
    before = foreign_hook.read_text()
    result = cli("hooks", "install", cwd=research_repo)
    assert result.code == 1
    assert result.err.startswith(
        f"harness: {foreign_hook} exists and harness did not write it: run `harness hooks "
        "install --chain` to keep it (it runs first)"
    )
    assert foreign_hook.read_text() == before
    assert hook_state(research_repo)[0] == "foreign"


def test_init_keeps_a_foreign_hook_and_says_so(tmp_path: Path, cli) -> None:
    repo = tmp_path / "mine"
    repo.mkdir()
    git(repo, "init", "--quiet", "--initial-branch=main")
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\nexit 0\n")
    hook.chmod(0o755)
    result = cli("init", str(repo), cwd=tmp_path)
    assert result.code == 0
    assert "pre-commit guard not installed: " in result.out
    assert hook.read_text() == "#!/bin/sh\nexit 0\n"


def test_chain_keeps_the_foreign_hook_and_runs_it_first(
    research_repo: Path, foreign_hook: Path, cli
) -> None:
    result = cli("hooks", "install", "--chain", cwd=research_repo)
    assert result.code == 0, result.err
    assert (foreign_hook.parent / CHAINED_NAME).exists()
    stage_frozen_edit(research_repo)
    proc = commit(research_repo)
    assert proc.returncode == 1 and "eval.py is FROZEN" in proc.stderr
    assert (research_repo / "lint.log").read_text() == "lint ran\n"


def test_core_hooks_path_is_respected(research_repo: Path) -> None:
    git(research_repo, "config", "core.hooksPath", ".githooks")
    done = install_hook(research_repo)
    assert done.path == research_repo / ".githooks" / "pre-commit"
    stage_frozen_edit(research_repo)
    assert "eval.py is FROZEN" in commit(research_repo).stderr


def test_the_fast_path_decides_an_unguarded_commit_without_python(research_repo: Path) -> None:
    """The hook's shell decides a commit on an exp/ branch that touches no guarded path: a
    hook whose Python is gone still lets it through, and sends everything else to Python."""
    install_hook(research_repo, python="/nowhere/venv/bin/python")
    worktree = research_repo / "5_worktrees" / "idea"
    git(research_repo, "worktree", "add", "--quiet", "-b", "exp/idea", str(worktree))
    (worktree / "train.py").write_text("x = 1\n")
    (worktree / "src").mkdir()
    (worktree / "src" / "eval.py").write_text("y = 2\n")  # not the root's eval.py
    git(worktree, "add", "train.py", "src/eval.py")
    assert commit(worktree).returncode == 0  # no Python started: the fast path
    stage_frozen_edit(worktree)
    proc = commit(worktree)
    assert proc.returncode == 1 and "/nowhere/venv/bin/python is gone" in proc.stderr


def test_the_fast_path_is_off_once_mains_config_changed(research_repo: Path) -> None:
    """The globs are baked in at install: after a change of main's pyproject.toml the hook
    sends every commit to Python (which bakes the new globs in again)."""
    hook = research_repo / ".git" / "hooks" / "pre-commit"
    worktree = research_repo / "5_worktrees" / "idea"
    git(research_repo, "worktree", "add", "--quiet", "-b", "exp/idea", str(worktree))
    text = (research_repo / "pyproject.toml").read_text()
    commit_files(
        research_repo,
        {
            "pyproject.toml": text.replace(
                'frozen = ["eval.py",', 'frozen = ["train.py", "eval.py",'
            )
        },
        "train.py is FROZEN now",
        meta=True,
    )
    (worktree / "train.py").write_text("x = 1\n")
    git(worktree, "add", "train.py")
    proc = commit(worktree)
    assert proc.returncode == 1 and "train.py is FROZEN" in proc.stderr
    assert "|train.py|" in hook.read_text(), "the Python guard baked the new globs in"
    (worktree / "notes.txt").write_text("x\n")
    git(worktree, "add", "notes.txt")
    git(worktree, "reset", "--quiet", "train.py")
    install_hook(research_repo, python="/nowhere/venv/bin/python")
    assert commit(worktree).returncode == 0  # the fast path again, with the new globs


def test_both_hooks_are_installed_and_ignore_replace_refs(research_repo: Path) -> None:
    directory = hooks_dir(research_repo)
    for name in ("pre-commit", "pre-merge-commit"):
        script = (directory / name).read_text()
        assert "export GIT_NO_REPLACE_OBJECTS=1\n" in script
        assert script.endswith('exec "$HARNESS_PYTHON" -P -m harness guard --staged\n')
    pin = git(research_repo, "config", "--get", "harness.mainBranch").strip()
    assert pin == "main"
