"""Helpers for the tests that kill harness processes: real processes, read from /proc.

The processes of a run are found the way a user would look for them: by the run id in
their environment (HARNESS_RUN_ID, which every process the evaluation starts inherits).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.queue_helpers import wait_until

# An evaluation that leaves processes behind: a child in its process group and a
# grandchild in a session of its own (out of reach of the group), both sleeping a minute.
# It notes its run id in $ACCOUNT_DIR/started, counts the evaluations running at its
# start into $ACCOUNT_DIR/concurrency/<pid>, sleeps $EVAL_SLEEP seconds (a minute while
# $ACCOUNT_DIR/slow exists), prints a metric.
TREE_EVAL = """
import os, pathlib, subprocess, sys, time
folder = pathlib.Path(os.environ["ACCOUNT_DIR"])
with open(folder / "started", "a") as handle:
    handle.write(os.environ["HARNESS_RUN_ID"] + "\\n")
mark = ("ACCOUNT_DIR=" + os.environ["ACCOUNT_DIR"]).encode()
running = set()  # run ids, not pids: a child between fork and exec looks like its parent
for name in os.listdir("/proc"):
    if not name.isdigit():
        continue
    try:
        environ = open(f"/proc/{name}/environ", "rb").read().split(b"\\0")
        argv = open(f"/proc/{name}/cmdline", "rb").read().split(b"\\0")
    except OSError:
        continue
    if mark in environ and len(argv) > 1 and argv[1].endswith(b"tree_eval.py"):
        running |= {item for item in environ if item.startswith(b"HARNESS_RUN_ID=")}
(folder / "concurrency").mkdir(exist_ok=True)
(folder / "concurrency" / str(os.getpid())).write_text(str(len(running)))
sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
subprocess.Popen(sleeper)
subprocess.Popen(sleeper, start_new_session=True)
time.sleep(60 if (folder / "slow").exists() else float(os.environ.get("EVAL_SLEEP", "0")))
print("---")
print("val_bpb: 2.5")
"""


def write_tree_eval(folder: Path) -> Path:
    script = folder / "tree_eval.py"
    script.write_text(TREE_EVAL)
    return script


def run_processes(run_ids: set[str] | None = None) -> dict[str, list[int]]:
    """Live (not zombie) processes by the HARNESS_RUN_ID in their environment."""
    found: dict[str, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            environ = Path(f"/proc/{name}/environ").read_bytes().split(b"\0")
            state = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state == "Z":
            continue
        for item in environ:
            if item.startswith(b"HARNESS_RUN_ID="):
                run_id = item.split(b"=", 1)[1].decode()
                if run_ids is None or run_id in run_ids:
                    found.setdefault(run_id, []).append(int(name))
    return found


def is_evaluating(harness_pid: int) -> bool:
    """Whether the evaluation of this `harness eval` process runs (a child with a run id)."""
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            ppid = int(Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()[1])
            if (
                ppid == harness_pid
                and b"HARNESS_RUN_ID=" in Path(f"/proc/{name}/environ").read_bytes()
            ):
                return True
        except (OSError, IndexError, ValueError):
            continue
    return False


def wait_for_no_processes(run_ids: set[str], *, timeout: float = 10.0) -> dict[str, list[int]]:
    """Wait until no process of these runs lives; returns those still alive at the end."""
    deadline = time.monotonic() + timeout
    while (alive := run_processes(run_ids)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive


def kill_all(run_ids: set[str]) -> None:
    """Clean up after a failed test, so no sleeper outlives it."""
    for pids in run_processes(run_ids).values():
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)


def harness_eval(repo: Path, script: Path, *, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """`harness eval -- python tree_eval.py` as a real process of its own."""
    return subprocess.Popen(
        [sys.executable, "-m", "harness", "eval", "--", sys.executable, str(script)],
        cwd=repo,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def start_sleeping_eval(repo: Path, account: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A `harness eval` of tree_eval.py sleeping 60 s, once its run has started: (its
    process, its run id)."""
    proc = harness_eval(
        repo, account / "tree_eval.py", env={"ACCOUNT_DIR": str(account), "EVAL_SLEEP": "60"}
    )
    wait_until(lambda: bool(run_ids_started(account)))
    (run_id,) = run_ids_started(account)
    return proc, run_id


def sigkill_leaving_nothing(proc: subprocess.Popen[bytes], run_id: str) -> None:
    """SIGKILL a harness process; no process of its run may outlive it (none is left)."""
    try:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert wait_for_no_processes({run_id}) == {}
    finally:
        kill_all({run_id})


def journal_run_ids(repo: Path, run_ids: set[str]) -> dict[str, int]:
    """How many journal entries name each run in their heading."""
    text = (repo / "RESEARCH_JOURNAL.md").read_text()
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    return {run_id: sum(f" run {run_id} " in line for line in headings) for run_id in run_ids}


def run_ids_started(folder: Path) -> set[str]:
    path = folder / "started"
    return set(path.read_text().split()) if path.exists() else set()


@contextlib.contextmanager
def tmpfs(path: Path, *, size: str, options: str = "") -> Iterator[Path]:
    """A small tmpfs mounted at `path` (root only: skipped where mounting is refused)."""
    path.mkdir(parents=True, exist_ok=True)
    argv = ["mount", "-t", "tmpfs", "-o", f"size={size}{',' + options if options else ''}"]
    proc = subprocess.run([*argv, "tmpfs", str(path)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {proc.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[Path]:
    """`path` (a file or a folder) made unwritable, for root too (a read-only bind mount)."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield path
        finally:
            path.chmod(mode)
        return
    bind = subprocess.run(["mount", "--bind", str(path), str(path)], capture_output=True, text=True)
    if bind.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {bind.stderr.strip()}")
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(path)], check=True)
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)
