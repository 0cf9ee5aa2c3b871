"""`[tool.harness]`: defaults, types, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config import Config, load_config, parse_config
from harness.errors import ConfigError
from tests.conftest import commit_config


def test_empty_table_gives_the_defaults() -> None:
    config = parse_config({})
    assert config == Config()
    assert config.rules.frozen == (
        "eval.py",
        "program.md",
        "meta_journal.md",
        "AGENTS.md",
        "CLAUDE.md",
    )
    assert config.budget.max_runs is None


def test_values_are_read_and_commands_split_like_a_shell() -> None:
    config = parse_config(
        {
            "metric": "acc",
            "direction": "max",
            "eval": "python eval.py --data 'my dir'",
            "smoke": ["python", "eval.py", "--smoke"],
            "min_effect": 1,
            "rules": {"frozen": ["eval.py", "data/**"], "global": ["results.tsv"]},
            "budget": {"max_runs": 50, "patience": 5},
            "slurm": {"partition": "gpu", "extra_args": ["--qos=high"]},
        }
    )
    assert config.eval == ("python", "eval.py", "--data", "my dir")
    assert config.smoke == ("python", "eval.py", "--smoke")
    assert config.min_effect == 1.0 and isinstance(config.min_effect, float)
    assert config.rules.global_ == ("results.tsv",)
    assert config.rules.append_only == Config().rules.append_only
    assert config.budget.max_runs == 50 and config.budget.max_hours is None
    assert config.slurm.extra_args == ("--qos=high",)
    assert config.is_better(0.9, 0.8)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"direction": "up"}, "tool.harness.direction must be one of 'min', 'max', got 'up'"),
        ({"seeds": "3"}, "tool.harness.seeds must be int, got str '3'"),
        ({"seeds": True}, "tool.harness.seeds must be int, got bool True"),
        ({"min_effect": "big"}, "tool.harness.min_effect must be float, got str 'big'"),
        ({"metrc": "x"}, "unknown key tool.harness.metrc in pyproject.toml"),
        ({"rules": {"frozen": "eval.py", "frozzen": []}}, "unknown key tool.harness.rules.frozzen"),
        ({"rules": {"frozen": [1, 2]}}, "tool.harness.rules.frozen must be a list of strings"),
        ({"rules": ["eval.py"]}, "tool.harness.rules must be a table"),
        ({"budget": {"max_runs": 1.5}}, "tool.harness.budget.max_runs must be int"),
        (
            {"queue": "celery"},
            "tool.harness.queue must be one of 'auto', 'pueue', 'local', 'slurm'",
        ),
        ({"eval": ""}, "tool.harness.eval must name the evaluation command"),
        ({"seeds": 0}, "seeds >= 1"),
        ({"min_effect": -0.1}, "tool.harness.min_effect must be >= 0"),
    ],
)
def test_a_wrong_value_names_its_key(table: dict, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(table)
    assert message in str(caught.value)


def test_a_single_glob_string_is_one_glob_even_with_spaces() -> None:
    assert parse_config({"rules": {"frozen": "my eval.py"}}).rules.frozen == ("my eval.py",)


def test_missing_file_table_or_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"pyproject\.toml not found: run `harness init`"):
        load_config(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    with pytest.raises(ConfigError, match=r"has no \[tool.harness\] table"):
        load_config(tmp_path)
    (tmp_path / "pyproject.toml").write_text("[tool.harness\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_config(tmp_path)


def test_the_cli_reports_a_config_error_in_one_line(research_repo: Path, cli) -> None:
    commit_config(
        research_repo, lambda text: text.replace('direction = "min"', 'direction = "down"')
    )
    result = cli("smoke", cwd=research_repo)
    assert result.code == 2
    assert result.err == (
        "harness: tool.harness.direction must be one of 'min', 'max', got 'down'\n"
    )
