"""`harness report SLUG`: the report of an experiment, `9_reports/YYYY-MM-DD_<slug>.md`.

Rendered with jinja2 from the root's `9_reports/_TEMPLATE.md`: the idea, its question and
hypothesis, every run, mean and spread over seeds, the differences to the baseline and to
the best other result, the verdict against the noise, observed against expected, the
held-out confirmation, and a plot saved beside the report. Observations are written from
the data; the Inferences section is the researcher's, and rendering again (the numbers
change as runs arrive) keeps whatever was written there.

Writing a report moves the idea to `reported` and adds a summary entry to the journal.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.config import Config
from harness.errors import HarnessError, RecordError, UsageError
from harness.fileio import read_text, write_atomic
from harness.layout import IDEAS_DIR, REPORTS_DIR, Layout
from harness.loop.expectation import idea_expected
from harness.loop.ideas import FILE_NAME, STATUSES, Idea, advance, find_idea, section_bounds
from harness.loop.inferences import (
    PLACEHOLDER,
    inferences_of,
    is_unfilled,
    replace_inferences,
    stamp_inferences,
)
from harness.loop.ratchet import code_now, idea_standing
from harness.record.compare import (
    Comparison,
    effect_threshold,
    expected_number,
    judge_expected,
)
from harness.record.journal import add_entry, heading_time
from harness.record.results import is_finite, read_results, sanitise
from harness.record.standing import Standing
from harness.record.views import shown_values
from harness.reports.chainplot import chain_steps
from harness.reports.svgplot import PlotPoint, points_from_rows, progression_file
from harness.runs import confirm as held_out

if TYPE_CHECKING:
    import polars as pl

TEMPLATE = "_TEMPLATE.md"
INFERENCES = "Inferences"
DASH = "–"


@dataclass(frozen=True)
class Report:
    path: Path
    plot: Path
    idea: Idea
    standing: Standing
    confirmation: held_out.Confirmation | None
    created: bool  # a new file (else an update in place)
    entry: str  # the journal entry ("" when none was written)

    @property
    def name(self) -> str:
        return f"{REPORTS_DIR}/{self.path.name}"

    def to_json(self) -> dict[str, Any]:
        side = self.standing.side
        best = self.standing.best
        held = self.confirmation
        return {
            "idea": self.idea.slug,
            "path": str(self.path),
            "plot": str(self.plot),
            "created": self.created,
            "mean": side.mean,
            "std": side.std,
            "seeds": side.n,
            "best_other": best.a.label if best else None,
            "winner": self.standing.is_winner,
            "verdict": self.standing.reason,
            "confirmation": None if held is None else {"holds": held.holds, "why": held.reason},
        }


def find_report(layout: Layout, slug: str) -> Path | None:
    """The report file of `slug`, whatever its date, or None."""
    if not layout.reports_dir.is_dir():
        return None
    found = sorted(
        path
        for path in layout.reports_dir.glob(f"*_{slug}.md")
        if (match := FILE_NAME.fullmatch(path.name)) and match.group(2) == slug
    )
    return found[-1] if found else None


def write_report(
    layout: Layout,
    config: Config,
    slug: str,
    *,
    journal: bool = True,
    today: date | None = None,
    status: str | None = None,
    inferences: str | None = None,
    force: bool = False,
    confirmation: held_out.Confirmation | None = None,
) -> Report:
    """Render (or update) the report of `slug`, its plot, the idea's status and the journal.

    `status` is the idea's status the report states (default: what it is once reported),
    for `submit`, which renders the report just before it records the submission.
    `inferences` fills the Inferences section. Fewer valid seeds than `seeds` is refused
    unless `force`. `confirmation`: the one submit has just decided from (else the one
    of the runs submit queued, `recorded_confirmation`).
    """
    if inferences is not None and not inferences.strip():
        raise UsageError("the Inferences text is empty: write what the observations mean")
    idea = find_idea(layout, slug)
    frame = read_results(layout.results_tsv)
    where = idea_standing(layout, config, frame, slug)  # an error when no valid run
    check_seeds(where, config, command="report", force=force)
    existing = find_report(layout, slug)
    day = (today or datetime.now(UTC).date()).isoformat()
    path = existing or layout.reports_dir / f"{day}_{slug}.md"
    plot = path.with_suffix(".svg")
    if confirmation is None:
        confirmation = recorded_confirmation(layout, config, frame, where)
    context = report_context(
        idea, config, frame, where=where, confirmation=confirmation, plot=plot.name
    )
    context["idea"]["status"] = status or status_after(idea.status)
    text = render(layout, context)
    if existing is not None:
        text = keep_inferences(text, read_text(existing))
    if inferences is not None:
        text = replace_inferences(text, inferences)
    text = stamp_written(layout, config, idea, text, rewritten=inferences is not None)
    save_plot(layout, config, frame, slug, target=plot)
    write_atomic(path, text)
    idea = advance(layout, slug, "reported", note=f"report {REPORTS_DIR}/{path.name}")
    report = Report(path, plot, idea, where, confirmation, existing is None, "")
    if journal:
        report = replace(report, entry=report_entry(report, config))
        add_entry(layout, report.entry)
    return report


def stamp_written(layout: Layout, config: Config, idea: Idea, text: str, *, rewritten: bool) -> str:
    """Inferences written now, or still to write, are for the idea's code now; Inferences
    kept from before keep the code they were written for (`harness.loop.inferences`)."""
    section = inferences_of(text)
    if not rewritten and (section is None or not is_unfilled(section)):
        return text
    code = code_now(layout, config, idea)
    return stamp_inferences(text, code) if code else text


def check_seeds(where: Standing, config: Config, *, command: str, force: bool) -> None:
    """Refuse a report or a decision taken on fewer valid seeds than `seeds`."""
    have = where.side.n
    if force or have >= config.seeds:
        return
    slug = where.side.label
    raise UsageError(
        f"{slug} has {have} valid seed(s) of the {config.seeds} wanted ([tool.harness] "
        f"seeds): queue the missing ones first (`harness next` gives the command), or pass "
        f"--force to {command} anyway"
    )


def status_after(status: str) -> str:
    """The idea's status once reported (an idea further on, or abandoned, keeps its own)."""
    if status == "abandoned" or STATUSES.index(status) >= STATUSES.index("reported"):
        return status
    return "reported"


