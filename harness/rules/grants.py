"""META_MODE grants as committed history has them (docs/architecture.md §2).

The range check and the audit never take a grant from the environment or from a file's
dates: a grant is an entry of `human_journal.md` written by a non-merge commit on the
first-parent line of main (what `harness meta on` commits in the root), so an entry
brought in by a merged branch grants nothing. When `[tool.harness] humans` lists author
identities, only their commits count, and where commit signing is configured the commit
must pass `git verify-commit`. Walking that line in order gives the grant in force after
each of its commits; a change counts as granted only when the grant in force where it
entered the line was committed before it (the grant commit is its ancestor), whatever
the dates say.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness import gitops
from harness.errors import GitError
from harness.rules.meta import journal_entries

JOURNAL = "human_journal.md"
NULL_BLOB = "0" * 40


@dataclass(frozen=True)
class Grant:
    commit: str  # the commit that wrote the entry
    heading: str  # the entry's `## ` line, without the mark
    author: str  # "Name <email>"

    def describe(self) -> str:
        return f"{JOURNAL}: ## {self.heading} (commit {self.commit[:10]})"


@dataclass(frozen=True)
class GrantLine:
    """The grant in force after each commit of a first-parent line (None: no grant)."""

    in_force: dict[str, Grant | None]

    def at(self, commit: str) -> Grant | None:
        return self.in_force.get(commit)


def grant_line(cwd: Path, tip: str, *, humans: tuple[str, ...] = ()) -> GrantLine:
    """Walk the first-parent line ending at `tip`, oldest first, and follow its grants."""
    order = gitops.git("rev-list", "--first-parent", "--reverse", tip, cwd=cwd).split()
    written = journal_commits(cwd, tip)
    signing = is_signing_configured(cwd)
    state: Grant | None = None
    in_force: dict[str, Grant | None] = {}
    for sha in order:
        if sha in written:
            author, entries = written[sha]
            if counts(sha, author, humans=humans, signing=signing, cwd=cwd):
                for heading, grants in entries:  # newest first: the first one decides
                    state = Grant(sha, heading, author) if grants else None
                    break
        in_force[sha] = state
    return GrantLine(in_force)


def journal_commits(cwd: Path, tip: str) -> dict[str, tuple[str, list[tuple[str, bool]]]]:
    """{commit: (author, the META entries it added, newest first)} of the non-merge commits
    of the first-parent line that changed the journal."""
    output = gitops.git_bytes(
        "log",
        "--first-parent",
        "--no-renames",
        "--format=%x1e%H%x1f%P%x1f%an <%ae>",
        "--raw",
        "--no-abbrev",
        "-z",
        tip,
        "--",
        JOURNAL,
        cwd=cwd,
    )
    changes = []
    for record in output.split(b"\x1e")[1:]:
        header, _, rest = record.partition(b"\0")
        sha, parents, author = header.decode("utf-8", "replace").split("\x1f")
        fields = rest.lstrip(b"\n").split(b"\0")
        if len(parents.split()) > 1 or not fields[0].startswith(b":"):
            continue  # a merge: what a merged branch wrote to the journal grants nothing
        old_blob, new_blob = fields[0].decode().split()[2:4]
        changes.append((sha, author, old_blob, new_blob))
    texts = read_texts({b for _, _, o, n in changes for b in (o, n)}, cwd=cwd)
    written = {}
    for sha, author, old_blob, new_blob in changes:
        old = {entry.text for entry in journal_entries(texts.get(old_blob, ""))}
        added = [e for e in journal_entries(texts.get(new_blob, "")) if e.text not in old]
        meta = [(e.heading, e.grants) for e in added if e.mentions_meta]
        if meta:
            written[sha] = (author, meta)
    return written


def read_texts(blobs: set[str], *, cwd: Path) -> dict[str, str]:
    """{blob: text} in one `git cat-file --batch` (the null blob reads as no text)."""
    return gitops.read_blobs(blobs - {NULL_BLOB}, cwd=cwd)


def counts(sha: str, author: str, *, humans: tuple[str, ...], signing: bool, cwd: Path) -> bool:
    """Whether a grant written by `sha` counts: by a listed human, signed where required."""
    if humans and not is_human(author, humans):
        return False
    if signing:
        try:
            gitops.git("verify-commit", sha, cwd=cwd)
        except GitError:
            return False
    return True


def is_human(author: str, humans: tuple[str, ...]) -> bool:
    """`author` ("Name <email>") is listed as "Name <email>" or as the bare email."""
    email = author.rpartition("<")[2].rstrip(">").strip()
    return any(h.strip() in (author, email) for h in humans)


def is_signing_configured(cwd: Path) -> bool:
    """Grant commits must verify when git is set up to check signatures here."""
    pattern = r"^(gpg\.ssh\.allowedsignersfile|user\.signingkey|commit\.gpgsign)$"
    listed = gitops.git("config", "--get-regexp", pattern, cwd=cwd, check=False).splitlines()
    values = dict(line.partition(" ")[::2] for line in listed)
    return any(
        v.strip() and (k != "commit.gpgsign" or v.strip() == "true") for k, v in values.items()
    )


def is_ancestor(ancestor: str, commit: str, *, cwd: Path) -> bool:
    """True when `ancestor` is `commit` or one of its ancestors."""
    return gitops.is_merged(cwd, ancestor, into=commit)


def descendants(grant: str, head: str, *, cwd: Path) -> set[str]:
    """The commits reachable from `head` that have `grant` as an ancestor (or are it)."""
    listed = gitops.git("rev-list", "--ancestry-path", f"{grant}..{head}", cwd=cwd)
    return set(listed.split()) | {grant}
