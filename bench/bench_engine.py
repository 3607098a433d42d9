"""Benchmark: archsim against a plain simpy model with one process per request, whole process.

What is measured: the CPU time (user + system, from `os.wait4` of the child) of a whole
fresh Python process that imports its libraries, builds the model, runs it for a fixed
number of requests and prints its result: what a user pays for `archsim run`, imports
included. Each model runs `--repeat` times per engine, archsim and plain simpy in turns
(A B A B ...); each pair gives a ratio of requests per CPU second (archsim / plain simpy,
the speedup), and the report gives the medians, the median ratio and the range of the
ratios (absolute speed depends on the machine; the ratio much less). Peak memory is the
child's max RSS. Each child also reports the CPU time of its phases (`*_cpu_breakdown`:
`startup` of the interpreter, `imports` of archsim's `models` and `sim.simulate` or of
numpy and simpy, `load` of the scenario dict by `models.load_scenario` or the creation of
the simpy environment and resources, `simulate`: building the replication, running it and
aggregating its results in `simulate(scenario, replications=1)`, or `env.run()`, and `exit`:
printing the result and the interpreter's teardown), requests per CPU second of the
`simulate` phase alone (`run_only`; what earlier versions of this script reported), and the
mean time per request it measured, printed beside queueing theory's value.

The models (arrivals Poisson, work exponential of mean 1 s unless said):

- call_pipeline: 5 services of 1 worker in tandem, called in turn by the flow's client
  (inline steps), 0.7/s. Mean response 5 / (1 - 0.7) = 16.67 s.
- mm4: one service of 4 workers, 3/s. Mean response (Erlang C) 1.509 s.
- event_pipeline_queue: the flow publishes to queue topic t0 (0.7/s); stage i = 0..4 is
  service s_i consuming t_i with one consumer thread, working, then publishing to t_{i+1}
  (i < 4). Mean completion (the handlers included) 5 / (1 - 0.7) = 16.67 s.
- event_pipeline_log: the same on log topics of 4 partitions (random partitioning) with 2
  consumer threads per stage: each consumer owns 2 partitions and sees Poisson 0.35/s.
  Mean completion 5 / (1 - 0.35) = 7.69 s.
- mixed: `topology.mixed_topology`, 32 services, sync calls, parallel, branch, publish,
  fan-out to 3 consumer groups, utilizations about 0.3-0.6, 100 requests/s. archsim only.

The plain simpy models are the textbook ones: a source process and one generator process
per request walking the stages (request a `simpy.Resource`, timeout of an exponential draw,
release, next stage), numpy's `default_rng` for every draw. A queue stage is one Resource of
capacity 1 (mm4: capacity 4); a log stage is 2 Resources of capacity 1 and the message picks
a partition uniformly in 0..3 and waits at Resource partition % 2 (FIFO per Resource keeps
each partition in order). Prints one JSON document. Usage:

    python3 bench/bench_engine.py [--requests 300000] [--repeat 5] [--models M ...]
                                  [--memory-requests 1000000] [--quick]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the children import their libraries themselves, timed
    import simpy

    Process = Generator[simpy.Event, Any, None]

PIPELINE_STAGES = 5


def erlang_c_response(arrival_rate: float, servers: int, service_mean: float) -> float:
    """Mean response time of an M/M/c queue (Erlang C)."""
    load = arrival_rate * service_mean
    below = sum(load**k / math.factorial(k) for k in range(servers))
    top = load**servers / math.factorial(servers) * servers / (servers - load)
    waiting_probability = top / (below + top)
    return waiting_probability * service_mean / (servers - load) + service_mean


MODELS: dict[str, dict[str, Any]] = {
    "call_pipeline": {
        "arrival_rate": 0.7,
        "expected_mean": PIPELINE_STAGES / (1 - 0.7),
        "plain": "tandem",
    },
    "mm4": {"arrival_rate": 3.0, "expected_mean": erlang_c_response(3.0, 4, 1.0), "plain": "mm4"},
    "event_pipeline_queue": {
        "arrival_rate": 0.7,
        "expected_mean": PIPELINE_STAGES / (1 - 0.7),
        "plain": "tandem",
    },
    "event_pipeline_log": {
        "arrival_rate": 0.7,
        "expected_mean": PIPELINE_STAGES / (1 - 0.35),
        "plain": "partitioned",
    },
    "mixed": {"arrival_rate": 100.0, "expected_mean": None, "plain": None},
}
"""Per model: flow arrivals per second, queueing theory's mean response (or completion)
time, and the plain simpy model that matches it (None: archsim only)."""


# ---------------------------------------------------------------------- the archsim models


def archsim_scenario(model: str, requests: int) -> dict[str, Any]:
    """The benchmark model in archsim's scenario language, long enough for `requests`."""
    rate = MODELS[model]["arrival_rate"]
    duration = requests / rate
    if model == "mixed":
        from topology import mixed_topology

        return mixed_topology(duration, seed=1)
    work = [{"work": {"exponential": 1.0}}]
    services: dict[str, Any]
    topics: dict[str, Any] = {}
    if model == "mm4":
        services = {"s0": {"workers": 4, "operations": {"serve": work}}}
        body: list[dict[str, Any]] = [{"call": "s0"}]
    elif model == "call_pipeline":
        services = {f"s{i}": {"operations": {"serve": work}} for i in range(PIPELINE_STAGES)}
        body = [{"call": f"s{i}"} for i in range(PIPELINE_STAGES)]
    else:
        log = model == "event_pipeline_log"
        services = {
            f"s{i}": {
                "operations": {
                    "handle": work + ([{"publish": f"t{i + 1}"}] if i + 1 < PIPELINE_STAGES else [])
                }
            }
            for i in range(PIPELINE_STAGES)
        }
        for i in range(PIPELINE_STAGES):
            subscriber = {"operation": "handle", "concurrency": 2 if log else 1}
            topic: dict[str, Any] = {"subscribers": {f"s{i}": subscriber}}
            topic.update({"partitions": 4} if log else {"type": "queue"})
            topics[f"t{i}"] = topic
        body = [{"publish": "t0"}]  # the client publishes: the response is immediate
    return {
        "name": f"bench-{model}",
        "simulation": {"duration": duration, "seed": 1},
        "services": services,
        "topics": topics,
        "workload": {"load": {"steps": body, "arrivals": {"poisson": rate}}},
    }


