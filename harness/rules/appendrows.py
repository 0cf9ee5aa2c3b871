"""The record table (results.tsv): rows are only ever appended at the end.

docs/architecture.md §2: a valid new file is the old file and added lines (`O + X`, at a
line boundary). The one other valid change is `harness results upgrade`: the header
extended by new columns at its end, every old row padded with empty fields and sealed (its
`chain` field set), every other field of every row unchanged, in the same order; rows
may follow it as usual. Deciding either costs a prefix test; the upgrade, rare, one pass
over the fields. A table whose old header is not the harness's (its first column is not
`run_id`: another tool's layout), or that has no rows yet, is not guarded: nothing on
record is lost when `harness results import` adopts it or a file replaces it.

This module knows the two names it needs of the schema (harness.record.schema sits above
the rules; tests/test_guard.py holds the names equal to it).
"""

from __future__ import annotations

RECORD_TABLES = ("results.tsv",)  # the files this rule guards
FIRST_COLUMN = "run_id"  # harness.record.schema: the first column of every harness header
CHAIN_COLUMN = "chain"  # harness.record.chain.COLUMN: the one field an upgrade may set


def rows_problem(old: str, new: str) -> str | None:
    """How `new` breaks the rule against `old` (naming the first changed line), or None."""
    if not old.startswith(FIRST_COLUMN + "\t") or is_appended(old, new):
        return None
    before, after = lines_of(old), lines_of(new)
    if len(before) == 1:
        return None  # a table without rows loses nothing on record, whatever replaces it
    bad = upgrade_break(before, after)
    if bad is None:
        return None
    if bad > 0 and after[0] != before[0]:  # a header extended, rows not kept
        return (
            f"line {bad + 1} is not its old row padded and sealed, as `harness results "
            "upgrade` rewrites a row (no other field may change)"
        )
    return first_change(before, after)


def is_appended(old: str, new: str) -> bool:
    """True when `new` is `old` and then whole lines (the last old line kept whole)."""
    return new.startswith(old) and (old.endswith("\n") or new[len(old) : len(old) + 1] in "\n")


def upgrade_break(before: list[str], after: list[str]) -> int | None:
    """None when `after` is `before` as `harness results upgrade` rewrites it, then any
    rows; else the index of the first line that is not (0: the header is no extension)."""
    old_header, new_header = before[0].split("\t"), after[0].split("\t")
    if new_header[: len(old_header)] != old_header:
        return 0
    chain = new_header.index(CHAIN_COLUMN) if CHAIN_COLUMN in new_header else None
    padding = [""] * (len(new_header) - len(old_header))
    for number, old_line in enumerate(before[1:], start=1):
        if number >= len(after):
            return number
        fields, kept = after[number].split("\t"), old_line.split("\t") + padding
        if chain is not None and len(fields) == len(kept) and fields[chain]:
            kept[chain] = fields[chain]  # an upgrade seals every row
        if fields != kept:
            return number
    return None


def lines_of(text: str) -> list[str]:
    """The lines of a table, without line ends (a CR before the newline dropped)."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines] or [""]


def first_change(before: list[str], after: list[str]) -> str:
    """The first line where `after` stops keeping `before`, and what happened there."""
    number = next(
        (i for i, (old, new) in enumerate(zip(before, after, strict=False)) if old != new),
        min(len(before), len(after)),
    )
    line = number + 1
    if number == 0:
        return "line 1, the header, changed (only `harness results upgrade` extends it)"
    if number >= len(before):
        return f"line {number}'s line end changed (the text of its rows is kept)"
    if number >= len(after):
        return f"{len(before) - number} row(s) from line {line} on were deleted"
    kept_below, came_from_below = before[number] in after[number + 1 :], after[number] in before
    if kept_below and came_from_below:
        return f"line {line} was moved (rows reordered)"
    if kept_below:
        return f"a row was inserted at line {line}"
    if came_from_below:
        return f"line {line} was deleted"
    return f"line {line} was edited"
