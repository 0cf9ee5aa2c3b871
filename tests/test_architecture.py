"""The import direction of STYLE.md: cli -> loop -> domain -> gitops/layout/config/errors."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "harness"


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def modules() -> dict[str, set[str]]:
    return {
        path.relative_to(PACKAGE).as_posix(): imports_of(path) for path in PACKAGE.rglob("*.py")
    }


def test_nothing_outside_cli_imports_cli() -> None:
    for name, imported in modules().items():
        if name.startswith("cli/") or name == "__main__.py":
            continue
        assert not any(i.startswith("harness.cli") for i in imported), name


def test_only_gitops_imports_gitpython() -> None:
    for name, imported in modules().items():
        if name != "gitops.py":
            assert "git" not in imported and not any(i.startswith("git.") for i in imported), name


def test_the_base_modules_import_no_domain_module() -> None:
    base = {"errors.py", "config.py", "layout.py", "gitops.py", "schema.py", "fileio.py"}
    base |= {"globs.py", "locking.py"}
    allowed = {"harness.errors", "harness.config", "harness.layout", "harness.schema"}
    for name in base:
        harness_imports = {i for i in modules()[name] if i.startswith("harness")}
        assert harness_imports <= allowed, (name, harness_imports - allowed)


def test_queue_backends_know_nothing_of_results_or_git() -> None:
    for name, imported in modules().items():
        if name.startswith("queue/"):
            forbidden = {"harness.results", "harness.gitops", "harness.journal", "git"}
            assert not (imported & forbidden), name
