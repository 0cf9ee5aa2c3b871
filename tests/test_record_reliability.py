"""The record under stress: concurrent writers from many worktrees, and killed writers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import git

from harness.record.results import read_results
from harness.record.schema import RESULTS_COLUMNS
from harness.rules.appendonly import is_valid_append, split_header


def test_sixteen_evaluations_from_four_worktrees_at_once(research_repo: Path) -> None:
    old_journal = (research_repo / "RESEARCH_JOURNAL.md").read_text()
    worktrees = []
    for slug in ("alpha", "beta", "gamma", "delta"):
        path = research_repo / "5_worktrees" / slug
        git(research_repo, "worktree", "add", "-q", "-b", f"exp/{slug}", str(path))
        worktrees.append(path)
    # every run prints a long label with tabs and newlines, so a torn write would show
    code = "import os; print('---'); print('val_bpb:', 1 + int(os.environ['HARNESS_SEED']) / 100)"
    label = "x" * 3000
    procs = [
        subprocess.Popen(
            [
                *(sys.executable, "-m", "harness", "eval", "--seed", str(seed)),
                *("-q", f"run {seed}\tof\n{path.name} {label}", "--", "python", "-c", code),
            ],
            cwd=path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for path in worktrees
        for seed in range(4)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
    text = (research_repo / "results.tsv").read_text()
    assert all(line.count("\t") == len(RESULTS_COLUMNS) - 1 for line in text.splitlines())
    rows = read_results(research_repo / "results.tsv").to_dicts()
    assert sorted((r["idea"], r["seed"]) for r in rows) == sorted(
        (p.name, s) for p in worktrees for s in range(4)
    )
    assert all(r["value"] == 1 + r["seed"] / 100 and r["status"] == "ok" for r in rows)
    assert all(r["question"].startswith(f"run {r['seed']} of {r['idea']} x") for r in rows)
    journal = (research_repo / "RESEARCH_JOURNAL.md").read_text()
    assert is_valid_append(old_journal, journal)
    _, body = split_header(journal)
    for row in rows:
        assert body.count(f"· run {row['run_id']} ·") == 1


WRITER = """
import sys
from pathlib import Path
from harness.rules.appendonly import prepend_entry
path, lock = Path(sys.argv[1]), Path(sys.argv[2])
print("ready", flush=True)
prepend_entry(path, "## new entry\\n\\n" + "y" * 20_000_000 + "\\n", lock_path=lock)
"""


def start_writer(journal: Path, lock: Path, size: int = 20_000_000) -> subprocess.Popen:
    script = WRITER.replace("20_000_000", str(size))
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(journal), str(lock)], stdout=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    return proc


def temporaries(journal: Path) -> set[Path]:
    return set(journal.parent.glob(f".{journal.name}.*"))


def test_a_writer_killed_during_a_journal_update_leaves_the_old_journal(tmp_path: Path) -> None:
    """SIGKILL while the new 20 MB journal is being written: the old one stays, whole."""
    journal = tmp_path / "RESEARCH_JOURNAL.md"
    lock = tmp_path / "record.lock"
    old = "# Research journal\n\nHeader text.\n\n## first entry\n\n" + "z" * 5_000_000 + "\n"
    journal.write_text(old)
    interrupted = 0
    for _ in range(3):
        before = temporaries(journal)
        proc = start_writer(journal, lock)
        deadline = time.monotonic() + 30
        while not (temporaries(journal) - before) and proc.poll() is None:
            assert time.monotonic() < deadline, "the writer never started its temporary file"
            time.sleep(0.0005)
        proc.send_signal(signal.SIGKILL)  # the new text is being written: kill it mid-way
        proc.wait(timeout=30)
        text = journal.read_text()
        if temporaries(journal) - before:  # killed before the rename: the old text, whole
            assert text == old
            interrupted += 1
        else:  # the rename won the race: the whole new text
            assert is_valid_append(old, text) and text.count("## new entry") == 1
        journal.write_text(old)
    assert interrupted >= 1
    # the kernel released the killed writers' lock: the next writer gets through
    assert temporaries(journal), "the killed writers left their temporary files"
    start_writer(journal, lock, size=10).wait(timeout=60)
    new = journal.read_text()
    assert is_valid_append(old, new) and new.count("## new entry") == 1
    assert not temporaries(journal), "the next writer cleared the stale temporary files"


def test_an_evaluation_killed_by_a_signal_still_gets_its_row(research_repo: Path, cli) -> None:
    code = "import os, signal; print('oom?', flush=True); os.kill(os.getpid(), signal.SIGKILL)"
    result = cli("eval", "--", "python", "-c", code, cwd=research_repo)
    assert result.code == 1
    (row,) = read_results(research_repo / "results.tsv").to_dicts()
    assert row["status"] == "crash"
    assert row["description"] == f"exit code {128 + int(signal.SIGKILL)}; log tail: oom?"
    assert os.path.exists(research_repo / "RESEARCH_JOURNAL.md")
