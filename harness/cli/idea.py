"""`harness idea ...`: write, list, critique, pick and move ideas (files in 1_ideas/)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Literal

from tyro.conf import Positional, arg

from harness.cli.args import FileOrDash, Slug

if TYPE_CHECKING:
    from tyro.extras import SubcommandApp

    from harness.config import Config
    from harness.layout import Layout

# The same names as harness.loop.ideas.STATUSES (a test holds them equal); spelled out here so
# that `--help` needs no import of the core.
Status = Literal[
    "proposed", "critiqued", "implementing", "testing", "reported", "submitted", "abandoned"
]


def register(app: SubcommandApp) -> None:
    from tyro.extras import SubcommandApp

    sub = SubcommandApp()
    sub.command(new)
    sub.command(name="list")(list_ideas)
    sub.command(show)
    sub.command(critique)
    sub.command(pick)
    sub.command(name="set")(set_status)
    app.command(sub, name="idea", help="Write, list, critique, pick and move ideas.")


def repository() -> tuple[Layout, Config]:
    """The layout of the current directory's repository and its root configuration."""
    from harness.config import load_config
    from harness.layout import find_layout

    layout = find_layout()
    return layout, load_config(layout.root)


def new(
    slug: Positional[Annotated[str | None, arg(metavar="[SLUG]")]] = None,
    /,
    *,
    title: str = "",
    hypothesis: str = "",
    mechanism: str = "",
    expected: str = "",
    plan: str = "",
    file: FileOrDash = "",
) -> int:
    """Write a new idea 1_ideas/DATE_SLUG.md from 1_ideas/_TEMPLATE.md and print its path.

    The sections can be given as options, or in a file (--file F, or - for standard
    input): a `# Title` line, optionally `slug: ...`, then `## Hypothesis`, `## Mechanism`,
    `## Expected effect`, `## Plan` (or any other section); options override the file.
    Without a SLUG, the file's `slug:` or the title's words name it. Warns (on stderr)
    when the title or hypothesis resembles an existing idea, abandoned ones included:
    read that one before going on.

    Args:
        slug: Lowercase letters, digits and dashes, e.g. lr-warmup.
        title: One line saying what the idea is.
        hypothesis: The claim the experiment tests (the template's placeholder otherwise).
        mechanism: Why it should work.
        expected: The Expected effect: the signed change of the metric, e.g. "-0.02 val_bpb".
        plan: The steps of the experiment.
        file: A file with the title and sections, or - to read it from standard input.
    """
    from loguru import logger

    from harness.errors import UsageError
    from harness.loop.drafts import Draft, parse_draft, slug_from_title
    from harness.loop.ideas import new_idea

    draft = parse_draft(read_text_argument(file)) if file else Draft(None, None, {})
    given = {"Hypothesis": hypothesis, "Mechanism": mechanism, "Expected effect": expected}
    sections = draft.sections | {name: text for name, text in given.items() if text}
    sections |= {"Plan": plan} if plan else {}
    title = title or draft.title or ""
    if not title:
        raise UsageError("an idea needs a title: pass --title 'what the idea is' (or `# Title`)")
    layout, _ = repository()
    chosen = slug if slug is not None else (draft.slug or slug_from_title(title))
    created = new_idea(layout, chosen, title=title, sections=sections)
    for other, _score in created.similar:
        why = f", because: {other.reason}" if other.reason else ""
        about = f"{other.slug!r} ({other.status}{why})"
        logger.warning(f"warning: similar to idea {about}: read {other.name} first")
    print(created.idea.path)
    return 0


def list_ideas(*, status: Status | None = None, json: bool = False) -> int:
    """List the ideas, oldest first: slug, status (`rejected`: submitted and turned down),
    rating, title.

    Args:
        status: Only ideas with this status.
        json: Print a JSON array of the ideas' front matter (and paths) instead.
    """
    from harness.loop.ideas import load_ideas

    layout, _ = repository()
    ideas = [i for i in load_ideas(layout) if status is None or i.status == status]
    if json:
        import json as jsonlib

        print(jsonlib.dumps([idea.to_json() for idea in ideas], indent=2))
        return 0
    from harness.fileio import format_table

    rows = [
        [
            idea.slug,
            idea.shown_status,
            "-" if idea.rating is None else f"{idea.rating:g}/10",
            idea.title,
        ]
        for idea in ideas
    ]
    for line in format_table(rows, right={2}):
        print(line)
    return 0


def show(slug: Slug, /, *, json: bool = False) -> int:
    """Print an idea's file (front matter and sections).

    Args:
        slug: The idea.
        json: Print its front matter and body as a JSON object instead.
    """
    from harness.loop.ideas import find_idea

    layout, _ = repository()
    idea = find_idea(layout, slug)
    if json:
        import json as jsonlib

        print(jsonlib.dumps(idea.to_json() | {"body": idea.body}, indent=2))
    else:
        from harness.fileio import read_text

        print(read_text(idea.path, name=idea.name), end="")
    return 0


def critique(slug: Slug, /, *, file: FileOrDash) -> int:
    """Append a critique to an idea and record its rating and scores.

    The critique ends with `Rating: N/10`, and may give `Novelty: N/10`, `Impact: N/10` and
    `Feasibility: N/10`. It is added with a timestamp under the idea's Critique section; a
    proposed idea becomes critiqued.

    Args:
        slug: The idea.
        file: A file holding the critique, or - to read it from standard input.
    """
    from harness.loop.critique import add_critique, describe_scores

    text = read_text_argument(file)
    layout, _ = repository()
    idea = add_critique(layout, slug, text)
    print(f"{idea.slug}: {describe_scores(idea)}, {idea.status}")
    return 0


def read_text_argument(file: str) -> str:
    from harness.errors import UsageError

    if file == "-":
        if not hasattr(sys.stdin, "buffer"):  # a text stream given in-process
            return sys.stdin.read()
        data = sys.stdin.buffer.read()
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            from harness.fileio import not_utf8

            raise UsageError(not_utf8("standard input", data, exc)) from None
    try:
        with open(file, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise UsageError(f"cannot read {file}: {reason}: give a readable text file") from None


def pick(*, json: bool = False) -> int:
    """Name the best idea not yet implemented (by critique rating, then scores) and why.

    Args:
        json: Print {"slug", "reason", "runner_up"} as JSON instead.
    """
    from harness.loop.critique import pick_from_repository

    layout, _ = repository()
    chosen = pick_from_repository(layout)
    if json:
        import json as jsonlib

        runner_up = chosen.runner_up.slug if chosen.runner_up else None
        print(
            jsonlib.dumps(
                {"slug": chosen.idea.slug, "reason": chosen.reason, "runner_up": runner_up}
            )
        )
        return 0
    print(chosen.idea.slug)
    print(f"  why:  {chosen.reason}")
    print(f"  next: harness worktree create {chosen.idea.slug}")
    return 0


def set_status(slug: Slug, /, *, status: Status, reason: str = "", force: bool = False) -> int:
    """Move an idea to another status.

    The order is proposed, critiqued, implementing, testing, reported, submitted; an idea in
    testing may go back to implementing, and any idea may be abandoned (with --reason,
    which is kept in the file). An abandoned idea is reopened by setting it to proposed.

    Args:
        slug: The idea.
        status: The new status.
        reason: Why (required for abandoned); logged in the idea's History section.
        force: Allow a move outside the usual order.
    """
    from harness.loop.ideas import set_status as move

    layout, _ = repository()
    idea, changed = move(layout, slug, status, reason=reason, force=force)
    print(f"{idea.slug}: {status}" if changed else f"{idea.slug} is {status} already")
    return 0
