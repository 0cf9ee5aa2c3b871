"""`harness audit`: every commit of the main branch's history that changed a FROZEN file.

Each is shown with the grant that allowed it: the META_MODE entry of the root's
human_journal.md that was in force when the commit was made (the newest timestamped entry
mentioning META_MODE at or before the commit time, if it grants). The journal is
APPEND-ONLY, so it keeps every grant and revocation. A grant through the environment
variable leaves no trace, and shows as "no grant"; the first commit of the repository
(which creates the FROZEN files) shows as such.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime

from harness.config import Config
from harness.gitops import git_bytes
from harness.layout import Layout
from harness.rules.globs import matches
from harness.rules.meta import grant_at, read_journal

FIRST_COMMIT = "the first commit"


@dataclass(frozen=True)
class AuditEntry:
    commit: str
    time: datetime
    author: str
    subject: str
    paths: tuple[str, ...]  # the FROZEN paths it changed
    grant: str | None  # what allowed it, or None

    def to_json(self) -> dict[str, object]:
        return {
            "commit": self.commit,
            "time": self.time.isoformat(),
            "author": self.author,
            "subject": self.subject,
            "paths": list(self.paths),
            "grant": self.grant,
        }


def audit(layout: Layout, *, config: Config) -> list[AuditEntry]:
    """The commits of the main branch that changed a FROZEN file, newest first."""
    journal = read_journal(layout)
    entries = []
    for sha, parents, time, author, subject, paths in main_history(layout, config=config):
        frozen = tuple(p for p in paths if matches(p, config.rules.frozen))
        if not frozen:
            continue
        if not parents:
            grant: str | None = FIRST_COMMIT
        else:
            entry = grant_at(journal, time)
            grant = f"human_journal.md: ## {entry.heading}" if entry else None
        entries.append(AuditEntry(sha, time, author, subject, frozen, grant))
    return entries


def main_history(
    layout: Layout, *, config: Config
) -> list[tuple[str, list[str], datetime, str, str, list[str]]]:
    """(sha, parents, commit time, author, subject, changed paths) of the main branch."""
    output = git_bytes(
        "log",
        "--format=%x1e%H%x1f%P%x1f%ct%x1f%an%x1f%s",
        "--name-only",
        "--no-renames",
        "--diff-merges=dense-combined",
        "-z",
        config.main_branch,
        "--",
        cwd=layout.root,
    )
    history = []
    for record in output.split(b"\x1e")[1:]:
        header, *names = record.split(b"\0")
        sha, parents, stamp, author, subject = header.decode("utf-8", "replace").split("\x1f")
        paths = [os.fsdecode(name.lstrip(b"\n")) for name in names if name.strip(b"\n")]
        time = datetime.fromtimestamp(int(stamp), UTC)
        history.append((sha, parents.split(), time, author, subject, paths))
    return history
