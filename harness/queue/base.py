"""What every queue backend can do, and the task states they all report.

A backend runs an argv in a working directory and reports states; it knows nothing of
results, ideas or git. Each backend turns its raw output into `TaskState`s in one pure
function, which is what the recorded-protocol tests feed.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from harness.errors import UsageError

# The environment of a queued task carries its label, so that a queued `harness eval`
# records it; HARNESS_QUEUE_TASK is `<backend>:<id>`, the `queue_task` of its results row.
TASK_ENV = "HARNESS_QUEUE_TASK"
# The harness's own token of a task, made at submit time and kept in the task's environment
# and at the end of its label. Backend ids can be reused (pueue starts again at 0 after a
# reset or on a new daemon), the token never: a results row records it as `task_token`.
# The pueue wrapper also finds its task's pueue id by it.
TOKEN_ENV = "HARNESS_TASK_TOKEN"
# When a queue enforces a task's timeout it tells the task when: HARNESS_QUEUE_DEADLINE is the
# unix time of the stop. A `harness eval` stopped at or after it records `timeout`, not
# `killed`, because the queue stopped it for its timeout.
DEADLINE_ENV = "HARNESS_QUEUE_DEADLINE"
DEADLINE_SLACK_S = 1.0
LABEL_TOKEN = re.compile(r"(?:^| )\[task ([0-9a-f]{16})\]$")

State = Literal["queued", "running", "succeeded", "failed", "killed", "timed_out", "lost"]
FINAL_STATES: frozenset[str] = frozenset({"succeeded", "failed", "killed", "timed_out", "lost"})


@dataclass(frozen=True)
class TaskSpec:
    """One task to run: an argv in a directory, with a label such as `Q: ... H: ...`."""

    argv: tuple[str, ...]
    cwd: str
    env: dict[str, str] = field(default_factory=dict)  # added to the caller's environment
    label: str = ""
    group: str = "harness"
    timeout: float | None = None  # seconds; None: no limit


@dataclass(frozen=True)
class TaskState:
    """A task as a backend last saw it."""

    task_id: str
    state: State
    label: str = ""
    group: str = ""
    cwd: str = ""
    command: str = ""
    exit_code: int | None = None
    enqueued_at: str | None = None  # ISO 8601, UTC
    started_at: str | None = None
    ended_at: str | None = None
    detail: str = ""  # a backend's own words for the state, e.g. "NODE_FAIL"
    backend: str = ""  # the backend's name, e.g. "local"
    env: Mapping[str, str] = field(default_factory=dict)  # the task's HARNESS_* variables
    token: str = ""  # the harness's token of the task ("" for a task queued without one)

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def queue_task(self) -> str:
        """`<backend>:<id>`: what HARNESS_QUEUE_TASK held in the task (and its results row)."""
        return f"{self.backend}:{self.task_id}"


def check_spec(spec: TaskSpec) -> None:
    """Refuse a spec no backend can run, before anything is queued."""
    if not spec.argv:
        raise UsageError("empty command: give one after `--`, e.g. `-- just eval`")
    if not os.path.isdir(spec.cwd):
        raise UsageError(
            f"working directory {spec.cwd} does not exist: create it, or queue from another one"
        )
    if spec.timeout is not None and spec.timeout <= 0:
        raise UsageError(f"timeout must be positive, got {spec.timeout}")


def with_token(spec: TaskSpec) -> TaskSpec:
    """The spec with its token in its environment and at the end of its label: a new one,
    or the one the caller made (`harness submit` keeps the tokens of its confirmation runs)."""
    given = spec.env.get(TOKEN_ENV, "")
    token = given if re.fullmatch(r"[0-9a-f]{16}", given) else secrets.token_hex(8)
    label = f"{spec.label} [task {token}]" if spec.label else f"[task {token}]"
    return replace(spec, env={**spec.env, TOKEN_ENV: token}, label=label)


def split_label(text: str) -> tuple[str, str]:
    """(the label as the user gave it, the token at its end or "")."""
    found = LABEL_TOKEN.search(text)
    return (text[: found.start()], found.group(1)) if found else (text, "")


def identity(label: str, env: Mapping[str, str]) -> tuple[str, str]:
    """(the user's label, the task's token) from a stored label and environment."""
    label, token = split_label(label)
    return label, env.get(TOKEN_ENV) or token


def deadline_env(timeout: float) -> dict[str, str]:
    """The variable telling a task, as its clock starts, when its timeout will stop it."""
    return {DEADLINE_ENV: f"{time.time() + timeout:.3f}"}


def is_past_deadline(environ: Mapping[str, str]) -> bool:
    """Whether the queue's deadline for this process has come (False without one)."""
    try:
        deadline = float(environ.get(DEADLINE_ENV, ""))
    except ValueError:
        return False
    return time.time() >= deadline - DEADLINE_SLACK_S


def inherited_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment a new task inherits: without its parent task's id, token or deadline
    (a task queued from inside a task is a task of its own)."""
    own = (TASK_ENV, TOKEN_ENV, DEADLINE_ENV)
    return {key: value for key, value in environ.items() if key not in own}


def harness_env(env: Mapping[str, str]) -> dict[str, str]:
    """The HARNESS_* variables of an environment: what a task state keeps of it."""
    return {key: value for key, value in env.items() if key.startswith("HARNESS_")}


@runtime_checkable
class Backend(Protocol):
    """The operations every backend supports. Optional extras are plain methods elsewhere.

    One optional method: `read_log_from(task_id, offset) -> bytes`, what a task's log
    gained after its first `offset` bytes, which backends whose logs are files (local,
    slurm) have, so that `follow` reads only what was appended.
    """

    name: str

    def is_available(self) -> tuple[bool, str]:
        """Whether the backend can be used now, and why (or why not)."""
        ...

    def submit(self, spec: TaskSpec) -> str:
        """Queue the task; returns its id."""
        ...

    def states(self, task_ids: list[str] | None = None) -> list[TaskState]:
        """States of the given tasks (all of the harness's tasks when None), in one call."""
        ...

    def cancel(self, task_id: str) -> None:
        """Kill a running task or remove a queued one."""
        ...

    def log(self, task_id: str, *, tail: int | None = None) -> str:
        """The task's combined output so far (its last `tail` lines when given)."""
        ...


def tail_lines(text: str, tail: int | None) -> str:
    """The last `tail` lines of a text (all of it when `tail` is None)."""
    if tail is None:
        return text
    return "".join(text.splitlines(keepends=True)[-tail:]) if tail > 0 else ""


def read_from(path: Path, offset: int) -> bytes:
    """The bytes of a file from `offset` on (none when the file does not exist yet)."""
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            return handle.read()
    except FileNotFoundError:
        return b""
