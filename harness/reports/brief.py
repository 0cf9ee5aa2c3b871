"""`harness brief`: everything an agent needs after losing its context, in one call.

At most about 150 lines, read afresh from the files: the program's essentials (metric,
direction, min_effect, seeds, the file rules one line each), the head of the line and
its chain of accepted changes, every idea in one line (status, effect over its parent,
verdict), the last Inferences and journal lessons, what is queued or running, warnings,
and the next action with its commands. `--json` gives the same as one object.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.checks import unfilled_slots
from harness.config import Config
from harness.layout import Layout
from harness.loop.ideas import Idea
from harness.loop.inferences import SECTION, inferences_of, is_unfilled, written_text
from harness.loop.state import BASELINE, LoopState, mean_of, next_action
from harness.reports import trunk
from harness.reports.dashboard import newest_entries
from harness.reports.report import find_report
from harness.rules.appendrows import RECORD_TABLES

MAX_IDEAS = 60  # idea lines shown; the rest are counted
LESSONS = 5  # journal entries of reports, decisions and notes
INFERENCES = 4  # reports whose Inferences are quoted
QUOTE = 240  # characters of one quoted text
LESSON_KINDS = (" · report · ", " · submit · ", " · note", " · confirm · ")


@dataclass
class Brief:
    program: list[str] = field(default_factory=list)
    best: list[str] = field(default_factory=list)
    ideas: list[str] = field(default_factory=list)
    learned: list[str] = field(default_factory=list)
    lessons: list[str] = field(default_factory=list)
    queue: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    next: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "program": self.program,
            "best": self.best,
            "ideas": self.ideas,
            "learned": self.learned,
            "lessons": self.lessons,
            "queue": self.queue,
            "warnings": self.warnings,
            "next": self.next,
        }

    def lines(self) -> list[str]:
        out = ["# Brief (`harness brief`): read program.md for the full program", ""]
        sections = (
            ("Program", self.program),
            ("Head (the best: the head of the line, mean over seeds; its changes)", self.best),
            (f"Ideas ({len(self.ideas)} shown)", self.ideas),
            ("Learned (the latest Inferences)", self.learned),
            ("Journal (the latest lessons)", self.lessons),
            ("Queue", self.queue),
            ("Warnings", self.warnings),
        )
        for title, lines in sections:
            out += [f"## {title}", *(lines or ["(none)"]), ""]
        action = self.next
        slug = f" {action['slug']}" if action.get("slug") else ""
        out += ["## Next", f"{action['action']}{slug}: {action['reason']}"]
        out += [
            f"  write: {need['what']} -> {need['file'] or need['where']}"
            for need in action["needs"]
        ]
        out += [f"  run:   {command}" for command in action["commands"]]
        return out


def clip(text: str, size: int = QUOTE) -> str:
    plain = " ".join(text.split())
    return plain if len(plain) <= size else plain[: size - 3] + "..."


def program_lines(config: Config) -> list[str]:
    better = "lower" if config.direction == "min" else "higher"
    rules = config.rules
    confirm = " ".join(config.confirm) or "(none)"
    return [
        f"- metric `{config.metric}`, {better} is better; min_effect {config.min_effect:g}; "
        f"seeds {config.seeds}; ideas_target {config.ideas_target}",
        f"- eval `{' '.join(config.eval)}`; smoke `{' '.join(config.smoke)}`; "
        f"held-out confirm `{confirm}`",
        f"- FROZEN (never edited without a human's META_MODE): {', '.join(rules.frozen)}",
        f"- GLOBAL (the harness writes the root copy; committed on {config.main_branch} only): "
        f"{', '.join(rules.global_)}",
        f"- APPEND-ONLY (new entries on top, old text unchanged): {', '.join(rules.append_only)}",
        f"- APPEND-ONLY rows (appended at the end by the harness, old rows unchanged): "
        f"{', '.join(RECORD_TABLES)}",
        f"- records (committed by `harness results commit`): {', '.join(rules.records)}",
        f"- {config.main_branch} is protected: code reaches it only by merging an exp/ branch",
        "- a result counts only with status ok, integrity ok and committed code",
    ]


def best_lines(layout: Layout, state: LoopState, config: Config) -> list[str]:
    """The head of the line (the best, what every idea is judged against) and its chain
    of accepted changes, each with the effect its merge recorded; one best run labelled."""
    ratchet = state.ratchet
    head = ratchet.lines(config.metric) if ratchet is not None else []
    if ratchet is None or not head:
        return ["no valid baseline yet: `harness baseline`"]
    lines = [f"head {head[0]}"]
    facts = {link.branch: link.facts for link in trunk.chain(layout, config)}
    for number, branch in enumerate(ratchet.chain, start=1):
        effect = facts.get(branch, {}).get("Effect")
        lines.append(f"  {number}. {branch}" + (f": {effect}" if effect else ""))
    if not ratchet.chain:
        line = ratchet.head.branch if ratchet.head else "the line"
        lines.append(f"  no change accepted into {line} yet")
    if ratchet.stale:
        lines.append(f"stale (re-test on the head): {', '.join(ratchet.stale)}")
    submitted = [i.slug for i in state.ideas if i.status == "submitted"]
    lines.append(f"submitted (winners): {', '.join(submitted) or 'none yet'}")
    return lines


def seeds_of(state: LoopState, slug: str) -> int:
    return len(state.valid_seeds(slug))


def idea_line(idea: Idea, state: LoopState, effect: str) -> str:
    rating = "-" if idea.rating is None else f"{idea.rating:g}/10"
    line = f"- {idea.slug} [{idea.shown_status}] rating {rating}, effect {effect}"
    if idea.decision:
        line += f"; {clip(str(idea.decision), 160)}"
    elif idea.reason:
        line += f"; abandoned: {clip(idea.reason, 120)}"
    return line


def idea_lines(layout: Layout, state: LoopState, config: Config) -> list[str]:
    effects = parent_effects(layout, config, state)
    ideas = list(state.ideas)
    shown = ideas[-MAX_IDEAS:]
    lines = [idea_line(idea, state, effects.get(idea.slug, "-")) for idea in shown]
    if len(ideas) > len(shown):
        lines.insert(0, f"({len(ideas) - len(shown)} older idea(s) not shown: `harness idea list`)")
    return lines


def parent_effects(layout: Layout, config: Config, state: LoopState) -> dict[str, str]:
    """Each idea's effect: the mean of its valid runs at its newest code, less the mean of
    its parent's code (what it branched from); against the baseline when the parent has
    no valid run (an idea older than the ratchet)."""
    import polars as pl

    from harness.record.code import fill_codes
    from harness.record.reference import side_of_code
    from harness.record.results import read_results, valid_runs

    if not layout.results_tsv.exists():
        return {}
    valid = valid_runs(fill_codes(read_results(layout.results_tsv), layout.root, config), config)
    baseline = mean_of(state.runs_of(BASELINE))
    found = {}
    for idea in state.ideas:
        mine = valid.filter(pl.col("idea") == idea.slug).sort("timestamp")
        if mine.is_empty():
            continue
        code = mine.get_column("code")[-1]
        side = side_of_code(mine, config, code, idea.slug) if code else None
        parent_code = (idea.parent or {}).get("code")
        parent = side_of_code(valid, config, parent_code, "parent") if parent_code else None
        if side is None:
            continue
        if parent is not None:
            found[idea.slug] = f"{side.mean - parent.mean:+.4g} over its parent, {side.n} seed(s)"
        elif baseline is not None:
            found[idea.slug] = f"{side.mean - baseline:+.4g} over the baseline, {side.n} seed(s)"
    return found


def learned_lines(layout: Layout, state: LoopState) -> list[str]:
    found = []
    for idea in reversed(state.ideas):
        path = find_report(layout, idea.slug)
        if path is None:
            continue
        text = inferences_of(path.read_text(encoding="utf-8", errors="replace"))
        if text is None or is_unfilled(text):
            continue
        found.append(f"- {idea.slug}: {clip(written_text(text))}")
        if len(found) >= INFERENCES:
            break
    return found


def lesson_lines(layout: Layout) -> list[str]:
    lines = []
    for entry in newest_entries(layout.journal, count=200):
        if not any(kind in entry.title for kind in LESSON_KINDS):
            continue
        detail = next(
            (
                line.lstrip("- ").strip()
                for line in entry.body.splitlines()
                if line.lstrip("- ").startswith(("Verdict", "Decision", "**Inference", "**Obs"))
            ),
            "",
        )
        lines.append(f"- {entry.title}: {clip(detail, 200)}" if detail else f"- {entry.title}")
        if len(lines) >= LESSONS:
            break
    return lines


def queue_lines(state: LoopState) -> list[str]:
    lines = [
        f"- {task.task_id} {task.state}: {clip(task.label, 120)}" for task in state.active_tasks
    ]
    finished = ", ".join(f"{n} {name}" for name, n in state.finished_tasks)
    if finished:
        lines.append(f"finished: {finished}")
    return lines[:12] + ([f"(and {len(lines) - 12} more)"] if len(lines) > 12 else [])


def warning_lines(layout: Layout, state: LoopState, config: Config) -> list[str]:
    warnings = []
    if state.uncommitted_runs:
        warnings.append(
            f"- {state.uncommitted_runs} run(s) not committed: `harness results commit`"
        )
    for slug in sorted(state.uninferred):
        warnings.append(f"- the report of {slug} has no {SECTION} yet")
    flagged = sorted({run.idea for run in state.runs if run.integrity != "ok"})
    if flagged:
        warnings.append(f"- runs with modified FROZEN files (never count): {', '.join(flagged)}")
    dirty = sorted({run.idea for run in state.runs if run.dirty})
    if dirty:
        warnings.append(f"- runs of uncommitted code (never count): {', '.join(dirty)}")
    failed = [run for run in state.runs if run.failed]
    if failed:
        warnings.append(f"- {len(failed)} failed run(s): `harness results` shows them")
    if layout.program.exists():
        slots = unfilled_slots(layout.program.read_text(encoding="utf-8"))
        if slots:
            warnings.append(f"- program.md has {len(slots)} unfilled slot(s): see `harness doctor`")
    return warnings


def make_brief(layout: Layout, config: Config, state: LoopState) -> Brief:
    return Brief(
        program=program_lines(config),
        best=best_lines(layout, state, config),
        ideas=idea_lines(layout, state, config),
        learned=learned_lines(layout, state),
        lessons=lesson_lines(layout),
        queue=queue_lines(state),
        warnings=warning_lines(layout, state, config),
        next=next_action(state, config).to_json(),
    )
