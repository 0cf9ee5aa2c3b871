"""The git hooks that run the guard: `pre-commit`, and `pre-merge-commit` beside it.

Hooks live in the common git directory (or in `core.hooksPath`), so one pair serves the
main worktree and every linked worktree. A script embeds the absolute path of the Python
that installed it: the hook runs with git's environment, whose PATH may hold no harness
at all, or another one. A hook that harness did not write is never replaced silently:
`chain=True` keeps it as `<hook>.before-harness` and runs it first. Both hooks export
GIT_NO_REPLACE_OBJECTS=1, so no git call of theirs reads a `git replace` ref.

`pre-merge-commit` exists because a plain local `git merge` into main runs no
`pre-commit`: it runs the same guard, which checks every commit the merge brings.

**The fast path.** Most commits, on `exp/` branches, touch no guarded path. The
pre-commit script has the guarded globs (FROZEN, GLOBAL, APPEND-ONLY, results.tsv,
pyproject.toml) baked in when it is installed, with the blob id of main's pyproject.toml;
a commit off main and the trunk, not concluding a merge, whose staged paths match none of
them (matched by `case`, a superset of the rule globs: `*` crosses `/` there) is decided
in the shell, without starting Python. Anything else, and any commit once main's
pyproject.toml is no longer that blob, goes to Python (which reinstalls the hook then).
Installing also pins the main branch in git config (`harness.mainBranch`, see
harness.config).
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from harness.config import CONFIG_FILE, MAIN_PIN, Config, load_config, working_main_branch
from harness.errors import HarnessError
from harness.fileio import write_atomic
from harness.gitops import git
from harness.layout import find_layout
from harness.rules.policy import appended

HOOK_NAME = "pre-commit"
MERGE_HOOK_NAME = "pre-merge-commit"
HOOK_NAMES = (HOOK_NAME, MERGE_HOOK_NAME)
CHAINED_SUFFIX = ".before-harness"
CHAINED_NAME = HOOK_NAME + CHAINED_SUFFIX
MARKER = "# harness pre-commit guard"
PYTHON_LINE = "HARNESS_PYTHON="
CONFIG_LINE = "HARNESS_CONFIG="
# Globs the shell can match as they are; any other character turns the fast path off.
SHELL_SAFE = re.compile(r"[A-Za-z0-9._/*?\[\]!+,=@%~-]+")

HookState = Literal["ok", "missing", "foreign", "stale"]

HEAD = """#!/bin/sh
{marker} (written by `harness hooks install`; run it again to update this file).
# {what}
{python_line}{python}
export GIT_NO_REPLACE_OBJECTS=1
chained="${{0%/*}}/{chained}"
if [ -x "$chained" ]; then
    "$chained" "$@" || exit $?
