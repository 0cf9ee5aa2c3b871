"""The referee's worker: `harness referee serve` and `run-once` (docs/architecture.md §6).

For each request of the spool, in id order: check that the agent wrote it, copy it into
the referee's state, fetch the requested commit from the agent's branch into the
referee's clone, put main's FROZEN files and `[tool.harness]` over it, and run the
evaluation there through `harness.runs.referee_task` (the research code as the runner),
which appends the row. The referee runs main's configured evaluation, whatever command
the request names: the agent chooses the code and the seed, never the scorer.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import gitops
from harness.config import Config, load_config
from harness.errors import GitError, HarnessError
from harness.fileio import utc_now, write_atomic
from harness.layout import BRANCH_PREFIX
from harness.queue.spool import is_request_name, read_json
from harness.rules.globs import matches
from harness.runs.referee_home import Home, Users, user_ids
from harness.runs.referee_users import end_runner_processes

MAX_REQUEST_BYTES = 65536
PLACES = "5_worktrees"  # the clone's worktrees, one per request, removed after it
CONFIRM_MODULE = "harness.runs.confirm_task"
COMMIT = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")


class Refused(HarnessError):
    """A request the referee does not run; the reason goes to its state and log."""


@dataclass(frozen=True)
class Prepared:
    """Where a request runs, and what the referee had to put back from main."""

    place: Path
    overlaid: tuple[str, ...]  # FROZEN paths (or pyproject.toml) the commit had changed


def pending(home: Home) -> list[str]:
    """Ids of the requests not yet taken, oldest first."""
    try:
        names = sorted(os.listdir(home.spool))
    except OSError:
        return []
    taken = {n for n in os.listdir(home.states) if is_request_name(n)}
    return [n.removesuffix(".json") for n in names if is_request_name(n) and n not in taken]


def run_once(home: Home) -> str | None:
    """Handle the oldest pending request; its id, or None when there was none."""
    for task_id in pending(home):
        handle(home, task_id)
        return task_id
    return None


def serve(home: Home, *, poll: float = 0.5) -> None:
    """Handle requests as they come, until interrupted."""
    while True:
        if run_once(home) is None:
            time.sleep(poll)


def handle(home: Home, task_id: str) -> None:
    users, repository = home.read()
    state: dict[str, Any] = {"state": "running", "started_at": utc_now(), "request": {}}
    log_path = home.logs / f"{task_id}.log"
    try:
        request = take(home, task_id, users)
        state["request"] = request
        save_state(home, task_id, state)
        code = run_request(home, users, repository, request, log_path=log_path)
        state.update(state="succeeded" if code == 0 else "failed", exit_code=code)
    except HarnessError as exc:  # refused, or the commit could not be fetched
        refuse(home, task_id, state, f"refused: {exc}", log_path=log_path)
    except Exception as exc:  # a bad request must not stop the worker
        refuse(home, task_id, state, f"referee error: {exc!r}", log_path=log_path)
    state["ended_at"] = utc_now()
    save_state(home, task_id, state)


def refuse(home: Home, task_id: str, state: dict[str, Any], why: str, *, log_path: Path) -> None:
    """The request's state says why it did not run (and so does its log)."""
    with log_path.open("a") as log:
        log.write(f"referee: {why}\n")
    if not state["request"]:  # the agent's file as it is, for `queue status` to show
        state["request"] = read_json(home.spool / f"{task_id}.json") or {"id": task_id}
    state.update(state="failed", exit_code=None, detail=why)


def take(home: Home, task_id: str, users: Users) -> dict[str, Any]:
    """The request, if it is a regular file of the agent's of a sane size and shape."""
    path = home.spool / f"{task_id}.json"
    try:
        found = path.lstat()
    except FileNotFoundError:
        raise Refused("the agent withdrew the request before it ran") from None
    if not path.is_file() or path.is_symlink() or found.st_uid != user_ids(users.agent)[0]:
        raise Refused(f"{path} is not a file of the agent {users.agent}")
    if found.st_size > MAX_REQUEST_BYTES:
        raise Refused(f"{path} is larger than {MAX_REQUEST_BYTES} bytes")
    request = read_json(path)
    if request is None or request.get("id") != task_id:
        raise Refused(f"{path} is not a request (a JSON object with its own id)")
    for key in ("commit", "branch", "token"):
        if not isinstance(request.get(key), str) or not request[key]:
            raise Refused(f"request {task_id} has no {key}")
    return request


def save_state(home: Home, task_id: str, state: dict[str, Any]) -> None:
    write_atomic(home.states / f"{task_id}.json", json.dumps(state, indent=1))


