"""The referee's home: where referee mode keeps what the agent may read and not write.

    HOME/referee.json   who is who (agent, referee, runner) and the agent's repository
    HOME/clone/         the referee's clone: results.tsv, the journal, .git/harness (runs, logs)
    HOME/spool/         requests, one file each, written by the agent (sticky: its own only)
    HOME/states/        the referee's state of each request it took
    HOME/logs/          each request's output
    HOME/heldout/       held-out data: the referee's only, lent to confirmation runs
    HOME/scratch/       the research code's only writable place (the runner's)

See docs/architecture.md §6 for who owns what and why.
"""

from __future__ import annotations

import json
import pwd
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ConfigError
from harness.layout import REFEREE_CLONE
from harness.queue.spool import LOGS, SPOOL, STATES

SETTINGS = "referee.json"
HELDOUT_ENV = "HARNESS_HELDOUT_DIR"  # set for confirmation runs only


@dataclass(frozen=True)
class Users:
    agent: str  # works in its own repository, sends requests
    referee: str  # owns the record and the held-out data, runs the worker
    runner: str  # runs the research code: owns nothing of the record


@dataclass(frozen=True)
class Home:
    path: Path

    @property
    def settings(self) -> Path:
        return self.path / SETTINGS

    @property
    def clone(self) -> Path:
        return self.path / REFEREE_CLONE

    @property
    def spool(self) -> Path:
        return self.path / SPOOL

    @property
    def states(self) -> Path:
        return self.path / STATES

    @property
    def logs(self) -> Path:
        return self.path / LOGS

    @property
    def heldout(self) -> Path:
        return self.path / "heldout"

    @property
    def scratch(self) -> Path:
        return self.path / "scratch"

    def read(self) -> tuple[Users, Path]:
        """(the users, the agent's repository) from the settings setup wrote."""
        try:
            data = json.loads(self.settings.read_text())
            users = Users(data["agent"], data["referee"], data["runner"])
            return users, Path(data["repository"])
        except (OSError, ValueError, KeyError, TypeError):
            raise ConfigError(
                f"{self.settings} is missing or unreadable: run `harness referee setup` as root"
            ) from None


def user_ids(name: str) -> tuple[int, int]:
    """(uid, primary gid) of a user, or a ConfigError naming it."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise ConfigError(f"no user {name!r} on this machine: create it (useradd)") from None
    return entry.pw_uid, entry.pw_gid
