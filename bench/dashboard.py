"""Render time of `harness dashboard` for a record of 10,000 runs and 500 ideas.

Prints the in-process render time (collect + render + write) and the whole command as a
process, each against reading the same results.tsv with plain polars (the ratio).
Goal: the page renders in under a second.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

from harness.config import load_config
from harness.layout import find_layout
from harness.loop.ideas import new_idea
from harness.record.results import append_rows
from harness.reports.dashboard import write_dashboard
from harness.scaffold import init_research_repo

RUNS, IDEAS = 10_000, 500


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


def best_of(repeats: int, action) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    os.environ["HARNESS_QUEUE"] = "local"
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "research"
        build(root)
        layout, config = find_layout(root), load_config(root)
        plain = best_of(5, lambda: pl.read_csv(root / "results.tsv", separator="\t"))
        inside = best_of(3, lambda: write_dashboard(layout, config))
        command = [sys.executable, "-m", "harness", "dashboard"]
        process = best_of(
            3, lambda: subprocess.run(command, cwd=root, check=True, capture_output=True)
        )
        size = (root / "9_reports" / "index.html").stat().st_size
    print(f"dashboard, {RUNS} runs and {IDEAS} ideas (page {size / 1024:.0f} KiB)")
    print(f"  plain polars read of results.tsv : {plain * 1000:7.1f} ms")
    print(f"  render in-process                : {inside * 1000:7.1f} ms  ({inside / plain:.1f}x)")
    print(
        f"  `harness dashboard` as a process : {process * 1000:7.1f} ms  ({process / plain:.1f}x)"
    )
    print(f"  goal: under 1 s -> {'met' if process < 1.0 else 'MISSED'}")


if __name__ == "__main__":
    main()
