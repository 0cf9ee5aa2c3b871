"""The journal: researcher's notes and run entries, always a valid APPEND-ONLY change."""

from __future__ import annotations

from pathlib import Path

from harness.rules.appendonly import is_valid_append, split_header
from tests.conftest import git


def test_a_note_from_a_worktree_lands_on_top_of_the_root_journal(research_repo: Path, cli) -> None:
    worktree = research_repo / "5_worktrees" / "idea"
    git(research_repo, "worktree", "add", "-q", "-b", "exp/idea", str(worktree))
    journal = research_repo / "RESEARCH_JOURNAL.md"
    first = cli("journal", "add", "--observation", "loss plateaus at step 300", cwd=worktree)
    assert first.code == 0, first.err
    old = journal.read_text()
    result = cli(
        "journal",
        "add",
        "--observation",
        "val_bpb 1.21 over 3 seeds\n## not a heading",
        "--inference",
        "width helps",
        "--idea",
        "idea",
        cwd=worktree,
    )
    assert result.code == 0
    new = journal.read_text()
    assert is_valid_append(old, new)
    _, body = split_header(new)
    entry = body.split("\n## ")[0]
    assert entry.startswith("## ") and entry.splitlines()[0].endswith(" · note · idea")
    assert "**Observation.** val_bpb 1.21 over 3 seeds\n\\## not a heading" in entry
    assert "**Inference.** width helps" in entry
    assert body.count("\n## ") == 1  # the escaped line did not become an entry
    assert "loss plateaus" in body.split("\n## ")[1]
    committed = git(research_repo, "show", "HEAD:RESEARCH_JOURNAL.md")
    assert (worktree / "RESEARCH_JOURNAL.md").read_text() == committed  # the branch's copy


def test_an_empty_observation_is_refused(research_repo: Path, cli) -> None:
    before = (research_repo / "RESEARCH_JOURNAL.md").read_text()
    result = cli("journal", "add", "--observation", "  ", cwd=research_repo)
    assert result.code == 2
    assert result.err == "harness: --observation is empty: say what was measured or seen\n"
    assert (research_repo / "RESEARCH_JOURNAL.md").read_text() == before
