"""The pueue backend: the `pueue` CLI through `subprocess`, with an argv, never a shell string.

What the recorded protocol of pueue 3.1.2 and 4.0.4 taught (tests/fixtures/pueue/):

- `add` needs `--escape`: without it pueue joins the arguments with spaces and runs them
  through `sh -c` (quotes eaten, `$HOME` expanded, `;` a second command).
- `status --json` has two shapes: 3.x gives bare-string statuses (`"Running"`) and the
  times at the top level (`+00:00`); 4.x gives every status as an object holding its
  times (`Z`). 3.x ignores `-g` under `--json`, so the group is filtered here.
- `log --json` returns the last 15 lines unless `--full`; a task with no log file yet
  returns "(Pueue error) Failed to get log file handle", which is not an error.
- Errors come on stdout (3.x) or stderr (4.x), with ANSI escapes even under `NO_COLOR`.
- `wait` exits 0 even for a failed task: the harness never calls it, it reads states.
- 3.x reads `PUEUE_CONFIG_PATH` not at all: `-c` goes on every call.

A task runs through `python -m harness.queue.wrap`, which enforces the timeout, pins the
GPU from `PUEUE_WORKER_ID`, and finds the task's own pueue id for HARNESS_QUEUE_TASK.
pueue stores the whole environment of the `add` call in its state file.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from typing import Any

from harness.errors import HarnessError, QueueError, QueueUnavailable, UnknownTask
from harness.queue.base import (
    TOKEN_ENV,
    TaskSpec,
    TaskState,
    check_spec,
    harness_env,
    identity,
    inherited_env,
    tail_lines,
    with_token,
)
from harness.queue.procs import SIGKILL_EXIT, TIMEOUT_EXIT
from harness.queue.times import normalise_time

WRAPPER = "harness.queue.wrap"
NO_LOG_FILE = "(Pueue error) Failed to get log file handle"
ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
DAEMON_FIX = 'start it with `pueued -d`, or set queue = "local" in [tool.harness]'


class PueueBackend:
    """pueue, reached with `pueue [-c CONFIG] [-p PROFILE] ...`; tasks go to `group`."""

    name = "pueue"

    def __init__(
        self,
        *,
        config: str | None = None,
        profile: str | None = None,
        group: str = "harness",
        parallel: int = 1,
        pin_gpus: bool = False,
        executable: str = "pueue",
    ) -> None:
        self.config, self.profile = config, profile
        self.group, self.parallel, self.pin_gpus = group, parallel, pin_gpus
        self.executable = executable
        self._ready_groups: set[str] = set()

    def base_argv(self) -> list[str]:
        argv = [self.executable]
        if self.config:
            argv += ["-c", self.config]
        if self.profile:
            argv += ["-p", self.profile]
        return argv

    def is_available(self) -> tuple[bool, str]:
        if shutil.which(self.executable) is None:
            return False, f"{self.executable} is not installed"
        try:
            self._run("status", "--json")
        except HarnessError as exc:
            return False, str(exc)
        return True, "pueued answers"

    def submit(self, spec: TaskSpec) -> str:
        check_spec(spec)
        spec = with_token(spec)
        self._ensure_group(spec.group)
        out = self._run(*self.add_args(spec), env={**inherited_env(os.environ), **spec.env})
        return parse_task_id(out)

    def add_args(self, spec: TaskSpec) -> list[str]:
        """The arguments of `pueue add` for a spec (after the base argv)."""
        head = ["add", "--print-task-id", "--escape", "--group", spec.group]
        head += ["--working-directory", spec.cwd]
        if spec.label:
            head += ["--label", spec.label]
        return [*head, "--", *self.wrapped(spec)]

    def wrapped(self, spec: TaskSpec) -> list[str]:
        """The task's argv behind the wrapper that runs it inside pueue."""
        options = []
        if spec.timeout is not None:
            options += ["--timeout", f"{spec.timeout:g}"]
        if self.pin_gpus:
            options += ["--pin-gpu"]
        if self.config:
            options += ["--pueue-config", self.config]
        if self.profile:
            options += ["--pueue-profile", self.profile]
        return [sys.executable, "-m", WRAPPER, *options, "--", *spec.argv]

    def states(self, task_ids: list[str] | None = None) -> list[TaskState]:
        text = self._run("status", "--json")
        if task_ids is None:
            return parse_status(text, group=self.group)
        wanted = {_number(task_id) for task_id in task_ids}
        return [state for state in parse_status(text) if state.task_id in wanted]

    def cancel(self, task_id: str) -> None:
        number = _number(task_id)
        found = self.states([number])
        if not found:
            raise UnknownTask(f"pueue has no task {number}: see `harness queue status`")
        if found[0].is_final:
            raise QueueError(f"task pueue:{number} has already ended ({found[0].state})")
        self._run("remove" if found[0].state == "queued" else "kill", number)

    def log(self, task_id: str, *, tail: int | None = None) -> str:
        number = _number(task_id)
        logs = parse_log(self._run("log", "--json", "--full", number))
        if number not in logs:
            raise UnknownTask(f"pueue has no task {number}: see `harness queue status`")
        return tail_lines(logs[number], tail)

    def own_task_id(self, token: str) -> str | None:
        """The id of the task whose environment holds this token (used by the wrapper)."""
        return find_task_id(self._run("status", "--json"), TOKEN_ENV, token)

    def _ensure_group(self, group: str) -> None:
        """Create the group on first use (3.x creates it asynchronously) and set parallel."""
        if group in self._ready_groups:
            return
        groups = parse_groups(self._run("status", "--json"))
        if group not in groups:
            self._run("group", "add", group)
            groups = self._wait_for_group(group)
        if groups[group] != self.parallel:
            self._run("parallel", str(self.parallel), "-g", group)  # as recorded
        self._ready_groups.add(group)

    def _wait_for_group(self, group: str, *, timeout: float = 10.0) -> dict[str, int]:
        deadline = time.monotonic() + timeout
        while True:
            groups = parse_groups(self._run("status", "--json"))
            if group in groups:
                return groups
            if time.monotonic() > deadline:
                raise QueueError(f"pueue did not create the group {group!r} within {timeout} s")
            time.sleep(0.05)

    def _run(self, *args: str, env: dict[str, str] | None = None) -> str:
        argv = [*self.base_argv(), *args]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
        except FileNotFoundError:
            raise QueueUnavailable(
                f'{self.executable} is not installed: install pueue, or set queue = "local"'
            ) from None
        if proc.returncode != 0:
            raise pueue_error(argv, proc.returncode, proc.stdout, proc.stderr)
        return proc.stdout


