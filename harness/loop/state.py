"""The research loop as a state machine: `harness next` and `harness status`.

`build_state` reads a `LoopState` snapshot from the repository's files (ideas, worktrees,
reports, results, queue, what of the record is uncommitted); nothing is cached, so an
agent that lost its context resumes from the files alone. `next_action` then tries the
rows of RULES in order, each a pure function `(state, config) -> Action | None`; the
first that fires wins. A later input (a new record, a new kind of task) adds a field to
LoopState and a row to RULES (the README's table of `harness next` lists the same rows).

Every Action keeps the contract of `harness next --json` (schema 1): a kind from the
closed set KINDS, a reason, and commands that run as given from the repository root
(`cd` included); text only the agent can write goes to a draft file named in `needs`,
which the commands then read.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from harness import gitops
from harness.config import Config
from harness.errors import HarnessError
from harness.layout import WORKTREES_DIR, Layout
from harness.loop.critique import pick_idea
from harness.loop.ideas import FILE_NAME, Idea, load_ideas
from harness.loop.inferences import has_unfilled_inferences, is_outdated
from harness.loop.ratchet import RatchetState, code_now, read_ratchet
from harness.loop.worktrees import Worktree, list_worktrees
from harness.queue.base import TaskState
from harness.record.compare import mean_of as finite_mean

if TYPE_CHECKING:
    import polars as pl

Kind = Literal[
    "ideate",
    "critique",
    "implement",
    "test",
    "wait",
    "report",
    "infer",
    "submit",
    "rebase",
    "commit-record",
    "baseline",
    "stop",
]
KINDS: tuple[str, ...] = get_args(Kind)
SCHEMA = 1  # the version of `harness next --json`; a change of its meaning raises it
BASELINE = "baseline"  # the `idea` of results rows run on the main branch
FINISHED = ("reported", "submitted")
PIPELINE_LOW = 2  # fewer ideas than this waiting to be implemented: the pipeline runs low
DRAFTS = "drafts"  # under the state directory: the files the agent writes for `needs`


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
    dirty: bool = False  # run on uncommitted code (`--allow-dirty`): never counts
    commit: str = ""

    @property
    def counts(self) -> bool:
        """A result that may be compared: finished ok, a finite value, FROZEN files as on
        main, committed code."""
        ok = self.status == "ok" and self.integrity == "ok" and not self.dirty
        return ok and self.value is not None and math.isfinite(self.value)

    @property
    def failed(self) -> bool:
        return self.status not in ("ok", "confirm")


@dataclass(frozen=True)
class LoopState:
    """Everything the rules look at, read from the files of one repository."""

    root: Path
    ideas: tuple[Idea, ...] = ()
    worktrees: tuple[Worktree, ...] = ()
    reports: frozenset[str] = frozenset()  # slugs with a report in 9_reports/
    runs: tuple[RunRecord, ...] = ()
    active_tasks: tuple[TaskState, ...] = ()  # queued or running
    ratchet: RatchetState | None = None  # the head of the line, its runs, the stale ideas
    uninferred: frozenset[str] = frozenset()  # slugs whose report's Inferences are unfilled
    outdated_inferences: frozenset[str] = frozenset()  # ... written before the code now
    uncommitted_runs: int = 0  # rows of results.tsv not yet committed on the main branch
    heads: tuple[tuple[str, str], ...] = ()  # (branch, commit) of the local branches
    drafts: Path | None = None  # where the agent writes the texts `needs` asks for
    finished_tasks: tuple[tuple[str, int], ...] = ()  # (final state, how many) of the queue
    record_warning: str | None = None  # what the chain of results.tsv says is wrong, if anything

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

    def confirming(self, slug: str) -> list[TaskState]:
        """Active held-out confirmation tasks that `harness submit` queued for `slug`."""
        mark = f"Q: confirm {slug}: "
        return [t for t in self.active_tasks if t.label.startswith(mark)]

    def root_tasks(self) -> list[TaskState]:
        """Active tasks that run in the main worktree (the baseline's)."""
        return [t for t in self.active_tasks if Path(t.cwd) == self.root]

    def head_of(self, branch: str) -> str | None:
        return dict(self.heads).get(branch)

    def valid_seeds(self, slug: str) -> set[int]:
        """The seeds with a counting run of `slug` (a run without a seed counts as -1)."""
        return {-1 if run.seed is None else run.seed for run in self.runs_of(slug) if run.counts}

    def draft(self, name: str) -> Path:
        return (self.drafts or self.root / ".git" / "harness" / DRAFTS) / name


def _is_within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


@dataclass(frozen=True)
class Need:
    """Text only the agent can write, to be put in `file` before the commands run (or, with
    no file, work to be done in `where`, such as the change that implements an idea)."""

    name: str
    what: str
    file: Path | None = None
    where: Path | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "what": self.what,
            "file": None if self.file is None else str(self.file),
            "where": None if self.where is None else str(self.where),
        }


