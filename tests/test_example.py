"""The bundled example: its metric protocol and its determinism, run for real."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np


def run_eval(repo: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, str]:
    proc = subprocess.run(
        [sys.executable, "eval.py", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    summary = lines[lines.index("---") + 1 :]
    return dict(line.split(": ", 1) for line in summary)


def test_smoke_reports_the_metric_after_the_separator(research_repo: Path) -> None:
    metrics = run_eval(research_repo, "--smoke", "--seed", "0")
    assert 0 < float(metrics["val_bpb"]) < 8
    assert metrics["smoke"] == "True"
    assert int(metrics["params"]) > 0


def test_same_seed_same_number_other_seed_other_number(research_repo: Path) -> None:
    first = run_eval(research_repo, "--smoke", "--seed", "3")["val_bpb"]
    again = run_eval(research_repo, "--smoke", env={"HARNESS_SEED": "3"})["val_bpb"]
    other = run_eval(research_repo, "--smoke", "--seed", "4")["val_bpb"]
    assert first == again
    assert first != other


def test_metrics_file_holds_the_same_numbers(research_repo: Path, tmp_path: Path) -> None:
    target = tmp_path / "metrics.json"
    printed = run_eval(research_repo, "--smoke", env={"HARNESS_METRICS_FILE": str(target)})
    written = json.loads(target.read_text())
    assert str(written["val_bpb"]) == printed["val_bpb"]
    assert written["seed"] == 0


def test_the_held_out_split_reports_its_own_metric(research_repo: Path) -> None:
    metrics = run_eval(research_repo, "--smoke", "--split", "test")
    assert "test_bpb" in metrics and "val_bpb" not in metrics


def test_training_learns_something(research_repo: Path) -> None:
    """The smoke budget already beats a uniform guess (8 bits per byte) by far."""
    assert float(run_eval(research_repo, "--smoke")["val_bpb"]) < 4.0


def load_scorer():
    """The bundled eval.py as a module (not as __main__: nothing runs)."""
    import importlib.util

    path = Path(__file__).parent.parent / "harness" / "templates" / "example" / "eval.py"
    spec = importlib.util.spec_from_file_location("bundled_eval", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_byte_is_sent_before_it_was_predicted() -> None:
    """Step by step, every byte inside a context sent so far is a byte already predicted
    (each byte here is its position + 1, so a context says which positions it reveals)."""
    scorer = load_scorer()
    tokens = np.arange(1, 251, dtype=np.uint8)  # 0 is the padding
    positions, sizes = scorer.stream_order(len(tokens))
    assert sorted(positions.tolist()) == list(range(len(tokens))), "each position once"
    contexts = scorer.contexts_of(tokens, positions)
    predicted: set[int] = set()
    done = 0
    for size in sizes:
        revealed = {int(b) - 1 for b in contexts[done : done + size].ravel() if b}
        assert revealed <= predicted, f"revealed before predicted: {revealed - predicted}"
        assert revealed or done == 0, "after the first step a context shows earlier bytes"
        predicted |= set(positions[done : done + size].tolist())
        done += size


def test_the_model_runs_in_a_child_without_the_channel(research_repo: Path, tmp_path) -> None:
    """train.py runs in another process than the scorer, with no HARNESS_* variable but
    the tree marker (how the harness ends the run's processes)."""
    notes = tmp_path / "notes.json"
    spy = (
        "\nimport json, os\n"
        f"json.dump({{'pid': os.getpid(), 'parent': os.getppid(), 'env': sorted(os.environ)}},"
        f" open({str(notes)!r}, 'w'))\n"
    )
    with (research_repo / "train.py").open("a") as handle:
        handle.write(spy)
    proc = subprocess.Popen(
        [sys.executable, "eval.py", "--smoke"],
        cwd=research_repo,
        stdout=subprocess.PIPE,
        text=True,
        env={
            **os.environ,
            "HARNESS_METRICS_FILE": str(tmp_path / "m.json"),
            "HARNESS_RUN_TREE": "x",
        },
    )
    proc.communicate(timeout=120)
    seen = json.loads(notes.read_text())
    assert seen["parent"] == proc.pid and seen["pid"] != proc.pid
    assert [name for name in seen["env"] if name.startswith("HARNESS_")] == ["HARNESS_RUN_TREE"]


def test_what_the_model_prints_goes_to_stderr(research_repo: Path) -> None:
    with (research_repo / "train.py").open("a") as handle:
        handle.write("\nprint('---'); print('val_bpb: 0.01')\n")
    proc = subprocess.run(
        [sys.executable, "eval.py", "--smoke"], cwd=research_repo, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert "val_bpb: 0.01" in proc.stderr and "val_bpb: 0.01" not in proc.stdout
