"""Benchmark: the local queue's overhead per task, and pueue's add latency where pueue exists.

    python bench/queue.py [--tasks 100]

Local: 100 no-op tasks (`true`) are added to a fresh local queue and waited for, against
running the same command 100 times one after another; the difference per task is the
queue's overhead (goal: under 50 ms). The worker's start-up is included.
pueue (only when `pueue` and `pueued` are on PATH, with a private daemon): the latency of
the backend's `submit` against a bare `pueue add` (goal: ratio under 2).
Each goal prints "met" or "MISSED"; the script exits 1 when one is missed.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.queue.base import TaskSpec
from harness.queue.local import LocalBackend
from harness.queue.ops import wait_for

LOCAL_GOAL_MS = 50.0
PUEUE_GOAL_RATIO = 2.0


def bench_local(tasks: int, work: Path) -> bool:
    started = time.perf_counter()
    for _ in range(tasks):
        subprocess.run(["true"], cwd=work, check=True)
    direct = time.perf_counter() - started

    backend = LocalBackend(work / "queue")
    spec = TaskSpec(argv=("true",), cwd=str(work))
    try:
        started = time.perf_counter()
        ids = [backend.submit(spec) for _ in range(tasks)]
        added = time.perf_counter() - started
        finals = wait_for(backend, ids, poll=0.01, timeout=600)
        queued = time.perf_counter() - started
    finally:
        backend.stop_worker()
    assert all(state.state == "succeeded" for state in finals)
    overhead_ms = (queued - direct) / tasks * 1000
    print(f"local queue, {tasks} no-op tasks")
    print(f"  direct, one after another  {direct:7.3f} s  ({direct / tasks * 1000:6.2f} ms/task)")
    print(f"  queued, added and waited   {queued:7.3f} s  ({queued / tasks * 1000:6.2f} ms/task)")
    print(f"  adding alone               {added:7.3f} s  ({added / tasks * 1000:6.2f} ms/task)")
    print(f"  ratio queued/direct        {queued / direct:7.2f}")
    verdict = "met" if overhead_ms < LOCAL_GOAL_MS else "MISSED"
    print(
        f"  overhead per task          {overhead_ms:7.2f} ms (goal < {LOCAL_GOAL_MS:g}): {verdict}"
    )
    return overhead_ms < LOCAL_GOAL_MS


def bench_pueue(tasks: int, work: Path) -> bool:
    from harness.queue.pueue import PueueBackend

    home = work / "pueue"
    (home / "run").mkdir(parents=True)
    config = home / "pueue.yml"
    config.write_text(
        f"shared:\n  pueue_directory: {home / 'data'}\n  runtime_directory: {home / 'run'}\n"
        f"  use_unix_socket: true\n  unix_socket_path: {home / 'run' / 'pueue.socket'}\n"
    )
    subprocess.run(["pueued", "-c", str(config), "-d"], check=True, capture_output=True)
    backend = PueueBackend(config=str(config), group="bench")
    try:
        while not backend.is_available()[0]:
            time.sleep(0.1)
        subprocess.run(["pueue", "-c", str(config), "pause", "--all"], capture_output=True)
        bare = ["pueue", "-c", str(config), "add", "--print-task-id", "--escape", "--", "true"]
        started = time.perf_counter()
        for _ in range(tasks):
            subprocess.run(bare, check=True, capture_output=True)
        direct = time.perf_counter() - started
        spec = TaskSpec(argv=("true",), cwd=str(work), group="bench")
        backend.submit(spec)  # the first one creates the group
        started = time.perf_counter()
        for _ in range(tasks):
            backend.submit(spec)
        wrapped = time.perf_counter() - started
    finally:
        subprocess.run(["pueue", "-c", str(config), "shutdown"], capture_output=True)
    ratio = wrapped / direct
    verdict = "met" if ratio < PUEUE_GOAL_RATIO else "MISSED"
    print(f"pueue add, {tasks} tasks")
    print(f"  bare `pueue add`           {direct / tasks * 1000:7.2f} ms/task")
    print(f"  PueueBackend.submit        {wrapped / tasks * 1000:7.2f} ms/task")
    print(f"  ratio                      {ratio:7.2f} (goal < {PUEUE_GOAL_RATIO:g}): {verdict}")
    return ratio < PUEUE_GOAL_RATIO


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="harness-bench-queue-") as temporary:
        work = Path(temporary)
        met = bench_local(args.tasks, work)
        if shutil.which("pueue") and shutil.which("pueued"):
            met = bench_pueue(args.tasks, work) and met
        else:
            print("pueue: not on PATH, its add latency is not measured")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
