"""`harness baseline` on the bundled example (its smoke size, to stay fast)."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import commit_files, git

from harness.config import Config
from harness.record.results import read_results
from harness.runs.baseline import summarise


def use_smoke_evaluation(repo: Path, *, min_effect: float) -> None:
    text = (repo / "pyproject.toml").read_text()
    text = text.replace('eval = "python eval.py"', 'eval = "python eval.py --smoke"')
    text = text.replace("min_effect = 0.01", f"min_effect = {min_effect}")
    commit_files(repo, {"pyproject.toml": text}, "baseline test: the smoke evaluation", meta=True)


def test_baseline_measures_noise_and_determinism(research_repo: Path, cli) -> None:
    use_smoke_evaluation(research_repo, min_effect=0.5)
    result = cli("baseline", "--seeds", "2", cwd=research_repo)
    assert result.code == 0, result.err
    rows = read_results(research_repo / "results.tsv").to_dicts()
    assert [(r["idea"], r["seed"], r["status"]) for r in rows] == [
        ("baseline", 0, "ok"),
        ("baseline", 1, "ok"),
        ("baseline", 0, "ok"),
    ]
    assert rows[0]["value"] == rows[2]["value"] != rows[1]["value"]
    lines = result.out.splitlines()
    assert "OK    runs         3 of 3 ok" in lines
    assert any(line.startswith("OK    noise        noise ") for line in lines)
    assert f"OK    determinism  seed 0 gave {rows[0]['value']:.10g} twice" in lines
    assert "OK    seed         2 seeds gave different values" in lines
    assert any(line.startswith("OK    duration     ") for line in lines)
    assert lines[-6].startswith("mean ")


def test_baseline_fails_when_the_noise_hides_min_effect(research_repo: Path, cli) -> None:
    use_smoke_evaluation(research_repo, min_effect=0.000001)
    result = cli("baseline", "--seeds", "2", "--json", cwd=research_repo)
    assert result.code == 1
    report = json.loads(result.out)
    assert report["passed"] is False
    noise = next(c for c in report["checks"] if c["name"] == "noise")
    assert noise["status"] == "fail" and "raise min_effect" in noise["detail"]
    assert [run["seed"] for run in report["runs"]] == [0, 1, 0]


def test_baseline_needs_the_main_branch_in_the_root(research_repo: Path, cli) -> None:
    git(research_repo, "checkout", "-q", "-b", "scratch")
    result = cli("baseline", cwd=research_repo)
    assert result.code == 2
    assert result.err == (
        f"harness: the main worktree {research_repo} is on scratch, not main: check out "
        "main there, then run it again\n"
    )


def baseline_row(seed: int, value: float | None, status: str = "ok") -> dict:
    return {"seed": seed, "value": value, "status": status, "duration_s": 2.0, "run_id": "r"}


def test_the_summary_reports_failed_runs_and_nondeterminism() -> None:
    rows = [
        baseline_row(0, 1.00),
        baseline_row(1, None, "crash"),
        baseline_row(2, 1.02),
        baseline_row(0, 1.001),
    ]
    checks = {c.name: c for c in summarise(rows, Config(min_effect=0.1)).checks}
    assert checks["runs"].status == "fail" and "seed 1 crash" in checks["runs"].detail
    assert checks["determinism"].status == "warn"
    assert "seed 0 gave 1, 1.001" in checks["determinism"].detail
    assert checks["noise"].status == "ok"  # the spread of seeds 0 and 2 (first values)


def test_the_noise_check_uses_the_robust_spread_the_comparisons_use() -> None:
    """One odd seed inflates the std past min_effect; 1.4826 x MAD (the README's noise) not."""
    values = [1.000, 1.004, 1.002, 1.006, 1.5]
    rows = [baseline_row(seed, value) for seed, value in enumerate(values)]
    report = summarise(rows, Config(min_effect=0.1))
    checks = {c.name: c for c in report.checks}
    assert report.std is not None and report.std > 0.1
    assert checks["noise"].status == "ok", checks["noise"].detail
    assert checks["noise"].detail == "noise 0.0029652 (MAD of the baseline) < min_effect 0.1"
    tight = summarise([baseline_row(0, 1.0), baseline_row(1, 1.0)], Config(min_effect=0.1))
    assert [c.detail for c in tight.checks if c.name == "noise"] == [
        "noise 0 (std of the baseline) < min_effect 0.1"
    ]


def test_baseline_fails_when_the_seed_has_no_effect(research_repo: Path, cli) -> None:
    """autoresearch's train.py hard-codes its seed: a spread of 0 is no measure of noise."""
    script = "import sys; print('---'); print('val_bpb: 0.9979')"
    text = (research_repo / "pyproject.toml").read_text()
    text = text.replace('eval = "python eval.py"', f'eval = "python -c \\"{script}\\""')
    commit_files(research_repo, {"pyproject.toml": text}, "an evaluation without seeds", meta=True)
    result = cli("baseline", "--seeds", "3", "--json", cwd=research_repo)
    assert result.code == 1, result.err
    report = json.loads(result.out)
    seed = next(c for c in report["checks"] if c["name"] == "seed")
    assert seed["status"] == "fail"
    assert seed["detail"].startswith("3 seeds all gave the same value: the seed has no effect")
    assert "measure the noise from repeated runs" in seed["detail"]
