"""The Slurm backend: its parsers on output recorded from a real Slurm 22.05, and the
backend itself against a running cluster (`scripts/slurm-cluster.sh start`).

The cluster tests skip, with the reason, when no cluster answers `sinfo`; with
HARNESS_REQUIRE_SLURM=1 (set by CI) they fail instead. The fixtures were recorded by
`tests/fixtures/slurm/capture.py` (its docstring says how); the states no single-node
cluster can produce (OUT_OF_MEMORY without cgroups, PREEMPTED, BOOT_FAIL, DEADLINE) are
checked through the state table only.
"""

from __future__ import annotations

import csv
import inspect
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.config import SlurmSettings, parse_config
from harness.errors import QueueError, QueueUnavailable, UnknownTask, UsageError
from harness.layout import find_layout
from harness.queue.base import Backend, TaskSpec, TaskState, split_label
from harness.queue.choice import choose_backend, open_backend
from harness.queue.slurm import SlurmBackend, job_name, node_local_locks, sbatch_argv
from harness.queue.slurm_parse import (
    SLURM_STATES,
    harness_state,
    parse_sacct,
    parse_squeue,
)
from tests.conftest import commit_files, git
from tests.slurm_helpers import cluster_problem, require_slurm

FIXTURES = Path(__file__).parent / "fixtures" / "slurm"
RECORDED_COMMENT = 'Q: does "x" help? H: expect −0.05 val_bpb, ünïcode $HOME `x` | ok'


def recorded(moment: str, *, sacct: bool = False) -> dict[str, TaskState]:
    """The states parsed from a recorded output (`live` or `final`), by scenario name."""
    scenarios = json.loads((FIXTURES / "scenarios.json").read_text())[moment]
    name = "sacct.txt" if sacct else f"squeue-{moment}.txt"
    text = (FIXTURES / name).read_text(encoding="utf-8")
    by_id = {s.task_id: s for s in (parse_sacct(text) if sacct else parse_squeue(text))}
    assert set(scenarios.values()) <= set(by_id), "a recorded job is missing from the output"
    return {scenario: by_id[job] for scenario, job in scenarios.items()}


# -- parsers, on recorded output ------------------------------------------------------


def test_final_states_and_exit_codes_of_recorded_jobs() -> None:
    final = recorded("final")
    outcome = {name: (s.state, s.exit_code) for name, s in final.items()}
    assert outcome == {
        "completed": ("succeeded", 0),
        "failed_exit_3": ("failed", 3),
        "failed_sigkill": ("failed", 137),
        "cancelled_pending": ("killed", None),
        "cancelled_held": ("killed", None),
        "cancelled_requeued": ("killed", None),
        "cancelled_running": ("killed", 143),
        "cancelled_running_2": ("killed", 143),
        "cancelled_suspended": ("killed", 137),
        "node_fail": ("lost", None),
        "timeout": ("timed_out", 143),
    }
    assert all(s.is_final and s.ended_at for s in final.values())
    assert final["node_fail"].detail == "NODE_FAIL (NodeDown)"
    assert final["timeout"].detail == "TIMEOUT (TimeLimit)"


def test_a_job_cancelled_before_it_started_has_no_start_time() -> None:
    final = recorded("final")
    assert final["cancelled_pending"].started_at is None
    assert final["cancelled_running"].started_at == "2026-11-23T09:33:28.000Z"


def test_live_states_of_recorded_jobs() -> None:
    live = recorded("live")
    assert live["pending_held"].state == "queued"
    assert live["pending_held"].detail == "PENDING (JobHeldUser)"
    assert live["requeued"].state == "queued"  # its StartTime is a forecast, not a start
    assert live["requeued"].started_at is None
    assert live["running"].state == "running"
    assert live["running"].ended_at is None and live["running"].exit_code is None
    assert (live["suspended"].state, live["suspended"].detail) == ("running", "SUSPENDED")
    assert not any(s.is_final for n, s in live.items() if not n.startswith(("completed", "failed")))


def test_recorded_comment_and_name_survive_exactly() -> None:
    completed = recorded("live")["completed"]
    assert completed.label == RECORDED_COMMENT
    assert completed.command == "name with spaces"
    assert completed.enqueued_at == "2026-11-23T09:33:27.000Z"
    assert recorded("live")["failed_exit_3"].label == ""  # Slurm's "(null)"


