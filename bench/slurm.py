"""Benchmark: the Slurm backend's cost per job against a bare `sbatch --wrap`.

    python bench/slurm.py [--rounds 10] [--batch 20]

Needs a running cluster (`scripts/slurm-cluster.sh start`, as root). One job at a time,
alternating, each submitted and then polled every 0.1 s until it has ended:

- bare:     `sbatch --parsable --output=/dev/null --wrap true`, then `squeue -t all -j ID`;
- backend:  `SlurmBackend.submit` of `true`, then `wait_for` (squeue and the task record);
- backend with a timeout: the same through `python -m harness.queue.wrap --timeout`, as
  `harness queue add` queues it with `[tool.harness] timeout`.

Then `--batch` jobs queued at once and waited for together, both ways, `--batch-rounds`
times. Prints medians, the overhead per job, and the ratio backend/bare (goal: below 1.25,
"met" or "MISSED"; exits 1 when missed). A bare job has ended when Slurm's state is one the
backend maps to an ended task; every wait gives up after 300 s (DEADLINE_S).
"""

from __future__ import annotations

import argparse
import functools
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from harness.errors import QueueError
from harness.queue.base import FINAL_STATES, TaskSpec
from harness.queue.ops import wait_for
from harness.queue.slurm import SlurmBackend
from harness.queue.slurm_parse import SLURM_STATES

POLL = 0.1
GOAL_RATIO = 1.25
# The Slurm states the backend itself takes for ended (DEADLINE, PREEMPTED, BOOT_FAIL...).
FINAL = frozenset(name for name, state in SLURM_STATES.items() if state in FINAL_STATES)
DEADLINE_S = 300.0  # the longest any one wait may take: a stuck node ends the bench


def sbatch_wrap(work: Path) -> str:
    argv = ["sbatch", "--parsable", "--output=/dev/null", f"--chdir={work}", "--wrap", "true"]
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()


