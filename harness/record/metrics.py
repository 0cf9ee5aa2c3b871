"""The metric protocol: how an evaluation command hands its numbers to the harness.

Two ways, checked in this order (docs/architecture.md §3):

1. a JSON object written to the file named by the environment variable
   `HARNESS_METRICS_FILE` (a pipe only the evaluation process holds: `runs.channel`);
   once it received anything, the stdout summary is ignored, and anything but exactly
   one JSON object (a second summary, output after it) makes the run a crash;
2. `key: value` lines on standard output after a line `---` (the last such line counts,
   so earlier progress output may use `---` too).

The metric itself must be reported once: a key printed twice after `---` lines (twice in
one summary, or in two summaries) makes the run a crash, because nothing tells which of
the two values is the result.

Values that read as numbers become floats (or ints); the others stay strings.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

SEPARATOR = "---"
SUMMARY_LINE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.\-/]*)\s*:\s*(.*?)\s*$")
MAX_SUMMARY_LINES = 1000
MAX_KEYS = 10_000  # distinct summary keys whose values are kept for the repeat check


class SummaryCollector:
    """Keeps the stdout lines that follow the last `---` line, as they stream by."""

    def __init__(self) -> None:
        self.seen_separator = False
        self.lines: list[str] = []
        self.reported: dict[str, list[str]] = {}  # key -> its first two values, any summary

    def feed(self, line: str) -> None:
        text = line.rstrip("\r\n")
        if text.strip() == SEPARATOR:
            self.seen_separator = True
            self.lines = []
        elif self.seen_separator:
            if len(self.lines) < MAX_SUMMARY_LINES:
                self.lines.append(text)
            self._note(text)

    def _note(self, text: str) -> None:
        match = SUMMARY_LINE.match(text)
        if not match or not match.group(2):
            return
        values = self.reported.get(match.group(1))
        if values is None and len(self.reported) < MAX_KEYS:
            self.reported[match.group(1)] = [match.group(2)]
        elif values is not None and len(values) < 2:
            values.append(match.group(2))

    def metrics(self) -> dict[str, Any]:
        return parse_summary(self.lines)

    def repeat_problem(self, name: str) -> str:
        """Why the summary lines cannot be trusted for metric `name` ("" when they can)."""
        values = self.reported.get(name, [])
        if len(values) < 2:
            return ""
        return (
            f"{name} was reported twice after `---` ({values[0]} and {values[1]}): "
            "print it once, in one summary"
        )


def parse_summary(lines: list[str]) -> dict[str, Any]:
    """{key: value} of the `key: value` lines; other lines are ignored."""
    found: dict[str, Any] = {}
    for line in lines:
        match = SUMMARY_LINE.match(line)
        if match and match.group(2):
            found[match.group(1)] = parse_value(match.group(2))
    return found


def parse_value(text: str) -> Any:
    """`12` -> 12, `1.5` / `nan` -> float, anything else stays the string."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def parse_channel(data: bytes, *, overflowed: bool = False) -> tuple[dict[str, Any] | None, str]:
    """(metrics, problem) of what the metrics channel received; (None, "") when nothing.

    The evaluation writes one JSON object: anything after it (a second object, or any other
    output) was not written by the evaluation alone, and is a problem.
    """
    if overflowed:
        return None, "HARNESS_METRICS_FILE received more than 1 MiB: not a summary"
    try:
        text = data.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        return None, f"HARNESS_METRICS_FILE is not UTF-8 text ({exc.reason})"
    if not text:
        return None, ""
    decoder = json.JSONDecoder()
    try:
        found, end = decoder.raw_decode(text)
    except json.JSONDecodeError as exc:
        return None, f"HARNESS_METRICS_FILE is not valid JSON ({exc.msg})"
    if not isinstance(found, dict):
        return None, f"HARNESS_METRICS_FILE holds a {type(found).__name__}, not a JSON object"
    if rest := text[end:].strip():
        return None, _after_summary(decoder, rest)
    return found, ""


def _after_summary(decoder: json.JSONDecoder, rest: str) -> str:
    try:
        decoder.raw_decode(rest)
    except json.JSONDecodeError:
        return (
            f"HARNESS_METRICS_FILE received output after the summary ({rest[:40]!r}): "
            "write one JSON object, once"
        )
    return "HARNESS_METRICS_FILE received a second summary: write one JSON object, once"


def metric_value(metrics: dict[str, Any], name: str) -> tuple[float | None, str]:
    """(value, problem) of the metric `name`; value is None when missing or not a number."""
    if name not in metrics:
        listed = ", ".join(sorted(metrics)) or "none"
        return None, f"the evaluation reported no {name} (reported: {listed})"
    raw = metrics[name]
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        return None, f"{name} is {raw!r}, not a number"
    try:
        value = float(raw)
    except ValueError:
        return None, f"{name} is {raw!r}, not a number"
    if not math.isfinite(value):
        return None, f"{name} is {value} (the run diverged or failed)"
    return value, ""
