"""`harness submit`: refusals, the decision against every other result, the held-out
confirmation, the push to a local bare `origin`, and the pull request body when `gh` is
not used (the remote is a local path, so the outcome does not depend on the machine)."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

import polars as pl
import pytest

from harness.record.results import read_results
from harness.reports.submit import gh_unusable, is_local
from tests.conftest import commit_files, git
from tests.loop_helpers import (
    bare_origin,
    evaluate,
    fast_repo,
    report_of,
    run_baseline,
    start_idea,
)


@pytest.fixture
def repo(research_repo: Path, cli) -> Path:
    root = fast_repo(research_repo)
    run_baseline(cli, root)
    return root


def idea_text(root: Path, slug: str) -> str:
    return next((root / "1_ideas").glob(f"*_{slug}.md")).read_text()


def first_entry(root: Path) -> str:
    return (root / "RESEARCH_JOURNAL.md").read_text().split("\n## ", 2)[1]


def rows(root: Path) -> pl.DataFrame:
    return read_results(root / "results.tsv")


def test_a_winner_is_pushed_confirmed_and_gets_its_pull_request_body(
    repo: Path, cli, tmp_path: Path
) -> None:
    origin = bare_origin(repo, tmp_path)
    worktree = start_idea(cli, repo, "lower", "1.95")
    evaluate(cli, worktree)
    cli("report", "lower", cwd=repo)

    result = cli("submit", "lower", "--wait", cwd=worktree)

    assert result.code == 0, result.err
    lines = result.out.splitlines()
    main_head = f"main@{git(repo, 'rev-parse', 'main')[:8]}"
    assert lines[0].startswith(f"submitted: lower beats the head {main_head}: ")
    assert (
        "confirmed on held-out data: held-out test_bpb: lower is better than baseline" in lines[0]
    )
    head = git(repo, "rev-parse", "exp/lower").strip()
    assert git(origin, "rev-parse", "exp/lower").strip() == head
    body = report_of(repo, "lower").with_name(report_of(repo, "lower").stem + "_pr.md")
    assert f"its body is in {body}" in result.out
    command = lines[-1].removeprefix("open it with: ")
    assert command.startswith(f"cd {shlex.quote(str(repo))} && gh pr create ")
    argv = shlex.split(command.split(" && ", 1)[1])
    assert argv[:7] == ["gh", "pr", "create", "--base", "main", "--head", "exp/lower"]
    assert argv[7] == "--title" and argv[8].startswith(
        f"level 1.95 (val_bpb 1.95 vs {main_head} 2,"
    )
    assert argv[9:] == ["--body-file", str(body)]
    assert "# Report: level 1.95" in body.read_text()
    assert "Plot: `9_reports/" in body.read_text()
    # the confirmation: same seeds for both sides, at the commits their results came from
    confirm = rows(repo).filter(pl.col("status") == "confirm")
    assert sorted(confirm.select("idea", "seed").rows()) == [
        ("baseline", 0), ("baseline", 1), ("baseline", 2),
        ("lower", 0), ("lower", 1), ("lower", 2),
    ]  # fmt: skip
    assert set(confirm.get_column("metric")) == {"test_bpb"}
    assert set(confirm.filter(pl.col("idea") == "lower").get_column("commit")) == {head}
    report = report_of(repo, "lower").read_text()
    for run_id in confirm.get_column("run_id"):
        assert f"`{run_id}`" in report
    assert "(the win holds)" in report
    assert "status: submitted" in idea_text(repo, "lower")
    assert "reported -> submitted (pull request: body 9_reports/" in idea_text(repo, "lower")
    entry = first_entry(repo)
    assert " · submit · lower · submitted\n" in entry
    assert f"- Branch: exp/lower pushed to origin ({origin})" in entry


def test_an_idea_that_does_not_beat_the_best_is_not_submitted_and_says_why(
    repo: Path, cli, tmp_path: Path
) -> None:
    bare_origin(repo, tmp_path)
    worktree = start_idea(cli, repo, "tiny", "1.995")
    evaluate(cli, worktree)

    result = cli("submit", "tiny", "--wait", cwd=repo)

    assert result.code == 1
    first = result.out.splitlines()[0]
    head = f"main@{git(repo, 'rev-parse', 'main')[:8]}"
    assert first == (
        f"not submitted: tiny does not beat the head {head}: tiny is better than head {head} "
        "(the parent) by 0.005, not more than min_effect"
    )
    assert not list((repo / "9_reports").glob("*_pr.md"))
    assert rows(repo).filter(pl.col("status") == "confirm").is_empty()
    assert "status: reported" in idea_text(repo, "tiny")
    assert f"not submitted: tiny does not beat the head {head}" in idea_text(repo, "tiny")
    assert " · submit · tiny · not submitted\n" in first_entry(repo)
    assert f"decision: 'not submitted: tiny does not beat the head {head}" in idea_text(
        repo, "tiny"
    )
    after = json.loads(cli("next", "--json", cwd=repo).out)
    assert (after["action"], after["slug"]) != ("submit", "tiny")  # the loop moves on


def test_a_win_that_does_not_hold_on_held_out_data_is_not_submitted(repo: Path, cli) -> None:
    worktree = start_idea(cli, repo, "overfit", "1.95 0.2")  # held-out: 0.15 worse

    evaluate(cli, worktree)
    result = cli("submit", "overfit", "--wait", cwd=repo)

    assert result.code == 1
    assert result.out.startswith(
        "not submitted: the win does not hold on held-out data: held-out test_bpb: baseline "
        "is better than overfit by 0.15"
    )
    assert "branch: not pushed: the repository has no remote 'origin'" in result.out
    assert "(the win does not hold)" in report_of(repo, "overfit").read_text()
    confirm_rows = rows(repo).filter(pl.col("status") == "confirm").height
    assert confirm_rows == 6

    # confirm rows on record are never reused (they could have been appended by hand):
    # a second decision runs its own confirmation, and decides the same
    again = cli("submit", "overfit", "--wait", cwd=repo)

    assert again.code == 1
    assert again.out.startswith("not submitted: the win does not hold on held-out data")
    assert rows(repo).filter(pl.col("status") == "confirm").height == 2 * confirm_rows


def test_uncommitted_changes_are_refused_with_what_to_commit(repo: Path, cli) -> None:
    worktree = start_idea(cli, repo, "lower", "1.95")
    evaluate(cli, worktree)
    (worktree / "notes.txt").write_text("draft\n")
    (worktree / "level.txt").write_text("1.9\n")
    journal = (repo / "RESEARCH_JOURNAL.md").read_text()

    result = cli("submit", "lower", "--wait", cwd=repo)

    assert result.code == 1
    assert result.err.startswith(
        f"harness: {worktree} has uncommitted changes (M level.txt, ?? notes.txt): "
        "commit them on exp/lower"
    )
    assert result.err.count("\n") == 1
    assert (repo / "RESEARCH_JOURNAL.md").read_text() == journal
    assert "status: testing" in idea_text(repo, "lower")


def test_a_branch_the_guard_refuses_is_not_submitted(repo: Path, cli) -> None:
    worktree = start_idea(cli, repo, "cheat", "1.95")
    evaluate(cli, worktree)
    (worktree / "eval.py").write_text("print('always 0')\n")
    git(worktree, "commit", "--quiet", "--no-verify", "-am", "an easier evaluation")

    result = cli("submit", "cheat", "--wait", cwd=repo)

    assert result.code == 3
    assert result.err.startswith("harness: `harness guard --range main..exp/cheat` fails: ")
    assert "eval.py" in result.err and "FROZEN" in result.err
    assert "status: testing" in idea_text(repo, "cheat")


def test_runs_with_modified_frozen_files_are_refused(repo: Path, cli) -> None:
    worktree = start_idea(cli, repo, "sneaky", "1.95")
    program = worktree / "program.md"
    original = program.read_text()
    program.write_text(original + "\nAlso: anything goes.\n")
    evaluate(cli, worktree, seeds=1, dirty=True)
    program.write_text(original)  # clean again: only the row remembers
    evaluate(cli, worktree, seeds=3)

    result = cli("submit", "sneaky", "--wait", cwd=repo)

    assert result.code == 3
    flagged = rows(repo).filter(pl.col("integrity") == "modified").get_column("run_id")
    assert result.err == (
        f"harness: 1 run(s) of sneaky ran with FROZEN files that differ from main "
        f"({flagged[0]}): its results cannot be trusted, so it is not submitted; start a new "
        "idea from a clean branch to test the change again\n"
    )


def test_submitting_twice_or_an_abandoned_idea_is_refused(repo: Path, cli) -> None:
    worktree = start_idea(cli, repo, "lower", "1.95")
    evaluate(cli, worktree)
    assert cli("submit", "lower", "--wait", cwd=repo).code == 0
    again = cli("submit", "lower", "--wait", cwd=repo)
    assert again.code == 2
    assert "is submitted already" in again.err
    cli("idea", "new", "dropped", "--title", "dropped", cwd=repo)
    cli("idea", "set", "dropped", "--status", "abandoned", "--reason", "no", cwd=repo)
    assert "is abandoned: reopen it" in cli("submit", "dropped", "--wait", cwd=repo).err


def test_submit_json(repo: Path, cli) -> None:
    worktree = start_idea(cli, repo, "lower", "1.95")
    evaluate(cli, worktree)
    result = cli("submit", "lower", "--wait", "--json", cwd=repo)
    data = json.loads(result.out)
    assert data["submitted"] is True
    assert data["confirmation"]["holds"] is True
    assert data["pull_request"]["url"] is None
    assert data["pull_request"]["why_not_opened"] == (
        "the repository has no remote to open a pull request on"
    )


def test_which_remotes_a_pull_request_can_go_to() -> None:
    assert is_local("/srv/git/research.git")
    assert is_local("file:///srv/git/research.git")
    assert is_local("../research.git")
    assert not is_local("git@github.com:lab/research.git")
    assert not is_local("https://github.com/lab/research.git")
    assert gh_unusable(None) == "the repository has no remote to open a pull request on"
    assert gh_unusable("/srv/x.git") == "the remote /srv/x.git is a local repository"


def test_a_report_is_written_when_submit_is_called_first(repo: Path, cli) -> None:
    worktree = start_idea(cli, repo, "lower", "1.95")
    evaluate(cli, worktree)
    commit_files(worktree, {"0_docs/why.md": "why it works\n"}, "notes")  # record: same code
    assert cli("submit", "lower", "--wait", cwd=repo).code == 0
    assert "Idea: `lower`, submitted" in report_of(repo, "lower").read_text()


FAKE_GH = """#!/bin/sh
# A stand-in for the GitHub CLI (gh cannot reach GitHub from the tests): it answers
# `gh auth status` as an authenticated gh does, and records `gh pr create`'s arguments.
if [ "$1" = auth ]; then exit 0; fi
printf '%s\\n' "$@" > "$(dirname "$0")/pr-create.args"
echo "https://github.com/lab/research/pull/7"
"""


def test_gh_opens_the_pull_request_when_installed_and_authenticated(
    repo: Path, cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """gh itself is replaced by a small script (no network here); git is real: the remote
    names GitHub, and pushes to it go to a local bare repository (pushInsteadOf)."""
    url = "https://github.com/lab/research.git"
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "--quiet", "--bare", str(origin))
    git(repo, "remote", "add", "origin", url)
    git(repo, "config", f"url.{origin}.pushInsteadOf", url)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "gh").write_text(FAKE_GH)
    (bin_dir / "gh").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    worktree = start_idea(cli, repo, "lower", "1.95")
    evaluate(cli, worktree)

    result = cli("submit", "lower", "--wait", cwd=repo)

    assert result.code == 0, result.err
    assert "pull request: https://github.com/lab/research/pull/7" in result.out
    args = (bin_dir / "pr-create.args").read_text().splitlines()
    body = report_of(repo, "lower").with_name(report_of(repo, "lower").stem + "_pr.md")
    assert args[:7] == ["pr", "create", "--base", "main", "--head", "exp/lower", "--title"]
    assert args[-2:] == ["--body-file", str(body)]
    assert git(origin, "rev-parse", "exp/lower") == git(repo, "rev-parse", "exp/lower")
    assert "- Pull request: https://github.com/lab/research/pull/7" in first_entry(repo)
    assert "decision: 'submitted: pull request https://github.com/lab/research/pull/7'" in (
        idea_text(repo, "lower")
    )
