"""`harness baseline`: is the metric fit to decide with? (docs/architecture.md §4)

The evaluation runs at the head of the line (the main branch, or the research trunk when
`advance = "trunk"`) with N different seeds, then once more with the first seed. Every
run is recorded (idea `baseline`) with the head's code, so it counts as the head's runs
(the reference of every decision, docs/architecture.md §4). The report checks that the spread
over seeds is below `min_effect` (otherwise one run per idea cannot show the smallest
effect worth detecting), that the same seed gives the same number, and how long a run
takes against the timeout and the research budget.
"""

from __future__ import annotations

import shutil
import statistics
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

from harness import gitops
from harness.checks import Check
from harness.config import Config, load_config
from harness.errors import UsageError
from harness.fileio import format_table
from harness.layout import Layout, find_layout
from harness.record.compare import Noise, noise_of
from harness.record.results import is_finite
from harness.runs.evaluation import EvalRequest, RecordedRun, evaluate

QUESTION = "baseline: how large is the noise over seeds, and is a seed deterministic?"


@dataclass(frozen=True)
class BaselineReport:
    metric: str
    commit: str
    runs: list[dict[str, Any]]
    mean: float | None
    std: float | None
    robust_sigma: float | None
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(check.status != "fail" for check in self.checks)

    def as_dict(self) -> dict[str, Any]:
        keys = ("run_id", "seed", "value", "status", "duration_s")
        return {
            **{k: v for k, v in asdict(self).items() if k not in ("runs", "checks")},
            "runs": [{k: row.get(k) for k in keys} for row in self.runs],
            "checks": [asdict(check) for check in self.checks],
            "passed": self.passed,
        }


