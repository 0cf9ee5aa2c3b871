"""Benchmark of the record: concurrent appends, and `harness results best` on 100,000 rows.

1. Rows per second appended to results.tsv by 8 concurrent processes through
   `harness.record.results.append_rows` (lock, header check, one write, fsync per row), as a
   ratio against the same processes appending the same lines with a bare O_APPEND write
   and fsync (no lock, no checks): the price of never tearing a row.
2. `harness results best` on a results.tsv of 100,000 rows (goal: under 0.5 s), end to
   end as a process, as a ratio against a process that reads the same file with plain
   polars; and the same in-process (read, check every line and the chain of every row,
   type, pick the best).
   Prints "met" or "MISSED" and exits 1 when the goal is missed.

Usage: python bench/record.py [--rows 100000] [--writers 8] [--appends 200]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.config import Config
from harness.layout import find_layout
from harness.record.results import append_rows, best_run, format_row, read_results, sealed_text
from harness.record.schema import header_line
from harness.scaffold import init_research_repo

GOAL_BEST_S = 0.5


def sample_row(index: int, rng: random.Random) -> dict:
    return {
        "run_id": f"20260101-000000-{index:06d}",
        "timestamp": "2026-01-01T00:00:00Z",
        "idea": f"idea-{index % 300}",
        "branch": f"exp/idea-{index % 300}",
        "commit": f"{rng.getrandbits(160):040x}",
        "dirty": False,
        "seed": index % 5,
        "metric": "val_bpb",
        "value": round(rng.gauss(1.0, 0.05), 6) if index % 17 else None,
        "status": "ok" if index % 17 else "crash",
        "duration_s": round(rng.uniform(10, 300), 3),
        "question": "does a wider hidden layer help at this budget?",
        "hypothesis": "expect -0.02 val_bpb",
        "expected": "-0.02",
        "queue_task": str(index),
        "host": "node-01",
        "frozen_sha": "0123456789abcdef",
        "integrity": "ok" if index % 101 else "modified",
        "extra": {"train_seconds": 12.5, "params": 78272, "memory_gb": 1.5},
        "description": "",
    }


def _harness_writer(root: str, count: int, start: multiprocessing.synchronize.Event) -> None:
    layout = find_layout(Path(root))
    rng = random.Random(os.getpid())
    rows = [sample_row(i, rng) | {"run_id": f"w{os.getpid()}-{i:06d}"} for i in range(count)]
    start.wait()
    for row in rows:
        append_rows(layout, [row])


def _raw_writer(path: str, count: int, start: multiprocessing.synchronize.Event) -> None:
    rng = random.Random(os.getpid())
    lines = [format_row(sample_row(i, rng)).encode() for i in range(count)]
    start.wait()
    for line in lines:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.write(fd, line)
        os.fsync(fd)
        os.close(fd)


def rows_per_second(target, path: str, *, writers: int, appends: int) -> float:
    start = multiprocessing.Event()
    procs = [
        multiprocessing.Process(target=target, args=(path, appends, start)) for _ in range(writers)
    ]
    for proc in procs:
        proc.start()
    time.sleep(1.0)  # let every writer import and prepare before the clock starts
    began = time.perf_counter()
    start.set()
    for proc in procs:
        proc.join()
        if proc.exitcode != 0:
            raise SystemExit(f"a writer failed with exit code {proc.exitcode}")
    return writers * appends / (time.perf_counter() - began)


def bench_appends(root: Path, *, writers: int, appends: int) -> None:
    results = root / "results.tsv"
    results.write_text(header_line())
    harness_rate = rows_per_second(_harness_writer, str(root), writers=writers, appends=appends)
    lines = results.read_text().splitlines()
    assert len(lines) == writers * appends + 1, "rows went missing"
    assert len(read_results(results)) == writers * appends  # every row whole and typed
    raw = root / "raw.tsv"
    raw_rate = rows_per_second(_raw_writer, str(raw), writers=writers, appends=appends)
    print(f"appends, {writers} processes x {appends} rows (each row locked, written, fsynced):")
    print(f"  harness append_rows   {harness_rate:9.0f} rows/s")
    print(f"  bare O_APPEND + fsync {raw_rate:9.0f} rows/s")
    print(f"  ratio harness / bare  {harness_rate / raw_rate:9.2f}")


def timed_process(argv: list[str], *, cwd: Path, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        subprocess.run(argv, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def timed_call(function, *, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        function()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def bench_best(root: Path, *, rows: int) -> bool:
    rng = random.Random(1)
    path = root / "results.tsv"
    path.write_text(sealed_text(sample_row(i, rng) for i in range(rows)))  # chained, as written
    size_mb = path.stat().st_size / 1e6
    plain = (
        "import polars as pl; "
        "pl.read_csv('results.tsv', separator='\\t', quote_char=None, infer_schema=False)"
    )
    harness_s = timed_process([sys.executable, "-m", "harness", "results", "best"], cwd=root)
    polars_s = timed_process([sys.executable, "-c", plain], cwd=root)
    config = Config()
    inproc_s = timed_call(lambda: best_run(read_results(path), config))
    import polars as pl

    plain_s = timed_call(
        lambda: pl.read_csv(path, separator="\t", quote_char=None, infer_schema=False)
    )
    verdict = "met" if harness_s < GOAL_BEST_S else "MISSED"
    print(f"`harness results best` on {rows:,} rows ({size_mb:.1f} MB), median of 5:")
    print(
        f"  harness results best (process)  {harness_s:7.3f} s  "
        f"(goal < {GOAL_BEST_S:g} s: {verdict})"
    )
    print(f"  plain polars read (process)     {polars_s:7.3f} s")
    print(f"  ratio                           {harness_s / polars_s:7.2f}")
    print(f"  read_results + best (in-proc)   {inproc_s:7.3f} s")
    print(f"  plain pl.read_csv (in-proc)     {plain_s:7.3f} s")
    print(f"  ratio                           {inproc_s / plain_s:7.2f}")
    return harness_s < GOAL_BEST_S


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--appends", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="harness-bench-") as workdir:
        root = Path(workdir) / "research"
        init_research_repo(root)
        bench_appends(root, writers=args.writers, appends=args.appends)
        met = bench_best(root, rows=args.rows)
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
