"""Markdown files that start with a YAML front matter block between two `---` lines.

The harness owns the front matter (it rewrites it with the keys in their original
order); the body below it belongs to the writer and is never reformatted.
"""

from __future__ import annotations

from typing import Any

import yaml

from harness.errors import RecordError

DELIMITER = "---"

try:  # libyaml is about ten times faster; `harness status` parses every idea
    _Loader: Any = yaml.CSafeLoader
    _Dumper: Any = yaml.CSafeDumper
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Loader, _Dumper = yaml.SafeLoader, yaml.SafeDumper


def split(text: str, *, name: str) -> tuple[dict[str, Any], str]:
    """(front matter, body) of a document; `name` is how errors refer to it."""
    if not text.startswith(DELIMITER + "\n"):
        raise RecordError(f"{name} does not start with a `---` front matter block: restore it")
    end = text.find("\n" + DELIMITER + "\n", len(DELIMITER))
    if end < 0 and text.endswith("\n" + DELIMITER):
        end = len(text) - len(DELIMITER) - 1
    if end < 0:
        raise RecordError(f"{name} has no closing `---` after its front matter: add it")
    block = text[len(DELIMITER) + 1 : end + 1]
    try:
        meta = yaml.load(block, Loader=_Loader)  # a safe loader
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 2})" if where is not None else ""
        raise RecordError(f"{name}: front matter is not valid YAML{line}: fix the file") from None
    except ValueError as exc:  # a value YAML reads but cannot build, e.g. the date 2024-13-45
        raise RecordError(f"{name}: front matter holds a bad value ({exc}): fix the file") from None
    if not isinstance(meta, dict):
        raise RecordError(f"{name}: front matter is not a mapping of keys to values: fix it")
    return meta, text[end + len(DELIMITER) + 2 :]


def read_bare(value: str) -> Any:
    """What YAML reads `value` as when it is written bare: `null` None, `yes` True, `123` a
    number, `2024-01-01` a date, `lr-warmup` the string itself."""
    try:
        return yaml.load(value, Loader=_Loader)
    except yaml.YAMLError:
        return None


def join(meta: dict[str, Any], body: str) -> str:
    """The document with `meta` as its front matter (keys kept in their order) and `body`."""
    block = yaml.dump(
        meta, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False
    )
    return f"{DELIMITER}\n{block}{DELIMITER}\n{body}"
