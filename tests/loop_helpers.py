"""A research repository whose evaluation takes milliseconds, for the end of the loop.

`fast_repo` commits (as the human, in META_MODE) a tiny evaluation script in place of the
example's 13-second one: its value is the number in `level.txt` plus a fixed offset per
seed, and `--split test` (the held-out confirmation) adds 0.1 plus an optional second
number in `level.txt`, so a test can make an idea win on validation and lose on the
held-out split. `level.txt` holding `crash` makes it exit with an error. Everything else
is real: git, worktrees, the guard, results.tsv, the journal.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import commit_files, git

FAKE_EVAL = '''"""Stand-in evaluation: level.txt's number plus a fixed offset per seed."""
import argparse
import pathlib
import sys

parser = argparse.ArgumentParser()
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--split", default="val")
parser.add_argument("--smoke", action="store_true")
args = parser.parse_args()
level = pathlib.Path("level.txt").read_text().split()
if level[0] == "crash":
    sys.exit("fake_eval: asked to crash")
value = float(level[0]) + (0.002, 0.0, -0.002, 0.001)[args.seed % 4]
if args.split == "test":
    value += 0.1 + (float(level[1]) if len(level) > 1 else 0.0)
print("---")
print(f"{args.split}_bpb: {value!r}")
'''

SEED_OFFSETS = (0.002, 0.0, -0.002, 0.001)


def fast_repo(root: Path) -> Path:
    """Turn the example repository `root` into one with the fast evaluation."""
    pyproject = root / "pyproject.toml"
    text = pyproject.read_text()
    for key, command in (
        ("eval", "python fake_eval.py"),
        ("smoke", "python fake_eval.py --smoke"),
        ("confirm", "python fake_eval.py --split test"),
    ):
        text = re.sub(rf'(?m)^{key} = "[^"]*"', f'{key} = "{command}"', text)
    files = {"fake_eval.py": FAKE_EVAL, "level.txt": "2.0\n", "pyproject.toml": text}
    commit_files(root, files, "a fast evaluation for the tests", meta=True)
    return root


def run_baseline(cli, root: Path, seeds: int = 3) -> None:
    result = cli("baseline", "--seeds", str(seeds), cwd=root)
    assert result.code == 0, result.out + result.err


def start_idea(cli, root: Path, slug: str, level: str) -> Path:
    """A new idea with its worktree, where `level.txt` says `level`, committed."""
    assert cli("idea", "new", slug, "--title", f"level {level}", cwd=root).code == 0
    assert cli("worktree", "create", slug, cwd=root).code == 0
    worktree = root / "5_worktrees" / slug
    commit_files(worktree, {"level.txt": f"{level}\n"}, f"level {level}")
    return worktree


def evaluate(
    cli,
    worktree: Path,
    seeds: int = 3,
    *,
    expected: str = "-0.05",
    code: int = 0,
    dirty: bool = False,
) -> None:
    """`harness eval` over seeds 0..seeds-1; each must exit with `code` (0: an ok run);
    `dirty`: with --allow-dirty."""
    for seed in range(seeds):
        result = cli(
            "eval",
            *(["--allow-dirty"] if dirty else []),
            "--seed",
            str(seed),
            "-q",
            "does the level matter?",
            "-H",
            "a lower level lowers val_bpb",
            "-e",
            expected,
            cwd=worktree,
        )
        assert result.code == code, f"seed {seed}: exit {result.code}: {result.err}"


def bare_origin(root: Path, where: Path) -> Path:
    """A local bare repository, added to `root` as its remote `origin`."""
    origin = where / "origin.git"
    git(where, "init", "--quiet", "--bare", str(origin))
    git(root, "remote", "add", "origin", str(origin))
    return origin


def report_of(root: Path, slug: str) -> Path:
    (path,) = [p for p in (root / "9_reports").glob(f"*_{slug}.md")]
    return path
