"""`harness referee ...`: the record and the evaluations owned by another user."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tyro.extras import SubcommandApp

    from harness.runs.referee_home import Home

DEFAULT_HOME = Path("/var/lib/harness-referee")
DEFAULT_RUNNER = "nobody"


def register(app: SubcommandApp) -> None:
    from tyro.extras import SubcommandApp

    sub = SubcommandApp()
    for command in (setup, serve, run_once):
        sub.command(command)
    app.command(sub, name="referee")


def setup(
    *,
    agent: str,
    referee: str,
    runner: str = DEFAULT_RUNNER,
    home: Path | None = None,
    repository: Path = Path("."),
) -> int:
    """Set up referee mode for this repository (run as root, in the agent's repository).

    The referee user gets a clean clone of the repository holding the record
    (results.tsv, the journal, run records, logs), the held-out data folder and the
    states and logs of requests; the agent gets a spool to send requests to and can read
    all the rest, write none of it. The research code runs as the runner, which owns
    only its scratch folder. Prints each step. Then start the worker as root:
    `harness referee serve` (it drops to the referee).

    Args:
        agent: The user the agent works as (it owns this repository).
        referee: The user that owns the record; not root, not the agent.
        runner: The user the research code runs as; owns nothing of the record.
        home: The referee's folder; default /var/lib/harness-referee/<repository name>.
        repository: The agent's repository (its main worktree); default: here.
    """
    from harness.runs.referee_home import Home, Users
    from harness.runs.referee_setup import main_worktree
    from harness.runs.referee_setup import setup as set_up

    layout = main_worktree(repository)
    where = Home(home or DEFAULT_HOME / layout.root.name)
    for line in set_up(layout, Users(agent, referee, runner), home=where):
        print(line)
    print(f"referee mode is on: start the worker with `harness referee serve --home {where.path}`")
    return 0


def serve(*, home: Path, poll: float = 0.5) -> int:
    """Run the referee's worker: evaluate each request of the spool as it comes.

    Run as root: it switches to the referee (keeping only the right to start the
    research code as the runner). Stops on Ctrl-C or SIGTERM.

    Args:
        home: The referee's folder (as `harness referee setup` printed it).
        poll: Seconds between looks at an empty spool.
    """
    from harness.runs.referee import serve as serve_requests

    worker_home = _become_referee(home, ["serve", "--home", str(home), "--poll", str(poll)])
    serve_requests(worker_home, poll=poll)
    return 0


def run_once(*, home: Path) -> int:
    """Evaluate the oldest request of the spool, if any; prints its id (exits 1 if none).

    Args:
        home: The referee's folder (as `harness referee setup` printed it).
    """
    from harness.runs.referee import run_once as handle_one

    worker_home = _become_referee(home, ["run-once", "--home", str(home)])
    handled = handle_one(worker_home)
    print(handled or "no request")
    return 0 if handled else 1


def _become_referee(home: Path, args: list[str]) -> Home:
    """As root: exec this command again as the referee; as the referee: its Home."""
    from harness.runs.referee_users import become_referee

    return become_referee(home, args)
