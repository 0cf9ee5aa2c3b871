"""`just demo`: the research loop on the bundled example, in a fresh temporary repository.

Each step runs the real `harness` command line in a subprocess, exactly as an agent
would, and prints what it runs. Nothing here touches the repository the demo is started
from. `--keep DIR` keeps the demo repository in DIR for a look afterwards.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


class Demo:
    def __init__(self, root: Path):
        self.root = root
        self.started = time.perf_counter()
        self.env = dict(os.environ)
        self.env.setdefault("GIT_AUTHOR_NAME", "harness demo")
        self.env.setdefault("GIT_AUTHOR_EMAIL", "demo@localhost")
        self.env.setdefault("GIT_COMMITTER_NAME", "harness demo")
        self.env.setdefault("GIT_COMMITTER_EMAIL", "demo@localhost")

    def step(self, title: str) -> None:
        print(f"\n== [{time.perf_counter() - self.started:6.1f}s] {title}", flush=True)

    def run(self, *args: str, cwd: Path | None = None, check: bool = True) -> int:
        argv = [sys.executable, "-m", "harness", *args] if args[0] != "just" else list(args)
        print(f"$ {shlex.join(['harness', *args] if args[0] != 'just' else args)}", flush=True)
        code = subprocess.run(argv, cwd=cwd or self.root, env=self.env, check=False).returncode
        if check and code != 0:
            raise SystemExit(f"demo: step failed with exit code {code}: {' '.join(args)}")
        return code


def run_demo(root: Path) -> None:
    demo = Demo(root)
    demo.step(f"create a research repository with the bundled example in {root}")
    demo.run("init", "--example", str(root), cwd=root.parent)
    demo.step("check it")
    demo.run("doctor")
    demo.step("smoke-test the research code")
    demo.run("just", "smoke")
    demo.step("measure the noise: the evaluation over 2 seeds, then seed 0 again (recorded)")
    demo.run("just", "baseline", "--seeds", "2")
    demo.step("read the record")
    demo.run("results")
    demo.run("results", "best")
    demo.run(
        "journal",
        "add",
        "--observation",
        "the baseline's spread over seeds is below min_effect, and seed 0 repeats exactly",
        "--inference",
        "one run per seed can detect an effect of min_effect; ready for ideas",
    )
    demo.step(f"done in {time.perf_counter() - demo.started:.1f}s; the repository is {root}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="build the demo repository here and keep it")
    args = parser.parse_args(argv)
    if args.keep:
        if args.keep.exists() and any(args.keep.iterdir()):
            print(f"demo: {args.keep} is not empty: give a new directory", file=sys.stderr)
            return 2
        run_demo(args.keep.resolve())
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="harness-demo-"))
    try:
        run_demo(workdir / "research")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
