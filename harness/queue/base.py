"""What every queue backend can do, and the task states they all report.

A backend runs an argv in a working directory and reports states; it knows nothing of
results, ideas or git. Each backend turns its raw output into `TaskState`s in one pure
function, which is what the recorded-protocol tests feed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from harness.errors import UsageError

# The environment of a queued task carries its label, so that a queued `harness eval`
# records it; HARNESS_QUEUE_TASK is `<backend>:<id>`, the `queue_task` of its results row.
TASK_ENV = "HARNESS_QUEUE_TASK"
# a task's own random token, by which the pueue wrapper finds the task's pueue id
TOKEN_ENV = "HARNESS_PUEUE_TOKEN"

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


def harness_env(env: Mapping[str, str]) -> dict[str, str]:
    """The HARNESS_* variables of an environment: what a task state keeps of it."""
    return {key: value for key, value in env.items() if key.startswith("HARNESS_")}


@runtime_checkable
class Backend(Protocol):
    """The operations every backend supports. Optional extras are plain methods elsewhere."""

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
