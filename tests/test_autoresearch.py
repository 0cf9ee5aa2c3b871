"""Adopting a clone shaped like karpathy/autoresearch, the path its users walk.

The fixture is written here from autoresearch's published layout, not copied: `prepare.py`
(fixed: data and evaluation), `train.py` (the research code; prints a `---` block with
`val_bpb`, `peak_vram_mb`, ... and ignores any seed), `program.md`, a `pyproject.toml`
run with `uv run train.py`, a `.gitignore` that ignores `results.tsv`, and an untracked
`results.tsv` with columns `commit val_bpb memory_gb status description` (keep / discard /
crash) on a `master` branch. Steps that need `uv` run it for real when it is installed
(CI installs it from PyPI) and are skipped with the reason otherwise.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest

from harness.config import load_config
from harness.gitops import ignored_paths
from harness.record.results import read_results
from tests.conftest import git

TRAIN = """\
# The research code: trains for a fixed budget, then reports (the seed is hard-coded).
import sys

SEED = 42
LEARNING_RATE = 0.04

val_bpb = 1.0 - LEARNING_RATE / 10
print("---")
print(f"val_bpb:          {val_bpb:.6f}")
print("training_seconds: 300.1")
print("peak_vram_mb:     45060.2")
print("num_steps:        953")
"""

PREPARE = "# Fixed: downloads the data, trains the tokenizer, holds the evaluation.\n"

PROGRAM = """\
# autoresearch

