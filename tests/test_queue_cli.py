"""`harness queue ...` in a real research repository with the local queue, and the choice of
backend (flag, then [tool.harness] queue, then HARNESS_QUEUE, then auto)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from harness.config import Config
from harness.errors import ConfigError
from harness.queue.choice import Choice, choose_backend
from harness.queue.local import LocalBackend
from harness.record.results import read_results
from tests.conftest import git
from tests.queue_helpers import wait_until

ECHO = (
    "import os, sys; "
    "print(sys.argv[1:], os.environ['HARNESS_QUESTION'], os.environ['HARNESS_QUEUE_TASK'])"
)


@pytest.fixture
def repo(local_queue_repo: Path) -> Path:
    return local_queue_repo


@pytest.fixture
def worktree(repo: Path) -> Path:
    git(repo, "worktree", "add", "--quiet", "5_worktrees/warmup", "-b", "exp/warmup")
    return repo / "5_worktrees" / "warmup"


def test_add_with_seeds_queues_labelled_tasks_from_a_worktree(worktree: Path, cli) -> None:
    added = cli(
        "queue", "add", "--seeds", "3", "-q", "does 'warmup' help?", "-H", "-0.02; $HOME",
        "--expected", "1.50", "--", "python", "-c", ECHO, cwd=worktree,
    )  # fmt: skip
    assert (added.code, added.out) == (0, "local:0\nlocal:1\nlocal:2\n")
    assert "queued 3 task(s) on local (HARNESS_QUEUE)" in added.err

    waited = cli("queue", "wait", "local:0", "1", "local:2", cwd=worktree)
    assert waited.code == 0
    assert waited.out.splitlines()[0].split("\t") == [
        "local:0", "succeeded", "ok", "Q: does 'warmup' help? H: -0.02; $HOME",
    ]  # fmt: skip

    rows = json.loads(cli("queue", "status", "--json", cwd=worktree).out)
    assert [row["id"] for row in rows] == ["local:0", "local:1", "local:2"]
    for seed, row in enumerate(rows):
        assert (row["idea"], row["state"], row["cwd"]) == ("warmup", "succeeded", str(worktree))
        assert row["command"].endswith(f"--seed {seed}")
        assert row["env"]["HARNESS_SEED"] == str(seed)
        assert row["env"]["HARNESS_EXPECTED"] == "+1.5"  # a signed change of the metric
        assert row["env"]["HARNESS_QUEUE_TASK"] == row["id"]
    log = cli("queue", "log", "local:1", cwd=worktree).out
    assert log == "['--seed', '1'] does 'warmup' help? local:1\n"


def test_the_queue_is_shared_by_the_root_and_every_worktree(
    repo: Path, worktree: Path, cli
) -> None:
    cli("queue", "add", "--", "true", cwd=worktree)
    cli("queue", "add", "--", "true", cwd=repo)
    assert cli("queue", "wait", cwd=repo).code == 0
    rows = json.loads(cli("queue", "status", "--json", cwd=repo).out)
    assert [row["idea"] for row in rows] == ["warmup", "baseline"]


def test_wait_exits_1_when_a_task_failed(repo: Path, cli) -> None:
    cli("queue", "add", "--", "sh", "-c", "echo broke; exit 4", cwd=repo)
    cli("queue", "add", "--", "true", cwd=repo)
    waited = cli("queue", "wait", "0", "1", cwd=repo)
    assert waited.code == 1
    assert [line.split("\t")[:3] for line in waited.out.splitlines()] == [
        ["local:0", "failed", "exit 4"],
        ["local:1", "succeeded", "ok"],
    ]
    assert cli("queue", "log", "0", cwd=repo).out == "broke\n"


def test_status_prints_a_table_for_people(repo: Path, cli) -> None:
    cli("queue", "add", "-q", "why?", "--", "true", cwd=repo)
    cli("queue", "wait", "0", cwd=repo)
    status = cli("queue", "status", cwd=repo)
    header, row = status.out.splitlines()
    assert header.split() == ["ID", "IDEA", "STATE", "RUNTIME", "RESULT", "LABEL"]
    assert row.split()[:3] == ["local:0", "baseline", "succeeded"]
    assert row.endswith("  ok      Q: why?")  # RESULT as wide as its heading
    assert "queue: local (HARNESS_QUEUE)" in status.err


def test_log_tail_and_follow(repo: Path, cli) -> None:
    cli("queue", "add", "--", "python", "-c", "for i in range(5): print(i)", cwd=repo)
    followed = cli("queue", "follow", "local:0", cwd=repo)
    assert (followed.code, followed.out) == (0, "0\n1\n2\n3\n4\n")
    assert followed.err == "local:0 succeeded\n"
    assert cli("queue", "log", "0", "--tail", "2", cwd=repo).out == "3\n4\n"


def test_kill_a_running_task(repo: Path, cli) -> None:
    cli("queue", "add", "--", "python", "-c", "import time; time.sleep(60)", cwd=repo)
    backend = LocalBackend(repo / ".git" / "harness" / "queue")
    wait_until(lambda: backend.states(["0"])[0].state == "running")
    killed = cli("queue", "kill", "local:0", cwd=repo)
    assert (killed.code, killed.out) == (0, "killing local:0\n")
    waited = cli("queue", "wait", "0", cwd=repo)
    assert (waited.code, waited.out.split("\t")[1]) == (1, "killed")


def test_a_killed_queued_eval_stops_its_command_and_writes_its_own_row(repo: Path, cli) -> None:
    """The queue's SIGKILL comes after eval's own grace: a command that ignores SIGTERM is
    SIGKILLed by `harness eval`, which then records the run itself and exits 143."""
    stubborn = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('started', flush=True); time.sleep(60)"
    )
    evaluation = [sys.executable, "-m", "harness", "eval", "--", "python", "-c", stubborn]
    cli("queue", "add", "--", *evaluation, cwd=repo)
    backend = LocalBackend(repo / ".git" / "harness" / "queue")
    wait_until(lambda: "started" in backend.log("0"))
    cli("queue", "kill", "local:0", cwd=repo)
    wait_until(lambda: backend.states(["0"])[0].is_final, timeout=60)
    task = backend.states(["0"])[0]
    assert (task.state, task.exit_code) == ("killed", 143)
    (row,) = read_results(repo / "results.tsv").to_dicts()
    extra = json.loads(row["extra"])
    assert (row["status"], extra["stopped_by"], extra["exit_code"]) == ("killed", "SIGTERM", 137)
    assert "synced" not in extra  # written by the evaluation, not made up later by sync


def test_an_unknown_task_is_one_line_on_stderr(repo: Path, cli) -> None:
    result = cli("queue", "log", "42", cwd=repo)
    assert result.code == 1
    assert result.err == "harness: the local queue has no task 42: see `harness queue status`\n"
    other = cli("queue", "log", "slurm:3", "--backend", "local", cwd=repo)
    assert other.code == 2
    assert other.err == "harness: task slurm:3 is not in the local queue given by --backend\n"
    bogus = cli("queue", "kill", "nope:3", cwd=repo)
    assert bogus.err.startswith("harness: 'nope:3': unknown queue 'nope'")


def test_an_empty_command_is_a_usage_error(repo: Path, cli) -> None:
    result = cli("queue", "add", "-q", "x", cwd=repo)
    assert result.code == 2
    assert result.err.startswith("harness: empty command: give one after `--`")


def test_wait_with_nothing_queued_says_so(repo: Path, cli) -> None:
    result = cli("queue", "wait", cwd=repo)
    assert (result.code, result.err) == (0, "nothing to wait for: no task is queued or running\n")


@pytest.mark.skipif(shutil.which("pueue") is not None, reason="pueue is installed here")
def test_asking_for_pueue_without_pueue_says_how_to_fix_it(repo: Path, cli) -> None:
    result = cli("queue", "status", "--backend", "pueue", cwd=repo)
    assert result.code == 1
    assert result.err == 'harness: pueue is not installed: install pueue, or set queue = "local"\n'


def test_doctor_says_which_queue_won_and_why(repo: Path, cli) -> None:
    out = cli("doctor", cwd=repo).out
    assert "OK    queue        local (HARNESS_QUEUE): the embedded queue in " in out


# The choice of backend: flag, then [tool.harness] queue, then HARNESS_QUEUE, then auto.


def test_the_flag_wins_over_config_and_environment() -> None:
    config = Config(queue="pueue")
    chosen = choose_backend(config, flag="local", environ={"HARNESS_QUEUE": "slurm"})
    assert chosen == Choice("local", "--backend")


def test_the_config_wins_over_the_environment() -> None:
    chosen = choose_backend(Config(queue="local"), environ={"HARNESS_QUEUE": "pueue"})
    assert chosen == Choice("local", "[tool.harness] queue")


def test_the_environment_decides_when_the_config_says_auto() -> None:
    chosen = choose_backend(Config(queue="auto"), environ={"HARNESS_QUEUE": "slurm"})
    assert chosen == Choice("slurm", "HARNESS_QUEUE")


def test_auto_falls_back_to_local_without_pueue(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    chosen = choose_backend(Config(queue="auto"), environ={})
    assert chosen == Choice("local", "auto: pueue is not installed")


def test_an_unknown_queue_name_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="HARNESS_QUEUE names an unknown queue 'redis'"):
        choose_backend(Config(), environ={"HARNESS_QUEUE": "redis"})


def test_the_result_column_shows_the_value_a_queued_evaluation_recorded(repo: Path, cli) -> None:
    code = "print('---'); print('val_bpb: 1.25')"
    assert (
        cli("queue", "add", "--", "harness", "eval", "--", "python", "-c", code, cwd=repo).code == 0
    )
    assert cli("queue", "wait", "0", cwd=repo).code == 0
    status = cli("queue", "status", cwd=repo)
    assert status.out.splitlines()[1].split()[4] == "1.25"
    (row,) = json.loads(cli("queue", "status", "--json", cwd=repo).out)
    assert (row["result"], row["value"]) == ("ok", 1.25)
