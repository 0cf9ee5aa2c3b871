"""The cost of the bundled example's predict-through-a-pipe protocol.

The FROZEN `eval.py` runs the research code in a child process and talks to it over a pipe
(training windows out, log-probabilities back, one step of streams at a time). This runs
it against the same work done in one process (the same windows, the same order of
predictions, `model.log_probs` called directly), alternating the two over a few seeds,
each in a fresh Python process. Both must give the same val_bpb. Prints the median wall
and CPU times and the ratio (goal: the protocol costs at most 10% of the wall time).

    python bench/example.py [--seeds 3] [--smoke]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent / "harness" / "templates" / "example"
GOAL = 1.10
IN_ONE_PROCESS = """
import eval as ev  # first: it pins the BLAS threads before numpy starts
import math, sys
import numpy as np
import train

size = "smoke" if "--smoke" in sys.argv else "full"
seed = int(sys.argv[1])
splits = ev.split_corpus(ev.load_corpus())
budget = ev.TrainData(splits["train"], windows=ev.TRAIN_WINDOWS[size], seed=seed)

class LocalData:  # eval.RemoteData without the pipe: the same chunks
    context, vocab = ev.CONTEXT, ev.VOCAB
    def __init__(self):
        self.chunk = np.empty((0, ev.CONTEXT + 1), dtype=np.uint8)
    def next_batch(self, n):
        while len(self.chunk) < n and budget.remaining:
            self.chunk = np.concatenate([self.chunk, budget.take(max(n, ev.CHUNK))])
        batch, self.chunk = self.chunk[:n], self.chunk[n:]
        return batch if len(batch) else None

model = train.train(LocalData(), seed=seed)
tokens = splits["val"][: ev.EVAL_BYTES[size]]
positions, sizes = ev.stream_order(len(tokens))
contexts, targets = ev.contexts_of(tokens, positions), tokens[positions]
nats, done = 0.0, 0
for step in sizes:
    logp = np.asarray(model.log_probs(contexts[done : done + step]), dtype=np.float64)
    assert np.allclose(np.exp(logp).sum(axis=1), 1.0, atol=1e-3)
    nats -= float(logp[np.arange(step), targets[done : done + step]].sum())
    done += step
print("---")
print(f"val_bpb: {round(nats / math.log(2) / len(tokens), 6)}")
"""


def timed(argv: list[str], cwd: Path) -> tuple[float, float, str]:
    """(wall s, CPU s of the process and its children, val_bpb) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARNESS_")}
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env=env, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    value = next(line for line in proc.stdout.splitlines() if line.startswith("val_bpb:"))
    return wall, cpu, value.split(": ", 1)[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="the smoke budget (a quick look)")
    options = parser.parse_args()
    smoke = ["--smoke"] if options.smoke else []
    piped: list[tuple[float, float]] = []
    direct: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory(prefix="bench-example-") as tmp:
        for name in ("eval.py", "train.py"):
            shutil.copy(EXAMPLE / name, tmp)
        for seed in range(options.seeds):
            values = []
            for runs, label, argv in (
                (piped, "pipe", [sys.executable, "eval.py", "--seed", str(seed), *smoke]),
                (direct, "one process", [sys.executable, "-c", IN_ONE_PROCESS, str(seed), *smoke]),
            ):
                wall, cpu, value = timed(argv, Path(tmp))
                runs.append((wall, cpu))
                values.append(value)
                times = f"wall {wall:6.2f} s  cpu {cpu:6.2f} s"
                print(f"seed {seed}  {label:12} {times}  val_bpb {value}")
            if values[0] != values[1]:
                print(f"seed {seed}: the two give different val_bpb: {values}", file=sys.stderr)
                return 1
    wall_ratio = statistics.median(w for w, _ in piped) / statistics.median(w for w, _ in direct)
    cpu_ratio = statistics.median(c for _, c in piped) / statistics.median(c for _, c in direct)
    verdict = "met" if wall_ratio <= GOAL else "MISSED"
    print(
        f"the protocol: wall x{wall_ratio:.3f}, cpu x{cpu_ratio:.3f} "
        f"(goal: wall <= x{GOAL:.2f}): {verdict}"
    )
    return 0 if verdict == "met" else 1


if __name__ == "__main__":
    sys.exit(main())
