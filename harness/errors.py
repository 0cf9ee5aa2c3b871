"""The errors a user can cause. Core modules raise these; only `harness.cli` prints them.

Each class carries the exit code the command line ends with, so a script (or an agent)
can tell a broken rule from a broken setup without parsing the message.
"""

from __future__ import annotations


class HarnessError(Exception):
    """Something the user can fix; the message says what failed and how to fix it."""

    exit_code = 1


class UsageError(HarnessError):
    """A command was called with arguments that cannot work."""

    exit_code = 2


class ConfigError(HarnessError):
    """`[tool.harness]` in pyproject.toml is missing or holds a wrong value."""

    exit_code = 2


class NotARepository(HarnessError):
    """The command needs a git repository (a research repository) and there is none."""

    exit_code = 2


class GitError(HarnessError):
    """A git command failed; the message keeps its argv and the tail of its stderr."""


class RuleViolation(HarnessError):
    """A change breaks a file rule (FROZEN, GLOBAL, APPEND-ONLY, protected main)."""

    exit_code = 3


class RecordError(HarnessError):
    """results.tsv or a journal cannot be read as the harness wrote it."""


class UnknownIdea(HarnessError):
    """No idea file has this slug (an unknown name exits 1, as every other failure)."""


class UnknownRun(HarnessError):
    """No row of results.tsv has this run id or idea."""


class DuplicateIdea(HarnessError):
    """An idea with this slug exists already."""


class QueueUnavailable(HarnessError):
    """The chosen queue backend cannot be reached."""


class WorktreeError(HarnessError):
    """A worktree cannot be created or removed as asked."""


class QueueError(HarnessError):
    """A queue backend refused or failed an operation; the message keeps its own words."""


class UnknownTask(QueueError):
    """The queue has no task with this id."""