def run_archsim(model: str, requests: int) -> dict[str, Any]:
    """Child: import archsim, load and run the model; requests, mean time, CPU marks."""
    marks = {"start": time.process_time()}
    from models import load_scenario
    from sim import simulate

    marks["imports"] = time.process_time()
    scenario = load_scenario(archsim_scenario(model, requests))
    marks["load"] = time.process_time()
    results = simulate(scenario, replications=1).to_dict()
    marks["run"] = time.process_time()
    flows = results["flows"]
    arrived = sum(flow["arrived"] for flow in flows.values())
    completed = sum(flow["completed"] for flow in flows.values())
    mean = sum(
        flow["completed"] * flow["completion_time"]["mean"]
        for flow in flows.values()
        if flow["completed"]
    )
    result: dict[str, Any] = {
        "requests": int(arrived),
        "mean_seconds": mean / completed,
        "marks": marks,
    }
    if model == "mixed":
        result["details"] = mixed_details(results)
    return result


def mixed_details(results: dict[str, Any]) -> dict[str, Any]:
    """What shows that the mixed model ran as meant: per flow the mean response and
    completion times, and the range of the utilizations of stations and consumer groups."""
    utilizations = [
        station["utilization"]
        for station in results["services"].values()
        if station["throughput"] > 0 and station["utilization"] is not None
    ]
    for topic in results["topics"].values():
        utilizations += [group["utilization"] for group in topic["groups"].values()]
    return {
        "flows": {
            name: {
                "response_mean": round(flow["response_time"]["mean"], 4),
                "completion_mean": round(flow["completion_time"]["mean"], 4),
            }
            for name, flow in results["flows"].items()
        },
        "utilization_range": [round(min(utilizations), 3), round(max(utilizations), 3)],
    }


# ---------------------------------------------------------------------- the plain simpy models


