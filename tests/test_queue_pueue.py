"""The pueue backend against the recorded protocol of the real pueue 3.1.2 and 4.0.4.

The pueue binary cannot be installed here, so these tests feed what the real client
printed (tests/fixtures/pueue/, see its README) to the backend's pure functions: every
recorded status, log and error of both versions. What the backend sends is checked
against the same recordings by a strict stand-in in test_queue_pueue_protocol.py. The
same backend also runs the contract suite against a real private daemon wherever `pueue`
is on PATH.
The wrapper that runs inside a pueue task is tested for real, as a process.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.errors import QueueError, QueueUnavailable, UnknownTask
from harness.queue.base import TaskSpec
from harness.queue.pueue import (
    PueueBackend,
    find_task_id,
    parse_groups,
    parse_log,
    parse_status,
    parse_task_id,
    pueue_error,
    unwrap_command,
)
from tests.queue_helpers import is_alive, wait_until

FIXTURES = Path(__file__).parent / "fixtures" / "pueue"
VERSIONS = ("v3.1.2", "v4.0.4")


@dataclass(frozen=True)
class Recording:
    version: str
    scenario: str
    argv: list[str]
    stdout: str
    stderr: str
    rc: int


def recording(version: str, scenario: str) -> Recording:
    base = FIXTURES / version / scenario
    return Recording(
        version,
        scenario,
        base.with_suffix(".cmd").read_text().splitlines(),
        base.with_suffix(".stdout").read_text(),
        base.with_suffix(".stderr").read_text(),
        int(base.with_suffix(".rc").read_text()),
    )


def recordings(predicate) -> list[Recording]:
    """The recordings of scenarios s1 to s6 and x (s7, reused ids, has tests of its own)."""
    found = [
        recording(version, path.stem)
        for version in VERSIONS
        for path in sorted((FIXTURES / version).glob("*.cmd"))
        if not path.stem.startswith("s7_")
    ]
    return [r for r in found if predicate(r)]


def roles(version: str) -> dict[str, str]:
    """Task id -> role (labeled, fail, ...), as the recording's _task_ids.json says."""
    ids = json.loads((FIXTURES / version / "_task_ids.json").read_text())
    return {str(task_id): role for role, task_id in ids.items()}


def ident(r: Recording) -> str:
    return f"{r.version}/{r.scenario}"


STATUS = recordings(lambda r: {"status", "--json"} <= set(r.argv) and r.rc == 0)
LOGS = recordings(lambda r: "log" in r.argv and r.rc == 0)
FAILURES = recordings(lambda r: r.rc != 0)

# role -> (state, exit code, detail): what each recorded task must become, in both versions.
EXPECTED = {
    "labeled": ("succeeded", 0, ""),
    "fail": ("failed", 3, ""),
    "notfound": ("failed", 127, ""),
    "missing_wd": ("failed", None, "failed to spawn: Failed to spawn child 3"),
    "after": ("failed", None, "DependencyFailed"),
    "stashed": ("queued", None, "Stashed"),
    "lines40": ("succeeded", 0, ""),
    "long": ("killed", 137, "killed through pueue"),  # pueue's kill is a SIGKILL
    "blocker": ("running", None, ""),
    "queued": ("queued", None, ""),
    "q_raw": ("succeeded", 0, ""),
    "q_esc": ("succeeded", 0, ""),
}


def test_every_kind_of_recording_is_covered() -> None:
    assert len(STATUS) == 8 and len(LOGS) == 8 and len(FAILURES) == 14


@pytest.mark.parametrize("rec", STATUS, ids=ident)
def test_every_recorded_status_parses_to_the_right_states(rec: Recording) -> None:
    states = parse_status(rec.stdout)
    tasks = json.loads(rec.stdout)["tasks"]
    assert [s.task_id for s in states] == sorted(tasks, key=int)
    role_of = roles(rec.version)
    for state in states:
        role = role_of[state.task_id]
        expected_state, expected_code, expected_detail = EXPECTED[role]
        assert (state.state, state.exit_code) == (expected_state, expected_code), role
        assert state.detail.startswith(expected_detail), role
        assert state.backend == "pueue" and state.queue_task == f"pueue:{state.task_id}"
        times = [t for t in (state.enqueued_at, state.started_at, state.ended_at) if t]
        assert times == sorted(times), role  # both shapes give UTC times ending in Z
        assert all(t.endswith("Z") and "+" not in t for t in times)
        assert bool(state.started_at) == (state.state not in ("queued",)), role


