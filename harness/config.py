"""`[tool.harness]` of the research repository's pyproject.toml, read into frozen dataclasses.

Every key is a dataclass field; its type annotation is the schema. A key that is not a
field, or a value of the wrong type, is a `ConfigError` that names the key, so a typo in
the configuration never passes silently.

The configuration is the human's: it is read from the main branch's committed
pyproject.toml (`git show <main>:pyproject.toml`), never from a working copy, so neither an
experiment branch nor an edit of the root copy for the length of a run can change the
evaluation, the direction or the rules. A root copy whose `[tool.harness]` differs is a
warning that names the keys. Only where there is nothing committed to read (outside a git
repository, before main's first commit, a main without the table yet) is the working copy
read. The `[tool.harness]` table itself is FROZEN (docs/architecture.md §2).
"""

from __future__ import annotations

import dataclasses
import re
import shlex
import subprocess
import sys
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from harness.errors import ConfigError, UsageError
from harness.fileio import not_utf8
from harness.gitops import NO_REPLACE

Direction = Literal["min", "max"]
QueueBackend = Literal["auto", "pueue", "local", "slurm"]
Advance = Literal["review", "trunk"]
# A metric name an evaluation can report both ways: a JSON key and a `key: value` line.
METRIC_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-/]*")


def _command(*default: str) -> Any:
    """A field holding an argv; TOML may give it as one string (split like a shell would)."""
    return field(default=tuple(default), metadata={"shell_split": True})


@dataclass(frozen=True)
class Rules:
    """Glob lists of the file rules (docs/architecture.md §2). Globs are relative to the root."""

    frozen: tuple[str, ...] = (
        "eval.py",
        "program.md",
        "meta_journal.md",
        "AGENTS.md",
        "CLAUDE.md",
    )
    global_: tuple[str, ...] = ("results.tsv", "RESEARCH_JOURNAL.md")
    append_only: tuple[str, ...] = ("RESEARCH_JOURNAL.md", "meta_journal.md", "human_journal.md")
    records: tuple[str, ...] = ("0_docs/**", "1_ideas/**", "9_reports/**")


@dataclass(frozen=True)
class Budget:
    """When the agent should stop: any limit reached ends the loop. None means no limit."""

    max_runs: int | None = None
    max_hours: float | None = None
    patience: int | None = None


@dataclass(frozen=True)
class PueueSettings:
    """How to reach pueue: its config file (3.x needs `-c` on every call) and the group."""

    config: str | None = None
    profile: str | None = None
    group: str = "harness"
    parallel: int = 1


@dataclass(frozen=True)
class LocalSettings:
    """The embedded local queue: how many tasks of one group run at once."""

    parallel: int = 1


@dataclass(frozen=True)
class SlurmSettings:
    """sbatch options for the Slurm backend."""

    partition: str | None = None
    time_limit: str | None = None
    gres: str | None = None
    cpus: int | None = None
    memory: str | None = None
    account: str | None = None
    extra_args: tuple[str, ...] = ()


@dataclass(frozen=True)
class Config:
    """The research configuration. Field names are the TOML keys (a trailing `_` dropped)."""

    metric: str = "val_bpb"
    direction: Direction = "min"
    eval: tuple[str, ...] = _command("python", "eval.py")
    smoke: tuple[str, ...] = _command("python", "eval.py", "--smoke")
    confirm: tuple[str, ...] = _command()
    confirm_metric: str = ""
    ideas_target: int = 30
    min_effect: float = 0.0
    seeds: int = 3
    main_branch: str = "main"
    remote: str = "origin"
    queue: QueueBackend = "auto"
    gpus: int = 0
    timeout: float = 3600.0
    advance: Advance = "review"  # review: a pull request per winner; trunk: merged unattended
    trunk: str = "research/trunk"  # the branch winners are merged into when advance = "trunk"
    show: tuple[str, ...] = ()  # keys of a row's extra shown as columns (memory_gb, ...)
    humans: tuple[str, ...] = ()  # "Name <email>" or emails: only their grants count
    rules: Rules = field(default_factory=Rules)
    budget: Budget = field(default_factory=Budget)
    pueue: PueueSettings = field(default_factory=PueueSettings)
    local: LocalSettings = field(default_factory=LocalSettings)
    slurm: SlurmSettings = field(default_factory=SlurmSettings)

    @property
    def line(self) -> str:
        """The branch whose head is the reference: the trunk when advancing it, else main."""
        return self.trunk if self.advance == "trunk" else self.main_branch

    def is_better(self, candidate: float, reference: float) -> bool:
        """True when `candidate` is better than `reference` in the metric's direction."""
        return candidate < reference if self.direction == "min" else candidate > reference


CONFIG_FILE = "pyproject.toml"  # at the repository root; its [tool.harness] is FROZEN
MAIN_PIN = "harness.mainBranch"  # git config: the main branch, pinned by init / hooks install


