"""Benchmark: memory and build time of archsim on generated topologies of N services.

What is measured: for each (services, simulated seconds) point, one fresh Python process
generates `topology.generated_topology(services, duration, seed)`, loads it with
`models.load_scenario` and runs `sim.simulate(scenario, replications=1)`. The report gives,
per point:

- `peak_rss_mb`: the child's max RSS (from `os.wait4`), imports included;
  `rss_after_imports_mb` is the part the imports of `models` and `sim.simulate` alone take,
  `rss_after_build_mb` the resident size once the replication is built (before it runs);
- `load_seconds`: CPU time of `load_scenario` (validation and references);
  `build_seconds`: CPU time from the call of `simulate` to the start of the replication's
  run (the simpy environment, stations, topics, compiled operations, flows: the
  `Replication` object); `load_and_build_seconds` their sum (`*_wall` the same in wall time);
- `simulate_cpu_seconds`: CPU time of the whole `simulate()` call (build, run, results);
  `process_cpu_seconds`: user + system CPU of the whole process, start-up and imports
  included; `requests`: the flows' arrivals.

The build is timed by wrapping `Replication.run` (`sim.engine.replication`) to note the time
when the run starts; if the engine no longer has it, the build figures are null and the
rest is unchanged. The goal of issue #13: 500 services under 300 MB peak and built in under
2 s. Prints one JSON document. Usage:

    python3 bench/bench_memory.py [--services 50 100 250 500] [--durations 10 100 1000]
                                  [--seed 1] [--quick] [--trace SERVICES]

`--trace N` is a diagnosis, not a measurement: it runs N services for the first duration
with `tracemalloc` on and prints the peak of traced memory and the top allocation sites after
the build, just before the end of the run, and after it (tracemalloc slows the run several
times over).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
from typing import Any

from bench_engine import run_child


def current_rss_mb() -> float:
    """The resident set size of this process now, in MB (Linux /proc)."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    """The peak resident set size of this process so far, in MB (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build_marks() -> dict[str, float]:
    """Wrap `Replication.run` so that the CPU and wall time at which a run starts, and the
    RSS then, are noted in the returned dict (empty if the engine has no such method)."""
    marks: dict[str, float] = {}
    try:
        from sim.engine.replication import Replication
    except ImportError:
        return marks
    original = getattr(Replication, "run", None)
    if original is None:
        return marks

    def run(self: Any) -> Any:
        marks["cpu"] = time.process_time()
        marks["wall"] = time.perf_counter()
        marks["rss_mb"] = current_rss_mb()
        return original(self)

    Replication.run = run  # type: ignore[method-assign]
    return marks


def single(services: int, duration: float, seed: int) -> dict[str, Any]:
    """Child: generate, load and simulate one topology; the figures measured inside."""
    from topology import generated_topology

    from models import load_scenario
    from sim import simulate

    imports_rss = peak_rss_mb()
    marks = build_marks()
    cpu = time.process_time()
    document = generated_topology(services, duration, seed)
    generated_cpu = time.process_time()
    generated_wall = time.perf_counter()
    scenario = load_scenario(document)
    loaded_cpu, loaded_wall = time.process_time(), time.perf_counter()
    results = simulate(scenario, replications=1).to_dict()
    done_cpu = time.process_time()
    build = marks.get("cpu", float("nan")) - loaded_cpu
    build_wall = marks.get("wall", float("nan")) - loaded_wall
    return {
        "requests": int(sum(flow["arrived"] for flow in results["flows"].values())),
        "topics": len(document["topics"]),
        "flows": len(document["workload"]),
        "generate_seconds": generated_cpu - cpu,
        "load_seconds": loaded_cpu - generated_cpu,
        "load_wall_seconds": loaded_wall - generated_wall,
        "build_seconds": build,
        "build_wall_seconds": build_wall,
        "simulate_cpu_seconds": done_cpu - loaded_cpu,
        "rss_after_imports_mb": imports_rss,
        "rss_after_build_mb": marks.get("rss_mb", float("nan")),
    }


def measure(services: int, duration: float, seed: int) -> dict[str, Any]:
    """One point, in a fresh process: the child's figures and the kernel's."""
    child = run_child([__file__, "--single", str(services), str(duration), str(seed)])
    load, build = child["load_seconds"], child["build_seconds"]
    load_wall, build_wall = child["load_wall_seconds"], child["build_wall_seconds"]

    def rounded(value: float, digits: int = 3) -> float | None:
        return None if value != value else round(value, digits)  # NaN -> null

    return {
        "services": services,
        "duration": duration,
        "topics": child["topics"],
        "flows": child["flows"],
        "requests": child["requests"],
        "peak_rss_mb": round(child["peak_memory_mb"], 1),
        "rss_after_imports_mb": round(child["rss_after_imports_mb"], 1),
        "rss_after_build_mb": rounded(child["rss_after_build_mb"], 1),
        "load_seconds": rounded(load),
        "build_seconds": rounded(build),
        "load_and_build_seconds": rounded(load + build),
        "load_and_build_wall_seconds": rounded(load_wall + build_wall),
        "simulate_cpu_seconds": rounded(child["simulate_cpu_seconds"]),
        "process_cpu_seconds": round(child["cpu_seconds"], 3),
        "process_wall_seconds": round(child["wall_seconds"], 3),
        "generate_seconds": rounded(child["generate_seconds"]),
    }


def trace(services: int, duration: float, seed: int, top: int = 15) -> None:
    """Diagnosis: the top allocation sites (tracemalloc) after the build and after the run."""
    import tracemalloc

    from topology import generated_topology

    from models import load_scenario
    from sim import simulate
    from sim.engine.replication import Replication

    snapshots: dict[str, tracemalloc.Snapshot] = {}
    tracemalloc.start(1)
    scenario = load_scenario(generated_topology(services, duration, seed))
    original = Replication.run

    def run(self: Any) -> Any:
        snapshots["after build"] = tracemalloc.take_snapshot()
        just_before_end = self.env.timeout(self.end * (1 - 1e-9))  # buffers still full
        just_before_end.callbacks.append(
            lambda _: snapshots.setdefault("just before the end", tracemalloc.take_snapshot())
        )
        outcome = original(self)
        snapshots["end of run (results and time series built)"] = tracemalloc.take_snapshot()
        return outcome

    Replication.run = run  # type: ignore[method-assign]
    simulate(scenario, replications=1)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"peak traced memory: {peak / 2**20:.1f} MB (imports not traced)")
    for label, snapshot in snapshots.items():
        statistics = snapshot.statistics("lineno")
        total = sum(stat.size for stat in statistics)
        print(f"--- {label}: {total / 2**20:.1f} MB traced, top {top} sites")
        for stat in statistics[:top]:
            frame = stat.traceback[0]
            print(
                f"{stat.size / 2**20:8.1f} MB {stat.count:9d} blocks  "
                f"{frame.filename.removeprefix(os.getcwd() + '/')}:{frame.lineno}"
            )


