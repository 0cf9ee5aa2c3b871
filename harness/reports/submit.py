"""`harness submit SLUG`: an idea's branch becomes a pull request when it wins, honestly.

Refused, with what to do, when the idea's worktree has uncommitted changes, when
`harness guard --range main..exp/<slug>` fails, or when any of the idea's runs ran with
FROZEN files that differ from main. Otherwise the branch is pushed to the configured
remote (when the repository has it), and the decision is taken: the idea's runs at its
code must beat the runs of the head of its line by more than `min_effect` and the noise
(`harness.record.standing`; a stale idea is refused), and, when `[tool.harness] confirm` is
set, the win must hold on the held-out data against the head too (`harness.runs.confirm`),
judged only from confirmation runs this decision queued or ran itself (their task tokens,
`harness.reports.confirming`): confirm rows on record are not trusted from the file alone.
With `advance = "trunk"` a winner is merged into the trunk (`harness.reports.trunk`) and
the one pull request trunk -> main is opened or updated; otherwise a winner's pull request
is opened with `gh pr create` when gh is installed and authenticated and the remote is not
a local path, or else its body is written to `9_reports/YYYY-MM-DD_<slug>_pr.md` with the
exact command that opens it. Either way the decision, and why, goes to the journal and
to the idea's history.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from harness import gitops
from harness.config import Config
from harness.errors import HarnessError, RuleViolation, UsageError, WorktreeError
from harness.fileio import read_text, write_atomic
from harness.layout import REPORTS_DIR, Layout
from harness.loop.ideas import (
    DECISION,
    Idea,
    advance,
    find_idea,
    ideas_lock,
    log_change,
    rewrite_idea,
)
from harness.loop.inferences import is_outdated
from harness.loop.ratchet import check_fresh, code_now, idea_standing
from harness.loop.worktrees import find_worktree
from harness.record.journal import add_entry, heading_time
from harness.record.results import read_results
from harness.record.standing import Standing
from harness.reports import trunk
from harness.reports.confirming import confirmation_progress
from harness.reports.report import (
    Report,
    check_seeds,
    find_report,
    num,
    signed,
    write_report,
)
from harness.runs import confirm as held_out

if TYPE_CHECKING:
    import polars as pl


MAX_LISTED = 5


@dataclass(frozen=True)
class PullRequest:
    title: str
    body: Path
    command: tuple[str, ...]  # the gh command that opens it
    cwd: Path  # where to run the command
    url: str | None  # set when it was opened
    why_not_opened: str  # why gh was not used ("" when it was)


@dataclass(frozen=True)
class Submission:
    idea: Idea
    submitted: bool
    reason: str
    report: Report
    pushed: str  # what became of the branch on the remote
    confirmation: held_out.Confirmation | None
    pull_request: PullRequest | None
    entry: str
    merged: str | None = None  # the trunk's merge commit (advance = "trunk")
    queued: tuple[str, ...] = ()  # confirmation tasks queued: the decision waits for them

    def to_json(self) -> dict[str, object]:
        pr = self.pull_request
        return {
            "idea": self.idea.slug,
            "submitted": self.submitted,
            "pending": bool(self.queued),
            "queued": list(self.queued),
            "reason": self.reason,
            "report": str(self.report.path),
            "pushed": self.pushed,
            "merged": self.merged,
            "confirmation": None
            if self.confirmation is None
            else {"holds": self.confirmation.holds, "why": self.confirmation.reason},
            "pull_request": None
            if pr is None
            else {
                "title": pr.title,
                "body": str(pr.body),
                "url": pr.url,
                "command": shlex.join(pr.command),
                "why_not_opened": pr.why_not_opened,
            },
        }


def submit(
    layout: Layout,
    config: Config,
    slug: str,
    *,
    force: bool = False,
    wait: bool = False,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> Submission:
    """Check, push, decide, confirm, open (or prepare) the pull request, and record it.

    A winner's held-out confirmation runs through the queue: its runs are queued and the
    Submission comes back `queued`, undecided; the next call decides from the rows of
    exactly those runs (`harness.reports.confirming`), never from other confirm rows on
    record. `wait` runs them all here instead.
    """
    if wait and layout.referee is not None:
        raise UsageError(
            "referee mode: the held-out confirmation runs as the referee, through the queue: "
            "drop --wait, `harness queue wait`, then submit again"
        )
    idea = find_idea(layout, slug)
    check_submittable(idea, layout, config)
    check_clean(layout, config, idea)
    check_guard(layout, config, idea)
    frame = read_results(layout.results_tsv)
    check_integrity_of_runs(frame, config, idea)
    where = idea_standing(layout, config, frame, slug)
    check_run_records(layout, frame, idea, where)
    check_fresh(layout, config, idea, where)
    check_seeds(where, config, command="submit", force=force)
    check_inferences_current(layout, config, idea, force=force)
    pushed = push(layout, config, idea)
    confirmation = None
    if where.is_winner and held_out.is_configured(config) and wait:
        confirmation = run_confirmation(layout, config, frame, where, sinks=(stdout, stderr))
    elif where.is_winner and held_out.is_configured(config):
        progress = confirmation_progress(layout, config, frame, where)
        if progress.confirmation is None:
            what = "queued" if progress.queued_now else "still running"
            reason = f"held-out confirmation {what} ({len(progress.tasks)} run(s)): {where.reason}"
            report = write_report(layout, config, slug, journal=False, force=True)
            return Submission(
                idea, False, reason, report, pushed, None, None, "", queued=progress.tasks
            )
        confirmation = progress.confirmation
        add_entry(layout, held_out.confirm_entry(confirmation))
    submitted, reason = decide(where, confirmation)
    status = "submitted" if submitted else None
    report = write_report(
        layout, config, slug, journal=False, status=status, force=True, confirmation=confirmation
    )
    merged, pull_request = None, None
    if submitted and config.advance == "trunk":
        merged, pull_request = advance_trunk(layout, config, idea, report, where, confirmation)
    elif submitted:
        pull_request = open_pull_request(layout, config, idea, report)
    entry = decision_entry(idea, submitted, reason, pushed, confirmation, pull_request)
    if merged is not None:
        entry = entry.rstrip("\n") + f"\n- Trunk: merged into {config.trunk} at {merged[:10]}\n"
    add_entry(layout, entry)
    idea = record_on_idea(
        layout, slug, submitted=submitted, reason=reason, pr=pull_request, merged=merged
    )
    return Submission(
        idea, submitted, reason, report, pushed, confirmation, pull_request, entry, merged
    )


# -- the refusals --------------------------------------------------------------------------


def check_submittable(idea: Idea, layout: Layout, config: Config) -> None:
    if idea.status == "abandoned":
        raise UsageError(
            f"idea {idea.slug!r} is abandoned: reopen it with "
            f"`harness idea set {idea.slug} --status proposed` first"
        )
    if idea.status == "submitted":
        raise UsageError(f"idea {idea.slug!r} is submitted already: see {idea.name}, History")
    if not gitops.branch_exists(layout.root, idea.branch):
        raise UsageError(
            f"idea {idea.slug!r} has no branch {idea.branch}: create its worktree with "
            f"`harness worktree create {idea.slug}` and commit the change there"
        )


def check_clean(layout: Layout, config: Config, idea: Idea) -> None:
    """Refuse uncommitted changes in the idea's worktree, naming them."""
    worktree = find_worktree(layout, config, idea.slug)
    if worktree is None or worktree.missing:
        return
    entries = gitops.status_entries(worktree.path)
    if not entries:
        return
    listed = ", ".join(f"{code.strip()} {path}" for code, path in entries[:MAX_LISTED])
    more = f" and {len(entries) - MAX_LISTED} more" if len(entries) > MAX_LISTED else ""
    where = shlex.quote(str(worktree.path))
    raise WorktreeError(
        f"{worktree.path} has uncommitted changes ({listed}{more}): commit them on "
        f"{idea.branch} (`git -C {where} add -A && git -C {where} commit -m '...'`) "
        "or discard them, then submit again"
    )


