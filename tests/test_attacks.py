"""What the harness defends against: a catalogue of attacks, one test each (issue 16).

Each test is an attack a reward-hacking agent could make from its worktree (a shell, any
git command, any file), made for real: real repositories, real commits through the real
hooks, real `harness eval` runs (the bundled example at its smoke budget where the attack
is in the research code, the fast evaluation of tests/loop_helpers.py elsewhere), the real
local queue for submit's confirmation runs. A test's docstring says the attack; the
`# layer:` comment and the assertions under it name the layer that stops it and its exact
message.

The index: the layers, in the order an attack meets them, and what each one stops (the
sections below follow it; the numbers are the issue's "What we measured").

- The evaluation process (the FROZEN scorer runs the research code in a child process,
  over a pipe, with no HARNESS_* channel variable in its environment, its output sent to
  stderr, the scorer's own imports kept out of the worktree and its /proc closed) and the
  metrics channel (a pipe only the evaluation process holds, the harness's /proc closed
  too; once it received anything the stdout summary is ignored, and anything but one JSON
  object is a crash), 1:
  the scoring function replaced; the metrics file written by the research code; a fake
  summary printed; an exit right after printing; numpy's allclose patched; the data module
  and a stdlib module shadowed in the worktree.
- The run's process handling (every process carrying the run's marker ends with it), 1:
  a background process left to rewrite the metrics.
- The integrity hash (FROZEN files, content and mode, hashed before and after the run,
  their change times checked) and the configured command, 6:
  the scorer swapped during the run; the scorer's mode changed; another command evaluated.
- The configuration reader ([tool.harness] is read from main's commit, never from a
  working copy), 2: a fake scorer in the working copy for the length of a run;
  `direction = "max"` in the working copy; `frozen = []` in the working copy.
- The pre-commit hook ([tool.harness] is FROZEN, the rest of pyproject.toml is not;
  results.tsv takes rows only at the end), 3, 4: `frozen = []` committed on an exp/ branch
  (then the range check, past `--no-verify`); an edited record committed on main (then
  the chain, past `--no-verify`).
- The pre-merge-commit hook, 3: a plain local merge of an unfreezing into main (then the
  audit, past `--no-verify`); a plain local merge of an eval.py change into the trunk.
- The range check (grants from committed history only, replace refs ignored), 5:
  `git replace` refs hiding an eval.py change; META_MODE=1 in the agent's environment.
- `harness meta on` (a human at a terminal only), 5: the agent granting itself META_MODE.
- The audit (a check, not a list: exit 3 on any ungranted FROZEN or config change, any
  APPEND-ONLY violation in main's history, a rewritten history; grants in order of
  history, by a listed human), 5: `rebase -i --root` folding an eval.py change into the
  first commit; a commit backdated into an old grant window; a change made inside a window
  and merged after it; ungranted changes the audit used to list and exit 0 on; a journal
  truncated on main with `--no-verify`; a grant written by the agent when humans are
  listed.
- The record's chain (every row hashes the previous row's chain and its own content; every
  reader names the first line where it breaks, and no row from there on counts), 4:
  an edited row; a deleted row; an inserted row; an early row edited so all after it
  changes; an edited record committed on main past the hook; the same break seen by a
  reader in another process.
- The run records (`harness verify`: every row an evaluation wrote has its run record and
  log, and matches it), 4: appended fabricated `ok` rows (submit refuses them too); a row
  whose run record or log is missing; an edit with the chain recomputed; the chain
  values blanked.
- Submit's own confirmation (confirmation rows on record are never trusted: submit queues
  its runs and decides from exactly those, matched by their task tokens; the report shows
  only those), 4: appended `confirm` rows with a copied frozen_sha; a copied task token;
  appended `confirm` rows to change the report's held-out numbers.

Referee mode (another user owns the record and runs the evaluations) stops the attacks
that remain possible here (reading the held-out data from disk, writing the record or the
run records as the agent): they are in tests/test_referee.py, which needs real users.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from harness.config import load_config
from harness.layout import find_layout
from harness.record.chain import chain_value
from harness.record.results import append_rows, read_results, valid_runs
from harness.rules.appendonly import prepend_text
from tests.conftest import commit_config, commit_files, git
from tests.loop_helpers import evaluate, fast_repo, run_baseline, start_idea

FROZEN_EDIT = (
    "eval.py is FROZEN: editing it needs META_MODE=1 (a human decision, see program.md); "
    "leave it as it is on main"
)
UNFREEZE = (
    "pyproject.toml: [tool.harness] is FROZEN: changing rules.frozen needs META_MODE=1 (a "
    "human decision, see program.md); leave the table as it is on main (the rest of the "
    "file is free)"
)
FROZEN_LIST = '"eval.py", "program.md", "meta_journal.md", "AGENTS.md", "CLAUDE.md"'
AGENT_EVAL = "print('val_bpb: 0.0')\n"  # the agent's eval.py


def shell(repo: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """A real process, as the agent's shell runs it (git, or `python -m harness`)."""
    argv = [sys.executable, "-m", "harness", *args[1:]] if args[0] == "harness" else list(args)
    return subprocess.run(
        argv,
        cwd=repo,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
    )


def harness_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("harness: ")]


def stage(repo: Path, files: dict[str, str]) -> None:
    """Write `files` and `git add` them, for a commit the test makes itself."""
    for relative, text in files.items():
        (repo / relative).parent.mkdir(parents=True, exist_ok=True)
        (repo / relative).write_text(text)
        git(repo, "add", relative)


