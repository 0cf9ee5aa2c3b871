"""`[tool.harness]` of the research repository's pyproject.toml, read into frozen dataclasses.

Every key is a dataclass field; its type annotation is the schema. A key that is not a
field, or a value of the wrong type, is a `ConfigError` that names the key, so a typo in
the configuration never passes silently.

The configuration is always read from the main worktree (the root copy): an experiment
branch cannot loosen its own rules or change its own evaluation command.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
import sys
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from harness.errors import ConfigError, UsageError
from harness.fileio import not_utf8

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


def load_config(root: Path) -> Config:
    """Read `[tool.harness]` from `root/pyproject.toml`."""
    path = root / "pyproject.toml"
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path} not found: run `harness init` in {root}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(not_utf8(str(path), data, exc)) from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc}): fix the file") from None
    tool = document.get("tool", {})
    table = tool.get("harness") if isinstance(tool, dict) else None
    if table is None:
        raise ConfigError(f"{path} has no [tool.harness] table: run `harness init` in {root}")
    return parse_config(table)


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
