"""The contract suite's private pueue daemon starts and stops within bounded time.

pueue cannot be installed here, so a tiny stand-in starter reproduces what made the old
fixture hang: like `pueued -d`, it forks a daemon that keeps the starter's inherited
stdout and stderr open, makes its socket, and the starter exits at once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from pueue_daemon import start_daemon
from queue_helpers import is_alive, wait_until

# argv[1]: the socket to make; argv[2]: where the daemon writes its pid
FAKE_PUEUED = """
import os, socket, sys, time
print("starting", flush=True)
if os.fork() == 0:  # the daemon: stdout and stderr stay the starter's
    server = socket.socket(socket.AF_UNIX)
    server.bind(sys.argv[1])
    server.listen()
    open(sys.argv[2], "w").write(str(os.getpid()))
    print("daemon listening", flush=True)
    time.sleep(300)
    sys.exit(0)
print("Pueued is now running in the background", flush=True)
"""


def fake_pueued(tmp_path: Path) -> list[str]:
    script = tmp_path / "fake_pueued.py"
    script.write_text(FAKE_PUEUED)
    return [sys.executable, str(script), str(tmp_path / "pueue.socket"), str(tmp_path / "pid")]


def in_bounded_time(call, *, limit: float):
    """The result of call(), failing (not hanging) when it takes longer than `limit` s."""
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["result"] = call()
        except Exception as exc:  # raised again in the test's thread
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout=limit)
    assert not thread.is_alive(), f"still running after {limit} s: it would hang the suite"
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["result"]


def test_the_fake_holds_captured_pipes_as_pueued_does(tmp_path: Path) -> None:
    argv = fake_pueued(tmp_path)
    with pytest.raises(subprocess.TimeoutExpired):  # the old fixture's call, bounded here
        subprocess.run(argv, capture_output=True, timeout=2, start_new_session=True)
    wait_until(lambda: (tmp_path / "pid").exists() and (tmp_path / "pid").read_text() != "")
    pid = int((tmp_path / "pid").read_text())
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not is_alive(pid), timeout=10)


def test_start_returns_at_once_and_stop_kills_the_daemon(tmp_path: Path) -> None:
    socket = tmp_path / "pueue.socket"
    log = tmp_path / "pueued.log"
    started = time.monotonic()
    daemon = in_bounded_time(
        lambda: start_daemon(fake_pueued(tmp_path), socket=socket, log=log), limit=15
    )
    elapsed = time.monotonic() - started
    try:
        assert socket.exists() and elapsed < 10
        wait_until(lambda: (tmp_path / "pid").exists() and (tmp_path / "pid").read_text() != "")
        pid = int((tmp_path / "pid").read_text())
        assert is_alive(pid)
    finally:
        daemon.stop()
    wait_until(lambda: not is_alive(pid), timeout=10)
    assert "Pueued is now running in the background" in log.read_text()


def test_a_daemon_that_makes_no_socket_fails_in_bounded_time(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    silent = [sys.executable, "-c", FAKE_PUEUED, str(tmp_path / "elsewhere"), str(pid_file)]
    with pytest.raises(RuntimeError, match=r"made no socket at .*within 1\.0 s: starting"):
        socket, log = tmp_path / "pueue.socket", tmp_path / "log"
        in_bounded_time(lambda: start_daemon(silent, socket=socket, log=log, timeout=1.0), limit=15)
    wait_until(lambda: pid_file.exists() and pid_file.read_text() != "")
    wait_until(lambda: not is_alive(int(pid_file.read_text())), timeout=10)


def test_the_suite_cannot_reach_a_users_own_pueued() -> None:
    """pueue looks for its config and socket under these; all point into the test's HOME."""
    home = Path(os.environ["HOME"])
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_RUNTIME_DIR"):
        assert Path(os.environ[name]).is_relative_to(home), name
    assert "PUEUE_CONFIG_PATH" not in os.environ


# The contract suite's own fixture, with stand-ins for both programs on PATH: a `pueued`
# that daemonises as above (socket and pid file where the config says) and a `pueue` that
# answers `status --json` and `shutdown` as the recordings do.
FAKE_DAEMON = """
import os, socket, sys, time
config = open(sys.argv[sys.argv.index("-c") + 1]).read()
path = config.split("unix_socket_path: ")[1].split()[0]
print("starting", flush=True)
if os.fork() == 0:
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen()
    open(os.path.join(os.path.dirname(path), "pueue.pid"), "w").write(str(os.getpid()))
    time.sleep(300)
    sys.exit(0)
"""
FAKE_CLIENT = """
import sys
if sys.argv[-2:] == ["status", "--json"]:
    print('{"tasks":{},"groups":{"default":{"status":"Running","parallel_tasks":1}}}')
elif sys.argv[-1] != "shutdown":
    sys.exit(99)
"""


def test_the_contract_fixture_cannot_hang_on_a_self_daemonising_pueued(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from test_queue_contract import pueue_backend

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, code in (("pueued", FAKE_DAEMON), ("pueue", FAKE_CLIENT)):
        (bin_dir / f"{name}.py").write_text(code)
        (bin_dir / name).write_text(
            f'#!/bin/sh\nexec "{sys.executable}" "{bin_dir}/{name}.py" "$@"\n'
        )
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    pid_file = tmp_path / "pueue" / "run" / "pueue.pid"

    def use_the_fixture() -> int:
        with pueue_backend(tmp_path) as backend:
            assert backend.is_available() == (True, "pueued answers")
            wait_until(lambda: pid_file.exists() and pid_file.read_text() != "")
            return int(pid_file.read_text())

    pid = in_bounded_time(use_the_fixture, limit=30)
    wait_until(lambda: not is_alive(pid), timeout=10)  # the teardown ended the daemon
