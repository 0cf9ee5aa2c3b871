"""The `harness` command line: one tyro app, one small module per noun.

A command parses its arguments, calls one core function and renders what it returns.
This module is the one place where a `HarnessError` becomes one line on stderr and an
exit code; nothing else prints errors or exits.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tyro.extras import SubcommandApp

DESCRIPTION = (
    "A git-native research loop: ideas, worktrees, guarded files, queued evaluations. "
    "`harness --version` prints the version."
)


def build_app() -> SubcommandApp:
    from tyro.extras import SubcommandApp

    from harness.cli import (
        dashboard,
        guard,
        idea,
        journal,
        loop,
        queue,
        referee,
        report,
        results,
        runs,
        setup,
        worktree,
    )

    app = SubcommandApp()
    modules = [setup, loop, idea, worktree, runs, queue, referee, results, report, journal]
    modules += [guard, dashboard]
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
            # loguru, if a rare warning imports it, then logs as configure_logging would
            os.environ.setdefault("LOGURU_FORMAT", "<level>{message}</level>")
            return fast()
        configure_logging()
        from harness.cli.usage import check_text_arguments, one_line_errors

        check_text_arguments(args)
        with one_line_errors(args):
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
    except OSError as exc:  # the machine's problem (a full disk, a read-only folder)
        print(f"harness: {describe_os_error(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:  # a bug: one line for the user, the traceback kept in a file
        if os.environ.get("HARNESS_DEBUG") == "1":
            raise
        print(f"harness: {report_bug(exc)}", file=sys.stderr)
        return 1
    return result if isinstance(result, int) else 0


def print_version() -> int:
    """`harness --version`: the version of the code that runs, and the distribution's name."""
    import harness

    print(f"harness {harness.__version__} ({harness.DISTRIBUTION})")
    return 0


def report_bug(exc: Exception) -> str:
    """Keep the traceback of an unexpected exception in a file; the line that says where."""
    import tempfile
    import traceback

    what = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
    try:
        fd, path = tempfile.mkstemp(prefix="harness-traceback-", suffix=".txt")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write("".join(traceback.format_exception(exc)))
    except OSError:
        path = "not saved (set HARNESS_DEBUG=1 to see it)"
    return (
        f"internal error ({what}): a bug in harness, please report it with the traceback "
        f"in {path} (HARNESS_DEBUG=1 shows it here)"
    )


OS_ERROR_FIXES = {
    errno.ENOSPC: "free some space on that file system",
    errno.EDQUOT: "free some space (the disk quota is used up)",
    errno.EACCES: "make it writable for this user",
    errno.EPERM: "make it writable for this user (check chattr and permissions)",
    errno.EROFS: "the file system is mounted read-only: use a writable one",
}


def describe_os_error(exc: OSError) -> str:
    """One line for an OSError no command caught: what failed, on which path, the fix."""
    where = " -> ".join(str(name) for name in (exc.filename, exc.filename2) if name)
    reason = exc.strerror or str(exc) or type(exc).__name__
    fix = OS_ERROR_FIXES.get(exc.errno or 0, "check the path and try again")
    return f"{where}: {reason}: {fix}" if where else f"{reason}: {fix}"


def configure_logging() -> None:
    """Log lines go to stderr (stdout carries data); HARNESS_LOG sets the level."""
    from loguru import logger

    logger.remove()
    level = os.environ.get("HARNESS_LOG", "INFO").upper()
    logger.add(sys.stderr, level=level, format="<level>{message}</level>", colorize=None)
