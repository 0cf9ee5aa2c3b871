"""Benchmark of what keeps every run accounted for, and what `harness eval` costs a run.

1. `harness eval -- python -c ...` (a trivial evaluation), end to end as a process, as a
   ratio against running the same command bare: the whole price of recording a run.
2. The accounting steps alone, in-process: the pre-run check, the run record (written,
   rewritten with the final row, removed: three fsynced writes and the reserve), the
   watchdog's start, the scan of /proc that ends a run's tree, and the check `harness
   status` and `harness next` make when no run is in flight.

Usage: python bench/accounting.py [--runs 10]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from harness.config import load_config
from harness.layout import find_layout
from harness.queue.proctree import kill_marked
from harness.record.results import new_run_id
from harness.runs.preflight import check_writable
from harness.runs.records import close_run, finalise, open_run, settle_runs
from harness.runs.watchdog import Watchdog
from harness.scaffold import init_research_repo

EVAL = ["python", "-c", "print('---'); print('val_bpb: 2.5')"]


def median_s(action: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        action()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def end_to_end(root: Path, runs: int) -> None:
    harness = [sys.executable, "-m", "harness", "eval", "--", *EVAL]
    recorded = median_s(lambda: subprocess.run(harness, cwd=root, capture_output=True), runs)
    bare = median_s(lambda: subprocess.run(EVAL, cwd=root, capture_output=True), runs)
    print(
        f"harness eval of a trivial command: {recorded * 1000:.0f} ms, the command bare: "
        f"{bare * 1000:.0f} ms (ratio {recorded / bare:.1f})"
    )


def steps(root: Path, runs: int) -> None:
    layout = find_layout(root)
    config = load_config(layout.root)

    def record_cycle() -> None:
        row = {"run_id": new_run_id()}
        run = open_run(layout, row, command=EVAL, log_path=layout.state_dir / "logs" / "x.log")
        finalise(layout, run, row)
        close_run(layout, run.run_id)

    def watchdog() -> None:
        Watchdog(("HARNESS_RUN_TREE", "bench"), heartbeat=None).release()

    for name, action in (
        ("pre-run check", lambda: check_writable(layout, log_dir=layout.state_dir / "logs")),
        ("run record: open, final row, close", record_cycle),
        ("watchdog start", watchdog),
        ("end of the tree (a /proc scan)", lambda: kill_marked("HARNESS_RUN_TREE", "bench")),
        ("status/next check, no run in flight", lambda: settle_runs(layout, config)),
    ):
        print(f"{name}: {median_s(action, runs) * 1000:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "research"
        init_research_repo(root, example=True)
        end_to_end(root, args.runs)
        steps(root, args.runs * 3)


if __name__ == "__main__":
    main()
