"""The local queue for real: a worker killed mid-task, concurrent adders, slots and GPUs."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.queue.base import TaskSpec
from harness.queue.local import LocalBackend
from harness.queue.ops import wait_for
from tests.queue_helpers import is_alive, python, state_of, wait_until


@pytest.fixture
def queue_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "queue"
    yield path
    LocalBackend(path).stop_worker()


def spec(cwd: Path, argv: tuple[str, ...], **kwargs) -> TaskSpec:
    return TaskSpec(argv=argv, cwd=str(cwd), **kwargs)


SLEEPER = "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(60)"


def test_a_task_whose_worker_was_killed_is_lost_and_the_queue_goes_on(
    queue_dir: Path, tmp_path: Path
) -> None:
    backend = LocalBackend(queue_dir, idle_exit=5)
    running = backend.submit(spec(tmp_path, python(SLEEPER, "pid")))
    waiting = backend.submit(spec(tmp_path, python("open('after', 'w').close()")))
    wait_until(lambda: (tmp_path / "pid").exists() and (tmp_path / "pid").read_text() != "")
    old_worker = backend.worker_pid()
    assert old_worker is not None

    os.kill(old_worker, signal.SIGKILL)
    wait_until(lambda: backend.worker_pid() != old_worker)

    lost = state_of(backend, running)  # reading the queue also restarts the worker
    assert lost.state == "lost"
    assert "worker died" in lost.detail
    (after,) = wait_for(backend, [waiting], poll=0.05, timeout=30)
    assert after.state == "succeeded" and (tmp_path / "after").exists()
    assert state_of(backend, running).state == "lost"
    assert backend.worker_pid() not in (None, old_worker)
    task_pid = int((tmp_path / "pid").read_text())
    wait_until(lambda: not is_alive(task_pid), timeout=10)  # the orphan was ended


ADDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from harness.queue.base import TaskSpec
    from harness.queue.local import LocalBackend

    queue, work, name = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    while not Path(work, "go").exists():
        time.sleep(0.001)
    backend = LocalBackend(queue, parallel=3)
    code = "import sys; open('ran.txt', 'a').write(sys.argv[1] + chr(10))"
    for i in range(10):
        task = TaskSpec(argv=(sys.executable, "-c", code, f"{name}-{i}"), cwd=work)
        print(backend.submit(task), flush=True)
    """
)


