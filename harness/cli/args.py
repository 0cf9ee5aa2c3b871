"""Positional arguments that name what they take in `--help` (SLUG, TASK), not their type."""

from __future__ import annotations

from typing import Annotated

from tyro.conf import Positional, arg

Slug = Positional[Annotated[str, arg(metavar="SLUG")]]
Task = Positional[Annotated[str, arg(metavar="TASK")]]
RunOrIdea = Annotated[str, arg(metavar="RUN_OR_IDEA")]
FileOrDash = Annotated[str, arg(metavar="FILE|-")]  # a file, or - for standard input