@dataclass(frozen=True)
class Action:
    """What to do next, why, and the exact commands to run."""

    kind: Kind
    reason: str
    slug: str | None = None
    commands: tuple[str, ...] = ()
    rule: str = ""  # the rule that fired
    needs: tuple[Need, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "action": self.kind,
            "slug": self.slug,
            "reason": self.reason,
            "commands": list(self.commands),
            "needs": [need.to_json() for need in self.needs],
            "rule": self.rule,
        }


Propose = Callable[[LoopState, Config], Action | None]


@dataclass(frozen=True)
class Rule:
    """One row of the table of `harness next`: when it fires, and what it proposes."""

    name: str
    kind: Kind
    when: str  # the condition in words, as the README's table says it
    propose: Propose

    def __call__(self, state: LoopState, config: Config) -> Action | None:
        return self.propose(state, config)


# -- the loaders -------------------------------------------------------------------------


def load_record(layout: Layout) -> tuple[pl.DataFrame | None, str | None]:
    """The trusted rows of the root results.tsv (None without one) and the chain's warning
    (an unreadable file is a RecordError)."""
    from harness.record.results import read_record

    if not layout.results_tsv.exists():
        return None, None
    frame, chain = read_record(layout.results_tsv)
    return frame.head(chain.trusted), chain.warning(layout.results_tsv.name)


def load_runs(frame: pl.DataFrame | None) -> list[RunRecord]:
    """The rows of the root results.tsv as RunRecords."""
    if frame is None:
        return []
    columns = ("idea", "status", "value", "integrity", "seed", "timestamp", "duration_s")
    return [
        RunRecord(
            **{name: row[name] for name in columns},
            dirty=bool(row["dirty"]),
            commit=str(row["commit"] or ""),
        )
        for row in frame.select((*columns, "dirty", "commit")).iter_rows(named=True)
    ]


def load_tasks(layout: Layout, config: Config) -> list[TaskState]:
    """Every task of the configured queue backend, finished ones too.

    A backend that cannot be reached is reported on stderr and counts as empty, so that
    `harness next` still answers (the agent sees the warning).
    """
    from harness.queue.choice import open_configured

    try:
        _, backend = open_configured(layout, config)
        return list(backend.states())
    except HarnessError as exc:
        from loguru import logger

        logger.warning(f"queue not read: {exc}")
        return []


def load_active_tasks(layout: Layout, config: Config) -> list[TaskState]:
    """The harness's queued and running tasks."""
    return [task for task in load_tasks(layout, config) if not task.is_final]


def count_finished(tasks: list[TaskState]) -> tuple[tuple[str, int], ...]:
    counts: dict[str, int] = {}
    for task in tasks:
        if task.is_final:
            counts[task.state] = counts.get(task.state, 0) + 1
    return tuple(counts.items())


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


def uninferred_reports(layout: Layout) -> frozenset[str]:
    """Slugs whose report still holds the template's placeholder for its Inferences."""
    if not layout.reports_dir.is_dir():
        return frozenset()
    return frozenset(
        match.group(2)
        for path in layout.reports_dir.iterdir()
        if (match := FILE_NAME.fullmatch(path.name)) and has_unfilled_inferences(path)
    )


def outdated_inferences(layout: Layout, config: Config, ideas: tuple[Idea, ...]) -> frozenset[str]:
    """Open ideas whose report's Inferences were written for code other than theirs now."""
    if not layout.reports_dir.is_dir():
        return frozenset()
    open_ideas = {idea.slug: idea for idea in ideas if is_open(idea)}
    found = set()
    for path in layout.reports_dir.iterdir():
        match = FILE_NAME.fullmatch(path.name)
        idea = open_ideas.get(match.group(2)) if match else None
        if idea is not None:
            text = path.read_text(encoding="utf-8", errors="replace")
            if is_outdated(text, code_now(layout, config, idea)):
                found.add(idea.slug)
    return frozenset(found)


