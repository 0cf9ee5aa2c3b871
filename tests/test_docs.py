"""Every command has help text and appears in the README."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def commands() -> list[list[str]]:
    """Every leaf command path of the CLI, read from its --help output."""
    found: list[list[str]] = []

    def walk(path: list[str]) -> None:
        out = help_of(path)
        block = out.split("subcommands", 1)
        if len(block) == 1:
            found.append(path)
            return
        names = re.findall(r"• ([a-z][a-z-]*)", block[1])
        for name in names:
            walk([*path, name])

    walk([])
    return found


def help_of(path: list[str]) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "harness", *path, "--help"],
        capture_output=True,
        text=True,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_every_command_has_help_and_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    leaves = commands()
    assert len(leaves) >= 3
    for path in leaves:
        text = help_of(path)
        description = text.split("\n\n", 2)[1].strip()
        assert description and not description.startswith("╭"), f"{path} has no help text"
        assert f"harness {' '.join(path)}" in readme, f"`harness {' '.join(path)}` not in README"
