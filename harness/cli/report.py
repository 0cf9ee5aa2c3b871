"""`harness report SLUG` and `harness submit SLUG`: the end of an experiment."""

from __future__ import annotations

import sys

from tyro.conf import Positional


def register(app) -> None:
    app.command(report)
    app.command(submit)


def report(slug: Positional[str], /, *, json: bool = False) -> int:
    """Write (or update) the report 9_reports/DATE_SLUG.md of an idea, with its plot.

    From the root's 9_reports/_TEMPLATE.md: the question and hypothesis, every run, mean
    and std over seeds, the differences to the baseline and to the best other result,
    the verdict against min_effect and the noise, observed against expected, the held-out
    confirmation, Observations from the data, and an Inferences section for you to
    write (kept when the report is updated). Moves the idea to reported and adds an
    entry to the journal. An idea without a valid run is an error.

    Args:
        slug: The idea.
        json: Print the report's path, numbers and verdict as JSON.
    """
    from harness.cli.idea import repository
    from harness.reports.report import write_report

    layout, config = repository()
    written = write_report(layout, config, slug)
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


def submit(slug: Positional[str], /, *, json: bool = False) -> int:
    """Submit an idea when it wins against the head of its line; say why when it does not.

    Refuses uncommitted changes in its worktree, a failing `harness guard --range
    main..exp/SLUG`, runs with FROZEN files that differ from main, and a stale idea (its
    parent is no longer the head: `harness rebase SLUG`). Pushes exp/SLUG to the
    configured remote when there is one. The idea's runs at its code now must beat the
    head's runs by more than min_effect and the noise; with [tool.harness] confirm set, the
    win must also hold on held-out data against the head (same seeds, recorded with status
    confirm). With advance = "review" it opens the pull request with `gh pr create` when gh
    is installed and authenticated, else writes its body to 9_reports/DATE_SLUG_pr.md and
    prints the command; with advance = "trunk" it merges the branch into the trunk and
    opens or updates the one pull request trunk -> main (body: 9_reports/trunk_pr.md). The
    decision goes to the journal and the idea. Exits 0 when submitted, 1 when not.

    Args:
        slug: The idea.
        json: Print the decision as JSON (the confirmation runs' output goes to stderr).
    """
    import shlex

    from harness.cli.idea import repository
    from harness.reports.submit import submit as submit_idea

    layout, config = repository()
    done = submit_idea(layout, config, slug, stdout=sys.stderr, stderr=sys.stderr)
    if json:
        import json as jsonlib

        print(jsonlib.dumps(done.to_json(), indent=2))
        return 0 if done.submitted else 1
    print(f"{'submitted' if done.submitted else 'not submitted'}: {done.reason}")
    print(f"branch: {done.pushed}")
    print(f"report: {done.report.path}")
    pr = done.pull_request
    if pr is not None and pr.url:
        print(f"pull request: {pr.url}")
    elif pr is not None:
        print(f"pull request: not opened ({pr.why_not_opened}); its body is in {pr.body}")
        print(f"open it with: cd {shlex.quote(str(pr.cwd))} && {shlex.join(pr.command)}")
    return 0 if done.submitted else 1
