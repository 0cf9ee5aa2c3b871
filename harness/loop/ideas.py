"""Ideas: one markdown file `1_ideas/YYYY-MM-DD_<slug>.md` each, in the root copy.

The YAML front matter is the harness's (slug, title, created, status, rating, the three
scores, branch); the sections below it are the researcher's. Ideas are records: every
command reads and writes the files of the main worktree, whichever worktree it runs
in, and nothing about an idea is kept anywhere else (no cache can disagree with them).

Status moves forward through STATUSES; `abandoned` is reachable from any state and
needs a reason. Every change is written atomically under a lock and logged in the
idea's `## History` section.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from harness.errors import DuplicateIdea, RecordError, UnknownIdea, UsageError
from harness.fileio import exclusive_lock, read_text, render_template, write_atomic
from harness.layout import IDEAS_DIR, Layout
from harness.loop import frontmatter
from harness.loop.similarity import overlap, words

STATUSES = (
    "proposed",
    "critiqued",
    "implementing",
    "testing",
    "reported",
    "submitted",
    "abandoned",
)
# Moves `idea set` allows; `abandoned` is allowed from every other state (with a reason).
TRANSITIONS: dict[str, frozenset[str]] = {
    "proposed": frozenset({"critiqued", "implementing"}),
    "critiqued": frozenset({"implementing"}),
    "implementing": frozenset({"testing"}),
    "testing": frozenset({"implementing", "reported"}),
    "reported": frozenset({"submitted"}),
    "submitted": frozenset(),
    "abandoned": frozenset({"proposed"}),
}
NOT_STARTED = ("proposed", "critiqued")
SCORES = ("novelty", "impact", "feasibility")
SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
MAX_SLUG = 60
RESERVED_SLUGS = frozenset({"baseline"})  # results.tsv's name for runs of the main branch
FILE_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})_([a-z0-9][a-z0-9-]*)\.md")
TEMPLATE = "_TEMPLATE.md"
HISTORY = "History"
REASON = "abandoned_reason"  # the front matter key that says why an idea was abandoned
DECISION = "decision"  # the front matter key where `harness submit` records its decision
PARENT = "parent"  # the front matter key of what the idea branched from (line, commit, code)
PARENT_KEYS = ("line", "commit", "code")
SIMILAR_AT = 0.6  # word overlap from which `idea new` warns


@dataclass(frozen=True)
class Idea:
    slug: str
    title: str
    status: str
    created: str
    rating: float | None
    novelty: float | None
    impact: float | None
    feasibility: float | None
    branch: str
    path: Path
    body: str
    reason: str | None = None  # why it was abandoned
    decision: str | None = None  # what `harness submit` decided, and why
    parent: dict[str, str] | None = None  # line, commit and code it branched from

    @property
    def name(self) -> str:
        """How messages refer to the file: `1_ideas/2024-05-01_slug.md`."""
        return f"{IDEAS_DIR}/{self.path.name}"

    @property
    def hypothesis(self) -> str:
        return section_text(self.body, "Hypothesis")

    @property
    def is_rejected(self) -> bool:
        """`harness submit` decided it does not win (the reason is in `decision`)."""
        return bool(self.decision) and str(self.decision).startswith("not submitted")

    @property
    def shown_status(self) -> str:
        """The status as status, idea list and the dashboard show it: `rejected` for a
        reported idea that `harness submit` turned down."""
        return "rejected" if self.is_rejected and self.status == "reported" else self.status

    @property
    def score_sum(self) -> float:
        return sum(getattr(self, name) or 0.0 for name in SCORES)

    def to_json(self) -> dict[str, Any]:
        fields: tuple[str, ...] = ("slug", "title", "status", "created", "rating", *SCORES)
        fields += ("branch", "reason", "decision", "parent")
        return {name: getattr(self, name) for name in fields} | {
            "path": str(self.path),
            "shown_status": self.shown_status,
        }


def validate_slug(slug: str) -> str:
    """The slug itself when it is lowercase words of letters and digits joined by dashes."""
    if len(slug) > MAX_SLUG or not SLUG.fullmatch(slug):
        raise UsageError(
            f"bad idea slug {slug!r}: use lowercase letters, digits and single dashes "
            f"(at most {MAX_SLUG} characters), e.g. lr-warmup"
        )
    if slug in RESERVED_SLUGS:
        raise UsageError(f"{slug!r} is reserved for runs of the main branch: choose another slug")
    read = frontmatter.read_bare(slug)  # templates write `slug: {{ slug }}` unquoted
    if read != slug:
        raise UsageError(
            f"bad idea slug {slug!r}: an idea's YAML front matter reads it as {read!r}, not "
            f"as text: add a word, e.g. {slug}-idea"
        )
    return slug


@contextmanager
def ideas_lock(layout: Layout) -> Iterator[None]:
    """Held while an idea file is read, changed and written back."""
    with exclusive_lock(layout.state_dir / "ideas.lock"):
        yield


# -- reading ---------------------------------------------------------------------------


def read_idea(path: Path) -> Idea:
    """The idea in `path`; a malformed file is a RecordError that names it."""
    return parse_idea(path, read_text(path, name=f"{IDEAS_DIR}/{path.name}"))


def parse_idea(path: Path, text: str) -> Idea:
    """The idea `text` holds, to be stored in `path` (whose name gives date and slug)."""
    name = f"{IDEAS_DIR}/{path.name}"
    match = FILE_NAME.fullmatch(path.name)
    if not match:
        raise RecordError(f"{name} is not named YYYY-MM-DD_slug.md: rename it")
    meta, body = frontmatter.split(text, name=name)
    if meta.get("slug") != match.group(2):
        raise RecordError(
            f"{name}: front matter slug {meta.get('slug')!r} differs from the file name: "
            "make them the same"
        )
    status = meta.get("status")
    if status not in STATUSES:
        raise RecordError(
            f"{name}: status {status!r} is not one of {', '.join(STATUSES)}: fix the front matter"
        )
    title = meta.get("title")
    if not isinstance(title, str) or not title.strip():
        raise RecordError(f"{name}: front matter has no title: add `title: ...`")
    return Idea(
        slug=match.group(2),
        title=title,
        status=status,
        created=_stamp(meta.get("created")) or match.group(1),
        rating=_score(meta, "rating", name),
        novelty=_score(meta, "novelty", name),
        impact=_score(meta, "impact", name),
        feasibility=_score(meta, "feasibility", name),
        branch=str(meta.get("branch") or f"exp/{match.group(2)}"),
        path=path,
        body=body,
        reason=meta.get(REASON),
        decision=meta.get(DECISION),
        parent=_parent(meta, name),
    )


def _parent(meta: dict[str, Any], name: str) -> dict[str, str] | None:
    value = meta.get(PARENT)
    if value is None:
        return None
    if not isinstance(value, dict) or not all(isinstance(value.get(k), str) for k in PARENT_KEYS):
        raise RecordError(
            f"{name}: {PARENT} must map {', '.join(PARENT_KEYS)} to text, got {value!r}: fix it "
            f"or remove it (it is then read from git)"
        )
    return {key: value[key] for key in PARENT_KEYS}


def _stamp(value: Any) -> str:
    """`created` as text that sorts in time: a timestamp (UTC, ISO 8601) or a date."""
    if isinstance(value, datetime):
        moment = value.astimezone(UTC) if value.tzinfo else value
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value or "")


def _score(meta: dict[str, Any], key: str, name: str) -> float | None:
    value = meta.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 10:
        raise RecordError(f"{name}: {key} must be a number from 0 to 10 or null, got {value!r}")
    return float(value)


def idea_files(layout: Layout) -> list[Path]:
    """Every file of the ideas folder named like an idea, sorted by name (date first)."""
    if not layout.ideas_dir.is_dir():
        return []
    return sorted(p for p in layout.ideas_dir.iterdir() if FILE_NAME.fullmatch(p.name))


def load_ideas(layout: Layout) -> list[Idea]:
    """Every idea of the repository, oldest first (by the time it was written, then by
    name). Two files with one slug is an error."""
    ideas = sorted(
        (read_idea(path) for path in idea_files(layout)),
        key=lambda idea: (idea.created[:10], idea.created, idea.path.name),
    )
    seen: dict[str, Idea] = {}
    for idea in ideas:
        if idea.slug in seen:
            raise DuplicateIdea(
                f"two files hold idea {idea.slug!r}: {seen[idea.slug].name} and {idea.name}: "
                "remove or rename one"
            )
        seen[idea.slug] = idea
    return ideas


def find_idea(layout: Layout, slug: str) -> Idea:
    """The idea with this slug, or UnknownIdea naming the folder searched."""
    validate_slug(slug)
    paths = [
        path
        for path in sorted(layout.ideas_dir.glob(f"*_{slug}.md"))
        if (m := FILE_NAME.fullmatch(path.name)) and m.group(2) == slug
    ]
    if not paths:
        raise UnknownIdea(
            f"no idea {slug!r} in {layout.ideas_dir}: see `harness idea list`, "
            f"or write it with `harness idea new {slug} --title ...`"
        )
    if len(paths) > 1:
        names = " and ".join(f"{IDEAS_DIR}/{p.name}" for p in paths)
        raise DuplicateIdea(f"two files hold idea {slug!r}: {names}: remove or rename one")
    return read_idea(paths[0])


# -- sections of the body ----------------------------------------------------------------


def section_bounds(body: str, title: str) -> tuple[int, int] | None:
    """(start, end) of the text under `## title` (start just after the heading line)."""
    match = re.search(rf"^## {re.escape(title)}[ \t]*$\n?", body, flags=re.MULTILINE)
    if not match:
        return None
    following = re.search(r"^## ", body[match.end() :], flags=re.MULTILINE)
    end = match.end() + following.start() if following else len(body)
    return match.end(), end


def section_text(body: str, title: str) -> str:
    bounds = section_bounds(body, title)
    return body[bounds[0] : bounds[1]].strip() if bounds else ""


def append_to_section(body: str, title: str, text: str, *, gap: str = "\n\n") -> str:
    """`body` with `text` added at the end of section `title` (created at the end if missing).

    `gap` goes between the section's old text and `text`: a blank line between
    paragraphs, a plain newline between the items of a list.
    """
    bounds = section_bounds(body, title)
    if bounds is None:
        return body.rstrip("\n") + f"\n\n## {title}\n\n{text.strip()}\n"
    start, end = bounds
    before, after = body[:end].rstrip("\n"), body[end:]
    joined = before + (gap if body[start:end].strip() else "\n\n") + text.strip() + "\n"
    return joined + ("\n" + after if after else "")


def fill_sections(body: str, sections: dict[str, str]) -> str:
    """`body` with each named section's text replaced (appended when the body lacks it)."""
    for title, text in sections.items():
        bounds = section_bounds(body, title)
        if bounds is None:
            body = body.rstrip("\n") + f"\n\n## {title}\n\n{text.strip()}\n"
            continue
        start, end = bounds
        after = body[end:]
        body = body[:start] + "\n" + text.strip() + "\n" + ("\n" + after if after else "")
    return body


