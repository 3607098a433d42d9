"""Benchmark of agreement: a thread pool whose threads meet at the callee they hold through.

One pool of `c` threads (`app`) does its own work, then calls a database of `k` servers
`v` times, each call holding the thread; the database serves only `app`. At 70-80% of the
pool's capacity X(c) (the flow-equivalent server's), the pool's mean waiting time is
predicted (`analyze`) and simulated (6 replications of 400 s), and printed as JSON with the
simulation's 95% half-width (Student t over the replications) and the prediction's
relative error.

Why these shapes: the flow-equivalent server (`models.analysis.layers`) is a birth-death
queue whose departures in state c are Poisson at X(c). Where the threads queue at a
one-server callee (its utilization U(c) = X(c) D / k near 1 at population c), the pool
empties at the pace of that server, one request's calls to it at a time: departures as
regular as the sum of v of its service times (SCV scv / v), not Poisson; where they meet
little, the pool is c servers of the holding time, as Allen and Cunneen scale M/M/c
(`layers.own_server_pacing` weighs the two by how often the threads queue there,
docs/analysis.md sec. 5). Measured 2026-12-06: before it, from -27% to +62% (a mean
|error| of 28%); with it, from -5% to +34% (11%), the largest where the callee's service
is regular (constant, or gamma of cv 0.5), which X(k) of exponential servers does not
see. Measured 2026-12-07 on the six shapes over several servers (`--shapes 10 15`): from
-27% to +56% (a mean |error| of 25%), each with the chain's own wait beside it
(`unscaled_ms`), +3% to +10% where exponential servers pace the threads, and the table of
docs/analysis.md sec. 12.

    python3 bench/pool_contention.py [--replications 6] [--duration 400] [--shapes 0 9]
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

from models import analyze, load_scenario
from models.analysis.moments import Moments
from sim import simulate


@dataclass(frozen=True)
class Shape:
    """A pool of `threads` over a database of `servers`, called `visits` times."""

    threads: int
    own_work: float
    own_cv: float
    servers: int
    service: float
    service_cv: float
    visits: int
    load: float
    """The arrival rate as a fraction of the pool's predicted capacity X(c)."""


SHAPES = [
    Shape(3, 0.00395, 1.0, 1, 0.00762, 1.0, 2, 0.8),
    Shape(3, 0.00395, 0.5, 1, 0.00762, 0.5, 2, 0.8),
    Shape(2, 0.005, 1.0, 1, 0.010, 1.0, 1, 0.8),
    Shape(4, 0.010, 1.0, 1, 0.005, 1.0, 2, 0.8),
    Shape(4, 0.020, 1.0, 2, 0.008, 1.0, 1, 0.8),
    Shape(8, 0.020, 1.0, 1, 0.003, 1.0, 1, 0.8),
    Shape(3, 0.00395, 1.0, 1, 0.00762, 0.0, 2, 0.8),
    Shape(4, 0.010, 0.5, 1, 0.005, 0.5, 2, 0.7),
    Shape(6, 0.030, 1.0, 4, 0.010, 1.0, 1, 0.8),
    Shape(2, 0.002, 1.0, 1, 0.010, 1.0, 1, 0.7),
    Shape(2, 0.004, 1.0, 2, 0.014, 1.0, 1, 0.8),
    Shape(4, 0.0075, 1.0, 2, 0.014, 1.0, 1, 0.8),
    Shape(8, 0.020, 1.0, 2, 0.012, 1.0, 1, 0.8),
    Shape(4, 0.0075, 1.0, 2, 0.014, 0.5, 1, 0.8),
    Shape(4, 0.0075, 1.0, 2, 0.014, 0.0, 1, 0.8),
    Shape(8, 0.020, 1.0, 4, 0.024, 1.0, 1, 0.8),
]
"""The first is `bench/analysis_fuzz.py` seed 1429's shape (one pool of its three
replicas' threads, exponential work). The last six (2026-12-07) are pools over a database
of several servers, as many threads as servers or more: the flow-equivalent server's
scale by the held time's SCV (`unscaled_ms` without it)."""