def test_sacct_output_is_read() -> None:
    final = recorded("final", sacct=True)
    outcome = {name: (s.state, s.exit_code) for name, s in final.items()}
    assert outcome["completed"] == ("succeeded", 0)
    assert outcome["failed_exit_3"] == ("failed", 3)
    assert outcome["failed_sigkill"] == ("failed", 137)
    assert outcome["cancelled_running"] == ("killed", None)  # -X: the allocation's 0:0
    assert outcome["cancelled_pending"] == ("killed", None)
    assert outcome["timeout"] == ("timed_out", None)
    assert outcome["node_fail"] == ("lost", None)
    assert final["cancelled_held"].detail == "CANCELLED by 0"
    assert final["cancelled_pending"].started_at is None
    assert final["cancelled_running"].started_at == "2026-11-23T09:33:28.000Z"
    assert final["completed"].command == "name with spaces"


SQUEUE_MAN = Path("/usr/share/man/man1/squeue.1.gz")
# What squeue(1) says of a state -> the harness state it must become (first match wins).
MEANINGS = (
    ("exit code of zero", "succeeded"),
    ("time limit", "timed_out"),
    ("on deadline", "timed_out"),
    ("cancelled", "killed"),
    ("preemption", "killed"),
    ("sibling was removed", "killed"),
    ("out of memory", "failed"),
    ("non-zero exit code", "failed"),
    ("failure", "lost"),  # of a node, or of the launch: the command's outcome is unknown
    ("awaiting resource", "queued"),
    ("requeue", "queued"),
    ("waiting for them to become ready", "queued"),
    ("held", "queued"),
)


def documented_states() -> dict[str, str]:
    """State name -> its description, from the installed squeue(1) "JOB STATE CODES"."""
    if not SQUEUE_MAN.exists():
        require_slurm()  # fails under HARNESS_REQUIRE_SLURM=1, skips otherwise
        pytest.skip(f"{SQUEUE_MAN} is not installed (apt-get install slurm-client)")
    import gzip
    import re

    text = gzip.decompress(SQUEUE_MAN.read_bytes()).decode()
    section = text.split('.SH "JOB STATE CODES"', 1)[1].split(".SH", 1)[0]
    entries = re.findall(r"\\fB\w+\s+(\w+)\\fR\n(.*?)(?=\n\.TP|\Z)", section, re.S)
    return {name: " ".join(body.split()).lower().replace("\\-", "-") for name, body in entries}


def test_every_slurm_state_maps_as_its_documentation_says() -> None:
    """Against Slurm's own words, not a copy of the table: a state documented as ended
    becomes the matching final state; every other one stays queued or running."""
    documented = documented_states()
    assert sorted(SLURM_STATES) == sorted(documented)
    for name, description in documented.items():
        meaning = next((state for words, state in MEANINGS if words in description), "running")
        assert SLURM_STATES[name] == meaning, (name, description)


@pytest.mark.parametrize(
    ("slurm", "code", "expected"),
    [
        ("CANCELLED by 1000", 143, ("killed", 143)),
        ("COMPLETED", 2, ("failed", 2)),
        ("TIMEOUT", 0, ("timed_out", None)),  # Slurm's 0:0 says nothing of the command
        ("NODE_FAIL", 137, ("lost", None)),
        ("RUNNING", 5, ("running", None)),
        ("SOME_FUTURE_STATE", 0, ("running", None)),  # never a final state by accident
    ],
)
def test_states_no_single_node_cluster_shows(
    slurm: str, code: int, expected: tuple[str, int | None]
) -> None:
    assert harness_state(slurm, code) == expected


def test_an_unreadable_squeue_line_is_an_error_naming_it() -> None:
    with pytest.raises(QueueError, match="squeue printed a line the harness cannot read"):
        parse_squeue("12 RUNNING\n")


# -- submission arguments (no cluster needed) ------------------------------------------


def test_sbatch_options_come_from_the_settings(tmp_path: Path) -> None:
    spec = TaskSpec(argv=("just", "eval"), cwd=str(tmp_path), label="Q: a H: b", timeout=90)
    settings = SlurmSettings(
        partition="gpu",
        gres="gpu:1",
        cpus=4,
        memory="16G",
        account="lab",
        extra_args=("--qos=short", "--no-requeue"),
    )
    argv = sbatch_argv(spec, settings=settings, log=tmp_path / "%j.log")
    assert argv[:2] == ["sbatch", "--parsable"]
    for option in (
        f"--chdir={tmp_path}",
        "--comment=Q: a H: b",
        "--export=ALL",
        "--partition=gpu",
        "--gres=gpu:1",
        "--cpus-per-task=4",
        "--mem=16G",
        "--account=lab",
        "--time=3",  # 90 s in Slurm's whole minutes, plus one: the harness's timeout ends it
    ):
        assert option in argv
    assert argv[-2:] == ["--qos=short", "--no-requeue"]
    assert "--time=4:00:00" in sbatch_argv(
        spec, settings=SlurmSettings(time_limit="4:00:00"), log=tmp_path / "x"
    )


