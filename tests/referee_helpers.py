"""Two users (three: the research code's runner too) for the referee-mode tests.

The tests need root, to create the users and to own the referee's setup: without it they
skip, saying so, and with HARNESS_REQUIRE_REFEREE=1 (CI) they fail instead. The harness
runs from a virtual environment every user can execute: Debian's /usr/bin/python3 in a
world-readable folder under /tmp, built once (under a lock, so parallel test workers share
it) for each version of the harness's sources. The repository lives under /tmp as well:
pytest's own tmp folders sit in root's mode-700 folders, which the other users cannot cross.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
SYSTEM_PYTHON = Path("/usr/bin/python3")
# One set of users per test worker: after each request the worker ends every process of
# its runner, so two referees must never share one (the README says so too).
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
USERS = (f"hr-agent-{WORKER}", f"hr-referee-{WORKER}", f"hr-runner-{WORKER}")
REQUIRE = "HARNESS_REQUIRE_REFEREE"


def skip_or_fail(reason: str) -> None:
    if os.environ.get(REQUIRE) == "1":
        pytest.fail(f"{REQUIRE}=1 but the referee tests cannot run: {reason}")
    pytest.skip(reason)


def check_machine() -> None:
    if os.geteuid() != 0:
        skip_or_fail("referee mode needs root to create its users (CI runs the tests as root)")
    for tool in ("useradd", "setpriv"):
        if shutil.which(tool) is None:
            skip_or_fail(f"{tool} is not installed")
    if not SYSTEM_PYTHON.exists():
        skip_or_fail(f"{SYSTEM_PYTHON} (a Python every user can run) is not installed")


def create_users() -> None:
    for name in USERS:
        try:
            pwd.getpwnam(name)
        except KeyError:
            subprocess.run(
                ["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                check=True,
                capture_output=True,
            )


def sources_hash() -> str:
    digest = hashlib.sha256()
    for path in sorted([PROJECT / "pyproject.toml", *(PROJECT / "harness").rglob("*")]):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(PROJECT)).encode() + path.read_bytes())
    return digest.hexdigest()[:12]


def shared_venv() -> Path:
    """A world-readable venv with this harness installed, one per version of its sources
    (HARNESS_REFEREE_VENV names one to use instead: an editable install, while iterating)."""
    if os.environ.get("HARNESS_REFEREE_VENV"):
        return Path(os.environ["HARNESS_REFEREE_VENV"])
    venv = Path(tempfile.gettempdir()) / f"harness-referee-venv-{sources_hash()}"
    with open(f"{venv}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (venv / "bin" / "harness").exists():
            build_venv(venv)
    return venv


def build_venv(venv: Path) -> None:
    source = Path(tempfile.mkdtemp(prefix="harness-src-"))
    try:
        for name in ("pyproject.toml", "README.md", "MANIFEST.in", "harness", "LICENSE"):
            if (PROJECT / name).is_dir():
                ignore = shutil.ignore_patterns("__pycache__")
                shutil.copytree(PROJECT / name, source / name, ignore=ignore)
            elif (PROJECT / name).exists():
                shutil.copy(PROJECT / name, source / name)
        subprocess.run([str(SYSTEM_PYTHON), "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "pip"), "install", "--quiet", str(source)]
        done = subprocess.run(pip, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
    finally:
        shutil.rmtree(source, ignore_errors=True)
    subprocess.run(["chmod", "-R", "a+rX", str(venv)], check=True)


@dataclass(frozen=True)
class Machine:
    venv: Path
    place: Path  # a world-traversable folder for the repository, the home and HOMEs

    def env(self, user: str) -> dict[str, str]:
        home = self.place / f"home-{user}"
        return {
            "PATH": f"{self.venv / 'bin'}:/usr/bin:/bin",
            "HOME": str(home),
            "GIT_CONFIG_GLOBAL": str(home / ".gitconfig"),
            "GIT_CONFIG_NOSYSTEM": "1",
            "LANG": "C.UTF-8",
        }

    def run(self, user: str | None, *argv: str, cwd: Path, **env: str):
        """argv as `user` (None: root), with the shared venv's harness first on PATH."""
        prefix = []
        if user is not None:
            prefix = ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--"]
        return subprocess.run(
            [*prefix, *argv],
            cwd=cwd,
            env={**self.env(user or "root"), **env},
            capture_output=True,
            text=True,
            timeout=300,
        )

    def harness(self, user: str | None, *args: str, cwd: Path, **env: str):
        return self.run(user, str(self.venv / "bin" / "harness"), *args, cwd=cwd, **env)


def make_home(machine: Machine, user: str) -> None:
    home = machine.place / f"home-{user}"
    home.mkdir(exist_ok=True)
    (home / ".gitconfig").write_text(
        f"[user]\n\tname = {user}\n\temail = {user}@example.com\n[init]\n\tdefaultBranch = main\n"
    )
    shutil.chown(home, user=user if user != "root" else 0)
    shutil.chown(home / ".gitconfig", user=user if user != "root" else 0)
