"""The bundled example: its metric protocol and its determinism, run for real."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


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
