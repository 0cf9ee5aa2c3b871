"""`harness dashboard`: the state of the research on one self-contained HTML page.

Everything on the page is read from the files (results.tsv, the ideas, the journal, the
queue) at render time, and the statistics come from `harness.record.compare`, so the page and
the command line never disagree. The page needs no network: styles inline, the plot an
inline SVG, no scripts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from harness.config import Config
from harness.errors import HarnessError
from harness.fileio import read_text
from harness.layout import Layout
from harness.loop.ideas import FILE_NAME, Idea, load_ideas
from harness.loop.ratchet import RatchetState, read_ratchet
from harness.record.compare import (
    Noise,
    Side,
    baseline_noise,
    beats,
    compare_sides,
    effect_threshold,
    expected_number,
    judge_expected,
    side_from_valid,
)
from harness.record.results import read_record, valid_runs
from harness.record.views import shown_values
from harness.reports.chainplot import chain_steps
from harness.reports.svgplot import ChainStep, points_from_rows, progression_svg
from harness.rules.appendonly import ENTRY_MARK, split_header

if TYPE_CHECKING:
    import polars as pl

TOP_ROWS = 25  # leaderboard rows shown before the rest is folded away
JOURNAL_ENTRIES = 8
JOURNAL_BYTES = 64 * 1024  # the newest entries are at the top: never read the whole file
BUDGET_WARNING = 0.8  # share of a budget spent that earns a warning
BASELINE = "baseline"


@dataclass(frozen=True)
class BoardRow:
    rank: int
    idea: str
    title: str
    mean: float
    std: float | None
    n: int
    diff_baseline: float | None
    diff_head: float | None  # against the head of the line's mean over seeds
    verdict: str
    verdict_class: str  # better / worse / noise
    status: str
    idea_link: str
    report_link: str
    shown: tuple[str, ...] = ()  # the [tool.harness] show metrics of the idea's latest run
    expected: str = ""  # the expected signed change and whether it was seen


@dataclass(frozen=True)
class Warning:
    text: str
    level: str = "warn"  # warn / bad


@dataclass(frozen=True)
class QueueRow:
    task_id: str
    state: str
    label: str
    runtime: str


@dataclass(frozen=True)
class JournalEntry:
    title: str
    body: str


@dataclass(frozen=True)
class Counts:
    total: int = 0
    ok: int = 0
    failed: int = 0
    flagged: int = 0


@dataclass
class DashboardData:
    project: str
    metric: str
    direction: str
    generated_at: str
    ideas_target: int
    idea_count: int = 0
    show: tuple[str, ...] = ()  # extra metrics shown as leaderboard columns
    baseline_mean: float | None = None
    noise: float | None = None
    head: RatchetState | None = None  # the head of the line: what decisions are taken against
    counts: Counts = field(default_factory=Counts)
    leaderboard: list[BoardRow] = field(default_factory=list)
    plot_svg: str = ""
    ideas_by_status: dict[str, list[Idea]] = field(default_factory=dict)
    queue: list[QueueRow] = field(default_factory=list)
    queue_backend: str = ""
    journal: list[JournalEntry] = field(default_factory=list)
    warnings: list[Warning] = field(default_factory=list)


def collect(
    layout: Layout, config: Config, *, out_dir: Path, with_queue: bool = True
) -> DashboardData:
    """Read every input of the page; a broken input becomes a warning, not a failure."""
    data = DashboardData(
        project=layout.root.name,
        metric=config.metric,
        direction=config.direction,
        generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        ideas_target=config.ideas_target,
    )
    ideas = _ideas(layout, data)
    frame = _results(layout, data)
    if frame is not None:
        _fill_record(data, frame, config=config, ideas=ideas, layout=layout, out_dir=out_dir)
    else:
        data.plot_svg = progression_svg([], metric=config.metric, direction=config.direction)
    if with_queue:
        _fill_queue(data, layout, config)
    data.journal = newest_entries(layout.journal)
    _program_warnings(data, layout)
    return data


def _ideas(layout: Layout, data: DashboardData) -> dict[str, Idea]:
    try:
        ideas = load_ideas(layout)
    except HarnessError as exc:
        data.warnings.append(Warning(f"ideas not read: {exc}", "bad"))
        return {}
    data.idea_count = sum(idea.status != "abandoned" for idea in ideas)  # as `harness status`
    for idea in ideas:
        data.ideas_by_status.setdefault(idea.shown_status, []).append(idea)
    return {idea.slug: idea for idea in ideas}


def _results(layout: Layout, data: DashboardData) -> pl.DataFrame | None:
    if not layout.results_tsv.exists():
        return None
    try:
        frame, chain = read_record(layout.results_tsv)
    except HarnessError as exc:
        data.warnings.append(Warning(f"results.tsv not read: {exc}", "bad"))
        return None
    warning = chain.warning(layout.results_tsv.name)
    if warning:
        data.warnings.append(Warning(warning, "bad" if chain.is_broken else "warn"))
    return frame.head(chain.trusted)  # rows from a break of the chain on never count


def _fill_record(
    data: DashboardData,
    frame: pl.DataFrame,
    *,
    config: Config,
    ideas: dict[str, Idea],
    layout: Layout,
    out_dir: Path,
) -> None:
    import polars as pl

    valid = valid_runs(frame, config)
    own_metric = frame.filter(pl.col("metric") == config.metric)
    flagged = own_metric.filter(pl.col("integrity") == "modified").height
    failed = own_metric.filter(pl.col("status") != "ok").height
    data.counts = Counts(own_metric.height, valid.height, failed, flagged)
    noise = baseline_noise(frame, config)
    data.noise = noise.sigma
    sides = sides_by_idea(valid)
    _fill_head(data, frame, config=config, ideas=ideas, layout=layout)
    head = data.head.head_side if data.head else None
    data.leaderboard = leaderboard(
        sides,
        noise=noise,
        config=config,
        ideas=ideas,
        links=_Links(layout, out_dir),
        head_mean=head.mean if head else None,
    )
    if config.show:
        data.show = config.show
        data.leaderboard = [with_shown(row, valid, config.show) for row in data.leaderboard]
    threshold = effect_threshold(noise, config.min_effect)
    data.leaderboard = [
        replace(row, expected=expected_cell(row, valid, ideas.get(row.idea), threshold))
        for row in data.leaderboard
    ]
    if BASELINE in sides:
        data.baseline_mean = sides[BASELINE].mean
    submitted = {slug for slug, idea in ideas.items() if idea.status == "submitted"}
    _record_warnings(data, frame, config=config, noise=noise, flagged=flagged)
    data.plot_svg = progression_svg(
        points_from_rows(
            own_metric.iter_rows(named=True), highlight=lambda idea: idea in submitted
        ),
        metric=config.metric,
        direction=config.direction,
        chain=_chain(data, layout, config, frame),
    )


def _chain(
    data: DashboardData, layout: Layout, config: Config, frame: pl.DataFrame
) -> tuple[ChainStep, ...]:
    """The heads of the line as the plot's best-so-far steps (none when unreadable)."""
    try:
        return chain_steps(layout, config, frame)
    except HarnessError as exc:
        data.warnings.append(Warning(f"the chain of heads not read: {exc}", "bad"))
        return ()


