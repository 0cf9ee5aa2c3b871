"""The package as it is published: its name, its version, and what it tells people to install.

The wheel itself is built, installed into a fresh environment and exercised by
`scripts/check-wheel.sh`, which CI runs after the suite (too slow for `just test`).
"""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

import harness
from tests.conftest import git

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ".github/workflows/harness-guard.yml"
# `pip install ... harness` with `harness` a whole requirement, not `harness-research`,
# `./harness` or a path ending in it.
FOREIGN_INSTALL = re.compile(r"pip3? install\b[^\n]*?(?<![\w./-])['\"]?harness(?![\w.-]*[\w/])")
RELEASE_HEADING = re.compile(r"(\d+)\.(\d+)\.(\d+) \((\d{4}-\d{2}-\d{2})\)")


def test_the_distribution_is_named_in_one_place_and_takes_the_package_version() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["name"] == harness.DISTRIBUTION == "harness-research"
    assert project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "harness.__version__"}
    assert project["project"]["scripts"] == {"harness": "harness.cli:main"}


def test_version_prints_the_version_of_the_installed_distribution() -> None:
    for flag in ("--version", "-V"):
        proc = subprocess.run(
            [sys.executable, "-m", "harness", flag], capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == f"harness {harness.__version__} (harness-research)\n"
    # Fails on an environment installed before a version change: reinstall it.
    assert importlib.metadata.version(harness.DISTRIBUTION) == harness.__version__


def test_the_workflow_installs_this_release_unless_told_otherwise(research_repo: Path) -> None:
    text = (research_repo / WORKFLOW).read_text()
    document = yaml.safe_load(text)
    job = document["jobs"]["guard"]
    assert job["env"] == {"HARNESS_DEFAULT": f"harness-research=={harness.__version__}"}
    steps = {step["name"]: step for step in job["steps"]}
    install = steps["Install the harness"]
    assert install["env"] == {"HARNESS_PACKAGE": "${{ vars.HARNESS_PACKAGE }}"}
    assert install["run"] == 'python -m pip install --quiet "${HARNESS_PACKAGE:-$HARNESS_DEFAULT}"'
    # The GitHub expressions reach the file as they are; no template syntax is left.
    assert text.count("${{") == 4
    assert "{%" not in text
    assert "{{ harness" not in text


def test_the_pattern_for_a_foreign_install_finds_one() -> None:
    found = [
        "pip install harness",
        "pip install 'harness==0.1'",
        'run: python -m pip install --quiet "harness"',
        "pip install -U harness[dev]",
    ]
    for line in found:
        assert FOREIGN_INSTALL.search(line), line
    for line in ("pip install harness-research", "pip install -e .", "pip install ./harness"):
        assert not FOREIGN_INSTALL.search(line), line


def test_no_file_tells_anyone_to_install_another_package(research_repo: Path) -> None:
    offenders = []
    for root in (ROOT, research_repo):
        for relative in git(root, "ls-files").splitlines():
            path = root / relative
            if path == Path(__file__).resolve():  # this file's own examples of the pattern
                continue
            if path.is_symlink() or not path.is_file() or path.suffix in {".png", ".gz"}:
                continue
            text = path.read_text(errors="replace")
            offenders += [f"{path}: {m.group(0)}" for m in FOREIGN_INSTALL.finditer(text)]
    assert not offenders, "\n".join(offenders)


def test_the_changelog_has_one_section_per_release_newest_first() -> None:
    headings = re.findall(r"^## (.+)$", (ROOT / "CHANGELOG.md").read_text(), re.MULTILINE)
    releases = [h for h in headings if h != "Unreleased"]
    assert headings[: len(headings) - len(releases)] in ([], ["Unreleased"])
    versions = []
    for heading in releases:
        match = RELEASE_HEADING.fullmatch(heading)
        assert match, f"CHANGELOG heading {heading!r} is not 'X.Y.Z (YYYY-MM-DD)'"
        versions.append(tuple(int(part) for part in match.groups()[:3]))
    assert versions == sorted(versions, reverse=True)
    current = tuple(int(part) for part in harness.__version__.split("."))
    if not versions or current > versions[0]:
        assert headings[0] == "Unreleased", "a version that is not released needs Unreleased"
    else:
        assert current == versions[0], "__version__ is older than the newest release"


def test_the_code_cites_only_documents_that_are_in_the_repository() -> None:
    sections = re.findall(r"^## (\d+)\. ", (ROOT / "docs/architecture.md").read_text(), re.M)
    cited = []
    for path in sorted((ROOT / "harness").rglob("*.py")) + sorted((ROOT / "bench").glob("*.py")):
        text = path.read_text()
        assert "DESIGN.md" not in text and "STYLE.md" not in text, f"{path} cites a missing file"
        cited += [(path.name, n) for n in re.findall(r"docs/architecture\.md §(\d+)", text)]
    assert cited, "no module cites docs/architecture.md"
    missing = [(name, n) for name, n in cited if n not in sections]
    assert not missing, f"citations of sections that do not exist: {missing}"


def test_ci_runs_the_readme_commands_exactly_and_checks_the_wheel() -> None:
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"^python3\.11 -m venv .*$", readme, re.MULTILINE)
    assert len(commands) == 2, commands
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    for command in commands:
        assert command in ci, f".ci/run does not run the README's `{command}`"
    test_line = ci.index(next(c for c in commands if c.endswith("just test")))
    assert "scripts/check-wheel.sh" in ci[test_line + 1 :], "CI must check the wheel after tests"


def test_the_architecture_page_lists_every_column_of_the_record() -> None:
    from harness.record.schema import RESULTS_COLUMNS

    page = (ROOT / "docs/architecture.md").read_text()
    record = page.split("## 3. The record", 1)[1].split("\n## ", 1)[0]
    cells = re.findall(r"^\| ([^|]+) \|", record, re.MULTILINE)
    documented = [name for cell in cells for name in re.findall(r"`([a-z_]+)`", cell)]
    assert documented == list(RESULTS_COLUMNS)


def test_tests_import_their_helpers_by_one_name() -> None:
    """`tests` is a package: `from conftest import ...` would load a second copy (or fail)."""
    modules = "|".join(path.stem for path in (ROOT / "tests").glob("*.py"))
    bare = re.compile(rf"^\s*(?:from|import) ({modules})\b", re.MULTILINE)
    found = [
        f"{path.name}: {match.group(0).strip()}"
        for path in sorted((ROOT / "tests").glob("*.py"))
        for match in bare.finditer(path.read_text())
    ]
    assert not found, "import them from tests.<module> instead:\n" + "\n".join(found)