def main() -> None:
    """Measure every point and print one JSON document (or run the tracemalloc diagnosis)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--services", type=int, nargs="+", help="default 50 100 250 500")
    parser.add_argument(
        "--durations",
        type=float,
        nargs="+",
        help="simulated seconds of the largest topology (default 10 100 1000); the others "
        "run the first duration",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="a smoke run: 50 and 100, 10 s")
    parser.add_argument("--trace", type=int, metavar="SERVICES", help="tracemalloc diagnosis")
    parser.add_argument("--single", nargs=3, metavar=("SERVICES", "DURATION", "SEED"))
    arguments = parser.parse_args()
    if arguments.single:
        services, duration, seed = arguments.single
        print(json.dumps(single(int(services), float(duration), int(seed))))
        return
    sizes = arguments.services or ([50, 100] if arguments.quick else [50, 100, 250, 500])
    durations = arguments.durations or ([10.0] if arguments.quick else [10.0, 100.0, 1000.0])
    if arguments.trace is not None:
        trace(arguments.trace, durations[0], arguments.seed)
        return
    points = [(size, durations[0]) for size in sizes]
    points += [(max(sizes), duration) for duration in durations[1:]]
    started = time.perf_counter()
    report = {
        "measure": "one fresh process per point: generated_topology(services, duration, "
        "seed), load_scenario, simulate(replications=1); peak RSS from the kernel, CPU "
        "seconds unless *_wall_seconds",
        "seed": arguments.seed,
        "goal": "500 services: peak_rss_mb < 300 and load_and_build_seconds < 2",
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "points": [measure(size, duration, arguments.seed) for size, duration in points],
    }
    report["benchmark_wall_seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
