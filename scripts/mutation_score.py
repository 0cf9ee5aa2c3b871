"""The mutation score of each module from `mutmut results --all true` (`just mutate`).

The score is the share of the mutants that ran which a test caught (killed, or stopped
by the timeout); mutants that no selected test reaches are counted apart as "untested".
"""

from __future__ import annotations

import re
import subprocess
from collections import Counter, defaultdict

CAUGHT = {"killed", "timeout"}
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
    print(f"{'module':32} {'mutants':>7} {'caught':>7} {'survived':>8} {'untested':>8} {'score':>6}")
    for module, counts in sorted(by_module.items()):
        caught = sum(counts[s] for s in CAUGHT)
        survived = counts["survived"]
        untested = counts["no tests"]
        ran = caught + survived
        score = f"{100 * caught / ran:.0f}%" if ran else "-"
        total = sum(counts.values())
        print(f"{module:32} {total:7} {caught:7} {survived:8} {untested:8} {score:>6}")
        other = {k: v for k, v in counts.items() if k not in CAUGHT | {"survived", "no tests"}}
        if other:
            print(f"{'':32} also: {dict(other)}")


if __name__ == "__main__":
    main()