def count_uncommitted_runs(layout: Layout) -> int:
    """Rows of the root results.tsv beyond those committed at the root's HEAD."""
    if not layout.results_tsv.exists():
        return 0
    committed = gitops.file_at(layout.root, "HEAD", layout.results_tsv.name) or ""
    now = layout.results_tsv.read_text(encoding="utf-8", errors="replace")
    return max(0, _lines(now) - max(_lines(committed), 1 if now else 0))


def _lines(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.strip())


def branch_heads(layout: Layout) -> tuple[tuple[str, str], ...]:
    """(branch, commit) of every local branch, in one git call."""
    listed = gitops.git(
        "for-each-ref", "--format=%(refname:short) %(objectname)", "refs/heads", cwd=layout.root
    )
    return tuple(
        (name, sha) for name, _, sha in (line.partition(" ") for line in listed.splitlines())
    )


def build_state(layout: Layout, config: Config) -> LoopState:
    """A fresh snapshot of the loop, read from the files (never from a cache)."""
    account_for_runs(layout, config)
    ideas = tuple(load_ideas(layout))
    tasks = load_tasks(layout, config)
    frame, warning = load_record(layout)
    return LoopState(
        root=layout.root,
        ideas=ideas,
        worktrees=tuple(list_worktrees(layout, config)),
        reports=report_slugs(layout),
        runs=tuple(load_runs(frame)),
        ratchet=read_ratchet(layout, config, ideas, frame),
        record_warning=warning,
        active_tasks=tuple(task for task in tasks if not task.is_final),
        finished_tasks=count_finished(tasks),
        uninferred=uninferred_reports(layout),
        outdated_inferences=outdated_inferences(layout, config, ideas),
        uncommitted_runs=count_uncommitted_runs(layout),
        heads=branch_heads(layout),
        drafts=layout.state_dir / DRAFTS,
    )


# -- measures the rules share --------------------------------------------------------------


def live_ideas(state: LoopState) -> list[Idea]:
    return [idea for idea in state.ideas if idea.status != "abandoned"]


def waiting_ideas(state: LoopState) -> list[Idea]:
    """Ideas written but not started: the pipeline the agent implements from."""
    return [idea for idea in state.ideas if idea.status in ("proposed", "critiqued")]


def mean_of(runs: list[RunRecord]) -> float | None:
    """The mean over seeds of the counting runs, a repeated seed averaged first (as
    `harness results compare`, reports and the dashboard take it), so that one mean of
    the baseline is shown everywhere."""
    by_seed: dict[int, list[float]] = {}
    unseeded = []
    for run in runs:
        if run.counts and run.value is not None:
            if run.seed is None:
                unseeded.append(run.value)
            else:
                by_seed.setdefault(run.seed, []).append(run.value)
    values = [finite_mean(group) for group in by_seed.values()] + unseeded
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


def _cd(path: Path, command: str) -> str:
    """`command` run in `path`, as one shell command runnable from anywhere."""
    return f"cd {_q(str(path))} && {command}"


def worktree_path(state: LoopState, slug: str) -> Path:
    worktree = state.worktree_of(slug)
    return worktree.path if worktree else state.root / WORKTREES_DIR / slug


def is_decided(idea: Idea) -> bool:
    return idea.decision is not None or idea.status == "submitted"


def is_open(idea: Idea) -> bool:
    """Started and not yet decided: implementing, testing, or reported without a decision."""
    return idea.status in ("implementing", "testing", "reported") and not is_decided(idea)


def missing_seeds(state: LoopState, slug: str, config: Config) -> list[int]:
    """The seeds 0..seeds-1 without a counting run of `slug`."""
    have = state.valid_seeds(slug)
    return [seed for seed in range(config.seeds) if seed not in have]


def has_change(state: LoopState, idea: Idea, worktree: Worktree) -> bool:
    """The idea's branch has a commit of its own: ahead of the line, and not still at the
    commit it branched from (a stacked idea is ahead of the line by its parent's commits)."""
    parent = (idea.parent or {}).get("commit")
    return bool(worktree.ahead) and state.head_of(idea.branch) != parent


def crashed_at_head(state: LoopState, idea: Idea, seeds: list[int]) -> list[RunRecord]:
    """Crashed runs of `seeds` at the branch's head: running them again would crash again."""
    head = state.head_of(idea.branch)
    return [
        run
        for run in state.runs_of(idea.slug)
        if run.status == "crash" and run.seed in seeds and head and run.commit == head
    ]


