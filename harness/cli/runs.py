"""Commands that run the research code: `smoke`, `eval` and `baseline`."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

from tyro.conf import Positional, arg

if TYPE_CHECKING:
    from tyro.extras import SubcommandApp


def register(app: SubcommandApp) -> None:
    app.command(smoke)
    app.command(name="eval")(eval_)
    app.command(baseline)


def smoke(
    command: Positional[Annotated[list[str], arg(metavar="[-- CMD ...]")]] = [],  # noqa: B006
    /,
) -> int:
    """Run the smoke command (a sanity check of a few seconds) in this worktree.

    Records nothing. The command comes from [tool.harness] smoke unless given after `--`.
    Exits with the command's exit code.
    """
    from harness.runs.runner import run_smoke

    return run_smoke(tuple(command))


def eval_(
    command: Positional[Annotated[list[str], arg(metavar="[-- CMD ...]")]] = [],  # noqa: B006
    /,
    *,
    seed: int | None = None,
    question: Annotated[str | None, arg(aliases=("-q",))] = None,
    hypothesis: Annotated[str | None, arg(aliases=("-H",))] = None,
    expected: Annotated[str | None, arg(aliases=("-e",))] = None,
    timeout: float | None = None,
    description: str = "",
    queue_task: str | None = None,
    allow_dirty: bool = False,
) -> int:
    """Run the evaluation in this worktree and record the run in results.tsv and the journal.

    The command comes from [tool.harness] eval unless given after `--` (then its row has
    integrity `command` and never counts); it gets `--seed N` appended and HARNESS_SEED,
    HARNESS_METRICS_FILE set. Its metrics are read from that JSON file (a pipe only the
    command's first process holds) or from `key: value` lines after a `---` line. A crash, a missing
    metric, a timeout or Ctrl-C is recorded too. Rows and entries go to the main
    worktree's results.tsv and RESEARCH_JOURNAL.md, whichever worktree this runs in.
    Refuses a worktree whose research code has uncommitted changes (naming them) unless
    --allow-dirty, whose rows never count. Nothing runs when the record, lock, logs or
    queue folders cannot be written; a run whose harness is killed gets its row from the
    next `harness sync`, `status` or `next`, and its processes never outlive the harness.
    Exits 0 when the run is ok, 1 crash, 124 timeout; stopped by a signal, 128 + N
    (130 Ctrl-C, 143 SIGTERM).

    Args:
        command: The evaluation command; empty: [tool.harness] eval.
        seed: The seed; none: HARNESS_SEED, else 0.
        question: The question the run answers; none: HARNESS_QUESTION.
        hypothesis: What you expect and why; none: HARNESS_HYPOTHESIS.
        expected: The expected change of the metric, signed: -0.02 means 0.02 lower; none:
            HARNESS_EXPECTED, else a number in the hypothesis, else the idea's Expected effect.
        timeout: Seconds before the run is stopped; none: [tool.harness] timeout.
        description: A note stored with the row.
        queue_task: The queue's task id; none: HARNESS_QUEUE_TASK (the queue sets it).
        allow_dirty: Run on uncommitted code anyway; the row is marked dirty and never counts.
    """
    from harness.layout import find_layout
    from harness.loop.ideas import mark_testing
    from harness.runs.evaluation import EvalRequest, evaluate

    request = EvalRequest(
        command=tuple(command),
        seed=seed,
        question=question,
        hypothesis=hypothesis,
        expected=expected_change(expected=expected, hypothesis=hypothesis),
        queue_task=queue_task,
        timeout=timeout,
        description=description,
        allow_dirty=True if allow_dirty else None,
    )
    layout = find_layout()
    if layout.referee is None:
        run = evaluate(request, stdout=sys.stdout, stderr=sys.stderr)
    else:  # referee mode: a request for this commit, waited for
        from harness.config import load_config
        from harness.runs.referee_client import request_eval

        config = load_config(layout.root)
        run = request_eval(request, config=config, stdout=sys.stdout, stderr=sys.stderr)
    mark_testing(layout, run.row["idea"], run_id=run.row["run_id"])
    print(summary_line(run.row, log_path=str(run.log_path)))
    return run.exit_code


def expected_change(*, expected: str | None, hypothesis: str | None) -> str | None:
    """The signed expected change of the metric, as `harness.loop.expectation` resolves it
    for this worktree's idea; a queued run's HARNESS_EXPECTED text is kept when it states
    no number (a flag that states none is an error)."""
    import os

    from harness import gitops
    from harness.config import load_config
    from harness.layout import find_layout, idea_of
    from harness.loop.expectation import resolve_expected

    layout = find_layout()
    config = load_config(layout.root)
    inherited = os.environ.get("HARNESS_EXPECTED") or None
    if expected is None and inherited is not None:
        found = resolve_expected(layout, None, expected=None, hypothesis=inherited)
        return found.text or inherited
    branch = gitops.current_branch(layout.worktree)
    slug = idea_of(branch, main_branch=config.main_branch, commit=None)
    said = hypothesis if hypothesis is not None else os.environ.get("HARNESS_HYPOTHESIS")
    found = resolve_expected(layout, slug, expected=expected, hypothesis=said)
    return found.text or None


def summary_line(row: dict[str, Any], *, log_path: str) -> str:
    value = "no value" if row.get("value") is None else f"{row['metric']} {row['value']:.6g}"
    line = f"recorded run {row['run_id']} ({row['idea']}, seed {row['seed']}): {value}, "
    line += f"{row['status']}, {row['duration_s']:.1f} s"
    if row.get("integrity") != "ok":
        line += ", INTEGRITY MODIFIED (never counts)"
    if row["status"] != "ok":
        line += f"; log: {log_path}"
    return line


def baseline(*, seeds: int | None = None, timeout: float | None = None, json: bool = False) -> int:
    """Measure the noise of the main branch: N seeds, then the first seed once more.

    Runs the evaluation in the main worktree N times (default: [tool.harness] seeds) with
    seeds 0..N-1 and once more with seed 0, records every run as `baseline`, and reports
    the standard deviation against min_effect, whether the same seed gave the same
    number, and the duration against the timeout and budget. Exits 1 when a run failed
    or the noise is not below min_effect.

    Args:
        seeds: How many different seeds to run; none: [tool.harness] seeds.
        timeout: Seconds each run may take; none: [tool.harness] timeout.
        json: Print the report as JSON (the runs' output goes to stderr).
    """
    from harness.runs.baseline import render_report, run_baseline

    echo = sys.stderr if json else sys.stdout
    report = run_baseline(seeds=seeds, timeout=timeout, stdout=echo, stderr=sys.stderr)
    if json:
        import json as json_module

        print(json_module.dumps(report.as_dict(), indent=2))
    else:
        print(render_report(report))
    return 0 if report.passed else 1
