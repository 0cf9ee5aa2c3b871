"""What the pueue backend sends, checked against the recorded protocol of pueue 3.1.2 and 4.0.4.

These tests do not run the real pueue (it cannot be installed here): a strict stand-in
(tests/pueue_replay.py) is the `pueue` on PATH. It answers only the calls recorded from the
real binaries, with their recorded output and exit code, and fails loudly (exit 99, and the
test fails) on any other call, so the backend's subcommands, flags and their order of
calls are checked, not only its parsers. The contract suite runs the same backend against
a real daemon wherever pueue is installed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from pueue_replay import FIXTURES, SCRIPT_ENV, Replay, install, recorded_reply

from harness.errors import HarnessError, QueueError, UnknownTask
from harness.queue.base import TOKEN_ENV, TaskSpec, split_label
from harness.queue.ops import follow
from harness.queue.pueue import PueueBackend

VERSIONS = ("v3.1.2", "v4.0.4")
LABEL = "Q: does warmup help? H: expect -0.02 val_bpb"
RECORDED_ADD = ("s3_add_labeled_print_id", "s6_add_escaped")  # label etc., and --escape


def role_id(version: str, role: str) -> str:
    return str(json.loads((FIXTURES / version / "_task_ids.json").read_text())[role])


def backend_for(version: str, **kwargs) -> PueueBackend:
    """The backend as the recording's client was called: 3.x with -c, 4.x by environment."""
    config = "/SANDBOX/pueue.yml" if version == "v3.1.2" else None
    return PueueBackend(config=config, group="gpu", **kwargs)


@pytest.fixture
def replay(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch) -> Replay:
    version = request.param
    work = tmp_path / "work"
    work.mkdir()
    stand_in, path = install(tmp_path / "replay", version=version, work=work)
    monkeypatch.setenv("PATH", path)
    monkeypatch.setenv(SCRIPT_ENV, str(stand_in.script))
    return stand_in


by_version = pytest.mark.parametrize("replay", VERSIONS, indirect=True)


def labelled_spec(replay: Replay) -> TaskSpec:
    return TaskSpec(
        argv=("sh", "-c", "echo line1; echo line2 >&2; exit 0"),
        cwd=replay.work,
        label=LABEL,
        group="gpu",
        env={"HARNESS_QUESTION": "does warmup help?"},
    )


@by_version
def test_submit_creates_the_group_and_adds_as_recorded(replay: Replay) -> None:
    replay.expect("s1_status_json_empty", "s2_group_add_gpu", "s5_status_json", RECORDED_ADD)
    assert backend_for(replay.version).submit(labelled_spec(replay)) == "0"
    replay.assert_done()
    add = replay.calls()[-1]["argv"]
    label = add[add.index("--label") + 1]
    assert split_label(label)[0] == LABEL and split_label(label)[1]  # the token rides along


@by_version
def test_submit_sets_the_groups_parallel_as_recorded(replay: Replay) -> None:
    replay.expect("s5_status_json", "s2_parallel_1_gpu", RECORDED_ADD)
    backend = backend_for(replay.version, parallel=2)
    assert backend.submit(labelled_spec(replay)) == "0"
    replay.assert_done()
    assert replay.calls()[1]["argv"][-4:] == ["parallel", "2", "-g", "gpu"]


@by_version
def test_states_come_from_one_status_call(replay: Replay) -> None:
    replay.expect("s5_status_json")
    (labelled,) = backend_for(replay.version).states()  # the group gpu only
    assert (labelled.label, labelled.state, labelled.group) == (LABEL, "succeeded", "gpu")
    replay.assert_done()


@by_version
def test_kill_of_a_running_task_sends_kill_with_its_id(replay: Replay) -> None:
    blocker = role_id(replay.version, "blocker")
    replay.expect("s5_status_json", "s4_kill_long")
    backend_for(replay.version).cancel(blocker)
    replay.assert_done()
    assert replay.calls()[-1]["argv"][-2:] == ["kill", blocker]


@by_version
def test_kill_of_an_ended_or_unknown_task_sends_nothing_more(replay: Replay) -> None:
    backend = backend_for(replay.version)
    replay.expect("s5_status_json")
    with pytest.raises(QueueError, match=r"has already ended \(failed\)"):
        backend.cancel(role_id(replay.version, "fail"))
    replay.assert_done()
    replay.expect("s5_status_json")
    with pytest.raises(UnknownTask, match="pueue has no task 999"):
        backend.cancel("999")
    replay.assert_done()


@by_version
def test_log_asks_for_the_full_log(replay: Replay) -> None:
    lines40 = role_id(replay.version, "lines40")
    backend = backend_for(replay.version)
    replay.expect("s5_log_json_full_40_lines")
    assert backend.log(lines40).splitlines() == [f"line {i}" for i in range(1, 41)]
    replay.expect("s5_log_json_full_40_lines")
    assert backend.log(f"pueue:{lines40}", tail=2).splitlines() == ["line 39", "line 40"]
    replay.assert_done()


@by_version
def test_follow_reads_states_and_the_full_log(replay: Replay) -> None:
    lines40 = role_id(replay.version, "lines40")
    replay.expect("s5_status_json", "s5_log_json_full_40_lines")
    written: list[str] = []
    final = follow(backend_for(replay.version), lines40, write=written.append, poll=0)
    assert (final.state, final.exit_code) == ("succeeded", 0)
    assert "".join(written) == "".join(f"line {i}\n" for i in range(1, 41))
    replay.assert_done()


