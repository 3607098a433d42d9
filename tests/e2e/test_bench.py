"""The benchmark script runs end to end and prints the JSON its README section describes.

Speed is never asserted here (DEVELOPERS: speed is measured in bench/, not in timed tests);
this only checks that the script works and that both engines simulated the same model.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # ~8 s: runs the benchmark script

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_engine.py"


def test_benchmark_prints_ratios_and_memory_for_both_models() -> None:
    arguments = ["--requests", "3000", "--repeat", "1", "--memory-requests", "3000"]
    output = subprocess.run(
        [sys.executable, str(BENCH), *arguments],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    ).stdout
    report = json.loads(output)
    assert report["requests"] == 3000
    assert set(report["models"]) == {"pipeline", "mm4"}
    for figures in report["models"].values():
        assert figures["archsim_requests_per_second"] > 0
        assert figures["plain_simpy_requests_per_second"] > 0
        low, high = figures["speedup_range"]
        assert low <= figures["speedup"] <= high
        assert figures["archsim_peak_memory_mb"] > 0
    # archsim counts the requests that arrived in the run: about 3000 (Poisson)
    assert 2500 < report["memory"]["requests"] < 3500
