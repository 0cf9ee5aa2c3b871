"""The guard: collect the changes of the index or of a range of commits, check the rules.

One function (`harness.rules.policy.check`), four callers: the pre-commit hook and
`harness guard --staged` (the index against HEAD), the pre-merge-commit hook (`harness
guard --merge`: the merge itself, and into main or the trunk every commit it brings), and
`harness guard --range BASE..HEAD` (every commit of a pull request, so a commit made with
`--no-verify` is still caught).

It runs on every commit, so it stays cheap: one `git diff-index` for the paths, and the
contents only of APPEND-ONLY files and pyproject.toml, read in one `git cat-file --batch`.
The configuration and the META_MODE grant come from a place the change cannot touch: the
configuration from main's commit (or BASE's, for a range); the grant from committed
history (`harness.rules.grants`), so a pull request cannot loosen its own check and
`META_MODE=1` in an agent's environment passes no range check. The hooks alone also take
`META_MODE=1` from the environment: they are the human's local tool, and what they let
through is checked again by the range check and the audit. History is read for a grant
only when a change needs one.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from harness import gitops
from harness.config import CONFIG_FILE, Config, harness_table, load_config, parse_config
from harness.errors import ConfigError, GitError, UsageError
from harness.layout import find_layout
from harness.rules import policy as rules
from harness.rules.grants import Grant, descendants, grant_line, is_ancestor
from harness.rules.policy import Change, Context, Violation

RAW_KINDS: dict[str, rules.ChangeKind] = {
    "A": "add",
    "C": "add",
    "D": "delete",
    "M": "modify",
    "R": "rename",
    "T": "typechange",
    "U": "modify",
}
SYMLINK_MODE = "120000"
NULL_BLOB = "0" * 40  # the side of an addition or a deletion that has no file
DIFF_ARGS = ("--raw", "-z", "-M", "--no-abbrev")


@dataclass(frozen=True)
class GuardReport:
    violations: list[Violation]
    commits: int  # commits checked (1 for the index)
    changes: int  # changed paths checked
    branch: str | None
    meta: bool

    @property
    def ok(self) -> bool:
        return not self.violations

    def to_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "commits": self.commits,
            "changes": self.changes,
            "branch": self.branch,
            "meta_mode": self.meta,
            "violations": [
                {"commit": v.commit, "path": v.path, "rule": v.rule, "message": v.message}
                for v in self.violations
            ],
        }


def trunk_of(config: Config) -> str | None:
    """The trunk the guard protects: only while the configuration advances one."""
    return config.trunk if config.advance == "trunk" else None


def parse_raw(output: bytes) -> list[Change]:
    """Changes from `git diff-index/diff-tree --raw -z` output."""
    fields = output.split(b"\0")
    changes, i = [], 0
    while i < len(fields) and fields[i].startswith(b":"):
        old_mode, new_mode, old_blob, new_blob, status = fields[i][1:].decode().split()
        letter = status[0]
        if letter in "RC":
            old_path, path, i = os.fsdecode(fields[i + 1]), os.fsdecode(fields[i + 2]), i + 3
        else:
            old_path, path, i = None, os.fsdecode(fields[i + 1]), i + 2
        change = Change(
            path=path,
            kind=classify(letter, old_mode, new_mode, old_blob, new_blob),
            old_path=old_path if letter == "R" else None,
            old_mode=old_mode,
            new_mode=new_mode,
            old_blob=old_blob,
            new_blob=new_blob,
        )
        changes.append(change)
    return changes


def classify(letter: str, old_mode: str, new_mode: str, old: str, new: str) -> rules.ChangeKind:
    kind = RAW_KINDS.get(letter, "modify")
    if kind in ("add", "typechange") and new_mode == SYMLINK_MODE:
        return "symlink"
    if kind == "modify" and old == new and old_mode != new_mode:
        return "mode"
    return kind


def load_contents(changes: list[Change], config: Config, *, cwd: Path) -> list[Change]:
    """`changes` with old and new texts filled in where the rules need them."""
    wanted = [c for c in changes if rules.needs_content(c, config.rules)]
    if not wanted:
        return changes
    blobs = {b for c in wanted for b in (c.old_blob, c.new_blob)} - {NULL_BLOB}
    texts = gitops.read_blobs(blobs, cwd=cwd)
    return [
        replace(c, old_text=texts.get(c.old_blob), new_text=texts.get(c.new_blob))
        if c in wanted
        else c
        for c in changes
    ]


def check_staged(
    start: Path | None = None, *, environ: Mapping[str, str] | None = None
) -> GuardReport:
    """Check what is staged in the worktree containing `start` (what both hooks run).

    During a merge (MERGE_HEAD, or in the pre-merge-commit hook the GITHEAD_<sha> variables
    git sets) the index is checked for what the merge itself decided, and a merge into main
    or the trunk also has every commit it brings checked (`brought_in`).
    """
    layout = find_layout(start)
    config = load_config(layout.root)
    cwd = layout.worktree
    environ = os.environ if environ is None else environ
    branch, merging = head_state(cwd)
    merging = merging or merge_heads_of(environ)
    changes = parse_raw(index_diff(cwd))
    for merge_head in merging:
        others = changed_paths(["diff-index", "--cached", merge_head], cwd=cwd)
        changes = [c for c in changes if others.intersection(c.paths)]
    changes = load_contents(changes, config, cwd=cwd)
    meta = environ.get("META_MODE", "").strip() == "1"
    context = Context(config.rules, branch, config.main_branch, meta, trunk_of(config))

    def violations_of(context: Context) -> tuple[list[Violation], int, int]:
        found = rules.check(changes, context)
        if not (merging and context.is_protected):
            return found, 1, len(changes)
        more, brought, counted = brought_in(merging, config, meta=context.meta, cwd=cwd)
        return found + more, 1 + brought, len(changes) + counted

    violations, commits, counted = violations_of(context)
    if violations and not meta and is_granted(cwd, config):  # read history only when needed
        meta = True
        violations, commits, counted = violations_of(replace(context, meta=True))
    return GuardReport(violations, commits, counted, branch, meta)


def brought_in(
    merging: list[str], config: Config, *, meta: bool, cwd: Path
) -> tuple[list[Violation], int, int]:
    """(violations, commits, changes) of every commit a merge into main or the trunk brings:
    its FROZEN (the [tool.harness] table included) and APPEND-ONLY violations, so a plain
    local `git merge` is no way around the rules. (Where a commit was made, which the GLOBAL
    rule is about, a merge cannot tell: a pulled main brings record commits.)"""
    context = Context(config.rules, None, config.main_branch, meta, trunk_of(config))
    violations, commits, changes = [], 0, 0
    for merge_head in merging:
        listed = gitops.git("rev-list", "--reverse", "--parents", f"HEAD..{merge_head}", cwd=cwd)
        per_commit = [commit_changes(line.split(), cwd=cwd) for line in listed.splitlines()]
        everything = load_contents([c for _, cs in per_commit for c in cs], config, cwd=cwd)
        found = check_commits(per_commit, everything, lambda _sha: context)
        violations += [v for v in found if v.rule in BROUGHT_RULES]
        commits, changes = commits + len(per_commit), changes + len(everything)
    return violations, commits, changes


BROUGHT_RULES = ("FROZEN", "APPEND-ONLY")


def is_granted(cwd: Path, config: Config) -> bool:
    """Whether a grant committed on main (see harness.rules.grants) covers a commit made on
    top of HEAD: in force at main's head, and written by an ancestor of HEAD."""
    main = gitops.resolve_commit(cwd, f"refs/heads/{config.main_branch}")
    head = gitops.resolve_commit(cwd, "HEAD")
    if main is None or head is None:
        return False
    grant = grant_line(cwd, main, humans=config.humans).at(main)
    return grant is not None and is_ancestor(grant.commit, head, cwd=cwd)