def test_job_name_names_the_worktree_and_seed(tmp_path: Path) -> None:
    spec = TaskSpec(argv=("x",), cwd=str(tmp_path / "wider mlp"), env={"HARNESS_SEED": "1"})
    assert job_name(spec) == "harness-wider_mlp-seed1"


@pytest.mark.parametrize(
    ("label", "message"),
    [
        ("Q: one\nH: two", "must be one line"),
        ("Q: " + "x" * 1030, "Slurm keeps at most 1024"),
    ],
)
def test_a_label_slurm_would_mangle_is_refused(tmp_path: Path, label: str, message: str) -> None:
    backend = SlurmBackend(tmp_path / "slurm")
    with pytest.raises(UsageError, match=message):
        backend.submit(TaskSpec(argv=("true",), cwd=str(tmp_path), label=label))
    assert not (tmp_path / "slurm" / "tasks").exists()


def test_a_missing_working_directory_is_refused_not_replaced_by_tmp(tmp_path: Path) -> None:
    backend = SlurmBackend(tmp_path / "slurm")
    missing = tmp_path / "5_worktrees" / "gone"
    with pytest.raises(UsageError, match=f"working directory {missing} does not exist"):
        backend.submit(TaskSpec(argv=("true",), cwd=str(missing)))
    assert not (tmp_path / "slurm" / "tasks").exists()


def test_without_slurm_commands_the_backend_says_how_to_get_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no sinfo, sbatch or squeue here
    backend = SlurmBackend(tmp_path / "slurm")
    available, reason = backend.is_available()
    assert not available
    assert reason.startswith("sinfo not found: install Slurm's client commands")
    with pytest.raises(QueueUnavailable, match="sbatch not found"):
        backend.submit(TaskSpec(argv=("true",), cwd=str(tmp_path)))


def test_an_unknown_task_has_no_log(tmp_path: Path) -> None:
    with pytest.raises(UnknownTask, match="no task 12"):
        SlurmBackend(tmp_path / "slurm").log("12")


def test_the_backend_answers_every_call_of_the_protocol(tmp_path: Path) -> None:
    """The calls the queue commands make, made for real (the cluster part needs no jobs):
    the same signatures as the Protocol, and for tasks it never queued, the answers that
    `harness queue` relies on. The contract suite runs the rest against a cluster."""
    for method in ("is_available", "submit", "states", "cancel", "log"):
        assert inspect.signature(getattr(SlurmBackend, method)) == inspect.signature(
            getattr(Backend, method)
        ), method
    backend = SlurmBackend(tmp_path / "slurm")
    assert backend.name == "slurm"
    available, reason = backend.is_available()
    assert available is (cluster_problem() is None) and reason
    assert backend.states([]) == [] and backend.states(["12"]) == [] and backend.states() == []
    with pytest.raises(UnknownTask, match="no task 12"):
        backend.cancel("12")
    with pytest.raises(UnknownTask, match="no task 12"):
        backend.log("12", tail=5)
    with pytest.raises(UsageError):
        backend.submit(TaskSpec(argv=(), cwd=str(tmp_path)))


def test_the_queue_choice_opens_the_backend_with_the_repository_settings(
    research_repo: Path,
) -> None:
    config = parse_config({"queue": "slurm", "slurm": {"partition": "gpu", "gres": "gpu:1"}})
    layout = find_layout(research_repo)
    choice = choose_backend(config)
    backend = open_backend(choice.name, layout=layout, config=config)
    assert (choice.name, choice.source) == ("slurm", "[tool.harness] queue")
    assert isinstance(backend, SlurmBackend)
    assert backend.state_dir == research_repo / ".git" / "harness" / "slurm"
    assert (backend.settings.partition, backend.settings.gres) == ("gpu", "gpu:1")


