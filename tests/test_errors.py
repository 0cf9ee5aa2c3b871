"""Bad input ends with one line on stderr and a known exit code, never a traceback.

Each case is a cause measured in the field, run through the real command (in-process, or
as a real process where a worker or the console script is involved): a byte that is not
UTF-8 in an idea file, a comparison without measured noise, a command in the config that
does not parse, non-finite values, unwritable folders, bad metric names, a metric printed
twice, and argument errors.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import describe_os_error
from harness.queue.local import LocalBackend
from harness.record.results import format_row, read_results
from tests.conftest import configure_eval, git
from tests.fs_helpers import unwritable
from tests.queue_helpers import wait_until

NOT_UTF8 = re.compile(
    r"harness: 1_ideas/\d{4}-\d\d-\d\d_good\.md is not valid UTF-8: byte 0xff at offset "
    r"(\d+) \(line (\d+)\): re-save the file as UTF-8 or remove that byte"
)


def one_line(err: str) -> str:
    """The single line of stderr; fails when there are more (a traceback, a box)."""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def set_config(repo: Path, pattern: str, replacement: str) -> None:
    """Change [tool.harness] in pyproject.toml, committed past the hook (which itself
    refuses to work with a broken config), so it holds in the file and on main alike."""
    text = (repo / "pyproject.toml").read_text()
    changed, count = re.subn(pattern, replacement, text, count=1, flags=re.MULTILINE)
    assert count == 1, pattern
    write_committed(repo, changed)


def write_committed(repo: Path, pyproject: str) -> None:
    (repo / "pyproject.toml").write_text(pyproject)
    git(repo, "commit", "--quiet", "--no-verify", "-m", "config", "--", "pyproject.toml")


def printing(*lines: str) -> list[str]:
    return ["python", "-c", "".join(f"print({line!r});" for line in lines)]


# -- a byte that is not UTF-8 in an idea file ------------------------------------------------


@pytest.fixture
def bad_idea(research_repo: Path, cli) -> tuple[Path, int, int]:
    """An idea `good` whose file gets a 0xff byte at its end: (path, offset, line)."""
    assert cli("idea", "new", "good", "--title", "a good idea", cwd=research_repo).code == 0
    (path,) = (research_repo / "1_ideas").glob("*_good.md")
    data = path.read_bytes()
    path.write_bytes(data + b"\xff\n")
    return path, len(data), data.count(b"\n") + 1


@pytest.mark.parametrize(
    "args",
    [
        ("idea", "list"),
        ("idea", "show", "good"),
        ("idea", "pick"),
        ("idea", "set", "good", "--status", "critiqued"),
        ("status",),
        ("next",),
        ("report", "good"),
        ("worktree", "list"),
        ("worktree", "create", "good"),
        ("submit", "good"),
    ],
)
def test_a_non_utf8_idea_is_named_with_its_byte_offset(
    research_repo: Path, cli, bad_idea: tuple[Path, int, int], args: tuple[str, ...]
) -> None:
    _, offset, line = bad_idea
    result = cli(*args, cwd=research_repo)
    assert result.code == 1
    match = NOT_UTF8.fullmatch(one_line(result.err))
    assert match is not None, result.err
    assert (int(match.group(1)), int(match.group(2))) == (offset, line)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("created: 2024-13-45", "front matter holds a bad value (month must be in 1..12)"),
        ("rating: .nan", "rating must be a number from 0 to 10 or null, got nan"),
        ("title: [unclosed", "front matter is not valid YAML (line "),
    ],
)
def test_a_bad_front_matter_value_is_named(
    research_repo: Path, cli, line: str, problem: str
) -> None:
    assert cli("idea", "new", "good", "--title", "a good idea", cwd=research_repo).code == 0
    (path,) = (research_repo / "1_ideas").glob("*_good.md")
    key = line.split(":")[0]
    text = re.sub(rf"^{key}:.*$", line, path.read_text(), count=1, flags=re.MULTILINE)
    path.write_text(text)
    result = cli("idea", "list", cwd=research_repo)
    assert result.code == 1
    assert one_line(result.err).startswith(f"harness: 1_ideas/{path.name}: {problem}")


def test_the_dashboard_shows_a_non_utf8_idea_as_a_warning(
    research_repo: Path, cli, bad_idea: tuple[Path, int, int]
) -> None:
    result = cli("dashboard", cwd=research_repo)
    assert result.code == 0 and "Traceback" not in result.err
    page = (research_repo / "9_reports" / "index.html").read_text()
    assert "is not valid UTF-8: byte 0xff at offset" in page


def test_a_run_of_an_idea_with_a_non_utf8_file_is_recorded(
    research_repo: Path, cli, bad_idea: tuple[Path, int, int]
) -> None:
    path, _, _ = bad_idea
    git(research_repo, "worktree", "add", "--quiet", "5_worktrees/good", "-b", "exp/good")
    worktree = research_repo / "5_worktrees" / "good"
    result = cli("eval", "--", *printing("---", "val_bpb: 1.5"), cwd=worktree)
    assert result.code == 0 and "Traceback" not in result.err
    assert f"idea status not updated: 1_ideas/{path.name} is not valid UTF-8" in result.err
    (row,) = read_results(research_repo / "results.tsv").to_dicts()
    assert (row["idea"], row["status"], row["value"]) == ("good", "ok", 1.5)


def test_results_commit_refuses_a_non_utf8_idea(
    research_repo: Path, cli, bad_idea: tuple[Path, int, int]
) -> None:
    head = git(research_repo, "rev-parse", "HEAD")
    result = cli("results", "commit", cwd=research_repo)
    assert result.code == 1
    assert one_line(result.err).startswith("harness: nothing committed: 1_ideas/")
    assert NOT_UTF8.search(result.err.replace("nothing committed: ", ""))
    assert git(research_repo, "rev-parse", "HEAD") == head


def test_a_non_utf8_critique_on_stdin_is_one_line(research_repo: Path, bad_idea) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "harness", "idea", "critique", "good", "--file", "-"],
        cwd=research_repo,
        input=b"Rating: 8/10 \xfe\n",
        capture_output=True,
    )
    assert done.returncode == 2
    assert one_line(done.stderr.decode()) == (
        "harness: standard input is not valid UTF-8: byte 0xfe at offset 13 (line 1): "
        "re-save the file as UTF-8 or remove that byte"
    )


def test_a_non_utf8_pyproject_is_a_config_error(research_repo: Path, cli) -> None:
    path = research_repo / "pyproject.toml"
    path.write_bytes(path.read_bytes().replace(b"# the number", b"# the \xe9 number", 1))
    git(research_repo, "commit", "--quiet", "--no-verify", "-m", "config", "--", "pyproject.toml")
    result = cli("status", cwd=research_repo)
    assert result.code == 2
    assert "pyproject.toml is not valid UTF-8: byte 0xe9 at offset" in one_line(result.err)


@pytest.mark.parametrize(
    ("journal", "args"),
    [
        ("RESEARCH_JOURNAL.md", ("journal", "add", "--observation", "seen")),
        ("human_journal.md", ("meta", "on", "--reason", "fix the evaluation")),
    ],
)
@pytest.mark.usefixtures("terminal")
def test_a_non_utf8_journal_is_named(research_repo: Path, cli, journal: str, args) -> None:
    path = research_repo / journal
    before = path.read_bytes() + b"\xff\n"
    path.write_bytes(before)
    result = cli(*args, cwd=research_repo)
    assert result.code == 1
    assert one_line(result.err).startswith(f"harness: {path} is not valid UTF-8: byte 0xff at")
    assert path.read_bytes() == before  # nothing half-written


def test_a_non_utf8_report_is_named(research_repo: Path, cli) -> None:
    assert cli("idea", "new", "good", "--title", "a good idea", cwd=research_repo).code == 0
    git(research_repo, "worktree", "add", "--quiet", "5_worktrees/good", "-b", "exp/good")
    worktree = research_repo / "5_worktrees" / "good"
    code = "import sys; print('---'); print(f'val_bpb: 1.{sys.argv[-1]}')"
    configure_eval(research_repo, ["python", "-c", code])
    git(worktree, "merge", "--quiet", "main")  # the branch runs the configured evaluation
    for seed in ("0", "1"):
        assert cli("eval", "--seed", seed, cwd=worktree).code == 0
    assert cli("report", "good", "--force", cwd=research_repo).code == 0
    (report,) = (research_repo / "9_reports").glob("*_good.md")
    report.write_bytes(report.read_bytes() + b"\xc3\n")
    for args in (("report", "good", "--force"), ("submit", "good", "--force")):
        result = cli(*args, cwd=research_repo)
        assert result.code == 1
        assert f"{report} is not valid UTF-8: byte 0xc3 at offset" in one_line(result.err)


# -- results compare without measured noise ---------------------------------------------------


def test_compare_works_on_a_freshly_imported_record(research_repo: Path, cli, tmp_path) -> None:
    table = tmp_path / "theirs.tsv"
    table.write_text(
        "commit\tval_bpb\tstatus\tdescription\n"
        "a1b2c3d\t0.997\tkeep\tbaseline\n"
        "b2c3d4e\t0.950\tkeep\twider\n"
    )
    assert cli("results", "import", str(table), cwd=research_repo).code == 0
    first, second = read_results(research_repo / "results.tsv").get_column("run_id")
    result = cli("results", "compare", first, second, cwd=research_repo)
    assert (result.code, result.err) == (0, "")
    assert "noise: not measured: run `harness baseline`" in result.out.splitlines()
    assert result.out.splitlines()[-1].endswith("the noise is not measured")
    as_json = cli("results", "compare", first, second, "--json", cwd=research_repo)
    assert as_json.code == 0 and json.loads(as_json.out)["noise"]["sigma"] is None


# -- commands in the config that do not parse -------------------------------------------------


@pytest.mark.parametrize("key", ["eval", "smoke", "confirm"])
@pytest.mark.parametrize("args", [("status",), ("idea", "list"), ("eval",), ("smoke",)])
def test_an_unbalanced_quote_in_a_command_is_a_config_error(
    research_repo: Path, cli, key: str, args: tuple[str, ...]
) -> None:
    set_config(research_repo, rf"^{key} = .*$", f'{key} = "python \'eval.py"')
    result = cli(*args, cwd=research_repo)
    assert result.code == 2
    line = one_line(result.err)
    assert line.startswith(f"harness: tool.harness.{key} = ")
    assert "does not parse as a command (No closing quotation)" in line


def test_doctor_reports_an_unparsable_command_as_a_failed_check(research_repo: Path, cli) -> None:
    set_config(research_repo, r"^eval = .*$", "eval = 'python eval.py \\'")
    result = cli("doctor", cwd=research_repo)
    assert result.code == 1 and result.err == ""
    (config_line,) = [line for line in result.out.splitlines() if "config" in line[:20]]
    assert config_line.startswith("FAIL  config       tool.harness.eval = ")
    assert "does not parse as a command (No escaped character)" in config_line


@pytest.mark.parametrize("value", ['""', '"val bpb"', '"1st"'])
def test_a_bad_metric_name_is_a_config_error(research_repo: Path, cli, value: str) -> None:
    set_config(research_repo, r"^metric = .*$", f"metric = {value}")
    result = cli("eval", "--", *printing("---", "val_bpb: 1"), cwd=research_repo)
    assert result.code == 2
    assert one_line(result.err).startswith(f"harness: tool.harness.metric = {value[1:-1]!r} is")
    assert read_results(research_repo / "results.tsv").is_empty()  # nothing ran


def test_a_missing_tool_harness_table_is_a_config_error(research_repo: Path, cli) -> None:
    text = (research_repo / "pyproject.toml").read_text()
    write_committed(research_repo, text.split("[tool.harness]")[0])
    for args in (("status",), ("eval",), ("results", "best")):
        result = cli(*args, cwd=research_repo)
        assert result.code == 2
        assert one_line(result.err) == (
            f"harness: {research_repo}/pyproject.toml has no [tool.harness] table: "
            f"run `harness init` in {research_repo}"
        )


# -- non-finite values -------------------------------------------------------------------------


def append_runs(repo: Path, values: list[tuple[str, float]]) -> None:
    with (repo / "results.tsv").open("a") as handle:
        for number, (idea, value) in enumerate(values):
            handle.write(
                format_row(
                    {
                        "run_id": f"r{number}", "timestamp": "2026-01-01T00:00:00Z",
                        "idea": idea, "branch": "main", "commit": "abc", "dirty": False,
                        "seed": number, "metric": "val_bpb", "value": value, "status": "ok",
                        "integrity": "ok",
                    }
                )
            )  # fmt: skip


def test_non_finite_values_never_reach_a_best_or_a_mean(research_repo: Path, cli) -> None:
    inf = float("inf")
    append_runs(
        research_repo,
        [("baseline", -inf), ("baseline", 1.5), ("baseline", 1.25), ("wide", inf), ("wide", 1.0)],
    )
    result = cli("status", "--json", cwd=research_repo)
    assert (result.code, result.err) == (0, "")
    summary = json.loads(result.out)
    assert (summary["best_run"]["idea"], summary["best_run"]["value"]) == ("wide", 1.0)
    assert summary["baseline"] == {"idea": "baseline", "value": 1.375, "runs": 2}
    text = cli("status", cwd=research_repo)
    assert text.code == 0 and "inf" not in text.out
    best = cli("results", "best", cwd=research_repo)
    assert best.code == 0
    assert best.out.startswith("best single run val_bpb: 1 (lowest valid), run r4,")
    compare = cli("results", "compare", "baseline", "wide", cwd=research_repo)
    assert (
        compare.code == 0 and "reference (A) baseline: mean 1.375, std 0.176777, n 2" in compare.out
    )


def test_values_near_the_float_limit_never_overflow_a_mean(research_repo: Path, cli) -> None:
    append_runs(research_repo, [("baseline", 1.5e308), ("baseline", 1.7e308), ("wide", 1.0)])
    result = cli("status", "--json", cwd=research_repo)
    assert (result.code, result.err) == (0, "")
    assert json.loads(result.out)["baseline"] == {"idea": "baseline", "value": 1.6e308, "runs": 2}
    compare = cli("results", "compare", "baseline", "wide", cwd=research_repo)
    assert compare.code == 0 and "reference (A) baseline: mean 1.6e+308" in compare.out


@pytest.mark.parametrize("printed", ["inf", "+inf", "-inf", "Infinity", "nan"])
def test_an_evaluation_printing_a_non_finite_value_is_a_crash(
    research_repo: Path, cli, printed: str
) -> None:
    result = cli("eval", "--", *printing("---", f"val_bpb: {printed}"), cwd=research_repo)
    assert result.code == 1
    (row,) = read_results(research_repo / "results.tsv").to_dicts()
    assert (row["status"], row["value"]) == ("crash", None)
    shown = str(float(printed))
    assert row["description"].startswith(f"val_bpb is {shown} (the run diverged or failed)")


# -- a metric reported twice -------------------------------------------------------------------


@pytest.mark.parametrize(
    "lines",
    [
        ("---", "val_bpb: 1.5", "---", "val_bpb: 1.25"),  # two summaries
        ("---", "val_bpb: 1.5", "steps: 10", "val_bpb: 1.25"),  # the key twice in one
    ],
)
def test_a_metric_printed_twice_is_a_crash(research_repo: Path, cli, lines) -> None:
    result = cli("eval", "--", *printing(*lines), cwd=research_repo)
    assert result.code == 1
    (row,) = read_results(research_repo / "results.tsv").to_dicts()
    assert (row["status"], row["value"]) == ("crash", None)
    assert row["description"].startswith(
        "val_bpb was reported twice after `---` (1.5 and 1.25): print it once, in one summary"
    )


def test_progress_blocks_without_the_metric_still_count(research_repo: Path, cli) -> None:
    lines = ("---", "step: 1", "loss: 3.0", "---", "step: 2", "---", "val_bpb: 1.5")
    assert cli("eval", "--", *printing(*lines), cwd=research_repo).code == 0
    (row,) = read_results(research_repo / "results.tsv").to_dicts()
    assert (row["status"], row["value"]) == ("ok", 1.5)


# -- unwritable folders ---------------------------------------------------------------------------


@pytest.fixture
def local_queue(research_repo: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HARNESS_QUEUE", "local")
    backend = LocalBackend(research_repo / ".git" / "harness" / "queue")
    backend.store.ensure()
    yield backend
    backend.stop_worker()


@pytest.mark.parametrize("folder", ["", "tasks", "pending", "logs"])
def test_queue_add_refuses_an_unwritable_queue_folder(
    research_repo: Path, cli, local_queue: LocalBackend, folder: str
) -> None:
    path = local_queue.store.root / folder if folder else local_queue.store.root
    with unwritable(path):
        result = cli("queue", "add", "--", "true", cwd=research_repo)
    assert result.code == 1
    assert one_line(result.err).startswith(f"harness: the local queue cannot write {path} (")
    assert local_queue.store.all_ids() == []  # nothing half-added


@pytest.mark.parametrize(("name", "content"), [("groups.json", "{oops"), ("next_id", "seven")])
def test_a_damaged_queue_file_is_one_line(
    research_repo: Path, cli, local_queue: LocalBackend, name: str, content: str
) -> None:
    path = local_queue.store.root / name
    path.write_text(content)
    result = cli("queue", "add", "--", "true", cwd=research_repo)
    assert result.code == 1
    assert one_line(result.err).startswith(f"harness: {path} ")
    assert one_line(result.err).endswith(": move it aside")


def test_a_task_whose_log_cannot_be_written_fails_with_the_reason(
    research_repo: Path, cli, local_queue: LocalBackend, tmp_path: Path
) -> None:
    """The real worker process: the first task holds the only slot while the logs folder
    becomes unwritable, so the second one cannot open its log when its turn comes."""
    gate = tmp_path / "go"
    hold = f"import pathlib, time\nwhile not pathlib.Path({str(gate)!r}).exists(): time.sleep(0.02)"
    assert cli("queue", "add", "--", "python", "-c", hold, cwd=research_repo).code == 0
    assert cli("queue", "add", "--", "true", cwd=research_repo).code == 0
    wait_until(lambda: local_queue.states(["0"])[0].state == "running")
    with unwritable(local_queue.store.logs_dir):
        gate.touch()
        waited = cli("queue", "wait", "local:1", cwd=research_repo)
    assert waited.code == 1 and "Traceback" not in waited.err
    (second,) = local_queue.states(["1"])
    assert second.state == "failed"
    assert second.detail.startswith(f"cannot write its log {local_queue.store.log_path(1)}: ")
    assert local_queue.states(["0"])[0].state == "succeeded"


def test_an_unwritable_record_is_one_line(research_repo: Path, cli) -> None:
    with unwritable(research_repo / "results.tsv"):
        result = cli("eval", "--", *printing("---", "val_bpb: 1"), cwd=research_repo)
    assert result.code == 1
    line = one_line(result.err)  # the pre-run check says it before anything runs
    assert line.startswith("harness: cannot write the record ") and "results.tsv" in line


def test_an_unwritable_record_lock_is_one_line(research_repo: Path, cli) -> None:
    lock = research_repo / ".git" / "harness" / "record.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.touch()
    with unwritable(lock):
        result = cli("journal", "add", "--observation", "seen", cwd=research_repo)
    assert result.code == 1
    assert one_line(result.err).startswith(f"harness: cannot open the lock {lock}: ")


def test_a_full_disk_when_the_row_is_appended_is_one_line(research_repo: Path, cli) -> None:
    """/dev/full answers every write with ENOSPC, as a full disk does."""
    record = research_repo / "results.tsv"
    record.unlink()
    record.symlink_to("/dev/full")
    result = cli("eval", "--", *printing("---", "val_bpb: 1"), cwd=research_repo)
    assert result.code == 1
    assert "No space left on device" in one_line(result.err)


def test_an_unwritable_import_folder_imports_nothing(research_repo: Path, cli, tmp_path) -> None:
    table = tmp_path / "theirs.tsv"
    table.write_text("commit\tval_bpb\tstatus\tdescription\na1b2c3d\t0.99\tkeep\tx\n")
    folder = research_repo / ".git" / "harness" / "imports"
    folder.mkdir(parents=True)
    before = (research_repo / "results.tsv").read_bytes()
    with unwritable(folder):
        result = cli("results", "import", str(table), cwd=research_repo)
    assert result.code == 1
    assert one_line(result.err).startswith(f"harness: cannot keep a copy of theirs.tsv in {folder}")
    assert (research_repo / "results.tsv").read_bytes() == before


def test_an_os_error_no_command_caught_is_one_line(tmp_path: Path, cli) -> None:
    """The command line's safety net: here init meets a .gitignore that is a folder."""
    (tmp_path / "project" / ".gitignore").mkdir(parents=True)
    result = cli("init", "project", cwd=tmp_path)
    assert result.code == 1
    assert one_line(result.err) == (
        f"harness: {tmp_path}/project/.gitignore: Is a directory: check the path and try again"
    )


