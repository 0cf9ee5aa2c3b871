"""The chain of results.tsv: old files without it, sealing them once, concurrent writers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.errors import RecordError
from harness.layout import find_layout
from harness.record.chain import check_chain
from harness.record.results import append_rows, format_row, read_record, upgrade_header
from harness.record.schema import FIRST_COLUMNS, RESULTS_COLUMNS, header_line

CHAIN = tuple(RESULTS_COLUMNS).index("chain")


def row(number: int, value: float = 1.0) -> dict:
    return {
        "run_id": f"run-{number:04d}",
        "idea": "baseline",
        "metric": "val_bpb",
        "value": value,
        "status": "ok",
        "integrity": "ok",
        "seed": number,
    }


def write_unsealed(path: Path, count: int) -> None:
    """A file as the harness wrote it before the chain: the column there, its values empty."""
    path.write_text(header_line() + "".join(format_row(row(n)) for n in range(count)))


def test_rows_from_before_the_chain_count_and_the_chain_starts_at_the_next_append(
    research_repo: Path,
) -> None:
    path = research_repo / "results.tsv"
    write_unsealed(path, 3)

    frame, chain = read_record(path)
    assert (frame.height, chain.trusted, chain.unsealed, chain.is_broken) == (3, 3, 3, False)
    assert chain.warning() == (
        "results.tsv has 3 row(s) from before the chain (not tamper-evident): seal them once "
        "with `harness results upgrade`"
    )

    append_rows(find_layout(research_repo), [row(3), row(4)])

    frame, chain = read_record(path)
    assert (frame.height, chain.trusted, chain.unsealed, chain.is_broken) == (5, 5, 3, False)
    # a row appended without a value after the chain started is a break
    with path.open("a") as handle:
        handle.write(format_row(row(5)))
    _, chain = read_record(path)
    assert (chain.broken_line, chain.trusted) == (7, 5)
    assert chain.how == "a row without a chain value after the chain started: written by hand"


def test_upgrade_seals_an_old_file_once(research_repo: Path, cli) -> None:
    path = research_repo / "results.tsv"
    old = [format_row(row(n), FIRST_COLUMNS) for n in range(2)]
    path.write_text(header_line(FIRST_COLUMNS) + "".join(old))  # the first release's layout

    first = cli("results", "upgrade", cwd=research_repo)
    second = cli("results", "upgrade", cwd=research_repo)

    assert first.out == "added 4 columns to the header; sealed 2 rows into the chain\n"
    assert second.out == "the header is current and every row sealed already\n"
    frame, chain = read_record(path)
    assert frame["value"].to_list() == [1.0, 1.0]  # values unchanged
    assert (chain.unsealed, chain.is_broken, chain.warning()) == (0, False, None)
    lines = path.read_text().splitlines()
    lines[1] = lines[1].replace("run-0000", "run-9999")
    path.write_text("\n".join(lines) + "\n")
    assert read_record(path)[1].broken_line == 2  # sealed from the first row on


def test_upgrade_refuses_to_seal_a_broken_chain(research_repo: Path) -> None:
    path = research_repo / "results.tsv"
    layout = find_layout(research_repo)
    append_rows(layout, [row(0), row(1), row(2)])
    text = path.read_text().replace("run-0001", "run-0009")
    path.write_text(text)

    with pytest.raises(RecordError) as caught:
        upgrade_header(layout)

    assert str(caught.value).startswith("results.tsv line 3 breaks the record's chain")
    assert str(caught.value).endswith("; nothing was sealed")
    assert path.read_text() == text


def test_a_break_in_a_layout_where_chain_is_not_the_last_column() -> None:
    """A future column after `chain`: the check splits the line instead of cutting it."""
    header = b"\t".join([*(name.encode() for name in RESULTS_COLUMNS), b"later"])
    rows = [format_row(row(n)).rstrip("\n").encode() + b"\tx" for n in range(3)]
    from harness.record.chain import seal_lines

    sealed = seal_lines(b"", rows, CHAIN)
    data = b"\n".join([header, *sealed]) + b"\n"
    assert not check_chain(data, CHAIN).is_broken
    edited = data.replace(b"run-0001", b"run-000x")
    assert check_chain(edited, CHAIN).broken_line == 3


APPENDER = """
import sys
from pathlib import Path
from harness.layout import find_layout
from harness.record.results import append_rows
root, name = Path(sys.argv[1]), sys.argv[2]
while not (root / "go").exists():
    pass
layout = find_layout(root)
for i in range(25):
    append_rows(layout, [{"run_id": f"{name}-{i}", "status": "ok", "question": "x" * 2000}])
"""


def test_concurrent_appends_from_many_processes_keep_the_chain(research_repo: Path) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", APPENDER, str(research_repo), f"writer{n}"],
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(6)
    ]
    (research_repo / "go").touch()
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err

    frame, chain = read_record(research_repo / "results.tsv")

    assert frame.height == 150
    assert (chain.is_broken, chain.unsealed, chain.trusted) == (False, 0, 150)
