"""The command line as a process and in-process: help, exit codes, one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_python_m_harness_help_runs_as_a_process() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "--help"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0
    assert "usage: harness" in proc.stdout
    for command in ("init", "doctor", "smoke"):
        assert command in proc.stdout


def test_a_command_outside_a_repository_fails_in_one_line(tmp_path: Path, cli) -> None:
    result = cli("smoke", cwd=tmp_path)
    assert result.code == 2
    assert result.err == (
        f"harness: {tmp_path.resolve()} is not inside a git repository: run `harness init` "
        "there, or cd into a research repository\n"
    )
    assert result.out == ""


def test_smoke_passes_the_exit_code_through(research_repo: Path, cli) -> None:
    code = "import sys; print('hi'); sys.exit(7)"
    assert cli("smoke", "--", "python", "-c", code, cwd=research_repo).code == 7


def test_unknown_command_is_a_usage_error(tmp_path: Path, cli) -> None:
    assert cli("frobnicate", cwd=tmp_path).code == 2


def test_doctor_fails_outside_a_repository(tmp_path: Path, cli) -> None:
    result = cli("doctor", cwd=tmp_path)
    assert result.code == 1
    assert result.out.startswith("FAIL  repository")


def test_every_unknown_name_exits_1(research_repo: Path, cli, monkeypatch) -> None:
    """An idea, a run id or a queue task that does not exist: one line, exit code 1."""
    monkeypatch.setenv("HARNESS_QUEUE", "local")
    for args in (
        ("idea", "show", "nope"),
        ("worktree", "create", "nope"),
        ("results", "compare", "nope", "nada"),
        ("queue", "log", "local:99"),
        ("queue", "kill", "local:99"),
    ):
        result = cli(*args, cwd=research_repo)
        assert (result.code, result.err.count("\n")) == (1, 1), (args, result.err)
        assert result.err.startswith("harness: ") and ("nope" in result.err or "99" in result.err)
