"""The identity of the code a run evaluated (docs/architecture.md §4).

A run's `code` is the git tree id its commit would have without the record paths (the
GLOBAL files and the record folders of `[tool.harness.rules]`). A commit that changes only
the record, a `--no-ff` merge that brings nothing else, and a rebase that ends at the same
files all keep the code, and so keep their runs. In a repository without record paths the
code is exactly `HEAD^{tree}`, so `git diff CODE_A CODE_B` works once the trees are written
(`git mktree` would write them; the harness only computes the id and writes nothing).

It is cheap: the top level is listed with one `git ls-tree`, a folder the record covers
whole is dropped by name, a folder no record glob reaches keeps its tree id as it is, and
only a folder a glob reaches into is listed in turn. With the default rules that is one
git call, whatever the size of the repository; a glob that reaches into every folder
(`**/*.tsv`) costs one recursive listing instead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from harness import gitops
from harness.config import Config
from harness.errors import GitError
from harness.rules.globs import matches

if TYPE_CHECKING:
    import polars as pl

DIRTY = "-dirty"  # the suffix of the code of a worktree with uncommitted code changes
WILDCARDS = "*?["

Entry = tuple[bytes, bytes, bytes, bytes]  # mode, type, object id (hex), name


def record_paths(config: Config) -> tuple[str, ...]:
    """The globs whose files are record, not code."""
    return config.rules.global_ + config.rules.records


def code_of(cwd: Path, revision: str, *, record: tuple[str, ...]) -> str | None:
    """The code of `revision` (a commit or a tree), or None when it names none here."""
    try:
        if any(_literal(pattern) == "" for pattern in record):
            tree = _filtered_listing(cwd, revision, record)  # a glob reaches everywhere
        else:
            tree = _filtered_tree(cwd, revision, "", record)
    except GitError:
        return None
    return tree or _empty_tree_id(len(_object_id_of(cwd, revision) or "0" * 40))


def worktree_code(worktree: Path, config: Config, *, dirty: bool) -> str | None:
    """The code a run in `worktree` evaluates: its HEAD's code, marked when dirty."""
    code = code_of(worktree, "HEAD", record=record_paths(config))
    return None if code is None else code + (DIRTY if dirty else "")


def is_clean_code(code: str | None) -> bool:
    return bool(code) and not str(code).endswith(DIRTY)


def fill_codes(frame: pl.DataFrame, root: Path, config: Config) -> pl.DataFrame:
    """`frame` with every empty `code` computed from its row's commit where it still exists
    (older rows were written before the column); rows whose commit is gone stay empty."""
    import polars as pl

    missing = frame.filter(pl.col("code").is_null() & pl.col("commit").is_not_null())
    if missing.is_empty():
        return frame
    record = record_paths(config)
    commits = [commit for commit in missing.get_column("commit").unique().to_list() if commit]
    try:
        present = gitops.existing_commits(commits, cwd=root)  # one call, not one per commit
    except GitError:
        present = set()
    known: dict[str, str | None] = {commit: None for commit in commits}
    for commit in present:
        known[commit] = code_of(root, commit, record=record)
    computed = pl.col("commit").replace_strict(known, default=None, return_dtype=pl.String)
    marked = pl.when(pl.col("dirty").fill_null(False)).then(computed + DIRTY).otherwise(computed)
    return frame.with_columns(pl.coalesce(pl.col("code"), marked).alias("code"))


# -- the tree without the record --------------------------------------------------------------


def _filtered_tree(cwd: Path, treeish: str, prefix: str, record: tuple[str, ...]) -> str | None:
    """The tree id of `treeish` without the record paths below `prefix`; None when empty."""
    kept: list[Entry] = []
    for mode, kind, oid, name in _entries(cwd, treeish):
        path = prefix + name.decode("utf-8", "surrogateescape")
        if kind != b"tree":
            if not matches(path, record):
                kept.append((mode, kind, oid, name))
            continue
        if _covers(path, record):
            continue
        if _reaches_into(path, record):
            sub = _filtered_tree(cwd, oid.decode(), path + "/", record)
            if sub is None:
                continue  # git keeps no empty folders
            oid = sub.encode()
        kept.append((mode, kind, oid, name))
    return _tree_id(kept) if kept else None


def _entries(cwd: Path, treeish: str, *, recursive: bool = False) -> list[Entry]:
    flags = ("-r", "-t") if recursive else ()
    listed = gitops.git_bytes("ls-tree", "-z", "--full-tree", *flags, treeish, cwd=cwd)
    entries = []
    for record in listed.split(b"\0"):
        if record:
            info, _, name = record.partition(b"\t")
            mode, kind, oid = info.split(b" ")
            entries.append((mode, kind, oid, name))
    return entries


def _filtered_listing(cwd: Path, treeish: str, record: tuple[str, ...]) -> str | None:
    """`_filtered_tree` from one recursive listing: for globs that reach into every folder."""
    children: dict[bytes, list[Entry]] = {}
    for mode, kind, oid, path in _entries(cwd, treeish, recursive=True):
        folder, _, name = path.rpartition(b"/")
        children.setdefault(folder, []).append((mode, kind, oid, name))

    def build(folder: bytes) -> str | None:
        kept: list[Entry] = []
        for mode, kind, oid, name in children.get(folder, []):
            raw = folder + b"/" + name if folder else name
            path = raw.decode("utf-8", "surrogateescape")
            if kind != b"tree":
                if not matches(path, record):
                    kept.append((mode, kind, oid, name))
                continue
            if _covers(path, record):
                continue
            if _reaches_into(path, record):
                sub = build(raw)
                if sub is None:
                    continue
                oid = sub.encode()
            kept.append((mode, kind, oid, name))
        return _tree_id(kept) if kept else None

    return build(b"")


def _covers(folder: str, record: Iterable[str]) -> bool:
    """True when a glob takes everything below `folder` (`0_docs/**` covers `0_docs`)."""
    for pattern in record:
        if pattern == "**":
            return True
        if pattern.endswith("/**") and matches(folder, (pattern[:-3],)):
            return True
    return False


def _reaches_into(folder: str, record: Iterable[str]) -> bool:
    """True when a glob may match some path below `folder` (erring towards yes)."""
    below = folder + "/"
    for pattern in record:
        literal = _literal(pattern)
        if literal.startswith(below):
            return True
        if len(literal) < len(pattern) and below.startswith(literal):
            return True
    return False


def _literal(pattern: str) -> str:
    """The part of a glob before its first wildcard."""
    cut = min((pattern.find(c) for c in WILDCARDS if c in pattern), default=len(pattern))
    return pattern[:cut]


def _tree_id(entries: list[Entry]) -> str:
    """The id git gives a tree of these entries (in git's order, as ls-tree lists them)."""
    body = b"".join(
        mode.lstrip(b"0") + b" " + name + b"\0" + bytes.fromhex(oid.decode())
        for mode, _, oid, name in entries
    )
    digest = hashlib.sha256 if len(entries[0][2]) == 64 else hashlib.sha1
    return digest(b"tree %d\0" % len(body) + body).hexdigest()


def _empty_tree_id(width: int) -> str:
    digest = hashlib.sha256 if width == 64 else hashlib.sha1
    return digest(b"tree 0\0").hexdigest()


def _object_id_of(cwd: Path, revision: str) -> str | None:
    return gitops.resolve_commit(cwd, revision)