# -- writing -----------------------------------------------------------------------------


def now_stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rewrite_idea(
    idea: Idea,
    *,
    changes: dict[str, Any],
    remove: tuple[str, ...] = (),
    body: str | None = None,
) -> Idea:
    """Write `changes` into the idea's front matter (dropping the keys in `remove`) and,
    when given, the new `body`; returns the idea as written."""
    meta, old_body = frontmatter.split(read_text(idea.path, name=idea.name), name=idea.name)
    for key in remove:
        meta.pop(key, None)
    text = frontmatter.join(meta | changes, old_body if body is None else body)
    updated = parse_idea(idea.path, text)
    write_atomic(idea.path, text)
    return updated


def log_change(body: str, line: str) -> str:
    return append_to_section(body, HISTORY, f"- {now_stamp()} {line}", gap="\n")


@dataclass(frozen=True)
class NewIdea:
    idea: Idea
    similar: list[tuple[Idea, float]]


def new_idea(
    layout: Layout,
    slug: str,
    *,
    title: str,
    hypothesis: str = "",
    sections: dict[str, str] | None = None,
    today: date | None = None,
) -> NewIdea:
    """Write a new idea from the root's `1_ideas/_TEMPLATE.md`, its `sections` (title ->
    text) filled in; returns it and look-alikes."""
    validate_slug(slug)
    title = " ".join(title.split())
    if not title:
        raise UsageError("an idea needs a title: pass --title 'what the idea is'")
    now = datetime.now(UTC)
    created = (today or now.date()).isoformat()
    path = layout.ideas_dir / f"{created}_{slug}.md"
    stamp = created if today else now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # the true order
    with ideas_lock(layout):
        existing = load_ideas(layout)
        for other in existing:
            if other.slug == slug:
                raise DuplicateIdea(
                    f"idea {slug!r} exists already in {other.name}: choose another slug"
                )
        text = render_idea(layout, slug=slug, title=title, hypothesis=hypothesis, created=stamp)
        text = fill_sections(text, sections or {})
        try:
            idea = parse_idea(path, text)
        except RecordError as exc:
            template = layout.ideas_dir / TEMPLATE
            raise RecordError(f"{template} renders a broken idea: {exc}") from None
        write_atomic(path, text)
    return NewIdea(idea, similar_ideas(existing, idea, placeholder=_placeholder(layout)))


