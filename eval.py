"""The evaluation of the example research problem. FROZEN: agents never edit this file.

Byte-level language modelling of English technical prose. The text is the help topics
that ship with every CPython install (`pydoc_data.topics`), so nothing is downloaded.
The split is fixed: the first 80% of the bytes train, the next 10% validate (the loop's
metric, `val_bpb`), the last 10% are held out for confirmation (`--split test`), which
the agent never looks at while iterating.

The research code (`train.py`) builds and trains a model through a budget of training
windows handed out here, then the model's log-probabilities are scored here. The metric
is bits per byte: lower is better.

Usage: python eval.py [--seed N] [--smoke] [--split val|test]
"""

from __future__ import annotations

import os

# One BLAS thread: the run is deterministic for a given seed and uses one core.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import hashlib
import json
import math
import sys
import time

import numpy as np

CONTEXT = 16  # bytes of context a model may condition on
VOCAB = 256  # bytes
TRAIN_WINDOWS = {"full": 1_600_000, "smoke": 40_000}  # training budget, in windows
EVAL_BYTES = {"full": None, "smoke": 4_000}  # None: the whole split
TIME_LIMIT_S = {"full": 120.0, "smoke": 20.0}  # training wall-clock cap


def load_corpus() -> bytes:
    from pydoc_data import topics

    text = "".join(topics.topics[key] for key in sorted(topics.topics))
    return text.encode("utf-8")


def split_corpus(data: bytes) -> dict[str, np.ndarray]:
    tokens = np.frombuffer(data, dtype=np.uint8)
    a, b = int(len(tokens) * 0.8), int(len(tokens) * 0.9)
    return {"train": tokens[:a], "val": tokens[a:b], "test": tokens[b:]}


class TrainingBudget(Exception):
    """Raised inside training when the model asks for more windows than the budget."""


class TrainData:
    """Random training windows of CONTEXT + 1 bytes, drawn from the train split only.

    `next_batch(n)` returns an (n, CONTEXT + 1) uint8 array: the first CONTEXT columns are
    the context, the last is the byte to predict. It returns None once the budget is spent.
    """

    def __init__(self, tokens: np.ndarray, *, windows: int, seed: int, deadline: float):
        self._tokens = tokens
        self._rng = np.random.default_rng(seed + 1_000_003)
        self._deadline = deadline
        self.remaining = windows
        self.context = CONTEXT
        self.vocab = VOCAB

    def next_batch(self, n: int) -> np.ndarray | None:
        if time.perf_counter() > self._deadline:
            raise TrainingBudget("training exceeded its time limit")
        n = min(n, self.remaining)
        if n <= 0:
            return None
        self.remaining -= n
        starts = self._rng.integers(0, len(self._tokens) - CONTEXT - 1, size=n)
        return self._tokens[starts[:, None] + np.arange(CONTEXT + 1)]


def windows_of(tokens: np.ndarray) -> np.ndarray:
    """Every position of a split with its CONTEXT preceding bytes (zero-padded at the start)."""
    padded = np.concatenate([np.zeros(CONTEXT, dtype=np.uint8), tokens])
    index = np.arange(len(tokens))[:, None] + np.arange(CONTEXT)
    return padded[index]


def bits_per_byte(model, tokens: np.ndarray) -> float:
    contexts = windows_of(tokens)
    total_nats = 0.0
    for start in range(0, len(tokens), 8192):
        logp = np.asarray(model.log_probs(contexts[start : start + 8192]), dtype=np.float64)
        if logp.shape != (len(contexts[start : start + 8192]), VOCAB):
            raise SystemExit(
                f"eval.py: log_probs returned shape {logp.shape}, expected (n, {VOCAB})"
            )
        if not np.allclose(np.exp(logp).sum(axis=1), 1.0, atol=1e-3):
            raise SystemExit("eval.py: log_probs rows must be normalised log-probabilities")
        targets = tokens[start : start + 8192]
        total_nats -= float(logp[np.arange(len(targets)), targets].sum())
    return total_nats / math.log(2) / len(tokens)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=int(os.environ.get("HARNESS_SEED", "0")))
    parser.add_argument("--smoke", action="store_true", help="a tiny budget: a sanity check")
    parser.add_argument("--split", choices=["val", "test"], default="val")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    size = "smoke" if args.smoke else "full"
    data = load_corpus()
    splits = split_corpus(data)

    import train  # the research code, imported after the environment is pinned

    started = time.perf_counter()
    budget = TrainData(
        splits["train"],
        windows=TRAIN_WINDOWS[size],
        seed=args.seed,
        deadline=started + TIME_LIMIT_S[size],
    )
    try:
        model = train.train(budget, seed=args.seed)
    except TrainingBudget as exc:
        print(f"eval.py: {exc} ({TIME_LIMIT_S[size]:.0f} s)", file=sys.stderr)
        return 3
    train_seconds = time.perf_counter() - started

    tokens = splits[args.split][: EVAL_BYTES[size]]
    started = time.perf_counter()
    bpb = bits_per_byte(model, tokens)
    metrics = {
        f"{args.split}_bpb": round(bpb, 6),
        "train_seconds": round(train_seconds, 3),
        "eval_seconds": round(time.perf_counter() - started, 3),
        "params": int(getattr(model, "num_params", 0)),
        "windows_used": TRAIN_WINDOWS[size] - budget.remaining,
        "seed": args.seed,
        "smoke": args.smoke,
        "data_sha": hashlib.sha256(data).hexdigest()[:12],
    }
    print("---")
    for key, value in metrics.items():
        print(f"{key}: {value}")
    metrics_file = os.environ.get("HARNESS_METRICS_FILE")
    if metrics_file:
        with open(metrics_file, "w", encoding="utf-8") as handle:
            json.dump(metrics, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
