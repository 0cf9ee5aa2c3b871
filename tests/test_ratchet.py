"""The ratchet on real repositories, worktrees and merges, with an evaluation of known truth
(tests/ratchet_helpers.py): the head of the line is the reference, ideas have parents,
stale ideas are rebased and re-tested, and merges that change nothing keep their runs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from harness.config import load_config
from harness.layout import find_layout
from harness.loop.ideas import find_idea
from harness.loop.ratchet import idea_standing
from harness.loop.state import build_state
from harness.record.results import read_results
from harness.record.schema import FIRST_COLUMNS, header_line
from tests.conftest import commit_files, git
from tests.ratchet_helpers import (
    evaluate_seeds,
    idea_with_effect,
    merge_into_main,
    next_of,
    truth_repo,
)


@pytest.fixture
def repo(research_repo: Path, cli) -> Path:
    root = truth_repo(research_repo)
    assert cli("baseline", "--seeds", "3", cwd=root).code == 0
    return root


def where(root: Path, slug: str):
    layout = find_layout(root)
    config = load_config(layout.root)
    return idea_standing(layout, config, read_results(layout.results_tsv), slug)


def head(root: Path, branch: str = "main") -> str:
    return f"{branch}@{git(root, 'rev-parse', branch)[:8]}"


def test_an_idea_records_the_commit_and_code_it_branched_from(repo: Path, cli) -> None:
    main = git(repo, "rev-parse", "main").strip()
    idea_with_effect(cli, repo, "lower", "-0.05")
    parent = find_idea(find_layout(repo), "lower").parent
    assert parent is not None
    assert (parent["line"], parent["commit"]) == ("main", main)
    assert parent["code"] == read_results(repo / "results.tsv")["code"][0]  # the baseline's


def test_a_winner_merged_into_main_keeps_its_runs_as_the_heads(repo: Path, cli) -> None:
    worktree = idea_with_effect(cli, repo, "lower", "-0.05")
    evaluate_seeds(cli, worktree)
    result = cli("submit", "lower", "--wait", cwd=repo)
    assert result.code == 0 and result.out.startswith("submitted: lower beats the head"), result
    merge_into_main(repo, "exp/lower")

    state = build_state(find_layout(repo), load_config(repo))
    assert state.ratchet is not None and state.ratchet.head_seeds == 3  # lower's runs
    assert next_of(repo).kind != "baseline"
    # one notion of best: the head and its mean over seeds, with the chain
    status = cli("status", cwd=repo).out.splitlines()
    (line,) = [line for line in status if line.startswith("head       ")]
    assert line.startswith(f"head       {head(repo)} 1.9") and "(mean of 3 seed(s), se 0.0" in line
    assert "           accepted: exp/lower" in status
    best = cli("results", "best", cwd=repo).out.splitlines()
    assert best[0] == line.replace("head       ", "head ")
    assert best[2].startswith("best single run val_bpb: ")
    data = json.loads(cli("status", "--json", cwd=repo).out)["head"]
    assert (data["seeds"], data["chain"]) == (3, ["exp/lower"])
    assert cli("dashboard", cwd=repo).code == 0
    page = (repo / "9_reports" / "index.html").read_text()
    assert f'the head <b id="head">{head(repo)}</b> <b id="best-value">1.9' in page
    assert "accepted: exp/lower" in page
    # the plot's best-so-far line is the chain: main before, then the merged winner, each a
    # step at its mean over seeds with an error bar of its standard error
    bars = re.findall(r'class="spread"><title>head (main@\w+): ([\d.]+) ± [\d.e-]+ \(se\)', page)
    assert [label for label, _ in bars][-1] == head(repo) and len(bars) == 2, bars
    assert float(bars[1][1]) < float(bars[0][1]) - 0.04  # lower by its effect, -0.05
    # the next idea is measured against the merged winner, not the old main
    later = idea_with_effect(cli, repo, "more", "-0.03")
    evaluate_seeds(cli, later)
    newest = (repo / "RESEARCH_JOURNAL.md").read_text().split("\n## ", 2)[1]
    assert f"- Head of the line: {head(repo)}, mean 1.9" in newest and "over 3 seed(s)" in newest
    assert f"- Expected effect (against the mean of the head {head(repo)})" in newest
    standing = where(repo, "more")
    assert standing.head.label == head(repo)
    assert standing.against_head is not None
    assert standing.against_head.a.mean == pytest.approx(2.0 - 0.05, abs=0.02)
    assert standing.against_head.difference == pytest.approx(-0.03, abs=0.02)


def test_a_merge_that_changes_other_code_needs_a_baseline_of_the_new_head(repo: Path, cli) -> None:
    worktree = idea_with_effect(cli, repo, "lower", "-0.05")
    evaluate_seeds(cli, worktree)
    merge_into_main(repo, "exp/lower")
    commit_files(repo, {"lib.txt": "shared code, refactored\n"}, "refactor", meta=True)

    action = next_of(repo)
    assert (action.kind, action.rule) == ("baseline", "baseline-head")
    assert action.reason.startswith(f"the head {head(repo)} has 0 of 3 seeds measured")
    assert cli("baseline", "--seeds", "3", cwd=repo).code == 0
    assert next_of(repo).kind != "baseline"
    later = idea_with_effect(cli, repo, "more", "-0.03")
    evaluate_seeds(cli, later)
    noise = where(repo, "more").noise
    assert noise.method == "MAD pooled over 2 measured heads" and noise.seeds == 6


def test_a_stacked_idea_is_measured_against_its_parent_and_waits_for_it(repo: Path, cli) -> None:
    first = idea_with_effect(cli, repo, "first", "-0.05")
    evaluate_seeds(cli, first)
    second = idea_with_effect(cli, repo, "second", "-0.03", stacked_on="first")
    assert (second / "effects" / "first.txt").exists()  # it holds its parent's change
    parent = find_idea(find_layout(repo), "second").parent
    assert parent is not None and parent["line"] == "idea:first"
    evaluate_seeds(cli, second)

    standing = where(repo, "second")
    assert standing.against_parent is not None and standing.against_head is not None
    assert standing.against_parent.a.label == f"parent exp/first@{parent['commit'][:8]}"
    assert standing.against_parent.difference == pytest.approx(-0.03, abs=0.02)  # its own
    assert standing.against_head.difference == pytest.approx(-0.08, abs=0.02)  # with first's
    report = cli("report", "second", cwd=repo)
    assert report.code == 0, report.err
    text = next((repo / "9_reports").glob("*_second.md")).read_text()
    assert f"parent exp/first@{parent['commit'][:8]}" in text and f"head {head(repo)}" in text

    refused = cli("submit", "second", "--wait", cwd=repo)
    assert refused.code != 0
    assert "stacked on 'first', which has not joined main yet" in refused.err
    waiting = next_of(repo)  # it waits for its parent: neither rebased nor submitted yet
    assert waiting.kind != "rebase" and (waiting.kind, waiting.slug) != ("submit", "second")
    ratchet = build_state(find_layout(repo), load_config(repo)).ratchet
    assert ratchet is not None and ratchet.waiting == ("second",)

    assert cli("submit", "first", "--wait", cwd=repo).code == 0
    merge_into_main(repo, "exp/first", no_ff=False)  # a fast-forward: first's code is the head
    result = cli("submit", "second", "--wait", cwd=repo)
    assert result.code == 0 and result.out.startswith("submitted: second beats the head"), result


def test_a_stale_idea_is_rebased_and_decided_only_on_runs_at_the_new_code(repo: Path, cli) -> None:
    winner = idea_with_effect(cli, repo, "winner", "-0.05")
    other = idea_with_effect(cli, repo, "other", "-0.03")  # found in parallel, from old main
    evaluate_seeds(cli, winner)
    evaluate_seeds(cli, other)
    assert cli("submit", "winner", "--wait", cwd=repo).code == 0
    merge_into_main(repo, "exp/winner")

    action = next_of(repo)
    assert (action.kind, action.slug, action.commands) == (
        "rebase",
        "other",
        ("harness rebase other",),
    )
    data = json.loads(cli("next", "--json", cwd=repo).out)
    assert (data["action"], data["slug"]) == ("rebase", "other")
    refused = cli("submit", "other", "--wait", cwd=repo)
    assert refused.code != 0 and "other is stale" in refused.err

    rebased = cli("rebase", "other", "--no-queue", cwd=repo)
    assert rebased.code == 0, rebased.err
    assert (other / "effects" / "winner.txt").exists()
    parent = find_idea(find_layout(repo), "other").parent
    assert parent is not None and parent["commit"] == git(repo, "rev-parse", "main").strip()
    action = next_of(repo)  # its runs are of the old code: it is tested again
    assert (action.kind, action.slug, action.rule) == ("test", "other", "retest-outdated")
    assert action.commands[1].startswith(f"cd {other} && harness queue add --seeds 3 ")
    stale_runs = cli("submit", "other", "--wait", cwd=repo)
    assert stale_runs.code != 0 and "none of its code now" in stale_runs.err

    evaluate_seeds(cli, other)
    standing = where(repo, "other")
    assert standing.side.n == 3  # only the runs at the new code
    assert standing.against_head is not None
    assert standing.against_head.difference == pytest.approx(-0.03, abs=0.02)
    result = cli("submit", "other", "--wait", cwd=repo)
    assert result.code == 0 and result.out.startswith("submitted: other beats the head"), result


def test_a_conflict_on_rebase_is_left_for_the_agent_and_finished_after(repo: Path, cli) -> None:
    winner = idea_with_effect(cli, repo, "winner", "-0.05")
    other = idea_with_effect(cli, repo, "other", "-0.03")
    commit_files(winner, {"lib.txt": "shared code, winner's way\n"}, "winner edits lib")
    commit_files(other, {"lib.txt": "shared code, other's way\n"}, "other edits lib")
    evaluate_seeds(cli, winner)
    merge_into_main(repo, "exp/winner")

    result = cli("rebase", "other", "--no-queue", cwd=repo)
    assert result.code == 1
    assert result.out.splitlines()[:2] == [
        f"conflicts merging {head(repo)} into exp/other:",
        "  lib.txt",
    ]
    assert "then run `harness rebase other` again" in result.out
    again = cli("rebase", "other", "--no-queue", cwd=repo)
    assert again.code == 1 and "  lib.txt" in again.out  # still unresolved

    (other / "lib.txt").write_text("shared code, both ways\n")
    git(other, "add", "lib.txt")
    done = cli("rebase", "other", "--no-queue", cwd=repo)
    assert done.code == 0, done.out + done.err
    assert git(other, "log", "-1", "--format=%P").count(" ") == 1  # the merge was committed
    assert git(repo, "merge-base", "--is-ancestor", "main", "exp/other") == ""


def test_rebase_queues_the_seeds_again(repo: Path, cli, monkeypatch) -> None:
    from harness.queue.local import LocalBackend

    monkeypatch.setenv("HARNESS_QUEUE", "local")
    winner = idea_with_effect(cli, repo, "winner", "-0.05")
    other = idea_with_effect(cli, repo, "other", "-0.03")
    evaluate_seeds(cli, winner)
    merge_into_main(repo, "exp/winner")
    try:
        result = cli("rebase", "other", cwd=repo)
        assert result.code == 0, result.err
        assert result.out.splitlines()[1:] == ["queued local:0", "queued local:1", "queued local:2"]
        assert cli("queue", "wait", cwd=repo).code == 0
    finally:
        LocalBackend(repo / ".git" / "harness" / "queue").stop_worker()
    assert where(repo, "other").side.n == 3
    del other


def test_an_old_results_file_without_the_code_column_still_ratchets(
    research_repo: Path, cli
) -> None:
    root = truth_repo(research_repo)
    (root / "results.tsv").write_text(header_line(FIRST_COLUMNS))
    assert cli("baseline", "--seeds", "3", cwd=root).code == 0
    assert (root / "results.tsv").read_text().splitlines()[0].split("\t") == list(FIRST_COLUMNS)
    assert next_of(root).kind != "baseline"  # the code is computed from the rows' commit
    worktree = idea_with_effect(cli, root, "lower", "-0.05")
    evaluate_seeds(cli, worktree)
    standing = where(root, "lower")
    assert standing.is_winner and standing.against_head is not None
    assert standing.against_head.a.n == 3


def test_inferences_written_before_a_rebase_are_asked_for_again(repo: Path, cli) -> None:
    """A reported idea rebased onto a new head has new runs and new numbers: the Inferences
    written for its old code no longer say what they mean. `next` asks for them again (after
    the new runs), and submit refuses until they are rewritten (or --force)."""
    winner = idea_with_effect(cli, repo, "winner", "-0.05")
    other = idea_with_effect(cli, repo, "other", "-0.03")
    evaluate_seeds(cli, winner)
    evaluate_seeds(cli, other)
    notes = repo / "notes.md"
    notes.write_text("other lowers the level by itself.\n")
    assert cli("report", "other", "--inferences", str(notes), cwd=repo).code == 0
    assert cli("submit", "winner", "--wait", cwd=repo).code == 0
    merge_into_main(repo, "exp/winner")
    assert cli("rebase", "other", "--no-queue", cwd=repo).code == 0
    assert next_of(repo).rule == "retest-outdated"  # the new runs first
    evaluate_seeds(cli, other)

    action = next_of(repo)
    refused = cli("submit", "other", "--wait", cwd=repo)

    assert (action.kind, action.slug, action.rule) == ("infer", "other", "infer-report")
    assert action.reason == (
        "other's code changed since its report's Inferences were written (a rebase, a new "
        "commit): write them again for its runs now"
    )
    assert action.commands[0].startswith("harness report other --inferences ")
    assert refused.code == 2
    assert refused.err.strip() == (
        "harness: other's report has Inferences written before its code now (it changed "
        "since, e.g. by `harness rebase`): write them again with `harness report other "
        "--inferences FILE`, or pass --force to submit anyway"
    )
    notes.write_text("on top of winner, other still lowers the level.\n")
    assert cli("report", "other", "--inferences", str(notes), cwd=repo).code == 0
    assert (next_of(repo).kind, next_of(repo).slug) == ("submit", "other")
    result = cli("submit", "other", "--wait", cwd=repo)
    assert result.code == 0 and result.out.startswith("submitted: other beats the head"), result
    # review mode, main moved by the winner: the held-out reference is named as the head
    assert f"held-out test_bpb: other is better than head {head(repo)} by " in result.out
    journal = (repo / "RESEARCH_JOURNAL.md").read_text()
    assert " · confirm · winner vs baseline · holds\n" in journal  # main was the baseline's


def test_the_reports_plot_draws_the_heads_chain_with_error_bars(repo: Path, cli) -> None:
    """The report's plot is the dashboard's: the best-so-far line is the chain of heads,
    each at its mean over seeds with its error bar, not the single-run minimum."""
    winner = idea_with_effect(cli, repo, "winner", "-0.05")
    evaluate_seeds(cli, winner)
    assert cli("submit", "winner", "--wait", cwd=repo).code == 0
    merge_into_main(repo, "exp/winner")
    later = idea_with_effect(cli, repo, "later", "0.0")
    evaluate_seeds(cli, later)
    assert cli("report", "later", cwd=repo).code == 0

    (plot,) = (repo / "9_reports").glob("*_later.svg")
    svg = plot.read_text()

    spreads = re.findall(r'class="spread"><title>(head [^<]+)</title>', svg)
    assert [title.split(":")[0] for title in spreads] == [
        f"head main@{git(repo, 'rev-parse', 'main^1').strip()[:8]}",  # the baseline's main
        f"head {head(repo)}",  # the winner's merge
    ]
    assert "the head of the line: green steps, mean ± se" in svg
