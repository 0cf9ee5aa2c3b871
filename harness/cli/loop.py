"""`harness status` and `harness next`: where the loop stands, and what to do next."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.cli.idea import repository

if TYPE_CHECKING:
    from tyro.extras import SubcommandApp

    from harness.layout import Layout
    from harness.loop.ratchet import RatchetState
    from harness.loop.status import Summary


def register(app: SubcommandApp) -> None:
    app.command(status)
    app.command(name="next")(next_step)
    app.command(brief)


def status(*, json: bool = False) -> int:
    """Show the loop at a glance: ideas by status and how many are still needed, worktrees,
    the queue, the head of the line (the best: its mean over seeds and the chain of
    accepted changes), the best single run (labelled as one), and the next action.

    Everything is read afresh from the repository's files.

    Args:
        json: Print one JSON object instead.
    """
    from harness.loop.state import build_state
    from harness.loop.status import summarise

    layout, config = repository()
    summary = summarise(build_state(layout, config), config)
    chain = imported_chain_line(layout)
    if json:
        import json as jsonlib

        print(jsonlib.dumps(summary.to_json() | {"imported_chain": chain}, indent=2))
    else:
        lines = status_lines(summary, metric=config.metric)
        if chain:
            lines.insert(-1, f"imported   {chain}")
        print("\n".join(lines))
    return 0


def imported_chain_line(layout: Layout) -> str | None:
    """The chain of an imported loop's kept changes, when the record holds imported rows."""
    from harness.record.importing import chain_text
    from harness.record.results import read_results

    path = layout.results_tsv
    if not path.exists() or b"\nimport-" not in path.read_bytes():
        return None
    return chain_text(read_results(path))


def status_lines(summary: Summary, *, metric: str) -> list[str]:
    from harness.cli.worktree import worktree_lines

    counts = ", ".join(f"{name} {n}" for name, n in summary.ideas_by_status.items() if n)
    needed = f"{summary.ideas_needed} more needed" if summary.ideas_needed else "enough"
    lines = [f"record     {summary.record_warning}"] if summary.record_warning else []
    lines.append(f"ideas      {summary.ideas_live} of {summary.ideas_target} ({needed})")
    lines += [f"           {counts}"] if counts else []
    lines.append(f"worktrees  {len(summary.worktrees) or 'none'}")
    lines += [
        f"           {line}" for line in worktree_lines(summary.worktrees, summary.idea_status)
    ]
    lines += [f"rejected   {slug}: {why}" for slug, why in summary.rejected]
    lines.append(f"queue      {queue_line(summary)}")
    lines += [f"           {t.task_id}  {t.state:<8} {t.label}" for t in summary.active_tasks]
    for number, text in enumerate(head_lines(summary.ratchet, metric)):
        lines.append(f"{'head' if number == 0 else '':<11}{text}")
    lines.append(f"best run   {best_line(summary, metric)}")
    action = summary.action
    lines.append(
        f"next       {action.kind}{' ' + action.slug if action.slug else ''}: {action.reason}"
    )
    return lines


def queue_line(summary: Summary) -> str:
    finished = ", ".join(f"{n} {state}" for state, n in summary.finished_tasks.items())
    if not summary.active_tasks:
        return f"idle; finished: {finished}" if finished else "none yet"
    running = sum(task.state == "running" for task in summary.active_tasks)
    text = f"{running} running, {len(summary.active_tasks) - running} queued"
    return text + (f"; finished: {finished}" if finished else "")


def head_lines(ratchet: RatchetState | None, metric: str) -> list[str]:
    """The head of the line, the one notion of best: its mean over seeds, its chain."""
    return ratchet.lines(metric) if ratchet is not None else []


def best_line(summary: Summary, metric: str) -> str:
    """The best single run, labelled as one run (the head is what decisions use)."""
    best = summary.best_run
    if best is None:
        return "none yet" if not summary.runs else f"none yet ({summary.runs} runs, none ok)"
    seed = "" if best.seed is None else f", seed {best.seed}"
    return f"{best.value:.4f} {metric}: one run ({best.slug}{seed}), not a mean over seeds"


def brief(*, json: bool = False) -> int:
    """Everything an agent needs after losing its context, in at most about 150 lines.

    The program's essentials (metric, direction, min_effect, seeds, the file rules), the
    best result against the baseline, every idea in one line (status, effect, verdict),
    the latest Inferences and journal lessons, the queue, warnings, and the next action
    with its commands. Run it first; program.md says so.

    Args:
        json: Print the same as one JSON object.
    """
    from harness.loop.state import build_state
    from harness.reports.brief import make_brief

    layout, config = repository()
    made = make_brief(layout, config, build_state(layout, config))
    if json:
        import json as jsonlib

        print(jsonlib.dumps(made.to_json(), indent=2))
    else:
        print("\n".join(made.lines()))
    return 0


def next_step(*, json: bool = False) -> int:
    """Say what to do next in the research loop, why, and the exact commands to run.

    One of: ideate, critique SLUG, implement SLUG, test SLUG, wait, baseline, report SLUG,
    infer SLUG, submit SLUG, commit-record, rebase SLUG, or stop (the budget in
    [tool.harness.budget] is spent). Read afresh from the repository's files, so it is
    the way back after a lost context. Each command runs as given from the repository
    root; text only you can write goes first to the file each `needs` entry names.

    Args:
        json: Print {"schema": 1, "action", "slug", "reason", "commands", "needs", "rule"}
            as JSON instead (the contract for agents; README, "harness next").
    """
    from harness.loop.state import build_state, next_action

    layout, config = repository()
    state = build_state(layout, config)
    action = next_action(state, config)
    if state.record_warning:  # on stderr: the --json contract on stdout stays as it is
        from loguru import logger

        logger.warning(state.record_warning)
    for need in action.needs:  # the agent writes its drafts here
        if need.file is not None:
            need.file.parent.mkdir(parents=True, exist_ok=True)
    if json:
        import json as jsonlib

        print(jsonlib.dumps(action.to_json(), indent=2))
        return 0
    print(f"{action.kind}{' ' + action.slug if action.slug else ''}")
    print(f"  why:  {action.reason}")
    for need in action.needs:
        target = need.file or need.where
        print(f"  write: {need.what}" + (f" -> {target}" if target else ""))
    for command in action.commands:
        print(f"  run:  {command}")
    return 0
