"""Property-based tests: whatever is thrown at the command line, it answers like a tool.

Random argument lists, random corruptions of results.tsv, of idea files and of
pyproject.toml, and random bytes in an evaluation's output go to the real CLI (in-process,
in a fresh copy of a real research repository per example). Every call must:

- return an exit code in {0, 1, 2, 3} and let no exception escape;
- print no traceback on stderr, and no "internal error" (the line the command line
  prints for an exception nothing else caught, a bug);
- leave the bytes results.tsv had before the call as a prefix of its bytes after it
  (the record is only ever appended to), except for the two commands whose job is to
  rewrite it (`results import` of the root file, `results upgrade`), which keep a copy.

The suite runs a fixed, derandomized set of 40 examples per property (200 calls);
`just fuzz` runs many more, freshly random (HARNESS_FUZZ_EXAMPLES, default 2000 per
property), and keeps hypothesis's database of failures in `.hypothesis/`.

Arguments are drawn from the commands' own words and options plus random text. Kept out,
because they wait by design or run the full example evaluation: `dashboard --serve`,
`queue follow`, `queue wait` and `baseline`; an `eval`, `smoke` or `queue add` always gets
one of a few harmless commands after `--` (random text is never executed). No argument
holds a NUL (a real argv cannot) or a `/` (so no path leaves the sandbox); some hold
bytes that are not UTF-8, as a shell may pass them.
"""

from __future__ import annotations

import io
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.cli import main
from harness.queue.local import LocalBackend
from harness.record.results import format_row
from tests.conftest import git

FUZZING = "HARNESS_FUZZ_EXAMPLES" in os.environ
EXAMPLES = int(os.environ.get("HARNESS_FUZZ_EXAMPLES", "2000")) if FUZZING else 40
PROFILE = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not FUZZING,  # the suite checks the same examples every time
    database=None if not FUZZING else settings.get_profile("default").database,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
EXIT_CODES = {0, 1, 2, 3}
REWRITERS = (("results", "import"), ("results", "upgrade"))

COMMANDS = (
    ("init",), ("doctor",), ("status",), ("next",),
    ("idea", "new"), ("idea", "list"), ("idea", "show"), ("idea", "critique"),
    ("idea", "pick"), ("idea", "set"),
    ("worktree", "create"), ("worktree", "list"), ("worktree", "remove"), ("worktree", "prune"),
    ("implement",), ("eval",), ("smoke",),
    ("queue", "add"), ("queue", "status"), ("queue", "log"), ("queue", "kill"), ("sync",),
    ("results",), ("results", "best"), ("results", "compare"), ("results", "import"),
    ("results", "commit"), ("results", "upgrade"),
    ("report",), ("submit",), ("journal", "add"), ("guard",), ("hooks", "install"),
    ("meta", "on"), ("meta", "off"), ("meta", "status"), ("audit",), ("dashboard",),
    ("idea",), ("queue",), ("results", "nonsense"), (),
)  # fmt: skip
NEEDS_COMMAND = {("eval",), ("smoke",), ("queue", "add")}
OPTIONS = (
    "--json", "--csv", "--title", "--hypothesis", "--status", "--reason", "--force", "--file",
    "--seed", "-q", "-H", "--question", "--expected", "--seeds", "--group", "--idea",
    "--timeout", "--backend", "--tail", "--metric-column", "--staged", "--range",
    "--integrity", "--no-integrity", "--out", "--observation", "--inference",
    "--delete-branch", "--main-branch", "--metric", "--direction", "--example", "--chain",
    "--branch", "--description", "--help", "-h", "--no-json", "--",
)  # fmt: skip
VALUES = (
    "good", "other", "baseline", "-x", "Bad Slug", "a--b", "0", "-1", "3", "1e9", "nan",
    "inf", "-inf", "", " ", "local", "main", "master", "HEAD", "HEAD~1..HEAD", "..",
    "results.tsv", "theirs.tsv", "critique.md", "program.md", "proposed", "critiqued",
    "abandoned", "min", "max", "val_bpb", "r0", "local:0", "-",
)  # fmt: skip
WORD = st.text(
    alphabet=st.characters(blacklist_characters="\x00/", blacklist_categories=["Cs"]),
    max_size=12,
)
# What a POSIX shell can pass: any bytes but NUL, read by Python with surrogateescape.
RAW_WORD = st.binary(max_size=8).map(
    lambda data: data.replace(b"\0", b"").replace(b"/", b"").decode("utf-8", "surrogateescape")
)
SAFE_COMMANDS = (
    ("true",),
    ("false",),
    ("no-such-evaluator-xyz",),
    ("python", "-c", "print('---'); print('val_bpb: 1.5')"),
    ("python", "-c", "import sys; sys.exit(7)"),
    ("python", "-c", "print('---'); print('val_bpb: 2')", "caf\udce9"),  # a latin-1 argument
)


