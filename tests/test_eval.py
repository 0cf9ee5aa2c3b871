"""`harness eval`: real evaluation commands run in real worktrees, every outcome recorded."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.config import load_config
from harness.layout import idea_of
from harness.record.results import read_results
from harness.rules.appendonly import is_valid_append
from harness.runs.evaluation import has_code_changes, split_seed
from tests.conftest import commit_files, configure_eval, git


def rows_of(repo: Path) -> list[dict]:
    return read_results(repo / "results.tsv").to_dicts()


def journal_of(repo: Path) -> str:
    return (repo / "RESEARCH_JOURNAL.md").read_text()


def printing(*lines: str, code: str = "") -> list[str]:
    """`python -c` printing `lines` after some code: an evaluation command."""
    body = code + "".join(f"print({line!r});" for line in lines)
    return ["python", "-c", body]


def is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_for_file(path: Path, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        time.sleep(0.05)
    raise AssertionError(f"{path} never appeared")


def test_a_run_gets_a_complete_row_and_a_journal_entry(research_repo: Path, cli) -> None:
    old_journal = journal_of(research_repo)
    command = printing("training...", "---", "val_bpb: 1.25", "params: 1000", "note: small")
    result = cli(
        "eval", "-q", "does it run?", "-H", "expect 1.2", "--", *command, cwd=research_repo
    )
    assert result.code == 0, result.err
    assert "training..." in result.out  # the output streams through
    (row,) = rows_of(research_repo)
    assert result.out.splitlines()[-1].startswith(f"recorded run {row['run_id']} (baseline")
    head = git(research_repo, "rev-parse", "HEAD").strip()
    assert row["idea"] == "baseline" and row["branch"] == "main" and row["commit"] == head
    assert (row["seed"], row["metric"], row["value"], row["status"]) == (0, "val_bpb", 1.25, "ok")
    assert row["dirty"] is False and len(row["frozen_sha"]) == 16
    assert row["integrity"] == "command", "not the configured evaluation: it never counts"
    assert json.loads(row["extra"])["command"] == shlex.join(command)
    assert row["question"] == "does it run?" and row["hypothesis"] == "expect 1.2"
    assert row["duration_s"] > 0 and row["host"] and row["timestamp"].endswith("Z")
    extra = json.loads(row["extra"])
    assert extra["params"] == 1000 and extra["note"] == "small" and extra["exit_code"] == 0
    assert "training..." in Path(extra["log"]).read_text()
    journal = journal_of(research_repo)
    assert is_valid_append(old_journal, journal)
    assert f"run {row['run_id']} · baseline seed 0 · ok" in journal
    assert "- Question: does it run?" in journal and "val_bpb = 1.25" in journal


def test_the_metrics_file_is_read_first(research_repo: Path, cli) -> None:
    code = (
        "import json, os; "
        "json.dump({'val_bpb': 0.75, 'steps': 9}, open(os.environ['HARNESS_METRICS_FILE'], 'w'));"
    )
    command = printing("---", "val_bpb: 9.0", code=code)
    assert cli("eval", "--", *command, cwd=research_repo).code == 0
    (row,) = rows_of(research_repo)
    assert row["value"] == 0.75 and json.loads(row["extra"])["steps"] == 9


def test_the_seed_reaches_the_command_as_argument_and_environment(research_repo, cli) -> None:
    code = (
        "import os, sys; assert sys.argv[-2:] == ['--seed', os.environ['HARNESS_SEED']]; "
        "print('---'); print('val_bpb:', 1 + int(os.environ['HARNESS_SEED']))"
    )
    assert cli("eval", "--seed", "4", "--", "python", "-c", code, cwd=research_repo).code == 0
    # a seed at the end of the command (as `harness queue add --seeds` puts it) counts too
    assert cli("eval", "--", "python", "-c", code, "--seed", "2", cwd=research_repo).code == 0
    assert [(r["seed"], r["value"]) for r in rows_of(research_repo)] == [(4, 5.0), (2, 3.0)]


def test_labels_come_from_the_environment_and_never_tear_the_row(
    research_repo: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HARNESS_QUESTION", "does\tit\nhelp?")
    monkeypatch.setenv("HARNESS_HYPOTHESIS", "from the queue")
    monkeypatch.setenv("HARNESS_EXPECTED", "-0.05")
    monkeypatch.setenv("HARNESS_QUEUE_TASK", "17")
    command = printing("---", "val_bpb: 2")
    assert cli("eval", "-H", "from the flag", "--", *command, cwd=research_repo).code == 0
    (row,) = rows_of(research_repo)
    assert row["question"] == "does it help?"
    assert row["hypothesis"] == "from the flag"
    assert (row["expected"], row["queue_task"]) == ("-0.05", "17")


def test_a_crash_is_recorded_with_the_tail_of_its_log(research_repo: Path, cli) -> None:
    code = (
        "import sys; print('loading'); "
        "sys.stderr.write('Traceback\\nValueError: boom\\n'); sys.exit(3)"
    )
    result = cli("eval", "--", "python", "-c", code, cwd=research_repo)
    assert result.code == 1
    assert "ValueError: boom" in result.err  # stderr streams to the terminal's stderr
    (row,) = rows_of(research_repo)
    assert row["status"] == "crash" and row["value"] is None
    assert row["description"].startswith("exit code 3; log tail: ")
    assert "ValueError: boom" in row["description"] and "\n" not in row["description"]
    assert f"run {row['run_id']} · baseline seed 0 · crash" in journal_of(research_repo)


@pytest.mark.parametrize(
    ("lines", "reason"),
    [
        (("all done",), "no metrics: neither HARNESS_METRICS_FILE nor `---` lines"),
        (("---", "loss: 1.5"), "the evaluation reported no val_bpb (reported: loss)"),
        (("---", "val_bpb: nan"), "val_bpb is nan (the run diverged or failed)"),
        (("---", "val_bpb: high"), "val_bpb is 'high', not a number"),
    ],
)
def test_a_run_without_a_usable_metric_is_a_crash(
    research_repo: Path, cli, lines: tuple[str, ...], reason: str
) -> None:
    assert cli("eval", "--", *printing(*lines), cwd=research_repo).code == 1
    (row,) = rows_of(research_repo)
    assert row["status"] == "crash" and row["value"] is None
    assert row["description"].startswith(reason + "; log tail: ")


def test_a_timeout_stops_the_whole_process_group(research_repo: Path, cli, tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    code = (
        "import subprocess, sys, time; "
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        f"open({str(pid_file)!r}, 'w').write(str(p.pid)); print('started', flush=True); "
        "time.sleep(60)"
    )
    result = cli("eval", "--timeout", "2", "--", "python", "-c", code, cwd=research_repo)
    assert result.code == 124
    (row,) = rows_of(research_repo)
    assert row["status"] == "timeout" and 1.5 < row["duration_s"] < 30
    assert row["description"] == "timed out after 2 s; log tail: started"
    grandchild = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while is_alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not is_alive(grandchild)


@pytest.mark.parametrize(
    ("sig", "exit_code", "said"),
    [(signal.SIGINT, 130, "Ctrl-C"), (signal.SIGTERM, 143, "SIGTERM")],
)
def test_an_interrupted_run_is_recorded_as_killed(
    research_repo: Path, tmp_path: Path, sig: int, exit_code: int, said: str
) -> None:
    """Ctrl-C (SIGINT) or a queue's kill (SIGTERM) stops `harness eval`: the run stops, its
    row is written, and the harness exits as a shell reports that signal: 128 + N."""
    pid_file = tmp_path / "child.pid"
    code = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "eval", "--", "python", "-c", code],
        cwd=research_repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    child = int(wait_for_file(pid_file))
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == exit_code, err
    (row,) = rows_of(research_repo)
    assert row["status"] == "killed" and row["description"].startswith(f"interrupted ({said})")
    assert json.loads(row["extra"])["stopped_by"] == signal.Signals(sig).name
    assert f"recorded run {row['run_id']}" in out
    assert not is_alive(child)


def test_a_closed_terminal_does_not_block_the_run(research_repo: Path) -> None:
    """`harness eval | head -1`: the reader goes away, the run goes on and is recorded."""
    code = "for i in range(200000): print('line', i)\nprint('---'); print('val_bpb: 1.5')"
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "eval", "--", "python", "-c", code],
        cwd=research_repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    proc.stdout.readline()
    proc.stdout.close()
    proc.wait(timeout=120)
    (row,) = rows_of(research_repo)
    assert (row["status"], row["value"]) == ("ok", 1.5)
    assert "line 199999" in Path(json.loads(row["extra"])["log"]).read_text()


def test_an_evaluation_killed_by_a_signal_has_exit_code_128_plus_n(
    research_repo: Path, cli
) -> None:
    """As in every queue: SIGKILL is 137, SIGTERM 143 (never Python's -9 or -15)."""
    for sig, code in ((signal.SIGKILL, 137), (signal.SIGTERM, 143)):
        kill = f"import os; print('started'); os.kill(os.getpid(), {int(sig)})"
        assert cli("eval", "--", "python", "-c", kill, cwd=research_repo).code == 1
        row = rows_of(research_repo)[-1]
        assert row["status"] == "crash" and json.loads(row["extra"])["exit_code"] == code
        assert row["description"] == f"exit code {code}; log tail: started"
        log = Path(json.loads(row["extra"])["log"]).read_text()
        assert log.endswith(f"# harness: exited, exit code {code}\n")


def test_the_log_tail_shows_where_a_progress_bar_ended(research_repo: Path, cli) -> None:
    code = (
        "import sys; sys.stderr.write('step  10%\\rstep  50%\\rstep 100%\\n'); "
        "sys.stderr.write('Killed\\n'); sys.exit(137)"
    )
    assert cli("eval", "--", "python", "-c", code, cwd=research_repo).code == 1
    (row,) = rows_of(research_repo)
    assert row["description"] == "exit code 137; log tail: step 100% | Killed"


def test_a_run_in_a_worktree_is_recorded_in_the_root(research_repo: Path, cli) -> None:
    worktree = research_repo / "5_worktrees" / "wider"
    git(research_repo, "worktree", "add", "-q", "-b", "exp/wider", str(worktree))
    sha = commit_files(worktree, {"train.py": "# wider\n"}, "wider")
    assert cli("eval", "--", *printing("---", "val_bpb: 1.5"), cwd=worktree).code == 0
    (row,) = rows_of(research_repo)
    assert (row["idea"], row["branch"], row["commit"]) == ("wider", "exp/wider", sha)
    assert row["dirty"] is False and row["integrity"] == "command"
    assert "wider seed 0 · ok" in journal_of(research_repo)
    assert (worktree / "results.tsv").read_text().count("\n") == 1  # the branch's copy: header
    assert "wider" not in journal_of(worktree)


def test_a_run_with_changed_frozen_files_is_flagged(research_repo: Path, cli) -> None:
    worktree = research_repo / "5_worktrees" / "cheat"
    git(research_repo, "worktree", "add", "-q", "-b", "exp/cheat", str(worktree))
    (worktree / "eval.py").write_text("print('---'); print('val_bpb: 0.1')\n")
    refused = cli("eval", "--", *printing("---", "val_bpb: 0.1"), cwd=worktree)
    assert (refused.code, rows_of(research_repo)) == (1, [])
    assert refused.err == (
        f"harness: {worktree} has uncommitted changes to the research code (eval.py): commit "
        "them first (a result must name the code it measured), or pass --allow-dirty to run "
        "anyway (its row never counts); `just smoke` runs on anything\n"
    )
    allowed = cli("eval", "--allow-dirty", "--", *printing("---", "val_bpb: 0.1"), cwd=worktree)
    assert allowed.code == 0
    (row,) = rows_of(research_repo)
    assert row["integrity"] == "modified" and row["dirty"] is True
    assert "- Integrity: modified: the FROZEN files (eval.py) differ from main" in journal_of(
        research_repo
    )
    assert cli("results", "best", cwd=research_repo).out.startswith("no valid val_bpb yet")


def test_the_record_files_do_not_make_the_root_dirty(research_repo: Path, cli) -> None:
    configure_eval(research_repo, printing("---", "val_bpb: 1"))
    for _ in range(2):
        assert cli("eval", cwd=research_repo).code == 0
    assert [row["dirty"] for row in rows_of(research_repo)] == [False, False]
    (research_repo / "9_reports" / "index.html").write_text("<html></html>")
    (research_repo / "1_ideas" / "2026-01-01_new.md").write_text("---\n---\n")
    assert cli("eval", cwd=research_repo).code == 0
    assert rows_of(research_repo)[-1]["dirty"] is False, "records are not code"
    (research_repo / "train.py").write_text("# edited\n")
    assert cli("eval", cwd=research_repo).code == 1
    assert len(rows_of(research_repo)) == 3, "refused: nothing ran, nothing recorded"
    dirty = cli("eval", "--allow-dirty", cwd=research_repo)
    assert dirty.code == 0
    assert rows_of(research_repo)[-1]["dirty"] is True
    best = cli("results", "best", "--json", cwd=research_repo)
    assert best.code == 0, best.err
    last = rows_of(research_repo)[-1]["run_id"]
    assert json.loads(best.out)["best_run"]["run_id"] != last, "never counts"


def test_a_staged_rename_is_code_only_when_either_path_is_code(research_repo: Path) -> None:
    """`git status -z` lists a rename as `R  new` then `old`: both paths count, whole."""
    config = load_config(research_repo)
    commit_files(research_repo, {"1_ideas/2026-01-01_old name.md": "---\n---\n"}, "idea")
    git(research_repo, "mv", "1_ideas/2026-01-01_old name.md", "1_ideas/2026-01-02_new.md")
    assert not has_code_changes(research_repo, config), "an idea renamed is not code"
    git(research_repo, "mv", "1_ideas/2026-01-02_new.md", "notes.md")
    assert has_code_changes(research_repo, config), "an idea renamed into the code is code"
    git(research_repo, "reset", "--quiet", "--hard")
    git(research_repo, "mv", "train.py", "1_ideas/train.py")
    assert has_code_changes(research_repo, config), "code renamed away is a code change"


def test_a_foreign_results_file_stops_the_run_before_it_starts(research_repo: Path, cli) -> None:
    (research_repo / "results.tsv").write_text("commit\tval_bpb\tstatus\nabc\t1.0\tkeep\n")
    marker = research_repo / "ran"
    code = f"open({str(marker)!r}, 'w')"
    result = cli("eval", "--", "python", "-c", code, cwd=research_repo)
    assert result.code == 1
    assert "does not start with the harness header" in result.err
    assert "harness results import FILE" in result.err
    assert not marker.exists()


def test_an_unknown_command_or_a_bad_timeout_is_a_usage_error(research_repo: Path, cli) -> None:
    result = cli("eval", "--", "no-such-evaluator", cwd=research_repo)
    assert result.code == 2
    assert result.err == (
        "harness: command not found: no-such-evaluator: check [tool.harness] eval or the PATH\n"
    )
    result = cli("eval", "--timeout", "-1", "--", "python", "-c", "1", cwd=research_repo)
    assert result.code == 2
    assert result.err == "harness: --timeout must be a positive number of seconds, got -1.0\n"
    assert rows_of(research_repo) == []


def test_just_eval_runs_harness_eval(research_repo: Path) -> None:
    """The recipe records the run (the bundled evaluation's smoke size, via `just`)."""
    venv_bin = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": venv_bin + os.pathsep + os.environ["PATH"]}
    proc = subprocess.run(
        ["just", "eval", "--seed", "1", "--", "python", "eval.py", "--smoke"],
        cwd=research_repo,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    (row,) = rows_of(research_repo)
    assert row["seed"] == 1 and row["status"] == "ok" and 0 < row["value"] < 8
    assert json.loads(row["extra"])["smoke"] is True


def test_idea_and_seed_helpers() -> None:
    assert idea_of("exp/wider-mlp", main_branch="main", commit="a") == "wider-mlp"
    assert idea_of("main", main_branch="main", commit="a") == "baseline"
    assert idea_of("scratch", main_branch="main", commit="a") == "scratch"
    assert idea_of(None, main_branch="main", commit="0123456789abc") == "detached-0123456789"
    assert split_seed(("python", "x.py", "--seed", "3"), None) == (("python", "x.py"), 3)
    assert split_seed(("python", "x.py", "--seed", "3"), 5) == (("python", "x.py"), 5)
    assert split_seed(("python", "x.py"), 7) == (("python", "x.py"), 7)


WRITE = "import os; f = open(os.environ['HARNESS_METRICS_FILE'], 'w'); "


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (
            WRITE + "f.write('{\"val_bpb\": 1.0}'); f.write('{\"val_bpb\": 0.5}'); f.close();",
            "HARNESS_METRICS_FILE received a second summary: write one JSON object, once",
        ),
        (
            WRITE + "f.write('{\"val_bpb\": 1.0} done'); f.close();",
            "HARNESS_METRICS_FILE received output after the summary ('done'): "
            "write one JSON object, once",
        ),
        (
            WRITE + "f.write('{oops'); f.close();",
            "HARNESS_METRICS_FILE is not valid JSON "
            "(Expecting property name enclosed in double quotes)",
        ),
    ],
)
def test_the_metrics_channel_takes_one_summary_and_outranks_stdout(
    research_repo: Path, cli, code: str, reason: str
) -> None:
    """Once the channel received anything, the stdout summary is never used."""
    configure_eval(research_repo, printing("---", "val_bpb: 0.25", code=code))
    assert cli("eval", cwd=research_repo).code == 1
    (row,) = rows_of(research_repo)
    assert (row["status"], row["value"]) == ("crash", None)
    assert row["description"].startswith(reason + "; log tail: ")


def test_the_metrics_channel_is_the_first_process_s_alone(research_repo: Path, cli) -> None:
    """HARNESS_METRICS_FILE names nothing under the repository, and a process the
    evaluation starts cannot open it (unless the evaluation passes the descriptor on)."""
    child = "import os; open(os.environ['HARNESS_METRICS_FILE'], 'w').write('{}')"
    code = (
        "import os, subprocess, sys; "
        "print('channel: ' + os.environ['HARNESS_METRICS_FILE']); "
        f"r = subprocess.run([sys.executable, '-c', {child!r}], stderr=subprocess.DEVNULL); "
        "print('---'); print(f'val_bpb: {r.returncode}')"
    )
    configure_eval(research_repo, ["python", "-c", code])
    result = cli("eval", cwd=research_repo)
    assert result.code == 0, result.err
    (row,) = rows_of(research_repo)
    assert row["value"] == 1.0, "the child failed to open the channel: the stdout summary counts"
    assert re.search(r"channel: /dev/fd/\d+\n", result.out)