def wait_bare(ids: list[str]) -> None:
    """Poll `squeue` until every job has ended (as the backend reads Slurm's states)."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        out = squeue("-t", "all", "-j", ",".join(ids), "-o", "%T").split()
        if len(out) == len(ids) and set(out) <= FINAL:
            return
        give_up_after(deadline, f"jobs {','.join(ids)} (states now: {' '.join(out) or 'none'})")
        time.sleep(POLL)


def squeue(*args: str) -> str:
    argv = ["squeue", "-h", *args]
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout


def give_up_after(deadline: float, what: str) -> None:
    if time.monotonic() > deadline:
        sys.exit(f"bench/slurm.py: {what} did not end within {DEADLINE_S:g} s: is the node up?")


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def one_at_a_time(rounds: int, work: Path) -> dict[str, list[float]]:
    backend = SlurmBackend(work / "slurm")
    plain = TaskSpec(argv=("true",), cwd=str(work))
    limited = TaskSpec(argv=("true",), cwd=str(work), timeout=600)
    times: dict[str, list[float]] = {"bare": [], "backend": [], "backend+timeout": []}
    submits: dict[str, list[float]] = {"sbatch": [], "submit": []}
    for _ in range(rounds):
        times["bare"].append(timed(lambda: wait_bare([sbatch_wrap(work)])))
        times["backend"].append(
            timed(lambda: wait_for(backend, [backend.submit(plain)], poll=POLL, timeout=DEADLINE_S))
        )
        times["backend+timeout"].append(
            timed(
                lambda: wait_for(backend, [backend.submit(limited)], poll=POLL, timeout=DEADLINE_S)
            )
        )
        submits["sbatch"].append(timed(lambda: sbatch_wrap(work)))
        submits["submit"].append(timed(lambda: backend.submit(plain)))
    wait_for(backend, [s.task_id for s in backend.states()], poll=POLL, timeout=DEADLINE_S)
    wait_bare_all()
    return {**times, **submits}


def wait_bare_all() -> None:
    deadline = time.monotonic() + DEADLINE_S
    while squeue("-t", "pending,running,completing", "-o", "%A").strip():
        give_up_after(deadline, "the cluster's jobs")
        time.sleep(POLL)


def in_a_batch(batch: int, work: Path, *, rounds: int) -> tuple[float, float]:
    """Median seconds to queue `batch` jobs and see them all end: bare, then the backend.

    Slurm's scheduler works in passes, so one batch takes 2 or 3 s by luck: the rounds
    alternate which way goes first, and the medians are compared.
    """
    spec = TaskSpec(argv=("true",), cwd=str(work))
    times: dict[str, list[float]] = {"bare": [], "ours": []}
    for round_ in range(rounds):
        actions = {
            "bare": functools.partial(bare_batch, work, batch),
            "ours": functools.partial(our_batch, SlurmBackend(work / f"b{round_}"), spec, batch),
        }
        for name in sorted(actions, reverse=round_ % 2 == 1):
            times[name].append(timed(actions[name]))
            wait_bare_all()
    return statistics.median(times["bare"]), statistics.median(times["ours"])


def bare_batch(work: Path, batch: int) -> None:
    wait_bare([sbatch_wrap(work) for _ in range(batch)])


def our_batch(backend: SlurmBackend, spec: TaskSpec, batch: int) -> None:
    wait_for(backend, [backend.submit(spec) for _ in range(batch)], poll=POLL, timeout=DEADLINE_S)


def report(results: dict[str, list[float]], batch: int, batched: tuple[float, float]) -> bool:
    """Print the figures; whether the goal was met."""
    median = {name: statistics.median(values) for name, values in results.items()}
    rounds = len(results["bare"])
    print(f"Slurm, one `true` job at a time, {rounds} rounds, polled every {POLL:g} s (medians)")
    for name in ("bare", "backend", "backend+timeout"):
        print(f"  {name:<28}{median[name] * 1000:8.0f} ms  submit to ended")
    print(f"  {'sbatch --wrap alone':<28}{median['sbatch'] * 1000:8.1f} ms")
    print(f"  {'backend.submit alone':<28}{median['submit'] * 1000:8.1f} ms")
    ratio = median["backend"] / median["bare"]
    overhead = (median["backend"] - median["bare"]) * 1000
    print(
        f"  overhead per job            {overhead:8.0f} ms (with a timeout: "
        f"{(median['backend+timeout'] - median['bare']) * 1000:.0f} ms)"
    )
    verdict = "met" if ratio < GOAL_RATIO else "MISSED"
    print(f"  ratio backend/bare          {ratio:8.2f} (goal < {GOAL_RATIO:g}): {verdict}")
    bare, ours = batched
    print(f"{batch} jobs queued at once and waited for together (medians)")
    print(
        f"  bare sbatch --wrap          {bare:8.2f} s   backend {ours:8.2f} s   "
        f"ratio {ours / bare:.2f}"
    )
    return ratio < GOAL_RATIO


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--batch-rounds", type=int, default=6)
    args = parser.parse_args()
    probe = subprocess.run(["sinfo", "-h"], capture_output=True, text=True)
    if probe.returncode != 0:
        sys.exit(
            f"no Slurm cluster answers ({(probe.stderr.strip().splitlines() or ['?'])[-1]}): "
            "start one with scripts/slurm-cluster.sh start"
        )
    with tempfile.TemporaryDirectory(prefix="bench-slurm-") as folder:
        work = Path(folder)
        try:
            results = one_at_a_time(args.rounds, work)
            batched = in_a_batch(args.batch, work, rounds=args.batch_rounds)
        except QueueError as exc:  # wait_for's deadline
            sys.exit(f"bench/slurm.py: {exc}")
        return 0 if report(results, args.batch, batched) else 1


if __name__ == "__main__":
    sys.exit(main())