MOUNTS = (
    "overlay / overlay rw,relatime 0 0\n"
    "nas:/export/home /home nfs4 rw,vers=4.2,hard,proto=tcp 0 0\n"
    "nas:/export/lab /lab nfs rw,vers=3,nolock,proto=tcp 0 0\n"
    "nas:/export/lab/x /lab/my\\040repo nfs4 rw,local_lock=all 0 0\n"
)


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("/home/me/repo/.git/harness/slurm", None),  # NFS v4 with real locks
        ("/var/tmp/repo", None),  # not NFS: one machine
        ("/lab/repo/.git/harness/slurm", "/lab is mounted with nolock"),
        ("/lab/my repo/.git", "/lab/my repo is mounted with local_lock=all"),
        ("/labs/other", None),  # a prefix of the name is not a parent folder
    ],
)
def test_locks_that_bind_one_machine_only_are_named(path: str, problem: str | None) -> None:
    found = node_local_locks(Path(path), mounts=MOUNTS)
    if problem is None:
        assert found is None
    else:
        assert found is not None and found.startswith(problem)
        assert "remount without it" in found


# -- against a running cluster --------------------------------------------------------


@pytest.fixture
def slurm_cluster() -> None:
    require_slurm()


@pytest.fixture
def slurm(slurm_cluster: None, tmp_path: Path) -> SlurmBackend:
    return SlurmBackend(tmp_path / "git" / "harness" / "slurm")


def wait_final(backend: SlurmBackend, ids: list[str], *, limit: float = 60) -> list[TaskState]:
    deadline = time.monotonic() + limit
    while True:
        states = backend.states(ids)
        if len(states) == len(ids) and all(s.is_final for s in states):
            return states
        if time.monotonic() > deadline:
            raise AssertionError(f"not final after {limit:.0f} s: {states}")
        time.sleep(0.3)


def spec_in(path: Path, *argv: str, **fields: object) -> TaskSpec:
    path.mkdir(parents=True, exist_ok=True)
    return TaskSpec(argv=argv, cwd=str(path), **fields)  # type: ignore[arg-type]


def test_a_failing_job_reports_its_exit_code_and_log(slurm: SlurmBackend, tmp_path: Path) -> None:
    spec = spec_in(tmp_path / "wt", "sh", "-c", "echo out; echo err >&2; exit 3", group="g")
    task = slurm.submit(spec)
    (state,) = wait_final(slurm, [task])
    assert (state.state, state.exit_code, state.detail) == ("failed", 3, "FAILED (NonZeroExitCode)")
    assert (state.group, state.cwd, state.command) == (
        "g",
        spec.cwd,
        spec.argv[0] + " -c " + ("'echo out; echo err >&2; exit 3'"),
    )
    assert slurm.log(task) == "out\nerr\n"
    assert slurm.log(task, tail=1) == "err\n"


def test_a_job_runs_in_its_worktree_with_the_harness_environment(
    slurm: SlurmBackend, tmp_path: Path
) -> None:
    env = {"HARNESS_SEED": "2", "HARNESS_QUESTION": "Q: a, b=c; 'quoted' ü?"}
    script = 'pwd; echo "$HARNESS_SEED|$HARNESS_QUESTION|$HARNESS_QUEUE_TASK"'
    task = slurm.submit(spec_in(tmp_path / "wt one", "sh", "-c", script, env=env))
    (state,) = wait_final(slurm, [task])
    assert (state.state, state.exit_code) == ("succeeded", 0)
    assert slurm.log(task).splitlines() == [
        str(tmp_path / "wt one"),
        f"2|Q: a, b=c; 'quoted' ü?|slurm:{task}",
    ]


def test_a_comment_with_quotes_and_utf8_reaches_slurm_verbatim(
    slurm: SlurmBackend, tmp_path: Path
) -> None:
    label = 'Q: does "wider" help? H: expect −0.05 val_bpb; café $HOME `id` \\ | end'
    task = slurm.submit(spec_in(tmp_path / "wt", "true", label=label))
    squeue = subprocess.run(
        ["squeue", "-h", "-t", "all", "-j", task, "-o", "%k"], capture_output=True, text=True
    )
    comment, token = split_label(squeue.stdout.rstrip("\n"))  # the harness's token at its end
    assert comment == label and token
    (state,) = wait_final(slurm, [task])
    assert (state.label, state.token) == (label, token)


def test_a_timeout_stops_the_task_to_the_second(slurm: SlurmBackend, tmp_path: Path) -> None:
    task = slurm.submit(spec_in(tmp_path / "wt", "sleep", "600", timeout=1))
    (state,) = wait_final(slurm, [task])
    assert (state.state, state.exit_code) == ("timed_out", 124)
    assert state.detail == "stopped by its timeout (1 s)"
    assert "timed out after 1 s" in slurm.log(task)


