"""`just demo`: the whole research loop on the bundled example, in a fresh temporary repository.

Each step runs the real `harness` command line (or git, or just) in a subprocess, exactly
as an agent would, and prints what it runs: the baseline (noise and determinism), two
ideas with critiques, `harness next`, one idea implemented in its worktree (a real change
to train.py), its evaluation queued over three seeds on the embedded local queue and
waited for, the report with its plot, the submission against a local bare remote (with
the held-out confirmation), and the record committed. No network; one core; a few
minutes. Nothing here touches the repository the demo is started from. `--keep DIR`
builds the demo repository in DIR and keeps it for a look afterwards.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SLUG = "context-4"
OTHER = "wider-hidden"
CRITIQUES = {
    SLUG: """The model reads 8 context bytes through one tanh layer of 192 units and gets a
fixed budget of 1.6M training windows. Half the embedding inputs then carry bytes that
are weakly predictive at this model size, and the first layer has twice the weights to
fit. A shorter context is a cheap, well-aimed test of whether the budget, not the
context, is what limits the model. Risk: too short a context loses real signal.
Novelty: 5/10
Impact: 7/10
Feasibility: 10/10
Rating: 8/10
""",
    OTHER: """More capacity rarely helps a model that has not converged within its budget: the
same number of windows now trains twice the weights, and each step costs twice the
time, closer to the evaluation's time limit. Worth a run only after the cheaper ideas.
Novelty: 3/10
Impact: 4/10
Feasibility: 8/10
Rating: 5/10
""",
}
INFERENCE = (
    "Fewer context bytes let the fixed budget of training windows fit the weights that\n"
    "matter: at this model size the budget, not the context, limits the model. The next\n"
    "thing to try is a longer budget per byte of context (e.g. a smaller embedding), and\n"
    "whether the gain survives a larger training budget."
)


class Demo:
    def __init__(self, root: Path, scratch: Path):
        self.root = root
        self.scratch = scratch  # files the demo needs outside the repository
        self.started = time.perf_counter()
        self.env = dict(os.environ)
        for name in ("NAME", "EMAIL"):
            value = "harness demo" if name == "NAME" else "demo@localhost"
            self.env.setdefault(f"GIT_AUTHOR_{name}", value)
            self.env.setdefault(f"GIT_COMMITTER_{name}", value)
        self.env["HARNESS_QUEUE"] = "local"  # the embedded queue, whatever else is installed
        self.env.pop("META_MODE", None)
        bin_dir = str(Path(sys.executable).parent)  # harness and just of this environment
        self.env["PATH"] = bin_dir + os.pathsep + self.env.get("PATH", "")

    @property
    def worktree(self) -> Path:
        return self.root / "5_worktrees" / SLUG

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def step(self, title: str) -> None:
        print(f"\n== [{self.elapsed():6.1f}s] {title}", flush=True)

    def run(
        self,
        *args: str,
        cwd: Path | None = None,
        check: bool = True,
        capture: bool = False,
        env: dict[str, str] | None = None,
    ) -> str:
        """Run `harness ARGS` (or git/just ARGS) and echo it; returns stdout when captured."""
        if args[0] in ("just", "git"):
            argv, shown = list(args), list(args)
        else:
            argv, shown = [sys.executable, "-m", "harness", *args], ["harness", *args]
        where = cwd or self.root
        inside = where != self.root and where.is_relative_to(self.root)
        prefix = f"({where.relative_to(self.root)}) " if inside else ""
        print(f"$ {prefix}{shlex.join(shown)}", flush=True)
        proc = subprocess.run(
            argv,
            cwd=where,
            env={**self.env, **(env or {})},
            check=False,
            stdout=subprocess.PIPE if capture else None,
            text=True,
        )
        if capture:
            print(proc.stdout, end="", flush=True)
        if check and proc.returncode != 0:
            raise SystemExit(
                f"demo: step failed with exit code {proc.returncode}: {shlex.join(shown)}"
            )
        return proc.stdout or ""


def run_demo(root: Path, scratch: Path) -> None:
    demo = Demo(root, scratch)
    set_up(demo)
    ideate(demo)
    implement(demo)
    test(demo)
    report = report_and_submit(demo)
    finish(demo, report)


def set_up(demo: Demo) -> None:
    demo.step(f"create a research repository with the bundled example in {demo.root}")
    demo.run("init", "--example", str(demo.root), cwd=demo.root.parent)
    demo.step("the human sets the program: 2 ideas are enough for this demo (a META_MODE commit)")
    pyproject = demo.root / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    pyproject.write_text(re.sub(r"(?m)^ideas_target = \d+", "ideas_target = 2", text))
    demo.run("git", "commit", "--quiet", "-am", "Demo: ideas_target = 2", env={"META_MODE": "1"})
    demo.run("doctor")
    demo.step("smoke-test the research code")
    demo.run("just", "smoke")
    demo.step("measure the noise: the evaluation over 2 seeds, then seed 0 again (recorded)")
    demo.run("just", "baseline", "--seeds", "2")
    demo.run("results", "best")


def ideate(demo: Demo) -> None:
    demo.step("two ideas, each critiqued")
    demo.run(
        "idea", "new", SLUG,
        "--title", "Read only the 4 most recent bytes",
        "--hypothesis", "With a fixed budget of training windows, a shorter context fits "
        "better: fewer first-layer weights to learn from the same data.",
    )  # fmt: skip
    demo.run(
        "idea", "new", OTHER,
        "--title", "A wider hidden layer (384 units)",
        "--hypothesis", "More capacity lowers val_bpb.",
    )  # fmt: skip
    for slug, text in CRITIQUES.items():
        path = demo.scratch / f"critique-{slug}.md"
        path.write_text(text, encoding="utf-8")
        demo.run("idea", "critique", slug, "--file", str(path))
    demo.run("idea", "list")
    demo.step("ask the loop what to do next")
    demo.run("next")


def implement(demo: Demo) -> None:
    demo.step(f"implement {SLUG} in its own worktree: a real change to train.py")
    demo.run("implement", SLUG)
    train = demo.worktree / "train.py"
    text = train.read_text(encoding="utf-8")
    train.write_text(re.sub(r"(?m)^CONTEXT_USED = \d+", "CONTEXT_USED = 4", text))
    demo.run("git", "diff", "--stat", cwd=demo.worktree)
    demo.run("git", "diff", "-U0", cwd=demo.worktree)
    demo.run(
        "git", "commit", "--quiet", "-am", "Read only the 4 most recent bytes", cwd=demo.worktree
    )
    demo.run("just", "smoke", cwd=demo.worktree)


def test(demo: Demo) -> None:
    demo.step("queue its evaluation over 3 seeds, labelled with the question and hypothesis")
    ids = demo.run(
        "queue", "add", "--seeds", "3",
        "-q", "does reading only the 4 most recent bytes lower val_bpb?",
        "-H", "expect about -0.03 val_bpb: fewer weights to fit in the same budget",
        "--expected", "-0.03",
        "--", "just", "eval",
        cwd=demo.worktree, capture=True,
    ).split()  # fmt: skip
    demo.run("queue", "status")
    demo.step("wait for each run as it finishes (each is recorded in results.tsv)")
    for task in ids:
        demo.run("queue", "wait", task)
    demo.run("results", "--idea", SLUG)
    demo.run("next")


def report_and_submit(demo: Demo) -> Path:
    demo.step(f"report {SLUG}: runs, mean and spread, verdict against the noise, plot")
    demo.run("report", SLUG)
    report = next((demo.root / "9_reports").glob(f"*_{SLUG}.md"))
    demo.step("the researcher writes the Inferences section of the report")
    write_inference(report)
    print(f"(wrote the Inferences section of {report.relative_to(demo.root)})")
    demo.step("submit it: guard, integrity, push to a local bare remote, held-out confirmation")
    origin = demo.root / ".git" / "demo-origin.git"  # kept with the repository (--keep)
    demo.run("git", "init", "--quiet", "--bare", str(origin))
    demo.run("git", "remote", "add", "origin", str(origin))
    demo.run("submit", SLUG, "--wait")
    demo.run("git", "--git-dir", str(origin), "branch", "--list")
    return report


def write_inference(report: Path) -> None:
    from harness.loop.inferences import PLACEHOLDER

    text = report.read_text(encoding="utf-8")
    report.write_text(text.replace(PLACEHOLDER, INFERENCE), encoding="utf-8")


def finish(demo: Demo, report: Path) -> None:
    demo.step("commit the record on main (results, journal, ideas, reports)")
    demo.run("results", "commit")
    demo.run("git", "log", "--oneline", "-3")
    demo.step("where the loop stands")
    demo.run("status")
    print(f"\nreport: {report}")
    print(f"plot:   {report.with_suffix('.svg')}")
    demo.step("the leaderboard: every run")
    demo.run("results")
    demo.step("the dashboard: the research at a glance, as one offline page")
    demo.run("dashboard")
    print(f"(serve it with: cd {demo.root} && harness dashboard --serve)")
    demo.step(f"done in {demo.elapsed():.1f}s; the repository is {demo.root}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--keep", type=Path, help="build the demo repository here and keep it")
    parser.add_argument(
        "--trunk",
        action="store_true",
        help='the trunk demo (`just demo-trunk`): advance = "trunk", two stacked winners',
    )
    args = parser.parse_args(argv)
    if args.trunk:
        from harness.demo.trunk import run_trunk_demo as run
    else:
        run = run_demo
    with tempfile.TemporaryDirectory(prefix="harness-demo-") as scratch:
        if args.keep:
            if args.keep.exists() and any(args.keep.iterdir()):
                print(f"demo: {args.keep} is not empty: give a new directory", file=sys.stderr)
                return 2
            run(args.keep.resolve(), Path(scratch))
            return 0
        # kept, so that the report, its plot and the dashboard can be opened afterwards
        root = Path(tempfile.mkdtemp(prefix="harness-demo-")) / "research"
        run(root, Path(scratch))
        print(f"(the demo repository stays in {root}; remove it with rm -rf {root.parent})")
    return 0
