"""Benchmark: archsim's engine against a plain simpy model with one process per request.

Two models, each run for a fixed number of requests, in the same invocation so that only the
ratio matters (absolute speed depends on the machine):

- pipeline: 5 stations in tandem, Poisson arrivals at 0.7/s, exponential service of mean 1 s;
- mm4: one M/M/4 station, Poisson arrivals at 3/s, exponential service of mean 1 s.

Each measurement runs in a fresh subprocess so that its peak memory (max RSS) is its own, and
measures the CPU time of the run only (not imports or model building), so that other load on
a shared machine does not count. The two engines are measured in turns, `--repeat` times, and
the speedup reported is the median of the pairs' ratios (with their range). Prints one JSON
document. Usage:

    python3 bench/bench_engine.py [--requests 200000] [--repeat 5] [--memory-requests 1000000]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

MODELS: dict[str, dict[str, Any]] = {
    "pipeline": {"arrival_rate": 0.7, "stations": 5, "servers": 1},
    "mm4": {"arrival_rate": 3.0, "stations": 1, "servers": 4},
}


def archsim_scenario(model: str, requests: int) -> dict[str, Any]:
    """The benchmark model in archsim's scenario language, long enough for `requests`."""
    spec = MODELS[model]
    stations = spec["stations"]
    services = {
        f"s{index}": {
            "workers": spec["servers"],
            "operations": {"serve": [{"work": {"exponential": 1.0}}]},
        }
        for index in range(stations)
    }
    return {
        "name": f"bench-{model}",
        "simulation": {"duration": requests / spec["arrival_rate"], "seed": 1},
        "services": services,
        "workload": {
            "load": {
                # the client visits the stations in turn: a tandem of queues
                "steps": [{"call": f"s{index}"} for index in range(stations)],
                "arrivals": {"poisson": spec["arrival_rate"]},
            }
        },
    }


def run_archsim(model: str, requests: int) -> dict[str, Any]:
    """Run the model with archsim; returns completed requests and seconds spent."""
    from models import load_scenario
    from sim import simulate

    scenario = load_scenario(archsim_scenario(model, requests))
    started = time.process_time()
    results = simulate(scenario, replications=1)
    elapsed = time.process_time() - started
    completed = results.to_dict()["flows"]["load"]["arrived"]
    return {"requests": completed, "seconds": elapsed}


def run_plain_simpy(model: str, requests: int) -> dict[str, Any]:
    """The same model as textbook simpy: one generator process per request, Resources."""
    import numpy as np
    import simpy

    spec = MODELS[model]
    env = simpy.Environment()
    rng = np.random.default_rng(1)
    stations = [simpy.Resource(env, capacity=spec["servers"]) for _ in range(spec["stations"])]
    done = [0]

    def customer(env: simpy.Environment) -> Any:
        for station in stations:
            with station.request() as granted:
                yield granted
                yield env.timeout(rng.exponential(1.0))
        done[0] += 1

    def source(env: simpy.Environment) -> Any:
        for _ in range(requests):
            yield env.timeout(rng.exponential(1.0 / spec["arrival_rate"]))
            env.process(customer(env))

    env.process(source(env))
    started = time.process_time()
    env.run(until=requests / spec["arrival_rate"])
    elapsed = time.process_time() - started
    return {"requests": requests, "seconds": elapsed}


def measure_in_subprocess(engine: str, model: str, requests: int) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter and add its peak memory."""
    output = subprocess.run(
        [sys.executable, __file__, "--single", engine, model, str(requests)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(output)  # type: ignore[no-any-return]


def main() -> None:
    """Measure both engines on both models and print JSON with ratios and peak memory."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5, help="measurements per engine")
    parser.add_argument("--memory-requests", type=int, default=1_000_000)
    parser.add_argument("--single", nargs=3, metavar=("ENGINE", "MODEL", "REQUESTS"))
    arguments = parser.parse_args()
    if arguments.single:
        engine, model, requests = arguments.single
        runner = run_archsim if engine == "archsim" else run_plain_simpy
        result = runner(model, int(requests))
        peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        result["peak_memory_mb"] = round(peak_kib / 1024, 1)
        print(json.dumps(result))
        return
    report: dict[str, Any] = {
        "requests": arguments.requests,
        "repeat": arguments.repeat,
        "models": {},
    }
    for model in MODELS:
        pairs = []
        for _ in range(arguments.repeat):
            archsim = measure_in_subprocess("archsim", model, arguments.requests)
            plain = measure_in_subprocess("simpy", model, arguments.requests)
            pairs.append((archsim, plain))
        archsim_rates = [a["requests"] / a["seconds"] for a, _ in pairs]
        plain_rates = [p["requests"] / p["seconds"] for _, p in pairs]
        speedups = sorted(a / p for a, p in zip(archsim_rates, plain_rates, strict=True))
        report["models"][model] = {
            "archsim_requests_per_second": round(statistics.median(archsim_rates)),
            "plain_simpy_requests_per_second": round(statistics.median(plain_rates)),
            "speedup": round(statistics.median(speedups), 2),
            "speedup_range": [round(speedups[0], 2), round(speedups[-1], 2)],
            "archsim_peak_memory_mb": max(a["peak_memory_mb"] for a, _ in pairs),
            "plain_simpy_peak_memory_mb": max(p["peak_memory_mb"] for _, p in pairs),
        }
    memory = measure_in_subprocess("archsim", "pipeline", arguments.memory_requests)
    report["memory"] = {
        "model": "pipeline",
        "requests": memory["requests"],
        "archsim_peak_memory_mb": memory["peak_memory_mb"],
        "archsim_seconds": round(memory["seconds"], 2),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