def test_os_errors_are_described_with_their_fix(tmp_path: Path) -> None:
    full = OSError(28, "No space left on device", str(tmp_path / "results.tsv"))
    assert describe_os_error(full) == (
        f"{tmp_path}/results.tsv: No space left on device: free some space on that file system"
    )
    read_only = OSError(30, "Read-only file system", "/mnt/x", None, "/mnt/y")
    assert describe_os_error(read_only) == (
        "/mnt/x -> /mnt/y: Read-only file system: the file system is mounted read-only: "
        "use a writable one"
    )
    assert describe_os_error(OSError(13, "Permission denied")) == (
        "Permission denied: make it writable for this user"
    )


def test_a_bug_is_one_line_and_its_traceback_is_kept(
    research_repo: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stand-in bug (the status summary raising) shows the command line's last net; the
    suite itself runs with HARNESS_DEBUG=1, where a bug raises as it is."""
    monkeypatch.delenv("HARNESS_DEBUG", raising=False)

    def broken(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr("harness.loop.status.summarise", broken)
    result = cli("status", cwd=research_repo)
    assert result.code == 1
    match = re.fullmatch(
        r"harness: internal error \(ZeroDivisionError: division by zero\): a bug in harness, "
        r"please report it with the traceback in (\S+) \(HARNESS_DEBUG=1 shows it here\)",
        one_line(result.err),
    )
    assert match is not None, result.err
    saved = Path(match.group(1))
    assert "in broken" in saved.read_text() and "ZeroDivisionError" in saved.read_text()
    saved.unlink()
    monkeypatch.setenv("HARNESS_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        cli("status", cwd=research_repo)


# -- argument errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ("idea", "show", "-x"),
            "harness: idea show: missing SLUG (values starting with '-' are read as options: "
            "put them after `--`) (see `harness idea show --help`)",
        ),
        (
            ("idea", "new", "--title", "t", "--", "-x"),
            "harness: bad idea slug '-x': use lowercase letters, digits and single dashes "
            "(at most 60 characters), e.g. lr-warmup",
        ),
        (
            ("frobnicate",),
            "harness: unknown command or argument: frobnicate (see `harness --help`)",
        ),
        (
            ("results", "compare", "baseline"),
            "harness: results compare: missing RUN_OR_IDEA (see `harness results compare --help`)",
        ),
        (
            ("eval", "--seed", "x"),
            "harness: eval: --seed needs INT, got 'x' (see `harness eval --help`)",
        ),
        (
            ("init", "--direction", "up"),
            "harness: init: --direction must be one of min, max, got 'up' "
            "(see `harness init --help`)",
        ),
        (
            ("queue",),
            "harness: queue: a command is needed: one of add, status, log, follow, wait, kill "
            "(see `harness queue --help`)",
        ),
        (
            ("queue", "add", "--seeds"),
            "harness: queue add: --seeds needs a value (see `harness queue add --help`)",
        ),
        (("status", "--colour"), "harness: unknown option: --colour (see `harness --help`)"),
    ],
)  # fmt: skip
def test_argument_errors_are_one_line(research_repo: Path, cli, args, line: str) -> None:
    result = cli(*args, cwd=research_repo)
    assert result.code == 2
    assert one_line(result.err) == line


def test_an_argument_that_is_not_utf8_is_one_line(research_repo: Path, cli) -> None:
    result = cli("idea", "new", "good", "--title", "caf\udce9", cwd=research_repo)
    assert result.code == 2
    assert one_line(result.err) == (
        "harness: argument 5 is not valid UTF-8 (byte 0xe9): give it as UTF-8 text"
    )
    assert list((research_repo / "1_ideas").glob("*_good.md")) == []
    # after `--` it is the evaluation's own argument, passed on as the bytes it was
    code = "import sys; print(sys.argv[1].encode('utf-8', 'surrogateescape')); print('---')"
    command = ["python", "-c", code + "; print('val_bpb: 1')", "caf\udce9"]
    ran = cli("eval", "--", *command, cwd=research_repo)
    assert ran.code == 0 and "b'caf\\xe9'" in ran.out


def test_help_keeps_its_full_output(research_repo: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "harness", "idea", "new", "--help"],
        cwd=research_repo,
        capture_output=True,
        text=True,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith("usage: harness idea new [-h]")
    assert "--title" in done.stdout and len(done.stdout.splitlines()) > 5


def test_a_real_process_prints_one_line_for_an_argument_error(research_repo: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "harness", "idea", "show", "-bad"],
        cwd=research_repo,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert one_line(done.stderr).startswith("harness: idea show: missing SLUG")