# -- the sandbox --------------------------------------------------------------------------------


def baseline_rows() -> str:
    rows = []
    for number, (idea, value) in enumerate([("baseline", 1.5), ("baseline", 1.4), ("good", 1.2)]):
        rows.append(
            format_row(
                {
                    "run_id": f"r{number}", "timestamp": "2026-01-01T00:00:00Z", "idea": idea,
                    "branch": "main", "commit": "abc", "dirty": False, "seed": number,
                    "metric": "val_bpb", "value": value, "status": "ok", "integrity": "ok",
                }
            )
        )  # fmt: skip
    return "".join(rows)


@pytest.fixture(scope="session")
def fuzz_template(example_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example repository with an idea, three runs and two files to feed commands."""
    root = tmp_path_factory.mktemp("fuzz") / "research"
    shutil.copytree(example_template, root, symlinks=True)
    assert run(["idea", "new", "good", "--title", "A good idea"], cwd=root)[0] == 0
    with (root / "results.tsv").open("a") as handle:
        handle.write(baseline_rows())
    (root / "theirs.tsv").write_text("commit\tval_bpb\tstatus\tdescription\nabc\t1\tkeep\tx\n")
    (root / "critique.md").write_text("Sound.\nRating: 7/10\n")
    return root


@contextmanager
def sandbox(template: Path) -> Iterator[Path]:
    """A private copy of `template` two levels down in a temporary folder, removed after
    (`..` from it stays inside the temporary folder); its local queue's worker stopped."""
    base = Path(tempfile.mkdtemp(prefix="harness-fuzz-"))
    root = base / "sandbox" / "research"
    shutil.copytree(template, root, symlinks=True, copy_function=_link_objects)
    try:
        yield root
    finally:
        stop_queue(root / ".git" / "harness" / "queue")
        shutil.rmtree(base, ignore_errors=True)


def _link_objects(source: str, target: str) -> None:
    """git never changes an object file once written: those are shared, the rest copied."""
    if f"{os.sep}.git{os.sep}objects{os.sep}" in source:
        os.link(source, target)
    else:
        shutil.copy2(source, target)


def stop_queue(queue_dir: Path) -> None:
    if not queue_dir.is_dir():
        return
    backend = LocalBackend(queue_dir)
    deadline = time.monotonic() + 10
    while backend.store.worker_starting_path.exists() and time.monotonic() < deadline:
        time.sleep(0.02)  # a worker being spawned: let it take its lock, then stop it
    backend.stop_worker()


def run(args: list[str], *, cwd: Path, stdin: bytes = b"") -> tuple[int, str, str]:
    """The CLI in-process: (exit code, stdout, stderr); an escaping exception fails."""
    out, err = io.StringIO(), io.StringIO()
    saved_cwd, saved_stdin = os.getcwd(), sys.stdin
    os.chdir(cwd)
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin))
    try:
        with redirect_stdout(out), redirect_stderr(err):
            code = main(args)
    finally:
        os.chdir(saved_cwd)
        sys.stdin = saved_stdin
    return code, out.getvalue(), err.getvalue()


def check_call(repo: Path, args: list[str], *, stdin: bytes = b"") -> tuple[int, str, str]:
    """Run args and assert the three properties."""
    record = repo / "results.tsv"
    before = record.read_bytes() if record.exists() else None
    code, out, err = run(args, cwd=repo, stdin=stdin)
    passed_on = {7} if args[:1] == ["smoke"] else set()  # smoke exits with its command's code
    assert code in EXIT_CODES | passed_on, (args, code, err)
    assert "Traceback" not in err, (args, err)
    assert "internal error" not in err, (args, err)  # the command line's net for bugs
    if before is not None and not any(tuple(args[: len(r)]) == r for r in REWRITERS):
        after = record.read_bytes() if record.exists() else b""
        assert after.startswith(before), (args, before[-200:], after[-200:])
    return code, out, err


