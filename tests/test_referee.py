"""Referee mode, as root sets it up: the agent, the referee and the research code's runner
are three real users; the agent's harness sends requests, the referee's worker (started by
root, as in the README) evaluates them in its own clone and owns the record.

First the loop the agent runs, unchanged: baseline, an idea, queued seeds, a report, a
submission with its held-out confirmation. Then the attacks of the integrity catalogue
that wrote a file, forged a row or read held-out data, each run as the agent (or as its
research code) against the referee-mode repository, each ending in a permission error or
a run that never counts. See tests/referee_helpers.py for how the users and the shared
virtual environment are made (and why the tests skip without root).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

from harness.record.results import read_results
from tests.referee_helpers import (
    USERS,
    Machine,
    check_machine,
    create_users,
    make_home,
    shared_venv,
)

AGENT, REFEREE, RUNNER = USERS
HELD_OUT_OFFSET = "0.5"  # only the referee's held-out file says it

EVAL = '''"""Stand-in evaluation: level.txt's number plus a fixed offset per seed; the held-out
split (--split test) adds the number in the referee's held-out data."""
import argparse
import os
import pathlib
import sys

sys.path.insert(0, os.getcwd())
import research  # the research code: it may try anything

parser = argparse.ArgumentParser()
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--split", default="val")
parser.add_argument("--smoke", action="store_true")
args = parser.parse_args()
value = float(pathlib.Path("level.txt").read_text().split()[0])
value += (0.002, 0.0, -0.002, 0.001)[args.seed % 4]
if args.split == "test":
    held_out = pathlib.Path(os.environ["HARNESS_HELDOUT_DIR"]) / "offset.txt"
    value += float(held_out.read_text())
