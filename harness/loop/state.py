"""The research loop as a state machine: `harness next` and `harness status`.

`build_state` reads a `LoopState` snapshot from the repository's files (ideas, worktrees,
reports, results, queue); nothing is cached, so an agent that lost its context resumes
from the files alone. `next_action` then tries an ordered list of small rules, each a
pure function `(state, config) -> Action | None`; the first that fires wins. A later
input (a new record, a new kind of task) adds a field to LoopState and a rule here.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from harness.config import Config
from harness.errors import HarnessError
from harness.layout import WORKTREES_DIR, Layout
from harness.loop.critique import pick_idea
from harness.loop.ideas import FILE_NAME, Idea, load_ideas
from harness.loop.worktrees import Worktree, list_worktrees
from harness.queue.base import TaskState
from harness.record.compare import mean_of as finite_mean

Kind = Literal[
    "ideate", "critique", "implement", "test", "wait", "report", "submit", "baseline", "stop"
]
BASELINE = "baseline"  # the `idea` of results rows run on the main branch
FINISHED = ("reported", "submitted")


@dataclass(frozen=True)
class RunRecord:
    """One row of results.tsv, as far as the loop needs it."""

    idea: str
    status: str  # ok / crash / timeout / killed / lost / confirm
    value: float | None = None
    integrity: str = "ok"  # ok / modified
    seed: int | None = None
    timestamp: str = ""  # UTC, ISO 8601
    duration_s: float | None = None

    @property
    def counts(self) -> bool:
        """A result that may be compared: finished ok, a value, FROZEN files as on main."""
        ok = self.status == "ok" and self.integrity == "ok"
        return ok and self.value is not None and math.isfinite(self.value)


@dataclass(frozen=True)
class LoopState:
    """Everything the rules look at, read from the files of one repository."""

    root: Path
    ideas: tuple[Idea, ...] = ()
    worktrees: tuple[Worktree, ...] = ()
    reports: frozenset[str] = frozenset()  # slugs with a report in 9_reports/
    runs: tuple[RunRecord, ...] = ()
    active_tasks: tuple[TaskState, ...] = ()  # queued or running

    def runs_of(self, slug: str) -> list[RunRecord]:
        return [run for run in self.runs if run.idea == slug]

    def worktree_of(self, slug: str) -> Worktree | None:
        return next((w for w in self.worktrees if w.slug == slug), None)

    def tasks_of(self, slug: str) -> list[TaskState]:
        """Active tasks that run inside the idea's worktree."""
        worktree = self.worktree_of(slug)
        if worktree is None:
            return []
        return [t for t in self.active_tasks if _is_within(Path(t.cwd), worktree.path)]


def _is_within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


@dataclass(frozen=True)
class Action:
    """What to do next, why, and the exact commands to run."""

    kind: Kind
    reason: str
    slug: str | None = None
    commands: tuple[str, ...] = ()
    rule: str = ""  # the rule that fired

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.kind,
            "slug": self.slug,
            "reason": self.reason,
            "commands": list(self.commands),
            "rule": self.rule,
        }


Rule = Callable[[LoopState, Config], Action | None]


# -- the loaders -------------------------------------------------------------------------


def load_runs(layout: Layout, config: Config) -> list[RunRecord]:
    """The rows of the root results.tsv as RunRecords (an unreadable file is a RecordError)."""
    from harness.record.results import read_results

    if not layout.results_tsv.exists():
        return []
    frame = read_results(layout.results_tsv)
    columns = ("idea", "status", "value", "integrity", "seed", "timestamp", "duration_s")
    return [
        RunRecord(**{name: row[name] for name in columns})
        for row in frame.select(columns).iter_rows(named=True)
    ]


def load_active_tasks(layout: Layout, config: Config) -> list[TaskState]:
    """The harness's queued and running tasks, from the configured queue backend.

    A backend that cannot be reached is reported on stderr and counts as empty, so that
    `harness next` still answers (the agent sees the warning).
    """
    from harness.queue.choice import open_configured

    try:
        _, backend = open_configured(layout, config)
        return [task for task in backend.states() if not task.is_final]
    except HarnessError as exc:
        from loguru import logger

        logger.warning(f"queue not read: {exc}")
        return []


def account_for_runs(layout: Layout, config: Config) -> None:
    """Rows for runs whose harness died unrecorded, before the record is read.

    Cheap: a listing of the run records folder, empty but for the runs in flight (the
    queue is asked only for a dead run of a queued task, so the row agrees with it). A
    record that cannot be settled is reported on stderr; the state is read all the same.
    """
    from harness.runs.records import settle_runs
    from harness.runs.sync import queue_statuses

    def statuses() -> dict[str, str]:
        from harness.queue.choice import open_configured

        try:
            tasks = open_configured(layout, config)[1].states()
        except HarnessError:
            return {}
        return queue_statuses([task for task in tasks if task.is_final])

    try:
        settle_runs(layout, config, statuses=statuses)
    except HarnessError as exc:
        from loguru import logger

        logger.warning(f"runs not yet accounted for: {exc}")