# -- the rules, one function each; RULES below is the table that orders them ------------------


def stop_when_budget_spent(state: LoopState, config: Config) -> Action | None:
    reason = spent_budget(state, config)
    if reason is None:
        return None
    commands = ["harness queue wait --exit-zero"] if state.active_tasks else []
    commands += ["harness results commit"] if state.uncommitted_runs else []
    commands += ["harness status"]
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
        reason = f"{len(baseline)} baseline run(s), none valid: fix the main branch and run again"
    else:
        reason = "no baseline yet: measure the noise of the main branch before any experiment"
    return Action("baseline", reason, None, (f"harness baseline --seeds {config.seeds}",))


def rebase_stale(state: LoopState, config: Config) -> Action | None:
    """An open idea whose parent is no longer the head is re-tested on top of the head."""
    ratchet = state.ratchet
    if ratchet is None or ratchet.head is None:
        return None
    for slug in ratchet.stale:
        if not state.tasks_of(slug):
            return Action(
                "rebase",
                f"{slug} branched from an older head; the head of the line is now "
                f"{ratchet.head.label}: merge it into exp/{slug} and test it again",
                slug,
                (f"harness rebase {slug}",),
            )
    return None


def retest_outdated(state: LoopState, config: Config) -> Action | None:
    """An open idea whose code changed since its runs (e.g. rebased) is tested again."""
    ratchet = state.ratchet
    if ratchet is None:
        return None
    for idea in state.ideas:
        slug = idea.slug
        if slug not in ratchet.outdated or state.tasks_of(slug) or slug in ratchet.stale:
            continue
        if not missing_seeds(state, slug, config):  # missing ones: test-missing-seeds first
            return Action(
                "test",
                f"{slug} changed since its runs: only runs of its code now decide it",
                slug,
                _test_commands(state, idea, config, seeds=list(range(config.seeds))),
            )
    return None


def baseline_head(state: LoopState, config: Config) -> Action | None:
    """The head of the line moved to code with too few runs: measure exactly that code
    before anything is decided against it."""
    ratchet = state.ratchet
    if ratchet is None or ratchet.head is None or state.active_tasks:
        return None
    if ratchet.head_seeds >= config.seeds or not any(r.counts for r in state.runs_of(BASELINE)):
        return None  # measured, or the first baseline (baseline_first says so)
    return Action(
        "baseline",
        f"the head {ratchet.head.label} has {ratchet.head_seeds} of {config.seeds} seeds "
        "measured: measure its code before deciding against it",
        None,
        (f"harness baseline --seeds {config.seeds}",),
    )


def infer_report(state: LoopState, config: Config) -> Action | None:
    """A report whose Inferences section still holds the placeholder, or was written before
    the idea's code changed (once its runs at the code now are complete), before submission."""
    retest = state.ratchet.outdated if state.ratchet else ()
    for idea in state.ideas:
        slug = idea.slug
        unfilled, outdated = slug in state.uninferred, slug in state.outdated_inferences
        if not (unfilled or outdated) or not is_open(idea) or state.tasks_of(slug):
            continue
        if missing_seeds(state, slug, config) or (outdated and slug in retest):
            continue
        draft = state.draft(f"inferences-{slug}.md")
        need = Need(
            "inferences",
            "the report's Inferences: what the observations mean, what you believe and why, "
            "what would change your mind, what to try next (see `harness report "
            f"{slug}`'s file in 9_reports/)",
            file=draft,
        )
        reason = (
            f"{slug}'s report has no Inferences yet: interpret its observations"
            if unfilled
            else f"{slug}'s code changed since its report's Inferences were written (a "
            "rebase, a new commit): write them again for its runs now"
        )
        return Action(
            "infer",
            reason,
            slug,
            (f"harness report {slug} --inferences {_q(str(draft))}",),
            needs=(need,),
        )
    return None