def _fill_head(
    data: DashboardData, frame: pl.DataFrame, *, config: Config, ideas: dict[str, Idea],
    layout: Layout,
) -> None:  # fmt: skip
    """The head of the line, its mean over seeds and its chain; stale ideas as a warning."""
    try:
        data.head = read_ratchet(layout, config, tuple(ideas.values()), frame)
    except HarnessError as exc:
        data.warnings.append(Warning(f"the head of the line not read: {exc}", "bad"))
        return
    if data.head.stale:
        listed = ", ".join(data.head.stale)
        data.warnings.append(
            Warning(f"stale (the head moved past their parent): {listed}: `harness rebase`", "warn")
        )


def expected_cell(
    row: BoardRow, valid: pl.DataFrame, idea: Idea | None, threshold: float | None
) -> str:
    """`-0.02: seen`: the expected signed change (its runs' label, else the idea file's
    Expected effect) and how the observed change against the baseline compares."""
    import polars as pl

    from harness.loop.expectation import idea_expected

    labels = valid.filter(pl.col("idea") == row.idea).get_column("expected").drop_nulls()
    stated = next((str(text) for text in labels if expected_number(str(text)) is not None), None)
    if stated is None and idea is not None and (change := idea_expected(idea)) is not None:
        stated = f"{change:+g}"
    if stated is None or row.diff_baseline is None or row.idea == BASELINE:
        return ""
    outcome = judge_expected(stated, row.diff_baseline, threshold).split(":")[0]
    return f"{expected_number(stated):+g}: {outcome}"


def with_shown(row: BoardRow, valid: pl.DataFrame, keys: tuple[str, ...]) -> BoardRow:
    """The row with the show metrics of its idea's latest valid run (imported: its title)."""
    import polars as pl

    latest = valid.filter(pl.col("idea") == row.idea).row(-1, named=True)
    shown = shown_values(latest, keys)
    title = row.title or str(latest.get("description") or "")
    return replace(row, shown=tuple(shown[key] for key in keys), title=title)


