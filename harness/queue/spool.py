"""The referee's request spool, as a queue backend (docs/architecture.md §6).

In referee mode the agent never runs an evaluation itself: `submit` writes one request
file (atomically: a temporary name, then a rename) into the referee's spool, a sticky
folder the agent may add files to but whose other files it can neither change nor
remove. The referee's worker (`harness referee serve`) takes each request, evaluates the
named commit in its own clone and writes the task's state and log, which the agent can
read and not write. So states and logs here are read from the referee's files.

The request names the commit and branch of the worktree it was made in (the caller puts
them in the spec's HARNESS_REQUEST_COMMIT and HARNESS_REQUEST_BRANCH: a backend knows
nothing of git), fixed when it is made: the referee evaluates that commit, whatever the
worktree holds later.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

from harness.errors import QueueError, QueueUnavailable, UnknownTask
from harness.fileio import utc_now, write_atomic
from harness.queue.base import (
    TOKEN_ENV,
    TaskSpec,
    TaskState,
    check_spec,
    harness_env,
    identity,
    read_from,
    tail_lines,
    with_token,
)

NAME = "referee"
SPOOL, STATES, LOGS = "spool", "states", "logs"
COMMIT_ENV, BRANCH_ENV = "HARNESS_REQUEST_COMMIT", "HARNESS_REQUEST_BRANCH"


class SpoolBackend:
    """Requests to the referee whose home is `home` (its spool, states and task logs)."""

    name = NAME

    def __init__(self, home: Path) -> None:
        self.home = home
        self.spool = home / SPOOL
        self.states_dir = home / STATES
        self.logs = home / LOGS

    def is_available(self) -> tuple[bool, str]:
        if not os.access(self.spool, os.W_OK | os.X_OK):
            return False, f"the referee's spool {self.spool} cannot be written by this user"
        return True, f"requests go to the referee's spool {self.spool}"

    def submit(self, spec: TaskSpec) -> str:
        check_spec(spec)
        usable, why = self.is_available()
        if not usable:
            raise QueueUnavailable(f"{why}: ask root to run `harness referee setup` again")
        spec = with_token(spec)
        task_id = time.strftime("%Y%m%d%H%M%S", time.gmtime()) + secrets.token_hex(3)
        if not spec.env.get(COMMIT_ENV):
            raise QueueError(
                f"a request to the referee names its commit ({COMMIT_ENV}): none given"
            )
        request = {
            "id": task_id,
            "token": spec.env[TOKEN_ENV],
            "argv": list(spec.argv),
            "cwd": spec.cwd,
            "branch": spec.env.get(BRANCH_ENV, ""),
            "commit": spec.env[COMMIT_ENV],
            "env": harness_env(spec.env),
            "label": spec.label,
            "group": spec.group,
            "timeout": spec.timeout,
            "enqueued_at": utc_now(),
        }
        write_atomic(self.spool / f"{task_id}.json", json.dumps(request, indent=1))
        return task_id

    def states(self, task_ids: list[str] | None = None) -> list[TaskState]:
        ids = task_ids if task_ids is not None else self._all_ids()
        found = []
        for task_id in ids:  # a taken request is the referee's copy (the agent may delete its own)
            state = read_json(self.states_dir / f"{task_id}.json")
            request = state["request"] if state else read_json(self.spool / f"{task_id}.json")
            if isinstance(request, dict):
                found.append(state_of(task_id, request, state))
        return found

    def cancel(self, task_id: str) -> None:
        if read_json(self.states_dir / f"{task_id}.json") is not None:
            raise QueueError(
                f"referee task {task_id} has started: only the referee can stop it "
                "(`harness referee` runs as another user)"
            )
        try:
            (self.spool / f"{task_id}.json").unlink()
        except FileNotFoundError:
            raise UnknownTask(f"the referee has no task {task_id}") from None

    def log(self, task_id: str, *, tail: int | None = None) -> str:
        text = read_from(self.logs / f"{task_id}.log", 0).decode("utf-8", errors="replace")
        return tail_lines(text, tail)

    def read_log_from(self, task_id: str, offset: int) -> bytes:
        return read_from(self.logs / f"{task_id}.log", offset)

    def _all_ids(self) -> list[str]:
        names: set[str] = set()
        for folder in (self.spool, self.states_dir):
            try:
                names.update(
                    n.removesuffix(".json") for n in os.listdir(folder) if is_request_name(n)
                )
            except OSError:
                continue
        return sorted(names)


def is_request_name(name: str) -> bool:
    """A finished request file (temporary files start with a dot)."""
    return name.endswith(".json") and not name.startswith(".")


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object from a file; None when it is absent or not (yet) a whole object."""
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def state_of(task_id: str, request: dict[str, Any], state: dict[str, Any] | None) -> TaskState:
    """A request and the referee's state of it (None: not taken yet) as a TaskState."""
    state = state or {}
    label, token = identity(str(request.get("label", "")), request.get("env") or {})
    return TaskState(
        task_id=task_id,
        state=state.get("state", "queued"),
        label=label,
        group=str(request.get("group", "")),
        cwd=str(request.get("cwd", "")),
        command=" ".join(map(str, request.get("argv", []))),
        exit_code=state.get("exit_code"),
        enqueued_at=request.get("enqueued_at"),
        started_at=state.get("started_at"),
        ended_at=state.get("ended_at"),
        detail=str(state.get("detail", "")),
        backend=NAME,
        env=request.get("env") or {},
        token=str(request.get("token") or token),
    )
