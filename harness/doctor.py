"""`harness doctor`: is this research repository ready for the loop?

Each check returns a `Check`; the command prints one line per check and fails when any
check failed. Warnings (a missing hook, say) do not fail the doctor.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from harness.checks import Check, unfilled_slots
from harness.config import Config, load_config, resolve_argv
from harness.errors import HarnessError
from harness.fileio import read_text
from harness.layout import Layout, find_layout
from harness.record.schema import RESULTS_COLUMNS, known_header

REQUIRED_PATHS = (  # and every FROZEN file the config names (eval.py, prepare.py, ...)
    "program.md",
    "justfile",
    "pyproject.toml",
    "results.tsv",
    "RESEARCH_JOURNAL.md",
    "meta_journal.md",
    "human_journal.md",
    "0_docs/problem.md",
    "0_docs/papers",
    "1_ideas/_TEMPLATE.md",
    "9_reports/_TEMPLATE.md",
    "5_worktrees",
)


def run_checks(start: Path | None = None) -> list[Check]:
    """Every check, in order; a check that cannot run (no repository) ends the list."""
    try:
        layout = find_layout(start)
    except HarnessError as exc:
        return [Check("repository", "fail", str(exc))]
    checks = [Check("repository", "ok", f"root {layout.root}")]
    try:
        config = load_config(layout.root)
        checks.append(
            Check("config", "ok", f"{config.metric} ({config.direction}) from pyproject.toml")
        )
    except HarnessError as exc:
        checks.append(Check("config", "fail", str(exc)))
        config = Config()
    for check in (
        check_main_branch,
        check_layout,
        check_results_header,
        check_program_slots,
        check_hooks,
        check_rules,
        check_tools,
        check_baseline_seeds,
    ):
        checks.append(check(layout, config))
    checks.append(check_queue(layout, config))
    return checks + check_mode(layout)


def check_mode(layout: Layout) -> list[Check]:
    """The mode, and in referee mode the owner and mode of each of the referee's paths."""
    if layout.referee is None:
        detail = "default: the agent's user owns the record (`harness referee setup` changes that)"
        return [Check("mode", "ok", detail)]
    from harness.runs.referee_home import Home
    from harness.runs.referee_setup import inspect

    try:
        found = inspect(Home(layout.referee))
    except HarnessError as exc:
        return [Check("mode", "fail", f"referee mode, but {exc}")]
    checks = [Check("mode", "ok", f"referee: the record is {layout.results_tsv}")]
    return checks + [Check("referee", "ok" if ok else "fail", text) for ok, text in found]


def check_main_branch(layout: Layout, config: Config) -> Check:
    """main_branch must name a branch: the record is committed there, the guard protects it."""
    from harness import gitops

    name = config.main_branch
    if gitops.branch_exists(layout.root, name) or gitops.current_branch(layout.root) == name:
        return Check("main branch", "ok", f"{name} exists")
    current = gitops.current_branch(layout.root)
    fix = f'set main_branch = "{current}" in [tool.harness]' if current else "set main_branch"
    return Check(
        "main branch",
        "fail",
        f"main_branch = {name!r} is not a branch of this repository: {fix} "
        f"(or create it: git branch {name})",
    )


def check_layout(layout: Layout, config: Config) -> Check:
    frozen = [p for p in config.rules.frozen if not any(c in p for c in "*?[")]
    required = list(dict.fromkeys([*REQUIRED_PATHS, *frozen]))
    missing = [p for p in required if not (layout.root / p).exists()]
    if missing:
        return Check(
            "layout", "fail", f"missing {', '.join(missing)}: run `harness init` to add them"
        )
    return Check("layout", "ok", f"{len(required)} paths present")