Run experiments on train.py for five minutes each; keep the commit when val_bpb improves.
"""

PYPROJECT = """\
[project]
name = "autoresearch"
version = "0.1.0"
requires-python = ">=3.10"
dependencies = []
"""

GITIGNORE = "__pycache__/\n.venv\nresults.tsv\n"

ROWS = [
    ("a1b2c3d", "0.997900", "44.0", "keep", "baseline"),
    ("b2c3d4e", "0.993200", "44.2", "keep", "increase LR to 0.04"),
    ("c3d4e5f", "1.005000", "44.0", "discard", "switch to GeLU activation"),
    ("d4e5f6a", "0.000000", "0.0", "crash", "double model width (OOM)"),
    ("e5f6a7b", "0.987100", "44.3", "keep", "warmup 5% of steps"),
]


def results_text(rows: Sequence[tuple[str, ...]], *, newline: str = "\n", bom: bool = False) -> str:
    header = "commit\tval_bpb\tmemory_gb\tstatus\tdescription"
    text = newline.join(["\t".join(row) for row in [tuple(header.split("\t")), *rows]])
    return ("\ufeff" if bom else "") + text + newline


def autoresearch_clone(root: Path, *, results: str) -> Path:
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "master")
    files = {
        "train.py": TRAIN,
        "prepare.py": PREPARE,
        "program.md": PROGRAM,
        "pyproject.toml": PYPROJECT,
        ".gitignore": GITIGNORE,
    }
    for name, text in files.items():
        (root / name).write_text(text)
    if shutil.which("uv"):  # autoresearch commits its lock file
        git(root, "add", "pyproject.toml")
        import subprocess

        subprocess.run(["uv", "lock", "-q"], cwd=root, check=True, capture_output=True)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "autoresearch as cloned")
    (root / "results.tsv").write_text(results, newline="")
    return root


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    return autoresearch_clone(tmp_path / "autoresearch", results=results_text(ROWS))


def test_init_adopts_the_clone_on_master(clone: Path, cli) -> None:
    result = cli("init", ".", cwd=clone)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert (
        "detected the autoresearch layout (use --from harness to set up the harness's own)" in lines
    )
    assert "appended to pyproject.toml" in lines and "appended to .gitignore" in lines
    assert "created  pyproject.toml" not in lines and "created  .gitignore" not in lines
    assert "un-ignored results.tsv in .gitignore: the record is committed with the code" in lines
    assert "main branch: master (the current branch)" in lines
    assert "created  eval.py" not in lines and not (clone / "eval.py").exists()
    assert (clone / "program.md").read_text() == PROGRAM  # theirs, kept
    config = load_config(clone)
    assert config.main_branch == "master"
    assert config.eval == ("uv", "run", "train.py")
    assert config.rules.frozen[:2] == ("prepare.py", "program.md")
    assert config.timeout == 600 and config.show == ("memory_gb", "peak_vram_mb")
    assert ignored_paths(clone, ["results.tsv"]) == []  # git no longer ignores the record
    again = cli("init", ".", cwd=clone)
    assert "appended to" not in again.out and "un-ignored" not in again.out


def test_doctor_checks_the_configured_evaluation(clone: Path, cli) -> None:
    cli("init", ".", cwd=clone)
    result = cli("doctor", cwd=clone)
    tools = next(line for line in result.out.splitlines() if "tools" in line)
    layout = next(line for line in result.out.splitlines() if "layout" in line)
    assert layout.startswith("OK")  # prepare.py stands where eval.py would
    if shutil.which("uv"):
        assert tools.startswith("OK")
    else:
        assert "[tool.harness] eval runs 'uv', which is not on PATH (pip install uv)" in tools


@pytest.mark.parametrize(
    ("newline", "bom"), [("\n", False), ("\r\n", False), ("\n", True), ("\r\n", True)]
)
def test_import_makes_each_row_an_experiment(tmp_path: Path, cli, newline: str, bom: bool) -> None:
    clone = autoresearch_clone(
        tmp_path / "ar", results=results_text(ROWS, newline=newline, bom=bom)
    )
    cli("init", ".", cwd=clone)
    result = cli("results", "import", "results.tsv", cwd=clone)
    assert result.code == 0, result.err
    assert result.out.startswith("imported 5 rows (4 valid)")
    rows = read_results(clone / "results.tsv").to_dicts()
    assert [r["commit"] for r in rows] == [row[0] for row in ROWS]  # the BOM lost nothing
    assert [r["idea"] for r in rows] == [row[0] for row in ROWS]
    assert [r["description"] for r in rows] == [row[4] for row in ROWS]
    decisions = [json.loads(r["extra"]).get("decision") for r in rows]
    assert decisions == ["keep", "keep", "discard", None, "keep"]
    best = cli("results", "best", cwd=clone).out
    assert best.startswith("best single run val_bpb: 0.9871 (lowest valid)")
    assert "idea e5f6a7b" in best
    table = cli("results", cwd=clone).out.splitlines()  # [tool.harness] show: memory_gb
    assert table[0].split()[-3:] == ["memory_gb", "peak_vram_mb", "question"]
    assert table[2].split()[-1] == "44.2"  # b2c3d4e's memory_gb; no peak_vram_mb, no question


def test_reimport_adds_only_new_rows_and_the_record_commits(clone: Path, cli) -> None:
    cli("init", ".", cwd=clone)
    original = clone / "results.tsv"
    their_copy = clone.parent / "their-results.tsv"
    shutil.copyfile(original, their_copy)
    assert cli("results", "import", "results.tsv", cwd=clone).code == 0
    again = cli("results", "import", str(their_copy), cwd=clone)
    assert again.out.startswith("imported 0 rows") and "5 were on record already" in again.out
    their_copy.write_text(results_text([*ROWS, ("f6a7b8c", "0.986000", "44.1", "keep", "x")]))
    more = cli("results", "import", str(their_copy), cwd=clone)
    assert more.out.startswith("imported 1 rows (1 valid)") and "5 were on record" in more.out
    assert len(read_results(original)) == 6
    committed = cli("results", "commit", cwd=clone)
    assert committed.code == 0, committed.err
    assert "results.tsv" in git(clone, "ls-files")


def test_an_ignored_record_is_named_not_called_committed(clone: Path, cli) -> None:
    """Without init's `!/results.tsv`, `results commit` must not claim all is committed."""
    cli("init", ".", cwd=clone)
    (clone / ".gitignore").write_text(GITIGNORE)
    cli("results", "import", "results.tsv", cwd=clone)
    result = cli("results", "commit", cwd=clone)
    assert result.code == 2
    assert result.err.startswith("harness: results.tsv ignored by git (.gitignore)")
    assert "add a line `!/results.tsv` to .gitignore" in result.err