def load_config(root: Path) -> Config:
    """`[tool.harness]` as the main branch has it committed (see the module docstring).

    This is the one reader of the configuration: every command calls it with the root of
    the research repository. Cached per process on what was read (main's blob, the root
    copy's stat), so calling it again costs two git calls (the pin, main's blob id).
    """
    main, pinned = main_branch_name(root)
    blob = _committed_blob(root, main)
    if (
        blob is None
        and pinned
        and not _git_out(root, "rev-parse", "-q", "--verify", f"refs/heads/{main}")
    ):
        raise ConfigError(
            f"the main branch {main!r} does not exist (it is pinned as {MAIN_PIN} in git "
            "config): create it, or pin the main branch again with `harness hooks install`"
        )
    working = _working_stat(root / CONFIG_FILE)
    key = (str(root), main, blob, working)
    if key not in _CACHE:
        _CACHE.clear()  # one repository's state at a time: keep the cache small
        _CACHE[key] = _read_config(root, main, blob)
    return _CACHE[key]


_CACHE: dict[tuple[object, ...], Config] = {}


def _read_config(root: Path, main: str, blob: str | None) -> Config:
    path = root / CONFIG_FILE
    text = _git_out(root, "cat-file", "blob", blob) if blob else None
    if text is None or not _has_table(text):
        # nothing committed to read (no repository, no commit on main, a main without the
        # table yet while a repository is adopted): the working copy is all there is
        table = harness_table(_read_working(path, root), label=str(path), root=root)
        if text is not None:
            _warn(
                f"warning: {main}:{CONFIG_FILE} has no [tool.harness] table: it is read from "
                f"{path} until you commit it on {main}"
            )
        return parse_config(table)
    label = f"{main}:{CONFIG_FILE}"
    data = text.encode("utf-8", "surrogateescape")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(not_utf8(label, data, exc)) from None
    table = harness_table(text, label=label)
    config = parse_config(table)
    if config.main_branch != main:  # a main branch renamed: the pin decides, until re-pinned
        _warn(
            f"warning: {label} says main_branch = {config.main_branch!r}, but the main branch "
            f"is pinned as {main!r} ({MAIN_PIN}): run `harness hooks install` in the main "
            "worktree to pin it again"
        )
        config = dataclasses.replace(config, main_branch=main)
    _warn_if_working_copy_differs(path, table, main=main)
    return config


def main_branch_name(root: Path) -> tuple[str, bool]:
    """The main branch: pinned in git config (`harness.mainBranch`, by `harness init` and
    `harness hooks install`), else the root copy's `main_branch`, else `main`. The pin
    keeps an edit of the working copy from redirecting where the configuration is read.
    Returns (the name, whether it is pinned)."""
    pinned = _git_out(root, "config", "--get", MAIN_PIN)
    if pinned and pinned.strip():
        return pinned.strip(), True
    return working_main_branch(root), False


def working_main_branch(root: Path) -> str:
    """`main_branch` as the root's working copy of pyproject.toml has it, else `main`."""
    try:
        table = harness_table(_read_working(root / CONFIG_FILE, root), label=CONFIG_FILE)
    except ConfigError:
        return "main"
    name = table.get("main_branch", "main")
    return name if isinstance(name, str) and name else "main"


def _has_table(text: str) -> bool:
    try:
        harness_table(text, label=CONFIG_FILE)
    except ConfigError as exc:
        return "no [tool.harness] table" not in str(exc)  # a broken table is still one
    return True


def harness_table(text: str, *, label: str, root: Path | None = None) -> dict[str, Any]:
    """The `[tool.harness]` table of a pyproject.toml's text (`label` names it in errors)."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{label} is not valid TOML ({exc}): fix the file") from None
    tool = document.get("tool", {})
    table = tool.get("harness") if isinstance(tool, dict) else None
    if not isinstance(table, dict):
        where = f" in {root}" if root else ""
        raise ConfigError(f"{label} has no [tool.harness] table: run `harness init`{where}")
    return table


def changed_keys(old: Any, new: Any, prefix: str = "") -> list[str]:
    """The dotted keys whose values differ between two tables (`rules.frozen`, ...)."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return [] if old == new else [prefix.rstrip(".") or "[tool.harness]"]
    keys = []
    for key in sorted(set(old) | set(new), key=str):
        if key not in old or key not in new or old[key] != new[key]:
            inner = isinstance(old.get(key), dict) and isinstance(new.get(key), dict)
            keys += changed_keys(old[key], new[key], f"{prefix}{key}.") if inner else []
            keys += [] if inner else [f"{prefix}{key}"]
    return keys


def _read_working(path: Path, root: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path} not found: run `harness init` in {root}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(not_utf8(str(path), data, exc)) from None