def check_guard(layout: Layout, config: Config, idea: Idea) -> None:
    """`harness guard --range main..exp/<slug>`, as CI would run it on the pull request."""
    from harness.rules.guard import check_range

    spec = f"{config.main_branch}..{idea.branch}"
    report = check_range(spec, start=layout.root, branch=idea.branch)
    if report.ok:
        return
    first = report.violations[0]
    more = f" (and {len(report.violations) - 1} more)" if len(report.violations) > 1 else ""
    raise RuleViolation(
        f"`harness guard --range {spec}` fails: {first}{more}; the pull request would be "
        f"refused: take those commits out of {idea.branch} (e.g. `git rebase -i "
        f"{config.main_branch}` in its worktree), then submit again"
    )


def check_inferences_current(layout: Layout, config: Config, idea: Idea, *, force: bool) -> None:
    """Refuse a decision whose report interprets older code (`harness.loop.inferences`)."""
    path = find_report(layout, idea.slug)
    if force or path is None or not is_outdated(read_text(path), code_now(layout, config, idea)):
        return
    raise UsageError(
        f"{idea.slug}'s report has Inferences written before its code now (it changed since, "
        f"e.g. by `harness rebase`): write them again with `harness report {idea.slug} "
        "--inferences FILE`, or pass --force to submit anyway"
    )


