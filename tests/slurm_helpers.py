"""Whether a Slurm cluster answers, for the tests that need one.

Without one those tests skip, naming the reason; with HARNESS_REQUIRE_SLURM=1 (set by CI,
which starts `scripts/slurm-cluster.sh`) they fail instead, so CI cannot pass by skipping.
"""

from __future__ import annotations

import functools
import os
import subprocess

import pytest


@functools.cache
def cluster_problem() -> str | None:
    """Why no Slurm cluster can run jobs here, or None when one can."""
    try:
        proc = subprocess.run(
            ["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=30
        )
    except FileNotFoundError:
        return "sinfo is not installed"
    except subprocess.TimeoutExpired:
        return "sinfo did not answer within 30 s"
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines() or ["no message"]
        return f"sinfo failed: {lines[-1].strip()}"
    if not {"idle", "mixed", "allocated"} & set(proc.stdout.split()):
        return f"no node is up (sinfo: {' '.join(proc.stdout.split())})"
    return None


def require_slurm() -> None:
    """Skip the calling test (fail it under HARNESS_REQUIRE_SLURM=1) without a cluster."""
    problem = cluster_problem()
    if problem is None:
        return
    if os.environ.get("HARNESS_REQUIRE_SLURM") == "1":
        pytest.fail(f"HARNESS_REQUIRE_SLURM=1 but no Slurm cluster answers: {problem}")
    pytest.skip(f"no Slurm cluster answers ({problem}): start one with scripts/slurm-cluster.sh")