@pytest.mark.parametrize("version", VERSIONS)
def test_the_labelled_task_keeps_label_group_directory_and_harness_env(version: str) -> None:
    states = parse_status(recording(version, "s5_status_json").stdout)
    (labeled,) = [s for s in states if s.label]
    assert labeled.label == "Q: does warmup help? H: expect -0.02 val_bpb"
    assert (labeled.group, labeled.cwd) == ("gpu", "/WORK")
    assert labeled.env == {"HARNESS_QUESTION": "does warmup help?"}  # no PUEUE_* kept
    assert labeled.command == "echo line1; echo line2 >&2; exit 0"


@pytest.mark.parametrize("version", VERSIONS)
def test_the_group_is_filtered_here_because_3x_ignores_it(version: str) -> None:
    rec = recording(version, "s5_status_json_group_gpu")
    returned = len(json.loads(rec.stdout)["tasks"])
    assert returned == (12 if version == "v3.1.2" else 1)  # what pueue itself did
    assert [s.label for s in parse_status(rec.stdout, group="gpu")] == [
        "Q: does warmup help? H: expect -0.02 val_bpb"
    ]
    assert parse_status(rec.stdout, group="no-such-group") == []


@pytest.mark.parametrize("version", VERSIONS)
def test_groups_come_from_status_in_both_versions(version: str) -> None:
    assert parse_groups(recording(version, "s1_status_json_empty").stdout) == {"default": 1}
    groups = parse_groups(recording(version, "s6_status_json").stdout)
    assert groups == {"default": 1, "gpu": 1, "held": 1}


@pytest.mark.parametrize("rec", LOGS, ids=ident)
def test_every_recorded_log_parses(rec: Recording) -> None:
    logs = parse_log(rec.stdout)
    assert set(logs) == set(json.loads(rec.stdout))
    assert not any(text.startswith("(Pueue error)") for text in logs.values())


@pytest.mark.parametrize("version", VERSIONS)
def test_logs_hold_merged_output_and_no_log_file_is_empty(version: str) -> None:
    by_role = {role: task_id for task_id, role in roles(version).items()}
    logs = parse_log(recording(version, "s5_log_json_ids").stdout)
    assert logs[by_role["labeled"]] == "line1\nline2"
    assert logs[by_role["notfound"]] == "sh: 1: definitely-not-a-command-xyz: not found"
    assert logs[by_role["stashed"]] == logs[by_role["queued"]] == ""
    assert logs[by_role["lines40"]].splitlines()[0] == "line 26"  # without --full: 15 lines
    full = parse_log(recording(version, "s5_log_json_full_40_lines").stdout)
    assert full[by_role["lines40"]] == "".join(f"line {i}\n" for i in range(1, 41))
    assert parse_log(recording(version, "s5_log_json_unknown_999").stdout) == {}


@pytest.mark.parametrize("version", VERSIONS)
def test_escape_keeps_arguments_literal_and_its_absence_does_not(version: str) -> None:
    by_role = {role: task_id for task_id, role in roles(version).items()}
    logs = parse_log(recording(version, "s6_log_json").stdout)
    assert logs[by_role["q_esc"]] == "two  words \"double\" 'single' $HOME a;echo injected"
    assert logs[by_role["q_raw"]] == "two words double single /SANDBOX/home a\ninjected"
    assert "--escape" in recording(version, "s6_add_escaped").argv
    assert "--escape" in PueueBackend().add_args(TaskSpec(argv=("true",), cwd="/"))


# scenario -> (error class, words the one-line message must hold)
ERRORS = {
    "s2_group_json": (QueueError, "Found argument '--json' which wasn't expected"),
    "s4_add_missing_workdir": (
        QueueError,
        "Failed to canonicalize given working directory path: No such file or directory",
    ),
    "s5_add_nonexistent_group": (QueueError, "pueue has no group no-such-group"),
    "s5_kill_unknown_999": (UnknownTask, "pueue has no task 999"),
    "s5_status_json_no_daemon": (QueueUnavailable, "start it with `pueued -d`"),
    "s5_status_json_no_daemon_NO_COLOR": (QueueUnavailable, "start it with `pueued -d`"),
    "s5_status_json_no_daemon_color_never": (QueueUnavailable, "start it with `pueued -d`"),
    "x_status_json_stale_socket": (QueueUnavailable, "a stale socket of a dead daemon"),
}


