"""Runs one pueue task: `python -m harness.queue.wrap [OPTIONS] -- ARGV`.

pueue has no timeouts, no device per task, and no way for a task to learn its own id.
The pueue backend queues every task behind this wrapper, which adds the three:

- `--timeout S`: after S seconds the task's processes get SIGTERM, then SIGKILL after a
  grace period, and the wrapper exits 124 (which the status parser reads as `timed_out`);
  the task learns the moment from HARNESS_QUEUE_DEADLINE (a `harness eval` then records
  `timeout`);
- `--pin-gpu`: CUDA_VISIBLE_DEVICES is set from PUEUE_WORKER_ID (the task's slot in its
  group, 0 to parallel-1), so tasks running at once never share a device;
- HARNESS_QUEUE_TASK=pueue:<id>, found by asking pueue which task carries this task's
  HARNESS_PUEUE_TOKEN.

The task stays in the wrapper's process group, the one pueue made for it, so `pueue
kill` (which signals that whole group) reaches every process of the task.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Mapping

from harness.errors import HarnessError
from harness.queue.base import TASK_ENV, TOKEN_ENV, deadline_env
from harness.queue.procs import QUEUE_GRACE_S, TIMEOUT_EXIT, exit_code_of


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if "--" not in args or args.index("--") == len(args) - 1:
        print("usage: python -m harness.queue.wrap [OPTIONS] -- COMMAND...", file=sys.stderr)
        return 2
    split = args.index("--")
    options = _parser().parse_args(args[:split])
    env = task_env(os.environ, pin_gpu=options.pin_gpu)
    token = env.get(TOKEN_ENV)
    if token:
        task_id = _own_task_id(token, config=options.pueue_config, profile=options.pueue_profile)
        if task_id is not None:
            env[TASK_ENV] = f"pueue:{task_id}"
    if options.timeout is not None:
        env.update(deadline_env(options.timeout))
    return run(args[split + 1 :], env=env, timeout=options.timeout)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m harness.queue.wrap")
    parser.add_argument("--timeout", type=float, default=None)
    parser.add_argument("--pin-gpu", action="store_true")
    parser.add_argument("--pueue-config", default=None)
    parser.add_argument("--pueue-profile", default=None)
    return parser


def task_env(environ: Mapping[str, str], *, pin_gpu: bool) -> dict[str, str]:
    """The task's environment: the caller's, with its device pinned when asked."""
    env = dict(environ)
    if pin_gpu and "PUEUE_WORKER_ID" in env:
        env["CUDA_VISIBLE_DEVICES"] = env["PUEUE_WORKER_ID"]
    return env


def _own_task_id(token: str, *, config: str | None, profile: str | None) -> str | None:
    from harness.queue.pueue import PueueBackend

    try:
        task_id = PueueBackend(config=config, profile=profile).own_task_id(token)
    except HarnessError as exc:
        task_id, reason = None, str(exc)
    else:
        reason = "no task carries its token"
    if task_id is None:
        print(f"harness: cannot tell this task's pueue id ({reason})", file=sys.stderr)
    return task_id


def run(command: list[str], *, env: dict[str, str], timeout: float | None) -> int:
    """Run the command, return its exit code (124 when its timeout stopped it)."""
    try:
        child = subprocess.Popen(command, env=env)
    except OSError as exc:
        print(f"harness: cannot run {command[0]}: {exc.strerror or exc}", file=sys.stderr)
        return 127 if isinstance(exc, FileNotFoundError) else 126
    # pueue signals the whole group, so the task gets the signal itself: the wrapper
    # stays alive to report how the task ended.
    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(signum, lambda *_: None)
    try:
        return exit_code_of(child.wait(timeout=timeout))
    except subprocess.TimeoutExpired:
        print(f"harness: timed out after {timeout:g} s", file=sys.stderr, flush=True)
        stop_task(child)
        return TIMEOUT_EXIT


def stop_task(child: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the task's processes, SIGKILL to those alive after the grace period.

    The task's processes are the members of the wrapper's process group (pueue's group
    for the task), sparing the wrapper and pueue's `sh`; where the group is someone
    else's, or /proc is missing, just the child.
    """
    spare = {os.getpid(), os.getppid()}
    owns_group = os.getpgrp() in spare

    def members() -> list[int]:
        found = _group_members(os.getpgrp(), spare=spare) if owns_group else []
        return found or ([child.pid] if child.poll() is None else [])

    _signal_all(members(), signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        child.wait(timeout=QUEUE_GRACE_S)
    _signal_all(members(), signal.SIGKILL)
    child.wait()


def _group_members(pgid: int, *, spare: set[int]) -> list[int]:
    """Pids of a process group, read from /proc (an empty list where there is none)."""
    members = []
    try:
        names = os.listdir("/proc")
    except OSError:
        return []
    for name in names:
        if not name.isdigit() or int(name) in spare:
            continue
        try:
            with open(f"/proc/{name}/stat", encoding="utf-8", errors="replace") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid:  # the fields after the name: state, ppid, pgrp, ...
            members.append(int(name))
    return members


def _signal_all(pids: list[int], signum: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signum)


if __name__ == "__main__":
    sys.exit(main())
