"""The operations behind `harness queue`: labelled tasks from a command, waiting, following.

These work on any backend through the protocol of `base.py`; the command line renders
what they return.
"""

from __future__ import annotations

import codecs
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.config import Config, load_config, resolve_argv
from harness.errors import QueueError, UnknownTask, UsageError
from harness.fileio import poll_until
from harness.layout import Layout, find_layout
from harness.queue.base import Backend, TaskSpec, TaskState
from harness.queue.choice import NAMES, Choice, choose_for, open_backend
from harness.queue.times import seconds_between

POLL = 0.5


def make_label(question: str, hypothesis: str) -> str:
    """`Q: <question> H: <hypothesis>`, leaving out what is empty."""
    parts = [f"Q: {question}" if question else "", f"H: {hypothesis}" if hypothesis else ""]
    return " ".join(part for part in parts if part)


def make_specs(
    command: list[str],
    *,
    cwd: Path,
    question: str = "",
    hypothesis: str = "",
    expected: str = "",
    seeds: int | None = None,
    only_seeds: tuple[int, ...] = (),
    group: str = "harness",
    timeout: float | None = None,
    extra_env: dict[str, str] | None = None,
) -> list[TaskSpec]:
    """One task, or one per seed (`--seed i` appended, HARNESS_SEED=i): 0..seeds-1 with
    `seeds`, or exactly `only_seeds`."""
    argv = tuple(resolve_argv(tuple(command)))
    env = {
        "HARNESS_QUESTION": question,
        "HARNESS_HYPOTHESIS": hypothesis,
        "HARNESS_EXPECTED": expected,
        **(extra_env or {}),
    }
    common: dict[str, Any] = {
        "cwd": str(cwd),
        "label": make_label(question, hypothesis),
        "group": group,
        "timeout": timeout,
    }
    if only_seeds and seeds is not None:
        raise UsageError("give --seeds N or --only-seeds S..., not both")
    if seeds is None and not only_seeds:
        return [TaskSpec(argv=argv, env=env, **common)]
    if seeds is not None and seeds < 1:
        raise UsageError(f"--seeds must be at least 1, got {seeds}")
    if any(seed < 0 for seed in only_seeds):
        raise UsageError(f"--only-seeds takes seeds of 0 or more, got {list(only_seeds)}")
    chosen = list(dict.fromkeys(only_seeds)) if only_seeds else list(range(seeds or 0))
    return [
        TaskSpec(argv=(*argv, "--seed", str(i)), env={**env, "HARNESS_SEED": str(i)}, **common)
        for i in chosen
    ]


def split_ref(text: str, names: tuple[str, ...]) -> tuple[str | None, str]:
    """`local:12` -> ("local", "12"); `12` -> (None, "12")."""
    backend, colon, task_id = text.rpartition(":")
    if not colon:
        return None, text
    if backend not in names:
        raise UsageError(f"{text!r}: unknown queue {backend!r} (task ids look like 12 or local:12)")
    return backend, task_id


def bare_id(task: str, name: str) -> str:
    """The id of `task` in the queue `name`, refusing an id of another queue."""
    named, task_id = split_ref(task, NAMES)
    if named not in (None, name):
        raise UsageError(f"task {task} is not in the {name} queue: wait for one queue at a time")
    return task_id


def wait_for(
    backend: Backend,
    task_ids: list[str],
    *,
    poll: float = POLL,
    timeout: float | None = None,
) -> list[TaskState]:
    """Poll until every task has ended; returns their final states in the given order."""

    def ended() -> list[TaskState] | None:
        found = {state.task_id: state for state in backend.states(task_ids)}
        missing = [task_id for task_id in task_ids if task_id not in found]
        if missing:
            raise UnknownTask(f"the {backend.name} queue has no task {', '.join(missing)}")
        if all(state.is_final for state in found.values()):
            return [found[task_id] for task_id in task_ids]
        return None

    def timed_out() -> QueueError:
        return QueueError(f"tasks {', '.join(task_ids)} did not end within {timeout} s")

    return poll_until(ended, timeout=timeout, every=poll, timed_out=timed_out)