def check_integrity_of_runs(frame: pl.DataFrame, config: Config, idea: Idea) -> None:
    import polars as pl

    flagged = frame.filter((pl.col("idea") == idea.slug) & (pl.col("integrity") == "modified"))
    if flagged.is_empty():
        return
    ids = flagged.get_column("run_id").to_list()
    listed = ", ".join(ids[:MAX_LISTED]) + (" ..." if len(ids) > MAX_LISTED else "")
    raise RuleViolation(
        f"{len(ids)} run(s) of {idea.slug} ran with FROZEN files that differ from "
        f"{config.main_branch} ({listed}): its results cannot be trusted, so it is not "
        "submitted; start a new idea from a clean branch to test the change again"
    )


def check_run_records(layout: Layout, frame: pl.DataFrame, idea: Idea, where: Standing) -> None:
    """Refuse a decision on rows no harness run wrote: the idea's valid runs and the head's
    (confirm rows are the confirmation's business: `harness.reports.confirming`)."""
    import polars as pl

    from harness.runs.verification import unrecorded

    sides = (pl.col("idea") == idea.slug) | (pl.col("code") == where.head.code)
    mask = sides & (pl.col("status") == "ok")
    problems = unrecorded(layout, frame, mask=mask)
    if not problems:
        return
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    raise RuleViolation(
        f"{problems[0]}{more}: the decision would rest on rows no harness run wrote, so "
        f"{idea.slug} is not submitted; `harness verify` lists every problem"
    )


# -- pushing, deciding, confirming ---------------------------------------------------------


def push(layout: Layout, config: Config, idea: Idea) -> str:
    """Push the branch to the configured remote when the repository has one."""
    url = gitops.remote_url(layout.root, config.remote)
    if url is None:
        return f"not pushed: the repository has no remote {config.remote!r}"
    gitops.push_branch(layout.root, config.remote, idea.branch)
    return f"{idea.branch} pushed to {config.remote} ({url})"


def run_confirmation(
    layout: Layout,
    config: Config,
    frame: pl.DataFrame,
    where: Standing,
    *,
    sinks: tuple[TextIO | None, TextIO | None],
) -> held_out.Confirmation:
    assert where.best is not None  # a winner beat someone
    return held_out.confirm(
        layout,
        config,
        frame,
        candidate=held_out.target_of(layout, config, frame, where.side.label),
        reference=held_out.head_target(layout, config, frame, where.head),
        seeds=held_out.seeds_of(where.side, config),
        stdout=sinks[0],
        stderr=sinks[1],
    )


