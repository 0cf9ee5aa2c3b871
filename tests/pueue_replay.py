"""A strict stand-in for the `pueue` client that replays the recorded protocol, and nothing else.

A test writes a script: the recorded calls it expects, in order (recordings of
tests/fixtures/pueue/<version>/). `install` puts a `pueue` first on PATH that runs this
file; each call must match the next call of the script, and gets that recording's stdout,
stderr and exit code. Any other call gets exit code 99 and a message naming the call and
what was expected, and is kept, so that `Replay.assert_done` fails the test even when the
backend swallowed the error.

A call matches a recording when both are equal after this normal form, which removes only
what legitimately differs between the recorded session and a test:

- the program's path becomes `pueue`;
- `add`: its options are compared as a set (clap takes them in any order); the label loses
  the harness's `[task <token>]` suffix (the token is new on every call); the working
  directory of the test (`Replay.work`) reads `/WORK`, as in the recordings; what follows
  `--` is the task's own command and reads `<COMMAND>` (what the backend wraps around it is
  tested on its own). No recorded `add` combines `--escape` with `--label`, so a script
  step may name several recordings of `add`: the call must then carry the union of their
  options, exactly;
- task ids (after `kill`, `log`, `wait`, `remove`, ...) read `<ID>`: ids differ between the
  recording and a test's scenario, the subcommand and its flags must not;
- the count of `parallel` reads `<N>`: it is the user's setting.

Everything else (subcommands, flags, global options such as `-c`, group names, values)
must be exactly as recorded, and a call whose recording had extra environment variables
(its `.env`, e.g. HARNESS_QUESTION for a labelled `add`) must carry them too.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures" / "pueue"
SCRIPT_ENV = "PUEUE_REPLAY_SCRIPT"
MISMATCH = 99
ADD_VALUE_OPTIONS = frozenset({"--label", "--group", "-g", "--working-directory", "-w", "--after"})
GLOBAL_VALUE_OPTIONS = frozenset({"-c", "--config", "-p", "--profile", "--color"})
ID_COMMANDS = frozenset(
    {"kill", "log", "wait", "remove", "restart", "stash", "enqueue", "start", "follow", "switch"}
)


def recorded_argv(version: str, scenario: str) -> list[str]:
    return (FIXTURES / version / f"{scenario}.cmd").read_text().splitlines()


def recorded_reply(version: str, scenario: str) -> dict[str, object]:
    base = FIXTURES / version / scenario
    return {
        "stdout": base.with_suffix(".stdout").read_text(),
        "stderr": base.with_suffix(".stderr").read_text(),
        "rc": int(base.with_suffix(".rc").read_text()),
    }


def recorded_env_names(version: str, scenario: str) -> list[str]:
    path = FIXTURES / version / f"{scenario}.env"
    lines = path.read_text().splitlines() if path.exists() else []
    return sorted(line.split("=", 1)[0] for line in lines if "=" in line)


def normal_form(argv: list[str], *, work: str) -> list[str]:
    """The call as compared with a recording (see the module's docstring)."""
    from harness.queue.base import split_label

    rest = list(argv[1:])
    head = ["pueue"]
    while rest and rest[0].startswith("-"):  # global options before the subcommand
        option = rest.pop(0)
        head.append(option)
        if option in GLOBAL_VALUE_OPTIONS and rest:
            head.append(rest.pop(0))
    if not rest:
        return head
    command, rest = rest[0], rest[1:]
    if command == "add":
        split = rest.index("--") if "--" in rest else len(rest)
        options, task = rest[:split], rest[split + 1 :]
        pairs = []
        while options:
            option = options.pop(0)
            if option in ADD_VALUE_OPTIONS and options:
                value = options.pop(0)
                if option == "--label":
                    value = split_label(value)[0]
                if option in ("--working-directory", "-w") and value == work:
                    value = "/WORK"
                pairs.append(f"{option}={value}")
            else:
                pairs.append(option)
        return [*head, "add", *sorted(set(pairs)), "--", *(["<COMMAND>"] if task else [])]
    if command in ID_COMMANDS:
        rest = ["<ID>" if word.isdigit() else word for word in rest]
    if command == "parallel" and rest and rest[0].isdigit():
        rest = ["<N>", *rest[1:]]
    return [*head, command, *rest]


def add_union(forms: list[list[str]]) -> list[str]:
    """The normal form of an `add` carrying the options of all the given `add`s."""
    head = forms[0][: forms[0].index("add") + 1]
    options = sorted({word for form in forms for word in form[len(head) : form.index("--")]})
    tails = {tuple(form[form.index("--") :]) for form in forms}
    return [*head, *options, *max(tails, key=len)]


@dataclass
class Replay:
    """A script of recorded calls, and the `pueue` on PATH that answers them."""

    version: str
    folder: Path
    work: str

    @property
    def script(self) -> Path:
        return self.folder / "script.json"

    @property
    def calls_file(self) -> Path:
        return self.folder / "calls.jsonl"

    def expect(self, *steps: str | tuple[str, ...], replies: dict[int, str] | None = None) -> None:
        """The recordings the next calls must match, in order; a tuple names several `add`s.

        `replies` replaces the stdout of step i (for replies a test builds from a recorded
        shape, e.g. with a reused id); the call it answers must still match the recording.
        """
        entries = []
        for index, step in enumerate(steps):
            names = (step,) if isinstance(step, str) else step
            forms = [normal_form(recorded_argv(self.version, n), work=self.work) for n in names]
            reply = recorded_reply(self.version, names[0])
            if replies and index in replies:
                reply["stdout"] = replies[index]
            expected = forms[0] if len(forms) == 1 else add_union(forms)
            env = sorted({key for n in names for key in recorded_env_names(self.version, n)})
            entries.append({"name": "+".join(names), "form": expected, "env": env, **reply})
        self.script.write_text(json.dumps({"work": self.work, "steps": entries}))
        self.calls_file.write_text("")

    def calls(self) -> list[dict[str, object]]:
        lines = self.calls_file.read_text().splitlines()
        return [json.loads(line) for line in lines]

    def assert_done(self) -> None:
        """Every expected call was made, and no other."""
        calls = self.calls()
        wrong = [call["error"] for call in calls if call.get("error")]
        assert not wrong, "calls outside the recorded protocol:\n" + "\n".join(map(str, wrong))
        steps = json.loads(self.script.read_text())["steps"]
        assert len(calls) == len(steps), (
            f"{len(calls)} of {len(steps)} recorded calls made; next expected: "
            f"{steps[len(calls)]['name'] if len(calls) < len(steps) else '-'}"
        )


def install(folder: Path, *, version: str, work: Path) -> tuple[Replay, str]:
    """A Replay in `folder`, and the PATH that puts its `pueue` first."""
    bin_dir = folder / "bin"
    bin_dir.mkdir(parents=True)
    shim = bin_dir / "pueue"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{Path(__file__).resolve()}" "$@"\n')
    shim.chmod(0o755)
    replay = Replay(version=version, folder=folder, work=str(work))
    replay.expect()
    return replay, f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"


def main(argv: list[str]) -> int:
    script_path = Path(os.environ[SCRIPT_ENV])
    calls_path = script_path.with_name("calls.jsonl")
    with calls_path.open("a", encoding="utf-8") as calls:
        fcntl.lockf(calls, fcntl.LOCK_EX)  # one call at a time takes the next step
        script = json.loads(script_path.read_text())
        done = len(calls_path.read_text().splitlines())
        form = normal_form(argv, work=script["work"])
        steps = script["steps"]
        step = steps[done] if done < len(steps) else None
        call: dict[str, object] = {"argv": argv[1:], "form": form}
        call["token_env"] = os.environ.get("HARNESS_TASK_TOKEN")
        missing = [name for name in (step or {}).get("env", []) if name not in os.environ]
        if step is None or step["form"] != form:
            expected = f"{step['name']}: {step['form']}" if step else "no further call"
            call["error"] = f"unrecorded call {form}; expected {expected}"
        elif missing:
            call["error"] = f"unrecorded call {form}: {step['name']} also had {missing} set"
        else:
            call["step"] = step["name"]
        calls.write(json.dumps(call) + "\n")
    if "error" in call:
        print(f"pueue stand-in: {call['error']}", file=sys.stderr)
        return MISMATCH
    sys.stdout.write(str(step["stdout"]))  # type: ignore[index]
    sys.stderr.write(str(step["stderr"]))  # type: ignore[index]
    return int(step["rc"])  # type: ignore[index]


if __name__ == "__main__":
    sys.exit(main(sys.argv))
