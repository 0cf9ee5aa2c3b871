"""The rule globs as a table: pattern, path, whether the pattern covers the path.

A FROZEN pattern that fails to match leaves the file unguarded, so each row is a promise
the README makes about rule globs (gitignore patterns, anchored at the root).
"""

from __future__ import annotations

import pytest

from harness.errors import ConfigError
from harness.rules.globs import compile_globs, matches


@pytest.fixture(autouse=True)
def fresh_globs() -> None:
    """Compile every pattern afresh: a cached matcher would hide a change to the compiler."""
    compile_globs.cache_clear()


TABLE = [
    # plain names are anchored at the root
    ("eval.py", "eval.py", True),
    ("eval.py", "sub/eval.py", False),
    ("eval.py", "eval.pyc", False),
    ("eval.py", "xeval.py", False),
    ("/eval.py", "eval.py", True),
    ("data/train.csv", "data/train.csv", True),
    ("data/train.csv", "other/data/train.csv", False),
    # `*` and `?` stay inside one segment
    ("*.py", "train.py", True),
    ("*.py", "src/train.py", False),
    ("src/*.py", "src/a.py", True),
    ("src/*.py", "src/deep/a.py", False),
    ("src/*", "src/deep/a.py", False),
    ("a*b", "a/b", False),
    ("a*b", "axyb", True),
    ("?.py", "a.py", True),
    ("?.py", "ab.py", False),
    ("a?b", "a/b", False),
    # character classes: ranges and negation
    ("data/[a-c].csv", "data/b.csv", True),
    ("data/[a-c].csv", "data/a.csv", True),
    ("data/[a-c].csv", "data/d.csv", False),
    ("data/[a-c].csv", "data/-.csv", False),
    ("data/[!a].csv", "data/b.csv", True),
    ("data/[!a].csv", "data/a.csv", False),
    ("data/[^a].csv", "data/a.csv", False),
    ("data/[0-9][0-9].csv", "data/42.csv", True),
    ("data/[0-9][0-9].csv", "data/4x.csv", False),
    ("x[/]y", "x/y", False),
    # `**` at the start, in the middle, at the end
    ("**/x.py", "x.py", True),
    ("**/x.py", "a/b/x.py", True),
    ("**/x.py", "a/b/y.py", False),
    ("a/**/b", "a/b", True),
    ("a/**/b", "a/x/y/b", True),
    ("a/**/b", "c/a/x/b", False),
    ("0_docs/**", "0_docs/problem.md", True),
    ("0_docs/**", "0_docs/papers/deep/p.pdf", True),
    ("0_docs/**", "0_docs", False),
    ("0_docs/**", "0_docsx/a.md", False),
    ("**", "any/thing/at/all", True),
    ("a**b", "ax/yb", False),  # not a whole segment: an ordinary `*`
    # a directory covers what is inside it
    ("data", "data/a/b.csv", True),
    ("data/", "data/a.csv", True),
    ("data", "database.csv", False),
    # dot files are not special
    ("*", ".env", True),
    (".*", ".env", True),
    (".*", "a/.env", False),
    ("**/.git*", "sub/.gitignore", True),
    # case-sensitive, as git is by default
    ("eval.py", "EVAL.PY", False),
    ("Data/*.csv", "data/a.csv", False),
    # `!` and `#` are part of the name: no negation, no comments
    ("!keep.txt", "!keep.txt", True),
    ("!keep.txt", "keep.txt", False),
    ("#notes.md", "#notes.md", True),
    # escapes, spaces and other scripts
    (r"\[x\].py", "[x].py", True),
    ("my data/**", "my data/a b.csv", True),
    ("évals/*.py", "évals/ü ber.py", True),
    # an empty pattern covers nothing
    ("", "eval.py", False),
]


@pytest.mark.parametrize(("pattern", "path", "expected"), TABLE)
def test_a_rule_glob_covers_exactly_what_the_readme_says(
    pattern: str, path: str, expected: bool
) -> None:
    assert matches(path, (pattern,)) is expected


def test_a_path_matches_a_list_when_it_matches_any_of_its_globs() -> None:
    patterns = ("eval.py", "data/[a-c].csv", "0_docs/**")
    assert [matches(p, patterns) for p in ("eval.py", "data/b.csv", "0_docs/x", "x")] == [
        True,
        True,
        True,
        False,
    ]
    assert not matches("eval.py", ())


def test_a_broken_glob_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="not a valid pattern"):
        matches("eval.py", ("eval.py\\",))
