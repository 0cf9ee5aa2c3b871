"""What the harness defends against at run time: a catalogue of attacks, one test each.

Each test is an attack a reward-hacking agent could try from its worktree (issue 16), run
for real: the attack committed on an `exp/` branch through the real pre-commit guard,
then a real `harness eval` of the bundled example (its smoke budget, for speed). The
docstring says the attack; the assertions say which layer stops it and what the record
shows. "The honest value" is the unmodified example's val_bpb for the same seed: an
attack that changes nothing the model learns must leave exactly that number.

Layers, in the order a run meets them:
- the evaluation process: the FROZEN scorer runs the research code in a child process,
  over a pipe, with no HARNESS_* channel variable in its environment, its output sent
  to stderr, the scorer's own imports kept out of the worktree and its /proc closed;
- the metrics channel: a pipe only the evaluation process holds (the harness's /proc
  closed too); once it received anything the stdout summary is ignored, and anything but
  one JSON object is a crash;
- the run's process handling: every process carrying the run's marker ends with it;
- the integrity hash: FROZEN files (content and mode) hashed before and after the run,
  their change times checked; the configured command only.

The rules helper's attacks (tests/test_attacks_rules.py) and the record helper's
(tests/test_attacks_record.py) follow the same form.
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

import pytest

from harness.config import load_config
from harness.layout import find_layout
from harness.record.results import read_results, valid_runs
from tests.conftest import commit_files, git

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
def repo(smoke_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "research"
    shutil.copytree(smoke_template, root, symlinks=True)
    monkeypatch.setenv("ATTACK_LOG", str(tmp_path / "attack.log"))  # the attack's own notes
    return root


def attack(repo: Path, files: dict[str, str], *, slug: str = "cheat") -> Path:
    """A worktree on exp/<slug> with `files` committed through the real guard."""
    worktree = repo / "5_worktrees" / slug
    git(repo, "worktree", "add", "-q", "-b", f"exp/{slug}", str(worktree))
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


# --- the evaluation process ---------------------------------------------------------------


def test_replacing_the_scoring_function_through_main(repo: Path, cli, honest: dict) -> None:
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
    row = run_eval(cli, attack(repo, {"train.py": with_attack(code)}))
    assert (row["status"], row["integrity"]) == ("ok", "ok")
    assert row["value"] == float(honest["val_bpb"])


def test_writing_the_metrics_file_itself(repo: Path, cli, honest: dict) -> None:
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
    row = run_eval(cli, attack(repo, {"train.py": with_attack(code)}))
    if os.geteuid() != 0:
        assert notes().splitlines() == [
            "None",
            "scorer: PermissionError",
            "harness: PermissionError",
        ]
        assert (row["status"], row["value"]) == ("ok", float(honest["val_bpb"]))
        return
    assert notes().splitlines() == ["None", "scorer: written", "harness: written"]
    assert row["status"] == "crash"
    assert row["description"].startswith(
        "HARNESS_METRICS_FILE received a second summary: write one JSON object, once; log tail: "
    )


def test_printing_a_fake_summary(repo: Path, cli, honest: dict) -> None:
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
    row = run_eval(cli, attack(repo, {"train.py": with_attack(code)}))
    assert (row["status"], row["value"]) == ("ok", float(honest["val_bpb"]))
    assert notes() == ("written" if os.geteuid() == 0 else "PermissionError")  # root: ignored


def test_exiting_at_once_after_printing(repo: Path, cli) -> None:
    """Attack: print a fake summary, then `os._exit(0)` before the scorer scores anything.

    Stopped by the evaluation process: only the model's process exits; the scorer sees
    the pipe end mid-protocol and fails. The row is a crash with the scorer's reason."""
    code = (
        "import os\n"
        "def train(data, *, seed):\n"
        "    print('---'); print('val_bpb: 0.01', flush=True)\n"
        "    os._exit(0)\n"
    )
    row = run_eval(cli, attack(repo, {"train.py": with_attack(code)}))
    assert (row["status"], row["value"]) == ("crash", None)
    assert row["description"].startswith("exit code 1; log tail: ")
    assert "eval.py: the model's process ended mid-protocol (exit code 0)" in row["description"]


