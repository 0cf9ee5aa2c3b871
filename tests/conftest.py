"""Shared fixtures: real git repositories in temporary folders, isolated from the machine.

HOME and git's global config point into a temporary directory for the whole session, so
no user or system git setting (hooks path, signing, identity) leaks into a test.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.cli import main
from harness.scaffold import init_research_repo


@pytest.fixture(scope="session", autouse=True)
def isolated_git(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    home = tmp_path_factory.mktemp("home")
    gitconfig = home / ".gitconfig"
    gitconfig.write_text(
        "[user]\n\tname = Test Researcher\n\temail = researcher@example.com\n"
        "[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n"
    )
    saved = dict(os.environ)
    os.environ.update(
        {
            "HOME": str(home),
            "GIT_CONFIG_GLOBAL": str(gitconfig),
            "GIT_CONFIG_NOSYSTEM": "1",
            "HARNESS_DEBUG": "1",  # a bug shows its traceback in a test, not a one-line note
        }
    )
    # pueue finds its config and socket through these: a user's own pueued must never
    # receive a test's tasks (`auto` would choose it)
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_RUNTIME_DIR"):
        folder = home / name.lower()
        folder.mkdir(mode=0o700)
        os.environ[name] = str(folder)
    for name in (
        "META_MODE",
        "HARNESS_QUEUE",
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "PUEUE_CONFIG_PATH",
        # a suite run as a queued task must not pass that task's identity on to its tests
        "HARNESS_QUEUE_TASK",
        "HARNESS_TASK_TOKEN",
        "HARNESS_QUEUE_DEADLINE",
        "HARNESS_AGENT",
    ):
        os.environ.pop(name, None)
    yield
    os.environ.clear()
    os.environ.update(saved)


def git(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """Run git in `repo`; fail the test with git's stderr when it fails."""
    proc = subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, env={**os.environ, **(env or {})}
    )
    assert proc.returncode == 0, f"git {' '.join(args)} failed: {proc.stderr}"
    return proc.stdout


def commit_files(
    repo: Path, files: dict[str, str], message: str = "change", *, meta: bool = False
) -> str:
    """Write `files` (path -> content) into `repo`, commit exactly them, return the sha.

    `meta=True` commits as the human would in META_MODE (the guard lets FROZEN files and
    code on main through); without it the pre-commit guard applies as usual.
    """
    for relative, content in files.items():
        path = repo / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    git(repo, "add", "--", *files)
    git(repo, "commit", "--quiet", "-m", message, env={"META_MODE": "1"} if meta else None)
    return git(repo, "rev-parse", "HEAD").strip()


def commit_config(repo: Path, edit: Callable[[str], str], message: str = "configure") -> str:
    """Change pyproject.toml with `edit` and commit it on main as the human would (META_MODE).

    The configuration is read from main's commit, never from the working copy, so a test
    that configures the harness commits the change (`repo` must be on main)."""
    text = edit((repo / "pyproject.toml").read_text(encoding="utf-8"))
    return commit_files(repo, {"pyproject.toml": text}, message, meta=True)


def configure_eval(repo: Path, command: list[str]) -> None:
    """Make `command` the configured evaluation (committed as the human, in META_MODE):
    a row of `harness eval -- CMD` never counts, a row of the configured command does."""
    line = f"eval = {json.dumps(shlex.join(command))}"
    commit_config(
        repo,
        lambda text: re.sub(r'(?m)^eval = "[^"]*"', lambda _: line, text),
        "the evaluation for this test",
    )


@pytest.fixture(scope="session")
def example_template(tmp_path_factory: pytest.TempPathFactory, isolated_git: None) -> Path:
    """One research repository with the bundled example, built once per session."""
    root = tmp_path_factory.mktemp("template") / "research"
    init_research_repo(root, example=True)
    return root


@pytest.fixture
def research_repo(example_template: Path, tmp_path: Path) -> Path:
    """A private copy of the example research repository (a real git repository)."""
    root = tmp_path / "research"
    shutil.copytree(example_template, root, symlinks=True)
    return root


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """stdin is a real terminal (a pty), as for a human typing `harness meta on`."""
    import pty

    main_fd, secondary_fd = pty.openpty()
    with open(secondary_fd, encoding="utf-8") as stdin:
        monkeypatch.setattr("sys.stdin", stdin)
        yield
    os.close(main_fd)


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def local_queue_repo(research_repo: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The example research repository using the local queue; its worker stopped after."""
    from harness.queue.local import LocalBackend

    monkeypatch.setenv("HARNESS_QUEUE", "local")
    yield research_repo
    LocalBackend(research_repo / ".git" / "harness" / "queue").stop_worker()


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    """Call the harness CLI in-process: cli(*args, cwd=path) -> CliResult."""

    def run(*args: str, cwd: Path) -> CliResult:
        monkeypatch.chdir(cwd)
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run
