"""Run a command with its output streamed to the terminal and to a log file.

The command runs in a session of its own, so a timeout or an interrupt stops the whole
process group (a training script's data-loader workers too): SIGTERM first, SIGKILL after
a grace period. Ctrl-C and SIGTERM sent to the harness are turned into an `interrupted`
ending rather than an exception, so the caller can still record the run.

The command never outlives the harness: the kernel sends its first process SIGKILL when
the harness dies (PR_SET_PDEATHSIG), a watchdog ends the rest of the tree then (see
`watchdog`), and at the end of every run whatever the run left behind (its process group,
and every process carrying the run's marker in its environment) is killed.

A log that cannot be written or closed (a full disk) never fails the run: the lines that
fit are kept and the problem is returned as a warning for the row.
"""

from __future__ import annotations

import codecs
import ctypes
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal, TextIO

from harness.errors import HarnessError, UsageError
from harness.queue.procs import GRACE_S, exit_code_of
from harness.queue.proctree import kill_marked
from harness.record.metrics import SummaryCollector
from harness.runs.watchdog import Watchdog

Ending = Literal["exited", "timeout", "interrupted"]
TAIL_LINES = 20
CHUNK = 65536
MAX_LINE = 1 << 20  # a "line" longer than this (an endless progress bar) is cut
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


class Interrupted(Exception):
    """The harness itself was asked to stop (SIGTERM) while the command ran."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"signal {signum}")
        self.signum = signum


@dataclass
class Execution:
    """How a command ended, with what the caller needs to record it."""

    ending: Ending
    exit_code: int | None
    duration_s: float
    tail: list[str] = field(default_factory=list)
    summary: SummaryCollector = field(default_factory=SummaryCollector)
    stopped_by: int | None = None  # the signal that interrupted the harness (SIGINT, SIGTERM)
    log_problem: str = ""  # why the log is incomplete ('' when it is whole)


class _Output:
    """Where the output goes: the terminal as it comes, the log, the tail and the summary.

    The terminal gets every chunk at once (a progress bar drawn with `\\r` shows live);
    the log, the tail and the metric summary get whole lines. A terminal or log that
    fails (a closed pipe, a full disk) is dropped, never the draining of the command's
    pipes, which would block the command.
    """

    def __init__(self, log: IO[str], tail: deque[str]):
        self.log: IO[str] | None = log
        self.tail = tail
        self.lock = threading.Lock()
        self.lines = 0
        self.problem = ""

    def pump(self, pipe: IO[bytes], sink: TextIO | None, summary: SummaryCollector | None) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        pending = b""
        while chunk := os.read(pipe.fileno(), CHUNK):
            sink = _echo(sink, decoder.decode(chunk))
            *lines, pending = (pending + chunk).split(b"\n")
            if len(pending) > MAX_LINE:
                lines, pending = [*lines, pending], b""
            for raw in lines:
                self.line(raw.decode("utf-8", errors="replace"), summary)
        if pending:
            self.line(pending.decode("utf-8", errors="replace"), summary)
        pipe.close()

    def note(self, text: str) -> None:
        """A line of the harness's own, in the log only."""
        with self.lock:
            self._log(text)

    def line(self, text: str, summary: SummaryCollector | None) -> None:
        with self.lock:
            self._log(text)
            self.tail.append(text.rstrip("\r").rsplit("\r", 1)[-1])
            if summary is not None:
                summary.feed(text)

    def _log(self, text: str) -> None:
        if self.log is not None:
            try:
                self.log.write(text + "\n")
                self.log.flush()
                self.lines += 1
            except OSError as exc:
                self.log = None
                self.problem = f"the log stopped after {self.lines} lines ({exc.strerror})"

    def close(self, log: IO[str]) -> None:
        try:
            log.close()
        except OSError as exc:
            self.problem = self.problem or f"the log could not be closed ({exc.strerror})"


def _echo(sink: TextIO | None, text: str) -> TextIO | None:
    """Write to the terminal; returns None (stop echoing) once it fails."""
    if sink is None or not text:
        return sink
    try:
        sink.write(text)
        sink.flush()
    except (OSError, ValueError):
        return None
    return sink


