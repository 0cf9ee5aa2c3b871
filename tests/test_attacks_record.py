"""Attacks on the record, as a reward-hacking agent with a shell would make them.

A catalogue: each test's docstring is the attack, its assertions the layer that stops it
and the exact message. Everything is real: the fast research repository (real git, real
evaluations through `harness eval` and `harness baseline`, the real local queue for the
queued confirmation), and the attacker's edits are plain file writes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from harness.layout import find_layout
from harness.record.chain import chain_value
from harness.record.results import append_rows, read_results
from tests.conftest import git
from tests.loop_helpers import evaluate, fast_repo, run_baseline, start_idea

CLOSED = Path(".git/harness/runs/closed")


@pytest.fixture
def repo(research_repo: Path, cli) -> Path:
    root = fast_repo(research_repo)
    run_baseline(cli, root)  # four real runs (seeds 0, 1, 2 and 0 again): lines 2 to 5
    return root


def lines_of(root: Path) -> list[str]:
    return (root / "results.tsv").read_text().splitlines(keepends=True)


def write_lines(root: Path, lines: list[str]) -> None:
    (root / "results.tsv").write_text("".join(lines))


def fake_copies(root: Path, slug: str, **changes) -> list[dict]:
    """Rows of `slug` as an attacker writes them: copies of real ones (frozen_sha, code,
    commit and all), new run ids, the changes applied, appended through the harness's own
    writer, so even their chain values are right."""
    real = read_results(root / "results.tsv").filter(pl.col("idea") == slug).to_dicts()
    fakes = [{**row, "chain": None, "run_id": f"{row['run_id']}-fake", **changes} for row in real]
    append_rows(find_layout(root), fakes)
    return fakes


def test_appended_fabricated_ok_rows_are_named_by_verify_and_refused_by_submit(
    repo: Path, cli
) -> None:
    """Attack: append `ok` rows with a better value for an idea, copied from its real rows
    (a valid chain too, written with the harness's own appender), so that it wins.
    Stopped by: the run records. No harness run wrote those rows, so `harness verify` names
    each, and `submit` refuses to decide on them."""
    worktree = start_idea(cli, repo, "fake", "2.0 0.0")  # no real improvement
    evaluate(cli, worktree)
    fakes = fake_copies(repo, "fake", value=1.5)

    verify = cli("verify", cwd=repo)
    submit = cli("submit", "fake", "--wait", cwd=repo)

    assert verify.code == 3
    problems = verify.out.splitlines()
    assert problems == [
        f"results.tsv line {9 + n} (run {fake['run_id']}) has no run record in runs/closed/: "
        "no harness run wrote it (a row appended by hand?); it must not be trusted"
        for n, fake in enumerate(fakes)
    ]
    assert submit.code == 3
    assert submit.err.strip() == (
        f"harness: {problems[0]} (and 2 more): the decision would rest on rows no harness run "
        "wrote, so fake is not submitted; `harness verify` lists every problem"
    )


def test_appended_confirm_rows_with_a_copied_frozen_sha_do_not_confirm(repo: Path, cli) -> None:
    """Attack: a real win on validation that does not hold on held-out data; the agent
    appends `confirm` rows for both sides (frozen_sha and all copied from real rows) that
    say it holds. Stopped by: submit's own confirmation. The first submit ignores every
    confirm row on record and queues its runs; the second decides from exactly those
    (matched by the task tokens it kept), so the win does not hold."""
    worktree = start_idea(cli, repo, "overfit", "1.95 0.2")  # held-out: 0.15 worse
    evaluate(cli, worktree)
    commit = git(repo, "rev-parse", "exp/overfit").strip()
    fake_copies(repo, "overfit", status="confirm", metric="test_bpb", value=1.0, commit=commit)
    fake_copies(repo, "baseline", status="confirm", metric="test_bpb", value=3.0)

    first = cli("submit", "overfit", cwd=repo)

    assert first.code == 0, first.err
    assert first.out.startswith("not decided yet: held-out confirmation queued (6 run(s)): ")
    state = json.loads((repo / ".git/harness/confirm/overfit.json").read_text())
    assert len({run["token"] for run in state["runs"]}) == 6
    assert cli("queue", "wait", cwd=repo).code == 0

    second = cli("submit", "overfit", cwd=repo)

    assert second.code == 1
    assert second.out.startswith(
        "not submitted: the win does not hold on held-out data: held-out test_bpb: baseline "
        "is better than overfit by 0.15"
    )
    assert not (repo / ".git/harness/confirm/overfit.json").exists()  # decided


def test_a_copied_task_token_makes_submit_queue_that_run_again(repo: Path, cli) -> None:
    """Attack: read the tokens submit keeps in .git/harness/confirm/, and append a row
    carrying one of them with a better value (the real row of that task is there too).
    Stopped by: the token match. A token with two rows was copied: both are ignored and that
    run is queued again; a winner still gets its confirmation from real runs only."""
    worktree = start_idea(cli, repo, "lower", "1.95")
    evaluate(cli, worktree)
    assert cli("submit", "lower", cwd=repo).code == 0
    assert cli("queue", "wait", cwd=repo).code == 0
    token = json.loads((repo / ".git/harness/confirm/lower.json").read_text())["runs"][0]
    (real,) = (
        read_results(repo / "results.tsv").filter(pl.col("task_token") == token["token"]).to_dicts()
    )
    append_rows(find_layout(repo), [{**real, "chain": None, "run_id": "x-fake", "value": 0.5}])

    again = cli("submit", "lower", cwd=repo)

    assert again.out.startswith("not decided yet: held-out confirmation queued (1 run(s)): ")
    assert cli("queue", "wait", cwd=repo).code == 0
    done = cli("submit", "lower", cwd=repo)
    assert done.code == 0, done.err
    assert done.out.startswith("submitted: lower beats the head ")
    assert "confirmed on held-out data: held-out test_bpb: lower is better than baseline" in (
        done.out
    )


def test_an_edited_row_breaks_the_chain_there(repo: Path, cli) -> None:
    """Attack: edit a baseline row's value in place (a worse baseline makes ideas win).
    Stopped by: the chain. Every reader names the line; status shows it; verify fails."""
    lines = lines_of(repo)
    lines[2] = lines[2].replace("\t2.0\t", "\t2.5\t", 1)
    write_lines(repo, lines)

    verify = cli("verify", cwd=repo)
    status = cli("status", cwd=repo)

    expected = (
        "results.tsv line 3 breaks the record's chain (the row was edited, or a row before it "
        "deleted): the record is untrusted from that line on, so its 3 row(s) do not count; "
        "restore the file from git (`git diff -- results.tsv`) and see `harness verify`"
    )
    assert verify.code == 3 and verify.out.splitlines()[0] == expected
    assert status.out.splitlines()[0] == f"record     {expected}"
    assert json.loads(cli("status", "--json", cwd=repo).out)["record_warning"] == expected
    assert expected in cli("next", cwd=repo).err


def test_a_deleted_row_breaks_the_chain_at_its_successor(repo: Path, cli) -> None:
    """Attack: delete a row (a bad run of one's own idea, or a good baseline seed).
    Stopped by: the chain, at the line that followed it."""
    lines = lines_of(repo)
    del lines[2]
    write_lines(repo, lines)

    verify = cli("verify", cwd=repo)

    assert verify.code == 3
    assert verify.out.splitlines()[0].startswith(
        "results.tsv line 3 breaks the record's chain (the row was edited, or a row before it "
        "deleted): the record is untrusted from that line on, so its 2 row(s) do not count"
    )


def test_an_inserted_row_breaks_the_chain_at_itself(repo: Path, cli) -> None:
    """Attack: insert a forged row between two real ones, with a chain value of its own.
    Stopped by: the chain; the row after it still builds on the row before it."""
    lines = lines_of(repo)
    forged = lines[2].split("\t")
    forged[0], forged[8] = "20260101-000000.000-forged", "1.0"
    forged[-1] = chain_value(b"", "\t".join(forged[:-1]).encode()).decode() + "\n"
    lines.insert(3, "\t".join(forged))
    write_lines(repo, lines)

    out = cli("verify", cwd=repo).out.splitlines()[0]

    assert out.startswith("results.tsv line 4 breaks the record's chain (a row inserted): ")


def test_a_row_whose_run_record_or_log_is_missing_fails_verify(repo: Path, cli) -> None:
    """Attack: a fabricated row with its chain right, and its "run record" missing; or the
    run's log removed so nobody can see what it printed. Stopped by: harness verify."""
    rows = read_results(repo / "results.tsv").to_dicts()
    assert cli("verify", cwd=repo).out == (
        "results.tsv: 4 rows, chain intact, 4 with their run record and log\n"
    )
    (repo / CLOSED / f"{rows[1]['run_id']}.json").unlink()
    record = json.loads((repo / CLOSED / f"{rows[2]['run_id']}.json").read_text())
    Path(record["log"]).unlink()

    verify = cli("verify", cwd=repo)

    assert verify.code == 3
    assert verify.out.splitlines() == [
        f"results.tsv line 3 (run {rows[1]['run_id']}) has no run record in runs/closed/: no "
        "harness run wrote it (a row appended by hand?); it must not be trusted",
        f"results.tsv line 4 (run {rows[2]['run_id']}): its log {record['log']} is missing",
    ]


def test_rows_after_a_break_do_not_count(repo: Path, cli) -> None:
    """Attack: edit an early row, so that whatever follows looks different. Stopped by: the
    readers: from the break on no row counts (for best, status, next, reports, submit)."""
    lines = lines_of(repo)
    lines[1] = lines[1].replace("\tbaseline\t", "\tbaselin3\t", 1)
    write_lines(repo, lines)

    shown = json.loads(cli("results", "--json", cwd=repo).out)
    status = json.loads(cli("status", "--json", cwd=repo).out)

    assert shown == [] and status["runs"] == 0 and status["baseline"] is None
    assert read_results(repo / "results.tsv", untrusted=True).height == 4  # bookkeeping


def test_an_edit_with_the_chain_recomputed_differs_from_the_committed_record(
    repo: Path, cli
) -> None:
    """Attack: edit a committed row, then recompute every chain value after it (the hash
    has no key). Stopped by: the committed record on main, which today's file must start
    with, and the run's own record, which kept the row as it was (`harness verify`)."""
    assert cli("results", "commit", cwd=repo).code == 0
    lines = lines_of(repo)
    lines[2] = lines[2].replace("\t2.0\t", "\t2.5\t", 1)
    previous = lines[1].rstrip("\n").rsplit("\t", 1)[1].encode()
    for number in range(2, len(lines)):
        content = lines[number].rstrip("\n").rsplit("\t", 1)[0]
        previous = chain_value(previous, content.encode())
        lines[number] = f"{content}\t{previous.decode()}\n"
    write_lines(repo, lines)

    verify = cli("verify", cwd=repo)

    assert verify.code == 3
    assert verify.out.splitlines() == [
        "results.tsv line 3 differs from the record committed on main: a committed row was "
        "edited or deleted; `git diff main -- results.tsv` shows it: restore that line",
        f"results.tsv line 3 (run {lines[2].split(chr(9), 1)[0]}) differs from its run record "
        "in value: the row was edited after the run",
    ]


@pytest.mark.parametrize("no_verify", [False, True], ids=["hook", "no-verify"])
def test_an_edited_record_committed_on_main_is_a_break(repo: Path, cli, no_verify: bool) -> None:
    """Attack: commit an edited results.tsv on main (with or without the hook). The
    pre-commit guard lets it through (results.tsv is GLOBAL: main may change it, and the
    APPEND-ONLY rule covers the journals only). Stopped by: the chain, on every read."""
    assert cli("results", "commit", cwd=repo).code == 0
    lines = lines_of(repo)
    lines[2] = lines[2].replace("\t2.0\t", "\t2.25\t", 1)
    write_lines(repo, lines)
    git(repo, "add", "results.tsv")
    git(repo, "commit", "-q", "-m", "tidy", *(["--no-verify"] if no_verify else []))
    edited = lines[2].split("\t", 1)[0]

    verify = cli("verify", cwd=repo)

    assert verify.code == 3
    assert verify.out.splitlines() == [
        "results.tsv line 3 breaks the record's chain (the row was edited, or a row before it "
        "deleted): the record is untrusted from that line on, so its 3 row(s) do not count; "
        "restore the file from git (`git diff -- results.tsv`) and see `harness verify`",
        f"results.tsv line 3 (run {edited}) differs from its run record in value: the row was "
        "edited after the run",
    ]


def test_a_reader_in_another_process_names_the_break(repo: Path) -> None:
    """The same check in a plain `harness results best` process: a warning on stderr, the
    data on stdout unchanged in form."""
    lines = lines_of(repo)
    lines[2] = lines[2].replace("\t2.0\t", "\t1.0\t", 1)
    write_lines(repo, lines)

    proc = subprocess.run(
        [sys.executable, "-m", "harness", "results", "best", "--json"],
        cwd=repo,
        capture_output=True,
        text=True,
    )

    assert proc.returncode == 0
    assert json.loads(proc.stdout)["value"] != 1.0  # the edited value never counts
    assert "results.tsv line 3 breaks the record's chain (the row was edited, " in proc.stderr


def test_chain_values_blanked_turn_no_row_into_an_old_one(repo: Path, cli) -> None:
    """Attack: blank every chain value, so that the file looks as if it predated the chain
    (its rows then count, with a warning only). Stopped by: harness verify: those rows'
    runs kept records, and a harness that keeps them seals every row it writes."""
    lines = lines_of(repo)
    write_lines(repo, [lines[0], *(line.rsplit("\t", 1)[0] + "\t\n" for line in lines[1:])])
    first = lines[1].split("\t", 1)[0]

    verify = cli("verify", cwd=repo)

    assert verify.code == 3
    assert verify.out.splitlines()[0] == (
        f"results.tsv line 2 (run {first}) has no chain value, though its run was recorded by "
        "a harness that seals every row: the chain was removed"
    )


def test_appended_confirm_rows_do_not_change_the_reports_held_out_numbers(repo: Path, cli) -> None:
    """Attack: append `confirm` rows for both sides (copied from real rows, a valid chain)
    so that the report shows a held-out win no run made, before any submit and after it.
    Stopped by: the report's own reading of the confirmation. It shows only the runs submit
    queued (matched by the task tokens it kept): "not confirmed yet" before, those runs'
    values after, whatever else is on record."""

    def held_out_section() -> str:
        assert cli("report", "lower", cwd=repo).code == 0
        (path,) = (repo / "9_reports").glob("*_lower.md")
        text = path.read_text()
        return text[text.index("## Held-out confirmation") : text.index("## Observations")]

    def append_fakes(slug: str, value: float, **changes: object) -> None:
        real = read_results(repo / "results.tsv").filter(pl.col("idea") == slug).to_dicts()
        fakes = [
            {**row, "chain": None, "run_id": f"{row['run_id']}-fake{value}", "task_token": None}
            | {"status": "confirm", "metric": "test_bpb", "value": value, **changes}
            for row in real
            if row["status"] in ("ok", "confirm") and "-fake" not in row["run_id"]
        ]
        append_rows(find_layout(repo), fakes)

    worktree = start_idea(cli, repo, "lower", "1.95")
    evaluate(cli, worktree)
    append_fakes("lower", 1.0, commit=git(repo, "rev-parse", "exp/lower").strip())
    append_fakes("baseline", 3.0)

    before = held_out_section()

    assert "Not confirmed yet: `harness submit lower`" in before
    assert "-fake" not in before and "better than" not in before
    assert cli("submit", "lower", cwd=repo).code == 0
    assert cli("queue", "wait", cwd=repo).code == 0
    assert cli("submit", "lower", cwd=repo).code == 0
    frame = read_results(repo / "results.tsv")
    trusted = frame.filter(pl.col("task_token").is_not_null()).get_column("run_id").to_list()
    assert len(trusted) == 6
    append_fakes("lower", 0.5)

    after = held_out_section()

    assert "-fake" not in after
    assert all(run_id in after for run_id in trusted)
    assert "lower is better than baseline by 0.05" in after
