"""`harness audit`: FROZEN changes in main's history, each with the grant that allowed it."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from harness.layout import find_layout
from harness.rules.meta import grant, revoke
from tests.conftest import git


def commit_at(repo: Path, when: str, files: dict[str, str], *, verify: bool = True) -> str:
    for relative, text in files.items():
        (repo / relative).write_text(text)
        git(repo, "add", relative)
    env = {**os.environ, "GIT_COMMITTER_DATE": when, "GIT_AUTHOR_DATE": when}
    args = ["git", "commit", "--quiet", "-m", f"change at {when}"]
    proc = subprocess.run(
        args + ([] if verify else ["--no-verify"]),
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    return git(repo, "rev-parse", "HEAD").strip()


@pytest.fixture
def history(research_repo: Path) -> dict[str, str]:
    """Main's history: a granted eval.py change, an ungranted one, and one merged from exp."""
    layout = find_layout(research_repo)
    grant(layout, reason="the split leaked", now=datetime(2030, 1, 1, 10, tzinfo=UTC))
    journal = (research_repo / "human_journal.md").read_text()
    grant_commit = commit_at(research_repo, "2030-01-01T10:00:00Z", {"human_journal.md": journal})
    granted = commit_at(research_repo, "2030-01-01T11:00:00Z", {"eval.py": "print(1)\n"})
    revoke(layout, now=datetime(2030, 1, 1, 12, tzinfo=UTC))
    commit_at(
        research_repo,
        "2030-01-01T12:00:00Z",
        {"human_journal.md": (research_repo / "human_journal.md").read_text()},
    )
    sneaky = commit_at(
        research_repo, "2030-01-01T13:00:00Z", {"eval.py": "print(2)\n"}, verify=False
    )
    git(research_repo, "checkout", "--quiet", "-b", "exp/idea")
    merged = commit_at(
        research_repo, "2030-01-01T14:00:00Z", {"program.md": "mine\n"}, verify=False
    )
    git(research_repo, "checkout", "--quiet", "main")
    git(research_repo, "merge", "--quiet", "--no-ff", "--no-verify", "-m", "merge", "exp/idea")
    commit_at(research_repo, "2030-01-01T15:00:00Z", {"train.py": "x = 1\n"}, verify=False)
    return {"granted": granted, "sneaky": sneaky, "merged": merged, "grant": grant_commit}


def test_audit_lists_frozen_changes_with_their_grants(
    research_repo: Path, history: dict[str, str], cli
) -> None:
    result = cli("audit", "--json", cwd=research_repo)
    assert result.code == 3, result.err
    report = json.loads(result.out)
    summary = [(e["commit"], e["paths"], e["grant"]) for e in report["changes"]]
    first = git(research_repo, "rev-list", "--max-parents=0", "HEAD").strip()
    assert summary == [
        (history["merged"], ["program.md"], None),
        (history["sneaky"], ["eval.py"], None),
        (
            history["granted"],
            ["eval.py"],
            f"human_journal.md: ## 2030-01-01T10:00:00Z META_MODE=1 (meta on) "
            f"(commit {history['grant'][:10]})",
        ),
        (
            first,
            ["AGENTS.md", "CLAUDE.md", "eval.py", "meta_journal.md", "program.md"],
            "the first commit",
        ),
    ]


def test_audit_text_says_no_grant_plainly_when_piped(
    research_repo: Path, history: dict[str, str], cli
) -> None:
    out = cli("audit", cwd=research_repo).out
    assert f"{history['sneaky'][:10]}  2030-01-01 13:00  eval.py  change at" in out
    assert "            grant: no grant\n" in out
    assert "\033[" not in out


def test_audit_colours_no_grant_red_on_a_terminal(
    research_repo: Path, history: dict[str, str]
) -> None:
    main, secondary = pty.openpty()
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "audit"],
        cwd=research_repo,
        stdout=secondary,
        stderr=subprocess.PIPE,
        timeout=60,
    )
    os.close(secondary)
    chunks = []
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main)
    assert proc.returncode == 3, proc.stderr
    assert b"grant: \x1b[31mno grant\x1b[0m" in b"".join(chunks)


def test_audit_of_a_repository_without_frozen_changes(tmp_path: Path, cli) -> None:
    repo = tmp_path / "plain"
    repo.mkdir()
    git(repo, "init", "--quiet", "--initial-branch=main")
    (repo / "pyproject.toml").write_text("[tool.harness]\n")
    git(repo, "add", "pyproject.toml")
    git(repo, "commit", "--quiet", "-m", "start")
    result = cli("audit", cwd=repo)
    assert (result.code, result.out) == (0, "no commit of the main branch changed a FROZEN file\n")


ROWS_FIX = (
    "restore the old rows byte for byte (new runs are appended at the end by the harness; "
    "only `harness results upgrade` rewrites the header)"
)


def record_rows(repo: Path, *values: float) -> str:
    """Append sealed rows as the harness does, and commit them through the hook."""
    from harness.record.results import append_rows, new_run_id

    rows = [
        {"run_id": new_run_id(), "idea": "baseline", "value": v, "status": "ok"} for v in values
    ]
    append_rows(find_layout(repo), rows)
    return commit_at(
        repo, "2030-01-02T10:00:00Z", {"results.tsv": (repo / "results.tsv").read_text()}
    )


def test_audit_fails_on_rows_of_results_tsv_rewritten_past_the_hook(
    research_repo: Path, cli
) -> None:
    record_rows(research_repo, 1.5, 1.4, 1.3)
    lines = (research_repo / "results.tsv").read_text().splitlines(keepends=True)
    edited = "".join([*lines[:2], lines[2].replace("1.4", "1.0"), *lines[3:]])
    edit = commit_at(research_repo, "2030-01-02T11:00:00Z", {"results.tsv": edited}, verify=False)
    deleted = "".join([lines[0], lines[1], lines[3]])
    delete = commit_at(
        research_repo, "2030-01-02T12:00:00Z", {"results.tsv": deleted}, verify=False
    )
    record_rows(research_repo, 1.2)  # appending after it is fine: the rewrites stay flagged
    result = cli("audit", "--json", cwd=research_repo)
    assert result.code == 3
    assert json.loads(result.out)["problems"] == [
        f"{delete[:10]}: results.tsv is APPEND-ONLY: line 3 was deleted; {ROWS_FIX}",
        f"{edit[:10]}: results.tsv is APPEND-ONLY: line 3 was edited; {ROWS_FIX}",
    ]


def test_audit_passes_rows_appended_and_the_upgrade_rewrite(research_repo: Path, cli) -> None:
    from harness.record.results import format_row
    from harness.record.schema import FIRST_COLUMNS, header_line

    old = header_line(FIRST_COLUMNS) + format_row({"run_id": "old", "value": 1.5}, FIRST_COLUMNS)
    commit_at(research_repo, "2030-01-02T09:00:00Z", {"results.tsv": old}, verify=False)
    git(research_repo, "update-ref", "refs/harness/audited", "HEAD")  # accepted, as before
    assert cli("results", "upgrade", cwd=research_repo).code == 0
    record_rows(research_repo, 1.4)
    record_rows(research_repo, 1.3)
    result = cli("audit", "--json", cwd=research_repo)
    assert (result.code, json.loads(result.out)["problems"]) == (0, [])
