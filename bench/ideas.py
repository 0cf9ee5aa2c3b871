"""The cost of `harness idea list` and `harness status` on a repository with many ideas.

A research repository (`harness init --example`) gets 1,000 idea files (rendered from its
template, in every status, most of them critiqued) and 5 worktrees. Each command runs as
a real process, as an agent calls it; `git status` on the same repository is the yardstick.
Prints the median times and the ratios (goal: `harness status` under 0.5 s, "met" or
"MISSED"; exits 1 when missed).

    python bench/ideas.py [--ideas 1000] [--worktrees 5] [--rounds 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from harness.fileio import render_template
from harness.loop.ideas import STATUSES
from harness.scaffold import init_research_repo

GOAL_STATUS_S = 0.5
IDENTITY = ("-c", "user.name=bench", "-c", "user.email=bench@localhost")
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *IDENTITY, *args], cwd=repo, check=True, capture_output=True, env=ENV)


def write_ideas(root: Path, count: int) -> None:
    template = (root / "1_ideas" / "_TEMPLATE.md").read_text()
    start = date(2024, 1, 1)
    for index in range(count):
        slug = f"idea-{index:04d}"
        created = (start + timedelta(days=index // 20)).isoformat()
        context = {"slug": slug, "title": f"Idea number {index}", "created": created}
        text = render_template(template, context | {"hypothesis": f"It helps by {index}."})
        status = STATUSES[index % len(STATUSES)]
        text = text.replace("status: proposed", f"status: {status}", 1)
        if index % 3:
            text = text.replace("rating: null", f"rating: {index % 10}", 1)
        (root / "1_ideas" / f"{created}_{slug}.md").write_text(text)


def build(root: Path, *, ideas: int, worktrees: int) -> None:
    init_research_repo(root, example=True)
    write_ideas(root, ideas)
    git(root, "add", "1_ideas")
    git(root, "commit", "--quiet", "--no-verify", "-m", "many ideas")
    for index in range(worktrees):
        slug = f"idea-{index:04d}"
        git(root, "worktree", "add", "--quiet", "-b", f"exp/{slug}", f"5_worktrees/{slug}")


def timed(root: Path, argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=root, check=True, capture_output=True, env=ENV)
    return time.perf_counter() - start


def median_time(root: Path, argv: list[str], rounds: int) -> float:
    timed(root, argv)  # warm the caches, not counted
    return statistics.median(timed(root, argv) for _ in range(rounds))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ideas", type=int, default=1000)
    parser.add_argument("--worktrees", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=7)
    options = parser.parse_args()
    harness = [sys.executable, "-m", "harness"]
    with tempfile.TemporaryDirectory(prefix="bench-ideas-") as tmp:
        root = Path(tmp) / "research"
        build(root, ideas=options.ideas, worktrees=options.worktrees)
        times = {
            "git status": median_time(root, ["git", "status"], options.rounds),
            "harness idea list": median_time(root, [*harness, "idea", "list"], options.rounds),
            "harness status": median_time(root, [*harness, "status"], options.rounds),
        }
    base = times["git status"]
    print(f"ideas: {options.ideas} ideas, {options.worktrees} worktrees, {options.rounds} rounds")
    for name, seconds in times.items():
        print(f"  {name:<18} {seconds * 1000:7.1f} ms   {seconds / base:6.1f} x git status")
    met = times["harness status"] < GOAL_STATUS_S
    print(f"  goal: harness status under {GOAL_STATUS_S * 1000:g} ms: {'met' if met else 'MISSED'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
