"""The research code of the example problem: a byte-level MLP language model in numpy.

Ideas change this file (in their own worktree). `eval.py` runs it in a child process of
its own: it calls `train(data, seed=...)` (`data.next_batch(n)` brings training windows
over a pipe) and scores what it returns: any object with `log_probs(contexts) -> (n, 256)`
array of normalised log-probabilities, where `contexts` is an (n, 16) uint8 array of the
bytes before each position, oldest first (zeros before the start of a stream). What this
process prints goes to stderr.
"""

from __future__ import annotations

import numpy as np

CONTEXT_USED = 8  # how many of the most recent context bytes the model reads
EMBED = 16
HIDDEN = 192
BATCH = 128
LEARNING_RATE = 3e-3
BETAS = (0.9, 0.99)


class MLP:
    """Embed each context byte, concatenate, one tanh hidden layer, softmax over bytes."""

    def __init__(self, rng: np.random.Generator, vocab: int):
        fan_in = CONTEXT_USED * EMBED
        self.params = {
            "embed": rng.normal(0, 1.0, (vocab, EMBED)).astype(np.float32),
            "w1": (rng.normal(0, 1, (fan_in, HIDDEN)) / np.sqrt(fan_in)).astype(np.float32),
            "b1": np.zeros(HIDDEN, np.float32),
            "w2": (rng.normal(0, 1, (HIDDEN, vocab)) * 0.01).astype(np.float32),
            "b2": np.zeros(vocab, np.float32),
        }
        self.num_params = sum(p.size for p in self.params.values())

    def forward(self, contexts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        recent = contexts[:, -CONTEXT_USED:]
        x = self.params["embed"][recent].reshape(len(contexts), -1)
        h = np.tanh(x @ self.params["w1"] + self.params["b1"])
        logits = h @ self.params["w2"] + self.params["b2"]
        return x, h, logits

    def log_probs(self, contexts: np.ndarray) -> np.ndarray:
        _, _, logits = self.forward(contexts)
        return log_softmax(logits.astype(np.float64))

    def gradients(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        contexts, targets = batch[:, :-1], batch[:, -1]
        x, h, logits = self.forward(contexts)
        probs = np.exp(log_softmax(logits))
        probs[np.arange(len(targets)), targets] -= 1.0
        dlogits = probs / len(targets)
        dh = (dlogits @ self.params["w2"].T) * (1.0 - h * h)
        dx = (dh @ self.params["w1"].T).reshape(len(contexts), CONTEXT_USED, EMBED)
        dembed = np.zeros_like(self.params["embed"])
        np.add.at(dembed, contexts[:, -CONTEXT_USED:], dx)
        return {
            "embed": dembed,
            "w1": x.T @ dh,
            "b1": dh.sum(axis=0),
            "w2": h.T @ dlogits,
            "b2": dlogits.sum(axis=0),
        }


def log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


class Adam:
    def __init__(self, params: dict[str, np.ndarray], lr: float):
        self.lr, self.step_count = lr, 0
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}

    def step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        self.step_count += 1
        b1, b2 = BETAS
        for key, grad in grads.items():
            self.m[key] = b1 * self.m[key] + (1 - b1) * grad
            self.v[key] = b2 * self.v[key] + (1 - b2) * grad * grad
            m_hat = self.m[key] / (1 - b1**self.step_count)
            v_hat = self.v[key] / (1 - b2**self.step_count)
            params[key] -= (self.lr * m_hat / (np.sqrt(v_hat) + 1e-8)).astype(np.float32)


def train(data, *, seed: int) -> MLP:
    """Train on windows from `data.next_batch` until the budget is spent."""
    rng = np.random.default_rng(seed)
    model = MLP(rng, data.vocab)
    optimizer = Adam(model.params, LEARNING_RATE)
    while (batch := data.next_batch(BATCH)) is not None:
        optimizer.step(model.params, model.gradients(batch))
    return model