def test_compare_and_status_by_commit(clone: Path, cli) -> None:
    cli("init", ".", cwd=clone)
    cli("results", "import", "results.tsv", cwd=clone)
    result = cli("results", "compare", "a1b2", "e5f6a7b", "--json", cwd=clone)
    assert result.code == 0, result.err
    comparison = json.loads(result.out)
    assert comparison["a"]["mean"] == 0.9979 and comparison["b"]["mean"] == 0.9871
    unknown = cli("results", "compare", "a1b2c3d", "0", cwd=clone)
    assert unknown.code == 1  # an unknown name, as for an unknown idea or task
    status = cli("status", cwd=clone)
    assert status.code == 0, status.err
    assert "0.9871" in status.out and "mean of 5 runs" not in status.out
    assert (
        "imported   3 kept of 5 imported rows: a1b2c3d 0.9979 -> b2c3d4e 0.9932 -> "
        "e5f6a7b 0.9871 (head e5f6a7b)" in status.out.splitlines()
    )
    page = cli("dashboard", cwd=clone)
    assert page.code == 0, page.err
    html = (clone / "9_reports" / "index.html").read_text()
    assert "<th>memory_gb</th>" in html and "warmup 5% of steps" in html
    row = html.split('data-idea="b2c3d4e"', 1)[1].split("</tr>", 1)[0]
    assert '<td class="num">44.2</td>' in row


def adopt(clone: Path, cli) -> None:
    """The ten-minute path: init, import their record, commit the adoption (as the human)."""
    assert cli("init", ".", cwd=clone).code == 0
    assert cli("results", "import", "results.tsv", cwd=clone).code == 0
    git(clone, "add", "-A")
    git(clone, "commit", "-q", "-m", "adopt the harness", env={"META_MODE": "1"})


@pytest.mark.skipif(shutil.which("uv") is None, reason="uv is not installed: pip install uv")
def test_baseline_through_uv_finds_the_ignored_seed(clone: Path, cli) -> None:
    adopt(clone, cli)
    result = cli("baseline", "--seeds", "2", "--json", cwd=clone)
    assert result.code == 1, result.err
    report = json.loads(result.out)
    assert [run["value"] for run in report["runs"]] == [0.996, 0.996, 0.996]
    seed = next(c for c in report["checks"] if c["name"] == "seed")
    assert seed["status"] == "fail" and "the seed has no effect" in seed["detail"]
    rows = [r for r in read_results(clone / "results.tsv").to_dicts() if r["idea"] == "baseline"]
    assert json.loads(rows[0]["extra"])["peak_vram_mb"] == 45060.2
    doctor = cli("doctor", cwd=clone).out.splitlines()
    line = next(line for line in doctor if line.split()[1] == "seed")
    assert line.startswith("FAIL  seed         2 seeds all gave the same value: the seed has")


@pytest.mark.skipif(shutil.which("uv") is None, reason="uv is not installed: pip install uv")
def test_one_queued_evaluation_through_uv(clone: Path, cli) -> None:
    adopt(clone, cli)
    added = cli(
        "queue",
        "add",
        "--backend",
        "local",
        "-q",
        "does it run?",
        "--",
        "harness",
        "eval",
        cwd=clone,
    )
    assert added.code == 0, added.err
    waited = cli("queue", "wait", "--backend", "local", cwd=clone)
    assert waited.code == 0, waited.out + waited.err
    rows = read_results(clone / "results.tsv").to_dicts()[len(ROWS) :]
    assert [(r["idea"], r["value"], r["status"]) for r in rows] == [("baseline", 0.996, "ok")]
