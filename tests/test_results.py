"""results.tsv: whole rows appended, typed reads, and clear errors for rows it cannot read."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from harness.config import Config
from harness.errors import RecordError
from harness.layout import find_layout
from harness.record.results import append_rows, best_run, format_row, read_results
from harness.record.schema import RESULTS_COLUMNS, header_line


def row(run_id: str, value: float | None, **fields) -> dict:
    base = {
        "run_id": run_id,
        "timestamp": "2026-01-01T00:00:00Z",
        "idea": "baseline",
        "branch": "main",
        "commit": "abc",
        "dirty": False,
        "seed": 0,
        "metric": "val_bpb",
        "value": value,
        "status": "ok",
        "duration_s": 1.0,
        "integrity": "ok",
    }
    return {**base, **fields}


def write_rows(repo: Path, *rows: dict) -> None:
    append_rows(find_layout(repo), rows)


def test_rows_read_back_typed_and_every_text_stays_on_its_line(research_repo: Path) -> None:
    nasty = "tab\there\nnewline\r\nand\u2028separator"
    extra = {"note": "a\tb", "k": 1}
    write_rows(research_repo, row("r1", 1.5, question=nasty, extra=extra, description=nasty))
    write_rows(research_repo, row("r2", None, status="crash", seed=None, dirty=None))
    text = (research_repo / "results.tsv").read_text()
    assert text.startswith(header_line()) and text.count("\n") == 3
    assert all(line.count("\t") == len(RESULTS_COLUMNS) - 1 for line in text.splitlines())
    first, second = read_results(research_repo / "results.tsv").to_dicts()
    assert first["question"] == "tab here newline  and separator"
    assert json.loads(first["extra"]) == {"note": "a\tb", "k": 1}
    assert (first["value"], first["seed"], first["dirty"]) == (1.5, 0, False)
    assert (second["value"], second["seed"], second["dirty"]) == (None, None, None)


def test_a_new_results_file_gets_the_header(research_repo: Path) -> None:
    (research_repo / "results.tsv").unlink()
    write_rows(research_repo, row("r1", 2.0))
    assert (research_repo / "results.tsv").read_text().startswith(header_line())
    assert read_results(research_repo / "results.tsv")["run_id"].to_list() == ["r1"]


def test_a_row_is_never_glued_to_a_line_without_its_newline(research_repo: Path) -> None:
    path = research_repo / "results.tsv"
    write_rows(research_repo, row("r1", 1.0))
    path.write_text(path.read_text().rstrip("\n"))  # an editor dropped the last newline
    write_rows(research_repo, row("r2", 2.0))
    assert read_results(path)["run_id"].to_list() == ["r1", "r2"]


def torn(path: Path, line: str) -> None:
    with path.open("a") as handle:
        handle.write(line)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda p: torn(p, "r9\t2026\tbaseline\n"), "line 3 has 3 fields, expected 24"),
        (lambda p: torn(p, "\n"), "line 3 is empty"),
        (
            lambda p: p.write_bytes(
                p.read_bytes() + format_row(row("r9", 1.0)).encode()[:-1] + b"\xff\n"
            ),
            "line 3 is not valid UTF-8",
        ),
        (
            lambda p: torn(p, format_row(row("r9", 1.0)).replace("\t0\tval_bpb", "\tx\tval_bpb")),
            "line 3: column seed holds 'x', not an integer",
        ),
        (
            lambda p: torn(p, format_row(row("r9", 1.0)).replace("\t1.0\tok", "\tlow\tok")),
            "line 3: column value holds 'low', not a number",
        ),
        (
            lambda p: torn(p, format_row(row("r9", 1.0)).replace("\tfalse\t", "\tmaybe\t")),
            "line 3: column dirty holds 'maybe', not true or false",
        ),
    ],
)
def test_an_unreadable_row_is_named_and_never_rewritten(
    research_repo: Path, cli, damage, message: str
) -> None:
    path = research_repo / "results.tsv"
    write_rows(research_repo, row("r1", 1.0))
    damage(path)
    before = path.read_bytes()
    result = cli("results", cwd=research_repo)
    assert result.code == 1 and result.out == ""
    assert result.err.startswith(f"harness: {path} {message}")
    assert result.err.count("\n") == 1
    assert path.read_bytes() == before
    with pytest.raises(RecordError, match=message):
        read_results(path)


def test_a_missing_column_is_named(research_repo: Path, cli) -> None:
    path = research_repo / "results.tsv"
    path.write_text(header_line().replace("\tintegrity", ""))
    result = cli("results", "best", cwd=research_repo)
    assert result.code == 1
    assert result.err == (
        f"harness: {path} line 1 is not the harness header (no column integrity): if the "
        "file came from another tool, adopt it with `harness results import FILE`\n"
    )


def test_best_counts_only_valid_runs_in_the_configured_direction(research_repo: Path) -> None:
    write_rows(
        research_repo,
        row("ok-high", 3.0),
        row("ok-low", 2.0),
        row("crash", 0.5, status="crash"),
        row("cheat", 0.1, integrity="modified"),
        row("other-metric", 0.2, metric="test_bpb"),
        row("diverged", math.nan),
        row("ok-low-later", 2.0),
    )
    frame = read_results(research_repo / "results.tsv")
    assert (best_run(frame, Config(direction="min")) or {})["run_id"] == "ok-low"
    assert (best_run(frame, Config(direction="max")) or {})["run_id"] == "ok-high"
    assert (best_run(frame, Config(), exclude="ok-low") or {})["run_id"] == "ok-low-later"
    assert best_run(frame.head(0), Config()) is None


def test_the_results_commands(research_repo: Path, cli) -> None:
    assert cli("results", cwd=research_repo).out.startswith("no runs recorded yet")
    empty = json.loads(cli("results", "best", "--json", cwd=research_repo).out)
    assert empty["best_run"] is None and empty["head"]["mean"] is None
    write_rows(
        research_repo,
        row("r1", 1.5, question="q one"),
        row("r2", 1.25, idea="wider", branch="exp/wider", seed=3),
    )
    table = cli("results", cwd=research_repo).out.splitlines()
    assert table[0].split()[:3] == ["run", "when", "(UTC)"]
    assert table[1].split()[:6] == ["r1", "2026-01-01", "00:00", "baseline", "0", "1.5"]
    only = json.loads(cli("results", "--idea", "wider", "--json", cwd=research_repo).out)
    assert [(r["run_id"], r["seed"], r["value"]) for r in only] == [("r2", 3, 1.25)]
    csv = cli("results", "show", "--csv", cwd=research_repo).out.splitlines()
    assert csv[0] == ",".join(RESULTS_COLUMNS) and len(csv) == 3
    best = cli("results", "best", cwd=research_repo).out
    single = "best single run val_bpb: 1.25 (lowest valid), run r2, idea wider, seed 3"
    assert best.startswith(single)
    best_json = json.loads(cli("results", "best", "--json", cwd=research_repo).out)
    assert best_json["best_run"]["run_id"] == "r2"


def test_an_older_header_is_read_appended_in_its_layout_and_upgraded(
    research_repo: Path, cli
) -> None:
    from harness.layout import find_layout
    from harness.record.schema import FIRST_COLUMNS

    path = research_repo / "results.tsv"
    old = FIRST_COLUMNS
    path.write_text(header_line(tuple(old)) + format_row(row("r1", 1.5), old))
    layout = find_layout(research_repo)
    append_rows(layout, [row("r2", 1.25) | {"code": "abc", "agent": "me"}])
    lines = path.read_text().splitlines()
    assert [line.count("\t") for line in lines] == [len(old) - 1] * 3  # its own layout
    frame = read_results(path)
    assert frame["value"].to_list() == [1.5, 1.25] and frame["code"].to_list() == [None, None]

    assert cli("results", "upgrade", cwd=research_repo).out.startswith("added 4 columns")
    upgraded = read_results(path)
    assert path.read_text().startswith(header_line())
    assert upgraded["value"].to_list() == [1.5, 1.25]
    append_rows(layout, [row("r3", 1.0) | {"code": "abc"}])
    assert read_results(path)["code"].to_list() == [None, None, "abc"]
