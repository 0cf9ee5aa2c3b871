"""Worktrees: one per idea, made by real git, from the root or from inside another worktree."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.conftest import commit_files, git


def status_of(repo: Path, slug: str) -> str:
    (path,) = (repo / "1_ideas").glob(f"*_{slug}.md")
    return yaml.safe_load(path.read_text().split("---\n")[1])["status"]


def with_ideas(cli, repo: Path, *slugs: str) -> None:
    for slug in slugs:
        assert cli("idea", "new", slug, "--title", f"Idea {slug}", cwd=repo).code == 0


def create(cli, repo: Path, slug: str, *, cwd: Path | None = None) -> Path:
    result = cli("worktree", "create", slug, cwd=cwd or repo)
    assert result.code == 0, result.err
    return Path(result.out.strip())


def test_create_makes_the_branch_from_main_and_marks_the_idea(research_repo: Path, cli) -> None:
    with_ideas(cli, research_repo, "wide")
    main_head = git(research_repo, "rev-parse", "main").strip()

    path = create(cli, research_repo, "wide")

    assert path == research_repo / "5_worktrees" / "wide"
    assert git(path, "rev-parse", "--abbrev-ref", "HEAD").strip() == "exp/wide"
    assert git(path, "rev-parse", "HEAD").strip() == main_head
    assert (path / "train.py").is_file()
    assert status_of(research_repo, "wide") == "implementing"
    assert git(research_repo, "status", "--porcelain", "--", "5_worktrees") == ""


def test_create_from_inside_another_worktree_branches_from_main(research_repo: Path, cli) -> None:
    with_ideas(cli, research_repo, "first", "second")
    first = create(cli, research_repo, "first")
    commit_files(first, {"train.py": "# changed on exp/first\n"}, "work on first")

    second = create(cli, research_repo, "second", cwd=first)

    assert second == research_repo / "5_worktrees" / "second"
    assert git(second, "rev-parse", "HEAD") == git(research_repo, "rev-parse", "main")
    assert (second / "train.py").read_text() != "# changed on exp/first\n"
    assert status_of(research_repo, "second") == "implementing"
    # two worktrees side by side, each on its own branch
    listed = json.loads(cli("worktree", "list", "--json", cwd=second).out)
    assert [(w["slug"], w["branch"], w["ahead"], w["behind"]) for w in listed] == [
        ("first", "exp/first", 1, 0),
        ("second", "exp/second", 0, 0),
    ]


def test_create_uses_the_configured_main_branch(research_repo: Path, cli) -> None:
    with_ideas(cli, research_repo, "wide")
    git(research_repo, "branch", "-m", "main", "trunk")
    text = (research_repo / "pyproject.toml").read_text()
    (research_repo / "pyproject.toml").write_text(
        text.replace('main_branch = "main"', 'main_branch = "trunk"')
    )
    assert cli("hooks", "install", cwd=research_repo).code == 0  # pins the renamed branch
    assert create(cli, research_repo, "wide").is_dir()


def test_a_missing_main_branch_is_a_configuration_error(research_repo: Path, cli) -> None:
    with_ideas(cli, research_repo, "wide")
    git(research_repo, "branch", "-m", "main", "trunk")
    result = cli("worktree", "create", "wide", cwd=research_repo)
    assert result.code == 2
    assert result.err.startswith("harness: the main branch 'main' does not exist")
    assert status_of(research_repo, "wide") == "proposed"


def test_a_second_worktree_for_an_idea_is_refused(research_repo: Path, cli) -> None:
    with_ideas(cli, research_repo, "wide")
    path = create(cli, research_repo, "wide")
    result = cli("implement", "wide", cwd=path)
    assert result.code == 1
    assert result.err == (
        f"harness: idea 'wide' has a worktree already: {path} "
        "(remove it with `harness worktree remove wide`)\n"
    )


def test_an_existing_branch_is_refused(research_repo: Path, cli) -> None:
    with_ideas(cli, research_repo, "wide")
    git(research_repo, "branch", "exp/wide")
    result = cli("worktree", "create", "wide", cwd=research_repo)
    assert result.code == 1
    assert result.err.startswith("harness: branch exp/wide exists already without a worktree:")
    assert result.err.count("\n") == 1
    assert not (research_repo / "5_worktrees" / "wide").exists()
    assert status_of(research_repo, "wide") == "proposed"


def test_a_folder_in_the_way_is_refused(research_repo: Path, cli) -> None:
    with_ideas(cli, research_repo, "wide")
    (research_repo / "5_worktrees" / "wide").mkdir(parents=True)
    result = cli("worktree", "create", "wide", cwd=research_repo)
    assert result.code == 1
    assert "exists and is not a worktree: move it away" in result.err


def test_an_unknown_or_abandoned_idea_gets_no_worktree(research_repo: Path, cli) -> None:
    unknown = cli("worktree", "create", "ghost", cwd=research_repo)
    assert unknown.code == 1
    assert unknown.err.startswith("harness: no idea 'ghost' in ")
    bad = cli("worktree", "create", "../etc", cwd=research_repo)
    assert bad.code == 2 and bad.err.startswith("harness: bad idea slug '../etc'")

    with_ideas(cli, research_repo, "dropped")
    cli("idea", "set", "dropped", "--status", "abandoned", "--reason", "no", cwd=research_repo)
    result = cli("worktree", "create", "dropped", cwd=research_repo)
    assert result.code == 1
    assert result.err == (
        "harness: idea 'dropped' is abandoned: reopen it first with "
        "`harness idea set dropped --status proposed`\n"
    )
    assert git(research_repo, "branch", "--list", "exp/*") == ""


def test_list_shows_dirty_ahead_behind_and_the_idea_status(research_repo: Path, cli) -> None:
    with_ideas(cli, research_repo, "wide", "deep")
    wide = create(cli, research_repo, "wide")
    create(cli, research_repo, "deep")
    commit_files(wide, {"train.py": "# one\n"}, "one")
    commit_files(wide, {"train.py": "# two\n"}, "two")
    (wide / "notes.txt").write_text("scratch\n")
    commit_files(research_repo, {"0_docs/new.md": "doc\n"}, "a record on main")
    cli("idea", "set", "deep", "--status", "testing", cwd=research_repo)

    lines = cli("worktree", "list", cwd=research_repo).out.splitlines()
    assert [line.split()[:5] for line in lines] == [
        ["deep", "exp/deep", "testing", "clean", "+0"],
        ["wide", "exp/wide", "implementing", "dirty", "+2"],
    ]
    assert [line.split()[5] for line in lines] == ["-1", "-1"]
    assert lines[1].endswith(str(wide))


def test_remove_refuses_uncommitted_changes_unless_forced(research_repo: Path, cli) -> None:
    with_ideas(cli, research_repo, "wide")
    path = create(cli, research_repo, "wide")
    (path / "train.py").write_text("# unfinished\n")

    refused = cli("worktree", "remove", "wide", cwd=research_repo)
    assert refused.code == 1
    assert refused.err == (
        f"harness: {path} has uncommitted changes: commit them, "
        "or pass --force to throw them away\n"
    )
    assert (path / "train.py").read_text() == "# unfinished\n"

    forced = cli("worktree", "remove", "wide", "--force", cwd=research_repo)
    assert forced.code == 0 and forced.out == f"removed {path}\n"
    assert not path.exists()
    assert git(research_repo, "branch", "--list", "exp/wide").strip() == "exp/wide"
    assert cli("worktree", "list", cwd=research_repo).out == ""


def test_remove_with_delete_branch_keeps_unmerged_work_unless_forced(
    research_repo: Path, cli
) -> None:
    with_ideas(cli, research_repo, "wide", "empty")
    wide = create(cli, research_repo, "wide")
    commit_files(wide, {"train.py": "# wider\n"}, "wider")

    refused = cli("worktree", "remove", "wide", "--delete-branch", cwd=research_repo)
    assert refused.code == 1
    assert "branch exp/wide has commits that main lacks" in refused.err
    assert wide.is_dir()  # nothing was removed

    done = cli("worktree", "remove", "wide", "--delete-branch", "--force", cwd=research_repo)
    assert done.out == f"removed {wide}\ndeleted branch exp/wide\n"
    assert git(research_repo, "branch", "--list", "exp/wide") == ""

    create(cli, research_repo, "empty")
    merged = cli("worktree", "remove", "empty", "--delete-branch", cwd=research_repo)
    assert merged.code == 0 and "deleted branch exp/empty" in merged.out


def test_remove_an_unknown_worktree_is_one_line(research_repo: Path, cli) -> None:
    result = cli("worktree", "remove", "ghost", cwd=research_repo)
    assert result.code == 1
    assert result.err == ("harness: idea 'ghost' has no worktree: see `harness worktree list`\n")


def test_worktree_commands_work_from_inside_a_worktree(research_repo: Path, cli) -> None:
    with_ideas(cli, research_repo, "a", "b")
    a = create(cli, research_repo, "a")
    b = create(cli, research_repo, "b", cwd=a / "1_ideas")
    assert len(cli("worktree", "list", cwd=b).out.splitlines()) == 2
    assert cli("worktree", "remove", "a", cwd=b).code == 0
    assert not a.exists()
    assert [line.split()[0] for line in cli("worktree", "list", cwd=b).out.splitlines()] == ["b"]


def test_prune_forgets_deleted_folders_and_removes_finished_clean_worktrees(
    research_repo: Path, cli
) -> None:
    import shutil

    with_ideas(cli, research_repo, "gone", "done", "done-dirty", "busy")
    for slug in ("gone", "done", "done-dirty", "busy"):
        create(cli, research_repo, slug)
    shutil.rmtree(research_repo / "5_worktrees" / "gone")
    for slug in ("done", "done-dirty"):
        cli("idea", "set", slug, "--status", "abandoned", "--reason", "r", cwd=research_repo)
    (research_repo / "5_worktrees" / "done-dirty" / "x.py").write_text("1\n")

    listed = cli("worktree", "list", cwd=research_repo).out
    assert "gone" in listed and "missing" in listed

    plain = cli("worktree", "prune", cwd=research_repo)
    assert plain.out == "forgot   gone (its folder was gone)\n"
    assert "gone" not in cli("worktree", "list", cwd=research_repo).out

    finished = cli("worktree", "prune", "--finished", cwd=research_repo)
    assert finished.out == "removed  done\nkept     done-dirty (uncommitted changes)\n"
    remaining = cli("worktree", "list", cwd=research_repo).out.splitlines()
    assert [line.split()[0] for line in remaining] == ["busy", "done-dirty"]
    assert git(research_repo, "branch", "--list", "exp/done").strip() == "exp/done"


def test_a_missing_worktree_can_be_removed(research_repo: Path, cli) -> None:
    import shutil

    with_ideas(cli, research_repo, "gone")
    path = create(cli, research_repo, "gone")
    shutil.rmtree(path)
    assert cli("worktree", "remove", "gone", cwd=research_repo).code == 0
    assert cli("worktree", "list", cwd=research_repo).out == ""
