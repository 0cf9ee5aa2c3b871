"""`harness report`: numbers from the rows, the plot, updates that keep the Inferences."""

from __future__ import annotations

import re
import statistics
from pathlib import Path

import polars as pl
import pytest

from harness.loop.inferences import PLACEHOLDER
from harness.record.results import read_results
from harness.reports.report import keep_inferences
from tests.conftest import git
from tests.loop_helpers import evaluate, fast_repo, report_of, run_baseline, start_idea


@pytest.fixture
def repo(research_repo: Path, cli) -> Path:
    root = fast_repo(research_repo)
    run_baseline(cli, root)
    return root


def table_rows(text: str, heading: str) -> list[list[str]]:
    """The cells of the first table under `## heading`."""
    section = text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]


def test_the_report_states_the_rows_numbers(repo: Path, cli) -> None:
    worktree = start_idea(cli, repo, "lower", "1.95")
    evaluate(cli, worktree)

    result = cli("report", "lower", cwd=worktree)  # from inside the worktree

    assert result.code == 0, result.err
    path = report_of(repo, "lower")
    assert result.out.splitlines()[0] == f"wrote {path}"
    text = path.read_text()
    frame = read_results(repo / "results.tsv")
    mine = frame.filter(pl.col("idea") == "lower")
    runs = {cells[0].strip("`"): cells for cells in table_rows(text, "Runs")}
    assert set(runs) == set(mine.get_column("run_id"))
    for row in mine.iter_rows(named=True):
        cells = runs[row["run_id"]]
        assert cells[2] == str(row["seed"])
        assert float(cells[3]) == row["value"]
        assert cells[4] == f"`{row['commit'][:10]}`"
        assert cells[5:7] == [row["status"], row["integrity"]]
    values = mine.get_column("value").to_list()
    base = frame.filter(pl.col("idea") == "baseline").get_column("value").to_list()
    base_per_seed = base[:3]  # the repeat of seed 0 is one sample
    summary = {cells[0]: cells for cells in table_rows(text, "Summary")}
    assert summary["lower"][1:4] == [
        f"{statistics.fmean(values):.6g}",
        f"{statistics.stdev(values):.6g}",
        "3",
    ]
    difference = statistics.fmean(values) - statistics.fmean(base_per_seed)
    head = f"main@{git(repo, 'rev-parse', 'main')[:8]}"
    assert summary[f"head {head} (the parent)"][1] == f"{statistics.fmean(base_per_seed):.6g}"
    assert summary[f"head {head} (the parent)"][4] == f"{difference:+.6g}"
    assert f"lower beats the head {head}" in text
    assert "seen: expected -0.05" in text
    plot = path.with_suffix(".svg")
    assert f"]({plot.name})" in text
    svg = plot.read_text()
    assert svg.startswith("<?xml") and "<style>" in svg and 'class="best"' in svg
    frame = read_results(repo / "results.tsv")
    highlighted = frame.filter(pl.col("idea") == "lower").height
    assert svg.count('class="win"') == highlighted == 3, (
        "this idea's runs, and only those, stand out"
    )
    assert svg.count('class="run"') == frame.height - highlighted
    assert "status: reported" in next((repo / "1_ideas").glob("*_lower.md")).read_text()
    journal = (repo / "RESEARCH_JOURNAL.md").read_text()
    first = journal.split("\n## ", 2)[1]
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC · report · lower · winner\n", first)
    assert f"9_reports/{path.name}" in first


def test_the_inferences_survive_an_update_and_the_numbers_follow(repo: Path, cli) -> None:
    worktree = start_idea(cli, repo, "lower", "1.95")
    evaluate(cli, worktree, seeds=2)
    assert cli("report", "lower", "--force", cwd=repo).code == 0
    path = report_of(repo, "lower")
    mine = "The level is what matters.\n\n### Next\n\nTry 1.9.\n"
    path.write_text(path.read_text().replace(PLACEHOLDER, mine))

    evaluate(cli, worktree, seeds=3)  # seeds 0..2 again: five runs now
    result = cli("report", "lower", cwd=repo)

    assert result.code == 0, result.err
    assert result.out.splitlines()[0] == f"updated {path}"
    assert report_of(repo, "lower") == path
    text = path.read_text()
    assert len(table_rows(text, "Runs")) == 5
    assert text.endswith("The level is what matters.\n\n### Next\n\nTry 1.9.\n")
    assert PLACEHOLDER not in text
    assert text.count("## Inferences") == 1


def test_an_untouched_inferences_section_is_rendered_afresh(repo: Path, cli) -> None:
    worktree = start_idea(cli, repo, "lower", "1.95")
    evaluate(cli, worktree, seeds=1)
    cli("report", "lower", "--force", cwd=repo)
    evaluate(cli, worktree, seeds=2)

    cli("report", "lower", "--force", cwd=repo)

    text = report_of(repo, "lower").read_text()
    assert text.count(PLACEHOLDER) == 1
    assert text.count("Interpretation, not measurement") == 1
    assert len(table_rows(text, "Runs")) == 3