# The pure functions below are what the recorded-protocol tests feed.


def parse_task_id(stdout: str) -> str:
    """The id printed by `pueue add --print-task-id`."""
    text = stdout.strip()
    if not text.isdigit():
        raise QueueError(f"pueue add printed {text!r} where a task id was expected")
    return text


def parse_status(text: str, *, group: str | None = None) -> list[TaskState]:
    """The tasks of `pueue status --json` (3.x or 4.x), of one group when given."""
    data = _load(text, "status --json")
    tasks = data.get("tasks") or {}
    states = [task_state(task) for task in tasks.values() if group in (None, task.get("group"))]
    return sorted(states, key=lambda state: int(state.task_id))


def parse_groups(text: str) -> dict[str, int]:
    """Group name -> parallel tasks, from `status --json` (3.x has no `group --json`)."""
    groups = _load(text, "status --json").get("groups") or {}
    return {name: int(values.get("parallel_tasks", 1)) for name, values in groups.items()}


def parse_log(text: str) -> dict[str, str]:
    """Task id -> output, from `pueue log --json`; "no log file yet" is an empty log."""
    data = _load(text, "log --json")
    logs = {}
    for task_id, entry in data.items():
        output = entry.get("output") or ""
        logs[str(task_id)] = "" if output.startswith(NO_LOG_FILE) else output
    return logs


def find_task_id(text: str, key: str, value: str) -> str | None:
    """The id of the task whose environment has `key=value`, from `status --json`."""
    for task_id, task in (_load(text, "status --json").get("tasks") or {}).items():
        if (task.get("envs") or {}).get(key) == value:
            return str(task_id)
    return None


