"""An idea written in one file, for `harness idea new --file F` (no hand-editing of the template).

The file holds a `# Title` line (or `title: ...`), optionally `slug: ...`, and sections
`## Hypothesis`, `## Mechanism`, `## Expected effect`, `## Plan` (any section of the
template, or others). Each section replaces the template's text of the same name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from harness.errors import UsageError
from harness.loop.ideas import MAX_SLUG

HEADING = re.compile(r"^## +(.+?)[ \t]*$", re.MULTILINE)
KEY = re.compile(r"^(slug|title)\s*:\s*(.+?)\s*$", re.IGNORECASE | re.MULTILINE)
TITLE = re.compile(r"^# +(.+?)[ \t]*$", re.MULTILINE)


@dataclass(frozen=True)
class Draft:
    slug: str | None
    title: str | None
    sections: dict[str, str] = field(default_factory=dict)


def parse_draft(text: str) -> Draft:
    """The slug, title and sections a draft file gives (any of them may be missing)."""
    first = HEADING.search(text)
    preamble = text[: first.start()] if first else text
    keys = {name.lower(): value for name, value in KEY.findall(preamble)}
    heading = TITLE.search(preamble)
    title = keys.get("title") or (heading.group(1) if heading else None)
    sections = {}
    matches = list(HEADING.finditer(text))
    for number, match in enumerate(matches):
        end = matches[number + 1].start() if number + 1 < len(matches) else len(text)
        body = text[match.end() : end].strip()
        if body:
            sections[match.group(1).strip()] = body
    return Draft(keys.get("slug"), title.strip().strip('"') if title else None, sections)


def slug_from_title(title: str) -> str:
    """A slug made of the title's words: `Warm up the LR` -> `warm-up-the-lr`."""
    words = re.findall(r"[a-z0-9]+", title.lower())
    slug = ""
    for word in words:
        longer = f"{slug}-{word}" if slug else word
        if len(longer) > MAX_SLUG:
            break
        slug = longer
    if not slug:
        raise UsageError(f"cannot make a slug of the title {title!r}: give the slug as SLUG")
    return slug
