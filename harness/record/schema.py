"""The columns of results.tsv, declared once.

Order matters: it is the order of the header line and of every row. A new column is added
at the end, so every older header is a prefix of today's: such a file is read with the
missing columns empty, and rows are appended to it in its own layout (the newer columns
are then not kept) until `harness results upgrade` rewrites its header.
"""

from __future__ import annotations

# name -> polars dtype name; every value is written as text, empty for "no value"
RESULTS_COLUMNS: dict[str, str] = {
    "run_id": "str",
    "timestamp": "str",  # UTC, ISO 8601
    "idea": "str",  # slug, "baseline" on the main branch
    "branch": "str",
    "commit": "str",
    "dirty": "bool",
    "seed": "int",
    "metric": "str",
    "value": "float",
    "status": "str",  # ok / crash / timeout / killed / lost / confirm
    "duration_s": "float",
    "question": "str",
    "hypothesis": "str",
    "expected": "str",
    "queue_task": "str",
    "host": "str",
    "frozen_sha": "str",
    "integrity": "str",  # ok / modified
    "extra": "str",  # JSON object of every other metric
    "description": "str",
    # added after the first release
    "code": "str",  # the evaluated code: a hash of the commit's tree without the record paths
    "task_token": "str",  # the harness's own token of the queue task (survives id reuse)
    "agent": "str",  # who ran it: HARNESS_AGENT, else the user
    "chain": "str",  # hash of the previous row's chain and this row's content
}
FIRST_COLUMNS = tuple(RESULTS_COLUMNS)[:20]  # the header of the first release

RUN_STATUSES = ("ok", "crash", "timeout", "killed", "lost", "confirm")


def header_line(columns: tuple[str, ...] | None = None) -> str:
    return "\t".join(columns or RESULTS_COLUMNS) + "\n"


def known_header(first_line: str) -> tuple[str, ...] | None:
    """The columns of a harness header line (today's or an older one), else None."""
    names = tuple(first_line.rstrip("\r\n").split("\t"))
    every = tuple(RESULTS_COLUMNS)
    if len(names) >= len(FIRST_COLUMNS) and names == every[: len(names)]:
        return names
    return None
