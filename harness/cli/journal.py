"""`harness journal add`: the researcher's own journal entries."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tyro.extras import SubcommandApp


def register(app: SubcommandApp) -> None:
    from tyro.extras import SubcommandApp

    sub = SubcommandApp()
    sub.command(add)
    app.command(sub, name="journal", help="Write to RESEARCH_JOURNAL.md (newest entry on top).")


def add(*, observation: str, inference: str | None = None, idea: str | None = None) -> int:
    """Add an entry to the root RESEARCH_JOURNAL.md, keeping observation and inference apart.

    The entry goes on top, below the header (the file is APPEND-ONLY), whichever worktree
    this runs in.

    Args:
        observation: What was measured or seen (facts only).
        inference: What you think it means (interpretation), if anything.
        idea: The idea the entry is about.
    """
    from harness.layout import find_layout
    from harness.record.journal import add_note

    layout = find_layout()
    entry = add_note(layout, observation, inference, idea=idea)
    print(f"added to {layout.journal}:\n\n{entry}", end="")
    return 0
