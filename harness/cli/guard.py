"""Commands of the file rules: `guard`, `hooks install`, `meta on|off|status`, `audit`.

This module imports nothing heavy at import time: the pre-commit hook runs `harness guard
--staged` on every commit, and `fast_guard` lets `harness.cli.main` run it without
building the tyro app.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tyro.extras import SubcommandApp

RED, RESET = "\033[31m", "\033[0m"


def register(app: SubcommandApp) -> None:
    from tyro.extras import SubcommandApp

    app.command(guard)
    hooks = SubcommandApp()
    hooks.command(install)
    app.command(hooks, name="hooks", help="Install the git hook that runs the guard.")
    meta = SubcommandApp()
    meta.command(name="on")(meta_on)
    meta.command(name="off")(meta_off)
    meta.command(name="status")(meta_status)
    app.command(meta, name="meta", help="Grant, end or show META_MODE (human_journal.md).")
    app.command(audit)


def guard(
    *,
    staged: bool = False,
    range: str | None = None,
    integrity: bool = False,
    branch: str | None = None,
    json: bool = False,
) -> int:
    """Check changes against the file rules (FROZEN, GLOBAL, APPEND-ONLY, protected main).

    Exactly one of --staged (what the pre-commit hook runs), --range BASE..HEAD (every
    commit of a pull request; rules and META_MODE grant read from BASE) or --integrity
    (worktrees whose FROZEN files differ from the main branch). Exits 3 when a rule is
    broken, 2 on bad arguments or configuration.

    Args:
        staged: Check the staged changes of this worktree against HEAD.
        range: Check every commit of BASE..HEAD (for CI on pull requests).
        integrity: List the worktrees whose FROZEN files differ from the main branch.
        branch: The branch the --range commits are on; unset: the branch HEAD names.
        json: Print the result as JSON on stdout.
    """
    from harness.errors import UsageError

    if sum((staged, range is not None, integrity)) != 1:
        raise UsageError(
            "harness guard needs exactly one of --staged, --range BASE..HEAD, --integrity"
        )
    if integrity:
        return _integrity(json=json)
    from harness.rules import guard as core

    if staged:
        report = core.check_staged()
        if os.environ.get("HARNESS_HOOK"):
            from harness.rules.hooks import refresh_if_stale

            refresh_if_stale(Path.cwd())  # main's config changed: bake the fast path again
    else:
        assert range is not None
        report = core.check_range(range, branch=branch)
    if json:
        _print_json(report.to_json())
    for violation in report.violations:
        print(f"harness: {violation}", file=sys.stderr)
    if report.violations:
        what = "commit refused" if staged else f"{report.commits} commit(s) checked"
        print(f"harness: {what}: {len(report.violations)} rule violation(s)", file=sys.stderr)
        return 3
    return 0


def _integrity(*, json: bool) -> int:
    from harness.config import load_config
    from harness.layout import find_layout
    from harness.rules.integrity import check_worktrees

    layout = find_layout()
    results = check_worktrees(layout.root, config=load_config(layout.root))
    if json:
        _print_json([r.to_json() for r in results])
    else:
        for r in results:
            changed = f"  {', '.join(r.integrity.changed)}" if r.integrity.changed else ""
            print(f"{r.integrity.status:8}  {r.path}  ({r.branch or 'detached'}){changed}")
    return 3 if any(r.integrity.status != "ok" for r in results) else 0


def install(*, chain: bool = False) -> int:
    """Install the pre-commit guard in this repository (shared by all its worktrees).

    The hook runs `harness guard --staged` with the Python running this command. A hook
    that harness did not write is kept: without --chain the command stops and says so.

    Args:
        chain: Keep an existing foreign hook as pre-commit.before-harness and run it first.
    """
    from harness.layout import find_layout
    from harness.rules.hooks import install_hook

    done = install_hook(find_layout().worktree, chain=chain)
    if done.chained:
        print(f"kept the existing hook as {done.chained} (it runs before the guard)")
    print(f"{'installed' if done.changed else 'up to date'}  {done.path}")
    return 0


def meta_on(*, reason: str) -> int:
    """Grant META_MODE: write a dated META_MODE=1 entry on top of human_journal.md and
    commit it on the main branch.

    A human decision, taken at a terminal (the command refuses when stdin is not one):
    while it holds, the FROZEN files and [tool.harness] may change and main takes any
    commit. End it with `harness meta off`. Only changes committed after the grant's
    commit count as granted (`harness audit`, `harness guard --range`).

    Args:
        reason: Why the FROZEN files need to change (written into the entry).
    """
    from harness.errors import UsageError
    from harness.layout import find_layout
    from harness.rules.meta import commit_journal, grant

    if not sys.stdin.isatty():
        raise UsageError(
            "harness meta on needs an interactive terminal (stdin is not a tty): META_MODE "
            "is granted by a human at a terminal, not by a script or an agent"
        )
    layout = find_layout()
    heading = grant(layout, reason=reason)
    print(f"META_MODE on: wrote `## {heading}` to {layout.human_journal}")
    _say_committed(commit_journal(layout, message=f"META_MODE on: {reason.strip()}"))
    return 0


def _say_committed(where: str) -> None:
    """The line of `commit_journal`: a note (not committed) goes to stderr."""
    print(where, file=sys.stdout if where.startswith("committed") else sys.stderr)


def meta_off(*, reason: str = "") -> int:
    """End META_MODE: write a dated META_MODE=0 entry on top of human_journal.md.

    Args:
        reason: An optional note for the entry.
    """
    from harness.layout import find_layout
    from harness.rules.meta import commit_journal, revoke

    layout = find_layout()
    heading = revoke(layout, reason=reason)
    if heading is None:
        print("META_MODE is not granted in human_journal.md: nothing written")
    else:
        print(f"META_MODE off: wrote `## {heading}` to {layout.human_journal}")
        _say_committed(commit_journal(layout, message="META_MODE off"))
    if os.environ.get("META_MODE", "").strip() == "1":
        print("note: META_MODE=1 is still set in this environment: unset it", file=sys.stderr)
    return 0


def meta_status(*, json: bool = False) -> int:
    """Show whether META_MODE is active, and what grants it.

    Args:
        json: Print {"active": ..., "source": ...} on stdout.
    """
    from harness.layout import find_layout
    from harness.rules.meta import current_state

    state = current_state(find_layout())
    if json:
        _print_json(state.to_json())
    else:
        print(f"META_MODE {'on' if state.active else 'off'}: {state.source}")
    return 0


def audit(*, json: bool = False) -> int:
    """Check main's whole history: FROZEN and [tool.harness] changes with their grants,
    APPEND-ONLY violations, and a rewritten history. Exits 3 on any problem (CI runs it).

    Each FROZEN or config change is shown with the grant that allowed it: the META_MODE
    entry committed on main before it and in force where it entered main; a change
    without one shows "no grant". The head audited is kept in refs/harness/audited, and a
    later audit fails when that commit is no longer an ancestor of main.

    Args:
        json: Print {"ok", "head", "changes", "problems"} as JSON on stdout.
    """
    from harness.config import load_config
    from harness.layout import find_layout
    from harness.rules.audit import audit as run_audit

    layout = find_layout()
    report = run_audit(layout, config=load_config(layout.root))
    if json:
        _print_json(report.to_json())
    else:
        _print_audit(report)
    for problem in report.problems:
        print(f"harness: audit: {problem}", file=sys.stderr)
    if report.problems:
        print(f"harness: audit failed: {len(report.problems)} problem(s)", file=sys.stderr)
        return 3
    return 0


def _print_audit(report: Any) -> None:
    color = sys.stdout.isatty()
    for e in report.entries:
        grant = e.grant or (f"{RED}no grant{RESET}" if color else "no grant")
        keys = f" ({', '.join(e.config_keys)})" if e.config_keys else ""
        print(f"{e.commit[:10]}  {e.time:%Y-%m-%d %H:%M}  {', '.join(e.paths)}{keys}  {e.subject}")
        print(f"            grant: {grant}")
    if not report.entries:
        print("no commit of the main branch changed a FROZEN file")


def _print_json(data: Any) -> None:
    import json  # imported here: the hook's path never prints JSON

    print(json.dumps(data, indent=2, ensure_ascii=False))


def fast_guard(args: Sequence[str]) -> Callable[[], int] | None:
    """`guard` called without building the tyro app, when the arguments are plain ones.

    Returns None for anything it does not fully understand (help, typos), which then goes
    through tyro for its usual help and errors.
    """
    if not args or args[0] != "guard":
        return None
    flags = {"--staged": "staged", "--integrity": "integrity", "--json": "json"}
    values = {"--range": "range", "--branch": "branch"}
    kwargs: dict[str, object] = {}
    rest = list(args[1:])
    while rest:
        word = rest.pop(0)
        name, eq, value = word.partition("=")
        if word in flags:
            kwargs[flags[word]] = True
        elif name in values and eq:
            kwargs[values[name]] = value
        elif word in values and rest and not rest[0].startswith("-"):
            kwargs[values[word]] = rest.pop(0)
        else:
            return None
    return lambda: guard(**kwargs)  # type: ignore[arg-type]
