"""format_table: the one renderer of the commands' text tables."""

from __future__ import annotations

from harness.fileio import format_table


def test_columns_are_as_wide_as_their_widest_cell_two_spaces_apart() -> None:
    lines = format_table(
        [["local:0", "wider", "12.5"], ["local:10", "a-much-longer-idea", "3"]],
        headings=["ID", "IDEA", "SECS"],
        right={2},
    )
    assert lines == [
        "ID        IDEA                SECS",
        "local:0   wider               12.5",
        "local:10  a-much-longer-idea     3",
    ]


def test_a_capped_column_clips_with_an_ellipsis_and_no_line_ends_in_spaces() -> None:
    lines = format_table([["abcdefghij", ""], ["ab", "x"]], limits={0: 5})
    assert lines == ["abcd…", "ab     x"]
    assert format_table([]) == [] and format_table([], headings=["A"]) == ["A"]