@pytest.mark.parametrize("rec", FAILURES, ids=ident)
def test_every_recorded_error_becomes_one_clear_line(rec: Recording) -> None:
    error = pueue_error(rec.argv, rec.rc, rec.stdout, rec.stderr)
    kind, words = ERRORS[rec.scenario]
    assert type(error) is kind
    message = str(error)
    assert words in message
    assert "\n" not in message and "\x1b" not in message
    if kind is QueueUnavailable:
        assert message.startswith("pueued is not running (nothing answers at /SANDBOX/run")


@pytest.mark.parametrize("version", VERSIONS)
def test_3x_prints_errors_on_stdout_and_4x_on_stderr(version: str) -> None:
    rec = recording(version, "s5_kill_unknown_999")
    where = rec.stdout if version == "v3.1.2" else rec.stderr
    assert "The command failed for tasks: 999" in where
    assert isinstance(pueue_error(rec.argv, rec.rc, rec.stdout, rec.stderr), UnknownTask)


ADDS = recordings(lambda r: "--print-task-id" in r.argv and r.rc == 0)


@pytest.mark.parametrize("rec", ADDS, ids=ident)
def test_every_recorded_print_task_id_is_read(rec: Recording) -> None:
    assert parse_task_id(rec.stdout).isdigit()


def test_an_add_without_print_task_id_is_not_mistaken_for_an_id() -> None:
    with pytest.raises(QueueError, match="where a task id was expected"):
        parse_task_id(recording("v4.0.4", "s4_add_fail_exit3").stdout)


@pytest.mark.parametrize("version", VERSIONS)
def test_wait_exits_0_for_a_failed_task_so_the_state_decides(version: str) -> None:
    waited = recording(version, "s5_wait_finished_failed_exit3")
    assert waited.rc == 0 and waited.stdout == waited.stderr == ""
    failed = roles(version)
    (state,) = [
        s
        for s in parse_status(recording(version, "s5_status_json").stdout)
        if failed[s.task_id] == "fail"
    ]
    assert (state.state, state.exit_code) == ("failed", 3)


@pytest.mark.parametrize("version", VERSIONS)
def test_a_task_finds_its_own_id_through_its_environment(version: str) -> None:
    text = recording(version, "s5_status_json").stdout
    labeled = [t for t, role in roles(version).items() if role == "labeled"]
    assert [find_task_id(text, "HARNESS_QUESTION", "does warmup help?")] == labeled
    assert find_task_id(text, "HARNESS_QUESTION", "another question") is None


def test_the_config_goes_on_every_call_as_3x_needs() -> None:
    rec = recording("v3.1.2", "s1_status_json_empty")
    assert PueueBackend(config="/SANDBOX/pueue.yml").base_argv() == rec.argv[:3]
    assert PueueBackend(profile="gpu-box").base_argv() == ["pueue", "-p", "gpu-box"]


def test_add_runs_the_argv_behind_the_wrapper_with_label_group_and_directory() -> None:
    backend = PueueBackend(config="/c.yml", pin_gpus=True)
    spec = TaskSpec(argv=("just", "eval"), cwd="/w", label="Q: x H: y", group="g", timeout=60)
    args = backend.add_args(spec)
    split = args.index("--")
    assert args[:split] == [
        "add", "--print-task-id", "--escape", "--group", "g",
        "--working-directory", "/w", "--label", "Q: x H: y",
    ]  # fmt: skip
    wrapped = args[split + 1 :]
    assert wrapped[:3] == [sys.executable, "-m", "harness.queue.wrap"]
    assert wrapped[-3:] == ["--", "just", "eval"]
    assert {"--timeout", "60", "--pin-gpu", "--pueue-config", "/c.yml"} <= set(wrapped)


