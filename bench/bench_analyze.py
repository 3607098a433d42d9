"""Benchmark: `archsim analyze` as a user runs it, whole process, on models of growing size.

What is measured: the CPU time (user + system, from `os.wait4` of the child), wall time and
peak memory of a fresh `python3 -m sim.presentation.cli analyze FILE --json` per run: the
whole command, start-up (the interpreter, numpy, scipy, pydantic) and the JSON output
included. The yardstick is `scenarios/mm1.yaml` (one station: its run is the start-up).
Every repetition runs the yardstick and each model in turns, and a model's
`after_startup_cpu_seconds` is the median over the repetitions of its CPU less the
yardstick's of the same repetition (issue #15 asks for well under a second for a topology
of 100 services). With `--against DIR` every command also runs in the checkout at DIR, in
turns with this one (A B A B ...): `cpu_ratio` is the median of the pairs' ratios with its
range, and `same_prediction` says whether both printed the same JSON in every pair (a
change meant only to be faster must keep it true).

The models (`MODELS`):

- startup: `scenarios/mm1.yaml`, the yardstick.
- three_tier_shop: `scenarios/three_tier_shop.yaml`, one flow through a gateway, an app
  pool and a database.
- social_network_95, train_ticket_95, alibaba_95: the call graphs of the regression set
  (`tests/data/analysis_regression/j1_*`, `j4_*`, `j5_*`: 24, 42 and 38 services at 95% of
  their bottleneck's capacity; the TrainTicket-like one has 7 flows).
- generated_100: `bench/topology.py`'s `generated_topology(100, 100, 1)` written as YAML:
  100 services, 4 flows, synchronous calls, parallel steps, topics and consumer groups.
- bounded_pools: `bench/bounded_pools.yaml`, three pools of several workers with bounded
  waiting rooms (constant work on 4 and on 2 workers, lognormal on 20 with room for 980):
  the finite-room chains solved in every round of the iteration and of each capacity search.
- steady_pools: `bench/steady_pools.yaml`, seven bounded pools of 2-5 workers with
  constant work at 80%: 21 Erlang chains of different shapes every round.
- retry_storm: `scenarios/retry_storm.yaml`, a call with a timeout and 3 retries and a
  slowdown window: the capacity search with failures, whose rounds settle slowly.
- retrying_pools: `bench/retrying_pools.yaml`, calls with timeouts and retries into
  bounded pools of several workers with steady work (Erlang chains every round) and a
  slowdown window.
- closed_retries: `bench/closed_retries.yaml`, closed flows calling with timeouts and
  retries into a pool next to saturation, an outage and a slowdown window: rounds that
  shrink their change by about 0.93 each, in the steady state and in the capacity trials
  (`models.analysis.acceleration`).

Each figure is a median over `--repeat` runs (default 5), with the range of the runs.
Usage:

    python3 bench/bench_analyze.py [--repeat 5] [--models M ...] [--against DIR] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from bench_engine import run_child
from topology import generated_topology

ROOT = Path(__file__).resolve().parents[1]
REGRESSION = ROOT / "tests" / "data" / "analysis_regression"
YARDSTICK = "startup"
GOAL_SECONDS = 1.0
"""Issue #15's bar: `analyze` of a 100-service topology in well under this much CPU after
start-up."""


def _generated(directory: Path, services: int) -> Path:
    path = directory / f"generated_{services}.yaml"
    path.write_text(yaml.safe_dump(generated_topology(services, 100, 1)))
    return path


MODELS: dict[str, Callable[[Path], Path]] = {
    YARDSTICK: lambda _: ROOT / "scenarios" / "mm1.yaml",
    "three_tier_shop": lambda _: ROOT / "scenarios" / "three_tier_shop.yaml",
    "social_network_95": lambda _: REGRESSION / "j1_social_network_95.yaml",
    "train_ticket_95": lambda _: REGRESSION / "j4_train_ticket_95.yaml",
    "alibaba_95": lambda _: REGRESSION / "j5_alibaba_random_95.yaml",
    "generated_100": lambda directory: _generated(directory, 100),
    "bounded_pools": lambda _: ROOT / "bench" / "bounded_pools.yaml",
    "steady_pools": lambda _: ROOT / "bench" / "steady_pools.yaml",
    "retry_storm": lambda _: ROOT / "scenarios" / "retry_storm.yaml",
    "retrying_pools": lambda _: ROOT / "bench" / "retrying_pools.yaml",
    "closed_retries": lambda _: ROOT / "bench" / "closed_retries.yaml",
}
"""Each model's scenario file (the generated one is written into the directory given)."""
QUICK_MODELS = [YARDSTICK, "three_tier_shop"]