def test_patching_numpy_allclose(repo: Path, cli) -> None:
    """Attack: `np.allclose = lambda *a, **k: True`, then return unnormalised
    log-probabilities (all zeros: every byte certain, 0 bits per byte).

    Stopped by the evaluation process: the scorer's numpy is its own; its check fails.
    The row is a crash with the scorer's reason."""
    code = (
        "np.allclose = lambda *a, **k: True\n"
        "MLP.log_probs = lambda self, contexts: np.zeros((len(contexts), 256))\n"
    )
    row = run_eval(cli, attack(repo, {"train.py": with_attack(code)}))
    assert (row["status"], row["value"]) == ("crash", None)
    assert "eval.py: log_probs rows must be normalised log-probabilities" in row["description"]


def test_shadowing_the_data_and_a_stdlib_module(repo: Path, cli, honest: dict) -> None:
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
    row = run_eval(cli, attack(repo, files))
    assert (row["status"], row["integrity"]) == ("ok", "ok")
    assert row["value"] == float(honest["val_bpb"])
    assert json.loads(row["extra"])["data_sha"] == honest["data_sha"]


# --- the run's processes ------------------------------------------------------------------


def test_a_background_process_left_to_rewrite_the_metrics(repo: Path, cli, honest: dict) -> None:
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
    row = run_eval(cli, attack(repo, {"train.py": with_attack(code)}))
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


# --- the integrity hash -------------------------------------------------------------------


def test_swapping_the_scorer_during_the_run(repo: Path, cli) -> None:
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
    worktree = attack(repo, {"train.py": with_attack(code)})
    row = run_eval(cli, worktree)
    assert (row["status"], row["integrity"]) == ("ok", "modified")
    assert row["description"] == (
        "the FROZEN files changed during the run (eval.py): this run never counts"
    )
    assert valid_runs(read_results(repo / "results.tsv"), load_config(repo)).is_empty()


def test_changing_the_scorers_mode(repo: Path, cli) -> None:
    """Attack: make eval.py executable (or a symlink) in the worktree, a change the content
    hash alone never saw.

    Stopped by the integrity hash: it holds the file mode. The uncommitted change is refused
    first; run anyway with --allow-dirty, the row is `modified` (and dirty)."""
    worktree = attack(repo, {"train.py": TRAIN + "\n# a change\n"})
    (worktree / "eval.py").chmod(0o755)
    refused = cli("eval", "--seed", str(SEED), cwd=worktree)
    assert refused.code == 1 and "uncommitted changes to the research code (eval.py)" in refused.err
    row = run_eval(cli, worktree, "--allow-dirty")
    assert (row["status"], row["integrity"], row["dirty"]) == ("ok", "modified", True)


def test_evaluating_another_command(repo: Path, cli) -> None:
    """Attack: `harness eval -- python -c "print('---'); print('val_bpb: 0.01')"`, a
    command other than the configured evaluation, to record a perfect value.

    Stopped by the integrity check of the command: the row records the command and its
    integrity is `command`; it never counts."""
    fake = "print('---'); print('val_bpb: 0.01')"
    worktree = attack(repo, {"train.py": TRAIN + "\n# a change\n"})
    row = run_eval(cli, worktree, "--", "python", "-c", fake)
    assert (row["status"], row["value"], row["integrity"]) == ("ok", 0.01, "command")
    assert json.loads(row["extra"])["command"] == shlex.join(["python", "-c", fake])
    assert valid_runs(read_results(repo / "results.tsv"), load_config(repo)).is_empty()
    best = cli("results", "best", cwd=repo)
    assert best.out.startswith("no valid val_bpb yet")
    journal = (repo / "RESEARCH_JOURNAL.md").read_text()
    assert "is not the configured evaluation; this run never counts as a result" in journal
