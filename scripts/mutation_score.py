"""The mutation score of each module from `mutmut results --all true` (`just mutate`).

The score is the share of the mutants that ran which a test caught (killed, or stopped
by the timeout); mutants that no selected test reaches are counted apart as "untested".
"""

from __future__ import annotations

import re
import subprocess
from collections import Counter, defaultdict

from harness.fileio import format_table

CAUGHT = {"killed", "timeout"}
KNOWN = {*CAUGHT, "survived", "no tests"}
LINE = re.compile(r"^\s*(?P<module>[\w.]+?)\.x[_ǁ].*?: (?P<status>[\w ]+)$")


def main() -> None:
    listed = subprocess.run(
        ["mutmut", "results", "--all", "true"], capture_output=True, text=True, check=True
    ).stdout
    by_module: dict[str, Counter[str]] = defaultdict(Counter)
    for line in listed.splitlines():
        match = LINE.match(line)
        if match:
            by_module[match["module"]][match["status"]] += 1
    rows = []
    for module, counts in sorted(by_module.items()):
        caught = sum(counts[s] for s in CAUGHT)
        ran = caught + counts["survived"]
        score = f"{100 * caught / ran:.0f}%" if ran else "-"
        others = ", ".join(f"{k} {v}" for k, v in counts.items() if k not in KNOWN)
        row = [module, sum(counts.values()), caught, counts["survived"], counts["no tests"]]
        rows.append([*map(str, row), score, others])
    headings = ["module", "mutants", "caught", "survived", "untested", "score", "other"]
    for line in format_table(rows, headings=headings, right={1, 2, 3, 4, 5}):
        print(line)


if __name__ == "__main__":
    main()
