"""Commands that set up a research repository: `init` and `doctor`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from tyro.conf import Positional, arg

if TYPE_CHECKING:
    from tyro.extras import SubcommandApp


def register(app: SubcommandApp) -> None:
    app.command(init)
    app.command(doctor)


def init(
    path: Positional[Annotated[Path, arg(metavar="[PATH]")]] = Path("."),
    /,
    *,
    metric: str = "val_bpb",
    direction: Literal["min", "max"] = "min",
    example: bool = False,
    main_branch: str | None = None,
    from_: Annotated[Literal["harness", "autoresearch"] | None, arg(name="from")] = None,
) -> int:
    """Write the research repository layout into PATH (git init'ed if needed).

    Never overwrites a file that exists; running it again changes nothing. With
    --example it also writes the bundled example problem (eval.py, train.py) and fills
    program.md for it. In an existing repository the main branch is its current branch.

    Args:
        path: The directory to set up (created if missing).
        metric: The name of the metric the evaluation reports.
        direction: min when lower is better, max when higher is better.
        example: Add the bundled byte-level language-modelling example.
        main_branch: The branch the record lives on and the guard protects; none: the
            branch checked out now (main in a new repository).
        from_: The layout already in PATH (autoresearch: prepare.py, train.py); none: detected.
    """
    from harness.scaffold import detect_layout, init_research_repo

    adopt = from_ or detect_layout(path)
    if adopt != "harness" and from_ is None:
        print(f"detected the {adopt} layout (use --from harness to set up the harness's own)")
    report = init_research_repo(
        path,
        metric=metric,
        direction=direction,
        example=example,
        main_branch=main_branch,
        adopt=adopt,
    )
    if report.git_initialised:
        print(f"initialised a git repository in {report.root}")
    print(f"main branch: {report.main_branch} ({report.main_branch_source})")
    for name in report.created:
        print(f"created  {name}")
    for name in report.appended:
        print(f"appended to {name}")
    for name in report.skipped:
        print(f"skipped  {name} (exists)")
    for name in report.unignored:
        print(f"un-ignored {name} in .gitignore: the record is committed with the code")
    if report.committed:
        print(f"committed {report.committed[:10]} (the first commit)")
    elif report.created:
        print("commit the new files when you have reviewed them (with META_MODE=1: the guard")
        print("refuses FROZEN files and code on main otherwise)")
    if report.hook:
        print(report.hook)
    from harness.record.importing import is_foreign_results

    if "results.tsv" in report.skipped and is_foreign_results(report.root / "results.tsv"):
        print(
            "results.tsv has another layout: adopt its rows with "
            "`harness results import results.tsv` (a copy of it is kept)"
        )
    from harness.checks import unfilled_slots
    from harness.fileio import read_text

    if unfilled_slots(read_text(report.root / "program.md")):
        print("next: fill the {FILL_IN} slots of program.md, then run `harness doctor`")
    else:
        print("next: run `harness doctor`")
    return 0


def doctor() -> int:
    """Check the layout, the config, program.md's slots, the hooks and the queue backend.

    Prints one line per check; exits 1 when any check fails.
    """
    from harness.doctor import run_checks

    checks = run_checks()
    for check in checks:
        print(f"{check.status.upper():4}  {check.name:12} {check.detail}")
    return 1 if any(check.status == "fail" for check in checks) else 0