def run_plain_simpy(model: str, requests: int) -> dict[str, Any]:
    """Child: the same model as textbook simpy, one generator process per request."""
    marks = {"start": time.process_time()}
    import numpy as np
    import simpy

    marks["imports"] = time.process_time()
    rate = MODELS[model]["arrival_rate"]
    kind = MODELS[model]["plain"]
    env = simpy.Environment()
    rng = np.random.default_rng(1)
    totals = [0, 0.0]  # completed requests, sum of their times in the system
    arrivals = [0]  # requests that arrived before the end (as archsim counts them)

    def tandem(stations: list[simpy.Resource]) -> Process:
        arrived = env.now
        for station in stations:
            with station.request() as granted:
                yield granted
                yield env.timeout(rng.exponential(1.0))
        totals[0] += 1
        totals[1] += env.now - arrived

    def partitioned(stages: list[list[simpy.Resource]]) -> Process:
        arrived = env.now
        for consumers in stages:
            partition = rng.integers(4)  # random partitioning over 4 partitions
            with consumers[partition % 2].request() as granted:
                yield granted
                yield env.timeout(rng.exponential(1.0))
        totals[0] += 1
        totals[1] += env.now - arrived

    customer: Callable[[], Process]
    if kind == "mm4":
        pool = [simpy.Resource(env, capacity=4)]
        customer = lambda: tandem(pool)  # noqa: E731
    elif kind == "tandem":
        line = [simpy.Resource(env, capacity=1) for _ in range(PIPELINE_STAGES)]
        customer = lambda: tandem(line)  # noqa: E731
    else:
        stages = [
            [simpy.Resource(env, capacity=1) for _ in range(2)] for _ in range(PIPELINE_STAGES)
        ]
        customer = lambda: partitioned(stages)  # noqa: E731

    def source() -> Process:
        for _ in range(requests):
            yield env.timeout(rng.exponential(1.0 / rate))
            env.process(customer())
            arrivals[0] += 1

    env.process(source())
    marks["load"] = time.process_time()
    env.run(until=requests / rate)
    marks["run"] = time.process_time()
    return {"requests": arrivals[0], "mean_seconds": totals[1] / totals[0], "marks": marks}


# ---------------------------------------------------------------------- measuring


def measure_in_subprocess(engine: str, model: str, requests: int) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter: its output, plus the whole process's CPU
    seconds, wall seconds and peak memory from the kernel's accounting of the child."""
    return run_child([__file__, "--single", engine, model, str(requests)])