def test_the_status_shows_the_users_command_not_the_wrapper() -> None:
    import shlex

    backend = PueueBackend()
    spec = TaskSpec(argv=("echo", "two  words", "it's"), cwd="/", timeout=5)
    stored = " ".join(shlex.quote(arg) for arg in backend.wrapped(spec))  # as --escape stores
    assert unwrap_command(stored) == ("echo 'two  words' 'it'\"'\"'s'", True)
    recorded = recording("v4.0.4", "s6_status_json").stdout
    escaped = json.loads(recorded)["tasks"]["10"]["command"]
    assert unwrap_command(escaped) == (escaped, False)


def test_a_missing_pueue_is_unavailable_with_the_fix() -> None:
    backend = PueueBackend(executable="no-such-pueue-binary")
    assert backend.is_available() == (False, "no-such-pueue-binary is not installed")
    with pytest.raises(QueueUnavailable, match='install pueue, or set queue = "local"'):
        backend.states()


# The wrapper, for real.


def wrap(*args: str, env: dict[str, str] | None = None, timeout: float = 60):
    return subprocess.run(
        [sys.executable, "-m", "harness.queue.wrap", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        start_new_session=True,  # its own process group, as under pueue
        timeout=timeout,
    )


def test_the_wrapper_passes_the_exit_code_through() -> None:
    assert wrap("--", "sh", "-c", "exit 5").returncode == 5
    missing = wrap("--", "definitely-not-a-command-xyz")
    assert missing.returncode == 127
    assert "cannot run definitely-not-a-command-xyz" in missing.stderr


def test_the_wrapper_pins_the_gpu_from_the_pueue_worker_id() -> None:
    code = "import os; print(os.environ.get('CUDA_VISIBLE_DEVICES', '-'))"
    env = {"PUEUE_WORKER_ID": "1"}
    assert wrap("--pin-gpu", "--", sys.executable, "-c", code, env=env).stdout == "1\n"
    assert wrap("--", sys.executable, "-c", code, env=env).stdout == "-\n"


def test_the_wrapper_tells_the_task_when_its_timeout_comes() -> None:
    import time

    code = "import os; print(os.environ.get('HARNESS_QUEUE_DEADLINE', '-'))"
    before = time.time()
    done = wrap("--timeout", "30", "--", sys.executable, "-c", code)
    assert before + 30 <= float(done.stdout) <= time.time() + 30
    assert wrap("--", sys.executable, "-c", code).stdout == "-\n"


@pytest.mark.parametrize("ignores_term", [False, True])
def test_the_wrapper_timeout_ends_the_task_and_exits_124(tmp_path: Path, ignores_term) -> None:
    code = (
        "import os, signal, sys, time\n"
        f"if {ignores_term}: signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "open(sys.argv[1], 'w').write(str(os.getpid()))\n"
        "time.sleep(60)"
    )
    pid_file = tmp_path / "pid"
    done = wrap("--timeout", "0.5", "--", sys.executable, "-c", code, str(pid_file))
    assert done.returncode == 124
    assert "timed out after 0.5 s" in done.stderr
    wait_until(lambda: not is_alive(int(pid_file.read_text())), timeout=10)


@pytest.mark.skipif(
    shutil.which("pueue", path="/usr/bin:/bin") is not None, reason="needs a PATH without pueue"
)
def test_the_wrapper_says_when_it_cannot_find_its_task_id_and_runs_anyway() -> None:
    code = "import os; print(os.environ.get('HARNESS_QUEUE_TASK', '-'))"
    env = {"HARNESS_TASK_TOKEN": "abc", "PATH": "/usr/bin:/bin"}
    done = wrap("--", sys.executable, "-c", code, env=env)
    assert (done.returncode, done.stdout) == (0, "-\n")
    assert "cannot tell this task's pueue id (pueue is not installed" in done.stderr


@pytest.mark.parametrize(
    ("version", "started"),
    [("v3.1.2", "2026-11-23T06:19:44.674Z"), ("v4.0.4", "2026-11-23T06:19:37.383Z")],
)
def test_times_of_both_shapes_read_alike(version: str, started: str) -> None:
    states = parse_status(recording(version, "s5_status_json").stdout)
    (labeled,) = [s for s in states if s.label]
    assert labeled.started_at == started  # +00:00 (3.x) and Z (4.x), nanoseconds cut


def test_a_time_with_another_offset_is_turned_to_utc() -> None:
    from harness.queue.times import normalise_time

    assert normalise_time("2026-11-23T08:19:37.5+02:00") == "2026-11-23T06:19:37.500Z"
    assert normalise_time(None) is None
