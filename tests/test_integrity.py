"""Evaluation integrity: the hash of the FROZEN files a worktree evaluates with, against
main's, and `harness guard --integrity` over every worktree."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from harness.config import load_config
from harness.rules.integrity import blob_id, check_integrity, commit_frozen_files, digest
from tests.conftest import git

PATTERNS = ("eval.py", "program.md", "meta_journal.md", "AGENTS.md", "CLAUDE.md")


def add_worktree(repo: Path, slug: str) -> Path:
    path = repo / "5_worktrees" / slug
    git(repo, "worktree", "add", "--quiet", "-b", f"exp/{slug}", str(path))
    return path


def test_blob_id_is_gits() -> None:
    content = "données\n".encode()
    expected = (
        subprocess.run(
            ["git", "hash-object", "--stdin"], input=content, capture_output=True, check=True
        )
        .stdout.decode()
        .strip()
    )
    assert blob_id(content) == expected


def test_digest_is_stable_and_order_free() -> None:
    assert digest({"a": "1", "b": "2"}) == digest({"b": "2", "a": "1"})
    assert digest({"a": "1", "b": "2"}) != digest({"a": "1", "b": "3"})
    assert digest({"a": "1"}) != digest({"b": "1"})


def test_a_fresh_worktree_matches_main(research_repo: Path) -> None:
    worktree = add_worktree(research_repo, "idea")
    config = load_config(research_repo)
    result = check_integrity(worktree, root=research_repo, config=config)
    assert (result.status, result.changed) == ("ok", ())
    main = commit_frozen_files(research_repo, "main", PATTERNS)
    assert sorted(main) == sorted(PATTERNS)
    assert result.frozen_sha == result.main_sha == digest(main)


def test_an_uncommitted_edit_counts(research_repo: Path) -> None:
    worktree = add_worktree(research_repo, "idea")
    (worktree / "eval.py").write_text("print('val_bpb: 0.0')\n")
    result = check_integrity(worktree, root=research_repo, config=load_config(research_repo))
    assert (result.status, result.changed) == ("modified", ("eval.py",))
    (worktree / "eval.py").unlink()
    result = check_integrity(worktree, root=research_repo, config=load_config(research_repo))
    assert (result.status, result.changed) == ("modified", ("eval.py",))


def test_a_symlink_hashes_like_git_stores_it(research_repo: Path) -> None:
    worktree = add_worktree(research_repo, "idea")
    (worktree / "eval.py").unlink()
    (worktree / "eval.py").symlink_to("train.py")
    git(worktree, "add", "eval.py")
    git(worktree, "commit", "--quiet", "--no-verify", "-m", "symlink")
    from harness.rules.integrity import worktree_frozen_files

    here = worktree_frozen_files(worktree, PATTERNS)
    assert here == commit_frozen_files(worktree, "HEAD", PATTERNS)
    assert here["eval.py"] == blob_id(b"train.py") + " 120000"


def test_guard_integrity_lists_the_worktrees_that_differ(research_repo: Path, cli) -> None:
    clean = add_worktree(research_repo, "clean")
    dirty = add_worktree(research_repo, "dirty")
    (dirty / "program.md").write_text("# another program\n")
    result = cli("guard", "--integrity", cwd=clean)
    assert result.code == 3
    lines = result.out.splitlines()
    assert lines[0] == f"ok        {research_repo}  (main)"
    assert f"ok        {clean}  (exp/clean)" in lines
    assert f"modified  {dirty}  (exp/dirty)  program.md" in lines
    rows = json.loads(cli("guard", "--integrity", "--json", cwd=research_repo).out)
    assert {Path(r["worktree"]).name: r["status"] for r in rows} == {
        "research": "ok",
        "clean": "ok",
        "dirty": "modified",
    }


def test_guard_integrity_passes_when_nothing_differs(research_repo: Path, cli) -> None:
    add_worktree(research_repo, "clean")
    assert cli("guard", "--integrity", cwd=research_repo).code == 0
