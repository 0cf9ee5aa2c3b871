"""The outcome of one named check, shared by `harness doctor` and `harness baseline`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Status = Literal["ok", "warn", "fail"]
FILL_IN = re.compile(r"\{FILL_IN:?\s*([^}]*)\}")


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str


def unfilled_slots(text: str) -> list[tuple[int, str]]:
    """(line number, slot text) of every `{FILL_IN: ...}` in a document."""
    return [
        (number, match.group(1).strip())
        for number, line in enumerate(text.splitlines(), start=1)
        for match in FILL_IN.finditer(line)
    ]