def test_slurms_own_time_limit_ends_as_timed_out(tmp_path: Path, slurm_cluster: None) -> None:
    limited = SlurmBackend(tmp_path / "slurm", settings=SlurmSettings(time_limit="1"))
    task = limited.submit(spec_in(tmp_path / "wt", "sleep", "600"))
    (state,) = wait_final(limited, [task], limit=200)  # a minute, checked every 30 s or so
    assert (state.state, state.exit_code) == ("timed_out", 143)
    assert state.detail == "TIMEOUT (TimeLimit)"


def test_a_cancelled_pending_job_never_started(tmp_path: Path, slurm_cluster: None) -> None:
    held = SlurmBackend(tmp_path / "slurm", settings=SlurmSettings(extra_args=("--hold",)))
    task = held.submit(spec_in(tmp_path / "wt", "true"))
    assert held.states([task])[0].detail == "PENDING (JobHeldUser)"
    held.cancel(task)
    (state,) = wait_final(held, [task])
    assert (state.state, state.exit_code, state.started_at) == ("killed", None, None)
    assert held.log(task) == ""
    held.cancel(task)  # cancelling a task that has ended does nothing


def test_a_cancelled_running_job_is_killed(slurm: SlurmBackend, tmp_path: Path) -> None:
    task = slurm.submit(spec_in(tmp_path / "wt", "sh", "-c", "echo started; exec sleep 600"))
    deadline = time.monotonic() + 30
    while slurm.log(task) != "started\n" and time.monotonic() < deadline:
        time.sleep(0.2)
    slurm.cancel(task)
    (state,) = wait_final(slurm, [task])
    assert (state.state, state.exit_code) == ("killed", 143)
    assert state.started_at is not None


def test_a_worktree_gone_before_the_job_starts_fails_instead_of_running_in_tmp(
    tmp_path: Path, slurm_cluster: None
) -> None:
    held = SlurmBackend(tmp_path / "slurm", settings=SlurmSettings(extra_args=("--hold",)))
    worktree = tmp_path / "5_worktrees" / "gone"
    task = held.submit(spec_in(worktree, "sh", "-c", "pwd > ran-in.txt"))
    worktree.rmdir()
    subprocess.run(["scontrol", "release", task], check=True)
    (state,) = wait_final(held, [task])
    assert (state.state, state.exit_code) == ("failed", 97)
    assert f"harness: {worktree} is not visible on " in held.log(task)
    assert not Path("/tmp/ran-in.txt").exists()


def test_twenty_jobs_queued_at_once_all_record_their_row(
    slurm: SlurmBackend, tmp_path: Path
) -> None:
    record = tmp_path / "results.tsv"
    code = (
        "import os, sys; from pathlib import Path; from harness.fileio import exclusive_lock\n"
        "with exclusive_lock(Path(sys.argv[1] + '.lock')):\n"
        "    with open(sys.argv[1], 'a') as f: f.write(os.environ['HARNESS_SEED'] + '\\tok\\n')\n"
    )
    ids = [
        slurm.submit(
            spec_in(
                tmp_path / "wt",
                sys.executable,
                "-c",
                code,
                str(record),
                env={"HARNESS_SEED": str(seed)},
            )
        )
        for seed in range(20)
    ]
    assert len(set(ids)) == 20
    states = wait_final(slurm, ids, limit=120)
    assert [s.state for s in states] == ["succeeded"] * 20
    rows = sorted(record.read_text().splitlines(), key=lambda row: int(row.split("\t")[0]))
    assert rows == [f"{seed}\tok" for seed in range(20)]
    assert {s.task_id for s in slurm.states()} == set(ids)  # all of the repository's tasks


def test_a_job_slurm_has_forgotten_is_read_from_its_exit_file(
    slurm: SlurmBackend, tmp_path: Path
) -> None:
    task = slurm.submit(spec_in(tmp_path / "wt", "sh", "-c", "exit 4"))
    wait_final(slurm, [task])
    record_path = slurm.tasks_dir / f"{task}.json"
    record = json.loads(record_path.read_text())
    assert record["final"]["exit_code"] == 4  # cached: Slurm is not asked again
    forgotten = "67000000"  # an id this cluster has never seen
    for job, exit_file in ((forgotten, record["exit_file"]), ("67000001", "/nonexistent")):
        copy = {**record, "task_id": job, "final": None, "exit_file": exit_file}
        (slurm.tasks_dir / f"{job}.json").write_text(json.dumps(copy))
    by_id = {s.task_id: s for s in slurm.states([forgotten, "67000001"])}
    assert (by_id[forgotten].state, by_id[forgotten].exit_code) == ("failed", 4)
    assert by_id["67000001"].state == "lost"
    assert "left no exit status" in by_id["67000001"].detail