def report_slugs(layout: Layout) -> frozenset[str]:
    """Slugs that have a report file `9_reports/YYYY-MM-DD_<slug>.md`."""
    if not layout.reports_dir.is_dir():
        return frozenset()
    return frozenset(
        match.group(2)
        for path in layout.reports_dir.iterdir()
        if (match := FILE_NAME.fullmatch(path.name))
    )


def build_state(layout: Layout, config: Config) -> LoopState:
    """A fresh snapshot of the loop, read from the files (never from a cache)."""
    account_for_runs(layout, config)
    return LoopState(
        root=layout.root,
        ideas=tuple(load_ideas(layout)),
        worktrees=tuple(list_worktrees(layout, config)),
        reports=report_slugs(layout),
        runs=tuple(load_runs(layout, config)),
        active_tasks=tuple(load_active_tasks(layout, config)),
    )


# -- measures the rules share --------------------------------------------------------------


def live_ideas(state: LoopState) -> list[Idea]:
    return [idea for idea in state.ideas if idea.status != "abandoned"]


def mean_of(runs: list[RunRecord]) -> float | None:
    values = [run.value for run in runs if run.counts and run.value is not None]
    return finite_mean(values) if values else None


def is_new_best(value: float, best: float | None, config: Config) -> bool:
    """Better than `best` by more than min_effect (anything beats no best at all)."""
    if best is None:
        return True
    return config.is_better(value, best) and abs(value - best) > config.min_effect


def patience_streak(state: LoopState, config: Config) -> int:
    """How many finished ideas in a row (by their last run) brought no new best.

    The best starts at the mean of the baseline runs; an idea is a new best when the mean
    of its counting runs beats the best so far by more than min_effect.
    """
    best = mean_of(state.runs_of(BASELINE))
    finished = [idea for idea in state.ideas if idea.status in FINISHED]

    def last_run(idea: Idea) -> str:
        return max((run.timestamp for run in state.runs_of(idea.slug)), default=idea.created)

    streak = 0
    for idea in sorted(finished, key=last_run):
        value = mean_of(state.runs_of(idea.slug))
        if value is not None and is_new_best(value, best, config):
            best, streak = value, 0
        else:
            streak += 1
    return streak


def spent_budget(state: LoopState, config: Config) -> str | None:
    """Why the research budget is spent, or None while it is not.

    max_runs counts every run but the confirmations of a winner on held-out data;
    max_hours counts the duration of every run, confirmations included.
    """
    budget = config.budget
    runs = [run for run in state.runs if run.status != "confirm"]
    if budget.max_runs is not None and len(runs) >= budget.max_runs:
        return f"{len(runs)} runs recorded, max_runs is {budget.max_runs}"
    hours = sum(run.duration_s or 0.0 for run in state.runs) / 3600
    if budget.max_hours is not None and hours >= budget.max_hours:
        return f"{hours:.1f} hours of evaluation recorded, max_hours is {budget.max_hours:g}"
    if budget.patience is not None and budget.patience > 0:
        streak = patience_streak(state, config)
        if streak >= budget.patience:
            return (
                f"{streak} finished ideas in a row without a new best (patience {budget.patience})"
            )
    return None


def _q(text: str) -> str:
    return shlex.quote(text)


def _in_worktree(state: LoopState, slug: str) -> str:
    worktree = state.worktree_of(slug)
    return f"cd {_q(str(worktree.path if worktree else state.root / WORKTREES_DIR / slug))}"


# -- the rules, in the order they are tried ----------------------------------------------------


def report_finished(state: LoopState, config: Config) -> Action | None:
    """An idea in testing whose runs have all finished, and no report yet."""
    for idea in state.ideas:
        runs = state.runs_of(idea.slug)
        if idea.status != "testing" or not runs or state.tasks_of(idea.slug):
            continue
        if idea.slug in state.reports:
            continue
        ok = sum(run.counts for run in runs)
        return Action(
            "report",
            f"{idea.slug} has {len(runs)} finished run(s) ({ok} ok) and no report",
            idea.slug,
            (f"harness report {idea.slug}",),
        )
    return None


def submit_reported(state: LoopState, config: Config) -> Action | None:
    """A reported idea (or one in testing whose report exists) is submitted next, unless
    `harness submit` has decided on it already (a non-winner stays reported)."""
    for idea in state.ideas:
        has_report = idea.slug in state.reports and not state.tasks_of(idea.slug)
        if idea.decision is not None:
            continue
        if idea.status == "reported" or (idea.status == "testing" and has_report):
            commands = [f"harness submit {idea.slug}"]
            if idea.status == "testing":
                commands.insert(0, f"harness idea set {idea.slug} --status reported")
            return Action(
                "submit", f"{idea.slug} is reported but not submitted", idea.slug, tuple(commands)
            )
    return None


