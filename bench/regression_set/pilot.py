"""The sizing of the reference simulations (`--pilot`): short runs, then durations.

Short runs of every model give its CPU per simulated second and the half-widths reached;
each model's duration is then set for `TARGET_HALF_WIDTH` at the `SIZING_QUANTILE` of its
key values' half-widths (`key_half_widths`), all within a CPU budget (the longest cut
first); `--write` puts them in the files' simulation sections.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from .dataset import load_of, model_files, read_scenario, response_path, write_scenario
from .simulate import run_simulations

PILOT_REQUESTS = 25_000
"""Requests per replication of a pilot run."""
PILOT_REPLICATIONS = 5
TARGET_HALF_WIDTH = {0.60: 0.015, 0.95: 0.035}
"""The aimed relative 95% half-width, per load."""
REPLICATIONS = 10
SIZING_QUANTILE = 0.9
"""The durations are sized for this quantile of the key values' half-widths (the rest,
rare waits of lightly used stations, may end up skipped as imprecise)."""
PILOT_CACHE = Path("/tmp/analysis_regression_pilot.json")
"""The pilot runs' results (a pilot of some models plans all from the latest of each)."""


def pilot(only: list[str], root: str | None, jobs: int, write: bool, budget: float) -> None:
    """Short runs of every model: CPU per simulated second and the precision reached, then
    the duration each model needs for `TARGET_HALF_WIDTH` (a quantile of the half-widths of its
    key values: `key_half_widths`, `SIZING_QUANTILE`), within `budget` CPU seconds for all
    (the longest cut first)."""
    files = model_files(only)
    plans: dict[str, dict[str, Any]] = {}
    for path in files:
        document = read_scenario(path)[1]
        rate = sum(
            flow["arrivals"]["poisson"] if "arrivals" in flow else 100.0
            for flow in document["workload"].values()
        )
        duration = PILOT_REQUESTS / rate
        warmup = max(5.0, duration / 5)
        plans[path.stem] = {"duration": duration, "warmup": warmup, "rate": rate}
    pilot_settings = {
        name: {
            "duration": round(plan["duration"], 1),
            "warmup": round(plan["warmup"], 1),
            "replications": PILOT_REPLICATIONS,
            "seed": 1,
        }
        for name, plan in plans.items()
    }
    cache = json.loads(PILOT_CACHE.read_text()) if PILOT_CACHE.exists() else {}
    simulated = run_simulations(files, root, jobs, pilot_settings)
    cache.update(simulated)
    PILOT_CACHE.write_text(json.dumps(cache))
    files = model_files()
    simulated = {path.stem: cache[path.stem] for path in files}
    plans = {name: {"warmup": result["warmup"]} for name, result in simulated.items()}
    needs: dict[str, tuple[float, float, float]] = {}
    for name, result in simulated.items():
        load = load_of(name)
        widths = sorted(key_half_widths(result).values())
        quantile = widths[int(SIZING_QUANTILE * (len(widths) - 1))] if widths else 0.0
        per_second = result["cpu_seconds"] / (
            PILOT_REPLICATIONS * (result["duration"] + result["warmup"])
        )
        simulated_time = (
            PILOT_REPLICATIONS * result["duration"] * (quantile / TARGET_HALF_WIDTH[load]) ** 2
        )
        needs[name] = (simulated_time, per_second, quantile)
        print(
            f"{name}: pilot {result['cpu_seconds']:.1f} s CPU, key half-width (quantile) "
            f"{quantile:.1%}, needs {simulated_time:.0f} simulated s = "
            f"{simulated_time * per_second:.0f} CPU s"
        )
    # water-filling: every model gets what it needs, up to a common cap within the budget
    costs = {name: need[0] * need[1] * 1.1 for name, need in needs.items()}
    cap = max(costs.values())
    while sum(min(cost, cap) for cost in costs.values()) > budget:
        cap *= 0.97
    total = 0.0
    for path in files:
        name = path.stem
        simulated_time, per_second, quantile = needs[name]
        cost = min(costs[name], cap)
        rate = simulated[name]["requests"] / (PILOT_REPLICATIONS * result_duration(simulated[name]))
        heavy = load_of(name) > 0.9
        replication_time = max(
            cost / per_second / REPLICATIONS, (100_000 if heavy else 50_000) / rate
        )
        warmup = max((20_000 if heavy else 5_000) / rate, replication_time * 0.05)
        duration = float(f"{replication_time:.2g}")
        settings = {
            "duration": duration,
            "warmup": float(f"{warmup:.2g}"),
            "replications": REPLICATIONS,
            "seed": 15,
        }
        expected = per_second * REPLICATIONS * (duration + settings["warmup"])
        total += expected
        reached = quantile * math.sqrt(
            PILOT_REPLICATIONS * result_duration(simulated[name]) / (REPLICATIONS * duration)
        )
        print(f"{name}: {settings}, about {expected:.0f} CPU s, half-width ~{reached:.1%}")
        if write:
            comment, document = read_scenario(path)
            document["simulation"] = settings
            write_scenario(path, comment, document)
    print(f"total about {total:.0f} CPU s (budget {budget:.0f})")


KEY_WAIT = 0.05
"""Waiting times at least this fraction of the response time are key values."""


def key_half_widths(result: dict[str, Any]) -> dict[str, float]:
    """The relative half-widths of a run's key values, those the durations are sized for:
    every response (sojourn) time, and the waiting times of at least `KEY_WAIT` of it."""
    values = result["values"]
    widths: dict[str, float] = {}
    for path, value in values.items():
        if path.endswith(".utilization") or not value["mean"]:
            continue
        owner = response_path(path)
        if owner is not None and (
            owner not in values or value["mean"] < KEY_WAIT * values[owner]["mean"]
        ):
            continue
        widths[path] = value["half_width"] / abs(value["mean"])
    return widths


def result_duration(result: dict[str, Any]) -> float:
    """The duration of each replication of a simulation summary, in seconds."""
    return float(result["duration"])
