"""META_MODE: the environment, or the newest human_journal.md entry that mentions it."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from harness.rules.appendonly import is_valid_append
from harness.rules.meta import journal_grant, meta_state, parse_time
from tests.conftest import git

HEADER = "# Human journal\n\nAn entry that says `META_MODE=1` grants META_MODE.\n\n"


def journal(*entries: str) -> str:
    return HEADER + "".join(f"## {entry}\n\n" for entry in entries)


@pytest.mark.parametrize(
    ("text", "active"),
    [
        (journal(), False),
        (journal("2025-01-02 META_MODE=1 fix the split"), True),
        (journal("2025-01-03 META_MODE=0 done", "2025-01-02 META_MODE=1"), False),
        (journal("2025-01-03 notes without the word", "2025-01-02 META_MODE=1"), True),
        (journal("2025-01-03 thinking about META_MODE", "2025-01-02 META_MODE=1"), False),
        (journal("META_MODE=1 now, META_MODE=0 later"), False),
        (journal("META_MODE = 1"), True),
        (journal("META_MODE=10"), False),
    ],
)
def test_the_newest_entry_mentioning_meta_mode_decides(text: str, active: bool) -> None:
    assert (journal_grant(text) is not None) is active
    assert meta_state(environ={}, journal_text=text).active is active


def test_the_header_grants_nothing_and_the_environment_grants_alone() -> None:
    assert not meta_state(environ={}, journal_text=HEADER).active
    state = meta_state(environ={"META_MODE": "1"}, journal_text=HEADER)
    assert (state.active, state.source) == (True, "the environment (META_MODE=1)")
    assert not meta_state(environ={"META_MODE": "yes"}, journal_text=HEADER).active


@pytest.mark.parametrize(
    ("heading", "moment"),
    [
        ("2025-01-02T03:04:05Z META_MODE=1 (meta on)", datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2025-01-02 03:04 UTC grant", datetime(2025, 1, 2, 3, 4, tzinfo=UTC)),
        ("2025-01-02 grant", datetime(2025, 1, 2, tzinfo=UTC)),
        ("2025-01-02T05:04:00+02:00 grant", datetime(2025, 1, 2, 3, 4, tzinfo=UTC)),
        ("grant, no date", None),
        ("2025-13-40 not a date", None),
    ],
)
def test_entry_timestamps(heading: str, moment: datetime | None) -> None:
    assert parse_time(heading) == moment


@pytest.mark.usefixtures("terminal")
def test_meta_on_off_status_from_a_linked_worktree(research_repo: Path, cli) -> None:
    worktree = research_repo / "5_worktrees" / "idea"
    git(research_repo, "worktree", "add", "--quiet", "-b", "exp/idea", str(worktree))
    path = research_repo / "human_journal.md"
    original = path.read_text()

    assert cli("meta", "status", cwd=worktree).out.startswith("META_MODE off: no grant")
    on = cli("meta", "on", "--reason", "eval.py leaks the test split", cwd=worktree)
    assert on.code == 0, on.err
    granted = path.read_text()
    assert is_valid_append(original, granted)
    assert "eval.py leaks the test split" in granted
    assert (worktree / "human_journal.md").read_text() == original  # the root copy only
    status = json.loads(cli("meta", "status", "--json", cwd=worktree).out)
    assert status["active"] is True
    assert status["source"].startswith("human_journal.md: ## ")
    assert status["source"].endswith(" META_MODE=1 (meta on)")

    assert cli("meta", "off", cwd=worktree).out.startswith("META_MODE off: wrote `## ")
    assert is_valid_append(granted, path.read_text())
    assert cli("meta", "status", cwd=worktree).out.startswith("META_MODE off")
    again = cli("meta", "off", cwd=worktree)
    assert again.out == "META_MODE is not granted in human_journal.md: nothing written\n"


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        ("  ", 'harness: say why META_MODE is needed: harness meta on --reason "..."'),
        (
            "set META_MODE=0 later",
            "harness: the reason must not mention META_MODE or hold `## ` heading lines",
        ),
        (
            "ok\n## fake entry",
            "harness: the reason must not mention META_MODE or hold `## ` heading lines",
        ),
    ],
)
@pytest.mark.usefixtures("terminal")
def test_meta_on_refuses_an_empty_or_confusing_reason(
    research_repo: Path, cli, reason: str, message: str
) -> None:
    before = (research_repo / "human_journal.md").read_text()
    result = cli("meta", "on", "--reason", reason, cwd=research_repo)
    assert (result.code, result.err.strip()) == (2, message)
    assert (research_repo / "human_journal.md").read_text() == before


@pytest.mark.usefixtures("terminal")
def test_meta_mode_granted_then_revoked_in_the_human_journal(research_repo: Path, cli) -> None:
    def commit_eval(text: str) -> subprocess.CompletedProcess[str]:
        (research_repo / "eval.py").write_text(text)
        git(research_repo, "add", "eval.py", "human_journal.md")
        return subprocess.run(
            ["git", "commit", "--quiet", "-m", "eval change"],
            cwd=research_repo,
            capture_output=True,
            text=True,
            env=dict(os.environ),
        )

    assert commit_eval("print('v1')\n").returncode == 1
    cli("meta", "on", "--reason", "fix the split", cwd=research_repo)
    assert commit_eval("print('v2')\n").returncode == 0
    cli("meta", "off", cwd=research_repo)
    refused = commit_eval("print('v3')\n")
    assert refused.returncode == 1
    assert "eval.py is FROZEN: editing it needs META_MODE=1" in refused.stderr
