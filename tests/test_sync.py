"""`harness sync` with the real local queue: tasks that ended without a row get one, once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.record.results import read_results
from harness.record.schema import header_line
from tests.conftest import commit_config, git
from tests.pueue_replay import FIXTURES, SCRIPT_ENV, install
from tests.queue_helpers import wait_until

# an "evaluation" that records itself through harness eval, and prints its metric
GOOD_EVAL = "print('---'); print('val_bpb: 2.5')"


@pytest.fixture
def repo(local_queue_repo: Path) -> Path:
    return local_queue_repo


def test_sync_records_failed_and_killed_tasks_once(repo: Path, cli) -> None:
    git(repo, "worktree", "add", "--quiet", "5_worktrees/wider", "-b", "exp/wider")
    worktree = repo / "5_worktrees" / "wider"
    label = ("-q", "does 'wider' help?", "-H", "expect -0.02; $HOME stays")
    crash = ("sh", "-c", "echo 'Traceback: boom' >&2; exit 3")
    cli("queue", "add", *label, "--seeds", "2", "--", *crash, cwd=worktree)  # local:0, local:1
    cli("queue", "add", "--", "harness", "eval", "--", "python", "-c", GOOD_EVAL, cwd=worktree)
    cli("queue", "add", "--", "true", cwd=worktree)  # local:3, not an evaluation
    cli("queue", "add", "--", "sleep", "60", cwd=worktree)  # local:4, killed below
    wait_until(
        lambda: json.loads(cli("queue", "status", "--json", cwd=repo).out)[4]["state"] == "running"
    )
    assert cli("queue", "kill", "local:4", cwd=repo).code == 0
    ids = [f"local:{n}" for n in range(5)]
    assert cli("queue", "wait", *ids, cwd=repo).code == 1  # some tasks failed

    first = cli("sync", cwd=worktree)
    assert first.code == 0, first.err
    rows = read_results(repo / "results.tsv").sort("queue_task")
    by_task = {row["queue_task"]: row for row in rows.iter_rows(named=True)}
    assert set(by_task) == {"local:0", "local:1", "local:2", "local:4"}
    assert by_task["local:2"]["status"] == "ok" and by_task["local:2"]["value"] == 2.5
    for task, seed in (("local:0", 0), ("local:1", 1)):
        row = by_task[task]
        assert (row["status"], row["idea"], row["seed"]) == ("crash", "wider", seed)
        assert row["question"] == "does 'wider' help?"
        assert row["hypothesis"] == "expect -0.02; $HOME stays"
        assert row["value"] is None
        assert "Traceback: boom" in row["description"]
        assert json.loads(row["extra"])["exit_code"] == 3
        assert row["integrity"] == "ok" and row["branch"] == "exp/wider"
    assert by_task["local:4"]["status"] == "killed"
    # every row carries its task's token: the eval's from its environment, sync's from the state
    tasks = json.loads(cli("queue", "status", "--json", cwd=repo).out)
    token_of = {task["id"]: task["token"] for task in tasks}
    assert all(task["token"] == task["env"]["HARNESS_TASK_TOKEN"] for task in tasks)
    assert {task: row["task_token"] for task, row in by_task.items()} == {
        task: token_of[task] for task in by_task
    }
    assert len(set(token_of.values())) == 5
    assert all(row["agent"] for row in by_task.values())
    assert "3 recorded, 1 already recorded" in first.out
    assert "1 succeeded without a row (not evaluations): local:3" in first.out
    journal = (repo / "RESEARCH_JOURNAL.md").read_text()
    assert journal.count("local:0") == 1 and journal.count("local:4") == 1

    again = cli("sync", cwd=repo)
    assert "0 recorded, 4 already recorded" in again.out
    assert len(read_results(repo / "results.tsv")) == 4
    assert (repo / "RESEARCH_JOURNAL.md").read_text() == journal


def test_sync_with_nothing_queued_adds_nothing(repo: Path, cli) -> None:
    result = cli("sync", "--json", cwd=repo)
    assert result.code == 0
    assert json.loads(result.out) == {
        "recorded": [], "already": 0, "not_evaluations": [], "unfinished": 0
    }  # fmt: skip
    assert (repo / "results.tsv").read_text() == header_line(), "not even an empty line added"


# Reused pueue ids, against the recorded protocol (tests/pueue_replay.py: a strict stand-in
# for the pueue client, not the real binary). pueue counts from 0 again after `pueue reset`,
# and after a `clean` that removed every task (recordings s7_*, both versions).

OLD_TOKEN, NEW_TOKEN = "00000000000000aa", "00000000000000bb"


def reused_id_status(version: str, scenario: str) -> str:
    """The recorded status with task 0 reused: a new task of the harness that failed.

    Task 0 gets what a harness task carries (its token in its environment and label) and
    the failed result in the version's own shape (as the recorded failed task of s5).
    """
    data = json.loads((FIXTURES / version / f"{scenario}.stdout").read_text())
    task = data["tasks"]["0"]
    task["envs"]["HARNESS_TASK_TOKEN"] = NEW_TOKEN
    task["label"] += f" [task {NEW_TOKEN}]"
    done = task["status"]["Done"]
    if isinstance(done, dict) and "result" in done:  # 4.x: the times sit beside the result
        done["result"] = {"Failed": 3}
    else:  # 3.x
        task["status"]["Done"] = {"Failed": 3}
    return json.dumps(data)


def log_of_task_0(version: str, status: str) -> str:
    """`log --json` of task 0 in the recorded shape: {id: {task, output}}."""
    task = json.loads(status)["tasks"]["0"]
    return json.dumps({"0": {"task": task, "output": "Traceback: boom"}})


@pytest.mark.parametrize("version", ["v3.1.2", "v4.0.4"])
@pytest.mark.parametrize("scenario", ["s7_status_json_reused_id", "s7_status_json_after_clean"])
def test_a_new_task_with_a_reused_pueue_id_gets_its_row(
    research_repo: Path, cli, monkeypatch, tmp_path: Path, version: str, scenario: str
) -> None:
    """Against the recorded protocol (a replaying stand-in for the pueue client, not the real
    binary): task 0 was recorded, pueue was reset (or cleaned), and the new task 0 failed."""
    from harness.config import load_config
    from harness.layout import find_layout
    from harness.queue.pueue import PueueBackend
    from harness.runs.sync import sync

    # the row of the first task 0, recorded by its own harness eval
    monkeypatch.setenv("HARNESS_QUEUE_TASK", "pueue:0")
    monkeypatch.setenv("HARNESS_TASK_TOKEN", OLD_TOKEN)
    assert cli("eval", "--", "python", "-c", GOOD_EVAL, cwd=research_repo).code == 0
    for name in ("HARNESS_QUEUE_TASK", "HARNESS_TASK_TOKEN"):
        monkeypatch.delenv(name)

    replay, path = install(tmp_path / "replay", version=version, work=tmp_path)
    monkeypatch.setenv("PATH", path)
    monkeypatch.setenv(SCRIPT_ENV, str(replay.script))
    status = reused_id_status(version, scenario)
    replay.expect(
        scenario,
        "s5_log_json_full_40_lines",
        replies={0: status, 1: log_of_task_0(version, status)},
    )
    layout, config = find_layout(research_repo), load_config(research_repo)
    backend = PueueBackend(
        config="/SANDBOX/pueue.yml" if version == "v3.1.2" else None, group="default"
    )
    report = sync(layout, config, backend)
    replay.assert_done()

    assert (len(report.recorded), report.already) == (1, 0)
    rows = read_results(research_repo / "results.tsv")
    assert rows["queue_task"].to_list() == ["pueue:0", "pueue:0"]
    assert rows["task_token"].to_list() == [OLD_TOKEN, NEW_TOKEN]
    assert rows["status"].to_list() == ["ok", "crash"]
    assert "Traceback: boom" in rows["description"][1]

    replay.expect(scenario, replies={0: status})  # once recorded, never again
    again = sync(layout, config, backend)
    replay.assert_done()
    assert (again.recorded, again.already) == ([], 1)
    assert read_results(research_repo / "results.tsv").height == 2


def test_rows_without_a_token_match_by_id_but_never_an_earlier_row() -> None:
    from harness.queue.base import TaskState
    from harness.runs.sync import tasks_of_rows

    known = tasks_of_rows(
        [
            ("pueue:0", "", "2026-12-01T10:00:00Z"),  # an older harness's row: no token
            ("pueue:1", NEW_TOKEN, "2026-12-01T10:00:00Z"),
        ]
    )

    def task(task_id: str, *, token: str = "", enqueued: str) -> TaskState:
        return TaskState(task_id, "failed", backend="pueue", token=token, enqueued_at=enqueued)

    assert known.has(task("0", enqueued="2026-12-01T09:59:59.500Z"))  # queued before its row
    assert known.has(task("0", enqueued="2026-12-01T10:00:00.800Z"))  # the row has whole seconds
    assert not known.has(task("0", enqueued="2026-12-01T10:05:00.000Z"))  # a reused id
    assert known.has(task("7", token=NEW_TOKEN, enqueued="2026-12-01T11:00:00.000Z"))
    assert not known.has(task("1", token=OLD_TOKEN, enqueued="2026-12-01T09:00:00.000Z"))


def test_a_task_the_queue_timed_out_is_recorded_as_timeout(repo: Path, cli) -> None:
    assert "timeout = 1800" in (repo / "pyproject.toml").read_text()
    commit_config(repo, lambda text: text.replace("timeout = 1800", "timeout = 3"))  # the queue's
    slow = "import time; print('started', flush=True); time.sleep(60)"
    # the evaluation's own timeout is longer: the queue's stops it
    evaluation = ("harness", "eval", "--timeout", "120", "--", "python", "-c", slow)
    assert cli("queue", "add", "--", *evaluation, cwd=repo).code == 0
    assert cli("queue", "wait", "local:0", cwd=repo).code == 1
    (task,) = json.loads(cli("queue", "status", "--json", cwd=repo).out)
    assert task["state"] == "timed_out"
    rows = read_results(repo / "results.tsv")
    assert rows["status"].to_list() == ["timeout"]
    assert rows["task_token"].to_list() == [task["token"]]
    assert "0 recorded, 1 already recorded" in cli("sync", cwd=repo).out
    assert read_results(repo / "results.tsv").height == 1


def test_an_older_header_without_task_token_falls_back_to_ids(repo: Path, cli) -> None:
    from harness.record.schema import FIRST_COLUMNS, header_line

    (repo / "results.tsv").write_text(header_line(FIRST_COLUMNS))  # no task_token column
    evaluation = ("harness", "eval", "--", "python", "-c", GOOD_EVAL)
    assert cli("queue", "add", "--", *evaluation, cwd=repo).code == 0
    assert cli("queue", "add", "--", "sh", "-c", "exit 3", cwd=repo).code == 0
    assert cli("queue", "wait", "local:0", "local:1", cwd=repo).code == 1
    assert "1 recorded, 1 already recorded" in cli("sync", cwd=repo).out
    assert "0 recorded, 2 already recorded" in cli("sync", cwd=repo).out
    rows = read_results(repo / "results.tsv")
    assert rows["queue_task"].to_list() == ["local:0", "local:1"]
    assert rows["status"].to_list() == ["ok", "crash"]
    assert (repo / "results.tsv").read_text().splitlines()[0] == "\t".join(FIRST_COLUMNS)


def test_a_dead_run_takes_its_own_tasks_status_not_a_reused_ids(
    research_repo: Path, tmp_path: Path
) -> None:
    """The run died unrecorded as task pueue:0; after a reset a new task 0 ended `failed`."""
    import socket

    from harness.layout import find_layout
    from harness.queue.base import TaskState
    from harness.runs.records import OpenRun, ended_row
    from harness.runs.sync import queue_statuses

    finished = [
        TaskState("0", "failed", backend="pueue", token=NEW_TOKEN),  # the new task 0
        TaskState("1", "lost", backend="pueue", token=OLD_TOKEN),  # what became of the run
    ]
    statuses = queue_statuses(finished)

    def dead_run(row: dict[str, str]) -> OpenRun:
        return OpenRun("r1", socket.gethostname(), 1, None, "", str(tmp_path), ["x"],
                       str(tmp_path / "log"), 0.0, "m", row=row)  # fmt: skip

    layout = find_layout(research_repo)
    with_token = dead_run({"queue_task": "pueue:0", "task_token": OLD_TOKEN})
    assert ended_row(with_token, layout=layout, statuses=statuses)["status"] == "lost"
    without = dead_run({"queue_task": "pueue:0", "task_token": ""})  # an older harness's
    assert ended_row(without, layout=layout, statuses=statuses)["status"] == "crash"
