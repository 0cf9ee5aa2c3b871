"""One request, run by the referee: `python -m harness.runs.referee_task HOME ID PLACE [PATH...]`.

The referee's worker prepares the request's commit in PLACE (the PATHs are what it put
back from main) and starts this as the referee. It records the run through the usual
`evaluate` (or, for a confirmation, `run_target`) with main's configuration, except that
the evaluation command runs as the runner: a user that can write neither the record nor
the harness's state, and reads the held-out data only in a confirmation run.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.config import Config, load_config, resolve_argv
from harness.layout import find_layout
from harness.queue.spool import read_json
from harness.runs.confirm_task import run_parsed
from harness.runs.evaluation import EvalRequest, evaluate
from harness.runs.referee import confirm_args, is_confirmation
from harness.runs.referee_home import HELDOUT_ENV, Home, user_ids
from harness.runs.referee_users import as_runner


def runner_config(config: Config, home: Home, *, held_out: bool) -> Config:
    """main's configuration with its commands run as the runner; a confirmation's with
    the referee's group (which reads the held-out data) and HARNESS_HELDOUT_DIR."""
    users, _ = home.read()
    if not held_out:
        return replace(config, eval=tuple([*as_runner(users.runner), *resolve_argv(config.eval)]))
    prefix = as_runner(users.runner, extra_gid=user_ids(users.referee)[1])
    prefix += ["env", f"{HELDOUT_ENV}={home.heldout}"]
    return replace(config, confirm=tuple([*prefix, *resolve_argv(config.confirm)]))


def main(argv: list[str]) -> int:
    home, task_id, place, *overlaid = argv
    referee = Home(Path(home))
    state = read_json(referee.states / f"{task_id}.json") or {}
    request = state["request"]
    config = load_config(referee.clone)
    if is_confirmation(request):
        return confirm(referee, request, config)
    note = ""
    if overlaid:
        note = (
            f"referee: the commit changes {', '.join(overlaid)}; main's copies ran instead, "
            "and the row never counts"
        )
    run = evaluate(
        EvalRequest(description=note, allow_dirty=True if overlaid else None),
        start=Path(place),
        stdout=sys.stdout,
        stderr=sys.stderr,
        config=runner_config(config, referee, held_out=False),
    )
    row = run.row
    print(f"referee: recorded run {row['run_id']}: {row['status']}, {row['metric']} {row['value']}")
    return run.exit_code


def confirm(home: Home, request: dict[str, Any], config: Config) -> int:
    return run_parsed(
        find_layout(home.clone),
        runner_config(config, home, held_out=True),
        confirm_args(request),
        who="referee: ",
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
