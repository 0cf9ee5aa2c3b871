"""`just demo`: its arguments. The whole demo (about two minutes of real training) runs in
CI through `.ci/run`, as the README's first command. `just demo-trunk` (an evaluation of
known truth, about half a minute) runs here whole."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.demo import main
from harness.demo.trunk import TRUNK, WINNERS
from harness.queue.local import LocalBackend
from tests.conftest import git


def test_keep_refuses_a_directory_that_is_not_empty(tmp_path: Path, capsys) -> None:
    (tmp_path / "something").write_text("mine\n")
    assert main(["--keep", str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"demo: {tmp_path} is not empty: give a new directory\n"
    assert [p.name for p in tmp_path.iterdir()] == ["something"]


@pytest.mark.timeout(600)  # about half a minute on an idle machine
def test_the_trunk_demo_stacks_two_winners_on_the_trunk(tmp_path: Path, capfd) -> None:
    """`just demo-trunk`, whole: the second winner branches from the trunk that holds the
    first, and the one pull request trunk -> main lists the two in order."""
    root = tmp_path / "demo"
    try:
        assert main(["--trunk", "--keep", str(root)]) == 0
    finally:
        LocalBackend(root / ".git" / "harness" / "queue").stop_worker()
    out = capfd.readouterr().out  # the harness's own processes write to the descriptor
    merges = git(root, "log", "--first-parent", "--merges", "--format=%H %s", TRUNK).split("\n")
    subjects = [line.split(" ", 1)[1] for line in merges if line]
    assert subjects == [f"Merge exp/{slug} into {TRUNK}" for slug, _, _ in reversed(WINNERS)]
    first_merge = merges[1].split()[0]
    second = WINNERS[1][0]
    (idea,) = (root / "1_ideas").glob(f"*_{second}.md")
    assert f"  line: {TRUNK}\n  commit: {first_merge}\n" in idea.read_text()  # its parent
    body = (root / "9_reports" / "trunk_pr.md").read_text()
    listed = [line.split("`")[1] for line in body.splitlines() if line[:1].isdigit()]
    assert listed == [f"exp/{slug}" for slug, _, _ in WINNERS]
    brief = out.split("$ harness brief\n", 1)[1].split("$ harness dashboard", 1)[0]
    assert len(brief.splitlines()) <= 150
    assert f"  2. exp/{second}: -0.0" in brief  # the chain, each with its effect
    kept = git(root, "ls-tree", "--name-only", f"{TRUNK}:effects").split()
    assert kept == ["README", *sorted(f"{slug}.txt" for slug, _, _ in WINNERS)]