def render_idea(layout: Layout, *, slug: str, title: str, hypothesis: str, created: str) -> str:
    import jinja2

    template = layout.ideas_dir / TEMPLATE
    try:
        source = read_text(template)
    except FileNotFoundError:
        raise RecordError(f"{template} is missing: run `harness init` to restore it") from None
    context = {"slug": slug, "title": title, "hypothesis": hypothesis, "created": created}
    try:
        return render_template(source, context)
    except jinja2.TemplateError as exc:  # the project's own template is broken
        raise RecordError(f"{template} cannot be rendered ({exc}): fix the template") from None


def _placeholder(layout: Layout) -> str:
    """The template's Hypothesis text when none is given (never a sign of similarity)."""
    text = render_idea(layout, slug="x", title="x", hypothesis="", created="2000-01-01")
    return section_text(text, "Hypothesis")


def similar_ideas(
    ideas: list[Idea], new: Idea, *, placeholder: str = ""
) -> list[tuple[Idea, float]]:
    """Existing ideas whose title or hypothesis resembles `new`'s, most similar first."""
    new_key = words(new.title + " " + new.slug.replace("-", " "))
    new_hypothesis = new.hypothesis if new.hypothesis != placeholder else ""
    found = []
    for idea in ideas:
        score = overlap(new_key, words(idea.title + " " + idea.slug.replace("-", " ")))
        if new_hypothesis and idea.hypothesis and idea.hypothesis != placeholder:
            score = max(score, overlap(words(new_hypothesis), words(idea.hypothesis)))
        if score >= SIMILAR_AT:
            found.append((idea, score))
    return sorted(found, key=lambda pair: -pair[1])