def test_an_id_nobody_knows_is_an_unknown_task(slurm: SlurmBackend) -> None:
    assert slurm.states(["67000002"]) == []
    with pytest.raises(UnknownTask, match="the slurm queue has no task 67000002"):
        slurm.cancel("67000002")


def test_is_available_names_the_partitions(slurm: SlurmBackend) -> None:
    available, reason = slurm.is_available()
    assert available
    assert reason.startswith("Slurm controller reachable; partitions ")
    assert ":up" in reason


def _forgets_quickly() -> str | None:
    """Why the accounting test cannot run here, or None when it can."""
    sacct = subprocess.run(["sacct", "-n", "-X", "-j", "1"], capture_output=True, text=True)
    if sacct.returncode != 0:
        return "accounting is off (start the cluster with HARNESS_SLURM_ACCOUNTING=1)"
    config = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True)
    age = [
        line.split("=")[1].split()[0] for line in config.stdout.splitlines() if "MinJobAge" in line
    ]
    if not age or int(age[0]) > 10:
        return "the controller keeps ended jobs for minutes (HARNESS_SLURM_MIN_JOB_AGE=2 to test)"
    return None


def test_a_job_the_controller_forgot_is_read_from_accounting(
    slurm: SlurmBackend, tmp_path: Path
) -> None:
    problem = _forgets_quickly()
    if problem:
        pytest.skip(problem)  # CI runs without slurmdbd; see scripts/slurm-cluster.sh
    ids = [slurm.submit(spec_in(tmp_path / "wt", "sh", "-c", f"exit {n}")) for n in (0, 5)]
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        squeue = subprocess.run(
            ["squeue", "-h", "-t", "all", "-j", ",".join(ids), "-o", "%i"],
            capture_output=True,
            text=True,
        )
        if not squeue.stdout.strip():
            break
        time.sleep(1)
    states = slurm.states(ids)  # nothing cached: the backend never saw them end
    assert [(s.state, s.exit_code, s.detail) for s in states] == [
        ("succeeded", 0, "COMPLETED"),
        ("failed", 5, "FAILED"),
    ]


def test_queue_add_on_slurm_ends_with_labelled_rows_in_the_root_record(
    research_repo: Path, cli, slurm_cluster: None
) -> None:
    git(research_repo, "worktree", "add", "--quiet", "5_worktrees/wider", "-b", "exp/wider")
    worktree = research_repo / "5_worktrees" / "wider"
    commit_files(  # committed: a run of uncommitted code is refused
        worktree,
        {"quick_eval.py": "import os\nprint('---')\n"
         "print('val_bpb:', 2 + int(os.environ['HARNESS_SEED']) / 100)\n"},
        "a quick evaluation",
    )  # fmt: skip
    added = cli(
        "queue", "add", "--backend", "slurm", "--seeds", "3",
        "-q", "does it run on Slurm?", "-H", "as on the local queue", "--",
        "python", "-m", "harness", "eval", "--", "python", "quick_eval.py", cwd=worktree,
    )  # fmt: skip
    assert added.code == 0, added.err
    tasks = added.out.split()
    assert len(tasks) == 3 and all(task.startswith("slurm:") for task in tasks)
    assert cli("queue", "wait", "--backend", "slurm", cwd=worktree).code == 0
    with (research_repo / "results.tsv").open(encoding="utf-8", newline="") as handle:
        rows = sorted(csv.DictReader(handle, delimiter="\t"), key=lambda row: row["seed"])
    assert [(r["seed"], r["value"], r["status"], r["idea"]) for r in rows] == [
        ("0", "2.0", "ok", "wider"),
        ("1", "2.01", "ok", "wider"),
        ("2", "2.02", "ok", "wider"),
    ]
    assert {r["question"] for r in rows} == {"does it run on Slurm?"}
    assert {r["hypothesis"] for r in rows} == {"as on the local queue"}
    assert sorted(r["queue_task"] for r in rows) == sorted(tasks)
