"""The benchmark script runs end to end and prints the JSON its README section describes.

Speed is never asserted here (DEVELOPERS: speed is measured in bench/, not in timed tests);
this only checks that the script works and that both engines simulated the same model.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # ~8 s: runs the benchmark script

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_engine.py"


def _report(script: Path, *arguments: str) -> dict[str, Any]:
    """The JSON document a benchmark script prints."""
    output = subprocess.run(
        [sys.executable, str(script), *arguments],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    ).stdout
    report: dict[str, Any] = json.loads(output)
    return report


def test_benchmark_prints_ratios_and_memory_for_every_model() -> None:
    report = _report(BENCH, "--requests", "3000", "--repeat", "1", "--memory-requests", "3000")
    assert report["requests"] == 3000
    models = {"call_pipeline", "mm4", "event_pipeline_queue", "event_pipeline_log", "mixed"}
    assert set(report["models"]) == models
    for name, figures in report["models"].items():
        assert figures["archsim_requests_per_cpu_second"] > 0
        assert figures["archsim_peak_memory_mb"] > 0
        if name != "mixed":  # (archsim only: no plain simpy counterpart)
            assert figures["plain_simpy_requests_per_cpu_second"] > 0
            low, high = figures["speedup_range"]
            assert low <= figures["speedup"] <= high
    # archsim counts the requests that arrived in the run: about 3000 (Poisson)
    assert 2500 < report["memory"]["requests"] < 3500


MEMORY = BENCH.with_name("bench_memory.py")


def test_memory_benchmark_prints_peak_memory_and_build_time() -> None:
    report = _report(MEMORY, "--quick")
    assert report["points"]
    for point in report["points"]:
        assert point["peak_rss_mb"] > 0
        assert point["build_seconds"] is not None and point["build_seconds"] >= 0
        assert point["requests"] > 0


ANALYZE = BENCH.with_name("bench_analyze.py")


def test_analyze_benchmark_prints_cpu_after_startup_and_pairs_with_a_checkout() -> None:
    """`--against` this very checkout: every pair printed the same prediction (analyze is
    deterministic from one process to the next), and each figure has its median and range."""
    report = _report(ANALYZE, "--quick", "--against", str(ANALYZE.parents[1]))
    assert set(report["models"]) == {"startup", "three_tier_shop"}
    shop = report["models"]["three_tier_shop"]
    assert shop["cpu_seconds"]["median"] > 0
    low, high = shop["after_startup_cpu_seconds"]["range"]
    assert low <= shop["after_startup_cpu_seconds"]["median"] <= high
    assert shop["against"]["same_prediction"] is True
    assert shop["against"]["cpu_ratio"]["median"] > 0
    assert "after_startup_cpu_seconds" not in report["models"]["startup"]


ROUNDS = BENCH.with_name("analysis_rounds.py")


def test_rounds_benchmark_counts_each_search_and_restores_the_library() -> None:
    """One flow: one search, whose rounds are the trials' rounds; the counting wrappers do
    not outlive the run (the same counts twice in one process). `--floor`: each flow's two
    trials around its capacity take rounds, the searches at their floor take no more than
    they did and no less than the bottleneck's own search."""
    report = _report(ROUNDS, "--models", "three_tier_shop", "social_network_95", "--floor")
    shop = report["models"]["three_tier_shop"]
    assert shop["trials"] > 1 and len(shop["searches"]) == 1
    assert shop["searches"][0] == shop["rounds"] >= shop["trials"]
    assert shop["floor_rounds"] == shop["rounds"]  # (one flow: the search is the bottleneck's)
    social = report["models"]["social_network_95"]
    assert len(social["searches"]) == 4  # (one per flow, then the bottleneck's)
    assert sum(social["searches"]) == social["rounds"]
    assert sorted(social["floor"]) == ["compose-post", "read-home-timeline", "read-user-timeline"]
    for below, above, _ in social["floor"].values():
        assert below >= 1 and above >= 1
    assert social["searches"][-1] < social["floor_rounds"] < social["rounds"]
    sys.path.insert(0, str(ROUNDS.parent))
    try:
        import analysis_rounds

        import models.analysis as package
        import models.analysis.capacity as capacity

        before = (capacity._limit, capacity.solve_network, package.solve_capacity)
        files = {"three_tier_shop": ROUNDS.parents[1] / "scenarios" / "three_tier_shop.yaml"}
        first, second = analysis_rounds.count(files, True), analysis_rounds.count(files)
        assert (capacity._limit, capacity.solve_network, package.solve_capacity) == before
        assert first["three_tier_shop"]["rounds"] == second["three_tier_shop"]["rounds"]
        assert first["three_tier_shop"]["rounds"] == shop["rounds"]
    finally:
        sys.path.remove(str(ROUNDS.parent))


CHANGES = BENCH.with_name("round_changes.py")


def test_round_changes_counts_repeats_and_restores_the_library() -> None:
    """The script prints its counts per model; an M/M/1 station, exact from its first
    round, comes out the same in every later round; a model whose waits climb does not;
    the counting wrapper does not outlive the run (the same counts twice)."""
    report = _report(CHANGES, "--models", "three_tier_shop")
    shop = report["three_tier_shop"]
    assert shop["rounds"] > 0 and shop["services"] >= shop["rounds"]
    for total, same in [("services", "same_load"), ("views", "same_view")]:
        assert 0 <= shop[same] < shop[total]
    sys.path.insert(0, str(CHANGES.parent))
    try:
        import round_changes

        import models.analysis.network as network

        before = network._round
        scenarios = CHANGES.parents[1] / "scenarios"
        first = round_changes.count(scenarios / "three_tier_shop.yaml")
        assert network._round is before
        assert first == round_changes.count(scenarios / "three_tier_shop.yaml") == shop
        single = round_changes.count(scenarios / "mm1.yaml")
        assert single["rounds"] > 0
        assert single["same_load"] == single["same_solution"] == single["services"]
        assert single["same_view"] == single["views"]
    finally:
        sys.path.remove(str(CHANGES.parent))
