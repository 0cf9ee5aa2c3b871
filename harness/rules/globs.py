"""Glob patterns of the file rules, matched against repository-relative POSIX paths.

Patterns are anchored at the repository root. `*` and `?` stay inside one path segment,
`**` crosses directories (`0_docs/**` is everything below `0_docs/`, `**/x.py` is `x.py`
at any depth), and `[...]` is a character class, as in gitignore and most glob tools.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache


@lru_cache(maxsize=512)
def compile_glob(pattern: str) -> re.Pattern[str]:
    parts, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            parts.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            parts.append(".*")
            i += 2
        elif pattern[i] == "*":
            parts.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            parts.append("[^/]")
            i += 1
        elif pattern[i] == "[" and "]" in pattern[i + 2 :]:
            end = pattern.index("]", i + 2)
            body = pattern[i + 1 : end]
            negate = body.startswith("!")
            parts.append("[" + ("^" if negate else "") + re.escape(body.lstrip("!")) + "]")
            i = end + 1
        else:
            parts.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(parts) + r"\Z", re.DOTALL)


def matches(path: str, patterns: Iterable[str]) -> bool:
    """True when the repository-relative `path` matches any of `patterns`."""
    return any(compile_glob(pattern).match(path) for pattern in patterns)