def law(mean: float, cv: float) -> dict[str, Any]:
    """A scenario's law of mean `mean` and coefficient of variation `cv` (0: constant;
    1: exponential; else gamma)."""
    if cv == 0.0:
        return {"constant": mean}
    if cv == 1.0:
        return {"exponential": mean}
    return {"gamma": {"mean": mean, "cv": cv}}


def _document(shape: Shape, rate: float, replications: int, duration: float) -> dict[str, Any]:
    steps = [{"work": law(shape.own_work, shape.own_cv)}] + [{"call": "db"}] * shape.visits
    return {
        "name": "pool-contention",
        "simulation": {
            "duration": duration,
            "warmup": 20,
            "replications": replications,
            "seed": 5,
        },
        "services": {
            "app": {"workers": shape.threads, "operations": {"op": steps}},
            "db": {
                "workers": shape.servers,
                "operations": {"op": [{"work": law(shape.service, shape.service_cv)}]},
            },
        },
        "workload": {"f": {"entry": "app.op", "arrivals": {"poisson": rate}}},
    }


def measure(shape: Shape, replications: int, duration: float) -> dict[str, Any]:
    """The pool's predicted and simulated mean wait at `shape.load` of its capacity."""
    probe = analyze(load_scenario(_document(shape, 1.0, replications, duration)))
    capacity = probe.flows["f"].max_throughput
    assert capacity is not None
    rate = shape.load * capacity
    scenario = load_scenario(_document(shape, rate, replications, duration))
    predicted = analyze(scenario, capacity=False).services["app"]
    runs = simulate(scenario).replications
    waits = np.array([run.services["app"].waiting_time.mean for run in runs])
    mean = float(waits.mean())
    half_width = float(stats.t.ppf(0.975, waits.size - 1) * waits.std(ddof=1)) / math.sqrt(
        waits.size
    )
    wait = predicted.waiting_time.mean
    assert wait is not None
    return {
        **asdict(shape),
        "rate": rate,
        "predicted_ms": wait * 1e3,
        "unscaled_ms": _unscaled_wait(scenario) * 1e3,
        "simulated_ms": mean * 1e3,
        "half_width_ms": half_width * 1e3,
        "error": wait / mean - 1.0,
        "method": predicted.method,
    }


def _unscaled_wait(scenario: Any) -> float:
    """The pool's predicted wait with the flow-equivalent server's own (Poisson) wait,
    unscaled by its held time's SCV: `pool_solution.pool_solution`, as `pools` calls it,
    given an SCV of 1 for the duration of one `analyze` (a benchmark's instrument, not the
    library's)."""
    from models.analysis import pools

    solve = pools.pool_solution

    def unscaled(load: Any, layer: Any, rate: float, holding: Moments) -> Any:
        return solve(load, layer, rate, Moments(holding.mean, holding.mean**2))

    pools.pool_solution = unscaled
    try:
        wait = analyze(scenario, capacity=False).services["app"].waiting_time.mean
    finally:
        pools.pool_solution = solve
    assert wait is not None
    return wait


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=6)
    parser.add_argument("--duration", type=float, default=400.0)
    parser.add_argument(
        "--shapes", type=int, nargs=2, default=[0, len(SHAPES) - 1], metavar=("FIRST", "LAST")
    )
    arguments = parser.parse_args()
    first, last = arguments.shapes
    rows = [
        measure(shape, arguments.replications, arguments.duration)
        for shape in SHAPES[first : last + 1]
    ]
    errors = [abs(row["error"]) for row in rows]
    print(json.dumps({"shapes": rows, "mean_absolute_error": float(np.mean(errors))}, indent=1))


if __name__ == "__main__":
    main()