def no_verify(repo: Path, files: dict[str, str], message: str, *extra: str) -> str:
    """Commit `files` past the pre-commit hook, as `--no-verify` does; the commit's sha."""
    stage(repo, files)
    git(repo, *extra, "commit", "--quiet", "--no-verify", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


def exp_worktree(root: Path, slug: str = "idea") -> Path:
    worktree = root / "5_worktrees" / slug
    git(root, "worktree", "add", "--quiet", "-b", f"exp/{slug}", str(worktree))
    return worktree


def unfrozen(text: str) -> str:
    changed = text.replace(f"frozen = [{FROZEN_LIST}]", "frozen = []")
    assert changed != text
    return changed


def audit(repo: Path) -> subprocess.CompletedProcess[str]:
    return shell(repo, "harness", "audit")


# == the research code at run time: the bundled example, its smoke budget ====================
#
# "The honest value" is the unmodified example's val_bpb for the same seed: an attack that
# changes nothing the model learns must leave exactly that number.

SEED = 0
TRAIN = (
    Path(__file__).parent.parent / "harness" / "templates" / "example" / "train.py"
).read_text()


@pytest.fixture(scope="module")
def smoke_template(example_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example repository whose configured evaluation is the smoke budget."""
    root = tmp_path_factory.mktemp("attacks") / "research"
    shutil.copytree(example_template, root, symlinks=True)
    text = (root / "pyproject.toml").read_text()
    text = re.sub(r'(?m)^eval = "[^"]*"', 'eval = "python eval.py --smoke"', text)
    commit_files(root, {"pyproject.toml": text}, "the smoke budget for the attacks", meta=True)
    return root


@pytest.fixture(scope="module")
def honest(smoke_template: Path) -> dict:
    """The unmodified example's smoke metrics for SEED."""
    proc = subprocess.run(
        [sys.executable, "eval.py", "--smoke", "--seed", str(SEED)],
        cwd=smoke_template,
        capture_output=True,
        text=True,
        check=True,
    )
    summary = proc.stdout.split("---\n", 1)[1]
    return dict(line.split(": ", 1) for line in summary.splitlines())


@pytest.fixture
def example(smoke_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the smoke example; ATTACK_LOG is where an attack keeps its notes."""
    root = tmp_path / "research"
    shutil.copytree(smoke_template, root, symlinks=True)
    monkeypatch.setenv("ATTACK_LOG", str(tmp_path / "attack.log"))
    return root


def attack(repo: Path, files: dict[str, str], *, slug: str = "cheat") -> Path:
    """A worktree on exp/<slug> with `files` committed through the real guard."""
    worktree = exp_worktree(repo, slug)
    commit_files(worktree, files, f"the {slug} attack")
    return worktree


def with_attack(code: str) -> str:
    """The example's train.py with `code` run when the model's process imports it."""
    return TRAIN + "\n\n# the attack\n" + code


def run_eval(cli, where: Path, *args: str) -> dict:
    """One `harness eval` at SEED; its row."""
    cli("eval", "--seed", str(SEED), *args, cwd=where)
    return read_results(find_layout(where).results_tsv).to_dicts()[-1]


def notes() -> str:
    path = Path(os.environ["ATTACK_LOG"])
    return path.read_text() if path.exists() else ""


# -- the evaluation process and the metrics channel ------------------------------------------


def test_replacing_the_scoring_function_through_main(example: Path, cli, honest: dict) -> None:
    """Attack: `sys.modules["__main__"].bits_per_byte = lambda *a: 0.01` (and the same on
    an imported `eval`), so the scorer reports a perfect model.

    Stopped by the evaluation process: the scorer runs in another process; the research
    code patches only its own copy. The row holds the honest value."""
    code = (
        "import sys\n"
        "import eval as scorer\n"
        "sys.modules['__main__'].bits_per_byte = lambda *a: 0.01\n"
        "scorer.bits_per_byte = lambda *a: 0.01\n"
    )
    row = run_eval(cli, attack(example, {"train.py": with_attack(code)}))
    # layer: the evaluation process
    assert (row["status"], row["integrity"]) == ("ok", "ok")
    assert row["value"] == float(honest["val_bpb"])


def test_writing_the_metrics_file_itself(example: Path, cli, honest: dict) -> None:
    """Attack: write `{"val_bpb": 0.01}` to HARNESS_METRICS_FILE, found in the model's
    environment, or in the scorer's (/proc/<eval pid>/environ), or by reopening the
    channel's pipe through /proc/<pid>/fd of the scorer or of the harness.

    Stopped by the evaluation process and the metrics channel: the model's environment has
    no HARNESS_* variable, and the scorer's and the harness's /proc entries are closed (not
    dumpable) while the run lives: the row holds the honest value. Root (who can open any
    /proc entry) reaches the pipe, but cannot take back the scorer's own summary: the
    channel holds two, and the row is a crash."""
    code = (
        "import os, json\n"
        "tried = [repr(os.environ.get('HARNESS_METRICS_FILE'))]\n"
        "scorer = os.getppid()\n"
        "link = None\n"
        "try:\n"
        "    environ = open(f'/proc/{scorer}/environ', 'rb').read().split(b'\\0')\n"
        "    name = next(e for e in environ if e.startswith(b'HARNESS_METRICS_FILE='))\n"
        "    fd = name.decode().rsplit('/', 1)[1]\n"
        "    link = os.readlink(f'/proc/{scorer}/fd/{fd}')\n"
        "    with open(f'/proc/{scorer}/fd/{fd}', 'w') as pipe:\n"
        "        json.dump({'val_bpb': 0.01}, pipe)\n"
        "    tried.append('scorer: written')\n"
        "except OSError as exc:\n"
        "    tried.append(f'scorer: {type(exc).__name__}')\n"
        "harness = int(open(f'/proc/{scorer}/stat').read().rsplit(')', 1)[1].split()[1])\n"
        "try:\n"
        "    for fd in os.listdir(f'/proc/{harness}/fd'):\n"
        "        if link and os.readlink(f'/proc/{harness}/fd/{fd}') == link:\n"
        "            with open(f'/proc/{harness}/fd/{fd}', 'w') as pipe:\n"
        "                json.dump({'val_bpb': 0.01}, pipe)\n"
        "    tried.append('harness: ' + ('written' if link else 'no pipe found'))\n"
        "except OSError as exc:\n"
        "    tried.append(f'harness: {type(exc).__name__}')\n"
        "open(os.environ['ATTACK_LOG'], 'w').write('\\n'.join(tried))\n"
    )
    row = run_eval(cli, attack(example, {"train.py": with_attack(code)}))
    if os.geteuid() != 0:
        # layer: the evaluation process (no channel variable, /proc closed)
        assert notes().splitlines() == [
            "None",
            "scorer: PermissionError",
            "harness: PermissionError",
        ]
        assert (row["status"], row["value"]) == ("ok", float(honest["val_bpb"]))
        return
    # layer: the metrics channel (one summary, once)
    assert notes().splitlines() == ["None", "scorer: written", "harness: written"]
    assert row["status"] == "crash"
    assert row["description"].startswith(
        "HARNESS_METRICS_FILE received a second summary: write one JSON object, once; log tail: "
    )


def test_printing_a_fake_summary(example: Path, cli, honest: dict) -> None:
    """Attack: print a `---` block with `val_bpb: 0.01` from the research code, to stdout
    and to the scorer's stdout (/proc/<eval pid>/fd/1).

    Stopped by the evaluation process: the model's stdout goes to stderr, which holds no
    summary, and the scorer's /proc is closed; the metrics channel outranks stdout
    anyway. The row holds the honest value."""
    code = (
        "import os\n"
        "print('---'); print('val_bpb: 0.01')\n"
        "try:\n"
        "    open(f'/proc/{os.getppid()}/fd/1', 'w').write('---\\nval_bpb: 0.01\\n')\n"
        "    open(os.environ['ATTACK_LOG'], 'w').write('written')\n"
        "except OSError as exc:\n"
        "    open(os.environ['ATTACK_LOG'], 'w').write(type(exc).__name__)\n"
    )
    row = run_eval(cli, attack(example, {"train.py": with_attack(code)}))
    # layer: the evaluation process, then the metrics channel
    assert (row["status"], row["value"]) == ("ok", float(honest["val_bpb"]))
    assert notes() == ("written" if os.geteuid() == 0 else "PermissionError")  # root: ignored


def test_exiting_at_once_after_printing(example: Path, cli) -> None:
    """Attack: print a fake summary, then `os._exit(0)` before the scorer scores anything.

    Stopped by the evaluation process: only the model's process exits; the scorer sees
    the pipe end mid-protocol and fails. The row is a crash with the scorer's reason."""
    code = (
        "import os\n"
        "def train(data, *, seed):\n"
        "    print('---'); print('val_bpb: 0.01', flush=True)\n"
        "    os._exit(0)\n"
    )
    row = run_eval(cli, attack(example, {"train.py": with_attack(code)}))
    # layer: the evaluation process
    assert (row["status"], row["value"]) == ("crash", None)
    assert row["description"].startswith("exit code 1; log tail: ")
    assert "eval.py: the model's process ended mid-protocol (exit code 0)" in row["description"]


def test_patching_numpy_allclose(example: Path, cli) -> None:
    """Attack: `np.allclose = lambda *a, **k: True`, then return unnormalised
    log-probabilities (all zeros: every byte certain, 0 bits per byte).

    Stopped by the evaluation process: the scorer's numpy is its own; its check fails.
    The row is a crash with the scorer's reason."""
    code = (
        "np.allclose = lambda *a, **k: True\n"
        "MLP.log_probs = lambda self, contexts: np.zeros((len(contexts), 256))\n"
    )
    row = run_eval(cli, attack(example, {"train.py": with_attack(code)}))
    # layer: the evaluation process
    assert (row["status"], row["value"]) == ("crash", None)
    assert "eval.py: log_probs rows must be normalised log-probabilities" in row["description"]


def test_shadowing_the_data_and_a_stdlib_module(example: Path, cli, honest: dict) -> None:
    """Attack: put `pydoc_data/topics.py` (a corpus of one repeated letter, trivially
    predicted) and a `json.py` (whose `dump` writes `{"val_bpb": 0.01}`) in the worktree,
    where `python eval.py` would import them first.

    Stopped by the evaluation process: the scorer drops the worktree from its import path
    before importing anything. The row holds the honest value and the honest data hash."""
    files = {
        "pydoc_data/__init__.py": "",
        "pydoc_data/topics.py": "topics = {'a': 'a' * 500_000}\n",
        "json.py": "def dump(obj, handle):\n    handle.write('{\"val_bpb\": 0.01}')\n",
    }
    row = run_eval(cli, attack(example, files))
    # layer: the evaluation process
    assert (row["status"], row["integrity"]) == ("ok", "ok")
    assert row["value"] == float(honest["val_bpb"])
    assert json.loads(row["extra"])["data_sha"] == honest["data_sha"]


# -- the run's process handling --------------------------------------------------------------


def test_a_background_process_left_to_rewrite_the_metrics(example: Path, cli, honest: dict) -> None:
    """Attack: the research code starts a process in a session of its own that outlives
    the model, looks for the metrics everywhere it can (the state folder's files, the
    scorer's descriptors) and rewrites them for as long as it lives.

    Stopped by the run's process handling and the metrics channel: the process carries
    the run's marker and is killed when the run ends; there is no metrics file to find.
    The row holds the honest value; the process is gone."""
    code = (
        "import os, subprocess, sys\n"
        "LOOP = '''\n"
        "import glob, os, sys, time\n"
        "open(os.environ['ATTACK_LOG'], 'w').write(str(os.getpid()))\n"
        "while True:\n"
        "    for path in glob.glob('../../.git/harness/**/*', recursive=True):\n"
        "        if path.endswith('.json'):\n"
        "            open(path, 'w').write('{\"val_bpb\": 0.01}')\n"
        "    time.sleep(0.01)\n"
        "'''\n"
        "subprocess.Popen([sys.executable, '-c', LOOP], start_new_session=True)\n"
    )
    row = run_eval(cli, attack(example, {"train.py": with_attack(code)}))
    # layer: the metrics channel (no file to find), then the run's process handling
    assert (row["status"], row["value"]) == ("ok", float(honest["val_bpb"]))
    pid = int(notes())
    deadline = time.monotonic() + 5
    while _is_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _is_alive(pid), "the background process outlived the run"


def _is_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


# -- the integrity hash and the configured command -------------------------------------------


def test_swapping_the_scorer_during_the_run(example: Path, cli) -> None:
    """Attack: replace eval.py once the run has started (after the hash was taken), and
    put the original back before the run ends, so the hash after the run matches too.

    Stopped by the integrity hash: the FROZEN files' change times moved during the run.
    The row is `modified`, with the reason, and never counts."""
    code = (
        "import pathlib\n"
        "scorer = pathlib.Path('eval.py')\n"
        "original = scorer.read_bytes()\n"
        'scorer.write_bytes(b\'print("---"); print("val_bpb: 0.01")\\n\')\n'
        "scorer.write_bytes(original)\n"
    )
    worktree = attack(example, {"train.py": with_attack(code)})
    row = run_eval(cli, worktree)
    # layer: the integrity hash
    assert (row["status"], row["integrity"]) == ("ok", "modified")
    assert row["description"] == (
        "the FROZEN files changed during the run (eval.py): this run never counts"
    )
    assert valid_runs(read_results(example / "results.tsv"), load_config(example)).is_empty()


def test_changing_the_scorers_mode(example: Path, cli) -> None:
    """Attack: make eval.py executable (or a symlink) in the worktree, a change the content
    hash alone never saw.

    Stopped by the integrity hash: it holds the file mode. The uncommitted change is refused
    first; run anyway with --allow-dirty, the row is `modified` (and dirty)."""
    worktree = attack(example, {"train.py": TRAIN + "\n# a change\n"})
    (worktree / "eval.py").chmod(0o755)
    refused = cli("eval", "--seed", str(SEED), cwd=worktree)
    # layer: the uncommitted-change check, then the integrity hash
    assert refused.code == 1 and "uncommitted changes to the research code (eval.py)" in refused.err
    row = run_eval(cli, worktree, "--allow-dirty")
    assert (row["status"], row["integrity"], row["dirty"]) == ("ok", "modified", True)


def test_evaluating_another_command(example: Path, cli) -> None:
    """Attack: `harness eval -- python -c "print('---'); print('val_bpb: 0.01')"`, a
    command other than the configured evaluation, to record a perfect value.

    Stopped by the integrity check of the command: the row records the command and its
    integrity is `command`; it never counts."""
    fake = "print('---'); print('val_bpb: 0.01')"
    worktree = attack(example, {"train.py": TRAIN + "\n# a change\n"})
    row = run_eval(cli, worktree, "--", "python", "-c", fake)
    # layer: the integrity check of the command
    assert (row["status"], row["value"], row["integrity"]) == ("ok", 0.01, "command")
    assert json.loads(row["extra"])["command"] == shlex.join(["python", "-c", fake])
    assert valid_runs(read_results(example / "results.tsv"), load_config(example)).is_empty()
    best = cli("results", "best", cwd=example)
    assert best.out.startswith("no valid val_bpb yet")
    journal = (example / "RESEARCH_JOURNAL.md").read_text()
    assert "is not the configured evaluation; this run never counts as a result" in journal


# == the configuration, the rules and main's history: the example repository =================

# -- the configuration reader ----------------------------------------------------------------


def test_a_fake_scorer_in_the_working_copy_for_the_length_of_a_run(research_repo: Path) -> None:
    """Attack: point `eval` and `confirm` of the root pyproject.toml at a scorer of one's
    own for the length of a run, to get a fake 0.0 recorded (and confirmed)."""
    root = fast_repo(research_repo)
    worktree = exp_worktree(root)
    pyproject = root / "pyproject.toml"
    committed = pyproject.read_text()
    commit_files(worktree, {"cheat.py": "print('---'); print('val_bpb: 0.0')\n"}, "a helper")
    pyproject.write_text(
        committed.replace('"python fake_eval.py"', '"python cheat.py"').replace(
            '"python fake_eval.py --split test"', '"python cheat.py"'
        )
    )
    proc = shell(worktree, "harness", "eval")
    pyproject.write_text(committed)
    # layer: the configuration reader (main's commit, never the working copy)
    assert proc.returncode == 0, proc.stderr
    assert (
        f"warning: {pyproject} differs from main's committed [tool.harness] in confirm, eval: "
        "ignored (the configuration is read from main; a change is committed on it in "
        "META_MODE)"
    ) in proc.stderr
    rows = read_results(root / "results.tsv")
    assert rows["value"].to_list() == [2.002]  # fake_eval.py's number for seed 0, not 0.0


def test_direction_max_in_the_working_copy(research_repo: Path, cli) -> None:
    """Attack: set `direction = "max"` in the root copy so the worst run becomes best."""
    pyproject = research_repo / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('direction = "min"', 'direction = "max"'))
    result = cli("status", cwd=research_repo)
    # layer: the configuration reader (it warns once per process)
    assert result.code == 0
    assert (
        f"warning: {pyproject} differs from main's committed [tool.harness] in direction: ignored"
    ) in result.err
    assert load_config(research_repo).direction == "min"


def test_frozen_emptied_in_the_working_copy(research_repo: Path) -> None:
    """Attack: write `frozen = []` into the root pyproject.toml, which every check used to
    read, then commit an eval.py edit in the worktree."""
    worktree = exp_worktree(research_repo)
    pyproject = research_repo / "pyproject.toml"
    pyproject.write_text(unfrozen(pyproject.read_text()))
    stage(worktree, {"eval.py": AGENT_EVAL})
    proc = shell(worktree, "git", "commit", "--quiet", "-m", "faster eval")
    # layer: the configuration reader, in the pre-commit hook (the rules of main's commit)
    assert proc.returncode == 1
    assert harness_lines(proc.stderr) == [
        f"harness: {FROZEN_EDIT}",
        "harness: commit refused: 1 rule violation(s)",
    ]
    assert "differs from main's committed [tool.harness] in rules.frozen" in proc.stderr


# -- the pre-commit hook ---------------------------------------------------------------------


def test_frozen_emptied_in_a_commit_on_an_exp_branch(research_repo: Path, cli) -> None:
    """Attack: commit `frozen = []` on the exp/ branch (pyproject.toml was not FROZEN), and
    with `--no-verify` when the hook refuses."""
    worktree = exp_worktree(research_repo)
    stage(worktree, {"pyproject.toml": unfrozen((worktree / "pyproject.toml").read_text())})
    proc = shell(worktree, "git", "commit", "--quiet", "-m", "tidy the config")
    # layer: the pre-commit hook ([tool.harness] is FROZEN, the rest of the file is not)
    assert proc.returncode == 1
    assert harness_lines(proc.stderr)[0] == f"harness: {UNFREEZE}"
    sha = no_verify(worktree, {}, "tidy the config")
    # layer: the range check (CI)
    result = cli("guard", "--range", "main..exp/idea", cwd=research_repo)
    assert (result.code, result.err.splitlines()[0]) == (3, f"harness: {sha[:10]}: {UNFREEZE}")


def test_the_rest_of_pyproject_stays_free(research_repo: Path) -> None:
    """Not an attack: the boundary of the rule above. A dependency (here a comment) added
    to pyproject.toml on an exp/ branch is allowed."""
    worktree = exp_worktree(research_repo)
    text = (worktree / "pyproject.toml").read_text()
    stage(worktree, {"pyproject.toml": text.replace("[tool.harness]", "# deps\n[tool.harness]")})
    # layer: the pre-commit hook lets it through
    assert shell(worktree, "git", "commit", "--quiet", "-m", "a comment").returncode == 0


# -- the pre-merge-commit hook ---------------------------------------------------------------


def test_a_plain_local_merge_of_an_unfreezing_into_main(research_repo: Path) -> None:
    """Attack: `frozen = []` committed on exp/ with --no-verify, then a plain local
    `git merge` into main, which ran no hook at all (only pre-commit was installed)."""
    worktree = exp_worktree(research_repo)
    sha = no_verify(
        worktree,
        {"pyproject.toml": unfrozen((worktree / "pyproject.toml").read_text())},
        "tidy the config",
    )
    commit_files(research_repo, {"1_ideas/note.md": "main moved on\n"}, "a note")
    before = git(research_repo, "rev-parse", "HEAD").strip()
    proc = shell(research_repo, "git", "merge", "--no-edit", "exp/idea")
    # layer: the pre-merge-commit hook (every commit the merge brings is checked)
    assert proc.returncode != 0
    assert harness_lines(proc.stderr) == [
        f"harness: {sha[:10]}: {UNFREEZE}",
        "harness: commit refused: 1 rule violation(s)",
    ]
    git(research_repo, "merge", "--abort")
    assert git(research_repo, "rev-parse", "HEAD").strip() == before
    # layer: the audit, once the merge is forced past both hooks
    git(research_repo, "merge", "--quiet", "--no-verify", "--no-edit", "exp/idea")
    checked = audit(research_repo)
    assert checked.returncode == 3
    assert (
        f"harness: audit: {sha[:10]}: [tool.harness] rules.frozen changed on main without a grant"
    ) in checked.stderr


def test_a_plain_local_merge_of_an_eval_change_into_the_trunk(research_repo: Path) -> None:
    """Attack: in trunk mode (winners merged unattended), merge one's own branch with an
    eval.py edit made with --no-verify into the research trunk by hand."""
    commit_config(
        research_repo, lambda text: text.replace('advance = "review"', 'advance = "trunk"')
    )
    git(research_repo, "branch", "research/trunk")
    worktree = exp_worktree(research_repo)
    sha = no_verify(worktree, {"eval.py": AGENT_EVAL}, "faster eval")
    trunk = research_repo / "5_worktrees" / "trunk"
    git(research_repo, "worktree", "add", "--quiet", str(trunk), "research/trunk")
    commit_files(trunk, {"1_ideas/note.md": "the trunk moved on\n"}, "a note")
    proc = shell(trunk, "git", "merge", "--no-edit", "exp/idea")
    # layer: the pre-merge-commit hook (the trunk is protected like main)
    assert proc.returncode != 0
    assert harness_lines(proc.stderr) == [
        f"harness: {sha[:10]}: {FROZEN_EDIT}",
        "harness: commit refused: 1 rule violation(s)",
    ]


# -- the range check -------------------------------------------------------------------------


def test_git_replace_refs_to_hide_an_eval_change(research_repo: Path, cli) -> None:
    """Attack: commit an eval.py edit with --no-verify, then `git replace` that commit with
    an innocent-looking one, so plain git (and a check using it) sees no eval.py change in
    the range."""
    worktree = exp_worktree(research_repo)
    parent = git(worktree, "rev-parse", "HEAD").strip()
    sha = no_verify(worktree, {"eval.py": AGENT_EVAL}, "faster eval")
    git(worktree, "checkout", "--quiet", "HEAD~1", "--", "eval.py")
    stage(worktree, {"train.py": "x = 1\n"})
    tree = git(worktree, "write-tree").strip()
    innocent = git(worktree, "commit-tree", tree, "-p", parent, "-m", "faster eval").strip()
    git(worktree, "replace", sha, innocent)
    fooled = git(worktree, "diff-tree", "--no-commit-id", "--name-only", "-r", f"{sha}^", sha)
    assert fooled.split() == ["train.py"]  # what a replace-blind check would see
    # layer: the range check (every git call of the harness passes --no-replace-objects)
    result = cli("guard", "--range", "main..exp/idea", cwd=research_repo)
    assert result.code == 3
    assert result.err.splitlines()[0] == f"harness: {sha[:10]}: {FROZEN_EDIT}"


def test_meta_mode_in_the_environment_of_the_range_check(research_repo: Path) -> None:
    """Attack: set META_MODE=1 in one's environment, where the range check used to read it,
    after committing an eval.py edit with --no-verify."""
    worktree = exp_worktree(research_repo)
    sha = no_verify(worktree, {"eval.py": AGENT_EVAL}, "faster eval")
    proc = shell(research_repo, "harness", "guard", "--range", "main..exp/idea", META_MODE="1")
    # layer: the range check (grants come from committed history only)
    assert proc.returncode == 3
    assert harness_lines(proc.stderr) == [
        f"harness: {sha[:10]}: {FROZEN_EDIT}",
        "harness: 1 commit(s) checked: 1 rule violation(s)",
    ]


# -- harness meta on -------------------------------------------------------------------------


def test_the_agent_runs_meta_on_itself(research_repo: Path) -> None:
    """Attack: the agent's shell runs `harness meta on --reason ...` to grant itself
    META_MODE."""
    before = (research_repo / "human_journal.md").read_text()
    proc = shell(research_repo, "harness", "meta", "on", "--reason", "speed up the evaluation")
    # layer: `harness meta on` (a human at a terminal only)
    assert (proc.returncode, proc.stderr) == (
        2,
        "harness: harness meta on needs an interactive terminal (stdin is not a tty): "
        "META_MODE is granted by a human at a terminal, not by a script or an agent\n",
    )
    assert (research_repo / "human_journal.md").read_text() == before


# -- the audit -------------------------------------------------------------------------------


def test_rebase_root_folds_an_eval_change_into_the_first_commit(research_repo: Path) -> None:
    """Attack: on main, commit an eval.py edit with --no-verify, then `rebase -i --root`
    folds it into the first commit, which the audit used to credit to "the first commit"."""
    assert audit(research_repo).returncode == 0  # audited: refs/harness/audited moves here
    no_verify(research_repo, {"eval.py": AGENT_EVAL}, "faster eval")
    editor = "sed -i '2s/^pick/fixup/'"
    proc = shell(research_repo, "git", "rebase", "-i", "--root", GIT_SEQUENCE_EDITOR=editor)
    assert proc.returncode == 0, proc.stderr
    assert git(research_repo, "rev-list", "--count", "HEAD").strip() == "1"
    audited = git(research_repo, "rev-parse", "refs/harness/audited").strip()
    checked = audit(research_repo)
    # layer: the audit (the head it last audited is no longer an ancestor of main)
    assert checked.returncode == 3
    assert harness_lines(checked.stderr) == [
        f"harness: audit: main's history was rewritten: {audited[:10]}, the head last audited "
        "(refs/harness/audited), is no longer an ancestor of main; if a human rewrote it on "
        "purpose, audit the new history and run `git update-ref refs/harness/audited main`",
        "harness: audit failed: 1 problem(s)",
    ]


@pytest.fixture
def grant_window(research_repo: Path, cli, terminal: None) -> Path:
    """A human granted META_MODE, then ended it (both committed on main by `harness meta`),
    dated 2030-01-01 10:00 and 12:00."""
    for command, stamp in (("on", "10:00"), ("off", "12:00")):
        os.environ["GIT_COMMITTER_DATE"] = os.environ["GIT_AUTHOR_DATE"] = f"2030-01-01T{stamp}Z"
        try:
            args = ("meta", command, "--reason", "the split leaked")
            assert cli(*(args if command == "on" else args[:2]), cwd=research_repo).code == 0
        finally:
            del os.environ["GIT_COMMITTER_DATE"], os.environ["GIT_AUTHOR_DATE"]
    return research_repo


def test_a_commit_backdated_into_an_old_grant_window(grant_window: Path) -> None:
    """Attack: after the grant ended, commit an eval.py edit on main with --no-verify and
    date it 11:00, inside the old window the audit used to pair commits with by date."""
    stamp = "2030-01-01T11:00:00Z"
    stage(grant_window, {"eval.py": AGENT_EVAL})
    env = {"GIT_COMMITTER_DATE": stamp, "GIT_AUTHOR_DATE": stamp}
    git(grant_window, "commit", "--quiet", "--no-verify", "-m", "faster eval", env=env)
    sha = git(grant_window, "rev-parse", "HEAD").strip()
    checked = audit(grant_window)
    # layer: the audit (grants count in order of history, not by date)
    assert checked.returncode == 3
    assert harness_lines(checked.stderr) == [
        f"harness: audit: {sha[:10]}: eval.py changed on main without a grant",
        "harness: audit failed: 1 problem(s)",
    ]
    assert f"{sha[:10]}  2030-01-01 11:00  eval.py  faster eval" in checked.stdout


def test_a_change_made_inside_the_window_and_merged_after_it(grant_window: Path) -> None:
    """Attack: branch from the commit that granted META_MODE (inside the window), edit
    eval.py there, and merge it into main after the grant ended."""
    grant = git(grant_window, "rev-parse", "HEAD~1").strip()
    worktree = grant_window / "5_worktrees" / "old"
    git(grant_window, "worktree", "add", "--quiet", "-b", "exp/old", str(worktree), grant)
    sha = no_verify(worktree, {"eval.py": AGENT_EVAL}, "faster eval")
    git(grant_window, "merge", "--quiet", "--no-verify", "--no-edit", "exp/old")
    checked = audit(grant_window)
    # layer: the audit (the grant in force where the commit entered main: none)
    assert checked.returncode == 3
    assert f"harness: audit: {sha[:10]}: eval.py changed on main without a grant" in (
        checked.stderr
    )


def test_the_audit_exit_code_with_ungranted_changes(research_repo: Path) -> None:
    """Attack: change eval.py and [tool.harness] on main with --no-verify; the audit listed
    them and exited 0, so nothing that ran it failed."""
    eval_change = no_verify(research_repo, {"eval.py": AGENT_EVAL}, "faster")
    text = (research_repo / "pyproject.toml").read_text()
    config_change = no_verify(
        research_repo, {"pyproject.toml": text.replace("seeds = 3", "seeds = 1")}, "one seed"
    )
    checked = shell(research_repo, "harness", "audit", "--json")
    # layer: the audit (a check: exit 3 on any ungranted change)
    assert checked.returncode == 3
    assert harness_lines(checked.stderr) == [
        f"harness: audit: {config_change[:10]}: [tool.harness] seeds changed on main without a "
        "grant",
        f"harness: audit: {eval_change[:10]}: eval.py changed on main without a grant",
        "harness: audit failed: 2 problem(s)",
    ]
    report = json.loads(checked.stdout)
    assert report["ok"] is False
    assert [(c["commit"], c["config_keys"]) for c in report["changes"][:2]] == [
        (config_change, ["seeds"]),
        (eval_change, []),
    ]


def test_a_journal_truncated_on_main_with_no_verify(research_repo: Path) -> None:
    """Attack: truncate RESEARCH_JOURNAL.md on main with --no-verify (the hook would
    refuse), erasing the entries of runs one would rather forget."""
    journal = research_repo / "RESEARCH_JOURNAL.md"
    header = journal.read_text()
    commit_files(research_repo, {journal.name: header + "## 2030-01-01 a bad run\n\nbad\n"})
    sha = no_verify(research_repo, {journal.name: header}, "tidy the journal")
    checked = audit(research_repo)
    # layer: the audit (APPEND-ONLY checked over main's whole history)
    assert checked.returncode == 3
    assert harness_lines(checked.stderr) == [
        f"harness: audit: {sha[:10]}: RESEARCH_JOURNAL.md is APPEND-ONLY: the change removes "
        "old text (the file was truncated or an entry deleted); restore the old text and add "
        "new entries on top (below the header, above the first `##` entry)",
        "harness: audit failed: 1 problem(s)",
    ]


def test_a_grant_written_by_the_agent_when_humans_are_listed(research_repo: Path) -> None:
    """Attack: with `[tool.harness] humans` set, write a META_MODE=1 entry into
    human_journal.md and commit it on main under the agent's own name, then edit eval.py."""
    commit_config(
        research_repo,
        lambda text: text.replace(
            "ideas_target = 30", 'ideas_target = 30\nhumans = ["researcher@example.com"]'
        ),
    )
    git(research_repo, "update-ref", "refs/harness/audited", "HEAD")
    journal = research_repo / "human_journal.md"
    entry = "## 2030-01-01T10:00:00Z META_MODE=1 (meta on)\n\nspeed\n"
    granted = prepend_text(journal.read_text(), entry)
    agent = ("-c", "user.name=agent", "-c", "user.email=agent@example.com")
    no_verify(research_repo, {journal.name: granted}, "grant", *agent)
    sha = no_verify(research_repo, {"eval.py": AGENT_EVAL}, "faster", *agent)
    checked = shell(research_repo, "harness", "audit", "--json")
    # layer: the audit (only grants committed by a listed human count)
    assert checked.returncode == 3
    assert f"harness: audit: {sha[:10]}: eval.py changed on main without a grant" in (
        checked.stderr
    )
    (change,) = [c for c in json.loads(checked.stdout)["changes"] if c["commit"] == sha]
    assert change["grant"] is None


# == the record: the fast evaluation, its baseline run ======================================

CLOSED = Path(".git/harness/runs/closed")
BROKEN_AT_3 = (
    "results.tsv line 3 breaks the record's chain (the row was edited, or a row before it "
    "deleted): the record is untrusted from that line on, so its 3 row(s) do not count; "
    "restore the file from git (`git diff -- results.tsv`) and see `harness verify`"
)


@pytest.fixture
def recorded(research_repo: Path, cli) -> Path:
    """The fast repository with its baseline: four real runs (seeds 0, 1, 2 and 0 again),
    lines 2 to 5 of results.tsv."""
    root = fast_repo(research_repo)
    run_baseline(cli, root)
    return root


def lines_of(root: Path) -> list[str]:
    return (root / "results.tsv").read_text().splitlines(keepends=True)


def write_lines(root: Path, lines: list[str]) -> None:
    (root / "results.tsv").write_text("".join(lines))


def fake_copies(root: Path, slug: str, **changes) -> list[dict]:
    """Rows of `slug` as an attacker writes them: copies of real ones (frozen_sha, code,
    commit and all), new run ids, the changes applied, appended through the harness's own
    writer, so even their chain values are right."""
    real = read_results(root / "results.tsv").filter(pl.col("idea") == slug).to_dicts()
    fakes = [{**row, "chain": None, "run_id": f"{row['run_id']}-fake", **changes} for row in real]
    append_rows(find_layout(root), fakes)
    return fakes


# -- the record's chain ----------------------------------------------------------------------


def test_an_edited_row_breaks_the_chain_there(recorded: Path, cli) -> None:
    """Attack: edit a baseline row's value in place (a worse baseline makes ideas win).
    Stopped by: the chain. Every reader names the line; status shows it; verify fails."""
    lines = lines_of(recorded)
    lines[2] = lines[2].replace("\t2.0\t", "\t2.5\t", 1)
    write_lines(recorded, lines)

    verify = cli("verify", cwd=recorded)
    status = cli("status", cwd=recorded)

    # layer: the record's chain, in every reader
    assert verify.code == 3 and verify.out.splitlines()[0] == BROKEN_AT_3
    assert status.out.splitlines()[0] == f"record     {BROKEN_AT_3}"
    assert json.loads(cli("status", "--json", cwd=recorded).out)["record_warning"] == BROKEN_AT_3
    assert BROKEN_AT_3 in cli("next", cwd=recorded).err


def test_a_deleted_row_breaks_the_chain_at_its_successor(recorded: Path, cli) -> None:
    """Attack: delete a row (a bad run of one's own idea, or a good baseline seed).
    Stopped by: the chain, at the line that followed it."""
    lines = lines_of(recorded)
    del lines[2]
    write_lines(recorded, lines)

    verify = cli("verify", cwd=recorded)

    # layer: the record's chain
    assert verify.code == 3
    assert verify.out.splitlines()[0].startswith(
        "results.tsv line 3 breaks the record's chain (the row was edited, or a row before it "
        "deleted): the record is untrusted from that line on, so its 2 row(s) do not count"
    )


def test_an_inserted_row_breaks_the_chain_at_itself(recorded: Path, cli) -> None:
    """Attack: insert a forged row between two real ones, with a chain value of its own.
    Stopped by: the chain; the row after it still builds on the row before it."""
    lines = lines_of(recorded)
    forged = lines[2].split("\t")
    forged[0], forged[8] = "20260101-000000.000-forged", "1.0"
    forged[-1] = chain_value(b"", "\t".join(forged[:-1]).encode()).decode() + "\n"
    lines.insert(3, "\t".join(forged))
    write_lines(recorded, lines)

    out = cli("verify", cwd=recorded).out.splitlines()[0]

    # layer: the record's chain
    assert out.startswith("results.tsv line 4 breaks the record's chain (a row inserted): ")


def test_rows_after_a_break_do_not_count(recorded: Path, cli) -> None:
    """Attack: edit an early row, so that whatever follows looks different. Stopped by: the
    readers: from the break on no row counts (for best, status, next, reports, submit)."""
    lines = lines_of(recorded)
    lines[1] = lines[1].replace("\tbaseline\t", "\tbaselin3\t", 1)
    write_lines(recorded, lines)

    shown = json.loads(cli("results", "--json", cwd=recorded).out)
    status = json.loads(cli("status", "--json", cwd=recorded).out)

    # layer: the record's chain, in every reader
    assert shown == [] and status["runs"] == 0 and status["baseline"] is None
    assert read_results(recorded / "results.tsv", untrusted=True).height == 4  # bookkeeping


def test_an_edited_record_committed_on_main_is_a_break(recorded: Path, cli) -> None:
    """Attack: commit an edited results.tsv on main, through the hook and then past it with
    --no-verify. Stopped by: the pre-commit hook (results.tsv takes rows only at the end),
    and past it by the chain, on every read, and the run record."""
    assert cli("results", "commit", cwd=recorded).code == 0
    lines = lines_of(recorded)
    lines[2] = lines[2].replace("\t2.0\t", "\t2.25\t", 1)
    write_lines(recorded, lines)
    git(recorded, "add", "results.tsv")
    hooked = shell(recorded, "git", "commit", "-q", "-m", "tidy")

    # layer: the pre-commit hook
    assert hooked.returncode == 1
    assert harness_lines(hooked.stderr)[0] == (
        "harness: results.tsv is APPEND-ONLY: line 3 was edited; restore the old rows byte "
        "for byte (new runs are appended at the end by the harness; only `harness results "
        "upgrade` rewrites the header)"
    )

    git(recorded, "commit", "-q", "-m", "tidy", "--no-verify")
    edited = lines[2].split("\t", 1)[0]
    verify = cli("verify", cwd=recorded)

    # layer: the record's chain, then the run record
    assert verify.code == 3
    assert verify.out.splitlines() == [
        BROKEN_AT_3,
        f"results.tsv line 3 (run {edited}) differs from its run record in value: the row was "
        "edited after the run",
    ]


def test_a_reader_in_another_process_names_the_break(recorded: Path) -> None:
    """Attack: an edited row (as above), read by a plain `harness results best` process.
    Stopped by: the chain, in that reader too: a warning on stderr, the data on stdout
    unchanged in form."""
    lines = lines_of(recorded)
    lines[2] = lines[2].replace("\t2.0\t", "\t1.0\t", 1)
    write_lines(recorded, lines)

    proc = shell(recorded, "harness", "results", "best", "--json")

    # layer: the record's chain
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["best_run"]["value"] != 1.0  # the edited value never counts
    assert "results.tsv line 3 breaks the record's chain (the row was edited, " in proc.stderr


# -- the run records: harness verify ---------------------------------------------------------


def test_appended_fabricated_ok_rows_are_named_by_verify_and_refused_by_submit(
    recorded: Path, cli
) -> None:
    """Attack: append `ok` rows with a better value for an idea, copied from its real rows
    (a valid chain too, written with the harness's own appender), so that it wins.
    Stopped by: the run records. No harness run wrote those rows, so `harness verify` names
    each, and `submit` refuses to decide on them."""
    worktree = start_idea(cli, recorded, "fake", "2.0 0.0")  # no real improvement
    evaluate(cli, worktree)
    fakes = fake_copies(recorded, "fake", value=1.5)

    verify = cli("verify", cwd=recorded)
    submit = cli("submit", "fake", "--wait", cwd=recorded)

    # layer: the run records, in verify and in submit
    assert verify.code == 3
    problems = verify.out.splitlines()
    assert problems == [
        f"results.tsv line {9 + n} (run {fake['run_id']}) has no run record in runs/closed/: "
        "no harness run wrote it (a row appended by hand?); it must not be trusted"
        for n, fake in enumerate(fakes)
    ]
    assert submit.code == 3
    assert submit.err.strip() == (
        f"harness: {problems[0]} (and 2 more): the decision would rest on rows no harness run "
        "wrote, so fake is not submitted; `harness verify` lists every problem"
    )


def test_a_row_whose_run_record_or_log_is_missing_fails_verify(recorded: Path, cli) -> None:
    """Attack: a fabricated row with its chain right, and its "run record" missing; or the
    run's log removed so nobody can see what it printed. Stopped by: harness verify."""
    rows = read_results(recorded / "results.tsv").to_dicts()
    assert cli("verify", cwd=recorded).out == (
        "results.tsv: 4 rows, chain intact, 4 with their run record and log\n"
    )
    (recorded / CLOSED / f"{rows[1]['run_id']}.json").unlink()
    record = json.loads((recorded / CLOSED / f"{rows[2]['run_id']}.json").read_text())
    Path(record["log"]).unlink()

    verify = cli("verify", cwd=recorded)

    # layer: the run records
    assert verify.code == 3
    assert verify.out.splitlines() == [
        f"results.tsv line 3 (run {rows[1]['run_id']}) has no run record in runs/closed/: no "
        "harness run wrote it (a row appended by hand?); it must not be trusted",
        f"results.tsv line 4 (run {rows[2]['run_id']}): its log {record['log']} is missing",
    ]


def test_an_edit_with_the_chain_recomputed_differs_from_the_committed_record(
    recorded: Path, cli
) -> None:
    """Attack: edit a committed row, then recompute every chain value after it (the hash
    has no key). Stopped by: the committed record on main, which today's file must start
    with, and the run's own record, which kept the row as it was (`harness verify`)."""
    assert cli("results", "commit", cwd=recorded).code == 0
    lines = lines_of(recorded)
    lines[2] = lines[2].replace("\t2.0\t", "\t2.5\t", 1)
    previous = lines[1].rstrip("\n").rsplit("\t", 1)[1].encode()
    for number in range(2, len(lines)):
        content = lines[number].rstrip("\n").rsplit("\t", 1)[0]
        previous = chain_value(previous, content.encode())
        lines[number] = f"{content}\t{previous.decode()}\n"
    write_lines(recorded, lines)

    verify = cli("verify", cwd=recorded)

    # layer: the committed record on main, then the run record
    assert verify.code == 3
    assert verify.out.splitlines() == [
        "results.tsv line 3 differs from the record committed on main: a committed row was "
        "edited or deleted; `git diff main -- results.tsv` shows it: restore that line",
        f"results.tsv line 3 (run {lines[2].split(chr(9), 1)[0]}) differs from its run record "
        "in value: the row was edited after the run",
    ]


def test_chain_values_blanked_turn_no_row_into_an_old_one(recorded: Path, cli) -> None:
    """Attack: blank every chain value, so that the file looks as if it predated the chain
    (its rows then count, with a warning only). Stopped by: harness verify: those rows'
    runs kept records, and a harness that keeps them seals every row it writes."""
    lines = lines_of(recorded)
    write_lines(recorded, [lines[0], *(line.rsplit("\t", 1)[0] + "\t\n" for line in lines[1:])])
    first = lines[1].split("\t", 1)[0]

    verify = cli("verify", cwd=recorded)

    # layer: the run records (a recorded run's row is always sealed)
    assert verify.code == 3
    assert verify.out.splitlines()[0] == (
        f"results.tsv line 2 (run {first}) has no chain value, though its run was recorded by "
        "a harness that seals every row: the chain was removed"
    )


# -- submit's own confirmation ---------------------------------------------------------------


def test_appended_confirm_rows_with_a_copied_frozen_sha_do_not_confirm(recorded: Path, cli) -> None:
    """Attack: a real win on validation that does not hold on held-out data; the agent
    appends `confirm` rows for both sides (frozen_sha and all copied from real rows) that
    say it holds. Stopped by: submit's own confirmation. The first submit ignores every
    confirm row on record and queues its runs; the second decides from exactly those
    (matched by the task tokens it kept), so the win does not hold."""
    worktree = start_idea(cli, recorded, "overfit", "1.95 0.2")  # held-out: 0.15 worse
    evaluate(cli, worktree)
    commit = git(recorded, "rev-parse", "exp/overfit").strip()
    fake_copies(recorded, "overfit", status="confirm", metric="test_bpb", value=1.0, commit=commit)
    fake_copies(recorded, "baseline", status="confirm", metric="test_bpb", value=3.0)

    first = cli("submit", "overfit", cwd=recorded)

    # layer: submit's own confirmation (the rows on record ignored, its own runs queued)
    assert first.code == 0, first.err
    assert first.out.startswith("not decided yet: held-out confirmation queued (6 run(s)): ")
    state = json.loads((recorded / ".git/harness/confirm/overfit.json").read_text())
    assert len({run["token"] for run in state["runs"]}) == 6
    assert cli("queue", "wait", cwd=recorded).code == 0

    second = cli("submit", "overfit", cwd=recorded)

    assert second.code == 1
    assert second.out.startswith(
        "not submitted: the win does not hold on held-out data: held-out test_bpb: baseline "
        "is better than overfit by 0.15"
    )
    assert not (recorded / ".git/harness/confirm/overfit.json").exists()  # decided


def test_a_copied_task_token_makes_submit_queue_that_run_again(recorded: Path, cli) -> None:
    """Attack: read the tokens submit keeps in .git/harness/confirm/, and append a row
    carrying one of them with a better value (the real row of that task is there too).
    Stopped by: the token match. A token with two rows was copied: both are ignored and that
    run is queued again; a winner still gets its confirmation from real runs only."""
    worktree = start_idea(cli, recorded, "lower", "1.95")
    evaluate(cli, worktree)
    assert cli("submit", "lower", cwd=recorded).code == 0
    assert cli("queue", "wait", cwd=recorded).code == 0
    token = json.loads((recorded / ".git/harness/confirm/lower.json").read_text())["runs"][0]
    (real,) = (
        read_results(recorded / "results.tsv")
        .filter(pl.col("task_token") == token["token"])
        .to_dicts()
    )
    append_rows(find_layout(recorded), [{**real, "chain": None, "run_id": "x-fake", "value": 0.5}])

    again = cli("submit", "lower", cwd=recorded)

    # layer: submit's own confirmation (the token match)
    assert again.out.startswith("not decided yet: held-out confirmation queued (1 run(s)): ")
    assert cli("queue", "wait", cwd=recorded).code == 0
    done = cli("submit", "lower", cwd=recorded)
    assert done.code == 0, done.err
    assert done.out.startswith("submitted: lower beats the head ")
    assert "confirmed on held-out data: held-out test_bpb: lower is better than baseline" in (
        done.out
    )


def test_appended_confirm_rows_do_not_change_the_reports_held_out_numbers(
    recorded: Path, cli
) -> None:
    """Attack: append `confirm` rows for both sides (copied from real rows, a valid chain)
    so that the report shows a held-out win no run made, before any submit and after it.
    Stopped by: the report's own reading of the confirmation. It shows only the runs submit
    queued (matched by the task tokens it kept): "not confirmed yet" before, those runs'
    values after, whatever else is on record."""

    def held_out_section() -> str:
        assert cli("report", "lower", cwd=recorded).code == 0
        (path,) = (recorded / "9_reports").glob("*_lower.md")
        text = path.read_text()
        return text[text.index("## Held-out confirmation") : text.index("## Observations")]

    def append_fakes(slug: str, value: float, **changes: object) -> None:
        real = read_results(recorded / "results.tsv").filter(pl.col("idea") == slug).to_dicts()
        fakes = [
            {**row, "chain": None, "run_id": f"{row['run_id']}-fake{value}", "task_token": None}
            | {"status": "confirm", "metric": "test_bpb", "value": value, **changes}
            for row in real
            if row["status"] in ("ok", "confirm") and "-fake" not in row["run_id"]
        ]
        append_rows(find_layout(recorded), fakes)

    worktree = start_idea(cli, recorded, "lower", "1.95")
    evaluate(cli, worktree)
    append_fakes("lower", 1.0, commit=git(recorded, "rev-parse", "exp/lower").strip())
    append_fakes("baseline", 3.0)

    before = held_out_section()

    assert "Not confirmed yet: `harness submit lower`" in before
    assert "-fake" not in before and "better than" not in before
    assert cli("submit", "lower", cwd=recorded).code == 0
    assert cli("queue", "wait", cwd=recorded).code == 0
    assert cli("submit", "lower", cwd=recorded).code == 0
    frame = read_results(recorded / "results.tsv")
    trusted = frame.filter(pl.col("task_token").is_not_null()).get_column("run_id").to_list()
    assert len(trusted) == 6
    append_fakes("lower", 0.5)

    after = held_out_section()

    assert "-fake" not in after
    assert all(run_id in after for run_id in trusted)
    assert "lower is better than baseline by 0.05" in after
