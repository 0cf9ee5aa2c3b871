"""The Inferences section of a report: the researcher's interpretation, and whether it is there.

`harness report` renders the section with PLACEHOLDER until someone writes in it;
`harness next` says `infer SLUG` while a report still holds the placeholder (or nothing),
and again once the idea's code has changed since they were written (a rebase, a new
commit): `harness report` stamps the section with the code they are written for (a comment,
invisible when rendered), and Inferences stamped with another code are outdated.
"""

from __future__ import annotations

import re
from pathlib import Path

from harness.loop.ideas import section_bounds, section_text

SECTION = "Inferences"
PLACEHOLDER = (
    "(What do the observations mean? Say what you believe and why, what would change your\n"
    "mind, and what to try next.)"
)


STAMP = "<!-- harness: Inferences written for code {code} -->"
STAMP_LINE = re.compile(r"^<!-- harness: Inferences written for code (\S+) -->\n?", re.M)


def _plain(text: str) -> str:
    return " ".join(text.split())


def written_text(text: str) -> str:
    """An Inferences text without the template's italic notes (paragraphs in `*...*`)."""
    paragraphs = [part.strip() for part in STAMP_LINE.sub("", text).split("\n\n") if part.strip()]
    return "\n\n".join(part for part in paragraphs if not _is_note(part))


def is_unfilled(text: str) -> bool:
    """True when an Inferences text still holds the placeholder or a FILL_IN slot, or holds
    nothing but the template's italic notes."""
    plain = _plain(text)
    if _plain(PLACEHOLDER) in plain or "{FILL_IN" in plain:
        return True
    return not written_text(text)


def _is_note(paragraph: str) -> bool:
    return len(paragraph) > 1 and paragraph.startswith("*") and paragraph.endswith("*")


def inferences_of(report: str) -> str | None:
    """The Inferences section of a report's text (None when it has no such section)."""
    if section_bounds(report, SECTION) is None:
        return None
    return section_text(report, SECTION)


def has_unfilled_inferences(path: Path) -> bool:
    """Whether the report file at `path` still waits for its Inferences."""
    try:
        text = inferences_of(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return False
    return text is not None and is_unfilled(text)


def replace_inferences(report: str, inferences: str) -> str:
    """`report` with its Inferences section holding `inferences` (added at the end if absent)."""
    text = inferences.strip()
    if PLACEHOLDER in report:  # the template's notes around it stay
        return report.replace(PLACEHOLDER, text, 1)
    bounds = section_bounds(report, SECTION)
    if bounds is None:
        return report.rstrip("\n") + f"\n\n## {SECTION}\n\n{text}\n"
    start, end = bounds
    after = report[end:]
    return report[:start] + "\n" + text + "\n" + ("\n" + after if after else "")


def stamped_code(report: str) -> str | None:
    """The code a report's Inferences were written for (None: not stamped, an older report)."""
    text = inferences_of(report)
    found = STAMP_LINE.search(text) if text is not None else None
    return found.group(1) if found else None


def stamp_inferences(report: str, code: str) -> str:
    """`report` with its Inferences section stamped as written for `code` (one stamp)."""
    bounds = section_bounds(report, SECTION)
    if bounds is None:
        return report
    start, end = bounds
    body = STAMP_LINE.sub("", report[start:end]).lstrip("\n")
    return report[:start] + "\n" + STAMP.format(code=code) + "\n" + body + report[end:]


def is_outdated(report: str, code: str | None) -> bool:
    """Written Inferences stamped with a code other than the idea's code now."""
    stamp = stamped_code(report)
    text = inferences_of(report)
    if stamp is None or code is None or text is None or is_unfilled(text):
        return False
    return stamp != code