# -- strategies -----------------------------------------------------------------------------------


# The commands' grammar: positionals and options with the kind of value each takes.
GRAMMAR: dict[tuple[str, ...], tuple[tuple[str, ...], dict[str, str | None]]] = {
    ("init",): (("DIR",), {"--metric": "WORD", "--direction": "DIRECTION", "--example": None,
                           "--main-branch": "WORD", "--from": "LAYOUT"}),
    ("doctor",): ((), {}),
    ("status",): ((), {"--json": None}),
    ("next",): ((), {"--json": None}),
    ("idea", "new"): (("SLUG",), {"--title": "TEXT", "--hypothesis": "TEXT"}),
    ("idea", "list"): ((), {"--json": None}),
    ("idea", "show"): (("SLUG",), {"--json": None}),
    ("idea", "critique"): (("SLUG",), {"--file": "FILE"}),
    ("idea", "pick"): ((), {"--json": None}),
    ("idea", "set"): (("SLUG",), {"--status": "STATUS", "--reason": "TEXT", "--force": None}),
    ("worktree", "create"): (("SLUG",), {}),
    ("worktree", "list"): ((), {}),
    ("worktree", "remove"): (("SLUG",), {"--force": None, "--delete-branch": None}),
    ("worktree", "prune"): ((), {}),
    ("implement",): (("SLUG",), {}),
    ("eval",): ((), {"--seed": "INT", "-q": "TEXT", "-H": "TEXT", "--expected": "TEXT",
                     "--timeout": "NUMBER", "--description": "TEXT", "--queue-task": "WORD"}),
    ("smoke",): ((), {}),
    ("queue", "add"): ((), {"--seeds": "INT", "-q": "TEXT", "-H": "TEXT", "--expected": "TEXT",
                            "--group": "WORD", "--backend": "BACKEND"}),
    ("queue", "status"): ((), {"--json": None, "--backend": "BACKEND"}),
    ("queue", "log"): (("TASK",), {"--tail": "INT"}),
    ("queue", "kill"): (("TASK",), {}),
    ("sync",): ((), {"--json": None}),
    ("results",): ((), {"--idea": "SLUG", "--json": None, "--csv": None}),
    ("results", "best"): ((), {"--json": None}),
    ("results", "compare"): (("KEY", "KEY"), {"--json": None}),
    ("results", "import"): (("FILE",), {"--metric-column": "WORD"}),
    ("results", "commit"): ((), {"--json": None}),
    ("results", "upgrade"): ((), {}),
    ("report",): (("SLUG",), {"--json": None}),
    ("submit",): (("SLUG",), {"--json": None}),
    ("journal", "add"): ((), {"--observation": "TEXT", "--inference": "TEXT", "--idea": "SLUG"}),
    ("guard",): ((), {"--staged": None, "--range": "RANGE", "--json": None, "--integrity": None}),
    ("hooks", "install"): ((), {"--chain": None}),
    ("meta", "on"): ((), {"--reason": "TEXT"}),
    ("meta", "off"): ((), {"--reason": "TEXT"}),
    ("meta", "status"): ((), {}),
    ("audit",): ((), {"--json": None}),
    ("dashboard",): ((), {"--out": "FILE"}),
}  # fmt: skip
KINDS = {
    "SLUG": st.one_of(st.sampled_from(["good", "other", "fresh", "baseline", "-x"]), WORD),
    "TEXT": st.one_of(st.sampled_from(["a question?", "-0.05 val_bpb", ""]), WORD, RAW_WORD),
    "WORD": st.one_of(st.sampled_from(["main", "master", "val_bpb", "harness", "x"]), WORD),
    "INT": st.one_of(st.integers(-2, 12).map(str), WORD),
    "NUMBER": st.one_of(st.sampled_from(["0.5", "30", "0", "-1", "nan", "inf", "1e9"]), WORD),
    "DIRECTION": st.sampled_from(["min", "max", "up"]),
    "LAYOUT": st.sampled_from(["harness", "autoresearch", "other"]),
    "STATUS": st.sampled_from(["proposed", "critiqued", "implementing", "testing",
                               "reported", "submitted", "abandoned", "done"]),
    "FILE": st.sampled_from(["theirs.tsv", "results.tsv", "critique.md", "program.md",
                             "missing.txt", "-", "..", "page.html"]),
    "KEY": st.sampled_from(["baseline", "good", "r0", "r2", "nothing"]),
    "TASK": st.sampled_from(["local:0", "0", "7", "pueue:1", "x"]),
    "RANGE": st.sampled_from(["HEAD~1..HEAD", "main..HEAD", "nope..HEAD", "HEAD"]),
    "BACKEND": st.sampled_from(["local", "auto"]),
    "DIR": st.sampled_from([".", "sub", "..", "new-project"]),
}  # fmt: skip
WELL_FORMED = {tuple(c) for c in GRAMMAR}


