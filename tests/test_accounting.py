"""Every run accounted for: real `harness eval` processes, killed; real files, unwritable or full.

A run is on record from its start (a run record in the git dir), its processes die with
the harness (parent-death signal, watchdog, a kill of the whole tree at the end), and
`harness sync` (or `status`, `next`) gives a run whose harness died its row and its
journal entry, exactly once.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from harness.queue.local import LocalBackend
from harness.record.results import read_results
from tests.accounting_helpers import (
    harness_eval,
    is_evaluating,
    journal_run_ids,
    kill_all,
    run_ids_started,
    run_processes,
    sigkill_leaving_nothing,
    start_sleeping_eval,
    wait_for_no_processes,
    write_tree_eval,
)
from tests.queue_helpers import is_alive, wait_until


@pytest.fixture
def repo(local_queue_repo: Path) -> Path:
    return local_queue_repo


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
    proc = harness_eval(
        repo, account / "tree_eval.py", env={"ACCOUNT_DIR": str(account), "EVAL_SLEEP": "60"}
    )
    wait_until(lambda: len(list((account / "concurrency").glob("*"))) == 1)
    (run_id,) = run_ids_started(account)
    wait_until(lambda: len(run_processes({run_id}).get(run_id, [])) >= 3)  # eval + 2 sleepers
    sigkill_leaving_nothing(proc, run_id)
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
    proc, run_id = start_sleeping_eval(repo, account)
    sigkill_leaving_nothing(proc, run_id)
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


KILL_LOOP_RUNS = int(os.environ.get("HARNESS_KILL_LOOP_RUNS", "30"))
AT_ONCE = 5


def test_kill_loop_every_started_run_has_one_row_one_entry_and_no_process(
    repo: Path, account: Path, cli
) -> None:
    """SIGKILL real `harness eval` runs at random moments (before, during, after the
    evaluation, while recording), then one sync: nothing lost, nothing twice, no orphan."""
    import random

    chance = random.Random(13)
    script = account / "tree_eval.py"

    def start_batch(size: int) -> list[subprocess.Popen[bytes]]:
        return [
            harness_eval(
                repo,
                script,
                env={"ACCOUNT_DIR": str(account), "EVAL_SLEEP": f"{chance.uniform(0, 0.6):.3f}"},
            )
            for _ in range(size)
        ]

    # how long a batch takes on this machine today, so the kills spread over whole runs
    began = time.monotonic()
    for proc in start_batch(AT_ONCE):
        proc.wait()
    span = (time.monotonic() - began) * 1.1
    kills: Counter[str] = Counter()

    def kill(proc: subprocess.Popen[bytes], *, during: bool, delay: float) -> None:
        """SIGKILL at a random moment, or a moment after its evaluation started."""
        deadline = time.monotonic() + span
        while during and not is_evaluating(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(delay)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills["during the evaluation" if during else "at a random moment"] += 1

    for first in range(0, KILL_LOOP_RUNS, AT_ONCE):
        batch = start_batch(min(AT_ONCE, KILL_LOOP_RUNS - first))
        killers = []
        for proc in batch:
            during = chance.random() < 0.5
            delay = chance.uniform(0, 0.3) if during else chance.uniform(0, span)
            killer = threading.Thread(
                target=kill, args=(proc,), kwargs={"during": during, "delay": delay}
            )
            killer.start()
            killers.append(killer)
        for killer in killers:
            killer.join()
        for proc in batch:
            proc.wait()
    killed = sum(kills.values())

    logs = {path.stem for path in (repo / ".git" / "harness" / "logs").glob("*.log")}
    started = run_ids_started(account) | logs
    try:
        result = cli("sync", cwd=repo)
        assert result.code == 0, result.err
        rows = rows_by_run(repo)
        entries = journal_run_ids(repo, set(rows) | started)
        orphans = wait_for_no_processes(set(rows) | started, timeout=3.0)
    finally:
        kill_all(started)
    print(
        f"\nkill loop: {KILL_LOOP_RUNS} harness processes killed at random moments within "
        f"{span:.1f} s ({dict(kills)} while the harness ran) after {AT_ONCE} unkilled, "
        f"{len(started)} runs started, {sum(map(len, rows.values()))} rows "
        f"({len(rows)} run ids), {sum(entries.values())} journal entries, "
        f"{sum(map(len, orphans.values()))} orphaned processes, "
        f"statuses {dict(Counter(found[0]['status'] for found in rows.values()))}"
    )
    assert started <= set(rows)
    assert all(len(found) == 1 for found in rows.values())
    assert entries == {run_id: 1 for run_id in set(rows) | started}
    assert orphans == {}
    assert run_records(repo) == []
    assert killed >= KILL_LOOP_RUNS // 3  # the loop did kill runs mid-way
    assert kills["during the evaluation"] >= KILL_LOOP_RUNS // 5


def test_a_killed_local_worker_leaves_no_orphan_and_never_more_than_parallel(
    repo: Path, account: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`parallel = 4`, eight queued `harness eval` runs; the worker is SIGKILLed while four
    run. Its successor marks them lost and kills their whole trees (the evaluations that
    `harness eval` started in sessions of their own included) before starting the rest."""
    from tests.conftest import commit_files

    pyproject = repo / "pyproject.toml"
    text = pyproject.read_text() + "\n[tool.harness.local]\nparallel = 4\n"
    commit_files(repo, {"pyproject.toml": text}, "four at once", meta=True)
    monkeypatch.setenv("ACCOUNT_DIR", str(account))
    monkeypatch.setenv("EVAL_SLEEP", "0.5")
    (account / "slow").touch()
    command = [sys.executable, "-m", "harness", "eval", "--", sys.executable]
    result = cli(
        "queue", "add", "--seeds", "8", "--", *command, str(account / "tree_eval.py"), cwd=repo
    )
    assert result.code == 0, result.err
    backend = LocalBackend(repo / ".git" / "harness" / "queue")
    wait_until(lambda: len(run_ids_started(account)) == 4, timeout=60)
    first = run_ids_started(account)
    wait_until(lambda: all(len(run_processes({r}).get(r, [])) >= 3 for r in first), timeout=30)
    (account / "slow").unlink()
    worker = backend.worker_pid()
    assert worker is not None
    try:
        os.kill(worker, signal.SIGKILL)
        wait_until(lambda: not is_alive(worker))
        states = {task.task_id: task.state for task in backend.states()}  # starts a successor
        assert sorted(states.values()).count("lost") == 4
        assert wait_for_no_processes(first, timeout=10) == {}  # lost: their trees are gone
        assert cli("queue", "wait", cwd=repo).code in (0, 1)
    finally:
        kill_all(run_ids_started(account))
    states = {task.task_id: task.state for task in backend.states()}
    assert sorted(states.values()) == ["lost"] * 4 + ["succeeded"] * 4

    assert cli("status", cwd=repo).code == 0  # the cheap path asks the queue about them
    assert cli("sync", cwd=repo).code == 0
    rows = rows_by_run(repo)
    started = run_ids_started(account)
    assert len(started) == 8 and started == set(rows)
    assert all(len(found) == 1 for found in rows.values())
    by_status = sorted(found[0]["status"] for found in rows.values())
    assert by_status == ["lost"] * 4 + ["ok"] * 4  # the record agrees with the queue
    assert {found[0]["queue_task"] for found in rows.values()} == {f"local:{i}" for i in range(8)}
    assert journal_run_ids(repo, started) == {run_id: 1 for run_id in started}
    assert run_processes(started) == {}
    concurrency = [int(p.read_text()) for p in (account / "concurrency").iterdir()]
    print(
        f"\nkilled worker: 8 tasks, {len(started)} runs started, {len(rows)} rows "
        f"({', '.join(by_status)}), {sum(journal_run_ids(repo, started).values())} journal "
        f"entries, 0 orphaned processes, at most {max(concurrency)} evaluations at once"
    )
    assert len(concurrency) == 8 and max(concurrency) <= 4


