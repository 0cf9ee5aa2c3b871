"""`harness referee setup`: give the record, the held-out data and a clean clone to a
referee user, and a request spool to the agent (docs/architecture.md §6).

Run by root from the agent's repository. Every step is one line of what it did; a step
that cannot be done stops setup with the reason and the fix. Running it again keeps the
clone and its record and sets every owner and mode again.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import shutil
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ConfigError, UsageError
from harness.fileio import utc_now, write_atomic
from harness.layout import REFEREE_MARKER, Layout
from harness.runs.referee_home import Home, Users, user_ids
from harness.runs.referee_users import run_as

STATE_DIRS = {"runs": "run records", "logs": "run logs"}  # in the clone's .git/harness


@dataclass(frozen=True)
class Mode:
    """What one path must be: its owner, group and permission bits."""

    path: Path
    owner: str
    group_of: str  # the user whose primary group the path gets
    bits: int
    why: str


def plan(home: Home, users: Users) -> list[Mode]:
    """Every path of the home with the owner and mode referee mode needs."""
    referee, runner, agent = users.referee, users.runner, users.agent
    state = home.clone / ".git" / "harness"
    return [
        Mode(home.path, referee, referee, 0o755, "the referee's home, readable by all"),
        Mode(home.spool, referee, agent, 0o1770, "requests: the agent adds its own files only"),
        Mode(home.states, referee, referee, 0o755, "request states: the referee writes"),
        Mode(home.logs, referee, referee, 0o755, "request logs: the referee writes"),
        Mode(home.heldout, referee, referee, 0o750, "held-out data: the referee's group only"),
        Mode(home.scratch, runner, runner, 0o700, "the research code's scratch space"),
        Mode(state, referee, referee, 0o755, "the clone's harness state: locks, runs, logs"),
        *(
            Mode(state / name, referee, referee, 0o755, f"{what}: the referee writes")
            for name, what in STATE_DIRS.items()
        ),
        Mode(state / "tmp", referee, runner, 0o2770, "metrics files: evaluation and referee"),
    ]


def setup(layout: Layout, users: Users, *, home: Home) -> list[str]:
    """Create the referee's home for the repository of `layout`; what was done, a line each."""
    if os.geteuid() != 0:
        raise UsageError("`harness referee setup` changes owners: run it as root (sudo)")
    check_users(users)
    done: list[str] = []
    os.umask(0o022)  # everything the referee writes stays readable, never writable, by others
    home.path.mkdir(parents=True, exist_ok=True)
    chown(home.path, users.referee, users.referee)
    write_gitconfig(home, layout.root)
    done.append(f"git config {home.path / 'gitconfig'}: the agent's repository is safe to fetch")
    if not (home.clone / ".git").is_dir():
        clone(layout.root, home=home, referee=users.referee)
        done.append(f"cloned {layout.root} into {home.clone} as {users.referee}")
    else:
        done.append(f"kept the existing clone {home.clone} and its record")
    for mode in plan(home, users):
        mode.path.mkdir(parents=True, exist_ok=True)
        chown(mode.path, mode.owner, mode.group_of)
        os.chmod(mode.path, mode.bits)
        done.append(f"{mode.path}: {mode.owner}:{mode.group_of} {mode.bits:04o} ({mode.why})")
    settings = {
        "agent": users.agent,
        "referee": users.referee,
        "runner": users.runner,
        "repository": str(layout.root),
        "created": utc_now(),
    }
    write_owned(home.settings, json.dumps(settings, indent=1) + "\n", owner=users.referee)
    done.append(f"wrote {home.settings}")
    marker = layout.git_common_dir / REFEREE_MARKER
    marker.parent.mkdir(parents=True, exist_ok=True)
    chown(marker.parent, users.agent, users.agent)
    write_owned(marker, json.dumps({"home": str(home.path)}) + "\n", owner=users.referee)
    done.append(f"wrote {marker}: the agent's harness sends its evaluations to the referee")
    return done


def main_worktree(path: Path) -> Layout:
    """The layout of the repository whose main worktree is `path`, found without running
    git: root must never run git in the agent's repository (its config could run code)."""
    root = path.resolve()
    if not (root / ".git" / "HEAD").is_file():
        raise UsageError(f"{root} is not the main worktree of a repository: give --repository")
    return Layout(worktree=root, root=root, git_common_dir=root / ".git")


def check_users(users: Users) -> None:
    ids = {name: user_ids(name) for name in (users.agent, users.referee, users.runner)}
    if len({uid for uid, _ in ids.values()}) < 3:
        raise UsageError(
            f"agent {users.agent}, referee {users.referee} and runner {users.runner} must be "
            "three different users: give --referee and --runner"
        )
    if 0 in {uid for uid, _ in ids.values()} or ids[users.referee][1] == 0:
        raise UsageError("none of agent, referee and runner may be root or in root's group")


def clone(repository: Path, *, home: Home, referee: str) -> None:
    argv = ["git", "clone", "--quiet", "--no-hardlinks", str(repository), str(home.clone)]
    done = run_as(referee, argv, home=home.path)
    if done.returncode != 0:
        raise ConfigError(
            f"the referee {referee} cannot clone {repository} ({done.stderr.strip()}): make "
            "the repository and its parent folders readable by that user"
        )


def write_gitconfig(home: Home, repository: Path) -> None:
    text = f"[safe]\n\tdirectory = {repository}\n\tdirectory = {repository / '.git'}\n"
    write_owned(home.path / "gitconfig", text, owner=None)


def write_owned(path: Path, text: str, *, owner: str | None) -> None:
    """An atomic write, then the file given to `owner` (mode 644: read by all)."""
    write_atomic(path, text)
    if owner is not None:
        chown(path, owner, owner)


def chown(path: Path, owner: str, group_of: str) -> None:
    shutil.chown(path, user=user_ids(owner)[0], group=user_ids(group_of)[1])


def name_of(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def inspect(home: Home) -> list[tuple[bool, str]]:
    """What `harness doctor` checks in referee mode: each path's owner and mode as planned,
    and that the agent is not in the referee's group (which reads the held-out data)."""
    users, _ = home.read()
    checks = []
    for mode in plan(home, users):
        try:
            found = mode.path.stat()
        except OSError as exc:
            checks.append((False, f"{mode.path}: {exc.strerror}"))
            continue
        want = (user_ids(mode.owner)[0], user_ids(mode.group_of)[1], mode.bits)
        have = (found.st_uid, found.st_gid, found.st_mode & 0o7777)
        owners = f"{name_of(found.st_uid)}:{group_name(found.st_gid)} {have[2]:04o}"
        wanted = "" if have == want else f", not {mode.owner}:{mode.group_of}'s {mode.bits:04o}"
        checks.append((have == want, f"{mode.path} {owners}{wanted} ({mode.why})"))
    for name in ("results.tsv", "RESEARCH_JOURNAL.md"):
        path = home.clone / name
        owned = path.exists() and path.stat().st_uid == user_ids(users.referee)[0]
        checks.append((owned, f"{path} is the referee's"))
    referee_group = grp.getgrgid(user_ids(users.referee)[1])
    outsider = users.agent not in referee_group.gr_mem and users.runner not in referee_group.gr_mem
    checks.append((outsider, f"agent and runner are not members of group {referee_group.gr_name}"))
    return checks
