"""Critiques of ideas, and picking the best idea to implement next.

A critique is free text that ends with its verdict: `Rating: 7/10`, and optionally the
three scores `Novelty: 6/10`, `Impact: 8/10`, `Feasibility: 9/10` (markdown emphasis and
list markers around them are fine; when a line repeats, the last one counts). It is
appended, with a timestamp, under the idea's `## Critique` section, and the numbers go
into the front matter, where `idea pick` and `harness next` read them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from harness.errors import HarnessError, UsageError
from harness.layout import Layout
from harness.loop.ideas import (
    NOT_STARTED,
    SCORES,
    Idea,
    append_to_section,
    find_idea,
    ideas_lock,
    load_ideas,
    log_change,
    now_stamp,
    rewrite_idea,
)

SECTION = "Critique"
NUMBER = r"(\d+(?:\.\d+)?)(?:\s*/\s*10)?"


def read_score(text: str, name: str) -> float | None:
    """The last `Name: N` or `Name: N/10` of `text` (case and emphasis ignored)."""
    plain = text.replace("*", "").replace("__", "")
    pattern = rf"^[\s>#\-+]*{name}\s*[:=]\s*{NUMBER}"
    found = re.findall(pattern, plain, flags=re.IGNORECASE | re.MULTILINE)
    if not found:
        return None
    value = float(found[-1])
    if not 0 <= value <= 10:
        raise UsageError(f"{name} {value:g} is out of range: scores run from 0 to 10")
    return value


def parse_critique(text: str) -> dict[str, float | None]:
    """{'rating': ..., 'novelty': ..., 'impact': ..., 'feasibility': ...} read from `text`."""
    rating = read_score(text, "rating")
    if rating is None:
        raise UsageError(
            "the critique has no rating: end it with a line such as `Rating: 7/10` "
            "(and `Novelty: N/10`, `Impact: N/10`, `Feasibility: N/10`)"
        )
    return {"rating": rating} | {name: read_score(text, name) for name in SCORES}


def add_critique(layout: Layout, slug: str, text: str) -> Idea:
    """Append `text` under the idea's Critique section and record its rating and scores."""
    if not text.strip():
        raise UsageError("the critique is empty: write it to a file and pass --file FILE")
    scores = parse_critique(text)
    with ideas_lock(layout):
        idea = find_idea(layout, slug)
        stamp = now_stamp()
        body = append_to_section(idea.body, SECTION, f"### {stamp}\n\n{text.strip()}")
        changes: dict[str, Any] = {key: value for key, value in scores.items() if value is not None}
        if idea.status == "proposed":
            changes["status"] = "critiqued"
            body = log_change(body, f"proposed -> critiqued (rating {scores['rating']:g}/10)")
        return rewrite_idea(idea, changes=changes, body=body)


@dataclass(frozen=True)
class Pick:
    idea: Idea
    reason: str
    runner_up: Idea | None


def rank(ideas: list[Idea]) -> list[Idea]:
    """Best first: rating, then the sum of the scores, then the oldest."""
    return sorted(ideas, key=lambda i: (-(i.rating or 0.0), -i.score_sum, i.created, i.slug))


def describe_scores(idea: Idea) -> str:
    if idea.rating is None:
        return "not critiqued"
    parts = [f"{name} {value:g}" for name in SCORES if (value := getattr(idea, name)) is not None]
    return f"rating {idea.rating:g}/10" + (f" ({', '.join(parts)})" if parts else "")


def pick_idea(ideas: list[Idea]) -> Pick:
    """The best idea not yet implemented: critiqued ones first, by rating and scores."""
    critiqued = rank([i for i in ideas if i.status == "critiqued"])
    pool = critiqued or rank([i for i in ideas if i.status in NOT_STARTED])
    if not pool:
        raise HarnessError(
            f"no idea left to implement (all {len(ideas)} are started, finished or abandoned): "
            "write new ones with `harness idea new SLUG --title ...`"
        )
    best, runner_up = pool[0], (pool[1] if len(pool) > 1 else None)
    if critiqued:
        reason = f"{describe_scores(best)}, the best of {len(pool)} critiqued idea(s)"
    else:
        reason = f"no idea is critiqued yet; {best.slug} is the oldest of {len(pool)} proposed"
    if runner_up is not None:
        reason += f"; next: {runner_up.slug} ({describe_scores(runner_up)})"
    return Pick(best, reason, runner_up)


def pick_from_repository(layout: Layout) -> Pick:
    return pick_idea(load_ideas(layout))
