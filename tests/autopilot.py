"""A scripted agent that knows nothing of the loop but `harness next --json`.

It writes what `needs` asks for from fixed templates (an idea, a critique, the
Inferences), implements an idea by adding the idea's effect file to its worktree, and
runs every command of `commands` as given, from the repository root, in a real shell.
It never calls the harness any other way, so every step it takes is a step `next` gave.

The research problem is a fake evaluation of known truth (`FAKE_EVAL`): the metric is
2.0 plus the sum of the effect files in `effects/` plus noise drawn from a hash of the
code (the effect files and `train.py`) and the seed, so the same code and seed give the
same number, and each idea's true effect is the number in the file it adds.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness.cli import main
from tests.conftest import commit_files

SIGMA = 0.002  # the noise of one run
MIN_EFFECT = 0.004
REAL_EFFECT = -3 * SIGMA  # lower is better: a real idea lowers val_bpb by 3 sigma

FAKE_EVAL = f'''"""A fake evaluation of known truth: 2.0 + the effect files + noise(code, seed)."""
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
effect = sum(float(path.read_text()) for path in files)
code = hashlib.sha256()
for path in [pathlib.Path("train.py"), *files]:
    code.update(path.name.encode() + b"\\0" + path.read_bytes())
key = f"{{code.hexdigest()}} {{args.seed}} {{args.split}}"
noise = random.Random(key).gauss(0.0, {SIGMA!r})
value = 2.0 + effect + noise + (0.1 if args.split == "test" else 0.0)
print("---")
print(f"{{args.split}}_bpb: {{value!r}}")
'''


@dataclass(frozen=True)
class Plan:
    """An idea the agent will propose: its slug, and the true effect of its change."""

    slug: str
    effect: float

    @property
    def is_real(self) -> bool:
        return self.effect != 0.0


def plans(count: int = 12, real: tuple[int, ...] = (1, 5, 9)) -> list[Plan]:
    return [
        Plan(f"idea-{number:02d}", REAL_EFFECT if number in real else 0.0)
        for number in range(count)
    ]


def fake_research_repo(
    root: Path,
    *,
    ideas_target: int,
    advance: str = "review",
    seeds: int = 3,
    min_effect: float = MIN_EFFECT,
) -> Path:
    """Give the example repository `root` the fake evaluation and the agent's settings."""
    pyproject = root / "pyproject.toml"
    text = pyproject.read_text()
    settings = {
        "eval": '"python fake_eval.py"',
        "smoke": '"python fake_eval.py --smoke"',
        "confirm": '"python fake_eval.py --split test"',
        "min_effect": repr(min_effect),
        "seeds": str(seeds),
        "ideas_target": str(ideas_target),
        "queue": '"local"',
        "advance": f'"{advance}"',
    }
    for key, value in settings.items():
        text, found = re.subn(rf"(?m)^{key} = [^#\n]*", f"{key} = {value}  ", text)
        assert found == 1, f"the example's pyproject.toml has no single {key} line"
    files = {"fake_eval.py": FAKE_EVAL, "pyproject.toml": text, "effects/.keep": ""}
    commit_files(root, files, "the autopilot's fake evaluation", meta=True)
    return root


@dataclass
class Step:
    action: str
    slug: str | None
    command: str
    code: int
    output: str
    seconds: float = 0.0


@dataclass
class Autopilot:
    root: Path
    plans: list[Plan]
    steps: list[Step] = field(default_factory=list)
    actions: list[dict] = field(default_factory=list)
    written: int = 0  # ideas proposed so far
    next_seconds: float = 0.0  # time spent in `harness next`

    def next(self, capsys) -> dict:
        """`harness next --json`, called in-process (as fast as the agent's own loop)."""
        previous = Path.cwd()
        started = time.monotonic()
        os.chdir(self.root)
        try:
            capsys.readouterr()
            code = main(["next", "--json"])
            captured = capsys.readouterr()
        finally:
            os.chdir(previous)
            self.next_seconds += time.monotonic() - started
        assert code == 0, f"`harness next --json` failed: {captured.err}"
        if os.environ.get("AUTOPILOT_TRACE"):  # to follow a run: AUTOPILOT_TRACE=1 pytest -s
            with capsys.disabled():
                print(captured.out.replace("\n", " ")[:400], flush=True)
        return json.loads(captured.out)

    def run(self, capsys, *, max_steps: int = 400) -> str:
        """Follow `next` until the budget of ideas is spent (or it says stop); why it ended."""
        for _ in range(max_steps):
            action = self.next(capsys)
            self.actions.append(action)
            if action["action"] == "stop":
                return "stop"
            if action["action"] == "ideate" and self.written >= len(self.plans):
                return "budget"
            for need in action["needs"]:
                self.write(need, action)
            for command in action["commands"]:
                self.shell(action, command)
        return "max_steps"

    # -- what the agent writes -------------------------------------------------------------

    def write(self, need: dict, action: dict) -> None:
        if need["name"] == "idea":
            plan = self.plans[self.written]
            self.written += 1
            Path(need["file"]).write_text(idea_draft(plan))
        elif need["name"] == "critique":
            rating = 5 + sum(map(ord, action["slug"])) % 5  # some order, not the truth
            Path(need["file"]).write_text(f"Plausible, untested.\nRating: {rating}/10\n")
        elif need["name"] == "inferences":
            Path(need["file"]).write_text("The effect is what the numbers say; nothing more.\n")
        elif need["name"] == "change":
            plan = next(p for p in self.plans if p.slug == action["slug"])
            effects = Path(need["where"]) / "effects"
            effects.mkdir(exist_ok=True)
            (effects / f"{plan.slug}.txt").write_text(f"{plan.effect!r}\n")
        else:
            raise AssertionError(f"the autopilot cannot write {need['name']!r}: {need}")

    def shell(self, action: dict, command: str) -> None:
        env = dict(os.environ)
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        started = time.monotonic()
        proc = subprocess.run(
            ["bash", "-c", command],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        took = time.monotonic() - started
        step = Step(action["action"], action["slug"], command, proc.returncode, proc.stdout, took)
        self.steps.append(step)
        assert proc.returncode == 0, (
            f"`{command}` ({action['action']} {action['slug']}) failed with exit code "
            f"{proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        )

    def commands_of(self, word: str) -> list[Step]:
        return [step for step in self.steps if f"harness {word}" in step.command]


def idea_draft(plan: Plan) -> str:
    return (
        f"# Change number {plan.slug.split('-')[1]}\n"
        f"slug: {plan.slug}\n\n"
        "## Hypothesis\n\n"
        f"Adding effects/{plan.slug}.txt lowers val_bpb.\n\n"
        "## Mechanism\n\nIt is what the fake evaluation adds up.\n\n"
        f"## Expected effect\n\n{REAL_EFFECT:+g} val_bpb\n\n"
        "## Plan\n\n- add the effect file\n"
    )


def quoted_slug(command: str) -> str | None:
    """The idea a `cd 5_worktrees/SLUG && ...` command runs in, if any."""
    match = re.match(r"cd (\S+) && ", command)
    if not match:
        return None
    return Path(shlex.split(match.group(1))[0]).name
