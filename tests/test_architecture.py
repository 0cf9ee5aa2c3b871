"""The package's import direction, read from the source with `ast`.

cli -> the top-level commands (scaffold, doctor, demo) -> reports -> loop -> runs
-> record / queue -> rules -> the shared base. An arrow may skip layers but never point up,
and no two subpackages import each other.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "harness"
BASE = {"errors", "config", "layout", "gitops", "fileio", "checks", "__init__"}
# Higher numbers may import lower ones, and their own unit; nothing imports upward.
RANK = {"base": 0, "rules": 1, "queue": 2, "record": 2, "runs": 3, "loop": 4, "reports": 5}
RANK |= {"scaffold": 6, "doctor": 6, "demo": 6, "cli": 7, "__main__": 8}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            if node.module == "harness":  # from harness import gitops
                names.update(f"harness.{alias.name}" for alias in node.names)
    return names


def modules() -> dict[str, set[str]]:
    return {
        path.relative_to(PACKAGE).as_posix(): imports_of(path)
        for path in PACKAGE.rglob("*.py")
        if "templates" not in path.parts
    }


def unit_of(name: str) -> str:
    """The layer of a module path (`record/results.py`) or a dotted import (`harness.record`)."""
    parts = name.removeprefix("harness.").removesuffix(".py").replace("/", ".").split(".")
    return "base" if parts[0] in BASE else parts[0]


def harness_imports(imported: set[str]) -> set[str]:
    return {name for name in imported if name == "harness" or name.startswith("harness.")}


def test_every_module_belongs_to_a_known_layer() -> None:
    assert {unit_of(name) for name in modules()} <= set(RANK)


def test_no_module_imports_upward() -> None:
    for name, imported in modules().items():
        here = unit_of(name)
        for target in harness_imports(imported) - {"harness"}:
            there = unit_of(target)
            assert there == here or RANK[there] < RANK[here], f"{name} imports {target}"


def test_no_cycles_between_subpackages() -> None:
    edges = {
        (unit_of(name), unit_of(target))
        for name, imported in modules().items()
        for target in harness_imports(imported) - {"harness"}
        if unit_of(name) != unit_of(target)
    }
    assert not {(a, b) for a, b in edges if (b, a) in edges}


def test_no_cycle_between_queue_modules() -> None:
    queue = {
        name: {unit.removeprefix("harness.queue.") for unit in imported}
        for name, imported in modules().items()
        if name.startswith("queue/")
    }
    edges = {
        (name.removeprefix("queue/").removesuffix(".py"), target)
        for name, targets in queue.items()
        for target in targets
    }
    assert not {(a, b) for a, b in edges if (b, a) in edges}


def test_the_top_level_shows_the_stages() -> None:
    entries = {p.name for p in PACKAGE.iterdir() if p.name != "__pycache__"}
    assert {"rules", "record", "runs", "loop", "reports", "queue", "cli"} <= entries
    assert len(entries - {"__init__.py", "__main__.py", "py.typed", "templates"}) <= 16


def test_each_subpackage_says_what_it_may_import() -> None:
    for package in ("rules", "record", "runs", "loop", "reports"):
        docstring = ast.get_docstring(ast.parse((PACKAGE / package / "__init__.py").read_text()))
        assert docstring and "May import" in docstring, package


def test_nothing_imports_gitpython() -> None:
    """git is called through its binary, in gitops.py (the README says why)."""
    for name, imported in modules().items():
        assert "git" not in imported and not any(i.startswith("git.") for i in imported), name


def test_queue_backends_know_nothing_of_results_or_git() -> None:
    for name, imported in modules().items():
        if name.startswith("queue/"):
            forbidden = {"harness.record", "harness.gitops", "harness.runs", "git"}
            assert not {i for i in imported if i.startswith(tuple(forbidden))}, name
