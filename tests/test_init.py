"""`harness init`: a fresh directory, an existing repository, idempotence, bad paths."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

from tests.conftest import commit_files, git

LAYOUT = [
    "program.md",
    "eval.py",
    "justfile",
    "pyproject.toml",
    "results.tsv",
    "RESEARCH_JOURNAL.md",
    "meta_journal.md",
    "human_journal.md",
    "0_docs/problem.md",
    "0_docs/papers/README.md",
    "1_ideas/_TEMPLATE.md",
    "9_reports/_TEMPLATE.md",
    ".gitignore",
]


def test_init_fresh_directory_makes_the_layout_and_first_commit(tmp_path: Path, cli) -> None:
    target = tmp_path / "new-project"
    result = cli("init", str(target), "--metric", "accuracy", "--direction", "max", cwd=tmp_path)
    assert result.code == 0, result.err
    for relative in LAYOUT:
        assert (target / relative).is_file(), relative
    assert (target / "5_worktrees").is_dir()
    assert (
        git(target, "log", "--format=%s").strip() == "Start the research repository (harness init)"
    )
    assert git(target, "status", "--porcelain") == ""
    config = tomllib.loads((target / "pyproject.toml").read_text())["tool"]["harness"]
    assert (config["metric"], config["direction"]) == ("accuracy", "max")
    assert "accuracy" in (target / "program.md").read_text()
    assert "higher is better" in (target / "program.md").read_text()
    # 5_worktrees is ignored, so worktrees never show up as untracked files
    (target / "5_worktrees" / "x").mkdir()
    (target / "5_worktrees" / "x" / "f.py").write_text("1")
    assert git(target, "status", "--porcelain") == ""


def test_doctor_passes_a_fresh_init_except_the_unfilled_slots(tmp_path: Path, cli) -> None:
    cli("init", str(tmp_path / "p"), cwd=tmp_path)
    result = cli("doctor", cwd=tmp_path / "p")
    assert result.code == 1
    failing = [line for line in result.out.splitlines() if line.startswith("FAIL")]
    assert len(failing) == 1
    assert "program" in failing[0] and "program.md:" in failing[0]
    assert "unfilled slot" in failing[0]


def test_doctor_passes_the_example(research_repo: Path, cli) -> None:
    result = cli("doctor", cwd=research_repo)
    assert result.code == 0, result.out
    assert "FAIL" not in result.out


def test_init_into_existing_repository_keeps_everything(tmp_path: Path, cli) -> None:
    repo = tmp_path / "existing"
    repo.mkdir()
    git(repo, "init", "--quiet", "--initial-branch=main")
    pyproject = (
        '[project]\nname = "mine"  # my comment\nversion = "2.0"\n\n'
        "# tooling below\n[tool.ruff]\nline-length = 88\n"
    )
    own_eval = "print('my own evaluation')\n"
    commit_files(
        repo,
        {"pyproject.toml": pyproject, "eval.py": own_eval, ".gitignore": "*.pyc"},
        "my project",
    )
    head = git(repo, "rev-parse", "HEAD")

    result = cli("init", str(repo), cwd=tmp_path)

    assert result.code == 0, result.err
    assert "skipped  eval.py (exists)" in result.out
    assert (repo / "eval.py").read_text() == own_eval
    text = (repo / "pyproject.toml").read_text()
    assert text.startswith(pyproject), "the existing pyproject.toml must be kept as it was"
    parsed = tomllib.loads(text)
    assert parsed["tool"]["ruff"] == {"line-length": 88}
    assert parsed["tool"]["harness"]["metric"] == "val_bpb"
    assert (repo / ".gitignore").read_text().startswith("*.pyc\n/5_worktrees/\n")
    # the repository had commits: init leaves the new files for the user to commit
    assert git(repo, "rev-parse", "HEAD") == head


def test_init_twice_changes_nothing(tmp_path: Path, cli) -> None:
    target = tmp_path / "twice"
    cli("init", str(target), "--example", cwd=tmp_path)
    before = {p: p.read_bytes() for p in target.rglob("*") if p.is_file() and ".git" not in p.parts}
    head = git(target, "rev-parse", "HEAD")

    result = cli("init", str(target), "--example", cwd=tmp_path)

    assert result.code == 0
    assert "created" not in result.out
    after = {p: p.read_bytes() for p in target.rglob("*") if p.is_file() and ".git" not in p.parts}
    assert after == before
    assert git(target, "rev-parse", "HEAD") == head


def unwritable_path(tmp_path: Path) -> Path:
    if os.geteuid() == 0:  # root ignores permission bits; /proc refuses new entries to anyone
        return Path("/proc/harness-cannot-create-this")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    return locked / "project"


def test_init_into_unwritable_path_is_one_clear_line(tmp_path: Path, cli) -> None:
    target = unwritable_path(tmp_path)
    result = cli("init", str(target), cwd=tmp_path)
    assert result.code != 0
    assert result.err.count("\n") == 1
    assert result.err.startswith(f"harness: cannot create {target}")
    assert "Traceback" not in result.err
    assert not target.exists()


def test_init_rejects_a_bad_metric_name(tmp_path: Path, cli) -> None:
    result = cli("init", str(tmp_path / "p"), "--metric", "val bpb;rm", cwd=tmp_path)
    assert result.code == 2
    assert (
        result.err
        == "harness: metric name 'val bpb;rm' is not a plain identifier: use e.g. val_bpb\n"
    )
    assert not (tmp_path / "p").exists()


def test_init_refuses_invalid_pyproject_and_writes_nothing_to_it(tmp_path: Path, cli) -> None:
    repo = tmp_path / "broken"
    repo.mkdir()
    (repo / "pyproject.toml").write_text("[project\nname = 1\n")
    result = cli("init", str(repo), cwd=tmp_path)
    assert result.code == 1
    assert "pyproject.toml is not valid TOML" in result.err
    assert (repo / "pyproject.toml").read_text() == "[project\nname = 1\n"


@pytest.mark.parametrize(
    "name",
    [
        "program.md",
        "eval.py",
        "train.py",
        "0_docs/problem.md",
        "1_ideas/_TEMPLATE.md",
        "9_reports/_TEMPLATE.md",
    ],
)
def test_this_repository_is_the_example_layout(name: str, example_template: Path) -> None:
    """The top level of this repository is what `harness init --example` writes."""
    here = Path(__file__).resolve().parents[1]
    assert (here / name).read_text() == (example_template / name).read_text()
