"""The contract every queue backend keeps, run against each backend for real.

`local` always runs. `pueue` runs against a private daemon (its own config, data and
socket under the test's temporary folder) only when `pueue` and `pueued` are on PATH;
otherwise it is skipped, and the pueue backend is checked against the recorded protocol
of pueue 3.1.2 and 4.0.4 in test_queue_pueue.py. `slurm` runs against a running cluster
(scripts/slurm-cluster.sh; CI starts one), and skips without one. A further backend joins
by adding one entry to BACKENDS: a context manager that yields a backend whose group runs
one task at a time, or skips when its system is missing.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest
from pueue_daemon import start_daemon
from queue_helpers import is_alive, python, state_of, wait_until
from slurm_helpers import require_slurm

from harness.errors import HarnessError, UnknownTask, UsageError
from harness.queue.base import Backend, TaskSpec, TaskState
from harness.queue.ops import wait_for

PY = sys.executable


@contextmanager
def local_backend(tmp_path: Path) -> Iterator[Backend]:
    from harness.queue.local import LocalBackend

    backend = LocalBackend(tmp_path / "queue", idle_exit=2)
    try:
        yield backend
    finally:
        backend.stop_worker()


@contextmanager
def pueue_backend(tmp_path: Path) -> Iterator[Backend]:
    if not (shutil.which("pueue") and shutil.which("pueued")):
        pytest.skip("pueue is not on PATH: the pueue backend is tested on recordings only")
    from harness.queue.pueue import PueueBackend

    home = tmp_path / "pueue"
    (home / "run").mkdir(parents=True)
    config = home / "pueue.yml"
    socket = home / "run" / "pueue.socket"
    config.write_text(
        "shared:\n"
        f"  pueue_directory: {home / 'data'}\n"
        f"  runtime_directory: {home / 'run'}\n"
        "  use_unix_socket: true\n"
        f"  unix_socket_path: {socket}\n"
    )
    daemon = start_daemon(
        ["pueued", "-c", str(config), "-d"],
        socket=socket,
        log=home / "pueued.log",
        pid_file=home / "run" / "pueue.pid",
    )
    backend = PueueBackend(config=str(config), group="contract")
    try:
        deadline = time.monotonic() + 10
        while not backend.is_available()[0]:
            assert time.monotonic() < deadline, "the private pueued did not answer"
            time.sleep(0.1)
        yield backend
    finally:
        daemon.stop(shutdown=["pueue", "-c", str(config), "shutdown"])


@contextmanager
def slurm_backend(tmp_path: Path) -> Iterator[Backend]:
    require_slurm()
    from harness.config import SlurmSettings
    from harness.queue.slurm import SlurmBackend

    # One job at a time: Slurm's singleton dependency, over one job name per test.
    one_at_a_time = ("--dependency=singleton", f"--job-name=contract-{tmp_path.name}")
    backend = SlurmBackend(tmp_path / "slurm", settings=SlurmSettings(extra_args=one_at_a_time))
    try:
        yield backend
    finally:
        for state in backend.states():
            if not state.is_final:
                backend.cancel(state.task_id)


BACKENDS: dict[str, Callable[[Path], AbstractContextManager[Backend]]] = {
    "local": local_backend,
    "pueue": pueue_backend,
    "slurm": slurm_backend,
}


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    with BACKENDS[request.param](tmp_path) as instance:
        yield instance


def spec(tmp_path: Path, argv: tuple[str, ...], **kwargs) -> TaskSpec:
    kwargs.setdefault("group", "contract")
    return TaskSpec(argv=argv, cwd=str(tmp_path), **kwargs)


def finish(backend: Backend, *task_ids: str) -> list[TaskState]:
    return wait_for(backend, list(task_ids), poll=0.05, timeout=60)


def test_a_task_runs_in_its_directory_and_succeeds(backend: Backend, tmp_path: Path) -> None:
    code = "import os; open('out.txt', 'w').write(os.environ['HARNESS_QUEUE_TASK'])"
    task_id = backend.submit(spec(tmp_path, python(code), label="Q: runs? H: yes"))
    (final,) = finish(backend, task_id)
    assert (final.state, final.exit_code, final.label) == ("succeeded", 0, "Q: runs? H: yes")
    assert final.queue_task == f"{backend.name}:{task_id}"
    assert (tmp_path / "out.txt").read_text() == final.queue_task
    assert final.cwd == str(tmp_path)
    assert final.enqueued_at and final.started_at and final.ended_at
    assert final.enqueued_at <= final.started_at <= final.ended_at


def test_states_through_the_life_of_a_task(backend: Backend, tmp_path: Path) -> None:
    wait_for_file = "import os, sys, time\nwhile not os.path.exists(sys.argv[1]): time.sleep(0.02)"
    first = backend.submit(spec(tmp_path, python(wait_for_file, "go-first")))
    second = backend.submit(spec(tmp_path, python(wait_for_file, "go-second")))
    wait_until(lambda: state_of(backend, first).state == "running")
    assert state_of(backend, second).state == "queued"  # one at a time in the group
    assert state_of(backend, first).started_at and not state_of(backend, first).ended_at
    (tmp_path / "go-first").touch()
    wait_until(lambda: state_of(backend, second).state == "running")
    assert state_of(backend, first).state == "succeeded"
    (tmp_path / "go-second").touch()
    assert [s.state for s in finish(backend, first, second)] == ["succeeded", "succeeded"]


def test_a_failure_keeps_its_exit_code_and_output(backend: Backend, tmp_path: Path) -> None:
    task_id = backend.submit(spec(tmp_path, ("sh", "-c", "echo failing; exit 3")))
    (final,) = finish(backend, task_id)
    assert (final.state, final.exit_code) == ("failed", 3)
    assert backend.log(task_id).strip() == "failing"


def test_a_missing_command_fails_with_127(backend: Backend, tmp_path: Path) -> None:
    task_id = backend.submit(spec(tmp_path, ("definitely-not-a-command-xyz", "--flag")))
    (final,) = finish(backend, task_id)
    assert (final.state, final.exit_code) == ("failed", 127)
    assert "definitely-not-a-command-xyz" in backend.log(task_id)


def test_kill_ends_the_whole_running_task(backend: Backend, tmp_path: Path) -> None:
    code = "import os, time; open('pid', 'w').write(str(os.getpid())); time.sleep(60)"
    # sh -c 'python ... ; true' keeps a parent around: the kill must reach the child too.
    task_id = backend.submit(spec(tmp_path, ("sh", "-c", f'{PY} -c "{code}"; true')))
    wait_until(lambda: (tmp_path / "pid").exists() and (tmp_path / "pid").read_text() != "")
    backend.cancel(task_id)
    (final,) = finish(backend, task_id)
    assert final.state == "killed"
    pid = int((tmp_path / "pid").read_text())
    wait_until(lambda: not is_alive(pid), timeout=10)


def test_kill_removes_a_queued_task_before_it_runs(backend: Backend, tmp_path: Path) -> None:
    blocker = backend.submit(spec(tmp_path, python("import time; time.sleep(60)")))
    queued = backend.submit(spec(tmp_path, python("open('ran', 'w').close()")))
    wait_until(lambda: state_of(backend, blocker).state == "running")
    backend.cancel(queued)
    backend.cancel(blocker)
    finish(backend, blocker)
    time.sleep(0.3)
    assert not (tmp_path / "ran").exists()
    assert [s.state for s in backend.states([queued])] in ([], ["killed"])


def test_a_timeout_stops_the_task(backend: Backend, tmp_path: Path) -> None:
    task_id = backend.submit(spec(tmp_path, python("import time; time.sleep(60)"), timeout=1))
    started = time.monotonic()
    (final,) = finish(backend, task_id)
    assert final.state == "timed_out"
    assert time.monotonic() - started < 30


def test_log_whole_and_tail(backend: Backend, tmp_path: Path) -> None:
    code = "for i in range(1, 41): print(f'line {i}')"
    task_id = backend.submit(spec(tmp_path, python(code)))
    finish(backend, task_id)
    lines = backend.log(task_id).splitlines()
    assert lines == [f"line {i}" for i in range(1, 41)]
    assert backend.log(task_id, tail=3).splitlines() == ["line 38", "line 39", "line 40"]


def test_argv_label_and_env_reach_the_task_unmangled(backend: Backend, tmp_path: Path) -> None:
    tricky = ["two  words", '"double"', "'single'", "$HOME", "a;echo injected", "ü € 日本"]
    label = "Q: does 'x' \"help\"; $HOME? H: -0.02 ü"
    code = (
        "import json, os, sys\n"
        "print(json.dumps([sys.argv[1:], os.environ['HARNESS_QUESTION']], ensure_ascii=True))"
    )
    env = {"HARNESS_QUESTION": label}
    task_id = backend.submit(spec(tmp_path, python(code, *tricky), label=label, env=env))
    (final,) = finish(backend, task_id)
    assert final.state == "succeeded"
    assert json.loads(backend.log(task_id)) == [tricky, label]
    assert final.label == label
    assert final.env["HARNESS_QUESTION"] == label


def test_a_missing_working_directory_is_refused(backend: Backend, tmp_path: Path) -> None:
    before = backend.states()
    missing = tmp_path / "does-not-exist"
    with pytest.raises(UsageError, match="does-not-exist does not exist"):
        backend.submit(TaskSpec(argv=("true",), cwd=str(missing), group="contract"))
    assert backend.states() == before


def test_many_tasks_at_once_each_run_once(backend: Backend, tmp_path: Path) -> None:
    code = "import sys; open('ran.txt', 'a').write(sys.argv[1] + '\\n')"
    ids = [backend.submit(spec(tmp_path, python(code, str(i)))) for i in range(30)]
    assert len(set(ids)) == 30
    assert all(s.state == "succeeded" for s in finish(backend, *ids))
    ran = (tmp_path / "ran.txt").read_text().split()
    assert sorted(ran, key=int) == [str(i) for i in range(30)]


def test_an_unknown_task_is_an_error_and_not_a_state(backend: Backend, tmp_path: Path) -> None:
    assert backend.states(["999"]) == []
    with pytest.raises(UnknownTask):
        backend.log("999")
    with pytest.raises(HarnessError):
        backend.cancel("999")


def test_every_task_carries_a_token_of_its_own(backend: Backend, tmp_path: Path) -> None:
    code = "import os; print(os.environ['HARNESS_TASK_TOKEN'])"
    ids = [backend.submit(spec(tmp_path, python(code), label="Q: which? H: mine")) for _ in "ab"]
    finals = finish(backend, *ids)
    tokens = [final.token for final in finals]
    assert len(set(tokens)) == 2 and all(re.fullmatch("[0-9a-f]{16}", t) for t in tokens)
    assert [backend.log(task_id).strip() for task_id in ids] == tokens
    assert [final.label for final in finals] == ["Q: which? H: mine"] * 2
    assert [final.env["HARNESS_TASK_TOKEN"] for final in finals] == tokens


def test_a_task_queued_from_a_task_is_its_own(
    backend: Backend, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("HARNESS_TASK_TOKEN", "0123456789abcdef")  # as inside a queued task
    monkeypatch.setenv("HARNESS_QUEUE_DEADLINE", "1.0")
    monkeypatch.setenv("HARNESS_QUEUE_TASK", "local:99")
    names = ("HARNESS_TASK_TOKEN", "HARNESS_QUEUE_DEADLINE", "HARNESS_QUEUE_TASK")
    code = f"import os; print(*[os.environ.get(n, '-') for n in {names!r}])"
    task_id = backend.submit(spec(tmp_path, python(code)))
    (final,) = finish(backend, task_id)
    token, deadline, queue_task = backend.log(task_id).split()
    assert token == final.token != "0123456789abcdef"
    assert deadline == "-"  # no timeout, so no deadline; never the parent's
    assert queue_task == final.queue_task
