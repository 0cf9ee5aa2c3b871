"""Which queue backend a command uses, and why.

The first of these that names a backend wins: the command's `--backend` flag,
`[tool.harness] queue`, the environment variable HARNESS_QUEUE, and then `auto`: pueue
when its daemon answers, else the embedded local queue. `Choice.source` says which.
"""

from __future__ import annotations

import importlib
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from typing import get_args

from harness.config import Config, QueueBackend
from harness.errors import ConfigError, UsageError
from harness.layout import Layout
from harness.queue.base import Backend

NAMES: tuple[str, ...] = tuple(name for name in get_args(QueueBackend) if name != "auto")
NAMES += ("referee",)  # chosen by referee mode only, never by a flag or the config
ENV = "HARNESS_QUEUE"


@dataclass(frozen=True)
class Choice:
    name: str  # "pueue", "local" or "slurm"
    source: str  # why: "--backend", "[tool.harness] queue", "HARNESS_QUEUE" or "auto: ..."

    def describe(self) -> str:
        return f"{self.name} ({self.source})"


def choose_backend(
    config: Config, *, flag: str | None = None, environ: Mapping[str, str] | None = None
) -> Choice:
    """The backend to use: flag, then config, then HARNESS_QUEUE, then auto."""
    environ = os.environ if environ is None else environ
    for value, source in (
        (flag, "--backend"),
        (config.queue, "[tool.harness] queue"),
        (environ.get(ENV), ENV),
    ):
        if value and value != "auto":
            if value not in NAMES:
                raise ConfigError(f"{source} names an unknown queue {value!r}: use {_choices()}")
            return Choice(value, source)
    return choose_auto(config)


def choose_auto(config: Config) -> Choice:
    """pueue when its daemon answers, else the local queue."""
    if shutil.which("pueue") is None:
        return Choice("local", "auto: pueue is not installed")
    from harness.queue.pueue import PueueBackend

    pueue = PueueBackend(config=config.pueue.config, profile=config.pueue.profile)
    if pueue.is_available()[0]:
        return Choice("pueue", "auto: pueued answers")
    return Choice("local", "auto: pueued does not answer")


def open_configured(layout: Layout, config: Config) -> tuple[Choice, Backend]:
    """The backend the configuration chooses (no flag), opened, with why it was chosen."""
    choice = choose_for(layout, config)
    return choice, open_backend(choice.name, layout=layout, config=config)


def choose_for(layout: Layout, config: Config, *, flag: str | None = None) -> Choice:
    """In referee mode the referee's spool, whatever else is configured; else as above."""
    if layout.referee is None:
        return choose_backend(config, flag=flag)
    if flag not in (None, "auto", "referee"):
        raise UsageError(
            f"referee mode: every evaluation goes to the referee ({layout.referee}), "
            f"not to {flag}: drop --backend"
        )
    return Choice("referee", f"referee mode: {layout.referee}")


def open_backend(
    name: str,
    *,
    layout: Layout,
    config: Config,
    gpus: int | None = None,
    group: str | None = None,
) -> Backend:
    """An instance of the named backend, set up from the configuration.

    With `gpus` (or `[tool.harness] gpus`) N > 0, N tasks of a group run at once, each
    with its own CUDA_VISIBLE_DEVICES; otherwise the backend's own `parallel` applies.
    """
    gpus = config.gpus if gpus is None else gpus
    if gpus < 0:
        raise UsageError(f"--gpus must be >= 0, got {gpus}")
    pin = gpus > 0
    if name == "local":
        from harness.queue.local import LocalBackend

        parallel = gpus if pin else config.local.parallel
        return LocalBackend(layout.state_dir / "queue", parallel=parallel, pin_gpus=pin)
    if name == "pueue":
        from harness.queue.pueue import PueueBackend

        settings = config.pueue
        return PueueBackend(
            config=settings.config,
            profile=settings.profile,
            group=group or settings.group,
            parallel=gpus if pin else settings.parallel,
            pin_gpus=pin,
        )
    if name == "slurm":
        return _open_slurm(layout, config)
    if name == "referee" and layout.referee is not None:
        from harness.queue.spool import SpoolBackend

        return SpoolBackend(layout.referee)
    raise ConfigError(f"unknown queue {name!r}: use {_choices()}")


def _open_slurm(layout: Layout, config: Config) -> Backend:
    """The Slurm backend lives in `harness.queue.slurm`, which provides `open_backend`."""
    try:
        module = importlib.import_module("harness.queue.slurm")
    except ModuleNotFoundError:
        raise ConfigError(
            'the slurm queue is not part of this installation: set queue = "local" or "pueue"'
        ) from None
    backend: Backend = module.open_backend(layout=layout, config=config)
    return backend


def _choices() -> str:
    return ", ".join(("auto", *NAMES))
