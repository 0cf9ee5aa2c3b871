"""APPEND-ONLY journals: where the header ends, how an entry is put on top, on real files."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import RecordError
from harness.rules.appendonly import is_valid_append, prepend_entry, prepend_text, split_header


@pytest.mark.parametrize(
    ("text", "header", "body"),
    [
        ("", "", ""),
        ("# Journal\n", "# Journal\n", ""),
        ("## first\nx\n", "", "## first\nx\n"),
        ("# J\n\nintro\n## a\n## b\n", "# J\n\nintro\n", "## a\n## b\n"),
        ("# J\n### not an entry\n##no space\n", "# J\n### not an entry\n##no space\n", ""),
        ("# J\n  ## indented\n## real\n", "# J\n  ## indented\n", "## real\n"),
        ("\n## a\n", "\n", "## a\n"),
    ],
)
def test_the_header_is_everything_before_the_first_entry_line(
    text: str, header: str, body: str
) -> None:
    assert split_header(text) == (header, body)


@pytest.mark.parametrize(
    ("old", "expected"),
    [
        ("", "## new\n\n"),
        ("# J\n", "# J\n\n## new\n\n"),
        ("# J", "# J\n\n## new\n\n"),
        ("# J\n\n", "# J\n\n## new\n\n"),
        ("# J\n\n## old\ntext\n", "# J\n\n## new\n\n## old\ntext\n"),
        ("## old\n", "## new\n\n## old\n"),
    ],
)
def test_an_entry_goes_between_the_header_and_the_first_entry(old: str, expected: str) -> None:
    new = prepend_text(old, "## new\n\n\n")
    assert new == expected
    assert is_valid_append(old, new)


def test_an_entry_keeps_its_own_text_to_the_last_space() -> None:
    """Two trailing spaces are a markdown line break: only blank lines are trimmed."""
    assert prepend_text("", "## x\nline  \n\n") == "## x\nline  \n\n"


def test_new_text_overlapping_the_old_is_no_append() -> None:
    """`ab## x` is a header line (it does not start with `## `), so the old file's entry
    `## x` can look like the header's end: a file that lost that entry must not pass."""
    old = "ab## x\n## x\ny\n"
    assert split_header(old) == ("ab## x\n", "## x\ny\n")
    assert not is_valid_append(old, "ab## x\ny\n")
    assert is_valid_append(old, "ab## x\n## new\n## x\ny\n")


def test_an_entry_must_start_with_its_heading() -> None:
    with pytest.raises(RecordError, match="must start with '## '"):
        prepend_text("# J\n", "# not an entry")
    with pytest.raises(RecordError):
        prepend_text("# J\n", " ## indented")


def test_prepend_entry_writes_the_file_whole_and_clears_a_killed_writers_leftovers(
    tmp_path: Path,
) -> None:
    journal = tmp_path / "RESEARCH_JOURNAL.md"
    leftover = tmp_path / ".RESEARCH_JOURNAL.md.tmp123"  # what write_atomic left behind
    leftover.write_text("half an entry")
    other = tmp_path / ".other.md.tmp1"
    other.write_text("not ours")
    prepend_entry(journal, "## one\n", lock_path=tmp_path / "lock")
    prepend_entry(journal, "## two\n", lock_path=tmp_path / "lock")
    assert journal.read_text() == "## two\n\n## one\n\n"
    assert not leftover.exists() and other.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".other.md.tmp1",
        "RESEARCH_JOURNAL.md",
        "lock",
    ]
