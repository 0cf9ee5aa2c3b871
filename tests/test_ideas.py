"""Ideas: the files in 1_ideas/, their front matter, critiques, picking, status moves."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import get_args

import pytest
import yaml

from harness.cli.idea import Status
from harness.layout import find_layout
from harness.loop.ideas import STATUSES, find_idea
from tests.conftest import commit_files, git

CRITIQUE = """The mechanism is plausible and cheap to test, but warmup is well known.

**Rating:** 7/10
- Novelty: 3/10
- Impact: 6/10
- Feasibility: 9/10
"""


def front_matter(path: Path) -> dict:
    return yaml.safe_load(path.read_text().split("---\n")[1])


def idea_path(repo: Path, slug: str) -> Path:
    (path,) = (repo / "1_ideas").glob(f"*_{slug}.md")
    return path


def new(cli, repo: Path, slug: str, title: str, *extra: str, cwd: Path | None = None):
    result = cli("idea", "new", slug, "--title", title, *extra, cwd=cwd or repo)
    assert result.code == 0, result.err
    return result


def test_new_idea_is_rendered_from_the_template_with_front_matter(research_repo: Path, cli) -> None:
    result = new(
        cli, research_repo, "lr-warmup", "Linear learning-rate warmup", "--hypothesis", "H1"
    )
    path = Path(result.out.strip())
    assert path.parent == research_repo / "1_ideas"
    assert path.name.endswith("_lr-warmup.md") and path.name[:10].count("-") == 2
    meta = front_matter(path)
    assert meta["slug"] == "lr-warmup"
    assert meta["title"] == "Linear learning-rate warmup"
    assert meta["status"] == "proposed"
    assert meta["branch"] == "exp/lr-warmup"
    assert meta["rating"] is None and meta["novelty"] is None
    text = path.read_text()
    assert "# Linear learning-rate warmup\n" in text
    assert "## Hypothesis\n\nH1\n" in text
    for section in ("Mechanism", "Experiment", "Expected effect", "Failure modes", "Plan"):
        assert f"\n## {section}\n" in text
    assert "- [ ] `just smoke`" in text


def test_a_title_with_quotes_and_colons_survives_the_front_matter(research_repo: Path, cli) -> None:
    title = 'Try "tied" embeddings: input = output, <cheap> & simple'
    path = Path(new(cli, research_repo, "tied", title).out.strip())
    assert front_matter(path)["title"] == title
    listed = json.loads(cli("idea", "list", "--json", cwd=research_repo).out)
    assert listed[0]["title"] == title


def test_the_project_template_is_used(research_repo: Path, cli) -> None:
    commit_files(
        research_repo,
        {
            "1_ideas/_TEMPLATE.md": "---\nslug: {{ slug }}\ntitle: {{ title | tojson }}\n"
            "status: proposed\n---\nOUR OWN TEMPLATE for {{ title }}\n"
        },
    )
    path = Path(new(cli, research_repo, "own", "Own idea").out.strip())
    assert path.read_text().endswith("---\nOUR OWN TEMPLATE for Own idea\n")
    assert cli("idea", "show", "own", cwd=research_repo).out == path.read_text()


def test_a_template_jinja_cannot_render_is_one_line(research_repo: Path, cli) -> None:
    (research_repo / "1_ideas" / "_TEMPLATE.md").write_text("{{ unknown_name }}\n")
    result = cli("idea", "new", "x", "--title", "X", cwd=research_repo)
    assert result.code == 1
    assert result.err.startswith(f"harness: {research_repo}/1_ideas/_TEMPLATE.md cannot be")
    assert "fix the template" in result.err and result.err.count("\n") == 1


def test_a_missing_template_says_how_to_restore_it(research_repo: Path, cli) -> None:
    (research_repo / "1_ideas" / "_TEMPLATE.md").unlink()
    result = cli("idea", "new", "x", "--title", "X", cwd=research_repo)
    assert result.err == (
        f"harness: {research_repo}/1_ideas/_TEMPLATE.md is missing: "
        "run `harness init` to restore it\n"
    )


def test_a_template_that_renders_a_broken_idea_is_refused(research_repo: Path, cli) -> None:
    (research_repo / "1_ideas" / "_TEMPLATE.md").write_text("# {{ title }}\nno front matter\n")
    result = cli("idea", "new", "x", "--title", "X", cwd=research_repo)
    assert result.code == 1
    assert result.err.startswith("harness: ")
    assert "_TEMPLATE.md renders a broken idea" in result.err
    assert result.err.count("\n") == 1
    assert list((research_repo / "1_ideas").glob("*_x.md")) == []


BAD_SLUGS = ["Upper", "under_score", "two--dashes", "ünï", "trail-", "../escape", "a/b", "", "1.5"]


@pytest.mark.parametrize("slug", [*BAD_SLUGS, "x" * 61])
def test_bad_slugs_are_refused_in_one_line(research_repo: Path, cli, slug: str) -> None:
    before = sorted(p.name for p in (research_repo / "1_ideas").iterdir())
    result = cli("idea", "new", slug, "--title", "T", cwd=research_repo)
    assert result.code == 2
    assert result.err.startswith(f"harness: bad idea slug {slug!r}: use lowercase letters")
    assert result.err.count("\n") == 1
    assert sorted(p.name for p in (research_repo / "1_ideas").iterdir()) == before


@pytest.mark.parametrize(
    ("slug", "read"),
    [("null", "None"), ("true", "True"), ("yes", "True"), ("123", "123"), ("0x1f", "31")],
)
def test_a_slug_yaml_reads_as_no_text_is_refused(
    research_repo: Path, cli, slug: str, read: str
) -> None:
    """The template writes `slug: {{ slug }}` bare: `null` would come back as None."""
    before = sorted(p.name for p in (research_repo / "1_ideas").iterdir())
    result = cli("idea", "new", slug, "--title", "T", cwd=research_repo)
    assert (result.code, result.err) == (
        2,
        f"harness: bad idea slug {slug!r}: an idea's YAML front matter reads it as {read}, "
        f"not as text: add a word, e.g. {slug}-idea\n",
    )
    assert sorted(p.name for p in (research_repo / "1_ideas").iterdir()) == before
    assert cli("idea", "new", f"{slug}-idea", "--title", "T", cwd=research_repo).code == 0


def test_baseline_is_a_reserved_slug(research_repo: Path, cli) -> None:
    result = cli("idea", "new", "baseline", "--title", "T", cwd=research_repo)
    assert result.code == 2
    assert "reserved for runs of the main branch" in result.err


def test_a_duplicate_slug_names_the_existing_file(research_repo: Path, cli) -> None:
    new(cli, research_repo, "wide", "Wider hidden layer")
    result = cli("idea", "new", "wide", "--title", "Something else", cwd=research_repo)
    assert result.code == 1
    name = idea_path(research_repo, "wide").name
    assert result.err == (
        f"harness: idea 'wide' exists already in 1_ideas/{name}: choose another slug\n"
    )
    assert len(list((research_repo / "1_ideas").glob("*_wide.md"))) == 1


def test_an_unknown_slug_is_one_clear_line(research_repo: Path, cli) -> None:
    for args in (["show", "nope"], ["set", "nope", "--status", "critiqued"]):
        result = cli("idea", *args, cwd=research_repo)
        assert result.code == 1
        assert result.err.startswith("harness: no idea 'nope' in ")
        assert "harness idea list" in result.err and result.err.count("\n") == 1


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("no front matter at all\n", "does not start with a `---` front matter block"),
        ("---\nslug: broken\ntitle: T\nstatus: proposed\n", "has no closing `---`"),
        ("---\nslug: broken\ntitle: [unclosed\n---\n", "front matter is not valid YAML"),
        ("---\nslug: broken\ntitle: T\nstatus: dreaming\n---\n", "status 'dreaming' is not one"),
        ("---\nslug: other\ntitle: T\nstatus: proposed\n---\n", "differs from the file name"),
        ("---\nslug: broken\nstatus: proposed\n---\n", "has no title"),
        ("---\nslug: broken\ntitle: T\nstatus: proposed\nrating: 11\n---\n", "rating must be"),
        ("---\n- a list\n---\n", "not a mapping"),
    ],
)
def test_malformed_front_matter_names_the_file(
    research_repo: Path, cli, text: str, problem: str
) -> None:
    new(cli, research_repo, "fine", "A fine idea")
    (research_repo / "1_ideas" / "2024-01-02_broken.md").write_text(text)
    for args in (["list"], ["show", "broken"], ["pick"]):
        result = cli("idea", *args, cwd=research_repo)
        assert result.code == 1, args
        assert result.err.startswith("harness: 1_ideas/2024-01-02_broken.md"), result.err
        assert problem in result.err
        assert result.err.count("\n") == 1 and "Traceback" not in result.err
    assert cli("status", cwd=research_repo).err == result.err


def test_two_files_with_one_slug_are_reported(research_repo: Path, cli) -> None:
    path = Path(new(cli, research_repo, "twice", "Twice").out.strip())
    (path.parent / "2020-01-01_twice.md").write_text(path.read_text())
    result = cli("idea", "list", cwd=research_repo)
    assert result.code == 1
    assert "two files hold idea 'twice': 1_ideas/2020-01-01_twice.md and" in result.err


def test_other_files_in_the_ideas_folder_are_not_ideas(research_repo: Path, cli) -> None:
    (research_repo / "1_ideas" / "README.md").write_text("notes about ideas\n")
    (research_repo / "1_ideas" / "scratch.txt").write_text("x\n")
    assert cli("idea", "list", cwd=research_repo).out == ""


def test_list_filters_by_status_and_prints_json(research_repo: Path, cli) -> None:
    new(cli, research_repo, "first", "First idea")
    new(cli, research_repo, "second", "Second idea")
    cli("idea", "critique", "second", "--file", write(research_repo, CRITIQUE), cwd=research_repo)

    lines = cli("idea", "list", cwd=research_repo).out.splitlines()
    assert [line.split()[:3] for line in lines] == [
        ["first", "proposed", "-"],
        ["second", "critiqued", "7/10"],
    ]
    only = cli("idea", "list", "--status", "critiqued", "--json", cwd=research_repo).out
    (row,) = json.loads(only)
    assert row["slug"] == "second" and row["rating"] == 7 and row["impact"] == 6
    assert Path(row["path"]) == idea_path(research_repo, "second")
    bad = cli("idea", "list", "--status", "dreaming", cwd=research_repo)
    assert bad.code == 2


def write(repo: Path, text: str, name: str = "critique.md") -> str:
    path = repo.parent / name
    path.write_text(text)
    return str(path)


def test_critique_is_appended_with_a_timestamp_and_scores_recorded(
    research_repo: Path, cli
) -> None:
    new(cli, research_repo, "lr-warmup", "Linear learning-rate warmup")
    result = cli(
        "idea", "critique", "lr-warmup", "--file", write(research_repo, CRITIQUE), cwd=research_repo
    )
    assert result.code == 0, result.err
    assert result.out == (
        "lr-warmup: rating 7/10 (novelty 3, impact 6, feasibility 9), critiqued\n"
    )
    path = idea_path(research_repo, "lr-warmup")
    meta = front_matter(path)
    assert (meta["status"], meta["rating"], meta["novelty"], meta["impact"]) == (
        "critiqued",
        7,
        3,
        6,
    )
    assert meta["feasibility"] == 9
    critique = path.read_text().split("\n## Critique\n", 1)[1].split("\n## History\n")[0]
    assert "### 20" in critique and "Z\n\nThe mechanism is plausible" in critique

    second = "Re-read: the schedule interacts with the budget.\nRating: 5.5 / 10\n"
    cli("idea", "critique", "lr-warmup", "--file", write(research_repo, second), cwd=research_repo)
    meta = front_matter(path)
    assert meta["rating"] == 5.5 and meta["novelty"] == 3  # a missing score keeps the old one
    critique = path.read_text().split("\n## Critique\n", 1)[1].split("\n## History\n")[0]
    assert critique.index("The mechanism") < critique.index("Re-read:")
    assert meta["status"] == "critiqued"


def test_critique_from_standard_input(
    research_repo: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    new(cli, research_repo, "wide", "Wider hidden layer")
    monkeypatch.setattr("sys.stdin", io.StringIO("Worth a try.\nrating = 8\n"))
    result = cli("idea", "critique", "wide", "--file", "-", cwd=research_repo)
    assert result.code == 0, result.err
    assert front_matter(idea_path(research_repo, "wide"))["rating"] == 8


def test_a_critique_without_rating_changes_nothing(research_repo: Path, cli) -> None:
    new(cli, research_repo, "wide", "Wider hidden layer")
    before = idea_path(research_repo, "wide").read_text()
    result = cli(
        "idea", "critique", "wide", "--file", write(research_repo, "Nice.\n"), cwd=research_repo
    )
    assert result.code == 2
    assert result.err.startswith("harness: the critique has no rating: end it with a line")
    assert idea_path(research_repo, "wide").read_text() == before


def test_a_critique_with_a_score_out_of_range_is_refused(research_repo: Path, cli) -> None:
    new(cli, research_repo, "wide", "Wider hidden layer")
    critique = write(research_repo, "Rating: 12/10\n")
    result = cli("idea", "critique", "wide", "--file", critique, cwd=research_repo)
    assert result.code == 2 and "out of range" in result.err


def test_a_missing_critique_file_is_one_line(research_repo: Path, cli) -> None:
    new(cli, research_repo, "wide", "Wider hidden layer")
    missing = research_repo.parent / "nope.md"
    result = cli("idea", "critique", "wide", "--file", str(missing), cwd=research_repo)
    assert result.code == 2
    assert result.err == (
        f"harness: cannot read {missing}: No such file or directory: give a readable text file\n"
    )


def test_pick_takes_the_best_rated_then_the_best_scored(research_repo: Path, cli) -> None:
    for slug in ("low", "high-scores", "high-plain", "fresh"):
        new(cli, research_repo, slug, f"Idea {slug}")
    critiques = {
        "low": "Rating: 4/10\nImpact: 10/10",
        "high-plain": "Rating: 8/10\nNovelty: 2/10",
        "high-scores": "Rating: 8/10\nNovelty: 6/10\nImpact: 7/10\nFeasibility: 8/10",
    }
    for slug, text in critiques.items():
        path = write(research_repo, text, f"{slug}.md")
        assert cli("idea", "critique", slug, "--file", path, cwd=research_repo).code == 0

    result = cli("idea", "pick", cwd=research_repo)
    assert result.out.splitlines()[0] == "high-scores"
    assert "rating 8/10 (novelty 6, impact 7, feasibility 8), the best of 3" in result.out
    assert "next: high-plain" in result.out
    picked = json.loads(cli("idea", "pick", "--json", cwd=research_repo).out)
    assert picked["slug"] == "high-scores" and picked["runner_up"] == "high-plain"

    cli("implement", "high-scores", cwd=research_repo)
    assert cli("idea", "pick", cwd=research_repo).out.splitlines()[0] == "high-plain"


def test_pick_falls_back_to_the_oldest_uncritiqued_and_fails_when_none_is_left(
    research_repo: Path, cli
) -> None:
    assert cli("idea", "pick", cwd=research_repo).err.startswith(
        "harness: no idea left to implement (all 0 are started, finished or abandoned)"
    )
    new(cli, research_repo, "only", "The only idea")
    result = cli("idea", "pick", cwd=research_repo)
    assert result.out.splitlines()[0] == "only"
    assert "no idea is critiqued yet" in result.out


def test_the_full_life_of_an_idea(research_repo: Path, cli) -> None:
    new(cli, research_repo, "wide", "Wider hidden layer")
    cli("idea", "critique", "wide", "--file", write(research_repo, CRITIQUE), cwd=research_repo)
    worktree = Path(cli("worktree", "create", "wide", cwd=research_repo).out.strip())
    steps = ["testing", "implementing", "testing", "reported", "submitted"]
    for status in steps:
        result = cli("idea", "set", "wide", "--status", status, cwd=worktree)
        assert result.code == 0, result.err
        assert result.out == f"wide: {status}\n"
    path = idea_path(research_repo, "wide")
    assert front_matter(path)["status"] == "submitted"
    history = path.read_text().split("\n## History\n\n", 1)[1].splitlines()
    moves = [line.split(" ", 2)[2] for line in history]
    assert moves == [
        "proposed -> critiqued (rating 7/10)",
        "critiqued -> implementing (worktree created)",
        "implementing -> testing",
        "testing -> implementing",
        "implementing -> testing",
        "testing -> reported",
        "reported -> submitted",
    ]
    again = cli("idea", "set", "wide", "--status", "submitted", cwd=research_repo)
    assert again.code == 0 and again.out == "wide is submitted already\n"


def test_moves_out_of_order_are_refused_unless_forced(research_repo: Path, cli) -> None:
    new(cli, research_repo, "wide", "Wider hidden layer")
    result = cli("idea", "set", "wide", "--status", "reported", cwd=research_repo)
    assert result.code == 2
    assert result.err == (
        "harness: idea 'wide' is proposed: it can move to abandoned, critiqued, implementing, "
        "not reported (pass --force to override)\n"
    )
    assert front_matter(idea_path(research_repo, "wide"))["status"] == "proposed"
    forced = cli("idea", "set", "wide", "--status", "reported", "--force", cwd=research_repo)
    assert forced.code == 0
    assert front_matter(idea_path(research_repo, "wide"))["status"] == "reported"


def test_abandoning_needs_a_reason_which_is_kept(research_repo: Path, cli) -> None:
    new(cli, research_repo, "wide", "Wider hidden layer")
    refused = cli("idea", "set", "wide", "--status", "abandoned", cwd=research_repo)
    assert refused.code == 2
    assert refused.err == (
        "harness: abandoning 'wide' needs a reason: pass --reason 'why it was dropped'\n"
    )
    reason = "the budget cannot afford a wider layer"
    result = cli(
        "idea", "set", "wide", "--status", "abandoned", "--reason", reason, cwd=research_repo
    )
    assert result.code == 0
    path = idea_path(research_repo, "wide")
    assert front_matter(path)["abandoned_reason"] == reason
    assert f"proposed -> abandoned: {reason}" in path.read_text()
    assert json.loads(cli("idea", "show", "wide", "--json", cwd=research_repo).out)["reason"] == (
        reason
    )

    reopened = cli("idea", "set", "wide", "--status", "proposed", cwd=research_repo)
    assert reopened.code == 0
    assert "abandoned_reason" not in front_matter(path)
    assert f"proposed -> abandoned: {reason}" in path.read_text()  # the history keeps it


def test_a_similar_idea_is_named_on_new(research_repo: Path, cli) -> None:
    new(cli, research_repo, "lr-warmup", "Linear learning-rate warmup")
    new(cli, research_repo, "wide", "Wider hidden layer")
    cli("idea", "set", "wide", "--status", "abandoned", "--reason", "too slow", cwd=research_repo)

    warmup = new(cli, research_repo, "warmup-lr", "Learning rate warmup")
    assert "warning: similar to idea 'lr-warmup' (proposed): read 1_ideas/" in warmup.err
    wider = new(cli, research_repo, "wider-mlp", "A wider hidden layer for the MLP")
    assert "similar to idea 'wide' (abandoned, because: too slow)" in wider.err
    unrelated = new(cli, research_repo, "cosine", "Cosine learning rate schedule")
    assert unrelated.err == ""


def test_a_similar_hypothesis_is_named_even_under_another_title(research_repo: Path, cli) -> None:
    hypothesis = "Dropout of 0.1 on the hidden layer reduces overfitting and lowers val_bpb"
    new(cli, research_repo, "regularise", "Regularise the MLP", "--hypothesis", hypothesis)
    result = new(
        cli,
        research_repo,
        "drop",
        "Drop units",
        "--hypothesis",
        "dropout 0.1 on hidden layers reduces the overfitting, lowering val_bpb",
    )
    assert "similar to idea 'regularise'" in result.err
    # the template's placeholder hypothesis is never a reason to warn
    new(cli, research_repo, "alpha", "Alpha")
    assert new(cli, research_repo, "beta", "Beta").err == ""


def test_ideas_written_from_a_worktree_land_in_the_root_copy(research_repo: Path, cli) -> None:
    new(cli, research_repo, "wide", "Wider hidden layer")
    worktree = Path(cli("worktree", "create", "wide", cwd=research_repo).out.strip())
    result = new(
        cli, research_repo, "from-inside", "Written in a worktree", cwd=worktree / "1_ideas"
    )
    assert Path(result.out.strip()).parent == research_repo / "1_ideas"
    assert not list((worktree / "1_ideas").glob("*_from-inside.md"))
    listed = cli("idea", "list", cwd=worktree).out
    assert "from-inside" in listed and "wide" in listed
    layout = find_layout(worktree)
    assert find_idea(layout, "from-inside").path.parent == research_repo / "1_ideas"
    # the worktree's branch is untouched by the record
    assert git(worktree, "status", "--porcelain") == ""


def test_the_cli_status_names_are_the_core_statuses() -> None:
    assert get_args(Status) == STATUSES


def test_advance_only_moves_an_idea_forward(research_repo: Path, cli) -> None:
    """What report, submit and the queue call: forward, or nothing at all."""
    from harness.loop.ideas import advance

    layout = find_layout(research_repo)
    new(cli, research_repo, "wide", "Wider hidden layer")
    assert advance(layout, "wide", "testing", note="runs queued").status == "testing"
    assert advance(layout, "wide", "implementing").status == "testing"
    assert advance(layout, "wide", "testing").status == "testing"
    text = idea_path(research_repo, "wide").read_text()
    assert text.count(" -> ") == 1 and "proposed -> testing (runs queued)" in text
    cli("idea", "set", "wide", "--status", "abandoned", "--reason", "r", cwd=research_repo)
    assert advance(layout, "wide", "reported").status == "abandoned"


def test_ideas_are_listed_in_the_order_they_were_written(research_repo: Path, cli) -> None:
    for slug in ("zeta", "alpha", "mid"):
        assert cli("idea", "new", slug, "--title", f"idea {slug}", cwd=research_repo).code == 0
    listed = cli("idea", "list", cwd=research_repo).out.splitlines()
    assert [line.split()[0] for line in listed] == ["zeta", "alpha", "mid"]
    (path,) = (research_repo / "1_ideas").glob("*_zeta.md")
    assert re.search(r"(?m)^created: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$", path.read_text())
