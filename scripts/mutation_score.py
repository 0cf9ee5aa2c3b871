"""The mutation score of each module from `mutmut results --all true` (`just mutate`).

The score is killed / (killed + survived): the share of the mutants that ran to the end
which a test caught. A timeout is counted apart: on a loaded machine a slow test run can
time out without looping, so it is neither caught nor survived; nor are mutants that no
selected test reaches ("untested").
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter, defaultdict

from harness.fileio import format_table

KNOWN = {"killed", "survived", "timeout", "no tests"}
LINE = re.compile(r"^\s*(?P<module>[\w.]+?)\.x[_ǁ].*?: (?P<status>[\w ]+)$")


def main() -> None:
    listed = subprocess.run(
        [sys.executable, "-m", "mutmut", "results", "--all", "true"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    by_module: dict[str, Counter[str]] = defaultdict(Counter)
    for line in listed.splitlines():
        match = LINE.match(line)
        if match:
            by_module[match["module"]][match["status"]] += 1
    rows = []
    for module, counts in sorted(by_module.items()):
        killed, survived = counts["killed"], counts["survived"]
        score = f"{100 * killed / (killed + survived):.0f}%" if killed + survived else "-"
        others = ", ".join(f"{k} {v}" for k, v in counts.items() if k not in KNOWN)
        row = [module, sum(counts.values()), killed, survived, counts["timeout"]]
        rows.append([*map(str, row), str(counts["no tests"]), score, others])
    headings = ["module", "mutants", "killed", "survived", "timeout", "untested", "score", "other"]
    for line in format_table(rows, headings=headings, right=set(range(1, 7))):
        print(line)


if __name__ == "__main__":
    main()
