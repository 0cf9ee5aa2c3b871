"""`harness init` takes the repository's own branch as main_branch; `doctor` checks it exists.

Real repositories on `master`, on an `autoresearch/<tag>` branch, unborn, detached.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from harness.record.results import read_results
from tests.conftest import commit_files, git


def repository(path: Path, branch: str, *, commit: bool = True) -> Path:
    path.mkdir()
    git(path, "init", "--quiet", f"--initial-branch={branch}")
    if commit:
        commit_files(path, {"train.py": "print('training')\n"}, "their code")
    return path


def main_branch_of(repo: Path) -> str:
    return tomllib.loads((repo / "pyproject.toml").read_text())["tool"]["harness"]["main_branch"]


def doctor_line(cli, repo: Path) -> tuple[int, str]:
    result = cli("doctor", cwd=repo)
    (line,) = [line for line in result.out.splitlines() if line[6:17] == "main branch"]
    return result.code, line


@pytest.mark.parametrize("branch", ["master", "autoresearch/mar5"])
def test_init_writes_the_current_branch(tmp_path: Path, cli, branch: str) -> None:
    repo = repository(tmp_path / "clone", branch)
    result = cli("init", str(repo), "--example", cwd=tmp_path)
    assert result.code == 0, result.err
    assert f"main branch: {branch} (the current branch)" in result.out.splitlines()
    assert main_branch_of(repo) == branch
    assert doctor_line(cli, repo)[1] == f"OK    main branch  {branch} exists"
    # the branch is protected: code reaches it only through an exp/ branch
    (repo / "train.py").write_text("print('faster')\n")
    git(repo, "add", "train.py")
    refused = cli("guard", "--staged", cwd=repo)
    assert refused.code == 3 and "train.py" in refused.err
    git(repo, "reset", "--quiet", "train.py")
    git(repo, "checkout", "--quiet", "train.py")
    # and its runs are the baseline
    printed = ["python", "-c", "print('---'); print('val_bpb: 1.5')"]
    # (init's files are not committed yet in this clone: --allow-dirty)
    assert cli("eval", "--allow-dirty", "--", *printed, cwd=repo).code == 0
    (row,) = read_results(repo / "results.tsv").to_dicts()
    assert (row["idea"], row["branch"], row["status"]) == ("baseline", branch, "ok")


def test_init_on_an_unborn_master_commits_there(tmp_path: Path, cli) -> None:
    repo = repository(tmp_path / "fresh", "master", commit=False)
    assert cli("init", str(repo), cwd=tmp_path).code == 0
    assert main_branch_of(repo) == "master"
    assert git(repo, "branch", "--show-current").strip() == "master"
    assert git(repo, "log", "--format=%s").strip() == "Start the research repository (harness init)"


def test_init_takes_the_main_branch_it_is_given(tmp_path: Path, cli) -> None:
    result = cli("init", "new", "--main-branch", "trunk", cwd=tmp_path)
    assert result.code == 0 and "main branch: trunk (--main-branch)" in result.out
    assert main_branch_of(tmp_path / "new") == "trunk"
    assert git(tmp_path / "new", "branch", "--show-current").strip() == "trunk"


def test_a_new_repository_gets_main(tmp_path: Path, cli) -> None:
    assert cli("init", "new", cwd=tmp_path).code == 0
    assert main_branch_of(tmp_path / "new") == "main"


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ("--main-branch", "bad..name"),
            "harness: --main-branch 'bad..name' is not a valid git branch name",
        ),
        (("--main-branch", "-x"), None),  # taken as an option: one line too
    ],
)
def test_a_bad_main_branch_is_one_line(tmp_path: Path, cli, args, line: str | None) -> None:
    result = cli("init", "new", *args, cwd=tmp_path)
    assert result.code == 2 and len(result.err.splitlines()) == 1
    assert line is None or result.err == line + "\n"
    assert not (tmp_path / "new" / "pyproject.toml").exists()


def test_a_detached_head_needs_the_branch_named(tmp_path: Path, cli) -> None:
    repo = repository(tmp_path / "clone", "master")
    git(repo, "checkout", "--quiet", "--detach")
    result = cli("init", str(repo), cwd=tmp_path)
    assert result.code == 2
    assert result.err == (
        f"harness: {repo} has a detached HEAD: check out the main branch first, or name it "
        "with --main-branch NAME\n"
    )
    assert cli("init", str(repo), "--main-branch", "master", cwd=tmp_path).code == 0
    assert main_branch_of(repo) == "master"


def test_doctor_fails_when_main_branch_does_not_exist(tmp_path: Path, cli) -> None:
    repo = repository(tmp_path / "clone", "master")
    assert cli("init", str(repo), "--main-branch", "main", "--example", cwd=tmp_path).code == 0
    code, line = doctor_line(cli, repo)
    assert code == 1
    assert line == (
        "FAIL  main branch  main_branch = 'main' is not a branch of this repository: "
        'set main_branch = "master" in [tool.harness] (or create it: git branch main)'
    )
    git(repo, "branch", "main")
    assert doctor_line(cli, repo) == (0, "OK    main branch  main exists")