def recorded_confirmation(
    layout: Layout, config: Config, frame: pl.DataFrame, where: Standing
) -> held_out.Confirmation | None:
    """The confirmation from the runs submit queued for it, matched by their task tokens
    (confirm rows on record are text anyone can append); "not confirmed yet" without them."""
    from harness.runs.confirm_tokens import trusted_confirmation

    if not held_out.is_configured(config) or where.best is None:
        return None
    candidate = held_out.target_of(layout, config, frame, where.side.label)
    reference = held_out.head_target(layout, config, frame, where.head)
    seeds = held_out.seeds_of(where.side, config)
    found = trusted_confirmation(
        layout, config, frame, candidate=candidate, reference=reference, seeds=seeds
    )
    if found is not None:
        return found
    none = held_out.judge(
        config, seeds=seeds, candidate=candidate, reference=reference,
        candidate_rows=(), reference_rows=(),
    )  # fmt: skip
    return replace(none, reason="not confirmed yet")


# -- the context the template sees ----------------------------------------------------------


def num(value: float | None) -> str:
    return f"{value:.6g}" if is_finite(value) else DASH


def signed(value: float | None) -> str:
    return f"{value:+.6g}" if is_finite(value) else DASH


def labels(rows: list[dict[str, Any]], column: str) -> str:
    """The distinct non-empty values of a label column, joined; "(not recorded)" if none."""
    found = dict.fromkeys(sanitise(str(row[column])) for row in rows if row.get(column))
    return " / ".join(found) or "(not recorded)"


def run_line(row: dict[str, Any], *, show: tuple[str, ...] = ()) -> dict[str, Any]:
    seconds = row.get("duration_s")
    shown = shown_values(row, show)
    return {
        "shown": "".join(f" {shown[key] or DASH} |" for key in show),
        "run_id": row["run_id"],
        "idea": row["idea"],
        "when": str(row.get("timestamp") or "").replace("T", " ").removesuffix("Z")[:16],
        "seed": DASH if row.get("seed") is None else row["seed"],
        "value": DASH if not is_finite(row.get("value")) else repr(float(row["value"])),
        "commit": str(row.get("commit") or "")[:10] or DASH,
        "status": row.get("status") or DASH,
        "integrity": row.get("integrity") or DASH,
        "seconds": f"{seconds:.1f}" if is_finite(seconds) else DASH,
    }


