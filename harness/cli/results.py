"""`harness results`: read the record (table, best, compare) and adopt a foreign one."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from tyro.conf import Positional, arg

from harness.cli.args import RunOrIdea

if TYPE_CHECKING:
    import polars as pl
    from tyro.extras import SubcommandApp

    from harness.config import Config
    from harness.layout import Layout

HELP = (
    "Read results.tsv: the runs, the best valid result, comparisons; import a foreign one; "
    "commit the record."
)


def register(app: SubcommandApp) -> None:
    from tyro.extras import SubcommandApp

    sub = SubcommandApp()
    sub.command(is_default=True)(show)
    sub.command(best)
    sub.command(compare)
    sub.command(name="import")(import_)
    sub.command(name="commit")(commit)
    sub.command(upgrade)
    app.command(sub, name="results", help=HELP)
    app.command(verify)


def _record() -> tuple[Layout, Config, pl.DataFrame]:
    from harness.config import load_config
    from harness.layout import find_layout
    from harness.record.results import read_record

    layout = find_layout()
    frame, chain = read_record(layout.results_tsv)
    warning = chain.warning(layout.results_tsv.name)
    if warning:  # on stderr: stdout stays data
        from loguru import logger

        logger.warning(warning)
    return layout, load_config(layout.root), frame.head(chain.trusted)


def show(*, idea: str | None = None, json: bool = False, csv: bool = False) -> int:
    """Every recorded run (the default of `harness results`), oldest first.

    Args:
        idea: Only the runs of this idea (`baseline` for the main branch).
        json: Print the rows as a JSON list (every column).
        csv: Print the rows as CSV (every column).
    """
    import polars as pl

    from harness.record.views import render_table

    _, config, frame = _record()
    if idea is not None:
        frame = frame.filter(pl.col("idea") == idea)
    if json:
        print(frame.write_json())
    elif csv:
        print(frame.write_csv(), end="")
    else:
        print(render_table(frame, show=config.show))
    return 0


def best(*, json: bool = False) -> int:
    """The best: the head of the line and its mean over seeds (what decisions are taken
    against), with the chain of changes accepted into it; then the best single valid run
    (status ok, integrity ok, by the configured direction), which is one run and not a
    decision.

    Args:
        json: Print {"head": {branch, commit, code, mean, std, se, seeds, runs, chain},
            "best_run": the best single run's row}, each null when there is none.
    """
    from harness.cli.loop import head_lines
    from harness.loop.ratchet import read_ratchet
    from harness.record.results import best_run
    from harness.record.views import render_best

    layout, config, frame = _record()
    row = best_run(frame, config)
    ratchet = read_ratchet(layout, config, (), frame)  # the head and chain need no idea
    if json:
        import json as json_module

        print(json_module.dumps({"head": ratchet.best_json(), "best_run": row}))
        return 0
    for number, line in enumerate(head_lines(ratchet, config.metric)):
        print(f"{'head' if number == 0 else '    '} {line}")
    print(render_best(row, metric=config.metric, direction=config.direction))
    return 0


def compare(
    a: Positional[RunOrIdea],
    b: Positional[RunOrIdea],
    /,
    *,
    json: bool = False,
) -> int:
    """Compare a candidate B against a reference A (each an idea or a run id): mean, std,
    n, difference, noise; the output names which side is which.

    The noise is measured on the baseline runs; when both sides ran the same seeds the
    per-seed differences are shown too. The verdict says whether B differs from A by more
    than min_effect and more than the noise.

    Args:
        a: The reference: an idea slug (e.g. baseline) or a run id.
        b: The candidate: an idea slug or a run id.
        json: Print the comparison as JSON.
    """
    from harness.record.compare import compare as compare_runs
    from harness.record.views import comparison_dict, render_comparison

    _, config, frame = _record()
    comparison = compare_runs(frame, a, b, config)
    if json:
        import json as json_module

        print(json_module.dumps(comparison_dict(comparison), indent=2))
    else:
        print(render_comparison(comparison, metric=config.metric))
    return 0


def import_(
    file: Positional[Annotated[Path, arg(metavar="FILE")]], /, *, metric_column: str | None = None
) -> int:
    """Adopt a results table of another layout (e.g. commit, val_bpb, ..., status, description).

    Keeps a copy of FILE in the git directory first, then maps its rows into the harness's
    columns: keep/discard become ok runs, crash rows get no value, unknown columns go
    into extra. FILE may be the root results.tsv itself, which then gets the harness layout.

    Args:
        file: The tab-separated file to import.
        metric_column: The column holding the metric; none: the configured metric.
    """
    from harness.config import load_config
    from harness.layout import find_layout
    from harness.record.importing import import_results, is_untracked

    layout = find_layout()
    config = load_config(layout.root)
    report = import_results(layout, config, file, metric_column=metric_column)
    known = f"; {report.known} were on record already" if report.known else ""
    print(
        f"imported {report.rows} rows ({report.valid} valid) from {report.source} "
        f"into {layout.results_tsv}{known}; the original is kept in {report.copy}"
    )
    if report.rows and not report.replaced and is_untracked(layout):
        print(
            f"{layout.results_tsv.name} is not tracked by git (ignored?): `harness results "
            "commit` adds it once it is not ignored (`harness init` un-ignores it)"
        )
    return 0


def commit(*, json: bool = False) -> int:
    """Commit the record on the main branch: the GLOBAL files and 0_docs/, 1_ideas/, 9_reports/.

    Only those paths of the main worktree are committed, even when other files there are
    changed or staged (they stay as they are). The message summarises what was added since
    the record was last committed: runs by idea and status, journal entries, files per
    folder. The pre-commit guard checks it like any commit.

    Args:
        json: Print {"commit", "paths", "message"} as JSON (commit null: nothing to commit).
    """
    from harness.config import load_config
    from harness.layout import find_layout
    from harness.record.commit import commit_record

    layout = find_layout()
    done = commit_record(layout, load_config(layout.root))
    if json:
        import json as json_module

        print(json_module.dumps(done.to_json(), indent=2))
    elif done.sha is None:
        print(done.message)
    else:
        print(f"committed {done.sha[:10]} on the main branch ({len(done.paths)} path(s)):")
        print(done.message, end="")
    return 0


def upgrade() -> int:
    """Give an older results.tsv today's header (its rows padded with the new, empty columns)
    and seal the rows written before the chain existed into it, once (see `harness verify`)."""
    from harness.layout import find_layout
    from harness.record.results import upgrade_header

    added, sealed = upgrade_header(find_layout())
    done = [f"added {added} columns to the header"] if added else []
    done += [f"sealed {sealed} rows into the chain"] if sealed else []
    print("; ".join(done) if done else "the header is current and every row sealed already")
    return 0


def verify() -> int:
    """Check that the record is what the harness wrote: the chain of results.tsv (the first
    edited, deleted or inserted line), that it starts with the record committed on the main
    branch, and that every row written by an evaluation has its run record
    (.git/harness/runs/closed/) and its log. Prints one line per problem and exits 3, or
    one summary line and exits 0.
    """
    from harness.config import load_config
    from harness.layout import find_layout
    from harness.runs.verification import verify_record

    layout = find_layout()
    found = verify_record(layout, load_config(layout.root))
    for problem in found.problems:
        print(problem)
    if not found.ok:
        return 3
    print(found.summary(layout.results_tsv.name))
    return 0
