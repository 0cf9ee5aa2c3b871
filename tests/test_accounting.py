"""Every run accounted for: real `harness eval` processes, killed; real files, unwritable or full.

A run is on record from its start (a run record in the git dir), its processes die with
the harness (parent-death signal, watchdog, a kill of the whole tree at the end), and
`harness sync` (or `status`, `next`) gives a run whose harness died its row and its
journal entry, exactly once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from accounting_helpers import (
    harness_eval,
    journal_run_ids,
    kill_all,
    read_only,
    run_ids_started,
    run_processes,
    tmpfs,
    wait_for_no_processes,
    write_tree_eval,
)
from queue_helpers import wait_until

from harness.queue.local import LocalBackend
from harness.record.results import read_results


@pytest.fixture
def repo(research_repo: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("HARNESS_QUEUE", "local")
    yield research_repo
    LocalBackend(research_repo / ".git" / "harness" / "queue").stop_worker()


@pytest.fixture
def account(tmp_path: Path) -> Path:
    folder = tmp_path / "account"
    folder.mkdir()
    write_tree_eval(folder)
    return folder


def rows_by_run(repo: Path) -> dict[str, list[dict]]:
    if not (repo / "results.tsv").exists():
        return {}
    rows: dict[str, list[dict]] = {}
    for row in read_results(repo / "results.tsv").iter_rows(named=True):
        rows.setdefault(row["run_id"], []).append(row)
    return rows


def run_records(repo: Path) -> list[Path]:
    return sorted((repo / ".git" / "harness" / "runs").glob("*.json"))


def test_a_killed_eval_leaves_no_process_and_sync_records_it_once(
    repo: Path, account: Path, cli
) -> None:
    proc = harness_eval(repo, account / "tree_eval.py", env={"ACCOUNT_DIR": str(account), "EVAL_SLEEP": "60"})
    wait_until(lambda: len(list((account / "concurrency").glob("*"))) == 1)
    (run_id,) = run_ids_started(account)
    wait_until(lambda: len(run_processes({run_id}).get(run_id, [])) >= 3)  # eval + 2 sleepers
    try:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert wait_for_no_processes({run_id}) == {}
    finally:
        kill_all({run_id})
    assert rows_by_run(repo) == {}  # nothing recorded it yet: only its run record knows
    (record,) = run_records(repo)
    assert json.loads(record.read_text())["run_id"] == run_id

    result = cli("sync", cwd=repo)
    assert result.code == 0, result.err
    (row,) = rows_by_run(repo)[run_id]
    assert row["status"] == "killed" and row["value"] is None
    assert "ended before recording the run" in row["description"]
    assert "$ " in row["description"]  # the log's tail (its first line is the command)
    assert journal_run_ids(repo, {run_id}) == {run_id: 1}
    assert run_records(repo) == []

    cli("sync", cwd=repo)
    assert cli("status", cwd=repo).code == 0
    assert len(rows_by_run(repo)[run_id]) == 1
    assert journal_run_ids(repo, {run_id}) == {run_id: 1}


def test_status_and_next_account_for_a_killed_run(repo: Path, account: Path, cli) -> None:
    proc = harness_eval(repo, account / "tree_eval.py", env={"ACCOUNT_DIR": str(account), "EVAL_SLEEP": "60"})
    wait_until(lambda: bool(run_ids_started(account)))
    (run_id,) = run_ids_started(account)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    try:
        assert wait_for_no_processes({run_id}) == {}
    finally:
        kill_all({run_id})
    assert cli("next", cwd=repo).code == 0
    assert [row["status"] for row in rows_by_run(repo)[run_id]] == ["killed"]
    assert cli("status", cwd=repo).code == 0
    assert len(rows_by_run(repo)[run_id]) == 1
    assert journal_run_ids(repo, {run_id}) == {run_id: 1}


def test_a_finished_run_leaves_no_process_behind(repo: Path, account: Path, cli) -> None:
    os.environ["ACCOUNT_DIR"] = str(account)
    try:
        result = cli("eval", "--", sys.executable, str(account / "tree_eval.py"), cwd=repo)
    finally:
        del os.environ["ACCOUNT_DIR"]
    assert result.code == 0, result.err
    (run_id,) = run_ids_started(account)
    assert run_processes({run_id}) == {}  # at once: the harness ended the tree itself
    assert [row["status"] for row in rows_by_run(repo)[run_id]] == ["ok"]
    assert journal_run_ids(repo, {run_id}) == {run_id: 1}
    assert run_records(repo) == []  # closed: removed once the row and entry are written


def test_a_run_whose_journal_entry_failed_gets_it_from_the_next_sync(repo: Path, cli) -> None:
    journal = repo / "RESEARCH_JOURNAL.md"
    aside = repo / "journal.aside"
    # during the run a folder takes the journal's place: its entry cannot be written
    breaker = (
        f"import os; os.rename({str(journal)!r}, {str(aside)!r}); os.mkdir({str(journal)!r}); "
        "print('---'); print('val_bpb: 2.5')"
    )
    result = cli("eval", "--", sys.executable, "-c", breaker, cwd=repo)
    assert result.code == 0, result.err  # the run is recorded: only its entry is late
    assert "journal entry is not" in result.err and "harness sync" in result.err
    (run_id,) = rows_by_run(repo)
    assert [row["status"] for row in rows_by_run(repo)[run_id]] == ["ok"]
    assert len(run_records(repo)) == 1

    journal.rmdir()
    aside.rename(journal)
    assert cli("sync", cwd=repo).code == 0
    cli("sync", cwd=repo)
    assert journal_run_ids(repo, {run_id}) == {run_id: 1}
    assert len(rows_by_run(repo)[run_id]) == 1  # the row was not written again
    assert run_records(repo) == []


def test_a_harness_killed_between_row_and_entry_gets_its_entry_once(repo: Path, cli) -> None:
    """A real process writes the run record and the row, then dies before the entry."""
    script = """
import os, sys
from harness.layout import find_layout
from harness.record.results import append_rows, new_run_id, utc_now
from harness.runs.records import finalise, open_run
layout = find_layout()
row = {"run_id": new_run_id(), "timestamp": utc_now(), "idea": "baseline", "seed": 0,
       "metric": "val_bpb", "value": 2.5, "status": "ok", "duration_s": 1.0,
       "integrity": "ok"}
run = open_run(layout, row, command=["eval"], log_path=layout.state_dir / "logs" / "x.log")
finalise(layout, run, row)
append_rows(layout, [row])
print(row["run_id"])
os._exit(0)  # dead before the journal entry
"""
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=repo, capture_output=True, text=True, check=True
    )
    run_id = proc.stdout.strip()
    assert journal_run_ids(repo, {run_id}) == {run_id: 0}
    result = cli("sync", cwd=repo)
    assert result.code == 0, result.err
    assert journal_run_ids(repo, {run_id}) == {run_id: 1}
    (row,) = rows_by_run(repo)[run_id]
    assert row["status"] == "ok" and row["value"] == 2.5  # the entry is the row's
    assert "val_bpb = 2.5" in (repo / "RESEARCH_JOURNAL.md").read_text()
    cli("sync", cwd=repo)
    assert journal_run_ids(repo, {run_id}) == {run_id: 1}


def test_a_command_that_cannot_start_leaves_no_run_record(repo: Path, cli) -> None:
    result = cli("eval", "--", "no-such-command-anywhere", cwd=repo)
    assert result.code == 2
    assert run_records(repo) == []
    assert list((repo / ".git" / "harness" / "runs").glob("*.reserve")) == []
