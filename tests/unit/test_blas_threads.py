"""One BLAS thread for archsim's linear algebra (`models.blas_threads`): inside `analyze`,
in the processes archsim owns unless the user set the threads, and the previous limits
back after the block. Each check runs in a fresh interpreter: the test processes are
limited already (tests/conftest.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TWO = [min(2, os.cpu_count() or 1)]
"""What OpenBLAS runs with OPENBLAS_NUM_THREADS=2: two threads, or the cores if fewer."""

THREADS = """
import json
from threadpoolctl import threadpool_info
def blas_threads():
    return sorted({pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"})
"""


def _run(code: str, **environment: str) -> dict[str, list[int]]:
    """Run `code` (after `THREADS`) in a fresh interpreter without the BLAS thread
    variables this process has (plus `environment`); it prints one JSON object."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    }
    env.update(environment)
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-c", THREADS + code], env=env, capture_output=True, text=True, check=True
    )
    found: dict[str, list[int]] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def test_analyze_solves_on_one_blas_thread_and_gives_the_threads_back() -> None:
    found = _run(
        """
import numpy
import models.analysis as analysis
from models import load_scenario
seen = []
solve = analysis._as_given
def watched(scenario, capacity):
    seen.append(blas_threads())
    return solve(scenario, capacity)
analysis._as_given = watched
before = blas_threads()
analysis.analyze(load_scenario("scenarios/mm1.yaml"))
print(json.dumps({"before": before, "inside": seen[0], "after": blas_threads()}))
""",
        OPENBLAS_NUM_THREADS="2",
    )
    assert found["inside"] == [1]
    assert found["after"] == found["before"] == TWO


def test_archsim_s_own_processes_take_one_thread_unless_the_user_set_them() -> None:
    """`limit_blas_threads` (the console script, the replications' workers): one thread,
    and the variable set for the libraries loaded later and the child processes; left
    alone where the user set OPENBLAS_NUM_THREADS."""
    code = """
import os
import numpy
from models.blas_threads import limit_blas_threads
limit_blas_threads()
variable = [int(os.environ["OPENBLAS_NUM_THREADS"])]
print(json.dumps({"threads": blas_threads(), "variable": variable}))
"""
    assert _run(code) == {"threads": [1], "variable": [1]}
    assert _run(code, OPENBLAS_NUM_THREADS="2") == {"threads": TWO, "variable": [2]}