def sides_by_idea(valid: pl.DataFrame) -> dict[str, Side]:
    """One `Side` (mean, std, n over seeds) per idea with valid runs."""
    return {
        str(idea): side_from_valid(str(idea), rows)
        for (idea,), rows in valid.partition_by("idea", as_dict=True).items()
    }


def leaderboard(
    sides: dict[str, Side],
    *,
    noise: Noise,
    config: Config,
    ideas: dict[str, Idea],
    links: _Links,
    head_mean: float | None = None,
) -> list[BoardRow]:
    """Ideas ranked by mean (best first), each judged against the baseline, and set
    against the head of the line (the best: what decisions are taken against)."""
    sign = 1 if config.direction == "min" else -1
    ranked = sorted(sides.values(), key=lambda side: (sign * side.mean, side.label))
    if not ranked:
        return []
    baseline = sides.get(BASELINE)
    rows = []
    for rank, side in enumerate(ranked, start=1):
        verdict, css = judge(side, baseline, noise=noise, config=config)
        idea = ideas.get(side.label)
        rows.append(
            BoardRow(
                rank=rank,
                idea=side.label,
                title=idea.title if idea else ("the main branch" if side.label == BASELINE else ""),
                mean=side.mean,
                std=side.std,
                n=side.n,
                diff_baseline=None if baseline is None else side.mean - baseline.mean,
                diff_head=None if head_mean is None else side.mean - head_mean,
                verdict=verdict,
                verdict_class=css,
                status=idea.shown_status if idea else (BASELINE if side.label == BASELINE else "?"),
                idea_link=links.idea(idea) if idea else "",
                report_link=links.report(side.label),
            )
        )
    return rows


def judge(side: Side, baseline: Side | None, *, noise: Noise, config: Config) -> tuple[str, str]:
    """A short verdict against the baseline, and its CSS class."""
    if side.label == BASELINE:
        return "the reference", "noise"
    if baseline is None:
        return "no baseline yet", "noise"
    comparison = compare_sides(baseline, side, config=config, noise=noise)
    improvement, confidence = comparison.improvement, comparison.confidence
    shown = "" if confidence is None else f" ({abs(confidence):.1f} se)"
    if beats(improvement, confidence, min_effect=config.min_effect):
        return f"beats baseline{shown}", "better"
    if beats(
        -improvement, None if confidence is None else -confidence, min_effect=config.min_effect
    ):
        return f"worse than baseline{shown}", "worse"
    if confidence is None:
        return "noise not measured", "noise"
    return f"within the noise{shown}", "noise"


def _record_warnings(
    data: DashboardData, frame: pl.DataFrame, *, config: Config, noise: Noise, flagged: int
) -> None:
    if flagged:
        data.warnings.append(
            Warning(
                f"{flagged} run(s) ran with FROZEN files that differ from {config.main_branch}: "
                "they never count (see `harness guard --integrity`)",
                "bad",
            )
        )
    if noise.sigma is None:
        data.warnings.append(Warning(f"the noise is {noise.method}"))
    elif noise.sigma > config.min_effect:
        data.warnings.append(
            Warning(
                f"the baseline noise ({noise.sigma:.4g}) is above min_effect "
                f"({config.min_effect:g}): effects of that size cannot be told from noise; "
                "run more seeds"
            )
        )
    recent = frame.tail(10)
    failures = recent.filter(recent.get_column("status").is_in(["crash", "timeout", "lost"]))
    if failures.height >= 3:
        data.warnings.append(Warning(f"{failures.height} of the last {recent.height} runs failed"))
    _budget_warnings(data, frame, config)


def _budget_warnings(data: DashboardData, frame: pl.DataFrame, config: Config) -> None:
    import polars as pl

    budget = config.budget
    runs = frame.filter(pl.col("status") != "confirm").height
    if budget.max_runs and runs >= BUDGET_WARNING * budget.max_runs:
        data.warnings.append(Warning(f"run budget: {runs} of {budget.max_runs} runs spent"))
    hours = (frame.get_column("duration_s").fill_null(0).sum() or 0) / 3600
    if budget.max_hours and hours >= BUDGET_WARNING * budget.max_hours:
        data.warnings.append(
            Warning(f"time budget: {hours:.1f} of {budget.max_hours:g} hours of evaluation spent")
        )


