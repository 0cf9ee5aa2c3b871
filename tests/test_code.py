"""The code identity of a run: the commit's tree without the record paths, on real repos."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from harness.config import load_config
from harness.record.code import code_of, fill_codes, record_paths
from harness.record.results import read_results
from tests.conftest import commit_files, git
from tests.loop_helpers import fast_repo, start_idea


def code(root: Path, revision: str = "HEAD") -> str | None:
    return code_of(root, revision, record=record_paths(load_config(root)))


def written_tree_without_record(root: Path, tmp_path: Path) -> str:
    """What git itself makes of HEAD without the record paths (a scratch index)."""
    env = {"GIT_INDEX_FILE": str(tmp_path / "scratch-index")}
    git(root, "read-tree", "HEAD", env=env)
    tracked = git(root, "ls-files", env=env).splitlines()
    record = [p for p in tracked if p in ("results.tsv", "RESEARCH_JOURNAL.md")]
    record += [p for p in tracked if p.split("/")[0] in ("0_docs", "1_ideas", "9_reports")]
    git(root, "rm", "--cached", "--quiet", "--", *record, env=env)
    return git(root, "write-tree", env=env).strip()


def test_the_code_is_the_tree_git_writes_without_the_record(research_repo: Path, tmp_path) -> None:
    assert code(research_repo) == written_tree_without_record(research_repo, tmp_path)
    assert code(research_repo) != git(research_repo, "rev-parse", "HEAD^{tree}").strip()


def test_without_record_paths_the_code_is_the_commit_tree(research_repo: Path) -> None:
    tree = git(research_repo, "rev-parse", "HEAD^{tree}").strip()
    assert code_of(research_repo, "HEAD", record=()) == tree


def test_a_record_only_commit_keeps_the_code_and_a_code_change_does_not(
    research_repo: Path,
) -> None:
    before = code(research_repo)
    commit_files(research_repo, {"1_ideas/notes.md": "a note\n", "0_docs/more.md": "x\n"})
    assert code(research_repo) == before
    commit_files(research_repo, {"train.py": "# changed\n"}, meta=True)
    assert code(research_repo) != before


def test_a_glob_inside_a_folder_drops_only_what_it_matches(research_repo: Path) -> None:
    commit_files(research_repo, {"src/keep.py": "1\n", "src/cache/run.tsv": "t\n"}, meta=True)
    plain = code_of(research_repo, "HEAD", record=())
    dropped = code_of(research_repo, "HEAD", record=("src/**/*.tsv",))
    assert dropped != plain
    commit_files(research_repo, {"src/cache/run.tsv": "other\n"}, meta=True)
    assert code_of(research_repo, "HEAD", record=("src/**/*.tsv",)) == dropped
    commit_files(research_repo, {"src/keep.py": "2\n"}, meta=True)
    assert code_of(research_repo, "HEAD", record=("src/**/*.tsv",)) != dropped


def test_a_glob_reaching_into_every_folder_gives_the_tree_git_writes(
    research_repo: Path, tmp_path: Path
) -> None:
    files = {"a/run.tsv": "1\n", "a/b/keep.py": "2\n", "a/b/c/deep.tsv": "3\n", "top.tsv": "4\n"}
    commit_files(research_repo, files, meta=True)
    env = {"GIT_INDEX_FILE": str(tmp_path / "scratch-index")}
    git(research_repo, "read-tree", "HEAD", env=env)
    tsv = [p for p in git(research_repo, "ls-files", env=env).splitlines() if p.endswith(".tsv")]
    git(research_repo, "rm", "--cached", "--quiet", "--", *tsv, env=env)
    written = git(research_repo, "write-tree", env=env).strip()
    assert code_of(research_repo, "HEAD", record=("**/*.tsv",)) == written


def test_an_empty_no_ff_merge_and_a_rebase_to_the_same_files_keep_the_code(
    research_repo: Path, cli
) -> None:
    root = fast_repo(research_repo)
    worktree = start_idea(cli, root, "lower", "1.9")
    idea_code = code(worktree)
    git(root, "merge", "--no-ff", "--quiet", "-m", "merge lower", "exp/lower")
    assert code(root) == idea_code
    # a record commit on main, then the idea rebased onto it: same code again
    commit_files(root, {"0_docs/later.md": "later\n"})
    git(worktree, "rebase", "--quiet", "main")
    assert code(worktree) == idea_code


def test_a_name_that_is_no_commit_has_no_code(research_repo: Path) -> None:
    assert code(research_repo, "0123456789abcdef0123456789abcdef01234567") is None


def test_a_run_records_its_code_and_a_dirty_worktree_is_marked(research_repo: Path, cli) -> None:
    root = fast_repo(research_repo)
    assert cli("eval", "--seed", "0", cwd=root).code == 0
    (root / "level.txt").write_text("1.5\n")
    assert cli("eval", "--seed", "1", "--allow-dirty", cwd=root).code == 0
    rows = read_results(root / "results.tsv").select("code", "dirty").rows()
    assert rows == [(code(root), False), (f"{code(root)}-dirty", True)]


def test_old_rows_get_their_code_from_their_commit_when_it_still_exists(
    research_repo: Path, cli
) -> None:
    root = fast_repo(research_repo)
    assert cli("eval", "--seed", "0", cwd=root).code == 0
    frame = read_results(root / "results.tsv")
    gone = "f" * 40
    old = pl.concat([frame, frame.with_columns(pl.lit(gone).alias("commit"))])
    old = old.with_columns(pl.lit(None, dtype=pl.String).alias("code"))
    filled = fill_codes(old, root, load_config(root))
    assert filled.get_column("code").to_list() == [code(root), None]