def active_ids(backend: Backend) -> list[str]:
    """The ids of the tasks queued or running now."""
    return [state.task_id for state in backend.states() if not state.is_final]


def follow(
    backend: Backend, task_id: str, *, write: Callable[[str], Any], poll: float = POLL
) -> TaskState:
    """Write the task's output as it grows, until the task ends; returns its final state.

    A backend with `read_log_from(task_id, offset)` (its logs are files) is asked only for
    what was appended since the last poll; any other gives its whole log each time.
    """
    read = _appended(backend, task_id)
    while True:
        states = backend.states([task_id])
        if not states:
            raise UnknownTask(f"the {backend.name} queue has no task {task_id}")
        final = states[0].is_final
        write(read(final))
        if final:
            return states[0]
        time.sleep(poll)


def _appended(backend: Backend, task_id: str) -> Callable[[bool], str]:
    """A reader of what the task's log gained since it was last called."""
    read_from = getattr(backend, "read_log_from", None)
    if read_from is None:
        seen = ""

        def whole(final: bool) -> str:
            nonlocal seen
            text, before = backend.log(task_id), seen
            seen = text
            return text[len(before) :] if text.startswith(before) else text

        return whole
    offset = 0
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def appended(final: bool) -> str:
        nonlocal offset
        chunk = read_from(task_id, offset)
        offset += len(chunk)
        return decoder.decode(chunk, final=final)  # a character cut in two waits for its end

    return appended


def result_of(state: TaskState) -> str:
    """A short word on how a task ended (empty while it has not)."""
    if state.state == "succeeded":
        return "ok"
    if state.state == "failed":
        return f"exit {state.exit_code}" if state.exit_code is not None else "failed"
    return {"killed": "killed", "timed_out": "timeout", "lost": "lost"}.get(state.state, "")


def describe(state: TaskState, layout: Layout) -> dict[str, Any]:
    """A task as one JSON object: what `harness queue status --json` prints per task."""
    return {
        "id": state.queue_task,
        "backend": state.backend,
        "task_id": state.task_id,
        "token": state.token,
        "idea": layout.idea_in(Path(state.cwd)),
        "label": state.label,
        "state": state.state,
        "exit_code": state.exit_code,
        "result": result_of(state),
        "runtime_s": _round(seconds_between(state.started_at, state.ended_at)),
        "group": state.group,
        "cwd": state.cwd,
        "command": state.command,
        "enqueued_at": state.enqueued_at,
        "started_at": state.started_at,
        "ended_at": state.ended_at,
        "detail": state.detail,
        "env": dict(state.env),
    }


def format_runtime(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    whole = int(seconds)
    if whole < 60:
        return f"{seconds:.1f}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


@dataclass(frozen=True)
class Queue:
    """A backend opened for a command, with what chose it and where the command runs."""

    backend: Backend
    choice: Choice
    layout: Layout
    config: Config


def open_queue(
    *,
    flag: str | None = None,
    ref: str | None = None,
    gpus: int | None = None,
    group: str | None = None,
    start: Path | None = None,
) -> tuple[Queue, str]:
    """The queue a command uses, and the bare id of `ref` (`local:12` picks `local`)."""
    layout = find_layout(start)
    config = load_config(layout.root)
    named, task_id = split_ref(ref, NAMES) if ref is not None else (None, "")
    if named and flag and named != flag:
        raise UsageError(f"task {ref} is not in the {flag} queue given by --backend")
    choice = Choice(named, "the task id") if named else choose_for(layout, config, flag=flag)
    backend = open_backend(choice.name, layout=layout, config=config, gpus=gpus, group=group)
    return Queue(backend, choice, layout, config), task_id