def test_a_run_on_another_machine_is_lost_only_once_its_record_goes_stale(
    repo: Path, account: Path, cli
) -> None:
    """The repository is shared (NFS): a record from another host is judged by its
    heartbeat (the watchdog touches it while the run lives), never by a local pid."""
    proc, run_id = start_sleeping_eval(repo, account)
    sigkill_leaving_nothing(proc, run_id)
    (record,) = run_records(repo)
    data = json.loads(record.read_text())
    record.write_text(json.dumps(data | {"host": "gpu-node-7", "pid": 1}))  # touched now

    assert cli("sync", cwd=repo).code == 0
    assert rows_by_run(repo) == {} and run_records(repo) == [record]  # alive over there

    stale = time.time() - 3600
    os.utime(record, (stale, stale))
    assert cli("sync", cwd=repo).code == 0
    (row,) = rows_by_run(repo)[run_id]
    assert row["status"] == "lost"
    assert "on gpu-node-7 has not been heard from since" in row["description"]
    assert journal_run_ids(repo, {run_id}) == {run_id: 1}


def test_sync_without_a_reachable_queue_still_records_a_killed_run(
    repo: Path, account: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which("pueue"):
        pytest.skip("pueue is installed here: this test needs a queue that cannot be reached")
    proc, run_id = start_sleeping_eval(repo, account)
    sigkill_leaving_nothing(proc, run_id)
    monkeypatch.setenv("HARNESS_QUEUE", "pueue")
    result = cli("sync", cwd=repo)
    assert result.code == 0, result.err
    assert "only the runs whose harness died are recorded" in result.err
    assert [row["status"] for row in rows_by_run(repo)[run_id]] == ["killed"]


def test_a_lost_task_that_recorded_its_row_keeps_the_row_status(
    repo: Path, account: Path, cli
) -> None:
    """The evaluation recorded `ok`, then the worker died while the task still ran: the
    task is `lost` in the queue, the record keeps its `ok` row and gains nothing."""
    eval_then_wait = (
        f"{sys.executable} -m harness eval -- {sys.executable} {account / 'tree_eval.py'}"
        f" && touch {account / 'recorded'} && sleep 60"
    )
    os.environ["ACCOUNT_DIR"] = str(account)
    try:
        assert cli("queue", "add", "--", "sh", "-c", eval_then_wait, cwd=repo).code == 0
    finally:
        del os.environ["ACCOUNT_DIR"]
    backend = LocalBackend(repo / ".git" / "harness" / "queue")
    wait_until(lambda: (account / "recorded").exists(), timeout=60)
    worker = backend.worker_pid()
    assert worker is not None
    os.kill(worker, signal.SIGKILL)
    wait_until(lambda: not is_alive(worker))
    assert [task.state for task in backend.states()] == ["lost"]
    assert cli("sync", cwd=repo).code == 0
    (run_id,) = run_ids_started(account)
    assert [row["status"] for row in rows_by_run(repo)[run_id]] == ["ok"]
    assert sum(map(len, rows_by_run(repo).values())) == 1
    assert journal_run_ids(repo, {run_id}) == {run_id: 1}


def test_a_killed_submit_leaves_its_confirmation_run_on_record(
    research_repo: Path, cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`harness submit` killed during a held-out confirmation run: the run gets its row
    and entry from the next sync, and its evaluation is gone."""
    import re

    from tests.conftest import commit_files
    from tests.loop_helpers import bare_origin, evaluate, fast_repo, run_baseline, start_idea

    monkeypatch.setenv("HARNESS_QUEUE", "local")
    root = fast_repo(research_repo)
    text = (root / "pyproject.toml").read_text()
    slow = "confirm = \"python -c 'import time; time.sleep(60)'\""
    commit_files(root, {"pyproject.toml": re.sub(r'(?m)^confirm = "[^"]*"', slow, text)}, meta=True)
    run_baseline(cli, root)  # of the head's code: decisions are taken against it
    bare_origin(root, tmp_path)
    worktree = start_idea(cli, root, "lower", "1.95")
    evaluate(cli, worktree)
    cli("report", "lower", cwd=root)
    submit = subprocess.Popen(
        [sys.executable, "-m", "harness", "submit", "lower", "--wait"],
        cwd=worktree,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_until(lambda: bool(run_records(root)), timeout=60)
    (record,) = run_records(root)
    run_id = record.stem
    wait_until(lambda: bool(run_processes({run_id})))
    sigkill_leaving_nothing(submit, run_id)
    assert cli("sync", cwd=root).code == 0
    (row,) = rows_by_run(root)[run_id]
    assert row["status"] == "killed" and row["metric"] == "test_bpb"
    assert journal_run_ids(root, {run_id}) == {run_id: 1}
    LocalBackend(root / ".git" / "harness" / "queue").stop_worker()


def test_the_watchdog_touches_the_run_record_while_the_harness_lives(tmp_path: Path) -> None:
    """The heartbeat another machine judges a run by; a real pipe, a real file."""
    from harness.runs.watchdog import watch

    record = tmp_path / "run.json"
    record.write_text("{}")
    os.utime(record, (0, 0))
    read_fd, write_fd = os.pipe()
    watcher = threading.Thread(
        target=watch,
        args=(read_fd,),
        kwargs={"marker": ("HARNESS_RUN_TREE", "none"), "heartbeat": str(record), "interval": 0.05},
    )
    watcher.start()
    wait_until(lambda: record.stat().st_mtime > time.time() - 60)
    os.write(write_fd, b"done\n")
    os.close(write_fd)
    watcher.join(timeout=5)
    assert not watcher.is_alive()
    os.close(read_fd)