def stop_when_budget_spent(state: LoopState, config: Config) -> Action | None:
    reason = spent_budget(state, config)
    if reason is None:
        return None
    commands = ["harness queue wait"] if state.active_tasks else []
    commands += ["harness status", "harness results best"]
    return Action(
        "stop",
        f"the research budget is spent: {reason}; write a summary entry in the journal",
        None,
        tuple(commands),
    )


def baseline_first(state: LoopState, config: Config) -> Action | None:
    """Measure the main branch over several seeds before the first experiment."""
    baseline = state.runs_of(BASELINE)
    if any(run.counts for run in baseline) or state.active_tasks:
        return None
    if baseline:
        reason = f"{len(baseline)} baseline run(s), none ok: fix the main branch and run again"
    else:
        reason = "no baseline yet: measure the noise of the main branch before any experiment"
    return Action("baseline", reason, None, (f"harness baseline --seeds {config.seeds}",))


def ideate_to_target(state: LoopState, config: Config) -> Action | None:
    count = len(live_ideas(state))
    if count >= config.ideas_target:
        return None
    return Action(
        "ideate",
        f"{count} of {config.ideas_target} ideas: {config.ideas_target - count} more needed",
        None,
        ("harness idea new SLUG --title 'TITLE' --hypothesis 'HYPOTHESIS'",),
    )


def critique_new(state: LoopState, config: Config) -> Action | None:
    proposed = [idea for idea in state.ideas if idea.status == "proposed"]
    if not proposed:
        return None
    idea = proposed[0]
    return Action(
        "critique",
        f"{idea.slug} has no critique yet ({len(proposed)} idea(s) uncritiqued)",
        idea.slug,
        (f"harness idea show {idea.slug}", f"harness idea critique {idea.slug} --file FILE"),
    )


def wait_for_queue(state: LoopState, config: Config) -> Action | None:
    if not state.active_tasks:
        return None
    running = sum(task.state == "running" for task in state.active_tasks)
    queued = len(state.active_tasks) - running
    return Action(
        "wait",
        f"{running} task(s) running, {queued} queued: wait for their results",
        None,
        ("harness queue wait",),
    )


def test_implementing(state: LoopState, config: Config) -> Action | None:
    """An idea being implemented (or in testing with nothing run) gets tested."""
    for idea in state.ideas:
        untested = (
            idea.status == "testing"
            and not state.runs_of(idea.slug)
            and not state.tasks_of(idea.slug)
        )
        if idea.status != "implementing" and not untested:
            continue
        worktree = state.worktree_of(idea.slug)
        if worktree is None or worktree.missing:
            return Action(
                "implement",
                f"{idea.slug} is {idea.status} but has no worktree",
                idea.slug,
                (f"harness worktree create {idea.slug}",),
            )
        commands = _test_commands(state, idea, config)
        return Action("test", _test_reason(idea, worktree), idea.slug, commands)
    return None


def _test_reason(idea: Idea, worktree: Worktree) -> str:
    if idea.status == "testing":
        return f"{idea.slug} is testing but no run is recorded or queued: queue its evaluation"
    if worktree.dirty:
        return f"{idea.slug} is implementing with uncommitted changes: commit, smoke, then queue"
    return f"{idea.slug} is implementing: finish the change, commit, smoke, then queue"


def _test_commands(state: LoopState, idea: Idea, config: Config) -> tuple[str, ...]:
    question = _q(f"does {idea.title} help?")
    hypothesis = _q(f"EXPECTED CHANGE IN {config.metric}")
    queue = f"--seeds {config.seeds} --question {question} --hypothesis {hypothesis}"
    return (
        _in_worktree(state, idea.slug),
        "just smoke",
        f"harness queue add {queue} -- just eval",
        f"harness idea set {idea.slug} --status testing",
    )


def implement_pick(state: LoopState, config: Config) -> Action | None:
    try:
        pick = pick_idea(list(state.ideas))
    except HarnessError:
        return None
    slug = pick.idea.slug
    return Action(
        "implement",
        f"{slug}: {pick.reason}",
        slug,
        (f"harness worktree create {slug}", _in_worktree(state, slug)),
    )


def ideate_more(state: LoopState, config: Config) -> Action | None:
    return Action(
        "ideate",
        f"every one of the {len(state.ideas)} ideas is started, finished or abandoned: "
        "read the journal and write new ones",
        None,
        ("harness idea new SLUG --title 'TITLE' --hypothesis 'HYPOTHESIS'",),
    )


RULES: tuple[Rule, ...] = (
    report_finished,
    submit_reported,
    stop_when_budget_spent,
    baseline_first,
    test_implementing,
    ideate_to_target,
    critique_new,
    wait_for_queue,
    implement_pick,
    ideate_more,
)


def next_action(state: LoopState, config: Config, *, rules: tuple[Rule, ...] = RULES) -> Action:
    """The first action a rule proposes (the last rule always proposes one)."""
    for rule in rules:
        action = rule(state, config)
        if action is not None:
            name = getattr(rule, "__name__", "")
            return Action(action.kind, action.reason, action.slug, action.commands, name)
    raise HarnessError("no rule of the loop applies: this is a bug in harness.loop.state")
