"""`harness init`: write the research repository layout into a directory.

The templates are package data (`harness/templates/`); files ending in `.j2` are rendered
with jinja2, the others are copied as they are (some of them are jinja2 templates the
harness renders later, such as the idea and report templates). Nothing that exists is
ever overwritten: an existing file is listed as skipped, and an existing pyproject.toml
gets `[tool.harness]` added with a format-preserving TOML editor.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import harness
from harness import gitops
from harness.errors import HarnessError, UsageError
from harness.fileio import read_text, render_template, write_atomic
from harness.layout import WORKTREES_DIR
from harness.record.schema import header_line

GITIGNORE_LINES = (f"/{WORKTREES_DIR}/", ".venv/", "__pycache__/", "*.egg-info/")
METRIC_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
GLOBAL_FILES = ("results.tsv", "RESEARCH_JOURNAL.md")  # the defaults of [tool.harness.rules]
LAYOUTS = ("harness", "autoresearch")


@dataclass(frozen=True)
class Evaluation:
    """What a research repository of one layout evaluates with, for `[tool.harness]`."""

    eval_command: str
    smoke_command: str
    evaluation_files: tuple[str, ...]  # FROZEN beside program.md
    timeout: int
    show: tuple[str, ...] = ()


EVALUATIONS = {
    "harness": Evaluation("python eval.py", "python eval.py --smoke", ("eval.py",), 1800),
    # karpathy/autoresearch: prepare.py (data, tokenizer, the evaluation) is fixed, train.py
    # is the research code and reports `val_bpb` after a `---` line; a run trains for five
    # minutes and is given up after ten. Its smoke run only byte-compiles the two files.
    "autoresearch": Evaluation(
        "uv run train.py",
        "uv run python -m py_compile prepare.py train.py",
        ("prepare.py",),
        600,
        show=("memory_gb", "peak_vram_mb"),
    ),
}


@dataclass
class InitReport:
    root: Path
    created: list[str] = field(default_factory=list)
    appended: list[str] = field(default_factory=list)  # existing files init added lines to
    skipped: list[str] = field(default_factory=list)
    unignored: list[str] = field(default_factory=list)  # GLOBAL files .gitignore had ignored
    git_initialised: bool = False
    main_branch: str = "main"
    main_branch_source: str = "default"  # "--main-branch", "the current branch", "default"
    committed: str | None = None  # sha of the first commit, when init made it
    hook: str = ""  # what became of the pre-commit guard, for people


def init_research_repo(
    path: Path,
    *,
    metric: str = "val_bpb",
    direction: str = "min",
    example: bool = False,
    main_branch: str | None = None,
    adopt: str = "harness",
) -> InitReport:
    """Write the layout into `path` (created if needed); idempotent.

    `main_branch` defaults to the current branch of an existing repository (`master`, an
    `autoresearch/<tag>` branch, ...), else `main`; a detached HEAD needs it named. `adopt`
    names the layout of the research code already there (`autoresearch`), which sets the
    evaluation commands.
    """
    if adopt not in LAYOUTS:
        raise UsageError(f"unknown layout {adopt!r}: choose one of {', '.join(LAYOUTS)}")
    if not METRIC_NAME.match(metric):
        raise UsageError(f"metric name {metric!r} is not a plain identifier: use e.g. val_bpb")
    if direction not in ("min", "max"):
        raise UsageError(f"direction must be min or max, got {direction!r}")
    root = _make_directory(path)
    report = InitReport(root=root)
    report.main_branch, report.main_branch_source = _main_branch(root, main_branch)
    main_branch = report.main_branch
    if not gitops.is_repository(root):
        gitops.init_repository(root, branch=main_branch)
        report.git_initialised = True
    context = {
        "metric": metric,
        "direction": direction,
        "example": example,
        "main_branch": main_branch,
        "project_name": _project_name(root),
        "adopt": adopt,
        **dataclasses.asdict(EVALUATIONS[adopt]),
        # the CI workflow installs this release
        "harness_requirement": f"{harness.DISTRIBUTION}=={harness.__version__}",
    }
    for relative, text in _planned_files(context):
        _write_new(root, relative, text, report)
    (root / WORKTREES_DIR).mkdir(exist_ok=True)
    _merge_gitignore(root, report)
    _unignore_global_files(root, report)
    _add_tool_harness(root, context, report)
    if not gitops.has_commits(root):
        report.committed = gitops.commit_paths(
            root, report.created, message="Start the research repository (harness init)"
        )
    report.hook = _install_guard(root)  # after the first commit, which adds FROZEN files
    if report.committed:  # the audit reports a history rewritten from here on
        from harness.rules.audit import mark_audited

        mark_audited(root, report.committed)
    return report


def _main_branch(root: Path, given: str | None) -> tuple[str, str]:
    """(the main branch, where the name came from); a bad name is a UsageError."""
    if given is not None:
        if not gitops.is_branch_name(given, cwd=root):
            raise UsageError(f"--main-branch {given!r} is not a valid git branch name")
        return given, "--main-branch"
    if not gitops.is_repository(root):
        return "main", "default"
    current = gitops.current_branch(root)
    if current is None:
        raise UsageError(
            f"{root} has a detached HEAD: check out the main branch first, or name it with "
            "--main-branch NAME"
        )
    return current, "the current branch"


def detect_layout(path: Path) -> str:
    """`autoresearch` for a clone of it (prepare.py and train.py, no eval.py), else `harness`."""
    names = ("prepare.py", "train.py")
    if all((path / name).is_file() for name in names) and not (path / "eval.py").exists():
        return "autoresearch"
    return "harness"


def _install_guard(root: Path) -> str:
    from harness.rules.hooks import install_hook

    try:
        done = install_hook(root)
    except HarnessError as exc:
        return f"pre-commit guard not installed: {exc}"
    return f"pre-commit guard {'installed' if done.changed else 'up to date'} in {done.path}"


def _make_directory(path: Path) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HarnessError(
            f"cannot create {path}: {exc.strerror}: choose a writable path"
        ) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise HarnessError(f"cannot write to {path}: permission denied: choose a writable path")
    return path.resolve()


def _project_name(root: Path) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", root.name).strip("-.")
    return name or "research"


def _templates() -> Path:
    return Path(str(resources.files("harness") / "templates"))


def _planned_files(context: dict[str, Any]) -> list[tuple[str, str]]:
    """(relative path, content) of every file of the layout."""
    base = _templates()
    files = []
    for source in sorted((base / "repo").rglob("*")):
        if source.is_file():
            relative = source.relative_to(base / "repo").as_posix()
            files.append(_render_file(source, relative, context))
    files.append(("results.tsv", header_line()))
    if context["example"]:
        for name in ("eval.py", "train.py"):
            files.append((name, (base / "example" / name).read_text(encoding="utf-8")))
    elif context["adopt"] == "harness":
        files.append(_render_file(base / "eval.py.j2", "eval.py.j2", context))
    return files


def _render_file(source: Path, relative: str, context: dict[str, Any]) -> tuple[str, str]:
    text = source.read_text(encoding="utf-8")
    if not relative.endswith(".j2"):
        return relative, text
    return relative.removesuffix(".j2"), render_template(text, context)


def _write_new(root: Path, relative: str, text: str, report: InitReport) -> None:
    target = root / relative
    if target.exists() or target.is_symlink():
        report.skipped.append(relative)
        return
    write_atomic(target, text)
    report.created.append(relative)


def _merge_gitignore(root: Path, report: InitReport) -> None:
    path = root / ".gitignore"
    existing = read_text(path) if path.exists() else ""
    missing = [line for line in GITIGNORE_LINES if line not in existing.splitlines()]
    if not missing:
        report.skipped.append(".gitignore")
        return
    prefix = existing if not existing or existing.endswith("\n") else existing + "\n"
    write_atomic(path, prefix + "".join(line + "\n" for line in missing))
    (report.appended if existing else report.created).append(".gitignore")


def _unignore_global_files(root: Path, report: InitReport) -> None:
    """GLOBAL files must be committed: a .gitignore that ignores them gets a `!` line."""
    ignored = gitops.ignored_paths(root, [p for p in GLOBAL_FILES if (root / p).exists()])
    if not ignored:
        return
    path = root / ".gitignore"
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    prefix = existing if not existing or existing.endswith("\n") else existing + "\n"
    lines = "".join(f"!/{name}\n" for name in ignored)
    write_atomic(path, prefix + "# the record is committed (harness init)\n" + lines)
    report.unignored.extend(ignored)
    if ".gitignore" not in report.created + report.appended:
        report.appended.append(".gitignore")
        if ".gitignore" in report.skipped:
            report.skipped.remove(".gitignore")


def _add_tool_harness(root: Path, context: dict[str, Any], report: InitReport) -> None:
    import tomlkit

    snippet = render_template((_templates() / "tool_harness.toml.j2").read_text(), context)
    path = root / "pyproject.toml"
    if not path.exists():
        head = render_template((_templates() / "pyproject.toml.j2").read_text(), context)
        write_atomic(path, head + snippet)
        report.created.append("pyproject.toml")
        return
    text = read_text(path)
    try:
        document = tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as exc:
        raise HarnessError(
            f"{path} is not valid TOML ({exc}): fix it, then run init again"
        ) from None
    tool = document.get("tool")
    if tool is not None and "harness" in tool:
        report.skipped.append("pyproject.toml")
        return
    if tool is None:
        document["tool"] = tool = tomlkit.table(is_super_table=True)
    tool["harness"] = tomlkit.parse(snippet)["tool"]["harness"]
    write_atomic(path, tomlkit.dumps(document))
    report.appended.append("pyproject.toml")
