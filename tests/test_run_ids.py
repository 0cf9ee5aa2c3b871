"""Run ids: sortable by time, unique by construction, and refused twice by the record."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from harness.errors import RecordError
from harness.layout import find_layout
from harness.record.results import append_rows, new_run_id, read_results
from tests.test_results import row

RUN_ID = re.compile(r"\d{8}-\d{6}\.\d{3}-[0-9a-hjkmnp-tv-z]{16}")


def test_a_run_id_is_its_utc_time_to_the_millisecond_and_80_random_bits(monkeypatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Kolkata")  # the local clock must not leak into the id
    time.tzset()
    run_id = new_run_id()
    monkeypatch.undo()
    time.tzset()
    assert RUN_ID.fullmatch(run_id), run_id
    stamp = datetime.strptime(run_id[:19] + "+0000", "%Y%m%d-%H%M%S.%f%z")
    assert abs((datetime.now(UTC) - stamp).total_seconds()) < 5
    many = {new_run_id() for _ in range(20000)}
    assert len(many) == 20000
    tails = {run_id.rsplit("-", 1)[1] for run_id in many}
    assert len({tail[0] for tail in tails}) == 32  # every base32 digit turns up first


def test_later_run_ids_sort_after_earlier_ones() -> None:
    earlier = new_run_id()
    time.sleep(0.002)
    later = new_run_id()
    assert earlier < later and sorted([later, earlier]) == [earlier, later]


def test_a_run_id_already_recorded_is_refused_and_nothing_is_appended(
    research_repo: Path,
) -> None:
    layout = find_layout(research_repo)
    append_rows(layout, [row("20260101-000000.000-aaaaaaaaaaaaaaaa", 1.0)])
    before = layout.results_tsv.read_bytes()
    with pytest.raises(RecordError, match=r"run id 20260101-000000\.000-a{16} is in .* already"):
        append_rows(layout, [row("fresh", 2.0), row("20260101-000000.000-aaaaaaaaaaaaaaaa", 3.0)])
    with pytest.raises(RecordError, match="run id twice is twice among the new rows"):
        append_rows(layout, [row("twice", 2.0), row("twice", 3.0)])
    assert layout.results_tsv.read_bytes() == before
    append_rows(layout, [row("20260101-000000.000-aaaaaaaaaaaaaaab", 1.0)])  # a prefix differs
    assert read_results(layout.results_tsv).height == 2


def test_concurrent_writers_of_one_run_id_leave_exactly_one_row(research_repo: Path) -> None:
    """Eight processes race to append the same run id: the record lock lets one through."""
    code = (
        "import sys\n"
        "from harness.errors import RecordError\n"
        "from harness.layout import find_layout\n"
        "from harness.record.results import append_rows\n"
        "from tests.test_results import row\n"
        "try:\n"
        "    append_rows(find_layout(), [row('same-id', float(sys.argv[1]))])\n"
        "except RecordError:\n"
        "    sys.exit(9)\n"
    )
    root = Path(__file__).resolve().parents[1]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(i)],
            cwd=research_repo,
            env={**os.environ, "PYTHONPATH": str(root)},
        )
        for i in range(8)
    ]
    codes = sorted(proc.wait(timeout=120) for proc in procs)
    assert codes == [0] + [9] * 7
    frame = read_results(research_repo / "results.tsv")
    assert frame.get_column("run_id").to_list() == ["same-id"]