def test_fifty_tasks_added_by_five_processes_at_once_each_run_once(
    queue_dir: Path, tmp_path: Path
) -> None:
    adders = [
        subprocess.Popen(
            [sys.executable, "-c", ADDER, str(queue_dir), str(tmp_path), f"p{n}"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(5)
    ]
    time.sleep(0.3)  # let every adder reach its start line
    (tmp_path / "go").touch()
    ids = [line for proc in adders for line in proc.communicate(timeout=60)[0].split()]
    assert all(proc.returncode == 0 for proc in adders)
    assert sorted(ids, key=int) == [str(i) for i in range(50)]

    backend = LocalBackend(queue_dir, parallel=3)
    finals = wait_for(backend, ids, poll=0.1, timeout=120)
    assert all(state.state == "succeeded" for state in finals)
    ran = (tmp_path / "ran.txt").read_text().split()
    assert sorted(ran) == sorted(f"p{n}-{i}" for n in range(5) for i in range(10))


PINNED = textwrap.dedent(
    """
    import os, sys, time
    open(sys.argv[1], 'w').write(os.environ.get('CUDA_VISIBLE_DEVICES', '-'))
    while not os.path.exists('go'):
        time.sleep(0.02)
    """
)


def test_gpus_run_that_many_at_once_each_on_its_own_device(queue_dir: Path, tmp_path: Path) -> None:
    backend = LocalBackend(queue_dir, parallel=2, pin_gpus=True)
    ids = [backend.submit(spec(tmp_path, python(PINNED, f"dev{i}"))) for i in range(3)]
    wait_until(lambda: (tmp_path / "dev0").exists() and (tmp_path / "dev1").exists())
    assert {(tmp_path / f"dev{i}").read_text() for i in range(2)} == {"0", "1"}
    assert [s.state for s in backend.states(ids)] == ["running", "running", "queued"]
    (tmp_path / "go").touch()
    assert all(s.state == "succeeded" for s in wait_for(backend, ids, poll=0.05, timeout=30))
    assert (tmp_path / "dev2").read_text() in {"0", "1"}


def test_without_gpus_no_device_is_pinned(queue_dir: Path, tmp_path: Path) -> None:
    backend = LocalBackend(queue_dir)
    (tmp_path / "go").touch()
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    task = backend.submit(spec(tmp_path, (sys.executable, "-c", PINNED, "dev"), env={}))
    wait_for(backend, [task], poll=0.05, timeout=30)
    assert (tmp_path / "dev").read_text() == env.get("CUDA_VISIBLE_DEVICES", "-")


def test_stopping_the_worker_kills_running_tasks_and_keeps_queued_ones(
    queue_dir: Path, tmp_path: Path
) -> None:
    backend = LocalBackend(queue_dir)
    running = backend.submit(spec(tmp_path, python(SLEEPER, "pid")))
    queued = backend.submit(spec(tmp_path, python("open('after', 'w').close()")))
    wait_until(lambda: state_of(backend, running).state == "running")
    backend.stop_worker()
    stopped = backend.states([running, queued])
    assert [s.state for s in stopped[:1]] == ["killed"]
    assert stopped[0].detail == "the worker was stopped"
    # Reading the queue found a task waiting and started a worker again: it runs.
    (after,) = wait_for(backend, [queued], poll=0.05, timeout=30)
    assert after.state == "succeeded"


def test_an_idle_worker_exits_and_the_next_task_starts_a_new_one(
    queue_dir: Path, tmp_path: Path
) -> None:
    backend = LocalBackend(queue_dir, idle_exit=0.3)
    first = backend.submit(spec(tmp_path, ("true",)))
    wait_for(backend, [first], poll=0.05, timeout=30)
    wait_until(lambda: backend.worker_pid() is None, timeout=10)
    second = backend.submit(spec(tmp_path, ("true",)))
    assert wait_for(backend, [second], poll=0.05, timeout=30)[0].state == "succeeded"


def test_task_records_are_private_to_the_user(queue_dir: Path, tmp_path: Path) -> None:
    backend = LocalBackend(queue_dir)
    task = backend.submit(spec(tmp_path, ("true",), env={"HARNESS_QUESTION": "q"}))
    wait_for(backend, [task], poll=0.05, timeout=30)
    record = queue_dir / "tasks" / f"{task}.json"
    assert stat.S_IMODE(record.stat().st_mode) == 0o600
    assert stat.S_IMODE((queue_dir / "logs" / f"{task}.log").stat().st_mode) == 0o600


def test_killing_an_ended_task_says_so(queue_dir: Path, tmp_path: Path) -> None:
    from harness.errors import QueueError

    backend = LocalBackend(queue_dir)
    task = backend.submit(spec(tmp_path, ("true",)))
    wait_for(backend, [task], poll=0.05, timeout=30)
    with pytest.raises(QueueError, match=f"task local:{task} has already ended"):
        backend.cancel(task)


def test_a_damaged_record_is_named_with_the_fix(queue_dir: Path, tmp_path: Path) -> None:
    from harness.errors import QueueError

    backend = LocalBackend(queue_dir)
    task = backend.submit(spec(tmp_path, ("true",)))
    wait_for(backend, [task], poll=0.05, timeout=30)
    (queue_dir / "tasks" / f"{task}.json").write_text("{not json")
    with pytest.raises(QueueError, match=r"tasks/0.json is not a task record .* move it aside"):
        backend.states()
