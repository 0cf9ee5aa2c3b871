"""Glob patterns of the file rules, matched against repository-relative POSIX paths.

The patterns are gitignore patterns, matched by `pathspec` (git's wildmatch rules), with
two differences that suit rules better than ignore files: every pattern is anchored at
the repository root (`eval.py` is the root's `eval.py` only, as if written `/eval.py`),
and a leading `!` or `#` is part of the name (no negation, no comments: a rule lists what
it covers). So `*` and `?` stay inside one path segment, `[a-c]` and `[!a]` are character
classes, a whole `**` segment crosses directories (`0_docs/**` is everything below
`0_docs/`, `**/x.py` is `x.py` at any depth, `a/**/b` is `b` anywhere below `a`), a
pattern naming a directory covers everything inside it, dot files are not special, and
matching is case-sensitive, as git's is by default.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from harness.errors import ConfigError

if TYPE_CHECKING:
    from pathspec import PathSpec


def matches(path: str, patterns: Iterable[str]) -> bool:
    """True when the repository-relative `path` matches any of `patterns`."""
    return compile_globs(tuple(patterns)).match_file(path)


@lru_cache(maxsize=256)
def compile_globs(patterns: tuple[str, ...]) -> PathSpec[Any]:
    """One matcher for a rule's patterns (pathspec is imported only once a rule is used)."""
    import pathspec

    lines = [anchored(pattern) for pattern in patterns if pattern.strip()]
    try:
        return pathspec.PathSpec.from_lines("gitignore", lines)
    except ValueError as exc:  # pathspec's GitIgnorePatternError is a ValueError
        raise ConfigError(
            f"[tool.harness.rules] has a glob that is not a valid pattern ({exc}): fix it"
        ) from None


def anchored(pattern: str) -> str:
    """The gitignore line of a rule pattern: rooted, so `!` and `#` are plain characters."""
    return pattern if pattern.startswith("/") else "/" + pattern
