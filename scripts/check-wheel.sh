#!/usr/bin/env bash
# Build the sdist and the wheel (the wheel from the sdist, so both must be complete),
# install the wheel into a fresh environment, and use it as a new user would: in a
# temporary folder, `harness init --example`, `just smoke`, one `harness eval`, a row in
# results.tsv, and the pre-commit guard refusing an edit of a FROZEN file. The repository is never on sys.path there: everything runs from the
# temporary folder, with PYTHONPATH unset, and the harness must import from site-packages.
#
#   scripts/check-wheel.sh            # with `build` installed (the dev extra)
#   PYTHON=python3.12 scripts/check-wheel.sh
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3.11}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
began=$(date +%s)
say() { printf 'check-wheel: %s\n' "$*"; }
fail() { printf 'check-wheel: FAILED: %s\n' "$*" >&2; exit 1; }

# The build frontend and twine come from the calling environment (the dev extra has them).
python -m build --outdir "$work/dist" "$repo" >"$work/build.log" 2>&1 \
    || { cat "$work/build.log" >&2; fail "python -m build (is the dev extra installed?)"; }
wheels=("$work"/dist/*.whl)
sdists=("$work"/dist/*.tar.gz)
[[ ${#wheels[@]} == 1 && -f ${wheels[0]} ]] || fail "expected one wheel in $work/dist"
[[ ${#sdists[@]} == 1 && -f ${sdists[0]} ]] || fail "expected one sdist in $work/dist"
say "built $(basename "${sdists[0]}") and $(basename "${wheels[0]}")"
expected=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$repo/harness/__init__.py")
[[ $(basename "${wheels[0]}") == "harness_research-$expected-py3-none-any.whl" ]] \
    || fail "the wheel is not harness_research $expected for any Python 3"
# The metadata and the README (the index's project page) as the index would check them.
python -m twine check --strict "${wheels[0]}" "${sdists[0]}" >"$work/twine.log" 2>&1 \
    || { cat "$work/twine.log" >&2; fail "twine check: the package index would refuse these"; }
say "twine check --strict: passed"

# What a user gets: the workflow template is package data in both.
template=harness/templates/repo/.github/workflows/harness-guard.yml.j2
# (grep without -q: it must read the whole list, or pipefail sees the writer's SIGPIPE)
tar -tzf "${sdists[0]}" | grep "/$template\$" >/dev/null || fail "the sdist lacks $template"
"$python" -m zipfile -l "${wheels[0]}" | grep "$template" >/dev/null \
    || fail "the wheel lacks $template"

# A fresh environment with the wheel only; from here on nothing runs in the repository.
cd "$work"
unset PYTHONPATH VIRTUAL_ENV
"$python" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet "${wheels[0]}" 2>&1 \
    | grep -v '^WARNING: Location' >&2 || true
"$work/venv/bin/python" -m pip show --quiet harness-research >/dev/null \
    || fail "the wheel did not install"
export PATH="$work/venv/bin:$PATH"

# Installed from the wheel into site-packages, not editable, not the repository.
location=$(python -c 'import harness, pathlib; print(pathlib.Path(harness.__file__).parent)')
[[ $location == "$work/venv/lib/"*"/site-packages/harness" ]] \
    || fail "harness imports from $location, not from the fresh environment"
editable=$(python -c 'import importlib.metadata as m, json
text = m.distribution("harness-research").read_text("direct_url.json") or "{}"
print(json.loads(text).get("dir_info", {}).get("editable", False))')
[[ $editable == False ]] || fail "harness-research is installed in editable mode"
version=$(harness --version)
[[ $version == "harness $expected (harness-research)" ]] \
    || fail "harness --version says '$version', expected version $expected"
say "installed: $version, from $location"

# A research repository of its own, with its own git identity.
export GIT_CONFIG_GLOBAL="$work/gitconfig" GIT_CONFIG_NOSYSTEM=1
git config --global user.name "check-wheel"
git config --global user.email "check-wheel@localhost"
harness init --example "$work/project" >"$work/init.log" 2>&1 \
    || { cat "$work/init.log" >&2; fail "harness init --example"; }
cd "$work/project"
[[ -f eval.py && -f .github/workflows/harness-guard.yml ]] || fail "init wrote no eval.py or workflow"
grep -q "HARNESS_DEFAULT: \"harness-research==$expected\"" .github/workflows/harness-guard.yml \
    || fail "the workflow does not pin harness-research==$expected"
just smoke >"$work/smoke.log" 2>&1 || { cat "$work/smoke.log" >&2; fail "just smoke"; }
say "just smoke: ok"
harness eval --seed 0 -q "does the wheel work?" >"$work/eval.log" 2>&1 \
    || { cat "$work/eval.log" >&2; fail "harness eval"; }

# Exactly one row, status ok, with a value, after the header.
python - <<'EOF' || fail "results.tsv has no ok row from harness eval"
import csv, math, sys
with open("results.tsv", newline="") as handle:
    rows = list(csv.DictReader(handle, delimiter="\t"))
ok = len(rows) == 1 and rows[0]["status"] == "ok" and math.isfinite(float(rows[0]["value"]))
print(f"check-wheel: results.tsv: {len(rows)} row(s), {rows[-1]['metric'] if rows else '-'} = "
      f"{rows[-1]['value'] if rows else '-'}, status {rows[-1]['status'] if rows else '-'}")
sys.exit(0 if ok else 1)
EOF
# The pre-commit guard that init installed runs the wheel's harness and refuses FROZEN edits.
echo "# edited" >>eval.py
git add eval.py
if git commit --quiet -m "edit the evaluation" >"$work/commit.log" 2>&1; then
    fail "the pre-commit guard let a FROZEN edit through"
fi
grep "eval.py is FROZEN" "$work/commit.log" >/dev/null \
    || { cat "$work/commit.log" >&2; fail "the pre-commit guard failed for another reason"; }
say "pre-commit guard: refuses a FROZEN edit"
say "ok in $(($(date +%s) - began)) s"
