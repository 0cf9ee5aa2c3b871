"""One held-out confirmation run, as a queue task: `python -m harness.runs.confirm_task ...`.

`harness submit` queues one such task per side and seed when a winner's confirmation is
missing; each runs the confirm command at its target's commit in a throwaway worktree and
records a `confirm` row (harness.runs.confirm.run_target), which the next `harness submit`
reads to take the decision. It exits 0 when the run gave its held-out metric.
"""

from __future__ import annotations

import argparse
import sys

from harness.config import Config, load_config
from harness.layout import Layout, find_layout
from harness.runs.confirm import STATUS, Target, run_target

LABEL = "confirm {slug}: "  # how the queue labels a confirmation task of idea `slug`


def target(text: str) -> Target:
    """`label:branch:commit` -> a Target (the branch may hold slashes, not colons)."""
    label, branch, commit = text.split(":")
    return Target(label, branch, commit)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """The task's arguments (the referee reads a queued confirmation's with this too)."""
    parser = argparse.ArgumentParser(prog="python -m harness.runs.confirm_task")
    parser.add_argument("--run", type=target, required=True, help="label:branch:commit to run")
    parser.add_argument("--candidate", type=target, required=True)
    parser.add_argument("--reference", type=target, required=True)
    parser.add_argument("--seed", type=int, required=True)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    layout = find_layout()
    return run_parsed(layout, load_config(layout.root), parse(argv))


def run_parsed(layout: Layout, config: Config, args: argparse.Namespace, *, who: str = "") -> int:
    """Run the one confirmation `args` name, print its value; 0 when it gave one.
    `who` prefixes the line (the referee runs queued confirmations through this too)."""
    (row,) = run_target(
        layout,
        config,
        args.run,
        (args.seed,),
        against=(args.candidate, args.reference),
        sinks=(sys.stdout, sys.stderr),
    )
    print(f"{who}held-out {row['metric']} of {args.run.label} seed {args.seed}: {row['value']}")
    return 0 if row["status"] == STATUS else 1


if __name__ == "__main__":
    sys.exit(main())