def submit_reported(state: LoopState, config: Config) -> Action | None:
    """A reported idea with all its seeds and its Inferences, not yet decided on."""
    for idea in state.ideas:
        if not is_open(idea) or idea.slug not in state.reports or state.tasks_of(idea.slug):
            continue
        if idea.slug in state.uninferred or missing_seeds(state, idea.slug, config):
            continue
        if idea.slug in state.outdated_inferences:
            continue  # infer-report, once its runs at the code now are complete
        if state.ratchet and idea.slug in state.ratchet.outdated:
            continue  # its runs are of older code: retest-outdated first
        if state.confirming(idea.slug):
            continue  # its held-out confirmation runs: wait, then submit again
        if state.ratchet and idea.slug in state.ratchet.waiting:
            continue  # stacked on an idea not yet merged: its parent is decided first
        return Action(
            "submit",
            f"{idea.slug} is reported but not decided on: submit it",
            idea.slug,
            (f"harness submit {idea.slug} --exit-zero",),
        )
    return None


def report_tested(state: LoopState, config: Config) -> Action | None:
    """An idea whose seeds have all finished with a valid run, and no report yet."""
    for idea in state.ideas:
        if not is_open(idea) or idea.slug in state.reports or state.tasks_of(idea.slug):
            continue
        runs = state.runs_of(idea.slug)
        if not runs or missing_seeds(state, idea.slug, config):
            continue
        ok = sum(run.counts for run in runs)
        return Action(
            "report",
            f"{idea.slug} has {len(runs)} finished run(s) ({ok} valid, every seed) and no report",
            idea.slug,
            (f"harness report {idea.slug}",),
        )
    return None


def fix_crashed(state: LoopState, config: Config) -> Action | None:
    """Runs that crashed at the branch's head: the code needs a fix, not the same runs again."""
    for idea in state.ideas:
        if idea.status not in ("testing", "reported") or is_decided(idea):
            continue
        if state.tasks_of(idea.slug):
            continue
        crashed = crashed_at_head(state, idea, missing_seeds(state, idea.slug, config))
        if not crashed:
            continue
        seeds = ", ".join(str(run.seed) for run in crashed)
        where = worktree_path(state, idea.slug)
        return Action(
            "implement",
            f"{idea.slug} crashed at its head commit (seed {seeds}; `harness results --idea "
            f"{idea.slug}` shows the log): fix the code and commit, or abandon the idea",
            idea.slug,
            (_commit_command(where, idea),),
            needs=(_change_need(idea, where, "the fix of the crash"),),
        )
    return None


def test_missing_seeds(state: LoopState, config: Config) -> Action | None:
    """An idea in testing with seeds that have no valid run and nothing queued for them."""
    for idea in state.ideas:
        if idea.status not in ("testing", "reported") or is_decided(idea):
            continue
        missing = missing_seeds(state, idea.slug, config)
        if not missing or state.tasks_of(idea.slug):
            continue
        worktree = state.worktree_of(idea.slug)
        if worktree is None or worktree.missing or worktree.dirty:
            continue  # continue_implementing says what to do first
        have = config.seeds - len(missing)
        return Action(
            "test",
            f"{idea.slug} has {have} of {config.seeds} valid seeds and nothing queued: "
            f"queue seed(s) {', '.join(map(str, missing))}",
            idea.slug,
            _test_commands(state, idea, config, seeds=missing),
        )
    return None


def continue_implementing(state: LoopState, config: Config) -> Action | None:
    """An idea being implemented: its worktree, its change, its commit, one step at a time.

    An idea further on (testing, reported) comes here only with uncommitted changes in its
    worktree, which its next runs would refuse, or without the worktree its missing seeds
    need.
    """
    for idea in state.ideas:
        if not is_open(idea) or state.tasks_of(idea.slug):
            continue
        worktree = state.worktree_of(idea.slug)
        absent = worktree is None or worktree.missing
        dirty = not absent and worktree is not None and bool(worktree.dirty)
        untested = absent and bool(missing_seeds(state, idea.slug, config))
        if idea.status != "implementing" and not dirty and not untested:
            continue
        if worktree is None or worktree.missing:
            return Action(
                "implement",
                f"{idea.slug} is {idea.status} but has no worktree",
                idea.slug,
                _worktree_commands(state, idea, worktree),
            )
        if worktree.dirty:
            reason = f"{idea.slug} has uncommitted changes in {worktree.path}: commit them"
        elif not has_change(state, idea, worktree):
            reason = f"{idea.slug}'s worktree has no commit yet: make the change and commit it"
        else:
            continue
        return Action(
            "implement",
            reason,
            idea.slug,
            (_commit_command(worktree.path, idea),),
            needs=(_change_need(idea, worktree.path, "the change the idea describes"),),
        )
    return None


