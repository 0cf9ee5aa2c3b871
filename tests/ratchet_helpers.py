"""A research repository whose truth is known, for the ratchet's tests.

Each idea's effect is a file it adds, `effects/<slug>.txt`, holding the effect on the
validation metric (and optionally a second number, its effect on the held-out split;
the same as the first when absent). Effects add up. The noise of a run is drawn from a
hash of the code (every file of `effects/` and `lib.txt`) and the seed, so the same code
and seed always give the same number and a different code gives fresh noise.
"""

from __future__ import annotations

import re
from pathlib import Path

from harness.config import load_config
from harness.layout import find_layout
from harness.loop.state import Action, build_state, next_action
from tests.conftest import commit_files, git

SIGMA = 0.005
TRUTH_EVAL = '''"""Stand-in evaluation of known truth: 2.0, the effects in effects/, noise."""
import argparse
import hashlib
import pathlib
import random

parser = argparse.ArgumentParser()
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--split", default="val")
parser.add_argument("--smoke", action="store_true")
args = parser.parse_args()
files = sorted(pathlib.Path("effects").glob("*.txt")) + [pathlib.Path("lib.txt")]
code = b"".join(p.name.encode() + b"\\0" + p.read_bytes() for p in files)
value = 2.0
for path in files[:-1]:
    numbers = [float(n) for n in path.read_text().split()]
    value += numbers[-1] if args.split == "test" else numbers[0]
digest = hashlib.sha256(code + f"{args.split}:{args.seed}".encode()).digest()
value += SIGMA * random.Random(digest).gauss(0.0, 1.0)
if args.split == "test":
    value += 0.1
print("---")
print(f"{args.split}_bpb: {value!r}")
'''.replace("SIGMA", repr(SIGMA))


def truth_repo(root: Path, *, advance: str = "review") -> Path:
    """The example repository `root` with the evaluation of known truth (as the human)."""
    pyproject = root / "pyproject.toml"
    text = pyproject.read_text()
    for key, value in (
        ("eval", '"python truth_eval.py"'),
        ("smoke", '"python truth_eval.py --smoke"'),
        ("confirm", '"python truth_eval.py --split test"'),
        ("min_effect", "0.01"),
        ("advance", f'"{advance}"'),
    ):
        text = re.sub(rf'(?m)^{key} = ("[^"]*"|\S+)', f"{key} = {value}", text)
    files = {
        "truth_eval.py": TRUTH_EVAL,
        "lib.txt": "shared code\n",
        "effects/README": "one file per idea\n",
        "pyproject.toml": text,
    }
    commit_files(root, files, "an evaluation of known truth", meta=True)
    return root


def idea_with_effect(
    cli, root: Path, slug: str, effect: str, *, stacked_on: str | None = None
) -> Path:
    """A new idea whose change is `effects/<slug>.txt` holding `effect`, committed."""
    assert (
        cli("idea", "new", slug, "--title", f"{slug} changes the level by {effect}", cwd=root).code
        == 0
    )
    args = ["worktree", "create", slug] + (["--from", stacked_on] if stacked_on else [])
    result = cli(*args, cwd=root)
    assert result.code == 0, result.err
    worktree = root / "5_worktrees" / slug
    commit_files(worktree, {f"effects/{slug}.txt": f"{effect}\n"}, f"{slug}: effect {effect}")
    return worktree


def evaluate_seeds(cli, worktree: Path, seeds: int = 3) -> None:
    for seed in range(seeds):
        result = cli("eval", "--seed", str(seed), "-q", "does it help?", cwd=worktree)
        assert result.code == 0, result.err


def merge_into_main(root: Path, branch: str, *, no_ff: bool = True) -> None:
    """What the human does with a winner's pull request."""
    flags = ["--no-ff", "-m", f"Merge {branch}"] if no_ff else ["--ff-only"]
    git(root, "merge", "--quiet", *flags, branch, env={"META_MODE": "1"})


def next_of(root: Path) -> Action:
    """What `harness next` would do in the repository at `root`."""
    layout = find_layout(root)
    config = load_config(layout.root)
    return next_action(build_state(layout, config), config)