fi
"""

FAST_PATH = """# The fast path: off main and the trunk, not concluding a merge, no guarded path
# staged, and main's pyproject.toml still the one these globs were baked from.
HARNESS_MAIN={main}
HARNESS_TRUNK={trunk}
{config_line}{config}
harness_fast_path() {{
    set -f
    set -- $(git rev-parse "refs/heads/$HARNESS_MAIN:{config_file}" --git-path MERGE_HEAD \\
        --symbolic-full-name HEAD 2>/dev/null)
    [ "$#" = 3 ] && [ "$1" = "$HARNESS_CONFIG" ] && [ ! -e "$2" ] || return 1
    case "$3" in refs/heads/*) ;; *) return 1 ;; esac
    [ "$3" != "refs/heads/$HARNESS_MAIN" ] && [ "$3" != "refs/heads/$HARNESS_TRUNK" ] || return 1
    staged=$(git diff-index --cached --name-only --no-renames HEAD) || return 1
    IFS='
'
    for path in $staged; do
        case "$path" in
            \\"*) return 1 ;;
            {patterns}) return 1 ;;
        esac
    done
    return 0
}}
if harness_fast_path; then
    exit 0
fi
"""

TAIL = """if [ ! -x "$HARNESS_PYTHON" ]; then
    echo "harness: the {name} guard cannot run: $HARNESS_PYTHON is gone;" \\
        "run \\`harness hooks install\\` from the environment that has harness" >&2
    exit 1
fi
HARNESS_HOOK={name} exec "$HARNESS_PYTHON" -P -m harness guard --staged
"""

WHAT = {
    HOOK_NAME: "Checks the staged changes against the file rules of [tool.harness.rules].",
    MERGE_HOOK_NAME: "Checks a merge, and every commit it brings into main, against the rules.",
}


@dataclass(frozen=True)
class HookInstall:
    path: Path  # the pre-commit hook
    changed: bool  # False when the same hooks were there already
    chained: Path | None  # the foreign pre-commit hook kept and run first, if any
    merge_path: Path | None = None  # the pre-merge-commit hook


def hooks_dir(repo: Path) -> Path:
    """Where git looks for hooks (`core.hooksPath`, else the common git dir's hooks)."""
    out = git("rev-parse", "--path-format=absolute", "--git-path", "hooks", cwd=repo)
    return Path(out.strip())


def hook_script(python: str, *, name: str = HOOK_NAME, fast: str = "") -> str:
    head = HEAD.format(
        marker=MARKER,
        what=WHAT[name],
        python_line=PYTHON_LINE,
        python=shlex.quote(python),
        chained=name + CHAINED_SUFFIX,
    )
    return head + (fast if name == HOOK_NAME else "") + TAIL.format(name=name)


def fast_path(root: Path) -> str:
    """The fast path's shell for the configuration main has now ("" when it cannot have
    one: no committed pyproject.toml on main, a broken config, a glob the shell can't hold)."""
    try:
        config = load_config(root)
    except HarnessError:
        return ""
    blob = git(
        "rev-parse",
        "--verify",
        "--quiet",
        f"refs/heads/{config.main_branch}:{CONFIG_FILE}",
        cwd=root,
        check=False,
    ).strip()
    patterns = guarded_patterns(config)
    if not blob or patterns is None:
        return ""
    return FAST_PATH.format(
        main=shlex.quote(config.main_branch),
        trunk=shlex.quote(config.trunk if config.advance == "trunk" else ""),
        config_line=CONFIG_LINE,
        config=blob,
        config_file=CONFIG_FILE,
        patterns="|".join(patterns),
    )


def guarded_patterns(config: Config) -> list[str] | None:
    """`case` patterns matching at least every path a rule guards off main, or None."""
    rules = config.rules
    globs = {*rules.frozen, *rules.global_, *appended(rules), CONFIG_FILE}
    patterns = []
    for glob in sorted(globs):
        stem = glob.strip().strip("/")
        if not stem:
            continue
        if not SHELL_SAFE.fullmatch(stem):
            return None
        patterns += [stem, f"{stem}/*"]  # a pattern naming a directory covers its files
    return patterns


def install_hook(
    repo: Path, *, python: str | None = None, chain: bool = False, pin: bool = True
) -> HookInstall:
    """Install both guard hooks in `repo` (every worktree shares them) and pin the main
    branch (the root copy's `main_branch`, read by the human who installs)."""
    directory = hooks_dir(repo)
    paths = [directory / name for name in HOOK_NAMES]
    for path in paths:  # refuse before writing anything
        keep_foreign(path, chain=chain, dry_run=True)
    root = find_layout(repo).root
    if pin:
        git("config", MAIN_PIN, working_main_branch(root), cwd=root)
    python = python or sys.executable
    fast = fast_path(root)
    changed, chained = False, None
    for name, path in zip(HOOK_NAMES, paths, strict=True):
        kept = keep_foreign(path, chain=chain)
        chained = kept if name == HOOK_NAME else chained
        script = hook_script(python, name=name, fast=fast)
        if not (path.exists() and path.read_text(encoding="utf-8") == script):
            write_atomic(path, script)
            changed = True
        path.chmod(0o755)
    return HookInstall(
        directory / HOOK_NAME,
        changed=changed,
        chained=chained,
        merge_path=directory / MERGE_HOOK_NAME,
    )


def keep_foreign(path: Path, *, chain: bool, dry_run: bool = False) -> Path | None:
    """Move a hook harness did not write aside to `<hook>.before-harness` (with `chain`)."""
    if not path.exists() or is_harness_hook(path):
        return None
    if not chain:
        raise HarnessError(
            f"{path} exists and harness did not write it: run `harness hooks install "
            f"--chain` to keep it (it runs first), or add `{sys.executable} -P -m harness "
            "guard --staged` to it yourself"
        )
    kept = path.with_name(path.name + CHAINED_SUFFIX)
    if kept.exists():
        raise HarnessError(f"{kept} exists already: merge it with {path} by hand first")
    if not dry_run:
        os.replace(path, kept)
    return kept


def refresh_if_stale(repo: Path) -> bool:
    """Reinstall harness's hooks when main's pyproject.toml is no longer the blob the fast
    path was baked from (the hook then always falls back to Python). True when rewritten."""
    path = hooks_dir(repo) / HOOK_NAME
    if not path.exists() or not is_harness_hook(path):
        return False
    baked = embedded_value(path, CONFIG_LINE)
    fresh = fast_path(find_layout(repo).root)
    if (baked or "") == (embedded_text_value(fresh, CONFIG_LINE) or ""):
        return False
    python = embedded_python(path)
    if not python:
        return False
    return install_hook(repo, python=python, pin=False).changed  # a hook's run never re-pins


def is_harness_hook(path: Path) -> bool:
    return MARKER in path.read_text(encoding="utf-8", errors="replace")


def embedded_python(path: Path) -> str | None:
    """The interpreter a harness hook runs, as written in the script."""
    return embedded_value(path, PYTHON_LINE)


def embedded_value(path: Path, prefix: str) -> str | None:
    return embedded_text_value(path.read_text(encoding="utf-8", errors="replace"), prefix)


def embedded_text_value(text: str, prefix: str) -> str | None:
    for line in text.splitlines():
        if line.startswith(prefix):
            try:
                words = shlex.split(line[len(prefix) :])
            except ValueError:  # a hand-edited line with an unbalanced quote
                return None
            return words[0] if words else None
    return None


def hook_state(repo: Path) -> tuple[HookState, str]:
    """Are the guard hooks installed in `repo`? (state, a line for people)."""
    directory = hooks_dir(repo)
    for name in HOOK_NAMES:
        path = directory / name
        if not path.exists():
            return "missing", f"no {name} hook in {directory}: run `harness hooks install`"
        if not is_harness_hook(path):
            return (
                "foreign",
                f"{path} is not the harness guard: run `harness hooks install --chain`",
            )
        python = embedded_python(path)
        if not python or not os.access(python, os.X_OK):
            return "stale", f"{path} runs {python}, which is gone: run `harness hooks install`"
        if not os.access(path, os.X_OK):
            return "stale", f"{path} is not executable: run `harness hooks install`"
    python = embedded_python(directory / HOOK_NAME)
    return "ok", f"pre-commit guard installed in {directory} (runs {python})"
