"""Commands that run the research code: `smoke`."""

from __future__ import annotations

from tyro.conf import Positional


def register(app) -> None:
    app.command(smoke)


def smoke(command: Positional[list[str]] = [], /) -> int:  # noqa: B006 (tyro reads the default)
    """Run the smoke command (a sanity check of a few seconds) in this worktree.

    Records nothing. The command comes from [tool.harness] smoke unless given after `--`.
    Exits with the command's exit code.
    """
    from harness.runner import run_smoke

    return run_smoke(tuple(command))
