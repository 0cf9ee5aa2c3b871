"""`just demo-trunk`: the ratchet unattended, two stacked winners advancing the research trunk.

The bundled example with `advance = "trunk"` and, so that the demo takes a minute and its
winners are known, a stand-in evaluation of known truth: the metric is 2.0 plus the
effect files in `effects/` plus noise drawn from a hash of the code and the seed. The
first idea adds an effect of -0.03: it is measured, confirmed on held-out data and merged
into `research/trunk` by `harness submit`. The second idea then branches from the trunk,
which already holds the first, adds -0.02, and is judged against the trunk's head (the
first winner's runs: nothing is run again for the new head). It advances the trunk
again, and the one pull request trunk -> main lists the chain of the two, in order.
"""

from __future__ import annotations

import re
from pathlib import Path

from harness.demo import Demo

TRUNK = "research/trunk"
SIGMA = 0.003
TRUTH_EVAL = f'''"""An evaluation of known truth: 2.0, the effect files, noise(code, seed)."""
import argparse
import hashlib
import pathlib
import random

parser = argparse.ArgumentParser()
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--split", default="val")
parser.add_argument("--smoke", action="store_true")
args = parser.parse_args()
files = sorted(pathlib.Path("effects").glob("*.txt"))
code = b"".join(path.name.encode() + b"\\0" + path.read_bytes() for path in files)
effect = sum(float(path.read_text()) for path in files)
digest = hashlib.sha256(code + f"{{args.split}}:{{args.seed}}".encode()).digest()
value = 2.0 + effect + random.Random(digest).gauss(0.0, {SIGMA!r})
value += 0.1 if args.split == "test" else 0.0
print("---")
print(f"{{args.split}}_bpb: {{value!r}}")
'''
WINNERS = (  # slug, effect, title
    ("shorter-context", -0.03, "Read only the 4 most recent bytes"),
    ("warmup", -0.02, "Warm the learning rate up over the first 5% of steps"),
)


def run_trunk_demo(root: Path, scratch: Path) -> None:
    demo = Demo(root, scratch)
    set_up(demo)
    for number, (slug, effect, title) in enumerate(WINNERS, start=1):
        win(demo, number, slug, effect, title)
    finish(demo)


def set_up(demo: Demo) -> None:
    demo.step(f"a research repository with the bundled example in {demo.root}")
    demo.run("init", "--example", str(demo.root), cwd=demo.root.parent)
    demo.step(
        'the human sets the program (a META_MODE commit): advance = "trunk", and an '
        "evaluation of known truth so that the winners are known"
    )
    pyproject = demo.root / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    for key, value in (
        ("eval", '"python truth_eval.py"'),
        ("smoke", '"python truth_eval.py --smoke"'),
        ("confirm", '"python truth_eval.py --split test"'),
        ("min_effect", "0.01"),
        ("ideas_target", "2"),
        ("advance", '"trunk"'),
    ):
        text = re.sub(rf'(?m)^{key} = ("[^"]*"|\S+)', f"{key} = {value}", text)
    pyproject.write_text(text, encoding="utf-8")
    (demo.root / "truth_eval.py").write_text(TRUTH_EVAL, encoding="utf-8")
    (demo.root / "effects").mkdir()
    (demo.root / "effects" / "README").write_text("one file per idea: its effect\n")
    demo.run("git", "add", "pyproject.toml", "truth_eval.py", "effects")
    demo.run(
        "git", "commit", "--quiet", "-m", 'Demo: advance = "trunk", an evaluation of known truth',
        env={"META_MODE": "1"},
    )  # fmt: skip
    demo.step("measure the head (main; the trunk is created from it on first use): 3 seeds")
    demo.run("baseline", "--seeds", "3")


def win(demo: Demo, number: int, slug: str, effect: float, title: str) -> None:
    where = "main's head" if number == 1 else "the trunk, which already holds the first winner"
    demo.step(f"idea {number}, {slug}: branched from {where}")
    demo.run(
        "idea", "new", slug, "--title", title, "--expected", f"{effect:+g} val_bpb",
        "--hypothesis", f"its change lowers val_bpb by {-effect:g}",
    )  # fmt: skip
    demo.run("worktree", "create", slug)
    worktree = demo.root / "5_worktrees" / slug
    demo.run("git", "log", "--oneline", "--first-parent", "-3", cwd=worktree)
    (worktree / "effects" / f"{slug}.txt").write_text(f"{effect!r}\n", encoding="utf-8")
    demo.run("git", "add", "effects", cwd=worktree)
    demo.run("git", "commit", "--quiet", "-m", f"{slug}: {title}", cwd=worktree)
    demo.run("smoke", cwd=worktree)
    demo.run(
        "queue", "add", "--seeds", "3", "-q", f"does {title.lower()} help?",
        "--expected", f"{effect:+g}", "--", "harness", "eval", cwd=worktree,
    )  # fmt: skip
    demo.run("queue", "wait")
    demo.step(f"report {slug}, its Inferences, and submit it: confirmed, merged into the trunk")
    inferences = demo.scratch / f"inferences-{slug}.md"
    inferences.write_text(
        f"The effect file of {slug} is what the evaluation adds up: the gain is the one "
        "put in, and it holds on held-out data.\n",
        encoding="utf-8",
    )
    demo.run("report", slug, "--inferences", str(inferences))
    demo.run("submit", slug, "--wait")
    demo.run("git", "log", "--oneline", "--first-parent", TRUNK)


def finish(demo: Demo) -> None:
    demo.step("commit the record on main; main itself is the human's (one pull request)")
    demo.run("results", "commit")
    demo.step("the head of the line and its chain of accepted changes")
    demo.run("results", "best")
    demo.step("the one pull request trunk -> main: the chain, in order")
    print((demo.root / "9_reports" / "trunk_pr.md").read_text(encoding="utf-8"), end="")
    demo.step("the briefing an agent reads after losing its context")
    demo.run("brief")
    demo.run("dashboard")
    demo.step(f"done in {demo.elapsed():.1f}s; the repository is {demo.root}")
