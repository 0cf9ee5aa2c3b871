"""The expected effect of an idea: a signed change of the metric (`-0.02`: 0.02 lower).

It is taken from `--expected`, else from a number in the hypothesis (`-H "expect -0.02
val_bpb"`), else from the idea file's `## Expected effect` section. The template's own
placeholder text of that section is not an expectation, even though it shows an example.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.errors import HarnessError
from harness.layout import Layout
from harness.loop.ideas import Idea, find_idea, section_text
from harness.record.compare import expected_number

SECTION = "Expected effect"
PLACEHOLDERS = (  # phrases of the template's unfilled sections (old and new templates)
    "The direction and size of the change in the metric",
    "The signed change of the metric you expect",
    "What will change in the metric, by how much, and why",
)
MAX_HYPOTHESIS = 300


@dataclass(frozen=True)
class Expected:
    change: float | None
    source: str  # "--expected", "the hypothesis", "the idea file", or "" when none

    @property
    def text(self) -> str:
        return "" if self.change is None else f"{self.change:+g}"


def is_placeholder(text: str) -> bool:
    plain = " ".join(text.split())
    return any(phrase in plain for phrase in PLACEHOLDERS)


def idea_expected(idea: Idea) -> float | None:
    """The signed change the idea file's Expected effect section states, if it states one."""
    text = section_text(idea.body, SECTION)
    return None if is_placeholder(text) else expected_number(text)


def idea_hypothesis(idea: Idea) -> str:
    """The idea's Hypothesis as one line for a label ("" while it is the placeholder)."""
    text = " ".join(idea.hypothesis.split())
    if is_placeholder(text):
        return ""
    return text if len(text) <= MAX_HYPOTHESIS else text[: MAX_HYPOTHESIS - 3] + "..."


def resolve_expected(
    layout: Layout, slug: str | None, *, expected: str | None, hypothesis: str | None
) -> Expected:
    """The expected change from the first place that states one (see the module's doc)."""
    if expected:
        change = expected_number(expected)
        if change is None:
            from harness.errors import UsageError

            raise UsageError(
                f"--expected {expected!r} states no number: give the signed change of the "
                "metric, e.g. --expected -0.02 (0.02 lower)"
            )
        return Expected(change, "--expected")
    from_hypothesis = expected_number(hypothesis or "")
    if from_hypothesis is not None:
        return Expected(from_hypothesis, "the hypothesis")
    if slug:
        try:
            change = idea_expected(find_idea(layout, slug))
        except HarnessError:  # no idea file for this branch (the baseline, a plain branch)
            change = None
        if change is not None:
            return Expected(change, "the idea file")
    return Expected(None, "")
