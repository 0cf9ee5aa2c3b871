"""`harness next` and `harness status`: the loop's rules.

The rules that read results and the queue are pure functions tested on constructed
LoopStates (results.tsv and the queue feed them once they are wired). The idea and
worktree rules are tested end to end on real repositories and worktrees.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import typing
from pathlib import Path

import pytest

from harness.config import Budget, Config, load_config
from harness.layout import find_layout
from harness.loop.ideas import STATUSES, Idea
from harness.loop.inferences import PLACEHOLDER
from harness.loop.state import (
    RULES,
    Kind,
    LoopState,
    RunRecord,
    build_state,
    next_action,
    patience_streak,
)
from harness.loop.status import summarise
from harness.loop.worktrees import Worktree
from harness.queue.base import TaskState
from tests.conftest import commit_config, git

ROOT = Path("/research")
CONFIG = Config(ideas_target=2, min_effect=0.01, seeds=3)


def idea(slug: str, status: str, *, rating: float | None = None, created: str = "2024-01-01"):
    return Idea(
        slug=slug,
        title=f"Idea {slug}",
        status=status,
        created=created,
        rating=rating,
        novelty=None,
        impact=None,
        feasibility=None,
        branch=f"exp/{slug}",
        path=ROOT / "1_ideas" / f"{created}_{slug}.md",
        body="",
    )


def worktree(slug: str, *, dirty: bool = False) -> Worktree:
    path = ROOT / "5_worktrees" / slug
    return Worktree(slug, f"exp/{slug}", path, missing=False, dirty=dirty, ahead=0, behind=0)


def run(slug: str, value: float | None = 1.0, *, status: str = "ok", **fields) -> RunRecord:
    return RunRecord(idea=slug, status=status, value=value, **fields)


def task(task_id: str, cwd: Path = ROOT, state: str = "running") -> TaskState:
    return TaskState(task_id=task_id, state=state, cwd=str(cwd), label="Q: x H: y")  # type: ignore[arg-type]


BASELINE_OK = (run("baseline", 1.0, seed=0), run("baseline", 1.002, seed=1))
READY = LoopState(
    root=ROOT,
    ideas=(idea("a", "critiqued", rating=6), idea("b", "critiqued", rating=8)),
    runs=BASELINE_OK,
)


def decide(state: LoopState, config: Config = CONFIG):
    return next_action(state, config)


# -- the rules on constructed states --------------------------------------------------------


def test_baseline_comes_first_and_again_while_no_baseline_run_is_ok() -> None:
    action = decide(dataclasses.replace(READY, runs=()))
    assert (action.kind, action.commands) == ("baseline", ("harness baseline --seeds 3",))
    crashed = dataclasses.replace(READY, runs=(run("baseline", None, status="crash"),))
    action = decide(crashed)
    assert action.kind == "baseline" and "1 baseline run(s), none valid" in action.reason
    modified = dataclasses.replace(READY, runs=(run("baseline", 1.0, integrity="modified"),))
    assert decide(modified).kind == "baseline"
    assert decide(READY).kind == "implement"


def test_while_the_baseline_runs_the_agent_ideates_and_implements_then_waits() -> None:
    running = (task("1"),)
    empty = LoopState(root=ROOT, active_tasks=running)
    assert decide(empty).kind == "ideate"
    full = dataclasses.replace(READY, runs=(), active_tasks=running)
    assert (decide(full).kind, decide(full).slug) == ("implement", "b")
    started = dataclasses.replace(
        full, ideas=tuple(dataclasses.replace(i, status="submitted") for i in READY.ideas)
    )
    action = decide(started)
    assert (action.kind, action.commands) == ("wait", ("harness queue wait --exit-zero",))
    assert action.reason == "1 task(s) running, 0 queued: wait for their results"


def test_tasks_under_way_do_not_hold_up_the_next_idea() -> None:
    state = dataclasses.replace(READY, active_tasks=(task("1"), task("2", state="queued")))
    assert (decide(state).kind, decide(state).slug) == ("implement", "b")
    nothing_left = dataclasses.replace(state, ideas=(idea("a", "submitted"),))
    config = dataclasses.replace(CONFIG, ideas_target=1)
    action = decide(nothing_left, config)
    assert action.kind == "wait"
    assert action.reason.startswith("1 task(s) running, 1 queued")


def test_report_when_an_idea_in_testing_has_finished_runs_and_no_report() -> None:
    state = dataclasses.replace(
        READY,
        ideas=(*READY.ideas, idea("c", "testing")),
        worktrees=(worktree("c"),),
        runs=(
            *BASELINE_OK,
            *(run("c", 0.9, seed=seed) for seed in range(3)),
            run("c", None, status="crash", seed=0),
        ),
    )
    action = decide(state)
    assert (action.kind, action.slug, action.commands) == ("report", "c", ("harness report c",))
    assert action.reason == "c has 4 finished run(s) (3 valid, every seed) and no report"

    still_running = dataclasses.replace(state, active_tasks=(task("7", ROOT / "5_worktrees/c"),))
    assert decide(still_running).kind == "implement"  # c's runs go on; the next idea starts
    elsewhere = dataclasses.replace(state, active_tasks=(task("8", ROOT),))
    assert decide(elsewhere).kind == "report"


C_SEEDS = tuple(run("c", 0.9, seed=seed) for seed in range(3))


def test_submit_when_reported_or_when_the_report_exists() -> None:
    reported = dataclasses.replace(
        READY,
        ideas=(*READY.ideas, idea("c", "reported")),
        runs=(*BASELINE_OK, *C_SEEDS),
        reports=frozenset({"c"}),
    )
    action = decide(reported)
    assert (action.kind, action.slug) == ("submit", "c")
    assert action.commands == ("harness submit c --exit-zero",)

    testing = dataclasses.replace(reported, ideas=(*READY.ideas, idea("c", "testing")))
    assert decide(testing).commands == ("harness submit c --exit-zero",)


def test_test_an_idea_in_testing_that_has_nothing_run_or_queued() -> None:
    state = dataclasses.replace(
        READY, ideas=(*READY.ideas, idea("c", "testing")), worktrees=(worktree("c"),)
    )
    action = decide(state)
    assert (action.kind, action.slug) == ("test", "c")
    assert action.reason == "c has 0 of 3 valid seeds and nothing queued: queue seed(s) 0, 1, 2"
    queued = dataclasses.replace(state, active_tasks=(task("3", ROOT / "5_worktrees/c/sub"),))
    assert (decide(queued).kind, decide(queued).slug) == ("implement", "b")


def test_an_implementing_idea_without_worktree_is_implemented_again() -> None:
    state = dataclasses.replace(READY, ideas=(idea("c", "implementing"), *READY.ideas))
    action = decide(state)
    assert (action.kind, action.commands) == ("implement", ("harness worktree create c",))


def config_with(**budget) -> Config:
    return dataclasses.replace(CONFIG, budget=Budget(**budget))


def test_stop_when_max_runs_is_reached() -> None:
    runs = (*BASELINE_OK, run("x", 0.99), run("x", 0.98, status="confirm"))
    state = dataclasses.replace(READY, runs=runs)
    assert decide(state, config_with(max_runs=4)).kind == "implement"
    action = decide(state, config_with(max_runs=3))
    assert action.kind == "stop"
    assert action.reason.startswith("the research budget is spent: 3 runs recorded, max_runs is 3")
    assert action.commands == ("harness status",)
    unsaved = dataclasses.replace(state, uncommitted_runs=3)
    assert decide(unsaved, config_with(max_runs=3)).commands == (
        "harness results commit",
        "harness status",
    )


def test_stop_when_max_hours_is_reached_and_wait_for_what_still_runs() -> None:
    runs = tuple(run("baseline", 1.0, duration_s=1800.0) for _ in range(3))
    state = dataclasses.replace(READY, runs=runs, active_tasks=(task("9"),))
    assert decide(state, config_with(max_hours=2)).kind == "implement"
    action = decide(state, config_with(max_hours=1.5))
    assert action.kind == "stop" and "1.5 hours of evaluation recorded" in action.reason
    assert action.commands[0] == "harness queue wait --exit-zero"


def finished(slug: str, value: float, timestamp: str) -> tuple[Idea, RunRecord]:
    return idea(slug, "reported"), run(slug, value, timestamp=timestamp)


def test_patience_counts_finished_ideas_in_a_row_without_a_new_best() -> None:
    pairs = [
        finished("worse", 1.2, "2024-01-02"),
        finished("noise", 0.995, "2024-01-03"),  # better, but by less than min_effect
        finished("better", 0.95, "2024-01-04"),  # a new best: the streak starts again
        finished("same", 0.945, "2024-01-05"),
        finished("much-worse", 2.0, "2024-01-06"),
    ]

    def streak(n: int) -> int:
        ideas = tuple(i for i, _ in pairs[:n])
        state = LoopState(root=ROOT, ideas=ideas, runs=(*BASELINE_OK, *(r for _, r in pairs[:n])))
        return patience_streak(state, CONFIG)

    assert [streak(n) for n in range(6)] == [0, 1, 2, 0, 1, 2]

    ideas = tuple(dataclasses.replace(i, status="submitted") for i, _ in pairs)
    runs = (*BASELINE_OK, *(r for _, r in pairs))
    state = LoopState(root=ROOT, ideas=(*ideas, idea("next", "critiqued", rating=5)), runs=runs)
    assert decide(state, config_with(patience=3)).kind == "implement"
    action = decide(state, config_with(patience=2))
    assert action.kind == "stop"
    assert "2 finished ideas in a row without a new best (patience 2)" in action.reason


def test_a_finished_idea_without_counting_runs_is_no_new_best() -> None:
    state = LoopState(
        root=ROOT,
        ideas=(idea("crashed", "reported"), idea("modified", "reported")),
        runs=(
            *BASELINE_OK,
            run("crashed", None, status="crash"),
            run("modified", 0.5, integrity="modified"),
        ),
    )
    assert patience_streak(state, CONFIG) == 2


def test_patience_follows_the_metric_direction() -> None:
    maximise = dataclasses.replace(CONFIG, direction="max")
    ideas = (idea("up", "reported"), idea("down", "reported"))
    up_first = (*BASELINE_OK, run("up", 1.5, timestamp="1"), run("down", 0.5, timestamp="2"))
    down_first = (*BASELINE_OK, run("up", 1.5, timestamp="2"), run("down", 0.5, timestamp="1"))
    state = LoopState(root=ROOT, ideas=ideas, runs=up_first)
    assert patience_streak(state, CONFIG) == 0
    assert patience_streak(state, maximise) == 1
    state = dataclasses.replace(state, runs=down_first)
    assert patience_streak(state, CONFIG) == 1
    assert patience_streak(state, maximise) == 0


def test_a_finished_idea_is_reported_before_the_loop_stops() -> None:
    state = dataclasses.replace(
        READY,
        ideas=(*READY.ideas, idea("c", "testing")),
        runs=(*BASELINE_OK, *C_SEEDS),
    )
    assert decide(state, config_with(max_runs=1)).kind == "report"


# Rules whose inputs this product does not vary (a third seed, an unfilled report, a crash
# at the head, uncommitted runs): test_next_contract.py reaches each on a real repository.
UNFIRED = {
    "baseline-head",
    "rebase-stale",
    "retest-outdated",
    "commit-record",
    "fix-crashed",
    "ideate-to-target",
    "infer-report",
    "report-tested",
    "submit-reported",
    "test-implemented",
}


def test_every_state_gets_an_action_and_the_last_rule_always_fires() -> None:
    """Every combination of an idea's status, its worktree, runs, report, the baseline, the
    queue and the budget gets one action of the closed set, and every rule fires somewhere."""
    kinds, fired = set(typing.get_args(Kind)), set()
    spent = config_with(max_runs=2)
    other = ("proposed", "critiqued", "submitted")  # a second idea: to critique, pick, none
    for status, second, has_tree, has_runs, reported, baseline, busy, config in itertools.product(
        STATUSES, other, *[(False, True)] * 5, (CONFIG, spent)
    ):
        runs = (run("x", 0.9, seed=0), run("x", 0.91, seed=1)) if has_runs else ()
        state = LoopState(
            root=ROOT,
            ideas=(idea("x", str(status), rating=7), idea("y", str(second), rating=6)),
            worktrees=(worktree("x"),) if has_tree else (),
            reports=frozenset({"x"}) if reported else frozenset(),
            runs=(*(BASELINE_OK if baseline else ()), *runs),
            active_tasks=(task("1", ROOT / "5_worktrees" / "x"),) if busy else (),
        )
        action = decide(state, config)  # type: ignore[arg-type]  # product() yields object
        assert action.kind in kinds and action.reason, (status, action)
        assert action.rule in {rule.name for rule in RULES}
        fired.add(action.rule)
    unfired = {rule.name for rule in RULES} - fired
    assert unfired == UNFIRED
    done = LoopState(
        root=ROOT,
        ideas=(idea("a", "submitted"), idea("b", "abandoned"), idea("c", "submitted")),
        runs=BASELINE_OK,
    )
    action = decide(done)
    assert action.kind == "ideate" and action.rule == RULES[-1].name
    assert "every one of the 3 ideas is started, finished or abandoned" in action.reason


def test_abandoned_ideas_do_not_count_toward_the_target() -> None:
    state = dataclasses.replace(READY, ideas=(READY.ideas[0], idea("z", "abandoned")))
    assert decide(state, dataclasses.replace(CONFIG, ideas_target=3)).reason == (
        "the pipeline runs low: 1 idea(s) waiting, 1 of 3 written"
    )


# -- end to end, on real repositories ---------------------------------------------------------


@pytest.fixture
def small_target(research_repo: Path) -> Path:
    """The example repository with ideas_target = 2."""
    commit_config(research_repo, lambda text: text.replace("ideas_target = 30", "ideas_target = 2"))
    return research_repo


def next_for(repo: Path, *, runs: tuple[RunRecord, ...] = BASELINE_OK, cwd: Path | None = None):
    """`next` on the real repository's files, with results rows added (until results are
    wired into the loader); the rows made up here have no code, so the ratchet's view of
    the real record is left out."""
    layout = find_layout(cwd or repo)
    config = load_config(layout.root)
    state = dataclasses.replace(build_state(layout, config), runs=runs, ratchet=None)
    return next_action(state, config)


def critique(cli, repo: Path, slug: str, rating: int) -> None:
    path = repo.parent / f"{slug}.critique.md"
    path.write_text(f"Considered.\nRating: {rating}/10\n")
    assert cli("idea", "critique", slug, "--file", str(path), cwd=repo).code == 0


def test_next_on_a_fresh_repository_is_the_baseline(research_repo: Path, cli) -> None:
    result = cli("next", "--json", cwd=research_repo)
    assert result.code == 0, result.err
    assert json.loads(result.out) == {
        "schema": 1,
        "action": "baseline",
        "slug": None,
        "reason": "no baseline yet: measure the noise of the main branch before any experiment",
        "commands": ["harness baseline --seeds 3"],
        "needs": [],
        "rule": "baseline-first",
    }
    text = cli("next", cwd=research_repo).out
    assert text.startswith("baseline\n  why:  no baseline yet")
    assert "  run:  harness baseline --seeds 3\n" in text


def test_next_follows_an_idea_through_the_loop(small_target: Path, cli) -> None:
    repo = small_target
    drafts = find_layout(repo).state_dir / "drafts"
    action = next_for(repo)
    assert (action.kind, action.reason) == (
        "ideate",
        "the pipeline runs low: 0 idea(s) waiting, 0 of 2 written",
    )
    assert action.commands == (f"harness idea new --file {drafts / 'idea.md'}",)
    assert action.needs[0].file == drafts / "idea.md"

    cli("idea", "new", "wide", "--title", "Wider hidden layer", cwd=repo)
    cli("idea", "new", "deep", "--title", "A second hidden layer", cwd=repo)
    action = next_for(repo)  # the oldest first: wide was written first
    assert (action.kind, action.slug) == ("critique", "wide")
    assert action.commands == (f"harness idea critique wide --file {drafts / 'critique-wide.md'}",)

    critique(cli, repo, "wide", 6)
    assert (next_for(repo).kind, next_for(repo).slug) == ("critique", "deep")
    critique(cli, repo, "deep", 8)
    action = next_for(repo)
    assert (action.kind, action.slug) == ("implement", "deep")
    assert action.commands == ("harness worktree create deep",)
    assert action.reason.startswith("deep: rating 8/10")

    worktree = Path(cli("implement", "deep", cwd=repo).out.strip())
    action = next_for(repo, cwd=worktree)
    assert (action.kind, action.slug) == ("implement", "deep")
    assert action.reason == "deep's worktree has no commit yet: make the change and commit it"
    commit = f"cd {worktree} && git add -A && git commit --quiet -m 'deep: A second hidden layer'"
    assert action.commands == (commit,)
    assert action.needs[0].where == worktree
    (worktree / "train.py").write_text("# a second layer, in progress\n")
    assert "uncommitted changes" in next_for(repo).reason
    git(worktree, "commit", "--quiet", "-am", "a second layer")

    action = next_for(repo)
    assert (action.kind, action.slug) == ("test", "deep")
    assert action.commands == (
        f"cd {worktree} && harness smoke",
        f"cd {worktree} && harness queue add --seeds 3 --question "
        "'does A second hidden layer help?' -- harness eval",
    )

    cli("idea", "set", "deep", "--status", "testing", cwd=worktree)
    runs: tuple[RunRecord, ...] = (
        *BASELINE_OK,
        run("deep", 0.97, seed=0),
        run("deep", 0.96, seed=1),
    )
    action = next_for(repo, runs=runs)
    assert (action.kind, action.slug) == ("test", "deep")
    assert action.commands[1].startswith(f"cd {worktree} && harness queue add --only-seeds 2 ")
    runs = (*runs, run("deep", 0.965, seed=2))
    action = next_for(repo, runs=runs)
    assert (action.kind, action.slug) == ("report", "deep")

    report = repo / "9_reports" / "2024-05-01_deep.md"
    report.write_text("# Report: deep\n\n## Inferences\n\n" + PLACEHOLDER + "\n")
    action = next_for(repo, runs=runs)
    assert (action.kind, action.slug) == ("infer", "deep")
    assert action.commands == (f"harness report deep --inferences {drafts / 'inferences-deep.md'}",)
    report.write_text("# Report: deep\n\n## Inferences\n\nDepth helps a little.\n")
    action = next_for(repo, runs=runs)
    assert (action.kind, action.slug) == ("submit", "deep")
    cli("idea", "set", "deep", "--status", "reported", cwd=repo)
    assert next_for(repo, runs=runs).commands == ("harness submit deep --exit-zero",)

    cli("idea", "set", "deep", "--status", "submitted", cwd=repo)
    action = next_for(repo, runs=runs)
    assert (action.kind, action.slug) == ("implement", "wide")
    cli("idea", "set", "wide", "--status", "abandoned", "--reason", "deep was better", cwd=repo)
    assert next_for(repo, runs=runs).reason == (
        "the pipeline runs low: 0 idea(s) waiting, 1 of 2 written"
    )


def test_next_reads_the_files_afresh_every_time(small_target: Path, cli) -> None:
    """No cache: a change made by hand to an idea file is what the next call sees."""
    repo = small_target
    cli("idea", "new", "wide", "--title", "Wider hidden layer", cwd=repo)
    cli("idea", "new", "deep", "--title", "A second hidden layer", cwd=repo)
    assert next_for(repo).slug == "wide"
    (path,) = (repo / "1_ideas").glob("*_wide.md")
    path.write_text(path.read_text().replace("status: proposed", "status: critiqued"))
    assert next_for(repo).slug == "deep"


def test_status_shows_the_loop_at_a_glance(small_target: Path, cli) -> None:
    repo = small_target
    cli("idea", "new", "wide", "--title", "Wider hidden layer", cwd=repo)
    cli("idea", "new", "deep", "--title", "A second hidden layer", cwd=repo)
    cli("idea", "new", "gone", "--title", "Something else", cwd=repo)
    cli("idea", "set", "gone", "--status", "abandoned", "--reason", "r", cwd=repo)
    worktree = Path(cli("implement", "deep", cwd=repo).out.strip())
    (worktree / "train.py").write_text("# edited\n")

    result = cli("status", cwd=worktree)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == "ideas      2 of 2 (enough)"
    assert lines[1] == "           proposed 1, implementing 1, abandoned 1"
    assert lines[2] == "worktrees  1"
    assert lines[3].split()[:5] == ["deep", "exp/deep", "implementing", "dirty", "+0"]
    assert lines[4:6] == ["queue      none yet", "best run   none yet"]
    assert lines[6] == (
        "next       baseline: no baseline yet: measure the noise of the main branch "
        "before any experiment"
    )

    data = json.loads(cli("status", "--json", cwd=repo).out)
    assert data["ideas"] == {
        "by_status": {
            "proposed": 1,
            "critiqued": 0,
            "implementing": 1,
            "testing": 0,
            "reported": 0,
            "rejected": 0,
            "submitted": 0,
            "abandoned": 1,
        },
        "live": 2,
        "target": 2,
        "needed": 0,
    }
    (row,) = data["worktrees"]
    assert (row["slug"], row["dirty"], row["idea_status"]) == ("deep", True, "implementing")
    assert (data["queue"], data["best_run"], data["runs"]) == ([], None, 0)
    assert data["best"] == data["head"] and data["best"]["mean"] is None  # not measured yet
    assert data["next"]["action"] == "baseline"


def test_status_counts_how_many_ideas_are_still_needed(research_repo: Path, cli) -> None:
    cli("idea", "new", "wide", "--title", "Wider hidden layer", cwd=research_repo)
    assert cli("status", cwd=research_repo).out.splitlines()[0] == (
        "ideas      1 of 30 (29 more needed)"
    )


def test_status_summary_names_the_best_result_and_the_queue(research_repo: Path) -> None:
    from harness.cli.loop import status_lines

    layout = find_layout(research_repo)
    config = load_config(research_repo)
    runs = (
        *BASELINE_OK,
        run("wide", 0.95),
        run("wide", 0.97),
        run("cheat", 0.1, integrity="modified"),
    )
    tasks = (task("4", state="running"), task("5", state="queued"))
    state = dataclasses.replace(
        build_state(layout, config), runs=runs, active_tasks=tasks, ratchet=None
    )
    summary = summarise(state, config)
    assert summary.best_run is not None and summary.best_run.slug == "wide"
    lines = status_lines(summary, metric=config.metric)
    assert "queue      1 running, 1 queued" in lines
    assert "           4  running  Q: x H: y" in lines
    assert "best run   0.9500 val_bpb: one run (wide), not a mean over seeds" in lines
    assert summarise(dataclasses.replace(state, active_tasks=()), config).action.kind == "ideate"


def test_worktrees_are_read_from_git_not_remembered(research_repo: Path, cli) -> None:
    cli("idea", "new", "wide", "--title", "Wider hidden layer", cwd=research_repo)
    cli("implement", "wide", cwd=research_repo)
    git(research_repo, "worktree", "remove", "5_worktrees/wide")
    action = next_for(research_repo)
    assert (action.kind, action.slug) == ("implement", "wide")
    assert "has no worktree" in action.reason


def test_status_shows_rejected_ideas_with_the_reason_and_finished_tasks() -> None:
    from harness.cli.loop import status_lines

    turned_down = dataclasses.replace(
        idea("c", "reported"), decision="not submitted: c does not beat baseline: within the noise"
    )
    state = dataclasses.replace(
        READY,
        ideas=(*READY.ideas, turned_down),
        finished_tasks=(("succeeded", 12), ("failed", 1)),
    )
    summary = summarise(state, CONFIG)
    assert summary.ideas_by_status["rejected"] == 1 and summary.ideas_by_status["reported"] == 0
    lines = status_lines(summary, metric="val_bpb")
    assert "rejected   c: c does not beat baseline: within the noise" in lines
    assert "queue      idle; finished: 12 succeeded, 1 failed" in lines
    running = dataclasses.replace(state, active_tasks=(task("13"),))
    lines = status_lines(summarise(running, CONFIG), metric="val_bpb")
    assert "queue      1 running, 0 queued; finished: 12 succeeded, 1 failed" in lines
