"""The evaluation of the example research problem. FROZEN: agents never edit this file.

Byte-level language modelling of English technical prose. The text is the help topics
that ship with every CPython install (`pydoc_data.topics`), so nothing is downloaded.
The split is fixed: the first 80% of the bytes train, the next 10% validate (the loop's
metric, `val_bpb`), the last 10% are held out for confirmation (`--split test`), which
the agent never looks at while iterating.

The research code (`train.py`) never runs in this process. It runs in a child process
(the model's process), which trains through a budget of training windows asked for over
a pipe, then answers, step by step, with the log-probabilities of the next byte of each
evaluation window it is sent. A byte is revealed (as part of a later window's context)
only after its prediction was received, so the model never sees an answer before it
predicts it, and it cannot reach the scorer: not its functions, not its modules, not the
metrics channel (the child's environment holds no HARNESS_* channel variable). The
metric is bits per byte: lower is better.

Usage: python eval.py [--seed N] [--smoke] [--split val|test]
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    # The worktree is the research code's ground: a `json.py` or a `pydoc_data/` put there
    # must not replace a module the scorer imports, so the scorer imports nothing from it.
    _HERE = os.path.dirname(os.path.realpath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.realpath(p or os.curdir) != _HERE]

# One BLAS thread: the run is deterministic for a given seed and uses one core.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import hashlib
import json
import math
import struct
import subprocess
import time

import numpy as np

CONTEXT = 16  # bytes of context a model may condition on
VOCAB = 256  # bytes
TRAIN_WINDOWS = {"full": 1_600_000, "smoke": 40_000}  # training budget, in windows
EVAL_BYTES = {"full": None, "smoke": 4_000}  # None: the whole split
TIME_LIMIT_S = {"full": 120.0, "smoke": 20.0}  # training wall-clock cap
STREAMS = 64  # the split is scored as this many contiguous streams, one byte of each a step
PADDED_SHARE = 1 / 32  # training windows whose context starts padded, as a stream's first
CHUNK = 16_384  # training windows sent at once
MAX_CHUNK = 1 << 20  # the most the model's process may ask for at once
# the model's process runs the research code; this file gives it the protocol's other end
MODEL_PROCESS = "import sys, eval; sys.exit(eval.serve(sys.argv[1:]))"
KEEP_IN_CHILD = ("HARNESS_RUN_TREE", "HARNESS_LOCAL_TASK")  # how the harness ends its processes


def load_corpus() -> bytes:
    from pydoc_data import topics

    text = "".join(topics.topics[key] for key in sorted(topics.topics))
    return text.encode("utf-8")


def split_corpus(data: bytes) -> dict[str, np.ndarray]:
    tokens = np.frombuffer(data, dtype=np.uint8)
    a, b = int(len(tokens) * 0.8), int(len(tokens) * 0.9)
    return {"train": tokens[:a], "val": tokens[a:b], "test": tokens[b:]}


class ModelFailed(Exception):
    """The model's process broke the protocol, ended early, or ran out of time."""

    def __init__(self, message: str, *, code: int = 1):
        super().__init__(message)
        self.code = code


class TrainData:
    """Random training windows of CONTEXT + 1 bytes, drawn from the train split only."""

    def __init__(self, tokens: np.ndarray, *, windows: int, seed: int):
        self._tokens = tokens
        self._rng = np.random.default_rng(seed + 1_000_003)
        self._padding = np.random.default_rng(seed + 2_000_003)  # the windows stay as they were
        self.remaining = windows

    def take(self, n: int) -> np.ndarray:
        n = max(0, min(n, self.remaining))
        self.remaining -= n
        starts = self._rng.integers(0, len(self._tokens) - CONTEXT - 1, size=n)
        windows = self._tokens[starts[:, None] + np.arange(CONTEXT + 1)]
        # as at a stream's start in the evaluation, some contexts begin with zero padding
        padded = self._padding.random(n) < PADDED_SHARE
        zeros = self._padding.integers(1, CONTEXT + 1, size=n)
        windows[padded[:, None] & (np.arange(CONTEXT + 1) < zeros[:, None])] = 0
        return windows