def one_in(n: int) -> st.SearchStrategy[bool]:
    """True about once in n draws (hypothesis leans integers toward 0: not those)."""
    return st.sampled_from([False] * (n - 1) + [True])  # the simplest draw, first, is False


@st.composite
def argument_lists(draw: st.DrawFn) -> list[str]:
    """Mostly what the grammar allows (so commands run, not only the parser), with some
    noise: a word dropped, a random token put in, an unknown command in front."""
    command = draw(st.sampled_from([*GRAMMAR, *[c for c in COMMANDS if c not in GRAMMAR]]))
    positionals, options = GRAMMAR.get(command, ((), {}))
    words = [draw(KINDS[kind]) for kind in positionals]
    chosen = (
        draw(st.lists(st.sampled_from(sorted(options)), unique=True, max_size=3)) if options else []
    )
    for option in chosen:
        kind = options[option]
        words += [option] if kind is None else [option, draw(KINDS[kind])]
    noise = st.one_of(st.sampled_from(OPTIONS), st.sampled_from(VALUES), WORD, RAW_WORD)
    noisy: bool = draw(one_in(3))
    for _ in range(draw(st.integers(1, 3)) if noisy else 0):
        where = draw(st.integers(0, len(words)))
        drop = bool(words) and draw(st.booleans())
        if drop:
            del words[min(where, len(words) - 1)]
        else:
            words.insert(where, draw(noise))
    args = [*command, *words]
    if draw(one_in(20)):
        args = [draw(WORD.filter(bool)), *args]  # an unknown word in front
    if "--" in args:
        args = args[: args.index("--")]
    args = [arg for arg in args if arg != "--serve"]
    if command in NEEDS_COMMAND or draw(one_in(10)):
        args += ["--", *draw(st.sampled_from(SAFE_COMMANDS))]
    return args


@st.composite
def corruptions(draw: st.DrawFn, data: bytes) -> bytes:
    """`data` with one random damage: bytes inserted, replaced, removed, or cut off."""
    position = draw(st.integers(0, len(data)))
    noise = draw(st.binary(min_size=1, max_size=20))
    kind = draw(st.sampled_from(["insert", "replace", "cut", "delete", "append", "swap"]))
    if kind == "insert":
        return data[:position] + noise + data[position:]
    if kind == "replace":
        return data[:position] + noise + data[position + len(noise) :]
    if kind == "cut":
        return data[:position]
    if kind == "delete":
        return data[:position] + data[position + draw(st.integers(1, 40)) :]
    if kind == "append":
        return data + noise
    separators = draw(st.sampled_from([(b"\t", b" "), (b"\n", b"\t"), (b"\n", b"\r\n")]))
    return data.replace(*separators, draw(st.integers(1, 3)))


READERS = (
    ["status"], ["status", "--json"], ["next", "--json"], ["results"], ["results", "best"],
    ["results", "compare", "baseline", "good"], ["results", "commit"], ["doctor"],
    ["dashboard"], ["report", "good"], ["sync"], ["idea", "list"], ["idea", "pick"],
    ["idea", "show", "good"], ["idea", "set", "good", "--status", "critiqued"],
    ["worktree", "create", "good"], ["guard", "--staged"], ["audit"], ["queue", "status"],
    ["eval", "--", "python", "-c", "print('---'); print('val_bpb: 1.1')"],
    ["idea", "new", "fresh", "--title", "Fresh idea"],
    ["journal", "add", "--observation", "seen"],
)  # fmt: skip
YAML_VALUES = (
    "2024-13-45", "2024-02-30", "[", "{a: 1}", ".nan", ".inf", "-1", "11", "null", "''",
    "!!binary x", "&a [*a]", "*undefined", "~", "[1, 2]", "good", "Done", "2024-01-01",
    "!!python/object:os.system x", "'", "a: b: c", "- x", "12345678901234567890",
)  # fmt: skip
TOML_VALUES = (
    '""', '"x"', "'unbalanced \"", '"python \'eval.py"', "0", "-1", "1e400", "nan", "inf",
    "true", "[]", "[1, 2]", '["a", 3]', "{}", "{ a = 1 }", '"min"', '"maybe"', "1979-05-27",
)  # fmt: skip


