"""The agent's side of referee mode: `harness eval` (and `baseline`) as requests.

In referee mode a run is a request to the referee for this worktree's commit; the
command waits for it, shows its output as it comes, and returns the row the referee
recorded, so that `eval` and `baseline` print what they print in the default mode.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TextIO

from harness.config import Config
from harness.errors import HarnessError, RecordError
from harness.layout import Layout, find_layout
from harness.queue.ops import follow, make_label
from harness.queue.spool import SpoolBackend
from harness.record.results import read_results
from harness.runs.evaluation import EvalRequest, RecordedRun, refuse_uncommitted, with_environment


def request_eval(
    request: EvalRequest,
    *,
    start: Path | None = None,
    config: Config,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> RecordedRun:
    """Ask the referee to evaluate this worktree's commit; wait; the row it recorded."""
    from harness.queue.base import TaskSpec

    layout = find_layout(start)
    assert layout.referee is not None
    if request.allow_dirty:
        raise HarnessError("referee mode evaluates commits: commit the code, then run it")
    refuse_uncommitted(layout, config, allow=False)
    request = with_environment(request)
    env = {
        "HARNESS_QUESTION": request.question or "",
        "HARNESS_HYPOTHESIS": request.hypothesis or "",
        "HARNESS_EXPECTED": request.expected or "",
    }
    if request.seed is not None:
        env["HARNESS_SEED"] = str(request.seed)
    env |= commit_env(layout.worktree)
    spool = SpoolBackend(layout.referee)
    spec = TaskSpec(
        argv=("harness", "eval"),
        cwd=str(layout.worktree),
        env=env,
        label=make_label(request.question or "", request.hypothesis or ""),
    )
    task_id = spool.submit(spec)
    if stderr is not None:
        print(f"referee: request referee:{task_id} sent; waiting for the referee", file=stderr)
    final = follow(spool, task_id, write=(stdout.write if stdout else lambda text: None))
    row = recorded_row(layout, final.token)
    if row is None:
        raise HarnessError(
            f"the referee recorded no run for referee:{task_id} ({final.state}"
            f"{': ' + final.detail if final.detail else ''}); its log: {spool.logs / task_id}.log"
        )
    return RecordedRun(row=row, log_path=spool.logs / f"{task_id}.log", entry="")


def recorded_row(layout: Layout, token: str) -> dict[str, Any] | None:
    """The row of the referee's record with this task token (None: none, or unreadable)."""
    import polars as pl

    try:
        frame = read_results(layout.results_tsv)
    except RecordError:
        return None
    rows = frame.filter(pl.col("task_token") == token).to_dicts()
    return rows[-1] if rows else None


def commit_env(worktree: Path) -> dict[str, str]:
    """What a request to the referee names: the worktree's commit and branch, now."""
    from harness import gitops
    from harness.queue.spool import BRANCH_ENV, COMMIT_ENV

    return {
        COMMIT_ENV: gitops.head_commit(worktree) or "",
        BRANCH_ENV: gitops.current_branch(worktree) or "",
    }


def request_env(layout: Layout) -> dict[str, str]:
    """The environment a queued task needs in this mode: in referee mode, its commit."""
    return {} if layout.referee is None else commit_env(layout.worktree)