def is_allowed_move(old: str, new: str) -> bool:
    return new in TRANSITIONS[old] or (new == "abandoned" and old != "abandoned")


def set_status(
    layout: Layout, slug: str, status: str, *, reason: str = "", force: bool = False
) -> tuple[Idea, bool]:
    """Move an idea to `status`; returns the idea and whether anything changed."""
    if status not in STATUSES:
        raise UsageError(f"unknown status {status!r}: use one of {', '.join(STATUSES)}")
    reason = " ".join(reason.split())
    if status == "abandoned" and not reason:
        raise UsageError(f"abandoning {slug!r} needs a reason: pass --reason 'why it was dropped'")
    with ideas_lock(layout):
        idea = find_idea(layout, slug)
        if idea.status == status:
            return idea, False
        if not force and not is_allowed_move(idea.status, status):
            allowed = sorted(TRANSITIONS[idea.status] | {"abandoned"} - {idea.status})
            raise UsageError(
                f"idea {slug!r} is {idea.status}: it can move to {', '.join(allowed)}, "
                f"not {status} (pass --force to override)"
            )
        line = f"{idea.status} -> {status}" + (f": {reason}" if reason else "")
        body = log_change(idea.body, line)
        if status == "abandoned":
            changes = {"status": status, REASON: reason}
            return rewrite_idea(idea, changes=changes, body=body), True
        return rewrite_idea(idea, changes={"status": status}, remove=(REASON,), body=body), True


def advance(layout: Layout, slug: str, status: str, *, note: str = "") -> Idea:
    """Move an idea forward to `status` when it is at an earlier stage; otherwise (already
    there, further on, or abandoned) leave it as it is. For commands that move ideas as a
    side effect: creating a worktree, queueing its runs, writing its report, submitting."""
    order = STATUSES.index
    with ideas_lock(layout):
        idea = find_idea(layout, slug)
        if idea.status == "abandoned" or order(idea.status) >= order(status):
            return idea
        line = f"{idea.status} -> {status}" + (f" ({note})" if note else "")
        return rewrite_idea(idea, changes={"status": status}, body=log_change(idea.body, line))


def mark_implementing(layout: Layout, slug: str) -> Idea:
    """Mark an idea `implementing` when its worktree is created (later states are kept)."""
    return advance(layout, slug, "implementing", note="worktree created")


def mark_testing(layout: Layout, idea: str, *, run_id: str) -> None:
    """A recorded run moves its idea to `testing` (a branch without an idea file: no-op)."""
    try:
        advance(layout, idea, "testing", note=f"run {run_id} recorded")
    except (UnknownIdea, UsageError):  # baseline, a plain branch name, no idea file
        pass
    except RecordError as exc:  # the run is recorded; the idea file needs a hand
        from loguru import logger

        logger.warning(f"idea status not updated: {exc}")
