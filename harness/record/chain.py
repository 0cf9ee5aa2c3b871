"""The chain of results.tsv: each row seals the rows before it.

A row's `chain` value is the first 16 hex digits of sha256(the previous row's chain, a tab,
and the row's own line without its chain field), computed on the bytes as written. The
first chained row builds on the empty string. So editing a row changes its hash, deleting
or inserting one breaks its successor's, and every reader names the first line that does
not hold: the record is untrusted from that line on and those rows never count.

Old files: rows written before the chain existed have no value (an empty field, or no
`chain` column at all in an older header). They are *unsealed*: read and counted as before,
but not tamper-evident. The chain starts at the first row that has a value; an empty value
after it is a break. `harness results upgrade` seals an unsealed file once, when no break
is in it (it never blesses a broken one).

The hash has no key (anything the harness could keep, the agent could read), so a writer who
knows this rule can append rows with valid values: the chain makes editing, deleting and
inserting evident, and the other checks (`harness verify`: every evaluation row has its run
record and log; `submit`: only the confirmation runs it queued) stop appended fakes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

COLUMN = "chain"
DIGITS = 16


def chain_value(previous: bytes, content: bytes) -> bytes:
    """The chain value of a row: `content` is its line without the chain field."""
    return hashlib.sha256(previous + b"\t" + content).hexdigest()[:DIGITS].encode()


def split_chain(line: bytes, index: int) -> tuple[bytes, bytes]:
    """(the line without its chain field, the chain field) for the field at `index`."""
    if line.endswith(b"\r"):
        line = line[:-1]
    if line.count(b"\t") == index:  # the usual layout: chain is the last column
        content, _, value = line.rpartition(b"\t")
        return content, value
    fields = line.split(b"\t")
    value = fields.pop(index)
    return b"\t".join(fields), value


def seal_lines(previous: bytes, lines: list[bytes], index: int) -> list[bytes]:
    """`lines` (each without its newline, chain field empty) with their chain values set."""
    sealed = []
    for line in lines:
        content, _ = split_chain(line, index)
        previous = chain_value(previous, content)
        fields = line.split(b"\t")
        fields[index] = previous
        sealed.append(b"\t".join(fields))
    return sealed


def last_chain(data: bytes, index: int) -> bytes:
    """The chain value of the file's last row (b"" when it has none, or no rows)."""
    end = len(data.rstrip(b"\n"))
    start = data.rfind(b"\n", 0, end) + 1
    if start == 0:  # only the header
        return b""
    line = data[start:end]
    if line.count(b"\t") < index:
        return b""
    return split_chain(line, index)[1]


@dataclass(frozen=True)
class ChainCheck:
    """What the chain of one file says."""

    rows: int  # every row of the file
    trusted: int  # the rows before the first break (all of them when unbroken)
    unsealed: int  # rows without a chain value before the chain starts
    broken_line: int | None = None  # the file line (1 = header) where it breaks
    how: str = ""  # what the break looks like (an edit or deletion, an insertion, ...)

    @property
    def is_broken(self) -> bool:
        return self.broken_line is not None

    def warning(self, name: str = "results.tsv") -> str | None:
        """One line for status, next and the dashboard; None when nothing is wrong."""
        if self.broken_line is not None:
            ignored = self.rows - self.trusted
            return (
                f"{name} line {self.broken_line} breaks the record's chain ({self.how}): the "
                f"record is untrusted from that line on, so its {ignored} row(s) do not count; "
                f"restore the file from git (`git diff -- {name}`) and see `harness verify`"
            )
        if self.unsealed:
            return (
                f"{name} has {self.unsealed} row(s) from before the chain (not "
                "tamper-evident): seal them once with `harness results upgrade`"
            )
        return None


def check_chain(data: bytes, index: int | None) -> ChainCheck:
    """Check the chain of a results.tsv's bytes, whose chain column is at `index` (None:
    a header without one). Lines are assumed whole (the reader checked their fields)."""
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    rows = lines[1:]
    if index is None:
        return ChainCheck(rows=len(rows), trusted=len(rows), unsealed=len(rows))
    if index != lines[0].count(b"\t") or b"\r" in data:  # not the usual layout: split
        rows = [b"\t".join(split_chain(line, index)) for line in rows]
    # the loop is chain_value inlined over the raw lines: 100,000 rows are read fast
    sha256, previous, unsealed = hashlib.sha256, b"", None
    for number, line in enumerate(rows):
        cut = line.rfind(b"\t")
        value = line[cut + 1 :]
        if unsealed is None:
            if not value:
                continue  # from before the chain: it starts at the first row with a value
            unsealed = number
        if sha256(previous + b"\t" + line[:cut]).hexdigest()[:DIGITS].encode() != value:
            how = _how(previous, rows, number)
            return ChainCheck(len(rows), number, unsealed, number + 2, how)
        previous = value
    return ChainCheck(len(rows), len(rows), len(rows) if unsealed is None else unsealed)


def _how(previous: bytes, rows: list[bytes], number: int) -> str:
    """What the break at row `number` (0-based among the rows) looks like, from the next row:
    one that builds on the row before shows an insertion; an edited row and a deleted one
    before it look alike (the row's own value is kept, its predecessor's is not)."""
    if not rows[number].rpartition(b"\t")[2]:
        return "a row without a chain value after the chain started: written by hand"
    if number + 1 < len(rows):
        content, _, value = rows[number + 1].rpartition(b"\t")
        if value == chain_value(previous, content):
            return "a row inserted"
    return "the row was edited, or a row before it deleted"