def test_keep_inferences_stops_at_the_next_template_heading() -> None:
    new = "# R\n\n## Inferences\n\n(fill in)\n\n## Appendix\n\nnew numbers\n"
    old = "# R\n\n## Inferences\n\nmine\n\n## My notes\n\nmore\n\n## Appendix\n\nold numbers\n"
    kept = keep_inferences(new, old)
    assert (
        kept
        == "# R\n\n## Inferences\n\nmine\n\n## My notes\n\nmore\n\n## Appendix\n\nnew numbers\n"
    )
    assert keep_inferences(new, new.replace("(fill in)", "(fill in)")) == new


def test_a_crashed_only_idea_is_a_clear_error(repo: Path, cli) -> None:
    worktree = start_idea(cli, repo, "broken", "crash")
    evaluate(cli, worktree, seeds=2, code=1)

    result = cli("report", "broken", cwd=repo)

    assert result.code == 2
    assert result.err.startswith("harness: idea 'broken' has no valid run (2 crash; ")
    assert result.err.count("\n") == 1
    assert not list((repo / "9_reports").glob("*_broken.*"))
    assert "status: testing" in next((repo / "1_ideas").glob("*_broken.md")).read_text()


def test_an_idea_without_runs_says_to_queue_them(repo: Path, cli) -> None:
    start_idea(cli, repo, "idle", "1.9")
    result = cli("report", "idle", cwd=repo)
    assert result.code == 2
    assert "idea 'idle' has no run recorded: queue its evaluation first" in result.err


def test_the_report_comes_from_the_roots_template(repo: Path, cli) -> None:
    commit_template = repo / "9_reports" / "_TEMPLATE.md"
    commit_template.write_text(
        "# {{ idea.slug }}: {{ table[0].mean }} over {{ table[0].n }}\n\n"
        "## Inferences\n\n{{ inferences }}\n"
    )
    worktree = start_idea(cli, repo, "lower", "1.95")
    evaluate(cli, worktree, seeds=2)

    assert cli("report", "lower", "--force", cwd=worktree).code == 0
    assert report_of(repo, "lower").read_text().startswith("# lower: 1.951 over 2\n")

    commit_template.write_text("{{ no_such_thing }}\n")
    result = cli("report", "lower", "--force", cwd=repo)
    assert result.code == 1
    assert re.match(r"harness: .*_TEMPLATE.md cannot be rendered \('no_such_thing'", result.err)


def test_report_json(repo: Path, cli) -> None:
    import json

    worktree = start_idea(cli, repo, "same", "2.0 0.0")
    evaluate(cli, worktree)
    result = cli("report", "same", "--json", cwd=repo)
    data = json.loads(result.out)
    assert data["winner"] is False
    head = f"main@{git(repo, 'rev-parse', 'main')[:8]}"
    assert data["best_other"] == f"head {head} (the parent)"
    assert data["verdict"].startswith(f"same does not beat the head {head}: ")
    assert data["path"] == str(report_of(repo, "same"))


def test_too_few_seeds_are_refused_unless_forced(repo: Path, cli) -> None:
    worktree = start_idea(cli, repo, "lower", "1.95")
    evaluate(cli, worktree, seeds=1)

    result = cli("report", "lower", cwd=repo)

    assert result.code == 2
    assert result.err == (
        "harness: lower has 1 valid seed(s) of the 3 wanted ([tool.harness] seeds): queue the "
        "missing ones first (`harness next` gives the command), or pass --force to report "
        "anyway\n"
    )
    assert not list((repo / "9_reports").glob("*_lower.md"))
    submitted = cli("submit", "lower", cwd=repo)
    assert submitted.code == 2 and "or pass --force to submit anyway" in submitted.err
    assert cli("report", "lower", "--force", cwd=repo).code == 0


def test_inferences_are_filled_from_a_file_or_stdin(repo: Path, cli, monkeypatch) -> None:
    import io

    worktree = start_idea(cli, repo, "lower", "1.95")
    evaluate(cli, worktree)
    mine = repo.parent / "inferences.md"
    mine.write_text("The level is what matters.\n")

    assert cli("report", "lower", "--inferences", str(mine), cwd=repo).code == 0
    text = report_of(repo, "lower").read_text()
    assert PLACEHOLDER not in text
    assert text.count("The level is what matters.") == 1
    assert "Interpretation, not measurement" in text  # the template's note stays

    monkeypatch.setattr("sys.stdin", io.StringIO("Second thoughts.\n"))
    assert cli("report", "lower", "--inferences", "-", cwd=repo).code == 0
    text = report_of(repo, "lower").read_text()
    assert "Second thoughts." in text and "The level is what matters." not in text
    empty = repo.parent / "empty.md"
    empty.write_text("\n")
    result = cli("report", "lower", "--inferences", str(empty), cwd=repo)
    assert (result.code, result.err) == (
        2,
        "harness: the Inferences text is empty: write what the observations mean\n",
    )
