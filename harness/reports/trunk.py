"""The unattended research trunk (`[tool.harness] advance = "trunk"`, docs/architecture.md §4).

A confirmed winner is merged (`--no-ff`) into the trunk branch by `harness submit`, in a
throwaway worktree, so the trunk's first-parent history is the chain of accepted changes,
one merge commit each. The merge message carries the facts of the decision (effect over
the parent, confidence, held-out confirmation, report), and the body of the one pull
request trunk -> main is read back from those messages: git is the record of the chain.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from harness import gitops
from harness.config import Config
from harness.errors import GitError, HarnessError
from harness.layout import REPORTS_DIR, Layout
from harness.loop.ideas import Idea
from harness.loop.ratchet import ensure_line
from harness.record.standing import Standing
from harness.runs.confirm import Confirmation

SUBJECT = "Merge {branch} into {trunk}"
FIELDS = ("Effect", "Standing", "Held-out", "Report")
BODY_FILE = "trunk_pr.md"


@dataclass(frozen=True)
class Link:
    """One accepted change of the chain, as its merge commit tells it."""

    commit: str
    branch: str
    facts: dict[str, str]


def merge_message(idea: Idea, where: Standing, confirmation: Confirmation | None, *,
                  config: Config, report: str) -> str:  # fmt: skip
    effect = where.baseline
    if effect is None:
        said = "not measured (the parent has no valid run)"
    else:
        confidence = f"{effect.confidence:.1f}" if effect.confidence is not None else "n/a"
        said = (
            f"{effect.difference:+.6g} {config.metric} over {effect.a.label} "
            f"({confidence} standard errors)"
        )
    held = confirmation.reason if confirmation is not None else "not configured"
    facts = {"Effect": said, "Standing": where.reason, "Held-out": held, "Report": report}
    subject = SUBJECT.format(branch=idea.branch, trunk=config.trunk)
    return subject + "\n\n" + "".join(f"{key}: {value}\n" for key, value in facts.items())


def merge_winner(layout: Layout, config: Config, idea: Idea, *, message: str) -> str:
    """Merge the idea's branch into the trunk; returns the merge commit."""
    trunk = ensure_line(layout, config)
    place = layout.worktrees_dir / ".trunk-merge"
    if place.exists():
        shutil.rmtree(place)
        gitops.prune_worktrees(layout.root)
    try:
        gitops.git("worktree", "add", "--quiet", str(place), trunk, cwd=layout.root)
    except GitError as exc:
        raise HarnessError(
            f"cannot check out {trunk} to merge {idea.branch} into it ({exc}): the trunk is "
            "checked out in another worktree; switch that one to another branch"
        ) from None
    try:
        identity = () if gitops.has_identity(place) else gitops.FALLBACK_IDENTITY
        merge = ("merge", "--no-ff", "--quiet", "-m", message, idea.branch)
        try:
            gitops.git(*identity, *merge, cwd=place, input=None)
        except GitError as exc:
            gitops.git("merge", "--abort", cwd=place, check=False)
            raise HarnessError(
                f"{idea.branch} does not merge cleanly into {trunk} ({exc}): run "
                f"`harness rebase {idea.slug}` and submit again"
            ) from None
        return gitops.git("rev-parse", "HEAD", cwd=place).strip()
    finally:
        gitops.remove_worktree(layout.root, place, force=True)


def chain(layout: Layout, config: Config) -> list[Link]:
    """The accepted changes on the trunk that main lacks, oldest first."""
    if not gitops.branch_exists(layout.root, config.trunk):
        return []
    spec = f"{config.main_branch}..{config.trunk}"
    out = gitops.git(
        "log", "--first-parent", "--merges", "--reverse", "--format=%H%x1f%B%x1e", spec,
        cwd=layout.root,
    )  # fmt: skip
    links = []
    for record in out.split("\x1e"):
        if "\x1f" not in record:
            continue
        commit, text = record.strip().split("\x1f", 1)
        subject, _, body = text.partition("\n")
        branch = subject.removeprefix("Merge ").split(" into ", 1)[0]
        facts = {}
        for line in body.splitlines():
            key, sep, value = line.partition(": ")
            if sep and key in FIELDS:
                facts[key] = value
        links.append(Link(commit, branch, facts))
    return links


def pr_title(links: list[Link], config: Config) -> str:
    return f"Research trunk: {len(links)} accepted change(s) to {config.metric}"


def pr_body(links: list[Link], config: Config) -> str:
    """The chain of accepted winners, in order, for the human's review."""
    lines = [
        f"# {pr_title(links, config)}",
        "",
        f"Each change below won against the head of `{config.trunk}` when it was merged "
        f'(`harness submit`, advance = "trunk"); in order, each built on the one before.',
        "",
    ]
    for number, link in enumerate(links, start=1):
        lines.append(f"{number}. `{link.branch}` (merge `{link.commit[:10]}`)")
        for key in FIELDS:
            value = link.facts.get(key, "(not recorded)")
            value = (
                f"[{value}]({value})"
                if key == "Report" and value.startswith(REPORTS_DIR)
                else value
            )
            lines.append(f"   - {key}: {value}")
    return "\n".join(lines) + "\n"


def body_path(layout: Layout) -> Path:
    return layout.reports_dir / BODY_FILE