def _program_warnings(data: DashboardData, layout: Layout) -> None:
    from harness.checks import unfilled_slots

    if layout.program.exists():
        try:
            slots = unfilled_slots(read_text(layout.program))
        except HarnessError as exc:  # a page with a warning beats no page
            data.warnings.append(Warning(str(exc)))
            return
        if slots:
            data.warnings.append(
                Warning(f"program.md has {len(slots)} unfilled {{FILL_IN}} slot(s)")
            )


def _fill_queue(data: DashboardData, layout: Layout, config: Config) -> None:
    from harness.queue.choice import open_configured
    from harness.queue.ops import format_runtime
    from harness.queue.times import seconds_between

    try:
        choice, backend = open_configured(layout, config)
        tasks = backend.states()
    except HarnessError as exc:
        data.warnings.append(Warning(f"queue not read: {exc}"))
        return
    data.queue_backend = choice.describe()
    now = datetime.now(UTC).isoformat()
    data.queue = [
        QueueRow(
            task.queue_task,
            task.state,
            task.label,
            format_runtime(seconds_between(task.started_at, now)) if task.started_at else "",
        )
        for task in tasks
        if not task.is_final
    ]


def newest_entries(journal: Path, *, count: int = JOURNAL_ENTRIES) -> list[JournalEntry]:
    """The first `count` entries of an APPEND-ONLY journal (newest on top)."""
    try:
        with journal.open(encoding="utf-8", errors="replace") as handle:
            text = handle.read(JOURNAL_BYTES)
    except OSError:
        return []
    _, body = split_header(text)
    chunks = [c for c in ("\n" + body).split("\n" + ENTRY_MARK) if c.strip()]
    entries = []
    for chunk in chunks[:count]:
        title, _, rest = chunk.partition("\n")
        entries.append(JournalEntry(title.strip(), rest.strip()))
    return entries


class _Links:
    """Links from the page's folder to idea files and reports (relative, so they work offline)."""

    def __init__(self, layout: Layout, out_dir: Path):
        self.layout, self.out_dir = layout, out_dir
        self.reports: dict[str, Path] = {}
        if layout.reports_dir.is_dir():  # sorted: the newest report of a slug wins
            for path in sorted(layout.reports_dir.glob("*_*.md")):
                if match := FILE_NAME.fullmatch(path.name):
                    self.reports[match.group(2)] = path

    def _relative(self, path: Path) -> str:
        return os.path.relpath(path, self.out_dir).replace(os.sep, "/")

    def idea(self, idea: Idea) -> str:
        return self._relative(idea.path)

    def report(self, slug: str) -> str:
        path = self.reports.get(slug)
        return self._relative(path) if path else ""


def render(data: DashboardData, *, refresh_seconds: int | None = None) -> str:
    """The page as HTML (autoescaped: every text from the record is escaped)."""
    import jinja2

    source = (resources.files("harness") / "templates" / "dashboard.html.j2").read_text("utf-8")
    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    template = environment.from_string(source)
    return template.render(
        d=data, top=TOP_ROWS, refresh_seconds=refresh_seconds, fmt=_fmt, signed=_signed
    )


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"


def _signed(value: float | None) -> str:
    return "–" if value is None else f"{value:+.4f}"


def write_dashboard(
    layout: Layout, config: Config, *, out: Path | None = None, refresh_seconds: int | None = None
) -> Path:
    """Render the page to `out` (default `9_reports/index.html`), atomically."""
    from harness.fileio import write_atomic

    target = (out or layout.reports_dir / "index.html").resolve()
    data = collect(layout, config, out_dir=target.parent)
    write_atomic(target, render(data, refresh_seconds=refresh_seconds))
    return target


class Refresher:
    """Re-renders the served page when the record changed, or when it is a few seconds old
    (queue runtimes move on even when no file does)."""

    def __init__(self, layout: Layout, config: Config, *, refresh_seconds: int):
        self.layout, self.config, self.refresh_seconds = layout, config, refresh_seconds
        self.target = layout.reports_dir / "index.html"
        self._signature: tuple[float, ...] | None = None
        self._rendered_at = 0.0

    def signature(self) -> tuple[float, ...]:
        paths = (
            self.layout.results_tsv,
            self.layout.journal,
            self.layout.ideas_dir,
            self.layout.reports_dir,
            self.layout.state_dir / "queue",
        )
        return tuple(p.stat().st_mtime if p.exists() else 0.0 for p in paths)

    def render_if_changed(self) -> None:
        import time

        signature = self.signature()
        stale = time.monotonic() - self._rendered_at >= self.refresh_seconds
        if signature != self._signature or stale or not self.target.exists():
            write_dashboard(
                self.layout, self.config, out=self.target, refresh_seconds=self.refresh_seconds
            )
            self._signature = self.signature()
            self._rendered_at = time.monotonic()
