"""`just demo`: its arguments. The whole demo (about two minutes of real training) runs in
CI through `.ci/run`, as the README's first command."""

from __future__ import annotations

from pathlib import Path

from harness.demo import main


def test_keep_refuses_a_directory_that_is_not_empty(tmp_path: Path, capsys) -> None:
    (tmp_path / "something").write_text("mine\n")
    assert main(["--keep", str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"demo: {tmp_path} is not empty: give a new directory\n"
    assert [p.name for p in tmp_path.iterdir()] == ["something"]