def check_commits(
    per_commit: list[tuple[str, list[Change]]],
    everything: list[Change],
    context_of: Callable[[str], Context],
) -> list[Violation]:
    """The violations of each commit (its changes a slice of `everything`, in order)."""
    violations, position = [], 0
    for sha, changes in per_commit:
        filled = everything[position : position + len(changes)]
        position += len(changes)
        violations += [replace(v, commit=sha) for v in rules.check(filled, context_of(sha))]
    return violations


def merge_heads_of(environ: Mapping[str, str]) -> list[str]:
    """The commits being merged, as git names them to the pre-merge-commit hook (it runs
    before MERGE_HEAD is written): one `GITHEAD_<sha>` variable per merged head."""
    heads = [name.removeprefix("GITHEAD_") for name in environ if name.startswith("GITHEAD_")]
    return sorted(h for h in heads if len(h) in (40, 64) and all(c in HEX for c in h))


HEX = frozenset("0123456789abcdef")


def index_diff(cwd: Path) -> bytes:
    """Raw diff of the index against HEAD (against the empty tree before the first commit)."""
    try:
        return gitops.git_bytes("diff-index", "--cached", *DIFF_ARGS, "HEAD", cwd=cwd)
    except GitError:
        if gitops.has_commits(cwd):
            raise
    empty = gitops.git("hash-object", "-t", "tree", "--stdin", cwd=cwd, input="").strip()
    return gitops.git_bytes("diff-index", "--cached", *DIFF_ARGS, empty, cwd=cwd)


def head_state(cwd: Path) -> tuple[str | None, list[str]]:
    """(the checked-out branch or None when detached, the commits of a merge in progress)."""
    args = ("rev-parse", "--path-format=absolute", "--git-path", "MERGE_HEAD")
    out = gitops.git(*args, "--symbolic-full-name", "HEAD", cwd=cwd, check=False).splitlines()
    merge_head = Path(out[0]) if out else None
    merging = merge_head.read_text().split() if merge_head and merge_head.exists() else []
    if len(out) == 2 and out[1].startswith("refs/heads/"):
        return out[1].removeprefix("refs/heads/"), merging
    return gitops.current_branch(cwd), merging  # detached, or no commit yet


