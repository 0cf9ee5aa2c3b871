"""Running as another user: the argv prefixes (util-linux `setpriv`) referee mode uses.

Root starts the referee's worker as the referee with three capabilities kept (CAP_SETUID,
CAP_SETGID, CAP_KILL, as ambient capabilities), so that the worker can start the research
code as the runner, a user that owns nothing of the record, and stop it on a timeout.
The research code gets no capabilities, no way to gain any (no_new_privs), and only the
runner's own group, plus the referee's group in confirmation runs (which is what lets it
read the held-out data).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

from harness.errors import ConfigError, UsageError
from harness.runs.referee_home import Home, user_ids

CAP_SETUID, CAP_SETGID = 7, 6


def setpriv() -> str:
    found = shutil.which("setpriv")
    if found is None:
        raise ConfigError(
            "setpriv is not installed: install util-linux (apt-get install util-linux)"
        )
    return found


def as_user(name: str, *, keep_switching: bool = False) -> list[str]:
    """The prefix that runs a command as `name` with its own groups (and, with
    `keep_switching`, the two capabilities to start the research code as the runner)."""
    uid, gid = user_ids(name)
    argv = [setpriv(), f"--reuid={uid}", f"--regid={gid}", "--init-groups"]
    if keep_switching:
        caps = "+setuid,+setgid,+kill"
        argv += [f"--inh-caps={caps}", f"--ambient-caps={caps}"]
    return [*argv, "--"]


def as_runner(name: str, *, extra_gid: int | None = None) -> list[str]:
    """The prefix that runs the research code as `name`: its own group (and `extra_gid`)
    only, no capabilities, no new privileges."""
    uid, gid = user_ids(name)
    groups = f"--groups={extra_gid}" if extra_gid is not None else "--clear-groups"
    return [
        setpriv(), f"--reuid={uid}", f"--regid={gid}", groups,
        "--inh-caps=-all", "--no-new-privs", "--",
    ]  # fmt: skip


def can_switch_users() -> bool:
    """Whether this process may start others as another user (root, or the caps above)."""
    if os.geteuid() == 0:
        return True
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("CapEff:"):
            effective = int(line.split()[1], 16)
            return all(effective >> bit & 1 for bit in (CAP_SETUID, CAP_SETGID))
    return False


def user_env(name: str, *, home: Path) -> dict[str, str]:
    """An environment for `name`: its own HOME, and git's global config in the referee's
    home (which names the agent's repository a safe directory to fetch from)."""
    try:
        own_home = pwd.getpwnam(name).pw_dir
    except KeyError:
        own_home = str(home)
    return {
        **os.environ,
        "HOME": own_home,
        "USER": name,
        "LOGNAME": name,
        "GIT_CONFIG_GLOBAL": str(home / "gitconfig"),
    }


def run_as(name: str, argv: list[str], *, home: Path) -> subprocess.CompletedProcess[str]:
    """Run argv as `name` (root only); output captured."""
    return subprocess.run(
        [*as_user(name), *argv],
        env=user_env(name, home=home),
        capture_output=True,
        text=True,
        check=False,
    )


def become_referee(path: Path, args: list[str]) -> Home:
    """As root: this command again, as the referee (keeping the right to start the
    research code as the runner), in place of this process. As the referee: its Home."""
    home = Home(path)
    users, _ = home.read()
    if os.geteuid() == 0:
        argv = [*as_user(users.referee, keep_switching=True), sys.executable, "-m", "harness"]
        os.execvpe(argv[0], [*argv, "referee", *args], user_env(users.referee, home=path))
    if os.geteuid() != user_ids(users.referee)[0]:
        raise UsageError(f"run the referee's worker as root, or as the referee {users.referee}")
    if not can_switch_users():
        raise UsageError(
            f"the worker cannot start the research code as {users.runner}: run it as root "
            "(it switches to the referee itself)"
        )
    os.environ["GIT_CONFIG_GLOBAL"] = str(path / "gitconfig")
    os.umask(0o022)
    return home


def end_runner_processes(runner: str) -> None:
    """End every process of the runner (what a run left behind): kill(-1) as the runner."""
    kill_all = "import os, signal; os.kill(-1, signal.SIGKILL)"
    subprocess.run([*as_runner(runner), sys.executable, "-c", kill_all], capture_output=True)