def check_results_header(layout: Layout, config: Config) -> Check:
    try:
        with layout.results_tsv.open("rb") as handle:
            first = handle.readline().decode("utf-8", errors="replace")
    except OSError:
        return Check("results.tsv", "fail", "results.tsv is missing: run `harness init`")
    columns = known_header(first)
    if columns is None:
        return Check(
            "results.tsv",
            "fail",
            "results.tsv does not start with the harness header: "
            "move it aside and run `harness results import FILE`",
        )
    if len(columns) < len(RESULTS_COLUMNS):
        return Check(
            "results.tsv",
            "warn",
            f"an older header (no column {RESULTS_COLUMNS and list(RESULTS_COLUMNS)[len(columns)]}"
            "): new rows keep only its columns; run `harness results upgrade`",
        )
    return Check("results.tsv", "ok", "header matches the schema")


def check_program_slots(layout: Layout, config: Config) -> Check:
    found = []
    for name in ("program.md", "eval.py"):
        path = layout.root / name
        if path.exists():
            try:
                text = read_text(path, name=name)
            except HarnessError as exc:
                return Check("program", "fail", str(exc))
            found += [(name, n, s) for n, s in unfilled_slots(text)]
    if not found:
        return Check("program", "ok", "no unfilled {FILL_IN} slots")
    listed = "; ".join(f"{name}:{line} {slot[:50]}" for name, line, slot in found)
    return Check("program", "fail", f"{len(found)} unfilled slot(s): {listed}")


def check_hooks(layout: Layout, config: Config) -> Check:
    from harness.rules.hooks import hook_state

    state, detail = hook_state(layout.root)
    return Check("hooks", "ok" if state == "ok" else "warn", detail)


def check_rules(layout: Layout, config: Config) -> Check:
    from harness.gitops import git
    from harness.rules.policy import unmatched_globs

    tracked = git("ls-files", "-z", cwd=layout.root).split("\0")
    unmatched = unmatched_globs(config.rules, filter(None, tracked))
    if unmatched:
        listed = ", ".join(f"{rule} {glob!r}" for rule, glob in unmatched)
        return Check("rules", "warn", f"globs matching no tracked file: {listed} (a typo?)")
    return Check("rules", "ok", "every FROZEN, GLOBAL and APPEND-ONLY glob matches a file")


def check_tools(layout: Layout, config: Config) -> Check:
    missing = [tool for tool in ("git", "just") if shutil.which(tool) is None]
    if missing:
        return Check("tools", "fail", f"not on PATH: {', '.join(missing)} (pip install rust-just)")
    commands = {"eval": config.eval, "smoke": config.smoke, "confirm": config.confirm}
    for key, argv in commands.items():
        program = resolve_argv(argv)[0] if argv else None
        if program and shutil.which(program, path=None) is None:
            hint = " (pip install uv)" if program == "uv" else ""
            return Check(
                "tools",
                "fail",
                f"[tool.harness] {key} runs {program!r}, which is not on PATH{hint}: "
                "install it or change the command",
            )
    return Check("tools", "ok", "git, just and the evaluation's commands on PATH")


def check_baseline_seeds(layout: Layout, config: Config) -> Check:
    """After `harness baseline`: did different seeds give different values?"""
    import polars as pl

    from harness.record.results import read_results, valid_runs
    from harness.runs.baseline import check_seed_effect

    try:
        valid = valid_runs(read_results(layout.results_tsv), config).filter(
            pl.col("idea") == "baseline"
        )
    except HarnessError as exc:
        return Check("seed", "warn", f"the record cannot be read: {exc}")
    first_per_seed: dict[int, float] = {}
    for row in valid.iter_rows(named=True):
        if row["seed"] is not None:
            first_per_seed.setdefault(row["seed"], row["value"])
    if len(first_per_seed) < 2:
        return Check("seed", "ok", "not measured yet (`harness baseline` measures it)")
    return check_seed_effect(first_per_seed)


def check_queue(layout: Layout, config: Config) -> Check:
    from harness.queue.choice import choose_for, open_backend

    try:
        choice = choose_for(layout, config)
        if choice.source.startswith("auto"):
            return Check("queue", "ok", choice.describe())
        available, why = open_backend(choice.name, layout=layout, config=config).is_available()
    except HarnessError as exc:
        return Check("queue", "fail", str(exc))
    if not available:
        return Check("queue", "fail", f"{choice.describe()}: {why}")
    return Check("queue", "ok", f"{choice.describe()}: {why}")