def run_child(arguments: list[str], cwd: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Run `python3 ARGUMENTS` (in the directory `cwd`, if given), which prints one JSON
    object; that object, plus the child's `cpu_seconds` (user + system), `wall_seconds` and
    `peak_memory_mb` (max RSS), from `os.wait4` (the child is reaped here, not by Popen, to
    get its resource usage)."""
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as errors:
        child = subprocess.Popen(
            [sys.executable, *arguments],
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            cwd=cwd,
        )
        assert child.stdout is not None
        output = child.stdout.read()
        child.stdout.close()
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        if child.returncode != 0:
            errors.seek(0)
            raise RuntimeError(f"{arguments} failed ({child.returncode}):\n{errors.read()}")
    result: dict[str, Any] = json.loads(output)
    result["cpu_seconds"] = usage.ru_utime + usage.ru_stime
    result["wall_seconds"] = wall
    result["peak_memory_mb"] = usage.ru_maxrss / 1024  # KiB on Linux
    return result


def breakdown(run: dict[str, Any]) -> dict[str, float]:
    """CPU seconds of a child's phases, from its marks and its whole-process CPU time."""
    marks = run["marks"]
    return {
        "startup": marks["start"],
        "imports": marks["imports"] - marks["start"],
        "load": marks["load"] - marks["imports"],
        "simulate": marks["run"] - marks["load"],
        "exit": run["cpu_seconds"] - marks["run"],
    }


def summary(runs: list[dict[str, Any]], prefix: str) -> dict[str, Any]:
    """Medians over one engine's runs of a model, keys prefixed with the engine."""
    parts = [breakdown(run) for run in runs]
    return {
        f"{prefix}_requests_per_cpu_second": round(
            statistics.median(run["requests"] / run["cpu_seconds"] for run in runs)
        ),
        f"{prefix}_cpu_seconds": round(statistics.median(run["cpu_seconds"] for run in runs), 3),
        f"{prefix}_wall_seconds": round(statistics.median(run["wall_seconds"] for run in runs), 3),
        f"{prefix}_cpu_breakdown": {
            phase: round(statistics.median(part[phase] for part in parts), 3) for phase in parts[0]
        },
        f"{prefix}_peak_memory_mb": round(max(run["peak_memory_mb"] for run in runs), 1),
        f"{prefix}_mean_seconds": round(statistics.mean(run["mean_seconds"] for run in runs), 3),
    }


def ratios(pairs: list[tuple[float, float]]) -> dict[str, Any]:
    """The median and range of the ratios a / b of the pairs."""
    values = sorted(a / b for a, b in pairs)
    return {
        "speedup": round(statistics.median(values), 2),
        "speedup_range": [round(values[0], 2), round(values[-1], 2)],
    }


def measure_model(model: str, requests: int, repeat: int) -> dict[str, Any]:
    """Measure a model `repeat` times per engine, in turns, and summarise."""
    spec = MODELS[model]
    archsim_runs: list[dict[str, Any]] = []
    plain_runs: list[dict[str, Any]] = []
    for _ in range(repeat):
        archsim_runs.append(measure_in_subprocess("archsim", model, requests))
        if spec["plain"] is not None:
            plain_runs.append(measure_in_subprocess("simpy", model, requests))
    expected = spec["expected_mean"]
    report: dict[str, Any] = {
        "requests": round(statistics.median(run["requests"] for run in archsim_runs)),
        "expected_mean_seconds": round(expected, 3) if expected is not None else None,
    }
    report.update(summary(archsim_runs, "archsim"))
    if "details" in archsim_runs[0]:
        report["archsim_details"] = archsim_runs[0]["details"]
    if not plain_runs:
        return report
    report.update(summary(plain_runs, "plain_simpy"))
    report.update(
        ratios(
            [
                (a["requests"] / a["cpu_seconds"], p["requests"] / p["cpu_seconds"])
                for a, p in zip(archsim_runs, plain_runs, strict=True)
            ]
        )
    )

    def run_only(run: dict[str, Any]) -> float:
        return float(run["requests"] / (run["marks"]["run"] - run["marks"]["load"]))

    report["run_only"] = {
        "archsim_requests_per_cpu_second": round(statistics.median(map(run_only, archsim_runs))),
        "plain_simpy_requests_per_cpu_second": round(statistics.median(map(run_only, plain_runs))),
        **ratios(
            [(run_only(a), run_only(p)) for a, p in zip(archsim_runs, plain_runs, strict=True)]
        ),
    }
    return report


def main() -> None:
    """Measure the chosen models and print one JSON document."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, help="per run (default 300000; quick: 20000)")
    parser.add_argument("--repeat", type=int, help="runs per engine (default 5; quick: 1)")
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument(
        "--memory-requests",
        type=int,
        help="requests of one more archsim call_pipeline run for its peak memory "
        "(default 1000000; quick: 0 = skip)",
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: small and once")
    parser.add_argument("--single", nargs=3, metavar=("ENGINE", "MODEL", "REQUESTS"))
    arguments = parser.parse_args()
    if arguments.single:
        engine, model, count = arguments.single
        runner = run_archsim if engine == "archsim" else run_plain_simpy
        print(json.dumps(runner(model, int(count))))
        return

    def chosen(value: int | None, normal: int, quick: int) -> int:
        if value is not None:
            return value
        return quick if arguments.quick else normal

    requests = chosen(arguments.requests, 300_000, 20_000)
    repeat = chosen(arguments.repeat, 5, 1)
    memory_requests = chosen(arguments.memory_requests, 1_000_000, 0)
    started = time.perf_counter()
    report: dict[str, Any] = {
        "requests": requests,
        "repeat": repeat,
        "measure": "CPU (user+sys) of whole fresh processes (imports and model building "
        "included), archsim and plain simpy in turns; medians over the runs; speedup = "
        "median of the pairs' ratios of requests per CPU second",
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "models": {
            model: measure_model(model, requests, repeat)
            for model in MODELS
            if model in arguments.models
        },
    }
    if memory_requests > 0:
        memory = measure_in_subprocess("archsim", "call_pipeline", memory_requests)
        report["memory"] = {
            "model": "call_pipeline",
            "requests": memory["requests"],
            "archsim_peak_memory_mb": round(memory["peak_memory_mb"], 1),
            "archsim_cpu_seconds": round(memory["cpu_seconds"], 2),
        }
    report["benchmark_wall_seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
