# Recipes of the research loop and of the harness's own development.
# `just --list` shows them. This repository is itself a research repository (the bundled
# example); the research recipes are the ones `harness init` writes into new projects.

set positional-arguments

export PATH := justfile_directory() / ".venv/bin" + ":" + justfile_directory() / "../../.venv/bin" + ":" + env_var("PATH")

# list the recipes
default:
    @just --list

# a sanity check of a few seconds (records nothing)
smoke *args:
    @harness smoke "$@"

# the full evaluation of this worktree, recorded in results.tsv and the journal
eval *args:
    @harness eval "$@"

# queue the evaluation over the configured seeds: just queue -q "question" -H "hypothesis"
queue *args:
    @harness queue add --all-seeds "$@" -- just eval

# measure the noise of the main branch: several seeds plus one repeated
baseline *args:
    @harness baseline "$@"

# what to do next, and why
next:
    @harness next

# the loop at a glance
status:
    @harness status

# the whole loop on the bundled example, in a temporary repository
demo *args:
    @python -m harness.demo "$@"

# the ratchet unattended: two stacked winners advancing the research trunk (about a minute)
demo-trunk *args:
    @python -m harness.demo --trunk "$@"

# the harness's test suite
test *args:
    @python -m pytest -q -n auto "$@"

# the property-based CLI tests with many more examples, freshly random: just fuzz 5000
fuzz examples="2000":
    @HARNESS_FUZZ_EXAMPLES={{examples}} python -m pytest -q -n auto tests/test_fuzz.py

# lint and type-check
lint:
    @ruff check . && ruff format --check . && mypy

# fix what ruff can fix, and format
fix:
    @ruff check --fix . && ruff format .

# the kill loop at length: RUNS real `harness eval` runs SIGKILLed at random moments
kill-loop runs="300":
    @HARNESS_KILL_LOOP_RUNS={{runs}} python -m pytest -q -s -n 0 tests/test_accounting.py -k kill_loop

# build the sdist and wheel, install the wheel in a fresh environment, use it (CI runs this)
check-wheel:
    @scripts/check-wheel.sh

# the benchmarks (ratios against raw git and the raw commands); fails when a goal is MISSED
bench:
    #!/usr/bin/env bash
    missed=()
    for script in bench/*.py; do  # -P: bench/queue.py must not shadow the stdlib
        python -P "$script" || missed+=("$script")
    done
    if (( ${#missed[@]} )); then echo "bench: goal MISSED or bench failed: ${missed[*]}" >&2; exit 1; fi

# mutation testing of the core modules against their fast tests (slow: see [tool.mutmut])
mutate *args:
    @nice mutmut run "$@"; python scripts/mutation_score.py