def run_logged(
    argv: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    log_path: Path,
    timeout: float | None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    grace: float = GRACE_S,
    marker: tuple[str, str] | None = None,
    heartbeat: Path | None = None,
    pass_fds: tuple[int, ...] = (),
) -> Execution:
    """Run argv to its end, its timeout, or an interrupt; never raises for those.

    `marker` (NAME, VALUE) is put in the command's environment and names its tree: every
    process carrying it is killed when the run ends or the harness dies. `heartbeat` is
    a file the watchdog touches while the run lives. `pass_fds` are handed to the
    command's first process only (its own children do not inherit them unless it says so).
    """
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    execution = Execution(ending="exited", exit_code=None, duration_s=0.0)
    if marker is not None:
        env = {**env, marker[0]: marker[1]}
    log = _open_log(log_path)
    output = _Output(log, tail)
    try:
        output.note(f"$ {shlex.join(argv)}")
        started = time.monotonic()
        watchdog = Watchdog(marker, heartbeat=heartbeat) if marker is not None else None
        try:
            proc = _start(argv, cwd=cwd, env=env, pass_fds=pass_fds)
        except BaseException:
            if watchdog is not None:
                watchdog.release()
            raise
        if watchdog is not None:
            watchdog.guard(proc.pid)
        pumps = [
            _thread(output.pump, proc.stdout, stdout, execution.summary),
            _thread(output.pump, proc.stderr, stderr, None),
        ]
        try:
            execution.ending, execution.stopped_by = _wait(proc, timeout=timeout, grace=grace)
        finally:
            end_tree(proc, marker=marker)
            if watchdog is not None:
                watchdog.release()
        execution.exit_code = exit_code_of(proc.returncode)  # killed by signal N: 128 + N
        execution.duration_s = time.monotonic() - started
        for pump in pumps:
            pump.join(timeout=grace)
        output.note(f"# harness: {execution.ending}, exit code {execution.exit_code}")
    finally:
        output.close(log)
    execution.tail = list(tail)
    execution.log_problem = output.problem
    return execution


def end_tree(proc: subprocess.Popen[bytes], *, marker: tuple[str, str] | None) -> None:
    """Kill what the run left: its process group, and every process with its marker."""
    if proc.poll() is None:
        with suppress(ProcessLookupError):
            proc.kill()
        proc.wait()
    if marker is not None:
        kill_marked(*marker, pgid=proc.pid)
    else:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)


def _open_log(path: Path) -> IO[str]:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return path.open("w", encoding="utf-8", errors="backslashreplace")  # raw argv bytes
    except OSError as exc:
        raise HarnessError(f"cannot write the run's log {path}: {exc.strerror}") from None


def _start(
    argv: list[str], *, cwd: Path, env: dict[str, str], pass_fds: tuple[int, ...] = ()
) -> subprocess.Popen[bytes]:
    try:
        return subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=_dies_with(os.getpid()),
            pass_fds=pass_fds,
        )
    except FileNotFoundError:
        raise UsageError(
            f"command not found: {argv[0]}: check [tool.harness] eval or the PATH"
        ) from None
    except PermissionError:
        raise UsageError(f"cannot execute {argv[0]}: permission denied") from None


def load_prctl() -> Any:
    """libc's prctl, looked up once here: the child after fork must not load libraries."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


PRCTL = load_prctl()  # also the metrics channel's seal (`channel`)


def _dies_with(parent: int) -> Any:
    """The child's setup: SIGKILL when the harness dies, at once if it died already."""
    if PRCTL is None:
        return None

    def setup() -> None:
        PRCTL(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the harness died before the signal was armed
            os.kill(os.getpid(), signal.SIGKILL)

    return setup


def _thread(target: Any, *args: Any) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, daemon=True)
    thread.start()
    return thread


def _wait(
    proc: subprocess.Popen[bytes], *, timeout: float | None, grace: float
) -> tuple[Ending, int | None]:
    """How the command ended, and the signal that stopped the harness meanwhile, if any."""
    try:
        with _sigterm_raises():
            proc.wait(timeout=timeout)
        return "exited", None
    except subprocess.TimeoutExpired:
        stop_group(proc, grace=grace)
        return "timeout", None
    except KeyboardInterrupt:
        stop_group(proc, grace=grace)
        return "interrupted", signal.SIGINT
    except Interrupted as stop:
        stop_group(proc, grace=grace)
        return "interrupted", stop.signum


def stop_group(proc: subprocess.Popen[bytes], *, grace: float) -> None:
    """SIGTERM to the command's process group, SIGKILL when it outlives `grace` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, None)):
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def _sigterm_raises() -> Iterator[None]:
    """While waiting, SIGTERM raises `Interrupted` (only the main thread can install it)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise Interrupted(signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
