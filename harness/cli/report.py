"""`harness report SLUG` and `harness submit SLUG`: the end of an experiment."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

from tyro.conf import Positional, arg

from harness.cli.args import FileOrDash

if TYPE_CHECKING:
    from tyro.extras import SubcommandApp


def register(app: SubcommandApp) -> None:
    app.command(report)
    app.command(submit)


def report(
    slug: Positional[Annotated[str, arg(metavar="SLUG")]],
    /,
    *,
    inferences: FileOrDash = "",
    force: bool = False,
    json: bool = False,
) -> int:
    """Write (or update) the report 9_reports/DATE_SLUG.md of an idea, with its plot.

    From the root's 9_reports/_TEMPLATE.md: the question and hypothesis, every run, mean
    and std over seeds, the differences to the baseline and to the best other result,
    the verdict against min_effect and the noise, observed against expected, the held-out
    confirmation, Observations from the data, and an Inferences section for you to
    write (kept when the report is updated; --inferences fills it). Moves the idea to
    reported and adds an entry to the journal. An idea without a valid run is an error;
    one with fewer valid seeds than [tool.harness] seeds is refused unless --force.

    Args:
        slug: The idea.
        inferences: A file holding the Inferences section's text, or - for standard input.
        force: Report even with fewer valid seeds than [tool.harness] seeds.
        json: Print the report's path, numbers and verdict as JSON.
    """
    from harness.cli.idea import read_text_argument, repository
    from harness.reports.report import write_report

    text = read_text_argument(inferences) if inferences else None
    layout, config = repository()
    written = write_report(layout, config, slug, inferences=text, force=force)
    if json:
        import json as jsonlib

        print(jsonlib.dumps(written.to_json(), indent=2))
        return 0
    print(f"{'wrote' if written.created else 'updated'} {written.path}")
    print(f"plot  {written.plot}")
    print(
        f"{'winner' if written.standing.is_winner else 'not a winner'}: {written.standing.reason}"
    )
    return 0


def submit(
    slug: Positional[Annotated[str, arg(metavar="SLUG")]],
    /,
    *,
    force: bool = False,
    wait: bool = False,
    exit_zero: bool = False,
    json: bool = False,
) -> int:
    """Submit an idea when it wins against the head of its line; say why when it does not.

    Refuses uncommitted changes in its worktree, a failing `harness guard --range
    main..exp/SLUG`, runs with FROZEN files that differ from main, and a stale idea (its
    parent is no longer the head: `harness rebase SLUG`). Pushes exp/SLUG to the
    configured remote when there is one. The idea's runs at its code now must beat the
    head's runs by more than min_effect and the noise; with [tool.harness] confirm set, the
    win must also hold on held-out data against the head (same seeds, recorded with status
    confirm): those runs are queued (labelled `confirm SLUG:`) and this returns undecided;
    `harness submit SLUG` again decides once they have finished (`harness next` says wait,
    then submit). --wait runs them here instead. With advance = "review" it opens the pull
    request with `gh pr create` when gh is installed and authenticated, else writes its
    body to 9_reports/DATE_SLUG_pr.md and prints the command; with advance = "trunk" it
    merges the branch into the trunk and opens or updates the one pull request trunk ->
    main (body: 9_reports/trunk_pr.md). The decision goes to the journal and the idea.
    Refused with fewer valid seeds than [tool.harness] seeds unless --force. Exits 0 when
    submitted or when the confirmation was queued, 1 when not submitted (with the reason;
    0 with --exit-zero, as `harness next` asks).

    Args:
        slug: The idea.
        force: Decide even with fewer valid seeds than [tool.harness] seeds.
        wait: Run the held-out confirmation here and decide at once (no queue).
        exit_zero: Exit 0 once the decision is taken and recorded, whichever it is.
        json: Print the decision as JSON (the confirmation runs' output goes to stderr).
    """
    import shlex

    from harness.cli.idea import repository
    from harness.reports.submit import submit as submit_idea

    layout, config = repository()
    done = submit_idea(
        layout, config, slug, force=force, wait=wait, stdout=sys.stderr, stderr=sys.stderr
    )
    code = 0 if done.submitted or exit_zero or done.queued else 1
    if json:
        import json as jsonlib

        print(jsonlib.dumps(done.to_json(), indent=2))
        return code
    if done.queued:
        print(f"not decided yet: {done.reason}")
        print(f"queued: {', '.join(done.queued)}")
        print(f"then: harness submit {slug} (once they have finished: `harness queue wait`)")
        return code
    print(f"{'submitted' if done.submitted else 'not submitted'}: {done.reason}")
    print(f"branch: {done.pushed}")
    print(f"report: {done.report.path}")
    pr = done.pull_request
    if pr is not None and pr.url:
        print(f"pull request: {pr.url}")
    elif pr is not None:
        print(f"pull request: not opened ({pr.why_not_opened}); its body is in {pr.body}")
        print(f"open it with: cd {shlex.quote(str(pr.cwd))} && {shlex.join(pr.command)}")
    return code