def decide(where: Standing, confirmation: held_out.Confirmation | None) -> tuple[bool, str]:
    """(submitted, why)."""
    if not where.is_winner:
        return False, where.reason
    if confirmation is not None and not confirmation.holds:
        return False, f"the win does not hold on held-out data: {confirmation.reason}"
    if confirmation is not None:
        return True, f"{where.reason}; confirmed on held-out data: {confirmation.reason}"
    return True, where.reason


# -- the pull request ----------------------------------------------------------------------


def pr_title(idea: Idea, report: Report, config: Config) -> str:
    best = report.standing.best
    mean = num(report.standing.side.mean)
    if best is None:
        return f"{idea.title} ({config.metric} {mean})"
    return (
        f"{idea.title} ({config.metric} {mean} vs {report.standing.head.label} "
        f"{num(best.a.mean)}, "
        f"{signed(best.difference)})"
    )


def pr_body(report: Report, layout: Layout) -> str:
    """The report as a pull request body: links made relative to the repository root."""
    text = read_text(report.path)
    text = re.sub(
        r"!\[([^\]]*)\]\(([^)/]+\.(?:svg|png))\)",
        rf"Plot: `{REPORTS_DIR}/\2` (committed on {layout.root.name}'s main branch by "
        "`harness results commit`)",
        text,
    )
    text = text.replace("](../", "](")
    head = (
        f"Submitted by `harness submit {report.idea.slug}`: the report `{report.name}` follows.\n\n"
    )
    return head + text


def is_local(url: str) -> bool:
    """A remote that is a path on this machine (no host a pull request could go to)."""
    return url.startswith(("/", ".", "file:")) or (":" not in url)


