"""The cost of a run's code identity against `git rev-parse HEAD^{tree}`.

A research repository (`harness init --example`) gets 10,000 more tracked files in 100
folders, and its record folders some files too. Then the code (the tree id without the
record paths) is computed in-process, as `harness eval` does, against one
`git rev-parse HEAD^{tree}` process. Prints both medians and their ratio (goal: under
20 ms). A second line shows the worst case, a record glob (`**/*.tsv`) that reaches into
every folder, so the whole tree is listed (in one `git ls-tree -r`).

    python bench/code.py [--files 10000] [--rounds 30]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.config import load_config
from harness.record.code import code_of, record_paths
from harness.scaffold import init_research_repo

IDENTITY = ("-c", "user.name=bench", "-c", "user.email=bench@localhost", "-c", "gc.auto=0")


def build(root: Path, *, files: int) -> None:
    init_research_repo(root, example=True)
    for index in range(files):
        path = root / f"src/pkg{index // 100:03d}/module_{index:05d}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"VALUE = {index}\n")
    for index in range(100):
        (root / "1_ideas" / f"2026-01-01_idea-{index}.md").write_text(f"idea {index}\n")
    subprocess.run(["git", "add", "."], cwd=root, check=True)
    commit = ["git", *IDENTITY, "commit", "--quiet", "--no-verify", "-m", "many files"]
    subprocess.run(commit, cwd=root, check=True)


def median_ms(action, rounds: int) -> float:
    action()  # warm the caches
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=30)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-code-", ignore_cleanup_errors=True) as tmp:
        root = Path(tmp) / "research"
        build(root, files=options.files)
        record = record_paths(load_config(root))
        tree = ["git", "rev-parse", "HEAD^{tree}"]
        raw = median_ms(lambda: subprocess.run(tree, cwd=root, capture_output=True), options.rounds)
        ours = median_ms(lambda: code_of(root, "HEAD", record=record), options.rounds)
        print(
            f"code: {options.files} files, {options.rounds} rounds: code identity {ours:.1f} ms, "
            f"git rev-parse HEAD^{{tree}} {raw:.1f} ms, ratio {ours / raw:.2f} (goal < 20 ms)"
        )
        wide = (*record, "**/*.tsv")
        worst = median_ms(lambda: code_of(root, "HEAD", record=wide), max(5, options.rounds // 5))
        print(f"code: worst case (a record glob reaching into every folder): {worst:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
