"""Adopting a results table of another layout (autoresearch's, for one)."""

from __future__ import annotations

import json
from pathlib import Path

from harness.record.results import read_results
from harness.record.schema import header_line
from tests.conftest import commit_files

AUTORESEARCH = (
    "commit\tval_bpb\tmemory_gb\tstatus\tdescription\n"
    "a1b2c3d\t0.997900\t44.0\tkeep\tbaseline\n"
    "b2c3d4e\t0.993200\t44.2\tkeep\tincrease LR to 0.04\n"
    "c3d4e5f\t1.005000\t44.0\tdiscard\tswitch to GeLU activation\n"
    "d4e5f6g\t0.000000\t0.0\tcrash\tdouble model width (OOM)\n"
)


def test_the_root_results_file_of_another_layout_is_adopted(research_repo: Path, cli) -> None:
    commit_files(research_repo, {"results.tsv": AUTORESEARCH}, "an earlier loop's record")
    result = cli("results", "import", "results.tsv", cwd=research_repo)
    assert result.code == 0, result.err
    path = research_repo / "results.tsv"
    assert path.read_text().startswith(header_line())
    rows = read_results(path).to_dicts()
    assert [(r["commit"], r["value"], r["status"]) for r in rows] == [
        ("a1b2c3d", 0.9979, "ok"),
        ("b2c3d4e", 0.9932, "ok"),
        ("c3d4e5f", 1.005, "ok"),
        ("d4e5f6g", None, "crash"),  # a crash's 0.0 is not a result
    ]
    assert rows[3]["description"] == "double model width (OOM)"
    # each row is its own experiment, named by its commit
    assert [r["idea"] for r in rows] == ["a1b2c3d", "b2c3d4e", "c3d4e5f", "d4e5f6g"]
    assert rows[0]["run_id"].startswith("import-")
    extra = json.loads(rows[2]["extra"])
    assert extra == {
        "imported_from": "results.tsv",
        "source_line": 4,
        "source_status": "discard",
        "decision": "discard",
        "memory_gb": 44.0,
    }
    copy = Path(result.out.split("the original is kept in ")[1].strip())
    assert copy.read_text() == AUTORESEARCH
    assert "imported 4 rows (3 valid)" in result.out
    best = cli("results", "best", cwd=research_repo).out
    assert best.startswith("best single run val_bpb: 0.9932 (lowest valid)")
    again = cli("results", "import", str(copy), cwd=research_repo)
    assert again.code == 0, again.err
    assert (
        again.out.startswith("imported 0 rows (0 valid)")
        and "4 were on record already" in again.out
    )
    assert len(read_results(path)) == 4


def test_another_file_is_appended_and_evaluations_go_on(research_repo: Path, cli) -> None:
    source = research_repo.parent / "old.tsv"
    source.write_text("commit\tscore\tseed\tstatus\nabc\t2.5\t3\tkeep\n")
    result = cli("results", "import", str(source), "--metric-column", "score", cwd=research_repo)
    assert result.code == 0, result.err
    command = ["python", "-c", "print('---'); print('val_bpb: 2.0')"]
    assert cli("eval", "--", *command, cwd=research_repo).code == 0
    rows = read_results(research_repo / "results.tsv").to_dicts()
    assert [(r["idea"], r["seed"], r["value"], r["metric"]) for r in rows] == [
        ("abc", 3, 2.5, "val_bpb"),
        ("baseline", 0, 2.0, "val_bpb"),
    ]


def test_a_file_that_cannot_be_imported_changes_nothing(research_repo: Path, cli) -> None:
    before = (research_repo / "results.tsv").read_bytes()
    ragged = research_repo.parent / "ragged.tsv"
    ragged.write_text("commit\tval_bpb\tstatus\nabc\t1.0\nbcd\t1.1\tkeep\n")
    result = cli("results", "import", str(ragged), cwd=research_repo)
    assert result.code == 1
    assert result.err == (
        f"harness: {ragged} line 2 has 2 fields, expected 3: repair that line, then import "
        "again (nothing was imported)\n"
    )
    nameless = research_repo.parent / "nameless.tsv"
    nameless.write_text("commit\tloss\nabc\t1.0\n")
    result = cli("results", "import", str(nameless), cwd=research_repo)
    assert result.code == 2
    assert "has no column 'val_bpb' (columns: commit, loss)" in result.err
    assert (research_repo / "results.tsv").read_bytes() == before


def test_init_offers_the_import(tmp_path: Path, cli) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "results.tsv").write_text(AUTORESEARCH)
    result = cli("init", str(project), cwd=tmp_path)
    assert result.code == 0
    assert "skipped  results.tsv (exists)" in result.out
    assert "adopt its rows with `harness results import results.tsv`" in result.out
    assert (project / "results.tsv").read_text() == AUTORESEARCH
