"""The file rules (docs/architecture.md §2) as one pure function: changes in, violations out.

- FROZEN: any change to the path (edit, delete, rename away or onto, mode, symlink) needs
  META_MODE.
- GLOBAL: committed only on the main branch.
- APPEND-ONLY: the new file is the old header, added text, then the old entries unchanged;
  deleting, truncating or replacing the file is refused. This holds in META_MODE too.
  The record table (results.tsv) is APPEND-ONLY by rows: the old file, then added lines,
  or the rewrite of `harness results upgrade` (harness.rules.appendrows).
- protected main: on the main branch without META_MODE only GLOBAL, APPEND-ONLY and record
  files may change; code reaches main through an `exp/` branch and a reviewed merge.
- the `[tool.harness]` table of the root pyproject.toml is FROZEN too (the rest of the file
  is regular): any change of its values, on any branch, needs META_MODE.

Nothing here touches git or the disk: `harness.rules.guard` collects the changes (and the
contents of APPEND-ONLY files, see `needs_content`) and calls `check`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from harness.config import CONFIG_FILE, Rules, changed_keys, harness_table
from harness.errors import ConfigError
from harness.rules.appendonly import ENTRY_MARK, is_valid_append, split_header
from harness.rules.appendrows import RECORD_TABLES, rows_problem
from harness.rules.globs import matches

ChangeKind = Literal["add", "modify", "delete", "rename", "mode", "symlink", "typechange"]
RuleName = Literal["FROZEN", "GLOBAL", "APPEND-ONLY", "PROTECTED-MAIN"]

META_HINT = "needs META_MODE=1 (a human decision, see program.md)"


@dataclass(frozen=True)
class Change:
    """One path changed by a commit (or by the index against HEAD)."""

    path: str  # the path after the change; for a delete, the path removed
    kind: ChangeKind
    old_path: str | None = None  # where a rename came from
    old_mode: str = ""
    new_mode: str = ""
    old_blob: str = ""
    new_blob: str = ""
    old_text: str | None = None  # contents, given for APPEND-ONLY files (see needs_content)
    new_text: str | None = None

    @property
    def paths(self) -> tuple[str, ...]:
        """Every path the change touches: a rename touches its source and its target."""
        return (self.old_path, self.path) if self.old_path else (self.path,)


@dataclass(frozen=True)
class Violation:
    path: str
    rule: RuleName
    message: str  # names the file, the rule, and what to do instead
    commit: str | None = None  # the commit that made the change (range checks)

    def __str__(self) -> str:
        return f"{self.commit[:10]}: {self.message}" if self.commit else self.message


@dataclass(frozen=True)
class Context:
    """Where the changes are committed: the branch (None: detached HEAD) and META_MODE."""

    rules: Rules
    branch: str | None
    main_branch: str = "main"
    meta: bool = False
    trunk: str | None = None  # the research trunk, protected like main (advance = "trunk")

    @property
    def on_main(self) -> bool:
        return self.branch == self.main_branch

    @property
    def is_protected(self) -> bool:
        """On main or on the trunk: code arrives there only as merges of exp/ branches."""
        return self.on_main or (self.trunk is not None and self.branch == self.trunk)


def needs_content(change: Change, rules: Rules) -> bool:
    """True when checking `change` needs the old and new contents (an APPEND-ONLY edit, or
    any change of pyproject.toml, whose [tool.harness] table is FROZEN)."""
    if CONFIG_FILE in change.paths:
        return True
    return change.kind in ("modify", "mode") and matches(change.path, appended(rules))


def appended(rules: Rules) -> tuple[str, ...]:
    """The globs of every appended file: the APPEND-ONLY journals and the record table."""
    return (*rules.append_only, *RECORD_TABLES)


def check(changes: Iterable[Change], context: Context) -> list[Violation]:
    """Every rule violation of `changes`, in order (a path may break more than one rule)."""
    found: list[Violation] = []
    for change in changes:
        config = check_config(change, context)
        found += check_frozen(change, context)
        found += config
        found += check_global(change, context)
        found += check_append(change, context)
        if not config:  # a config change on main is reported once, as the FROZEN table
            found += check_protected_main(change, context)
    return found


def check_config(change: Change, context: Context) -> list[Violation]:
    """The `[tool.harness]` table of the root pyproject.toml is FROZEN (needs_content)."""
    if context.meta or CONFIG_FILE not in change.paths:
        return []
    existed = change.kind != "add" and (change.old_path or change.path) == CONFIG_FILE
    remains = change.kind != "delete" and change.path == CONFIG_FILE
    keys = config_change(change.old_text if existed else None, change.new_text if remains else None)
    if not keys:
        return []
    message = (
        f"{CONFIG_FILE}: [tool.harness] is FROZEN: changing {', '.join(keys)} {META_HINT}; "
        f"leave the table as it is on {context.main_branch} (the rest of the file is free)"
    )
    return [Violation(CONFIG_FILE, "FROZEN", message)]


def config_keys(change: Change) -> list[str]:
    """The [tool.harness] keys `change` changes (none when it is not pyproject.toml's)."""
    if CONFIG_FILE not in change.paths:
        return []
    existed = change.kind != "add" and (change.old_path or change.path) == CONFIG_FILE
    remains = change.kind != "delete" and change.path == CONFIG_FILE
    return config_change(change.old_text if existed else None, change.new_text if remains else None)


def config_change(old: str | None, new: str | None) -> list[str]:
    """The keys of [tool.harness] that differ between two texts of pyproject.toml
    (None: no file). A text that does not parse, or a table gone, is a change of it all."""
    before, after = table_or_none(old), table_or_none(new)
    if before == after:
        return []
    if before is None or after is None or before is UNREADABLE or after is UNREADABLE:
        return ["[tool.harness]"]
    return changed_keys(before, after)


UNREADABLE: dict[str, object] = {"<unreadable>": True}


def table_or_none(text: str | None) -> dict[str, object] | None:
    if text is None:
        return None
    try:
        return harness_table(text, label=CONFIG_FILE)
    except ConfigError as exc:
        return None if "no [tool.harness] table" in str(exc) else UNREADABLE


FROZEN_ACTIONS: dict[str, str] = {
    "add": "adding it",
    "modify": "editing it",
    "delete": "deleting it",
    "mode": "changing its mode",
    "symlink": "replacing it with a symlink",
    "typechange": "changing its file type",
}


def check_frozen(change: Change, context: Context) -> list[Violation]:
    if context.meta:
        return []
    found = []
    for path in change.paths:
        if not matches(path, context.rules.frozen):
            continue
        if change.kind == "rename":
            action = "renaming it away" if path == change.old_path else "renaming a file onto it"
        else:
            action = FROZEN_ACTIONS[change.kind]
        message = (
            f"{path} is FROZEN: {action} {META_HINT}; leave it as it is on {context.main_branch}"
        )
        found.append(Violation(path, "FROZEN", message))
    return found


def check_global(change: Change, context: Context) -> list[Violation]:
    if context.on_main:
        return []
    where = f"branch {context.branch}" if context.branch else "a detached HEAD"
    return [
        Violation(
            path,
            "GLOBAL",
            f"{path} is GLOBAL: it is committed only on {context.main_branch}, not on {where}; "
            f"unstage it (git restore --staged) and let the harness write it in the main "
            "worktree",
        )
        for path in change.paths
        if matches(path, context.rules.global_)
    ]


def check_append(change: Change, context: Context) -> list[Violation]:
    """The APPEND-ONLY violations of `change`: the journals', then the record table's."""
    return check_append_only(change, context) + check_append_rows(change)


def check_append_rows(change: Change) -> list[Violation]:
    found = []
    for path in change.paths:
        if not matches(path, RECORD_TABLES):
            continue
        problem = append_only_problem(change, path, edit=rows_problem)
        if problem:
            message = (
                f"{path} is APPEND-ONLY: {problem}; restore the old rows byte for byte (new "
                "runs are appended at the end by the harness; only `harness results upgrade` "
                "rewrites the header)"
            )
            found.append(Violation(path, "APPEND-ONLY", message))
    return found


def check_append_only(change: Change, context: Context) -> list[Violation]:
    patterns = context.rules.append_only
    found = []
    for path in change.paths:
        if not matches(path, patterns):
            continue
        problem = append_only_problem(change, path)
        if problem:
            message = (
                f"{path} is APPEND-ONLY: {problem}; restore the old text and add new entries "
                f"on top (below the header, above the first `{ENTRY_MARK.strip()}` entry)"
            )
            found.append(Violation(path, "APPEND-ONLY", message))
    return found


def append_only_problem(
    change: Change, path: str, *, edit: Callable[[str, str], str | None] | None = None
) -> str | None:
    """What breaks the APPEND-ONLY rule for `path` in `change`, or None (`edit` judges an
    edit of the text: the journals' rule by default)."""
    if change.kind == "add" or (change.kind == "rename" and path == change.path):
        return None
    if change.kind == "rename":
        return "renaming it away removes its entries"
    if change.kind == "delete":
        return "deleting it removes its entries"
    if change.kind in ("symlink", "typechange"):
        return "it must stay a regular file"
    if change.old_text is None or change.new_text is None:
        raise ValueError(f"the contents of {path} are needed to check it (see needs_content)")
    return (edit or edit_problem)(change.old_text, change.new_text)


def edit_problem(old: str, new: str) -> str | None:
    """How `new` breaks the APPEND-ONLY rule against `old`, or None when it does not."""
    if is_valid_append(old, new):
        return None
    header, _ = split_header(old)
    if not new.startswith(header):
        return "the change edits the header"
    if len(new) < len(old):
        return "the change removes old text (the file was truncated or an entry deleted)"
    if new.startswith(old):
        return "the change adds text below the old entries"
    return "the change edits an old entry or inserts text between old entries"


def check_protected_main(change: Change, context: Context) -> list[Violation]:
    if not context.is_protected or context.meta:
        return []
    rules = context.rules
    allowed = (*rules.global_, *rules.append_only, *rules.records)
    return [
        Violation(
            path,
            "PROTECTED-MAIN",
            f"{path} cannot change on {context.branch} ({context.branch} is protected): commit "
            "code on an exp/ branch (`harness worktree create SLUG`) and merge it through a "
            "reviewed pull request; other changes on main need META_MODE=1 (a human decision, "
            "see program.md)",
        )
        for path in change.paths
        if not matches(path, allowed) and not matches(path, rules.frozen)
    ]


RULE_FIELDS = {"frozen": "FROZEN", "global_": "GLOBAL", "append_only": "APPEND-ONLY"}


def unmatched_globs(rules: Rules, paths: Iterable[str]) -> list[tuple[str, str]]:
    """(rule, glob) of each rule glob matching none of `paths`: a typo unguards a file."""
    listed = list(paths)
    return [
        (rule, pattern)
        for name, rule in RULE_FIELDS.items()
        for pattern in getattr(rules, name)
        if not any(matches(path, (pattern,)) for path in listed)
    ]