def _warn_if_working_copy_differs(path: Path, committed: dict[str, Any], *, main: str) -> None:
    try:
        working = harness_table(_read_working(path, path.parent), label=str(path))
    except ConfigError as exc:
        _warn(f"warning: {exc}; [tool.harness] is read from {main}'s commit")
        return
    keys = changed_keys(committed, working)
    if keys:
        _warn(
            f"warning: {path} differs from {main}'s committed [tool.harness] in "
            f"{', '.join(keys)}: ignored (the configuration is read from {main}; a change "
            "is committed on it in META_MODE)"
        )


def _warn(message: str) -> None:
    from loguru import logger  # late: the hook's path only pays for it when it warns

    logger.warning(message)


def _committed_blob(root: Path, main: str) -> str | None:
    """The blob id of pyproject.toml on `main`; None outside a repository, before main's
    first commit, or when main has no pyproject.toml."""
    blob = _git_out(root, "rev-parse", "--verify", "--quiet", f"refs/heads/{main}:{CONFIG_FILE}")
    return blob.strip() or None if blob else None


def _working_stat(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


def _git_out(root: Path, *args: str) -> str | None:
    """stdout of a git call, None when it fails (no repository, no such revision)."""
    try:
        proc = subprocess.run(
            ["git", *NO_REPLACE, *args], cwd=root, capture_output=True, check=False
        )
    except (FileNotFoundError, NotADirectoryError):
        return None
    if proc.returncode != 0:
        return None
    return proc.stdout.decode("utf-8", "surrogateescape")


def parse_config(table: dict[str, Any]) -> Config:
    """Build a Config from the `[tool.harness]` table, checking every key and type."""
    config: Config = _build(Config, table, "tool.harness")
    if config.ideas_target < 0 or config.seeds < 1 or config.gpus < 0 or config.timeout <= 0:
        raise ConfigError(
            "tool.harness: ideas_target and gpus must be >= 0, seeds >= 1, timeout > 0"
        )
    if config.pueue.parallel < 1 or config.local.parallel < 1:
        raise ConfigError("tool.harness: pueue.parallel and local.parallel must be >= 1")
    if config.min_effect < 0:
        raise ConfigError("tool.harness.min_effect must be >= 0 (an absolute metric difference)")
    if not config.eval:
        raise ConfigError(
            'tool.harness.eval must name the evaluation command, e.g. "python eval.py"'
        )
    for key in ("metric", "confirm_metric"):
        name = getattr(config, key)
        if (name or key == "metric") and not METRIC_NAME.fullmatch(name):
            raise ConfigError(
                f"tool.harness.{key} = {name!r} is not a metric name: use letters, digits "
                'and _ . - / (starting with a letter), e.g. "val_bpb"'
            )
    return config


def _toml_key(field_name: str) -> str:
    return field_name.rstrip("_")


def _build(cls: type, table: Any, prefix: str) -> Any:
    if not isinstance(table, dict):
        raise ConfigError(f"{prefix} must be a table, got {_describe(table)}")
    fields = {_toml_key(f.name): f for f in dataclasses.fields(cls)}
    unknown = sorted(set(table) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown key {prefix}.{unknown[0]} in pyproject.toml; "
            f"known keys: {', '.join(sorted(fields))}"
        )
    hints = typing.get_type_hints(cls)
    values = {}
    for key, value in table.items():
        spec = fields[key]
        values[spec.name] = _convert(value, hints[spec.name], f"{prefix}.{key}", spec.metadata)
    return cls(**values)


def _convert(value: Any, hint: Any, key: str, metadata: Any) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, key)  # type: ignore[arg-type]
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        (inner,) = [arg for arg in args if arg is not type(None)]
        return _convert(value, inner, key, metadata)
    if origin is Literal:
        if value not in args:
            choices = ", ".join(repr(a) for a in args)
            raise ConfigError(f"{key} must be one of {choices}, got {value!r}")
        return value
    if origin is tuple:
        if isinstance(value, str) and metadata.get("shell_split"):
            try:
                return tuple(shlex.split(value))
            except ValueError as exc:  # an unbalanced quote, a trailing backslash
                raise ConfigError(
                    f"{key} = {value!r} does not parse as a command ({exc}): fix its "
                    "quoting, or give it as a list of strings"
                ) from None
        if isinstance(value, str):
            return (value,)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{key} must be a list of strings, got {_describe(value)}")
        return tuple(value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise ConfigError(f"{key} must be {hint.__name__}, got {_describe(value)}")
    return value


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


PYTHON_NAMES = ("python", "python3")


def resolve_argv(argv: tuple[str, ...]) -> list[str]:
    """The argv to execute: a leading `python` means the interpreter running the harness.

    The research code's dependencies live in the harness's environment, and a bare
    `python` on PATH may be another interpreter (or none at all).
    """
    if not argv:
        raise UsageError("empty command: give one after `--` or set it in [tool.harness]")
    if argv[0] in PYTHON_NAMES:
        return [sys.executable, *argv[1:]]
    return list(argv)