def run_request(
    home: Home, users: Users, repository: Path, request: dict[str, Any], *, log_path: Path
) -> int:
    """Prepare the request's commit and run it as a task; the task's exit code."""
    config = load_config(home.clone)
    if is_confirmation(request):
        args = confirm_args(request)
        for target in (args.run, args.candidate, args.reference):
            fetch(home.clone, repository, target.branch, target.commit, config=config)
        prepared = Prepared(home.clone, ())
    else:
        fetch(home.clone, repository, request["branch"], request["commit"], config=config)
        prepared = prepare(home, request, config=config)
    env = task_env(request, users=users, home=home)
    argv = [sys.executable, "-m", "harness.runs.referee_task", str(home.path), request["id"]]
    argv += [str(prepared.place), *prepared.overlaid]
    try:
        with log_path.open("ab") as log:
            done = subprocess.run(argv, cwd=home.clone, env=env, stdout=log, stderr=log)
        return done.returncode
    finally:
        end_runner_processes(users.runner)
        if prepared.place != home.clone:
            gitops.remove_worktree(home.clone, prepared.place, force=True)


def is_confirmation(request: dict[str, Any]) -> bool:
    argv = request.get("argv") or []
    return CONFIRM_MODULE in argv[:3]


def confirm_args(request: dict[str, Any]) -> argparse.Namespace:
    """A confirmation request's arguments: run, candidate, reference (targets) and seed."""
    from harness.runs.confirm_task import parse

    try:
        return parse(list(request["argv"])[3:])
    except (SystemExit, ValueError):
        raise Refused("the confirmation request's arguments cannot be read") from None


def fetch(clone: Path, repository: Path, branch: str, commit: str, *, config: Config) -> None:
    """Make `commit` of the agent's `branch` present in the clone: main's commits must be
    the referee's own main's; an idea's must be on the agent's branch of that name."""
    if not COMMIT.fullmatch(commit):
        raise Refused(f"{commit[:80]!r} is not a commit id (40 hexadecimal digits)")
    if branch == config.main_branch:
        if not is_ancestor(clone, commit, config.main_branch):
            raise Refused(
                f"{commit[:10]} is not on the referee's {config.main_branch}: the referee "
                f"takes {config.main_branch} from the human only (see the README)"
            )
        return
    if not branch.startswith(BRANCH_PREFIX) and branch != config.line:
        raise Refused(
            f"branch {branch!r} is neither {config.main_branch} nor an idea's exp/ branch"
        )
    ref = f"refs/agent/{branch}"
    try:
        gitops.git(
            "fetch",
            "--quiet",
            "--no-tags",
            str(repository),
            f"+refs/heads/{branch}:{ref}",
            cwd=clone,
        )
    except GitError as exc:
        raise Refused(f"cannot fetch {branch} from {repository}: {exc}") from None
    if not is_ancestor(clone, commit, ref):
        raise Refused(f"{commit[:10]} is not on the agent's branch {branch}")


def is_ancestor(clone: Path, commit: str, ref: str) -> bool:
    done = subprocess.run(
        ["git", "merge-base", "--is-ancestor", commit, ref], cwd=clone, capture_output=True
    )
    return done.returncode == 0


def prepare(home: Home, request: dict[str, Any], *, config: Config) -> Prepared:
    """The request's commit checked out in the clone, with main's FROZEN files over it."""
    branch, commit = request["branch"], request["commit"]
    if branch == config.main_branch:
        if commit != gitops.head_commit(home.clone):
            raise Refused(f"{commit[:10]} is not the head of the referee's {branch}")
        return Prepared(home.clone, ())
    place = home.clone / PLACES / f".referee-{request['id']}"
    gitops.git("worktree", "add", "--quiet", "-B", branch, str(place), commit, cwd=home.clone)
    changed = frozen_changes(home.clone, commit, config=config)
    main = config.main_branch
    for path in changed:
        if gitops.file_at(home.clone, main, path) is None:
            (place / path).unlink(missing_ok=True)
        else:
            gitops.git("checkout", main, "--", path, cwd=place)
    return Prepared(place, tuple(changed))


def frozen_changes(clone: Path, commit: str, *, config: Config) -> list[str]:
    """FROZEN paths the commit holds differently from main, and pyproject.toml when its
    `[tool.harness]` differs (the referee's configuration is main's, always)."""
    main = config.main_branch
    names = gitops.git("diff", "--name-only", "--no-renames", main, commit, cwd=clone).split()
    changed = [name for name in names if matches(name, config.rules.frozen)]
    if "pyproject.toml" in names and harness_table(clone, main) != harness_table(clone, commit):
        changed.append("pyproject.toml")
    return changed


def harness_table(clone: Path, revision: str) -> object:
    text = gitops.file_at(clone, revision, "pyproject.toml") or ""
    try:
        return tomllib.loads(text).get("tool", {}).get("harness")
    except tomllib.TOMLDecodeError:
        return "unreadable"


def task_env(request: dict[str, Any], *, users: Users, home: Home) -> dict[str, str]:
    """The task's environment: the referee's, no HARNESS_* of its own, and of the
    request only its label and seed, its queue id and token."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("HARNESS_")}
    given = request.get("env") or {}
    for key in ("HARNESS_QUESTION", "HARNESS_HYPOTHESIS", "HARNESS_EXPECTED", "HARNESS_SEED"):
        if isinstance(given.get(key), str):
            env[key] = given[key]
    env.update(
        HARNESS_QUEUE_TASK=f"referee:{request['id']}",
        HARNESS_TASK_TOKEN=request["token"],
        HARNESS_AGENT=users.agent,
        TMPDIR=str(home.scratch),
    )
    return env
