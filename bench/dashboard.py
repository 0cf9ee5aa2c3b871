"""Render time of `harness dashboard` for a record of 10,000 runs and 500 ideas.

Like is compared with like: the in-process render (collect + render + write) against an
in-process plain polars read of the same results.tsv, and the whole `harness dashboard`
process against a process that starts Python and reads that file with plain polars; both
reads use the record's own parse options. Goal: the command takes under a second ("met"
or "MISSED"; exits 1 when missed).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from harness.config import load_config
from harness.layout import find_layout
from harness.loop.ideas import new_idea
from harness.record.results import append_rows
from harness.reports.dashboard import write_dashboard
from harness.scaffold import init_research_repo

RUNS, IDEAS = 10_000, 500
GOAL_S = 1.0
# How harness.record.results reads the record: tabs, no quoting, every column as text.
READ_OPTIONS: dict[str, Any] = {"separator": "\t", "quote_char": None, "infer_schema": False}


def build(root: Path) -> None:
    init_research_repo(root, example=True)
    layout = find_layout(root)
    for i in range(IDEAS):
        new_idea(layout, slug=f"idea-{i}", title=f"Idea number {i}", hypothesis="")
    rows = []
    for i in range(RUNS):
        idea = "baseline" if i % 50 == 0 else f"idea-{i % IDEAS}"
        rows.append({
            "run_id": f"run-{i}", "timestamp": "2026-11-23T10:00:00Z", "idea": idea,
            "branch": f"exp/{idea}", "commit": "abc", "dirty": False, "seed": i // IDEAS,
            "metric": "val_bpb", "value": None if i % 97 == 0 else 2.3 - (i % IDEAS) * 1e-4,
            "status": "crash" if i % 97 == 0 else "ok", "duration_s": 12.0,
            "integrity": "modified" if i % 211 == 0 else "ok", "host": "bench",
        })  # fmt: skip
    append_rows(layout, rows)


def best_of(repeats: int, action: Callable[[], object]) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> int:
    os.environ["HARNESS_QUEUE"] = "local"
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "research"
        build(root)
        layout, config = find_layout(root), load_config(root)
        results = root / "results.tsv"
        read = f"import polars as pl; pl.read_csv({str(results)!r}, **{READ_OPTIONS!r})"
        plain = best_of(5, lambda: pl.read_csv(results, **READ_OPTIONS))
        inside = best_of(3, lambda: write_dashboard(layout, config))
        plain_process = best_of(5, lambda: run([sys.executable, "-c", read], root))
        process = best_of(3, lambda: run([sys.executable, "-m", "harness", "dashboard"], root))
        size = (root / "9_reports" / "index.html").stat().st_size
    verdict = "met" if process < GOAL_S else "MISSED"
    print(f"dashboard, {RUNS} runs and {IDEAS} ideas (page {size / 1024:.0f} KiB), best times")
    print(f"  in-process: plain polars read     {plain * 1000:7.1f} ms")
    print(f"  in-process: render and write      {inside * 1000:7.1f} ms  ({inside / plain:.1f}x)")
    print(f"  process: python + polars read     {plain_process * 1000:7.1f} ms")
    print(
        f"  process: `harness dashboard`      {process * 1000:7.1f} ms  "
        f"({process / plain_process:.1f}x)"
    )
    print(f"  goal: the command under {GOAL_S:g} s: {verdict}")
    return 0 if process < GOAL_S else 1


def run(argv: list[str], cwd: Path) -> None:
    subprocess.run(argv, cwd=cwd, check=True, capture_output=True)


if __name__ == "__main__":
    sys.exit(main())
