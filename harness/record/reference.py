"""The reference that moves (docs/architecture.md §4): the head of the line and its runs.

The line is the branch winners join: main, or the research trunk when `advance = "trunk"`
(before its first use the trunk is main's head). Its head's runs are every valid run of
the head's code, whatever branch they ran on: after a fast-forward or an empty merge the
winner's runs are the head's, and nothing is run again. A run counts for a code only when
it evaluated that code committed (a dirty worktree's code never equals a clean one).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness import gitops
from harness.config import Config
from harness.record.code import code_of, record_paths
from harness.record.compare import Side, side_from_valid
from harness.record.results import valid_runs

if TYPE_CHECKING:
    import polars as pl


@dataclass(frozen=True)
class Head:
    """A commit of a line and its code."""

    branch: str
    commit: str
    code: str

    @property
    def label(self) -> str:
        """How comparisons name it: `main@1a2b3c4d`."""
        return f"{self.branch}@{self.commit[:8]}"


def line_head(root: Path, config: Config) -> Head | None:
    """The head of the line; None while the main branch has no commit."""
    branch = config.line if gitops.branch_exists(root, config.line) else config.main_branch
    return head_of(root, config, branch)


def head_of(root: Path, config: Config, branch: str) -> Head | None:
    """The head of `branch` (None when there is no such branch)."""
    commit = gitops.resolve_commit(root, f"refs/heads/{branch}")
    if commit is None:
        return None
    code = code_of(root, commit, record=record_paths(config))
    return None if code is None else Head(branch, commit, code)


def runs_of_code(frame: pl.DataFrame, config: Config, code: str) -> pl.DataFrame:
    """The valid runs that evaluated `code` (the frame's codes filled, see fill_codes)."""
    import polars as pl

    return valid_runs(frame, config).filter(pl.col("code") == code)


def side_of_code(frame: pl.DataFrame, config: Config, code: str, label: str) -> Side | None:
    """The valid runs of `code` as a Side named `label`; None when it has none."""
    rows = runs_of_code(frame, config, code)
    return side_from_valid(label, rows) if not rows.is_empty() else None


def seeds_measured(frame: pl.DataFrame, config: Config, code: str) -> int:
    """How many different seeds gave a valid run of `code`."""
    return runs_of_code(frame, config, code).get_column("seed").drop_nulls().n_unique()