print("---")
print(f"{args.split}_bpb: {value!r}")
'''


@dataclass(frozen=True)
class Setup:
    machine: Machine
    repo: Path  # the agent's repository
    home: Path  # the referee's

    @property
    def record(self) -> Path:
        return self.home / "clone" / "results.tsv"

    def agent(self, *args: str, cwd: Path | None = None, **env: str):
        return self.machine.harness(AGENT, *args, cwd=cwd or self.repo, **env)

    def agent_git(self, *args: str, cwd: Path | None = None, **env: str):
        done = self.machine.run(AGENT, "git", *args, cwd=cwd or self.repo, **env)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def shell(self, user: str, script: str, cwd: Path | None = None):
        return self.machine.run(user, "sh", "-c", script, cwd=cwd or self.repo)

    def rows(self) -> pl.DataFrame:
        return read_results(self.record)

    def commit_as_agent(
        self,
        worktree: Path,
        files: dict[str, str],
        message: str,
        *,
        no_verify: bool = False,
        **env: str,
    ):
        for name, text in files.items():
            (worktree / name).write_text(text)
            shutil.chown(worktree / name, user=AGENT, group=AGENT)
        self.agent_git("add", "--", *files, cwd=worktree)
        bypass = ("--no-verify",) if no_verify else ()  # the agent owns its hooks
        self.agent_git("commit", "--quiet", *bypass, "-m", message, cwd=worktree, **env)
        return self.agent_git("rev-parse", "HEAD", cwd=worktree).strip()


@pytest.fixture(scope="module")
def setup() -> Iterator[Setup]:
    check_machine()
    create_users()
    machine = Machine(venv=shared_venv(), place=Path(tempfile.mkdtemp(prefix="harness-ref-")))
    machine.place.chmod(0o755)
    for user in (AGENT, REFEREE, RUNNER, "root"):
        make_home(machine, user)
    repo = machine.place / "research"
    repo.mkdir()
    shutil.chown(repo, user=AGENT)
    done = machine.harness(AGENT, "init", "--example", str(repo), cwd=machine.place)
    assert done.returncode == 0, done.stderr
    ctx = Setup(machine, repo, machine.place / "referee")
    files = {"eval.py": EVAL, "research.py": '"""The research code."""\n', "level.txt": "2.0\n"}
    ctx.commit_as_agent(repo, files, "a fast evaluation (the human's)", META_MODE="1")
    done = machine.harness(
        None, "referee", "setup", "--agent", AGENT, "--referee", REFEREE, "--runner", RUNNER,
        "--home", str(ctx.home), cwd=repo,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (ctx.home / "heldout" / "offset.txt").write_text(HELD_OUT_OFFSET + "\n")
    shutil.chown(ctx.home / "heldout" / "offset.txt", user=REFEREE, group=REFEREE)
    (ctx.home / "heldout" / "offset.txt").chmod(0o640)
    worker = subprocess.Popen(
        [str(machine.venv / "bin" / "harness"), "referee", "serve", "--home", str(ctx.home)],
        env=machine.env("root"),
        stdout=subprocess.DEVNULL,
        stderr=open(machine.place / "worker.log", "w"),  # noqa: SIM115 (lives with the worker)
    )
    try:
        yield ctx
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        shutil.rmtree(machine.place, ignore_errors=True)


def wait_idle(ctx: Setup) -> None:
    done = ctx.agent("queue", "wait", "--exit-zero")
    assert done.returncode == 0, done.stderr


def new_idea(
    ctx: Setup, slug: str, files: dict[str, str], *, no_verify: bool = False, **env: str
) -> Path:
    assert ctx.agent("idea", "new", slug, "--title", slug).returncode == 0
    done = ctx.agent("worktree", "create", slug)
    assert done.returncode == 0, done.stderr
    worktree = ctx.repo / "5_worktrees" / slug
    ctx.commit_as_agent(worktree, files, slug, no_verify=no_verify, **env)
    return worktree


# -- the loop, unchanged for the agent ------------------------------------------------------


def test_setup_and_doctor_report_referee_mode(setup: Setup) -> None:
    doctor = setup.agent("doctor")
    (setup.home / "spool").chmod(0o1777)  # anyone could send requests
    try:
        loose = setup.agent("doctor")
    finally:
        (setup.home / "spool").chmod(0o1770)

    assert "referee: the record is " + str(setup.record) in doctor.stdout
    spool = (
        f"{setup.home}/spool {REFEREE}:{AGENT} 1770 (requests: the agent adds its own files only)"
    )
    assert f"OK    referee      {spool}" in doctor.stdout
    assert doctor.stdout.count("OK    referee ") == 13
    assert loose.returncode == 1
    assert f"FAIL  referee      {setup.home}/spool {REFEREE}:{AGENT} 1777, not " in loose.stdout


def test_the_loop_runs_through_the_referee(setup: Setup) -> None:
    baseline = setup.agent("baseline")
    assert baseline.returncode == 0, baseline.stdout + baseline.stderr
    worktree = new_idea(setup, "lower", {"level.txt": "1.95\n"})

    queued = setup.agent(
        "queue", "add", "--all-seeds", "-q", "does a lower level help?",
        "-H", "lower level, lower val_bpb", "--expected", "-0.05", "--", "harness", "eval",
        cwd=worktree,
    )  # fmt: skip
    assert queued.returncode == 0, queued.stderr
    assert all(line.startswith("referee:") for line in queued.stdout.split())
    wait_idle(setup)
    assert setup.agent("report", "lower").returncode == 0
    waiting = setup.agent("submit", "lower", "--wait", cwd=worktree)
    assert waiting.returncode == 2 and "referee mode: the held-out confirmation" in waiting.stderr
    first = setup.agent("submit", "lower", cwd=worktree)
    assert "held-out confirmation queued (6 run(s))" in first.stdout + first.stderr
    wait_idle(setup)
    second = setup.agent("submit", "lower", cwd=worktree)

    assert second.returncode == 0, second.stdout + second.stderr
    assert second.stdout.startswith("submitted: lower beats the head"), second.stdout
    rows = setup.rows()
    ok = rows.filter((pl.col("status") == "ok") & pl.col("idea").is_in(["baseline", "lower"]))
    assert sorted(ok.get_column("idea").to_list()) == ["baseline"] * 4 + ["lower"] * 3
    assert ok.get_column("queue_task").str.starts_with("referee:").all()
    assert set(ok.get_column("agent")) == {AGENT}
    confirm = rows.filter(pl.col("status") == "confirm")
    assert confirm.height == 6
    # the held-out number reached the confirmation, and only it
    assert min(confirm.filter(pl.col("idea") == "baseline").get_column("value")) > 2.4
    for attack in setup.rows().get_column("description").drop_nulls():
        assert "ATTACK" not in attack
    assert read_results(setup.repo / "results.tsv").is_empty()  # the agent's copy: unused
    for command in (("status",), ("next", "--json"), ("brief",), ("queue", "status")):
        done = setup.agent(*command)
        assert done.returncode == 0, (command, done.stderr)
    assert "lower" in setup.agent("brief").stdout


# -- the attacks, as the agent ---------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "clone/results.tsv",
        "clone/RESEARCH_JOURNAL.md",
        "clone/.git/harness/runs/forged.json",
        "clone/.git/harness/logs/forged.log",
        "states/forged.json",
        "logs/forged.log",
        "clone/eval.py",
        "clone/.git/HEAD",
        "referee.json",
    ],
)
def test_the_agent_cannot_write_what_the_referee_owns(setup: Setup, target: str) -> None:
    path = setup.home / target
    before = path.read_bytes() if path.exists() else None

    done = setup.shell(AGENT, f'printf "forged\\tok\\n" >> "{path}"')

    assert done.returncode != 0
    assert "Permission denied" in done.stderr
    assert (path.read_bytes() if path.exists() else None) == before


def test_the_agent_cannot_read_the_held_out_data(setup: Setup) -> None:
    done = setup.shell(AGENT, f'cat "{setup.home}/heldout/offset.txt"')

    assert done.returncode != 0 and "Permission denied" in done.stderr
    assert HELD_OUT_OFFSET not in done.stdout


def test_the_agent_harness_cannot_record_a_run_itself(setup: Setup) -> None:
    """`harness sync` and an in-process eval have no way to the record: sync says so, and
    another backend is refused."""
    sync = setup.agent("sync")
    local = setup.agent("queue", "add", "--backend", "local", "--", "harness", "eval")

    assert "referee mode" in sync.stdout
    assert local.returncode == 2
    assert "referee mode: every evaluation goes to the referee" in local.stderr


def test_research_code_can_neither_write_the_record_nor_read_held_out_data(
    setup: Setup,
) -> None:
    attack = f'''"""Research code that tries what the integrity catalogue tried."""