def report_context(
    idea: Idea,
    config: Config,
    frame: pl.DataFrame,
    *,
    where: Standing,
    confirmation: held_out.Confirmation | None,
    plot: str,
) -> dict[str, Any]:
    import polars as pl

    rows = frame.filter(pl.col("idea") == idea.slug).to_dicts()
    runs = [row for row in rows if row["status"] != held_out.STATUS]
    expected = next((str(row["expected"]) for row in runs if row.get("expected")), None)
    if expected is None and (from_idea := idea_expected(idea)) is not None:
        expected = f"{from_idea:+g}"  # the idea file's Expected effect
    judged = expected_judgement(where, config, expected)
    side = where.side
    table = [_table_row(side.label, side.mean, side.std, side.n, "")]
    table += [
        _table_row(c.a.label, c.a.mean, c.a.std, c.a.n, signed(c.difference)) for c in _shown(where)
    ]
    noise = where.noise
    noise_text = (
        f"{num(noise.sigma)} ({noise.method}, {noise.seeds} seeds)" if noise.sigma else noise.method
    )
    return {
        "idea": {
            "slug": idea.slug,
            "title": idea.title,
            "status": idea.status,
            "file": f"{IDEAS_DIR}/{idea.path.name}",
            "hypothesis": idea.hypothesis,
        },
        "branch": idea.branch,
        "metric": config.metric,
        "direction": "lower is better" if config.direction == "min" else "higher is better",
        "updated": heading_time(),
        "question": labels(runs, "question"),
        "hypothesis": labels(runs, "hypothesis")
        if any(row.get("hypothesis") for row in runs)
        else (idea.hypothesis or "(not recorded)"),
        "expected": expected_text(expected, config.metric),
        "runs": [run_line(row, show=config.show) for row in runs],
        "show": {
            "heading": "".join(f" {key} |" for key in config.show),
            "rule": "--:|" * len(config.show),
        },
        "table": table,
        "noise": noise_text,
        "min_effect": f"{config.min_effect:g}",
        "verdict": where.reason,
        "winner": where.is_winner,
        "expected_judgement": judged,
        "confirm": confirm_context(config, confirmation, frame),
        "plot": plot,
        "observations": observations(where, config, runs, judged, confirmation),
        "inferences": PLACEHOLDER,
    }


def _shown(where: Standing) -> list[Comparison]:
    """The baseline and the strongest other result (once, when they are the same)."""
    shown = [c for c in (where.best, where.baseline) if c is not None]
    return list({id(c): c for c in shown}.values())


def _table_row(
    label: str, mean: float, std: float | None, n: int, difference: str
) -> dict[str, str | int]:
    return {"label": label, "mean": num(mean), "std": num(std), "n": n, "difference": difference}


def expected_text(expected: str | None, metric: str) -> str:
    """`-0.02 val_bpb (a signed change: lower by 0.02)`, or the text as given."""
    change = expected_number(expected)
    if change is None:
        return expected or "(not stated)"
    way = "lower" if change < 0 else "higher"
    return f"{change:+g} {metric} (a signed change: {way} by {abs(change):g})"


def expected_judgement(where: Standing, config: Config, expected: str | None) -> str:
    baseline = where.baseline
    observed = baseline.difference if baseline is not None else None  # idea minus baseline
    threshold = effect_threshold(where.noise, config.min_effect)
    return judge_expected(expected, observed, threshold)


def confirm_context(
    config: Config, confirmation: held_out.Confirmation | None, frame: pl.DataFrame
) -> dict[str, Any]:
    command = " ".join(config.confirm)
    if not held_out.is_configured(config):
        return {"configured": False, "pending": True, "command": command}
    if confirmation is None:
        return {
            "configured": True,
            "pending": True,
            "command": command,
            "seeds": DASH,
            "verdict": "no other result to confirm against",
        }
    sides = []
    comparison = confirmation.comparison
    if comparison is not None:
        sides = [_table_row(s.label, s.mean, s.std, s.n, "") for s in (comparison.b, comparison.a)]
    reference = confirmation.reference.shown  # its rows are recorded as `baseline`'s
    runs = [run_line(row) for row in confirmation.candidate_rows]
    runs += [{**run_line(row), "idea": reference} for row in confirmation.reference_rows]
    return {
        "configured": True,
        "pending": confirmation.pending,
        "command": command,
        "metric": confirmation.metric,
        "seeds": ", ".join(map(str, confirmation.seeds)),
        "runs": runs,
        "table": sides,
        "verdict": confirmation.reason,
        "holds": confirmation.holds,
    }


def observations(
    where: Standing,
    config: Config,
    runs: list[dict[str, Any]],
    judged: str,
    confirmation: held_out.Confirmation | None,
) -> list[str]:
    """Facts from the record, one line each (no interpretation)."""
    side, metric = where.side, config.metric
    counts = Counter(str(row["status"]) for row in runs)
    statuses = ", ".join(f"{n} {status}" for status, n in counts.items())
    seeds = ", ".join(map(str, side.by_seed)) or "none"
    lines = [
        f"{len(runs)} run(s) recorded ({statuses}); {side.runs} valid, over {side.n} "
        f"seed(s) ({seeds}).",
        f"Mean {metric} {num(side.mean)}, standard deviation over seeds {num(side.std)}.",
    ]
    for comparison in _shown(where):
        lines.append(comparison_line(comparison, metric))
    lines.append(f"Verdict: {where.reason}.")
    lines.append(f"Expected effect, against the baseline's mean: {judged}.")
    flagged = [row["run_id"] for row in runs if row.get("integrity") == "modified"]
    if flagged:
        lines.append(
            f"{len(flagged)} run(s) ran with FROZEN files that differ from "
            f"{config.main_branch} and do not count: {', '.join(flagged)}."
        )
    for row in runs:
        if row["status"] != "ok":
            why = sanitise(str(row.get("description") or ""))[:200]
            lines.append(f"Run {row['run_id']} (seed {row['seed']}) ended {row['status']}: {why}")
    if confirmation is not None and not confirmation.pending:
        lines.append(f"Held-out confirmation: {confirmation.reason}.")
    return lines


