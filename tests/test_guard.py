"""The guard on real repositories: real commits through the installed pre-commit hook, in
the main worktree and in linked `exp/` worktrees, and `harness guard --range` over commits
that skipped the hook with `--no-verify`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import commit_config, commit_files, git

FROZEN_EDIT = (
    "eval.py is FROZEN: editing it needs META_MODE=1 (a human decision, see program.md); "
    "leave it as it is on main"
)


def run_git(repo: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, env={**os.environ, **env}
    )


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").strip()


def refused(repo: Path, *lines: str, **env: str) -> str:
    """Commit what is staged; assert the hook refused it with exactly these reasons."""
    before = head(repo)
    proc = run_git(repo, "commit", "--quiet", "-m", "attempt", **env)
    assert proc.returncode != 0, "the commit should have been refused"
    reasons = [line for line in proc.stderr.splitlines() if "commit refused" not in line]
    assert reasons == [f"harness: {line}" for line in lines]
    assert head(repo) == before
    return proc.stderr


def refused_with(repo: Path, fragment: str, **env: str) -> None:
    """Commit what is staged; assert the hook refused it with a line holding `fragment`."""
    before = head(repo)
    proc = run_git(repo, "commit", "--quiet", "-m", "attempt", **env)
    assert proc.returncode != 0, "the commit should have been refused"
    assert fragment in proc.stderr, proc.stderr
    assert head(repo) == before


def accepted(repo: Path, **env: str) -> str:
    proc = run_git(repo, "commit", "--quiet", "-m", "accepted change", **env)
    assert proc.returncode == 0, proc.stderr
    return head(repo)


@pytest.fixture
def worktree(research_repo: Path) -> Path:
    """A linked worktree on exp/idea, as `harness worktree create idea` makes it."""
    path = research_repo / "5_worktrees" / "idea"
    git(research_repo, "worktree", "add", "--quiet", "-b", "exp/idea", str(path))
    return path


def write(repo: Path, relative: str, text: str) -> None:
    path = repo / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    git(repo, "add", "--", relative)


def test_code_commits_in_an_exp_worktree_pass(worktree: Path) -> None:
    write(worktree, "train.py", (worktree / "train.py").read_text() + "\n# wider model\n")
    write(worktree, "1_ideas/notes on ü.md", "notes\n")
    accepted(worktree)


def test_editing_a_frozen_file_is_refused_in_a_linked_worktree(worktree: Path) -> None:
    write(worktree, "eval.py", (worktree / "eval.py").read_text() + "\nSCORE_BONUS = 1\n")
    refused(worktree, FROZEN_EDIT)


def test_deleting_a_frozen_file_is_refused(worktree: Path) -> None:
    git(worktree, "rm", "--quiet", "program.md")
    refused(
        worktree,
        "program.md is FROZEN: deleting it needs META_MODE=1 (a human decision, see "
        "program.md); leave it as it is on main",
    )


def test_renaming_a_frozen_file_away_is_refused(worktree: Path) -> None:
    git(worktree, "mv", "eval.py", "eval_v2.py")
    refused(
        worktree,
        "eval.py is FROZEN: renaming it away needs META_MODE=1 (a human decision, see "
        "program.md); leave it as it is on main",
    )


def test_moving_another_file_onto_a_frozen_file_is_refused(worktree: Path) -> None:
    git(worktree, "mv", "-f", "train.py", "eval.py")
    refused(worktree, FROZEN_EDIT)


def test_renaming_onto_a_new_frozen_path_is_refused(research_repo: Path, worktree: Path) -> None:
    commit_config(
        research_repo,
        lambda text: text.replace('frozen = ["eval.py",', 'frozen = ["checks/*.py", "eval.py",'),
    )
    write(worktree, "helper.py", "def check():\n    return True\n" * 5)
    accepted(worktree)
    (worktree / "checks").mkdir()
    git(worktree, "mv", "helper.py", "checks/helper.py")
    refused(
        worktree,
        "checks/helper.py is FROZEN: renaming a file onto it needs META_MODE=1 (a human "
        "decision, see program.md); leave it as it is on main",
    )


def test_chmod_of_a_frozen_file_is_refused(worktree: Path) -> None:
    (worktree / "eval.py").chmod(0o755)
    git(worktree, "add", "eval.py")
    refused(
        worktree,
        "eval.py is FROZEN: changing its mode needs META_MODE=1 (a human decision, see "
        "program.md); leave it as it is on main",
    )


def test_replacing_a_frozen_file_with_a_symlink_is_refused(worktree: Path) -> None:
    (worktree / "my_eval.py").write_text("print('val_bpb: 0.1')\n")
    (worktree / "eval.py").unlink()
    (worktree / "eval.py").symlink_to("my_eval.py")
    git(worktree, "add", "eval.py", "my_eval.py")
    refused(
        worktree,
        "eval.py is FROZEN: replacing it with a symlink needs META_MODE=1 (a human "
        "decision, see program.md); leave it as it is on main",
    )


def test_committing_results_tsv_from_an_exp_worktree_is_refused(worktree: Path) -> None:
    write(worktree, "results.tsv", (worktree / "results.tsv").read_text() + "fake\trow\n")
    refused(
        worktree,
        "results.tsv is GLOBAL: it is committed only on main, not on branch exp/idea; "
        "unstage it (git restore --staged) and let the harness write it in the main worktree",
    )


def test_code_on_main_needs_meta_mode(research_repo: Path) -> None:
    write(research_repo, "train.py", (research_repo / "train.py").read_text() + "\n# tweak\n")
    refused(
        research_repo,
        "train.py cannot change on main (main is protected): commit code on an exp/ branch "
        "(`harness worktree create SLUG`) and merge it through a reviewed pull request; "
        "other changes on main need META_MODE=1 (a human decision, see program.md)",
    )
    accepted(research_repo, META_MODE="1")


def test_records_results_and_journal_entries_commit_on_main(research_repo: Path) -> None:
    journal = research_repo / "RESEARCH_JOURNAL.md"
    from harness.rules.appendonly import prepend_text

    write(research_repo, "RESEARCH_JOURNAL.md", prepend_text(journal.read_text(), "## run 1\n"))
    write(research_repo, "results.tsv", (research_repo / "results.tsv").read_text() + "r\n")
    write(research_repo, "1_ideas/2025-01-01_wider.md", "# wider\n")
    write(research_repo, "9_reports/2025-01-01_wider.md", "# report\n")
    accepted(research_repo)


@pytest.fixture
def journal_repo(research_repo: Path) -> Path:
    """The research repository with two committed entries in RESEARCH_JOURNAL.md."""
    from harness.rules.appendonly import prepend_text

    text = (research_repo / "RESEARCH_JOURNAL.md").read_text()
    text = prepend_text(prepend_text(text, "## first\n\nA.\n"), "## second\n\nB.\n")
    commit_files(research_repo, {"RESEARCH_JOURNAL.md": text}, "two entries")
    return research_repo


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (lambda t: t.replace("A.", "A, rewritten."), "edits an old entry"),
        (
            lambda t: t.replace("## first", "## inserted\n\nX.\n\n## first"),
            "edits an old entry or inserts text between old entries",
        ),
        (lambda t: t[: t.index("## first")], "removes old text"),
        (lambda t: t.replace("newest entry on top", "oldest entry on top"), "edits the header"),
    ],
    ids=["old-entry", "middle", "truncate", "header"],
)
def test_rewriting_the_journal_is_refused(journal_repo: Path, edit, problem: str) -> None:
    path = journal_repo / "RESEARCH_JOURNAL.md"
    write(journal_repo, "RESEARCH_JOURNAL.md", edit(path.read_text()))
    refused_with(journal_repo, f"harness: RESEARCH_JOURNAL.md is APPEND-ONLY: the change {problem}")


def test_truncating_or_deleting_a_journal_is_refused(journal_repo: Path) -> None:
    write(journal_repo, "RESEARCH_JOURNAL.md", "")
    refused(
        journal_repo,
        "RESEARCH_JOURNAL.md is APPEND-ONLY: the change edits the header; restore the old "
        "text and add new entries on top (below the header, above the first `##` entry)",
    )
    git(journal_repo, "rm", "--quiet", "-f", "RESEARCH_JOURNAL.md")
    refused_with(
        journal_repo, "RESEARCH_JOURNAL.md is APPEND-ONLY: deleting it removes its entries"
    )


@pytest.mark.parametrize(
    ("pattern", "guarded", "free"),
    [
        ("données/é val*.py", "données/é val ü.py", "données/notes à lire.md"),  # spaces, unicode
        ("data/[a-c].csv", "data/b.csv", "data/d.csv"),  # a range guards what it names
    ],
)
def test_a_frozen_pattern_guards_exactly_the_files_it_names(
    research_repo: Path, worktree: Path, pattern: str, guarded: str, free: str
) -> None:
    commit_config(
        research_repo,
        lambda text: text.replace('frozen = ["eval.py",', f'frozen = ["{pattern}", "eval.py",'),
    )
    write(worktree, guarded, "x = 1\n")
    refused(
        worktree,
        f"{guarded} is FROZEN: adding it needs META_MODE=1 (a human decision, see "
        "program.md); leave it as it is on main",
    )
    git(worktree, "reset", "--quiet")
    write(worktree, free, "ok\n")
    accepted(worktree)


def test_a_malformed_rules_table_stops_the_commit_with_one_clear_line(
    research_repo: Path, worktree: Path, cli
) -> None:
    commit_config(research_repo, lambda text: text.replace('frozen = ["eval.py",', "frozen = [1,"))
    write(worktree, "train.py", "x = 1\n")
    proc = run_git(worktree, "commit", "--quiet", "-m", "x")
    expected = (
        "harness: tool.harness.rules.frozen must be a list of strings, "
        "got list [1, 'program.md', 'meta_journal.md', 'AGENTS.md', 'CLAUDE.md']"
    )
    assert (proc.returncode, proc.stderr.strip()) == (1, expected)
    result = cli("guard", "--staged", cwd=worktree)
    assert (result.code, result.err.strip()) == (2, expected)


def test_a_rules_glob_that_matches_nothing_guards_nothing_and_the_doctor_says_so(
    research_repo: Path, worktree: Path, cli
) -> None:
    commit_config(
        research_repo, lambda text: text.replace('frozen = ["eval.py",', 'frozen = ["evals.py",')
    )
    write(worktree, "eval.py", "print('val_bpb: 0.0')\n")
    accepted(worktree)  # eval.py is no longer FROZEN: the typo unguarded it
    doctor = cli("doctor", cwd=research_repo)
    assert (
        "WARN  rules        globs matching no tracked file: FROZEN 'evals.py' (a typo?)"
        in doctor.out
    )


def test_the_guard_runs_before_the_first_commit(tmp_path: Path, cli) -> None:
    repo = tmp_path / "fresh"
    repo.mkdir()
    git(repo, "init", "--quiet", "--initial-branch=main")
    (repo / "pyproject.toml").write_text("[tool.harness]\n")
    (repo / "results.tsv").write_text("run_id\n")
    (repo / "eval.py").write_text("print(1)\n")
    git(repo, "add", "results.tsv")
    assert cli("guard", "--staged", cwd=repo).code == 0
    git(repo, "add", "eval.py")
    result = cli("guard", "--staged", cwd=repo)
    assert result.code == 3
    assert "eval.py is FROZEN: adding it" in result.err


def test_a_merge_conflict_resolved_on_main_is_refused_a_clean_merge_is_not(
    research_repo: Path, worktree: Path
) -> None:
    write(worktree, "train.py", "branch version\n")
    accepted(worktree)
    write(research_repo, "1_ideas/2025-01-01_a.md", "idea\n")
    accepted(research_repo)
    assert run_git(research_repo, "merge", "--no-ff", "--no-commit", "exp/idea").returncode == 0
    accepted(research_repo)  # train.py comes as it was reviewed on exp/idea

    write(worktree, "train.py", "branch version 2\n")
    accepted(worktree)
    write(research_repo, "train.py", "main version\n")
    accepted(research_repo, META_MODE="1")
    assert run_git(research_repo, "merge", "exp/idea").returncode != 0  # a conflict
    write(research_repo, "train.py", "resolved on main\n")
    refused_with(research_repo, "harness: train.py cannot change on main (main is protected)")


# --- the range check: what CI runs on a pull request ------------------------------------


def no_verify(repo: Path, files: dict[str, str], message: str) -> str:
    for relative, text in files.items():
        write(repo, relative, text)
    git(repo, "commit", "--quiet", "--no-verify", "-m", message)
    return head(repo)


def test_a_no_verify_commit_is_caught_by_the_range_check(
    research_repo: Path, worktree: Path, cli
) -> None:
    write(worktree, "train.py", "ok\n")
    accepted(worktree)
    sha = no_verify(worktree, {"eval.py": "print('val_bpb: 0.0')\n"}, "sneaky")
    result = cli("guard", "--range", "main..exp/idea", cwd=research_repo)
    assert result.code == 3
    assert result.err.splitlines() == [
        f"harness: {sha[:10]}: {FROZEN_EDIT}",
        "harness: 2 commit(s) checked: 1 rule violation(s)",
    ]


def test_the_range_check_reads_rules_and_grants_from_base(
    research_repo: Path, worktree: Path, cli
) -> None:
    pyproject = (worktree / "pyproject.toml").read_text()
    loosened = pyproject.replace(
        'frozen = ["eval.py", "program.md", "meta_journal.md", "AGENTS.md", "CLAUDE.md"]',
        "frozen = []",
    )
    assert loosened != pyproject
    loosen = no_verify(worktree, {"pyproject.toml": loosened}, "loosen the rules")
    journal = (worktree / "human_journal.md").read_text()
    from harness.rules.appendonly import prepend_text

    no_verify(
        worktree, {"human_journal.md": prepend_text(journal, "## grant\n\nMETA_MODE=1\n")}, "grant"
    )
    sha = no_verify(worktree, {"eval.py": "print('val_bpb: 0.0')\n"}, "edit eval")
    result = cli("guard", "--range", "main..exp/idea", "--json", cwd=research_repo)
    assert result.code == 3
    report = json.loads(result.out)
    assert (report["commits"], report["meta_mode"], report["branch"]) == (3, False, "exp/idea")
    assert [(v["commit"], v["path"], v["rule"]) for v in report["violations"]] == [
        (loosen, "pyproject.toml", "FROZEN"),  # the [tool.harness] table is FROZEN too
        (sha, "eval.py", "FROZEN"),
    ]


def test_a_pull_request_that_merged_main_is_not_blamed_for_mains_records(
    research_repo: Path, worktree: Path, cli
) -> None:
    write(worktree, "train.py", "idea\n")
    accepted(worktree)
    write(research_repo, "results.tsv", (research_repo / "results.tsv").read_text() + "row\n")
    accepted(research_repo)
    assert run_git(worktree, "merge", "--quiet", "--no-edit", "main").returncode == 0
    result = cli("guard", "--range", "main..exp/idea", "--json", cwd=research_repo)
    assert (result.code, json.loads(result.out)["violations"]) == (0, [])
    assert json.loads(result.out)["commits"] == 2


@pytest.mark.usefixtures("terminal")
def test_the_range_check_grants_only_the_commits_made_after_the_grant(
    research_repo: Path, worktree: Path, cli
) -> None:
    before = no_verify(worktree, {"eval.py": "print('val_bpb: 0.0')\n"}, "edit eval")
    assert cli("meta", "on", "--reason", "the split leaked", cwd=research_repo).code == 0
    git(worktree, "merge", "--quiet", "--no-edit", "main")  # the grant is now below exp/idea
    no_verify(worktree, {"eval.py": "print('val_bpb: 0.1')\n"}, "edit eval again")
    result = cli("guard", "--range", "main..exp/idea", "--json", cwd=research_repo)
    report = json.loads(result.out)
    assert (result.code, report["meta_mode"]) == (3, True)
    assert [(v["commit"], v["path"]) for v in report["violations"]] == [(before, "eval.py")]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("main", "harness: --range wants BASE..HEAD (two revisions, two dots), got 'main'"),
        (
            "main...exp/idea",
            "harness: --range wants BASE..HEAD (two revisions, two dots), got 'main...exp/idea'",
        ),
        (
            "main..nope",
            "harness: 'nope' is not a commit here: fetch it, or name an existing revision",
        ),
    ],
)
def test_a_bad_range_is_a_usage_error(
    research_repo: Path, worktree: Path, cli, spec: str, message: str
) -> None:
    result = cli("guard", "--range", spec, cwd=research_repo)
    assert (result.code, result.err.strip()) == (2, message)


def test_guard_needs_exactly_one_mode(research_repo: Path, cli) -> None:
    result = cli("guard", cwd=research_repo)
    assert result.code == 2
    assert result.err.strip() == (
        "harness: harness guard needs exactly one of --staged, --range BASE..HEAD, --integrity"
    )
    assert cli("guard", "--staged", "--integrity", cwd=research_repo).code == 2
    assert cli("guard", "--stagd", cwd=research_repo).code == 2  # a typo goes through tyro


def test_the_hook_path_imports_no_heavy_library(research_repo: Path) -> None:
    """The hook runs on every commit: `guard --staged` skips tyro, loguru, polars, gitpython."""
    code = (
        "import sys\n"
        "from harness.cli import main\n"
        "code = main(['guard', '--staged'])\n"
        "heavy = {'tyro', 'loguru', 'polars', 'git', 'matplotlib', 'numpy', 'jinja2', 'yaml'}\n"
        "print(code, sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=research_repo, capture_output=True, text=True
    )
    assert proc.stdout.strip() == "0 []", proc.stderr


def test_the_range_check_needs_rules_in_base(tmp_path: Path, cli) -> None:
    repo = tmp_path / "plain"
    repo.mkdir()
    git(repo, "init", "--quiet", "--initial-branch=main")
    commit_files(repo, {"pyproject.toml": "[project]\nname = 'x'\n"}, "start")
    git(repo, "checkout", "--quiet", "-b", "exp/x")
    commit_files(repo, {"pyproject.toml": "[tool.harness]\n"}, "rules of my own")
    result = cli("guard", "--range", "main..exp/x", cwd=repo)
    assert (result.code, result.err.strip()) == (
        2,
        "harness: pyproject.toml of main has no [tool.harness] table: run `harness init`",
    )


@pytest.mark.parametrize("how", [["-a"], ["--", "eval.py"]], ids=["commit-a", "commit-path"])
def test_the_hook_sees_what_commit_a_and_commit_path_stage(worktree: Path, how: list[str]) -> None:
    """`git commit -a` / `git commit PATH` stage into a temporary index the hook must read."""
    (worktree / "eval.py").write_text("print('val_bpb: 0.0')\n")
    before = head(worktree)
    proc = run_git(worktree, "commit", "--quiet", "-m", "sneak", *how)
    assert proc.returncode == 1
    assert f"harness: {FROZEN_EDIT}" in proc.stderr.splitlines()
    assert head(worktree) == before


# --- results.tsv takes rows at its end only ----------------------------------------------

ROWS_FIX = (
    "restore the old rows byte for byte (new runs are appended at the end by the harness; "
    "only `harness results upgrade` rewrites the header)"
)
RUN = ("python", "-c", "print('---'); print('val_bpb: 1.5')")


def rows_refusal(problem: str) -> str:
    return f"results.tsv is APPEND-ONLY: {problem}; {ROWS_FIX}"


@pytest.fixture
def record_repo(research_repo: Path) -> Path:
    """The research repository with three sealed rows on record, committed on main."""
    from harness.layout import find_layout
    from harness.record.results import append_rows

    rows = [
        {"run_id": f"r{n}", "idea": "baseline", "branch": "main", "value": v, "status": "ok"}
        for n, v in enumerate((1.5, 1.4, 1.3), start=1)
    ]
    append_rows(find_layout(research_repo), rows)
    git(research_repo, "add", "results.tsv")
    accepted(research_repo)
    return research_repo


def rows_of(repo: Path) -> list[str]:
    return (repo / "results.tsv").read_text().splitlines(keepends=True)


REWRITES = {  # line 1 is the header, lines 2 to 4 the rows r1, r2, r3
    "edit": (
        lambda rows: [*rows[:3], rows[3].replace("1.3", "1.0"), *rows[4:]],
        "line 4 was edited",
    ),
    "delete": (lambda rows: [rows[0], rows[1], rows[3]], "line 3 was deleted"),
    "insert": (
        lambda rows: [*rows[:2], rows[3].replace("r3", "r9"), *rows[2:]],
        "a row was inserted at line 3",
    ),
    "reorder": (
        lambda rows: [rows[0], rows[2], rows[1], rows[3]],
        "line 2 was moved (rows reordered)",
    ),
    "truncate": (lambda rows: rows[:2], "2 row(s) from line 3 on were deleted"),
}


@pytest.mark.parametrize("how", list(REWRITES))
def test_a_commit_that_rewrites_rows_of_results_tsv_is_refused(record_repo: Path, how: str) -> None:
    rewrite, problem = REWRITES[how]
    write(record_repo, "results.tsv", "".join(rewrite(rows_of(record_repo))))
    refused(record_repo, rows_refusal(problem))
    refused(record_repo, rows_refusal(problem), META_MODE="1")  # no grant lifts it


def test_deleting_results_tsv_is_refused(record_repo: Path) -> None:
    git(record_repo, "rm", "--quiet", "results.tsv")
    refused(record_repo, rows_refusal("deleting it removes its entries"))


def test_results_commit_after_runs_passes_the_guard(record_repo: Path, cli) -> None:
    assert cli("eval", "--", *RUN, cwd=record_repo).code == 0
    assert cli("eval", "--", *RUN, cwd=record_repo).code == 0
    before = head(record_repo)
    result = cli("results", "commit", cwd=record_repo)
    assert result.code == 0, result.err
    assert head(record_repo) != before
    assert git(record_repo, "status", "--porcelain", "--", "results.tsv") == ""


def old_layout(repo: Path) -> Path:
    """results.tsv as a repository from before the chain has it: the first release's
    header and unsealed rows, committed on main (with --no-verify: a header going back
    is refused, as it should be)."""
    from harness.record.results import format_row
    from harness.record.schema import FIRST_COLUMNS, header_line

    rows = [{"run_id": f"old{n}", "idea": "baseline", "value": 1.5 - n / 10} for n in range(3)]
    text = header_line(FIRST_COLUMNS) + "".join(format_row(r, FIRST_COLUMNS) for r in rows)
    (repo / "results.tsv").write_text(text)
    git(repo, "add", "results.tsv")
    git(repo, "commit", "--quiet", "--no-verify", "-m", "the old record")
    return repo


def test_the_upgrade_rewrite_with_new_runs_passes_the_guard(research_repo: Path, cli) -> None:
    repo = old_layout(research_repo)
    assert cli("results", "upgrade", cwd=repo).code == 0
    assert cli("eval", "--", *RUN, cwd=repo).code == 0
    result = cli("results", "commit", cwd=repo)
    assert result.code == 0, result.err
    assert git(repo, "status", "--porcelain", "--", "results.tsv") == ""


def test_an_upgrade_that_changes_a_value_is_refused(research_repo: Path, cli) -> None:
    repo = old_layout(research_repo)
    assert cli("results", "upgrade", cwd=repo).code == 0
    rows = rows_of(repo)
    write(repo, "results.tsv", "".join([*rows[:2], rows[2].replace("1.4", "1.0"), *rows[3:]]))
    refused(
        repo,
        rows_refusal(
            "line 3 is not its old row padded and sealed, as `harness results upgrade` "
            "rewrites a row (no other field may change)"
        ),
    )


def test_row_rewrites_skipping_the_hook_are_caught_by_the_range_check(
    record_repo: Path, cli
) -> None:
    rewrite, problem = REWRITES["edit"]
    sha = no_verify(record_repo, {"results.tsv": "".join(rewrite(rows_of(record_repo)))}, "edit")
    result = cli("guard", "--range", "HEAD~1..main", cwd=record_repo)
    assert result.code == 3
    assert result.err.splitlines() == [
        f"harness: {sha[:10]}: {rows_refusal(problem)}",
        "harness: 1 commit(s) checked: 1 rule violation(s)",
    ]


def test_a_merge_into_main_bringing_a_row_rewrite_is_refused(record_repo: Path) -> None:
    git(record_repo, "checkout", "--quiet", "-b", "exp/rows")
    rewrite, problem = REWRITES["delete"]
    sha = no_verify(record_repo, {"results.tsv": "".join(rewrite(rows_of(record_repo)))}, "rows")
    git(record_repo, "checkout", "--quiet", "main")
    proc = run_git(record_repo, "merge", "--no-ff", "-m", "merge", "exp/rows")
    assert proc.returncode != 0
    assert f"harness: {sha[:10]}: {rows_refusal(problem)}" in proc.stderr.splitlines()


def test_the_fast_path_sends_results_tsv_to_python_even_when_not_global(
    research_repo: Path,
) -> None:
    from harness.config import Config, Rules
    from harness.rules.hooks import guarded_patterns

    patterns = guarded_patterns(Config(rules=Rules(global_=())))
    assert patterns is not None and "results.tsv" in patterns


def test_the_rows_rule_names_the_schema_as_the_record_declares_it() -> None:
    from harness.record.chain import COLUMN
    from harness.record.schema import RESULTS_COLUMNS
    from harness.rules.appendrows import CHAIN_COLUMN, FIRST_COLUMN

    assert (next(iter(RESULTS_COLUMNS)), COLUMN) == (FIRST_COLUMN, CHAIN_COLUMN)