import pathlib
for action, path in (("append", "{setup.record}"), ("read", "{setup.home}/heldout/offset.txt"),
                     ("append", "{setup.home}/clone/eval.py"), ("append", "eval.py")):
    try:
        if action == "append":
            open(path, "a").write("forged\\n")
        else:
            pathlib.Path(path).read_text()
        print("ATTACK SUCCEEDED", action, path)
    except PermissionError as exc:
        print("attack refused:", action, path, exc.strerror)
'''
    worktree = new_idea(setup, "sneaky", {"research.py": attack})
    before = setup.record.read_bytes()

    done = setup.agent("eval", "--seed", "0", cwd=worktree)

    assert done.returncode == 0, done.stderr
    assert "ATTACK SUCCEEDED" not in done.stdout
    assert done.stdout.count("attack refused:") == 4  # eval.py: the one running, too
    assert setup.record.read_bytes().startswith(before)  # one row added, nothing changed


def test_a_frozen_file_changed_in_the_request_is_not_run_and_never_counts(setup: Setup) -> None:
    cheat = EVAL.replace('print(f"{args.split}_bpb: {value!r}")', 'print("val_bpb: 0.001")')
    worktree = new_idea(setup, "cheat", {"eval.py": cheat}, META_MODE="1")

    done = setup.agent("eval", "--seed", "0", cwd=worktree)

    row = setup.rows().filter(pl.col("idea") == "cheat").row(0, named=True)
    assert row["value"] == pytest.approx(2.002)  # main's eval.py ran
    assert row["dirty"] is True and "the commit changes eval.py" in row["description"]
    assert "recorded run" in done.stdout


def test_a_forged_command_is_not_what_the_referee_runs(setup: Setup) -> None:
    worktree = new_idea(setup, "forged-command", {"notes.txt": "a forged command\n"})
    fake = ["python", "-c", "print('---'); print('val_bpb: 0.001')"]

    done = setup.agent("queue", "add", "--", *fake, cwd=worktree)
    wait_idle(setup)

    assert done.returncode == 0
    row = setup.rows().filter(pl.col("idea") == "forged-command").row(0, named=True)
    assert row["value"] == pytest.approx(2.002)


def send_request(setup: Setup, task_id: str, **fields: object) -> dict:
    """Write a request file into the spool as the agent; the referee's state once it ended."""
    request: dict[str, object] = {
        "id": task_id,
        "token": task_id[-16:],
        "argv": ["harness", "eval"],
    }
    request |= {"cwd": str(setup.repo), "env": {}, **fields}
    path = setup.home / "spool" / f"{task_id}.json"
    done = setup.shell(AGENT, f"cat > '{path}' <<'EOF'\n{json.dumps(request)}\nEOF\n")
    assert done.returncode == 0, done.stderr
    return ended_state(setup, task_id)


def ended_state(setup: Setup, task_id: str) -> dict:
    state = setup.home / "states" / f"{task_id}.json"
    for _ in range(240):
        if state.exists() and json.loads(state.read_text()).get("ended_at"):
            break
        time.sleep(0.25)
    return json.loads(state.read_text())


@pytest.mark.parametrize(
    ("case", "why"),
    [
        ("unknown branch", "refused: cannot fetch exp/nothing"),
        ("not a commit", "is not a commit id"),
        ("not main's", "is not on the referee's main"),
        ("another branch's", "is not on the agent's branch exp/forged-b"),
    ],
)
def test_a_forged_request_is_refused(setup: Setup, case: str, why: str) -> None:
    """A request naming a commit that is not on its branch, or something that is not a
    commit at all, is refused and records nothing."""
    main = setup.agent_git("rev-parse", "main").strip()
    for slug in ("forged-a", "forged-b"):
        if not (setup.repo / "5_worktrees" / slug).exists():
            new_idea(setup, slug, {"notes.txt": f"{slug}\n"})
    other = setup.agent_git("rev-parse", "exp/forged-a").strip()
    branch, commit = {
        "unknown branch": ("exp/nothing", main),
        "not a commit": ("exp/forged-a", "--upload-pack=touch /tmp/x"),
        "not main's": ("main", "0" * 40),
        "another branch's": ("exp/forged-b", other),
    }[case]
    task_id = "20990101000000" + hashlib.sha256(case.encode()).hexdigest()[:16]

    found = send_request(setup, task_id, branch=branch, commit=commit)

    assert found["state"] == "failed"
    assert why in found["detail"]
    assert setup.rows().filter(pl.col("task_token") == task_id[-16:]).is_empty()


def test_a_request_that_is_a_symlink_is_refused(setup: Setup) -> None:
    link = setup.home / "spool" / "20990101000000ffffffffffffffff00.json"
    done = setup.shell(AGENT, f"ln -s '{setup.home}/referee.json' '{link}'")
    assert done.returncode == 0, done.stderr

    found = ended_state(setup, link.stem)

    assert found["state"] == "failed" and "is not a file of the agent" in found["detail"]


def test_a_config_changed_in_the_request_is_not_used(setup: Setup) -> None:
    """[tool.harness] is main's: a commit that points `eval` at a fake scorer and turns the
    direction around (past the agent's own hook, which refuses it) runs main's evaluation,
    and its row never counts."""
    pyproject = (setup.repo / "pyproject.toml").read_text()
    forged = pyproject.replace('eval = "python eval.py"', "eval = \"python -c 'print(0)'\"")
    forged = forged.replace('direction = "min"', 'direction = "max"')
    assert forged.count("print(0)") == 1 and 'direction = "max"' in forged
    worktree = new_idea(setup, "config", {"pyproject.toml": forged}, no_verify=True)

    setup.agent("eval", "--seed", "1", cwd=worktree)

    row = setup.rows().filter(pl.col("idea") == "config").row(0, named=True)
    assert row["value"] == pytest.approx(2.0) and row["status"] == "ok"
    assert row["dirty"] is True and "the commit changes pyproject.toml" in row["description"]


def test_main_is_the_referees_not_the_agents(setup: Setup) -> None:
    """An unfreezing on the agent's own main (a commit with META_MODE=1 in its own
    environment) never runs: main's runs are the referee's main's, which the human moves."""
    cheat = EVAL.replace('print(f"{args.split}_bpb: {value!r}")', 'print("val_bpb: 0.001")')
    before = setup.agent_git("rev-parse", "main").strip()
    setup.commit_as_agent(setup.repo, {"eval.py": cheat}, "unfreeze", META_MODE="1")
    try:
        done = setup.agent("baseline", "--seeds", "2")
    finally:
        setup.agent_git("reset", "--hard", "--quiet", before)

    assert done.returncode == 1
    assert "is not on the referee's main" in done.stderr
    assert setup.rows().filter(pl.col("value") == 0.001).is_empty()