# -- the properties -------------------------------------------------------------------------------


@PROFILE
@given(args=argument_lists(), stdin=st.binary(max_size=40))
def test_random_arguments(fuzz_template: Path, args: list[str], stdin: bytes) -> None:
    with sandbox(fuzz_template) as repo:
        check_call(repo, args, stdin=stdin)


@PROFILE
@given(data=st.data(), args=st.sampled_from(READERS))
def test_a_corrupted_results_tsv(fuzz_template: Path, data: st.DataObject, args) -> None:
    with sandbox(fuzz_template) as repo:
        record = repo / "results.tsv"
        record.write_bytes(data.draw(corruptions(record.read_bytes())))
        check_call(repo, list(args))


def one_value_wrong(
    data: st.DataObject,
    text: bytes,
    numbers: Sequence[int],
    *,
    key_end: bytes,
    values: Sequence[str],
) -> bytes:
    """`text` with the value of the `key<key_end> value` line at one of `numbers` replaced
    by one of `values`."""
    lines = text.split(b"\n")
    number = data.draw(st.sampled_from(list(numbers)))
    value = data.draw(st.sampled_from(values)).encode()
    lines[number] = lines[number].split(key_end)[0] + key_end + b" " + value
    return b"\n".join(lines)


@PROFILE
@given(data=st.data(), args=st.sampled_from(READERS))
def test_a_corrupted_idea_file(fuzz_template: Path, data: st.DataObject, args) -> None:
    with sandbox(fuzz_template) as repo:
        (idea,) = (repo / "1_ideas").glob("*_good.md")
        text = idea.read_bytes()
        if data.draw(st.booleans()):  # a wrong value for one front matter key
            end = text.split(b"\n").index(b"---", 1)
            text = one_value_wrong(data, text, range(1, end), key_end=b":", values=YAML_VALUES)
        else:
            text = data.draw(corruptions(text))
        idea.write_bytes(text)
        check_call(repo, list(args))


@PROFILE
@given(data=st.data(), args=st.sampled_from(READERS))
def test_a_corrupted_pyproject(fuzz_template: Path, data: st.DataObject, args) -> None:
    with sandbox(fuzz_template) as repo:
        path = repo / "pyproject.toml"
        text = path.read_bytes()
        if data.draw(st.booleans()):  # a wrong value for one [tool.harness] key
            lines = text.split(b"\n")
            start = lines.index(b"[tool.harness]")
            keyed = [n for n in range(start, len(lines)) if b" = " in lines[n]]
            text = one_value_wrong(data, text, keyed, key_end=b" =", values=TOML_VALUES)
        else:
            text = data.draw(corruptions(text))
        path.write_bytes(text)
        if data.draw(st.booleans()):  # committed on main (read), or only in the root copy
            git(
                repo,
                "commit",
                "-q",
                "--no-verify",
                "--allow-empty",
                "-m",
                "c",
                "--",
                "pyproject.toml",
            )
        check_call(repo, list(args))


@PROFILE
@given(
    output=st.binary(max_size=300),
    summary=st.sampled_from([b"", b"\n---\nval_bpb: 1.25\n", b"\n---\nval_bpb: \xff\n"]),
    metrics_file=st.one_of(st.none(), st.binary(max_size=60)),
)
def test_random_bytes_from_the_evaluation(
    fuzz_template: Path, output: bytes, summary: bytes, metrics_file: bytes | None
) -> None:
    script = (
        f"import os, sys; sys.stdout.buffer.write({output + summary!r}); "
        f"sys.stderr.buffer.write({output[::-1]!r}); m = {metrics_file!r}\n"
        "if m is not None: open(os.environ['HARNESS_METRICS_FILE'], 'wb').write(m)"
    )
    with sandbox(fuzz_template) as repo:
        before = (repo / "results.tsv").read_bytes().count(b"\n")
        command = ["eval", "--allow-dirty", "--", "python", "-c", script]  # the sandbox's files
        code, _, _ = check_call(repo, command)
        assert code in (0, 1)
        assert (repo / "results.tsv").read_bytes().count(b"\n") == before + 1  # one row