def comparison_line(c: Comparison, metric: str) -> str:
    base = c.a.mean
    relative = f" ({100 * c.difference / base:+.2f}%)" if base else ""
    text = (
        f"Against {c.a.label} (mean {num(base)} over {c.a.n} seed(s)): difference "
        f"{signed(c.difference)} {metric}{relative}"
    )
    if c.standard_error is not None and c.confidence is not None:
        text += f", {c.confidence:+.1f} standard errors"
    if c.paired is not None:
        pairs = ", ".join(
            f"seed {s}: {signed(d)}"
            for s, d in zip(c.paired.seeds, c.paired.differences, strict=True)
        )
        text += f"; paired by seed: {pairs}"
    return text + "."


# -- rendering -------------------------------------------------------------------------------


def render(layout: Layout, context: dict[str, Any]) -> str:
    """The report text from the root's `9_reports/_TEMPLATE.md`."""
    import jinja2

    template = layout.reports_dir / TEMPLATE
    try:
        source = read_text(template)
    except FileNotFoundError:
        raise RecordError(f"{template} is missing: run `harness init` to restore it") from None
    environment = jinja2.Environment(
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )
    try:
        return environment.from_string(source).render(**context)
    except jinja2.TemplateError as exc:
        raise RecordError(f"{template} cannot be rendered ({exc}): fix the template") from None


def keep_inferences(new: str, old: str) -> str:
    """`new` with the Inferences section of `old` when the researcher wrote in it.

    The section runs up to the next heading that the new rendering has after it (so
    headings the researcher adds inside it are kept too). When the old section is the
    template's untouched one, the new one is used.
    """
    new_bounds = section_bounds(new, INFERENCES)
    if new_bounds is None:
        return new
    after = {line for line in new[new_bounds[1] :].splitlines() if line.startswith("## ")}
    old_bounds = section_bounds(old, INFERENCES)
    if old_bounds is None:
        return new
    start = old_bounds[0]
    ends = [old.find("\n" + line + "\n", start) for line in after]
    end = min((e + 1 for e in ends if e >= 0), default=len(old))
    written = old[start:end]
    if written.strip() == new[new_bounds[0] : new_bounds[1]].strip():
        return new
    tail = new[new_bounds[1] :]
    return new[: new_bounds[0]] + written.rstrip("\n") + ("\n\n" if tail else "\n") + tail


# -- the plot and the journal --------------------------------------------------------------


def plot_points(frame: pl.DataFrame, config: Config, slug: str) -> list[PlotPoint]:
    """Every run of the metric in the order recorded; `slug`'s runs highlighted."""
    import polars as pl

    rows = frame.filter(pl.col("metric") == config.metric).iter_rows(named=True)
    return points_from_rows(rows, highlight=lambda idea: idea == slug)


def save_plot(
    layout: Layout, config: Config, frame: pl.DataFrame, slug: str, *, target: Path
) -> Path:
    """The report's plot: the dashboard's chart (the chain of heads, mean ± se, as the
    best-so-far line), drawn by the same function, as a file."""
    try:
        chain = chain_steps(layout, config, frame)
    except HarnessError:
        chain = ()  # the heads cannot be read here: the single-run best so far stands in
    svg = progression_file(
        plot_points(frame, config, slug),
        metric=config.metric,
        direction=config.direction,
        highlighted=slug,
        chain=chain,
    )
    try:
        write_atomic(target, svg)
    except OSError as exc:
        raise HarnessError(f"cannot write the plot {target}: {exc.strerror}") from None
    return target


def report_entry(report: Report, config: Config) -> str:
    where = report.standing
    side = where.side
    outcome = "winner" if where.is_winner else "not a winner"
    lines = [
        f"## {heading_time()} · report · {report.idea.slug} · {outcome}",
        "",
        f"- Observation: {config.metric} mean {num(side.mean)}, std {num(side.std)} over "
        f"{side.n} seed(s)",
    ]
    lines += [f"- Observation: {comparison_line(c, config.metric)}" for c in _shown(where)]
    lines.append(f"- Verdict: {where.reason}")
    if report.confirmation is not None and not report.confirmation.pending:
        lines.append(f"- Held-out confirmation: {report.confirmation.reason}")
    lines.append(
        f"- Report: {report.name} (its Inferences section holds the researcher's interpretation)"
    )
    return "\n".join(lines) + "\n"