def run_baseline(
    *,
    seeds: int | None = None,
    timeout: float | None = None,
    start: Path | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> BaselineReport:
    """Run and record the baseline evaluations in the main worktree; summarise them."""
    layout = find_layout(start)
    config = load_config(layout.root)
    branch = gitops.current_branch(layout.root)
    if branch != config.main_branch:
        raise UsageError(
            f"the main worktree {layout.root} is on {branch or 'a detached HEAD'}, not "
            f"{config.main_branch}: check out {config.main_branch} there, then run it again"
        )
    count = seeds or config.seeds
    if count < 2:
        raise UsageError("--seeds must be at least 2: the noise is a spread over seeds")
    with head_worktree(layout, config) as place:
        rows = []
        for seed in [*range(count), 0]:
            request = EvalRequest(seed=seed, question=QUESTION, timeout=timeout, idea="baseline")
            run = evaluate_or_request(request, place=place, config=config, sinks=(stdout, stderr))
            rows.append(run.row)
            if run.row["status"] == "killed":
                break
    return summarise(rows, config)


def evaluate_or_request(
    request: EvalRequest,
    *,
    place: Path,
    config: Config,
    sinks: tuple[TextIO | None, TextIO | None],
) -> RecordedRun:
    """The run here, or in referee mode a request to the referee, waited for."""
    if find_layout(place).referee is None:
        return evaluate(request, start=place, stdout=sinks[0], stderr=sinks[1])
    from harness.runs.referee_client import request_eval

    return request_eval(request, start=place, config=config, stdout=sinks[0], stderr=sinks[1])


@contextmanager
def head_worktree(layout: Layout, config: Config) -> Iterator[Path]:
    """Where the head of the line is checked out: the main worktree, or (when the trunk
    has moved past main) a throwaway worktree at the trunk's head, removed afterwards."""
    head = gitops.resolve_commit(layout.root, f"refs/heads/{config.line}")
    if config.line == config.main_branch or head in (None, gitops.head_commit(layout.root)):
        yield layout.root
        return
    place = layout.worktrees_dir / f".baseline-{head[:10]}"
    if place.exists():
        shutil.rmtree(place)
        gitops.prune_worktrees(layout.root)
    gitops.add_detached_worktree(layout.root, place, commit=head)
    try:
        yield place
    finally:
        gitops.remove_worktree(layout.root, place, force=True)


def summarise(rows: list[dict[str, Any]], config: Config) -> BaselineReport:
    """The report of a set of baseline rows (in run order; the repeat last)."""
    first_per_seed: dict[int, float] = {}
    for row in rows:
        if row["status"] == "ok" and is_finite(row["value"]):
            first_per_seed.setdefault(row["seed"], row["value"])
    values = list(first_per_seed.values())
    std = statistics.stdev(values) if len(values) > 1 else None
    noise = noise_of(values)  # robust, as `harness results compare` measures it
    return BaselineReport(
        metric=config.metric,
        commit=str(rows[0].get("commit", ""))[:10] if rows else "",
        runs=rows,
        mean=statistics.fmean(values) if values else None,
        std=std,
        robust_sigma=noise.sigma,
        checks=[
            check_runs(rows),
            check_noise(noise, config),
            check_seed_effect(first_per_seed),
            check_determinism(rows),
            check_duration(rows, config),
        ],
    )


def check_runs(rows: list[dict[str, Any]]) -> Check:
    failed = [row for row in rows if row["status"] != "ok"]
    if not failed:
        return Check("runs", "ok", f"{len(rows)} of {len(rows)} ok")
    listed = ", ".join(f"seed {row['seed']} {row['status']}" for row in failed)
    return Check(
        "runs",
        "fail",
        f"{len(failed)} of {len(rows)} failed ({listed}): see `harness results --idea baseline`",
    )


def check_noise(noise: Noise, config: Config) -> Check:
    """The noise (1.4826 x MAD over seeds, the std when the MAD is 0) against min_effect."""
    if noise.sigma is None:
        return Check("noise", "fail", "fewer than 2 seeds gave a value: no spread to measure")
    measured = f"noise {noise.sigma:.6g} ({noise.method})"
    if config.min_effect <= 0:
        return Check(
            "noise",
            "warn",
            f"{measured}; min_effect is 0: set [tool.harness] min_effect to the "
            "smallest difference worth detecting",
        )
    if noise.sigma < config.min_effect:
        return Check("noise", "ok", f"{measured} < min_effect {config.min_effect:g}")
    return Check(
        "noise",
        "fail",
        f"{measured} >= min_effect {config.min_effect:g}: one run cannot show the "
        "smallest effect worth detecting; run more seeds per idea or raise min_effect",
    )


SEED_IGNORED = (
    "the seed has no effect: the evaluation ignores --seed and HARNESS_SEED, so the noise "
    "cannot be measured from seeds; make it use the seed, or, if it is not deterministic, "
    "measure the noise from repeated runs of one seed"
)


def check_seed_effect(first_per_seed: dict[int, float]) -> Check:
    """Different seeds giving the very same value mean the seed never reached the code."""
    if len(first_per_seed) < 2:
        return Check("seed", "warn", "fewer than 2 seeds gave a value: not checked")
    if len(set(first_per_seed.values())) == 1:
        return Check(
            "seed", "fail", f"{len(first_per_seed)} seeds all gave the same value: {SEED_IGNORED}"
        )
    return Check("seed", "ok", f"{len(first_per_seed)} seeds gave different values")


def check_determinism(rows: list[dict[str, Any]]) -> Check:
    ok = [row for row in rows if row["status"] == "ok" and is_finite(row["value"])]
    seen: dict[int, list[float]] = {}
    for row in ok:
        seen.setdefault(row["seed"], []).append(row["value"])
    repeated = {seed: values for seed, values in seen.items() if len(values) > 1}
    if not repeated:
        return Check("determinism", "warn", "no seed ran twice with a value: not checked")
    seed, values = next(iter(repeated.items()))
    if len(set(values)) == 1:
        return Check("determinism", "ok", f"seed {seed} gave {values[0]:.10g} twice")
    spread = max(values) - min(values)
    return Check(
        "determinism",
        "warn",
        f"seed {seed} gave {', '.join(f'{v:.10g}' for v in values)} (difference "
        f"{spread:.3g}): the evaluation is not deterministic; pin its sources of randomness",
    )


def check_duration(rows: list[dict[str, Any]], config: Config) -> Check:
    durations = [row["duration_s"] for row in rows if row["status"] == "ok"]
    if not durations:
        return Check("duration", "warn", "no run finished: no duration to report")
    mean = statistics.fmean(durations)
    detail = f"{mean:.1f} s per run on average (timeout {config.timeout:g} s)"
    if config.budget.max_hours:
        fits = int(config.budget.max_hours * 3600 / max(mean, 1e-9))
        detail += f"; about {fits} runs fit in the budget of {config.budget.max_hours:g} h"
    if mean > 0.5 * config.timeout:
        return Check("duration", "warn", detail + ": close to the timeout; raise it")
    return Check("duration", "ok", detail)


def render_report(report: BaselineReport) -> str:
    lines = [f"baseline of {report.metric} at commit {report.commit}: {len(report.runs)} runs"]
    seen: set[int] = set()
    rows = []
    for row in report.runs:
        value = "no value" if row["value"] is None else f"{row['value']:.6g}"
        repeat = "(repeat)" if row["seed"] in seen else ""
        seen.add(row["seed"])
        duration = f"{row['duration_s']:.1f} s"
        rows.append(
            [f"  seed {row['seed']}:", value, row["status"], duration, row["run_id"], repeat]
        )
    lines += format_table(rows, right={1, 3})
    if report.mean is not None:
        spread = f", std {report.std:.6g}" if report.std is not None else ""
        robust = (
            f", robust sigma {report.robust_sigma:.6g}" if report.robust_sigma is not None else ""
        )
        lines.append(f"mean {report.mean:.6g}{spread}{robust}")
    lines += [f"{c.status.upper():4}  {c.name:12} {c.detail}" for c in report.checks]
    return "\n".join(lines)
