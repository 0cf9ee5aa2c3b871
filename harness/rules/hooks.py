"""The git pre-commit hook that runs the guard.

Hooks live in the common git directory (or in `core.hooksPath`), so one hook serves the
main worktree and every linked worktree. The script embeds the absolute path of the
Python that installed it: the hook runs with git's environment, whose PATH may hold no
harness at all, or another one. A hook that harness did not write is never replaced
silently: `chain=True` keeps it as `pre-commit.before-harness` and runs it first.
"""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from harness.errors import HarnessError
from harness.fileio import write_atomic
from harness.gitops import git

HOOK_NAME = "pre-commit"
CHAINED_NAME = "pre-commit.before-harness"
MARKER = "# harness pre-commit guard"
PYTHON_LINE = "HARNESS_PYTHON="

HookState = Literal["ok", "missing", "foreign", "stale"]

SCRIPT = """#!/bin/sh
{marker} (written by `harness hooks install`; run it again to update this file).
# Checks the staged changes against the file rules of [tool.harness.rules].
{python_line}{python}
chained="$(dirname "$0")/{chained}"
if [ -x "$chained" ]; then
    "$chained" "$@" || exit $?
fi
if [ ! -x "$HARNESS_PYTHON" ]; then
    echo "harness: the pre-commit guard cannot run: $HARNESS_PYTHON is gone;" \\
        "run \\`harness hooks install\\` from the environment that has harness" >&2
    exit 1
fi
exec "$HARNESS_PYTHON" -P -m harness guard --staged
"""


@dataclass(frozen=True)
class HookInstall:
    path: Path
    changed: bool  # False when the same hook was there already
    chained: Path | None  # the foreign hook kept and run first, if any


def hooks_dir(repo: Path) -> Path:
    """Where git looks for hooks (`core.hooksPath`, else the common git dir's hooks)."""
    out = git("rev-parse", "--path-format=absolute", "--git-path", "hooks", cwd=repo)
    return Path(out.strip())


def hook_script(python: str) -> str:
    return SCRIPT.format(
        marker=MARKER, python_line=PYTHON_LINE, python=shlex.quote(python), chained=CHAINED_NAME
    )


def install_hook(repo: Path, *, python: str | None = None, chain: bool = False) -> HookInstall:
    """Install the guard as the pre-commit hook of `repo` (every worktree shares it)."""
    directory = hooks_dir(repo)
    path = directory / HOOK_NAME
    script = hook_script(python or sys.executable)
    chained = None
    if path.exists() and not is_harness_hook(path):
        if not chain:
            raise HarnessError(
                f"{path} exists and harness did not write it: run `harness hooks install "
                f"--chain` to keep it (it runs first), or add `{sys.executable} -P -m harness "
                "guard --staged` to it yourself"
            )
        chained = directory / CHAINED_NAME
        if chained.exists():
            raise HarnessError(f"{chained} exists already: merge it with {path} by hand first")
        os.replace(path, chained)
    changed = not (path.exists() and path.read_text(encoding="utf-8") == script)
    if changed:
        write_atomic(path, script)
    path.chmod(0o755)
    return HookInstall(path, changed=changed, chained=chained)


def is_harness_hook(path: Path) -> bool:
    return MARKER in path.read_text(encoding="utf-8", errors="replace")


def embedded_python(path: Path) -> str | None:
    """The interpreter a harness hook runs, as written in the script."""
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith(PYTHON_LINE):
            try:
                words = shlex.split(line[len(PYTHON_LINE) :])
            except ValueError:  # a hand-edited line with an unbalanced quote
                return None
            return words[0] if words else None
    return None


def hook_state(repo: Path) -> tuple[HookState, str]:
    """Is the guard installed in `repo`? (state, a line for people)."""
    path = hooks_dir(repo) / HOOK_NAME
    if not path.exists():
        return "missing", f"no pre-commit hook in {path.parent}: run `harness hooks install`"
    if not is_harness_hook(path):
        return "foreign", f"{path} is not the harness guard: run `harness hooks install --chain`"
    python = embedded_python(path)
    if not python or not os.access(python, os.X_OK):
        return "stale", f"{path} runs {python}, which is gone: run `harness hooks install`"
    if not os.access(path, os.X_OK):
        return "stale", f"{path} is not executable: run `harness hooks install`"
    return "ok", f"pre-commit guard installed in {path.parent} (runs {python})"
