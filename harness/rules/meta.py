"""META_MODE: the human's permission to change the FROZEN files (docs/architecture.md §2).

An entry of `human_journal.md` that says `META_MODE=1` grants it (one that also says
`META_MODE=0` is read as a revocation: an unclear grant grants nothing). `harness meta
on|off` write such entries, dated, and commit them on main (`commit_journal`): the range
check and the audit count only grants committed history holds (harness.rules.grants).
`meta_state` (what `harness meta status` shows) also reads `META_MODE=1` from the
environment, which the local hooks honour as the human's shortcut.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from harness import gitops
from harness.errors import UsageError
from harness.layout import Layout
from harness.rules.appendonly import ENTRY_MARK, prepend_entry, split_header

MENTION = re.compile(r"META_MODE")
GRANT = re.compile(r"META_MODE\s*=\s*1(?![0-9])")
REVOKE = re.compile(r"META_MODE\s*=\s*0(?![0-9])")
TIMESTAMP = re.compile(
    r"(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2})?))?\s*(Z|UTC|[+-]\d{2}:?\d{2})?"
)


@dataclass(frozen=True)
class MetaState:
    active: bool
    source: str  # what grants it (or why it is off), for people

    def to_json(self) -> dict[str, object]:
        return {"active": self.active, "source": self.source}


@dataclass(frozen=True)
class JournalEntry:
    heading: str  # the `## ` line, without the mark
    text: str  # the whole entry
    time: datetime | None  # the timestamp in the heading, if any (UTC)

    @property
    def mentions_meta(self) -> bool:
        return bool(MENTION.search(self.text))

    @property
    def grants(self) -> bool:
        return bool(GRANT.search(self.text)) and not REVOKE.search(self.text)


def journal_entries(text: str) -> list[JournalEntry]:
    """The entries of an APPEND-ONLY journal, newest (topmost) first."""
    _, body = split_header(text)
    chunks = re.split(r"(?m)^(?=## )", body)
    entries = []
    for chunk in chunks:
        if chunk.startswith(ENTRY_MARK):
            heading = chunk.splitlines()[0][len(ENTRY_MARK) :].strip()
            entries.append(JournalEntry(heading, chunk, parse_time(heading)))
    return entries


def parse_time(heading: str) -> datetime | None:
    """The first timestamp of a heading (`2025-01-02`, `2025-01-02T03:04:05Z`, ...), as UTC."""
    match = TIMESTAMP.search(heading)
    if not match:
        return None
    day, clock, zone = match.groups()
    stamp = f"{day}T{clock or '00:00'}"
    if zone and zone not in ("Z", "UTC"):
        stamp += zone
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def journal_grant(text: str) -> JournalEntry | None:
    """The entry granting META_MODE now: the newest that mentions it, if it grants."""
    for entry in journal_entries(text):
        if entry.mentions_meta:
            return entry if entry.grants else None
    return None


def meta_state(*, environ: Mapping[str, str], journal_text: str) -> MetaState:
    """META_MODE from the environment, then from the human journal's newest META entry."""
    if environ.get("META_MODE", "").strip() == "1":
        return MetaState(True, "the environment (META_MODE=1)")
    entry = journal_grant(journal_text)
    if entry is not None:
        return MetaState(True, f"human_journal.md: ## {entry.heading}")
    return MetaState(False, "no grant in the environment or in human_journal.md")


def read_journal(layout: Layout) -> str:
    path = layout.human_journal
    return path.read_text(encoding="utf-8", errors="surrogateescape") if path.exists() else ""


def current_state(layout: Layout, *, environ: Mapping[str, str] | None = None) -> MetaState:
    """META_MODE for a command run in `layout` (the root's human_journal.md counts)."""
    environ = os.environ if environ is None else environ
    return meta_state(environ=environ, journal_text=read_journal(layout))


def grant(layout: Layout, *, reason: str, now: datetime | None = None) -> str:
    """Write an entry granting META_MODE on top of human_journal.md; returns its heading."""
    if not reason.strip():
        raise UsageError('say why META_MODE is needed: harness meta on --reason "..."')
    if MENTION.search(reason) or re.search(r"(?m)^## ", reason):
        raise UsageError("the reason must not mention META_MODE or hold `## ` heading lines")
    return _write(layout, "META_MODE=1 (meta on)", reason, now)


def revoke(layout: Layout, *, reason: str = "", now: datetime | None = None) -> str | None:
    """Write an entry ending META_MODE; None (nothing written) when the journal grants none."""
    if journal_grant(read_journal(layout)) is None:
        return None
    if MENTION.search(reason) or re.search(r"(?m)^## ", reason):
        raise UsageError("the reason must not mention META_MODE or hold `## ` heading lines")
    return _write(layout, "META_MODE=0 (meta off)", reason, now)


def commit_journal(layout: Layout, *, message: str) -> str:
    """Commit human_journal.md in the root when it is on the main branch (a grant counts
    only once committed there); a line for people saying what was done."""
    from harness.config import load_config
    from harness.errors import HarnessError

    main = load_config(layout.root).main_branch
    if gitops.current_branch(layout.root) != main:
        return (
            f"note: {layout.root} is not on {main}: commit {layout.human_journal.name} on "
            f"{main} yourself (a grant counts only once committed there, before the change)"
        )
    try:
        sha = gitops.commit_only(layout.root, [layout.human_journal.name], message=message)
    except HarnessError as exc:
        return f"note: {layout.human_journal.name} not committed ({exc}): commit it on {main}"
    return f"committed {layout.human_journal.name} on {main} ({sha[:10]})"


def _write(layout: Layout, title: str, reason: str, now: datetime | None) -> str:
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    heading = f"{moment:%Y-%m-%dT%H:%M:%SZ} {title}"
    body = reason.strip() or "(no reason given)"
    entry = f"{ENTRY_MARK}{heading}\n\n{body}\n"
    prepend_entry(layout.human_journal, entry, lock_path=layout.record_lock)
    return heading