@by_version
def test_no_daemon_makes_the_backend_unavailable_with_the_fix(replay: Replay) -> None:
    replay.expect("s5_status_json_no_daemon")
    available, reason = backend_for(replay.version).is_available()
    assert not available and "start it with `pueued -d`" in reason
    replay.assert_done()


class Deviating(PueueBackend):
    """A backend with one seeded bug in what it sends: `change` rewrites its arguments."""

    change: Callable[[list[str]], list[str]] = staticmethod(lambda args: args)

    def _run(self, *args: str, env: dict[str, str] | None = None) -> str:
        return super()._run(*type(self).change(list(args)), env=env)


class WithoutTaskEnvironment(PueueBackend):
    """A seeded bug: `add` is called without the task's environment (its label variables)."""

    def _run(self, *args: str, env: dict[str, str] | None = None) -> str:
        return super()._run(*args, env=None if "add" in args else env)


def _replace(old: str, new: str) -> Callable[[list[str]], list[str]]:
    return lambda args: [new if arg == old else arg for arg in args]


def _drop(flag: str) -> Callable[[list[str]], list[str]]:
    return lambda args: [arg for arg in args if arg != flag]


SEEDED = {
    "kill is stash": (_replace("kill", "stash"), ("s5_status_json", "s4_kill_long")),
    "log lost --full": (_drop("--full"), ("s5_log_json_full_40_lines",)),
    "add lost --escape": (_drop("--escape"), ("s5_status_json", RECORDED_ADD)),
    "add lost --print-task-id": (_drop("--print-task-id"), ("s5_status_json", RECORDED_ADD)),
    "parallel by --group": (_replace("-g", "--group"), ("s5_status_json", "s2_parallel_1_gpu")),
}


def _exercise(backend: PueueBackend, name: str, replay: Replay) -> None:
    if name.startswith("kill"):
        backend.cancel(role_id(replay.version, "blocker"))
    elif name.startswith("log"):
        backend.log(role_id(replay.version, "lines40"))
    else:
        backend.submit(labelled_spec(replay))


@pytest.mark.parametrize("replay", ["v4.0.4"], indirect=True)
@pytest.mark.parametrize("bug", sorted(SEEDED))
def test_the_stand_in_refuses_what_was_not_recorded(replay: Replay, bug: str) -> None:
    change, steps = SEEDED[bug]
    replay.expect(*steps)
    backend = type("Seeded", (Deviating,), {"change": staticmethod(change)})(
        group="gpu", parallel=2 if bug.startswith("parallel") else 1
    )
    with pytest.raises(HarnessError, match="pueue stand-in: unrecorded call"):
        _exercise(backend, bug, replay)
    with pytest.raises(AssertionError, match="calls outside the recorded protocol"):
        replay.assert_done()


@pytest.mark.parametrize("replay", ["v4.0.4"], indirect=True)
def test_the_stand_in_refuses_an_add_without_the_recorded_environment(replay: Replay) -> None:
    replay.expect("s5_status_json", RECORDED_ADD)
    with pytest.raises(HarnessError, match=r"also had \['HARNESS_QUESTION'\] set"):
        WithoutTaskEnvironment(group="gpu").submit(labelled_spec(replay))


def test_the_token_is_the_tasks_own_not_a_parents(tmp_path: Path, monkeypatch) -> None:
    """A task queued from inside a task gets a token of its own (recorded add, v4)."""
    work = tmp_path / "work"
    work.mkdir()
    stand_in, path = install(tmp_path / "replay", version="v4.0.4", work=work)
    monkeypatch.setenv("PATH", path)
    monkeypatch.setenv(SCRIPT_ENV, str(stand_in.script))
    monkeypatch.setenv(TOKEN_ENV, "0123456789abcdef")
    stand_in.expect("s5_status_json", RECORDED_ADD)
    backend_for("v4.0.4").submit(labelled_spec(stand_in))
    stand_in.assert_done()
    add = stand_in.calls()[-1]
    token = split_label(add["argv"][add["argv"].index("--label") + 1])[1]
    assert token and token != "0123456789abcdef"
    assert add["token_env"] == token  # the same token in the task's environment


@by_version
def test_the_wrapper_finds_its_pueue_id_by_its_token(replay: Replay) -> None:
    """The status reply is the recorded one, with the token the labelled task would carry."""
    token = "0123456789abcdef"
    status = json.loads(str(recorded_reply(replay.version, "s5_status_json")["stdout"]))
    labelled = role_id(replay.version, "labeled")
    status["tasks"][labelled]["envs"][TOKEN_ENV] = token
    replay.expect("s5_status_json", replies={0: json.dumps(status)})
    options = ["--pueue-config", "/SANDBOX/pueue.yml"] if replay.version == "v3.1.2" else []
    code = "import os; print(os.environ['HARNESS_QUEUE_TASK'])"
    done = subprocess.run(
        [sys.executable, "-m", "harness.queue.wrap", *options, "--", sys.executable, "-c", code],
        env={**os.environ, TOKEN_ENV: token},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stdout) == (0, f"pueue:{labelled}\n"), done.stderr
    replay.assert_done()
