"""Check before running, keep after running: unwritable places and full disks, for real.

An unwritable record, lock, logs folder or queue folder is found before anything runs
(made unwritable for root too, with a read-only bind mount); a disk that fills during the
run (a small tmpfs holding the logs folder, or the whole repository) costs the log's
tail at most, never the row. Mounting needs root: elsewhere these tests skip and say so.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from harness.record.results import read_results
from tests.accounting_helpers import read_only, tmpfs

LOUD_EVAL = (
    "import sys\n"
    "line = 'x' * 99\n"
    "for _ in range(30000):\n"  # 3 MB of output, more than the logs folder holds
    "    print(line)\n"
    "print('---')\n"
    "print('val_bpb: 2.5')\n"
)
FILLING_EVAL = (  # fills the disk it runs on, then reports its metric
    "import os\n"
    "chunk = b'\\0' * 65536\n"
    "with open('filler.bin', 'wb') as handle:\n"
    "    try:\n"
    "        while True:\n"
    "            handle.write(chunk)\n"
    "            handle.flush()\n"
    "    except OSError:\n"
    "        pass\n"
    "print('filled', flush=True)\n"
    "print('---')\n"
    "print('val_bpb: 2.5')\n"
)


def rows(repo: Path) -> list[dict]:
    if not (repo / "results.tsv").exists():
        return []
    return list(read_results(repo / "results.tsv").iter_rows(named=True))


def run_records(repo: Path) -> list[Path]:
    return sorted((repo / ".git" / "harness" / "runs").glob("*.json"))


@pytest.mark.parametrize(
    ("what", "relative"),
    [
        ("the record", "results.tsv"),
        ("the record lock", ".git/harness/record.lock"),
        ("the logs folder", ".git/harness/logs"),
        ("the queue folder", ".git/harness/queue/logs"),
        ("the run records folder", ".git/harness/runs"),
    ],
)
def test_an_unwritable_place_is_named_before_anything_runs(
    research_repo: Path, cli, tmp_path: Path, what: str, relative: str
) -> None:
    target = research_repo / relative
    if relative.endswith((".lock", ".tsv")):
        target.parent.mkdir(parents=True, exist_ok=True)
        target.touch()
    else:
        target.mkdir(parents=True, exist_ok=True)
    before = (research_repo / "results.tsv").read_bytes()
    ran = tmp_path / "ran"
    command = f"open({str(ran)!r}, 'w').close(); print('---'); print('val_bpb: 2.5')"
    with read_only(target):
        result = cli("eval", "--", sys.executable, "-c", command, cwd=research_repo)
    assert result.code == 1
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert f"cannot write {what} {target}" in lines[0] and "nothing was run" in lines[0]
    assert not ran.exists()
    assert (research_repo / "results.tsv").read_bytes() == before
    assert run_records(research_repo) == []


def test_a_full_logs_folder_costs_the_log_not_the_run(research_repo: Path, cli) -> None:
    logs = research_repo / ".git" / "harness" / "logs"
    with tmpfs(logs, size="1m"):
        result = cli("eval", "--", sys.executable, "-c", LOUD_EVAL, cwd=research_repo)
        (row,) = rows(research_repo)
        log = Path(json.loads(row["extra"])["log"])
        assert log.stat().st_size > 500_000  # what fitted is kept
    assert result.code == 0, result.err
    assert row["status"] == "ok" and row["value"] == 2.5
    assert "warning: the log stopped after" in row["description"]
    assert "No space left on device" in row["description"]
    journal = (research_repo / "RESEARCH_JOURNAL.md").read_text()
    assert f"run {row['run_id']} " in journal
    assert run_records(research_repo) == []


def test_a_disk_filled_during_the_run_still_gets_the_row_and_the_entry(
    research_repo: Path, cli, tmp_path: Path
) -> None:
    """The whole repository on a small tmpfs that the evaluation fills up."""
    with tmpfs(tmp_path / "disk", size="4m") as disk:
        repo = disk / "research"
        shutil.copytree(research_repo, repo, symlinks=True)
        result = cli("eval", "--", sys.executable, "-c", FILLING_EVAL, cwd=repo)
        assert result.code == 0, result.err
        (row,) = rows(repo)
        assert row["status"] == "ok" and row["value"] == 2.5
        assert f"run {row['run_id']} " in (repo / "RESEARCH_JOURNAL.md").read_text()
        assert run_records(repo) == []
        free = shutil.disk_usage(disk).free
        assert free < 300_000  # the disk is still (nearly) full: the reserve made room

        # the next run, on a disk full to the last byte, is refused before it starts
        fd = os.open(repo / "filler2.bin", os.O_WRONLY | os.O_CREAT)
        with pytest.raises(OSError):
            while True:
                os.write(fd, b"\0" * 4096)
        os.close(fd)
        before = (repo / "results.tsv").read_bytes()
        # (the filler files are untracked: --allow-dirty, or the dirty check would speak first)
        again = cli("eval", "--allow-dirty", "--", sys.executable, "-c", FILLING_EVAL, cwd=repo)
        assert again.code == 1
        assert len(again.err.strip().splitlines()) == 1 and "nothing was run" in again.err
        assert (repo / "results.tsv").read_bytes() == before
        assert run_records(repo) == []