def test_implemented(state: LoopState, config: Config) -> Action | None:
    """An idea implemented and committed, not yet queued: smoke it, then queue its seeds."""
    for idea in state.ideas:
        if idea.status != "implementing" or is_decided(idea) or state.tasks_of(idea.slug):
            continue
        worktree = state.worktree_of(idea.slug)
        if worktree is None or worktree.missing or worktree.dirty:
            continue
        if not has_change(state, idea, worktree):
            continue
        return Action(
            "test",
            f"{idea.slug} is implemented and committed: smoke it, then queue its "
            f"{config.seeds} seeds",
            idea.slug,
            _test_commands(state, idea, config, seeds=list(range(config.seeds))),
        )
    return None


def commit_record(state: LoopState, config: Config) -> Action | None:
    """Runs recorded but not committed, at a quiet moment (nothing queued or running)."""
    if not state.uncommitted_runs or state.active_tasks:
        return None
    return Action(
        "commit-record",
        f"{state.uncommitted_runs} run(s) of results.tsv are not committed on "
        f"{config.main_branch}: commit the record",
        None,
        ("harness results commit",),
    )


def ideate_when_low(state: LoopState, config: Config) -> Action | None:
    """Fewer than PIPELINE_LOW ideas wait to be implemented, and fewer than ideas_target exist."""
    waiting = len(waiting_ideas(state))
    live = len(live_ideas(state))
    if waiting >= PIPELINE_LOW or live >= config.ideas_target:
        return None
    return _ideate(
        state,
        config,
        f"the pipeline runs low: {waiting} idea(s) waiting, {live} of "
        f"{config.ideas_target} written",
    )


def critique_new(state: LoopState, config: Config) -> Action | None:
    proposed = [idea for idea in state.ideas if idea.status == "proposed"]
    if not proposed:
        return None
    idea = proposed[0]
    draft = state.draft(f"critique-{idea.slug}.md")
    need = Need(
        "critique",
        f"a critique of {idea.name} (read it first): its weaknesses, then `Rating: N/10`, "
        "`Novelty: N/10`, `Impact: N/10`, `Feasibility: N/10`",
        file=draft,
    )
    return Action(
        "critique",
        f"{idea.slug} has no critique yet ({len(proposed)} idea(s) uncritiqued)",
        idea.slug,
        (f"harness idea critique {idea.slug} --file {_q(str(draft))}",),
        needs=(need,),
    )


def implement_pick(state: LoopState, config: Config) -> Action | None:
    try:
        pick = pick_idea(list(state.ideas))
    except HarnessError:
        return None
    return Action(
        "implement",
        f"{pick.idea.slug}: {pick.reason}",
        pick.idea.slug,
        _worktree_commands(state, pick.idea, state.worktree_of(pick.idea.slug)),
    )


def ideate_to_target(state: LoopState, config: Config) -> Action | None:
    """Nothing to do but wait, and fewer ideas than ideas_target: write one meanwhile."""
    live = len(live_ideas(state))
    if live >= config.ideas_target:
        return None
    return _ideate(state, config, f"{live} of {config.ideas_target} ideas written")


def wait_for_queue(state: LoopState, config: Config) -> Action | None:
    if not state.active_tasks:
        return None
    running = sum(task.state == "running" for task in state.active_tasks)
    queued = len(state.active_tasks) - running
    return Action(
        "wait",
        f"{running} task(s) running, {queued} queued: wait for their results",
        None,
        ("harness queue wait --exit-zero",),
    )


def ideate_more(state: LoopState, config: Config) -> Action | None:
    return _ideate(
        state,
        config,
        f"every one of the {len(state.ideas)} ideas is started, finished or abandoned: "
        "read the journal and write new ones",
    )


# -- what the rules' commands are made of -----------------------------------------------------


def _ideate(state: LoopState, config: Config, reason: str) -> Action:
    draft = state.draft("idea.md")
    need = Need(
        "idea",
        "a new idea: a `# Title` line, then the sections `## Hypothesis`, `## Mechanism`, "
        f"`## Expected effect` (the signed change of {config.metric}, e.g. -0.02), "
        "`## Plan`; a `slug: ...` line names it (else the title does). Read "
        "RESEARCH_JOURNAL.md and `harness idea list` first: do not repeat a tried idea",
        file=draft,
    )
    return Action(
        "ideate",
        reason,
        None,
        (f"harness idea new --file {_q(str(draft))}",),
        needs=(need,),
    )


