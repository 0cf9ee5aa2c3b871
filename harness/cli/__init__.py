"""The `harness` command line: one tyro app, one small module per noun.

A command parses its arguments, calls one core function and renders what it returns.
This module is the one place where a `HarnessError` becomes one line on stderr and an
exit code; nothing else prints errors or exits.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

DESCRIPTION = (
    "A git-native research loop: ideas, worktrees, guarded files, queued evaluations. "
    "`harness --version` prints the version."
)


def build_app():
    from tyro.extras import SubcommandApp

    from harness.cli import (
        dashboard,
        guard,
        idea,
        journal,
        loop,
        queue,
        report,
        results,
        runs,
        setup,
        worktree,
    )

    app = SubcommandApp()
    modules = (setup, loop, idea, worktree, runs, queue, results, report, journal, guard, dashboard)
    for module in modules:
        module.register(app)
    return app


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (the console script exits with it)."""
    from harness.cli.guard import fast_guard
    from harness.errors import HarnessError

    args = list(sys.argv[1:] if argv is None else argv)
    if args in (["--version"], ["-V"]):
        return print_version()
    try:
        fast = fast_guard(args)  # the pre-commit hook's path: no tyro, no loguru
        if fast is not None:
            return fast()
        configure_logging()
        result = build_app().cli(
            prog="harness", description=DESCRIPTION, args=args, sort_subcommands=False
        )
    except HarnessError as exc:
        print(f"harness: {exc}", file=sys.stderr)
        return exc.exit_code
    except SystemExit as exc:  # tyro's parse errors and --help
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    except KeyboardInterrupt:
        print("harness: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `harness ... | head`: the reader left, which is not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    return result if isinstance(result, int) else 0


def print_version() -> int:
    """`harness --version`: the version of the code that runs, and the distribution's name."""
    import harness

    print(f"harness {harness.__version__} ({harness.DISTRIBUTION})")
    return 0


def configure_logging() -> None:
    """Log lines go to stderr (stdout carries data); HARNESS_LOG sets the level."""
    from loguru import logger

    logger.remove()
    level = os.environ.get("HARNESS_LOG", "INFO").upper()
    logger.add(sys.stderr, level=level, format="<level>{message}</level>", colorize=None)