def gh_unusable(url: str | None) -> str:
    """Why `gh pr create` cannot open this pull request ("" when it can)."""
    if url is None:
        return "the repository has no remote to open a pull request on"
    if is_local(url):
        return f"the remote {url} is a local repository"
    gh = shutil.which("gh")
    if gh is None:
        return "gh is not installed"
    try:
        proc = subprocess.run([gh, "auth", "status"], capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return "gh cannot be run"
    return "" if proc.returncode == 0 else "gh is not authenticated (run `gh auth login`)"


def open_pull_request(layout: Layout, config: Config, idea: Idea, report: Report) -> PullRequest:
    body = report.path.with_name(f"{report.path.stem}_pr.md")
    write_atomic(body, pr_body(report, layout))
    title = pr_title(idea, report, config)
    command = (
        "gh", "pr", "create", "--base", config.main_branch, "--head", idea.branch,
        "--title", title, "--body-file", str(body),
    )  # fmt: skip
    why_not = gh_unusable(gitops.remote_url(layout.root, config.remote))
    if why_not:
        return PullRequest(title, body, command, layout.root, None, why_not)
    env = {**os.environ, "GH_PROMPT_DISABLED": "1"}
    proc = subprocess.run(command, cwd=layout.root, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["(no stderr)"])[-1]
        raise HarnessError(
            f"`gh pr create` failed: {tail}: the body is in {body}; open it by hand with: "
            f"cd {shlex.quote(str(layout.root))} && {shlex.join(command)}"
        )
    url = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else None
    return PullRequest(title, body, command, layout.root, url, "")


# -- the trunk (advance = "trunk") ----------------------------------------------------------


def advance_trunk(
    layout: Layout,
    config: Config,
    idea: Idea,
    report: Report,
    where: Standing,
    confirmation: held_out.Confirmation | None,
) -> tuple[str, PullRequest]:
    """Merge the winner into the trunk, push it, and open or update trunk -> main."""
    message = trunk.merge_message(idea, where, confirmation, config=config, report=report.name)
    merged = trunk.merge_winner(layout, config, idea, message=message)
    if gitops.remote_url(layout.root, config.remote) is not None:
        gitops.push_branch(layout.root, config.remote, config.trunk)
    return merged, open_trunk_pull_request(layout, config)


def open_trunk_pull_request(layout: Layout, config: Config) -> PullRequest:
    """The one pull request trunk -> main: its body the chain, opened or updated by gh."""
    links = trunk.chain(layout, config)
    body = trunk.body_path(layout)
    write_atomic(body, trunk.pr_body(links, config))
    title = trunk.pr_title(links, config)
    create = (
        "gh", "pr", "create", "--base", config.main_branch, "--head", config.trunk,
        "--title", title, "--body-file", str(body),
    )  # fmt: skip
    why_not = gh_unusable(gitops.remote_url(layout.root, config.remote))
    if why_not:
        return PullRequest(title, body, create, layout.root, None, why_not)
    env = {**os.environ, "GH_PROMPT_DISABLED": "1"}
    view = ("gh", "pr", "view", config.trunk, "--json", "url", "--jq", ".url")
    found = subprocess.run(view, cwd=layout.root, capture_output=True, text=True, env=env)
    edit = ("gh", "pr", "edit", config.trunk, "--title", title, "--body-file", str(body))
    command = edit if found.returncode == 0 and found.stdout.strip() else create
    proc = subprocess.run(command, cwd=layout.root, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["(no stderr)"])[-1]
        raise HarnessError(
            f"`{shlex.join(command[:3])}` failed: {tail}: the body is in {body}; run by hand: "
            f"cd {shlex.quote(str(layout.root))} && {shlex.join(command)}"
        )
    printed = (found if command is edit else proc).stdout.strip().splitlines()
    return PullRequest(title, body, command, layout.root, printed[-1] if printed else None, "")


# -- the record ------------------------------------------------------------------------------


def decision_entry(
    idea: Idea,
    submitted: bool,
    reason: str,
    pushed: str,
    confirmation: held_out.Confirmation | None,
    pr: PullRequest | None,
) -> str:
    outcome = "submitted" if submitted else "not submitted"
    lines = [
        f"## {heading_time()} · submit · {idea.slug} · {outcome}",
        "",
        f"- Decision: {outcome}: {reason}",
        f"- Branch: {pushed}",
    ]
    if confirmation is not None:
        lines.append(f"- Held-out confirmation: {confirmation.reason}")
    if pr is not None and pr.url:
        lines.append(f"- Pull request: {pr.url}")
    elif pr is not None:
        lines.append(
            f"- Pull request: not opened ({pr.why_not_opened}); body in "
            f"{REPORTS_DIR}/{pr.body.name}; open it with `{shlex.join(pr.command)}`"
        )
    return "\n".join(lines) + "\n"


def record_on_idea(
    layout: Layout,
    slug: str,
    *,
    submitted: bool,
    reason: str,
    pr: PullRequest | None,
    merged: str | None = None,
) -> Idea:
    """The decision in the idea's front matter (`decision`) and History; a winner becomes
    `submitted`, a non-winner stays `reported` (and `harness next` moves on from it)."""
    if submitted and pr is not None:
        where = pr.url or f"body {REPORTS_DIR}/{pr.body.name}"
        note, decision = f"pull request: {where}", f"submitted: pull request {where}"
        if merged is not None:  # the trunk's one pull request is not this idea's
            decision = (
                f"submitted: merged into the trunk at {merged[:10]} (its pull request {where})"
            )
            note = decision.removeprefix("submitted: ")
        advance(layout, slug, "submitted", note=note)
    else:
        decision = f"not submitted: {reason}"
    with ideas_lock(layout):
        idea = find_idea(layout, slug)
        body = idea.body if submitted else log_change(idea.body, decision)
        return rewrite_idea(idea, changes={DECISION: decision}, body=body)