def task_state(task: dict[str, Any]) -> TaskState:
    """One task object of `status --json` (either shape) as a TaskState."""
    status = task.get("status")
    if isinstance(status, str):
        name, body = status, None
    elif isinstance(status, dict) and len(status) == 1:
        ((name, body),) = status.items()
    else:
        raise QueueError(f"pueue task {task.get('id')} has a status of unknown shape: {status!r}")
    times = body if isinstance(body, dict) else {}
    command, has_timeout = unwrap_command(task.get("original_command") or task.get("command", ""))
    state, exit_code, detail = _interpret(name, body, has_timeout=has_timeout)
    envs = task.get("envs") or {}
    label, token = identity(task.get("label") or "", envs)
    return TaskState(
        task_id=str(task["id"]),
        state=state,  # type: ignore[arg-type]
        label=label,
        token=token,
        group=task.get("group", ""),
        cwd=task.get("path", ""),
        command=command,
        exit_code=exit_code,
        enqueued_at=normalise_time(times.get("enqueued_at") or task.get("enqueued_at")),
        started_at=normalise_time(times.get("start") or task.get("start")),
        ended_at=normalise_time(times.get("end") or task.get("end")),
        detail=detail,
        backend="pueue",
        env=harness_env(envs),
    )


def _interpret(name: str, body: Any, *, has_timeout: bool) -> tuple[str, int | None, str]:
    """(state, exit code, detail) of a pueue status name and its body."""
    if name in ("Queued", "Stashed", "Locked"):
        return "queued", None, "" if name == "Queued" else name
    if name in ("Running", "Paused"):
        return "running", None, "" if name == "Running" else name
    if name != "Done":
        return "lost", None, f"unknown pueue status {name!r}"
    result = body.get("result") if isinstance(body, dict) and "result" in body else body
    if result == "Success":
        return "succeeded", 0, ""
    if result == "Killed":  # `pueue kill` without --signal: SIGKILL to the task's group
        return "killed", SIGKILL_EXIT, "killed through pueue"
    if isinstance(result, dict) and "Failed" in result:
        code = int(result["Failed"])
        if has_timeout and code == TIMEOUT_EXIT:
            return "timed_out", code, "stopped by its timeout"
        return "failed", code, ""
    if isinstance(result, dict) and "FailedToSpawn" in result:
        return "failed", None, f"failed to spawn: {result['FailedToSpawn']}"
    return "failed", None, str(result)


def unwrap_command(command: str) -> tuple[str, bool]:
    """The user's command inside the wrapper's (and whether the wrapper had a timeout)."""
    try:
        argv = shlex.split(command)
    except ValueError:
        return command, False
    if WRAPPER not in argv[:3] or "--" not in argv:
        return command, False
    split = argv.index("--")
    return shlex.join(argv[split + 1 :]), "--timeout" in argv[:split]


def strip_ansi(text: str) -> str:
    return ANSI.sub("", text)


def pueue_error(argv: list[str], returncode: int, stdout: str, stderr: str) -> HarnessError:
    """The error a failed pueue call stands for (3.x and 4.x print them differently)."""
    text = strip_ansi(f"{stdout}\n{stderr}")
    if "while connecting to daemon" in text:
        path = re.search(r'at path "([^"]+)"', text)
        where = f" at {path.group(1)}" if path else ""
        stale = "; a stale socket of a dead daemon" if "os error 111" in text else ""
        return QueueUnavailable(
            f"pueued is not running (nothing answers{where}{stale}): {DAEMON_FIX}"
        )
    failed = re.search(r"The command failed for tasks: ([\d, ]+)", text)
    if failed:
        return UnknownTask(
            f"pueue has no task {failed.group(1).strip()} it could act on: "
            "see `harness queue status`"
        )
    group = re.search(r"Group (\S+) doesn't exists?", text)
    if group:
        name = group.group(1)
        return QueueError(f"pueue has no group {name}: create it with `pueue group add {name}`")
    return QueueError(f"`{shlex.join(argv)}` failed (exit {returncode}): {error_summary(text)}")


def error_summary(text: str) -> str:
    """The messages of an anyhow / color-eyre / clap report on one line."""
    parts: list[str] = []
    for raw in text.splitlines():
        line = re.sub(r"^(Error:|error:|\d+:)\s*", "", raw.strip())
        if raw.strip().startswith(("Location:", "Backtrace", "Usage:", "For more information")):
            break
        if line and line != "Caused by:" and (not parts or parts[-1] != line):
            parts.append(line)
    return ": ".join(parts) or "no message"


def _load(text: str, what: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise QueueError(f"`pueue {what}` printed no JSON: {text[:80]!r}") from None
    if not isinstance(data, dict):
        raise QueueError(f"`pueue {what}` printed a {type(data).__name__}, not an object")
    return data


def _number(task_id: str) -> str:
    text = task_id.removeprefix("pueue:")
    if not text.isdigit():
        raise UnknownTask(f"{task_id!r} is not a pueue task id (e.g. 12 or pueue:12)")
    return text
