"""The columns of results.tsv, declared once (DESIGN.md section 5).

Order matters: it is the order of the header line and of every row. Readers look columns
up by name, so a future column is added at the end.
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
}

RUN_STATUSES = ("ok", "crash", "timeout", "killed", "lost", "confirm")


def header_line() -> str:
    return "\t".join(RESULTS_COLUMNS) + "\n"