def analyze_once(path: Path, checkout: Path) -> dict[str, Any]:
    """One `archsim analyze PATH --json` in a fresh process of the checkout at `checkout`
    (its own `sim` and `models`, by running there with `-m`): the prediction it printed and
    the child's CPU, wall and peak memory."""
    arguments = ["-m", "sim.presentation.cli", "analyze", str(path), "--json"]
    result = run_child(arguments, cwd=checkout)
    figures = {key: result.pop(key) for key in ("cpu_seconds", "wall_seconds", "peak_memory_mb")}
    return {**figures, "prediction": json.dumps(result, sort_keys=True)}


def _spread(values: list[float], digits: int = 3) -> dict[str, Any]:
    """The median of `values` and their range."""
    ordered = sorted(values)
    return {
        "median": round(statistics.median(ordered), digits),
        "range": [round(ordered[0], digits), round(ordered[-1], digits)],
    }


def measure(files: dict[str, Path], repeat: int, against: Path | None) -> dict[str, dict[str, Any]]:
    """Every model `repeat` times, each repetition running all of them in turns (and each
    also in the checkout `against`, right after, when given)."""
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in files}
    others: dict[str, list[dict[str, Any]]] = {name: [] for name in files}
    for _ in range(repeat):
        for name, path in files.items():
            runs[name].append(analyze_once(path, ROOT))
            if against is not None:
                others[name].append(analyze_once(path, against))
    report: dict[str, dict[str, Any]] = {}
    for name in files:
        mine = runs[name]
        figures: dict[str, Any] = {
            "cpu_seconds": _spread([run["cpu_seconds"] for run in mine]),
            "wall_seconds": _spread([run["wall_seconds"] for run in mine]),
            "peak_memory_mb": round(max(run["peak_memory_mb"] for run in mine), 1),
        }
        if name != YARDSTICK and YARDSTICK in runs:
            figures["after_startup_cpu_seconds"] = _spread(
                [
                    run["cpu_seconds"] - start["cpu_seconds"]
                    for run, start in zip(mine, runs[YARDSTICK], strict=True)
                ]
            )
        if against is not None:
            theirs = others[name]
            figures["against"] = {
                "cpu_seconds": _spread([run["cpu_seconds"] for run in theirs]),
                "peak_memory_mb": round(max(run["peak_memory_mb"] for run in theirs), 1),
                "cpu_ratio": _spread(
                    [a["cpu_seconds"] / b["cpu_seconds"] for a, b in zip(mine, theirs, strict=True)]
                ),
                "same_prediction": all(
                    a["prediction"] == b["prediction"] for a, b in zip(mine, theirs, strict=True)
                ),
            }
        report[name] = figures
    return report


def main() -> None:
    """Measure the chosen models and print one JSON document."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, help="runs per model (default 5; quick: 1)")
    parser.add_argument("--models", nargs="+", choices=list(MODELS), help="default: all")
    parser.add_argument("--against", type=Path, help="another checkout to run in turns (A/B)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: two models, once")
    arguments = parser.parse_args()
    repeat = arguments.repeat or (1 if arguments.quick else 5)
    chosen = arguments.models or (QUICK_MODELS if arguments.quick else list(MODELS))
    if YARDSTICK not in chosen:
        chosen = [YARDSTICK, *chosen]
    against = arguments.against.resolve() if arguments.against else None
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as directory:
        files = {name: MODELS[name](Path(directory)) for name in MODELS if name in chosen}
        models = measure(files, repeat, against)
    report: dict[str, Any] = {
        "repeat": repeat,
        "measure": "CPU (user+sys) of whole fresh `archsim analyze FILE --json` processes, "
        "start-up included; after_startup = the model's CPU less the startup model's "
        "(scenarios/mm1.yaml) in the same repetition; medians and ranges over the runs",
        "goal": f"generated_100 after start-up well under {GOAL_SECONDS:g} s of CPU (issue #15)",
        "against": str(against) if against else None,
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "models": models,
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