def stream_order(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(positions, step sizes): the split's positions in the order they are predicted.

    The split is cut into STREAMS contiguous streams; step t predicts position t of
    every stream. A window's context is the preceding bytes of its own stream (zero-padded
    at the stream's start), so every byte in a context was predicted at an earlier step.
    """
    length = -(-n // STREAMS)
    grid = np.arange(STREAMS)[None, :] * length + np.arange(length)[:, None]  # step, stream
    sizes = (grid < n).sum(axis=1)
    return grid[grid < n], sizes[sizes > 0]


def contexts_of(tokens: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """The CONTEXT bytes before each position within its stream, oldest first."""
    length = -(-len(tokens) // STREAMS)
    starts = positions - positions % length
    index = positions[:, None] - CONTEXT + np.arange(CONTEXT)
    inside = index >= starts[:, None]
    return np.where(inside, tokens[np.maximum(index, 0)], 0).astype(np.uint8)


class Model:
    """The scorer's side of the model's process: the pipe and the messages on it."""

    def __init__(self, seed: int):
        env = {k: v for k, v in os.environ.items() if not k.startswith("HARNESS_")}
        env.update({k: os.environ[k] for k in KEEP_IN_CHILD if k in os.environ})
        # glibc maps and unmaps every block above 128 KiB until a large free raises that
        # limit: numpy's temporaries would then cost the model's process 20% of its time
        env.setdefault("MALLOC_MMAP_THRESHOLD_", str(16 << 20))
        env.setdefault("MALLOC_TRIM_THRESHOLD_", str(64 << 20))
        self.process = subprocess.Popen(
            [sys.executable, "-c", MODEL_PROCESS, "--seed", str(seed)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,  # the protocol; the model's own output goes to stderr
            env=env,
            cwd=os.path.dirname(os.path.realpath(__file__)),
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self._to, self._from = self.process.stdin, self.process.stdout

    def read(self, size: int) -> bytes:
        data = self._from.read(size)
        if len(data) != size:
            code = self.process.wait()
            raise ModelFailed(f"the model's process ended mid-protocol (exit code {code})")
        return data

    def send(self, data: bytes) -> None:
        try:
            self._to.write(data)
            self._to.flush()
        except BrokenPipeError:
            code = self.process.wait()
            raise ModelFailed(f"the model's process ended (exit code {code})") from None

    def train(self, budget: TrainData, *, deadline: float) -> int:
        """Serve training windows until the model says it is ready; its parameter count."""
        while True:
            kind, value = struct.unpack("<cQ", self.read(9))
            if kind == b"R":
                return value
            if kind != b"T" or value > MAX_CHUNK:
                raise ModelFailed(f"unexpected request {kind!r} {value} from the model")
            if time.perf_counter() > deadline:
                raise ModelFailed("training exceeded its time limit", code=3)
            batch = budget.take(value)
            self.send(struct.pack("<Q", len(batch)) + batch.tobytes())

    def predict(self, contexts: np.ndarray) -> np.ndarray:
        self.send(struct.pack("<Q", len(contexts)) + contexts.tobytes())
        rows, cols = struct.unpack("<QQ", self.read(16))
        if (rows, cols) != (len(contexts), VOCAB):
            raise ModelFailed(f"log_probs returned shape ({rows}, {cols}), expected (n, {VOCAB})")
        return np.frombuffer(self.read(rows * cols * 8), dtype=np.float64).reshape(rows, cols)

    def close(self, *, finished: bool) -> None:
        """Wait for the model's process to exit after the end (kill it at once otherwise)."""
        try:
            self.process.wait(timeout=10 if finished else 0)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def bits_per_byte(model: Model, tokens: np.ndarray) -> float:
    """Score the model on `tokens`, one step of streams at a time (see `stream_order`)."""
    positions, sizes = stream_order(len(tokens))
    contexts, targets = contexts_of(tokens, positions), tokens[positions]
    total_nats, done = 0.0, 0
    for size in sizes:
        logp = model.predict(contexts[done : done + size])
        if not np.allclose(np.exp(logp).sum(axis=1), 1.0, atol=1e-3):
            raise ModelFailed("log_probs rows must be normalised log-probabilities")
        total_nats -= float(logp[np.arange(size), targets[done : done + size]].sum())
        done += size
    model.send(struct.pack("<Q", 0))  # the end: the model's process exits
    return total_nats / math.log(2) / len(tokens)


def hide_this_process() -> None:
    """Close /proc/<this pid> (environment, descriptors, memory) to the user's other
    processes, the model's among them (Linux; elsewhere a no-op)."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0
    except (OSError, AttributeError):
        pass


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=int(os.environ.get("HARNESS_SEED", "0")))
    parser.add_argument("--smoke", action="store_true", help="a tiny budget: a sanity check")
    parser.add_argument("--split", choices=["val", "test"], default="val")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    size = "smoke" if args.smoke else "full"
    hide_this_process()
    data = load_corpus()
    splits = split_corpus(data)
    budget = TrainData(splits["train"], windows=TRAIN_WINDOWS[size], seed=args.seed)
    started = time.perf_counter()
    model, finished = Model(args.seed), False
    try:
        params = model.train(budget, deadline=started + TIME_LIMIT_S[size])
        train_seconds = time.perf_counter() - started
        tokens = splits[args.split][: EVAL_BYTES[size]]
        started = time.perf_counter()
        bpb, finished = bits_per_byte(model, tokens), True
    except ModelFailed as exc:
        limit = f" ({TIME_LIMIT_S[size]:.0f} s)" if exc.code == 3 else ""
        print(f"eval.py: {exc}{limit}", file=sys.stderr)
        return exc.code
    finally:
        model.close(finished=finished)
    metrics = {
        f"{args.split}_bpb": round(bpb, 6),
        "train_seconds": round(train_seconds, 3),
        "eval_seconds": round(time.perf_counter() - started, 3),
        "params": params,
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


class RemoteData:
    """What `train.train` is given in the model's process: windows asked for over the pipe.

    `next_batch(n)` returns an (n, CONTEXT + 1) uint8 array: the first CONTEXT columns are
    the context, the last is the byte to predict. It returns None once the budget is spent.
    Windows come over the pipe in chunks (a round trip per batch would cost the run more
    than its training on a busy machine) and count against the budget as they come.
    """

    def __init__(self, to_scorer, from_scorer):
        self._to, self._from = to_scorer, from_scorer
        self.context, self.vocab = CONTEXT, VOCAB
        self._chunk = np.empty((0, CONTEXT + 1), dtype=np.uint8)
        self._spent = False

    def next_batch(self, n: int) -> np.ndarray | None:
        n = max(1, int(n))
        while len(self._chunk) < n and not self._spent:
            _write(self._to, struct.pack("<cQ", b"T", min(max(n, CHUNK), MAX_CHUNK)))
            (count,) = struct.unpack("<Q", _read(self._from, 8))
            raw = np.frombuffer(_read(self._from, count * (CONTEXT + 1)), dtype=np.uint8)
            self._chunk = np.concatenate([self._chunk, raw.reshape(count, CONTEXT + 1)])
            self._spent = count == 0
        batch, self._chunk = self._chunk[:n], self._chunk[n:]
        return batch if len(batch) else None


def serve(argv: list[str]) -> int:
    """The model's process: train through the pipe, then answer each step's contexts."""
    args = parse_args(argv)
    to_scorer = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # the research code's prints go to stderr, never into the protocol
    from_scorer = sys.stdin.buffer
    import train  # the research code

    model = train.train(RemoteData(to_scorer, from_scorer), seed=args.seed)
    _write(to_scorer, struct.pack("<cQ", b"R", int(getattr(model, "num_params", 0))))
    while count := struct.unpack("<Q", _read(from_scorer, 8))[0]:
        contexts = np.frombuffer(_read(from_scorer, count * CONTEXT), dtype=np.uint8)
        logp = np.ascontiguousarray(model.log_probs(contexts.reshape(count, CONTEXT)), "<f8")
        rows, cols = logp.shape if logp.ndim == 2 else (0, 0)
        _write(to_scorer, struct.pack("<QQ", rows, cols) + logp.tobytes())
    return 0


def _read(stream, size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise SystemExit("eval.py: the scorer closed the pipe")
    return data


def _write(stream, data: bytes) -> None:
    stream.write(data)
    stream.flush()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