def _change_need(idea: Idea, where: Path, what: str) -> Need:
    return Need(
        "change",
        f"{what}: edit the research code in {where} (never the FROZEN files; {idea.name} "
        "says what to do); the command commits it",
        where=where,
    )


def _commit_command(where: Path, idea: Idea) -> str:
    message = _q(f"{idea.slug}: {idea.title}")
    return _cd(where, f"git add -A && git commit --quiet -m {message}")


def _worktree_commands(state: LoopState, idea: Idea, worktree: Worktree | None) -> tuple[str, ...]:
    """Create the idea's worktree, or bring it back when its branch exists already."""
    if state.head_of(idea.branch) is None:
        return (f"harness worktree create {idea.slug}",)
    commands = ["git worktree prune"] if worktree is not None and worktree.missing else []
    relative = f"{WORKTREES_DIR}/{idea.slug}"
    commands.append(_cd(state.root, f"git worktree add --quiet {relative} {idea.branch}"))
    return tuple(commands)


def _test_commands(
    state: LoopState, idea: Idea, config: Config, *, seeds: list[int]
) -> tuple[str, ...]:
    """Smoke the worktree, then queue the seeds labelled from the idea file."""
    from harness.loop.expectation import idea_expected, idea_hypothesis

    where = worktree_path(state, idea.slug)
    expected = idea_expected(idea)
    hypothesis = idea_hypothesis(idea)
    if not hypothesis and expected is not None:
        hypothesis = f"expect {expected:+g} {config.metric}"
    label = f"--question {_q(f'does {idea.title} help?')}"
    label += f" --hypothesis {_q(hypothesis)}" if hypothesis else ""
    label += f" --expected {expected:+g}" if expected is not None else ""
    if seeds == list(range(config.seeds)):
        which = f"--seeds {config.seeds}"
    else:
        which = "--only-seeds " + " ".join(map(str, seeds))
    return (
        _cd(where, "harness smoke"),
        _cd(where, f"harness queue add {which} {label} -- harness eval"),
    )


# -- the table ------------------------------------------------------------------------------

RULES: tuple[Rule, ...] = (
    Rule(
        "baseline-head",
        "baseline",
        "the head's code has fewer valid seeds than `seeds`",
        baseline_head,
    ),
    Rule("rebase-stale", "rebase", "an open idea's parent is no longer the head", rebase_stale),
    Rule("baseline-first", "baseline", "no valid baseline run, nothing queued", baseline_first),
    Rule(
        "infer-report",
        "infer",
        "a report's Inferences are unfilled, or written before the idea's code now",
        infer_report,
    ),
    Rule(
        "submit-reported",
        "submit",
        "reported, every seed at its code now, Inferences current, not decided, no "
        "confirmation running",
        submit_reported,
    ),
    Rule("retest-outdated", "test", "an idea's code changed since its runs", retest_outdated),
    Rule("report-tested", "report", "every seed has a valid run, no report", report_tested),
    Rule("budget-spent", "stop", "the research budget is spent", stop_when_budget_spent),
    Rule("fix-crashed", "implement", "a seed crashed at the branch's head", fix_crashed),
    Rule("test-missing-seeds", "test", "fewer valid seeds than `seeds`", test_missing_seeds),
    Rule(
        "continue-implementing",
        "implement",
        "implementing: no worktree, no commit, or uncommitted changes",
        continue_implementing,
    ),
    Rule("test-implemented", "test", "implemented, committed, not queued", test_implemented),
    Rule("commit-record", "commit-record", "uncommitted runs, queue idle", commit_record),
    Rule("ideate-when-low", "ideate", "fewer than 2 ideas waiting, below target", ideate_when_low),
    Rule("critique-new", "critique", "a proposed idea has no critique", critique_new),
    Rule("implement-pick", "implement", "a critiqued (or proposed) idea waits", implement_pick),
    Rule("ideate-to-target", "ideate", "nothing to do but wait, below target", ideate_to_target),
    Rule("wait-for-queue", "wait", "tasks are queued or running", wait_for_queue),
    Rule("ideate-more", "ideate", "nothing else applies", ideate_more),
)


def next_action(state: LoopState, config: Config, *, rules: tuple[Rule, ...] = RULES) -> Action:
    """The first action a rule proposes (the last rule always proposes one)."""
    for rule in rules:
        action = rule(state, config)
        if action is not None:
            return replace(action, rule=rule.name)
    raise HarnessError("no rule of the loop applies: this is a bug in harness.loop.state")