def changed_paths(args: list[str], *, cwd: Path) -> set[str]:
    """The paths a `git diff-index`/`diff-tree` invocation reports (no rename pairing)."""
    output = gitops.git_bytes(
        *args[:1], "-r", "--name-only", "-z", "--no-renames", *args[1:], cwd=cwd
    )
    return {os.fsdecode(name) for name in output.split(b"\0") if name}


def check_range(spec: str, *, start: Path | None = None, branch: str | None = None) -> GuardReport:
    """Check every commit of `BASE..HEAD` with the rules of BASE and the grant in force there.

    `branch` is the branch the commits are on; by default the branch HEAD names (`main..exp/x`
    means exp/x; `HEAD` the checked-out branch). Commits on no branch count as not on main.
    The grant is the one committed history has in force at BASE (never the environment),
    and it covers only the commits that descend from it.
    """
    base, head = parse_range(spec)
    cwd = find_layout(start).worktree
    base_sha, head_sha = resolve(base, cwd=cwd), resolve(head, cwd=cwd)
    config = config_at(base_sha, cwd=cwd, label=base)
    grant: Grant | None = grant_line(cwd, base_sha, humans=config.humans).at(base_sha)
    granted = descendants(grant.commit, head_sha, cwd=cwd) if grant else set()
    meta = grant is not None
    if branch is None:
        branch = branch_named(head, cwd=cwd)
    listed = gitops.git("rev-list", "--reverse", "--parents", f"{base_sha}..{head_sha}", cwd=cwd)
    per_commit = [commit_changes(line.split(), cwd=cwd) for line in listed.splitlines()]
    everything = load_contents([c for _, changes in per_commit for c in changes], config, cwd=cwd)
    context = Context(config.rules, branch, config.main_branch, meta, trunk_of(config))
    merged_in = merged_commits(base_sha, head_sha, cwd=cwd) if context.is_protected else set()

    def context_of(sha: str) -> Context:
        here = replace(context, branch=None) if sha in merged_in else context
        return replace(here, meta=sha in granted)

    violations = check_commits(per_commit, everything, context_of)
    return GuardReport(violations, len(per_commit), len(everything), branch, meta)


def merged_commits(base: str, head: str, *, cwd: Path) -> set[str]:
    """Commits of `base..head` that came in through merges (not on head's first parents):
    on a protected branch they were made on exp/ branches, and are checked as such."""
    every = gitops.git("rev-list", f"{base}..{head}", cwd=cwd).split()
    first = gitops.git("rev-list", "--first-parent", f"{base}..{head}", cwd=cwd).split()
    return set(every) - set(first)


def branch_named(revision: str, *, cwd: Path) -> str | None:
    """The branch a revision names (`exp/x`, `refs/heads/exp/x`, `HEAD`), else None."""
    out = gitops.git("rev-parse", "--symbolic-full-name", revision, cwd=cwd, check=False)
    name = out.strip()
    return name.removeprefix("refs/heads/") if name.startswith("refs/heads/") else None


def parse_range(spec: str) -> tuple[str, str]:
    base, dots, head = spec.partition("..")
    if not dots or not base or not head or head.startswith("."):
        raise UsageError(f"--range wants BASE..HEAD (two revisions, two dots), got {spec!r}")
    return base, head


def resolve(revision: str, *, cwd: Path) -> str:
    out = gitops.git(
        "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}", cwd=cwd, check=False
    )
    if not out.strip():
        raise UsageError(
            f"{revision!r} is not a commit here: fetch it, or name an existing revision"
        )
    return out.strip()


def show_file(commit: str, path: str, *, cwd: Path) -> str | None:
    """The text of `path` in `commit`, or None when the commit has no such file."""
    try:
        return gitops.git_bytes("show", f"{commit}:{path}", cwd=cwd).decode(
            "utf-8", "surrogateescape"
        )
    except GitError:
        return None


def config_at(commit: str, *, cwd: Path, label: str) -> Config:
    """`[tool.harness]` as the pyproject.toml of `commit` has it."""
    text = show_file(commit, CONFIG_FILE, cwd=cwd)
    if text is None:
        raise ConfigError(
            f"{label} has no pyproject.toml: the range check reads [tool.harness] from BASE"
        )
    return parse_config(harness_table(text, label=f"pyproject.toml of {label}"))


def commit_changes(line: list[str], *, cwd: Path) -> tuple[str, list[Change]]:
    """(sha, changes) of one commit from a `rev-list --parents` line: sha, then parents.

    A merge commit's changes are the paths that differ from every parent (what the merge
    itself decided); what came from a parent was checked in that parent's own commit.
    """
    sha, parents = line[0], line[1:]
    tree_args = ["diff-tree", "--no-commit-id", "-r", *DIFF_ARGS]
    if not parents:
        return sha, parse_raw(gitops.git_bytes(*tree_args, "--root", sha, cwd=cwd))
    changes = parse_raw(gitops.git_bytes(*tree_args, parents[0], sha, cwd=cwd))
    for parent in parents[1:]:
        others = changed_paths(["diff-tree", parent, sha], cwd=cwd)
        changes = [c for c in changes if others.intersection(c.paths)]
    return sha, changes
