"""Running the research code's commands (smoke, eval, confirm) in a worktree."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from harness.config import load_config, resolve_argv
from harness.errors import UsageError
from harness.layout import find_layout


def run_smoke(command: tuple[str, ...] = (), *, cwd: Path | None = None) -> int:
    """Run the smoke command in the current worktree, streaming its output."""
    layout = find_layout(cwd)
    argv = resolve_argv(command or load_config(layout.root).smoke)
    return run_streaming(argv, cwd=layout.worktree)


def run_streaming(argv: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> int:
    """Run argv with the terminal's stdout/stderr; returns its exit code."""
    try:
        return subprocess.run(argv, cwd=cwd, env=env or dict(os.environ), check=False).returncode
    except FileNotFoundError:
        raise UsageError(
            f"command not found: {argv[0]}: check [tool.harness] or the PATH"
        ) from None
