"""Benchmark of agreement: a consumer fed one server's departures, the weighted model of
`models.analysis.departure_streams` against the simulator, and the fit of its weight.

Each case is a one-worker service fed Poisson arrivals whose operation is one `work` step
of 4 ms (constant, uniform 2-6 ms, or gamma of cv 0.5) and a publish to a queue topic,
`--load` of the publisher, consumed by a group of 1, 2 or 4 threads of exponential work at
the consumer's load; 6 replications of 300 s each (`--replications`, `--duration`). The
grid is the one the weight w = 1 − exp(−a r^b), r = ρ_P / ρ_C, was fitted to (43 cases,
docs/analysis.md sec. 4.1). For each case it prints, as JSON lines, the simulated mean wait
with its 95% interval, the analysis's prediction, GI/M/c of the gaps taken as renewal,
M/M/c and Allen-Cunneen with the gaps' SCV; then the errors of each over the grid, and the
(a, b) that least squares would fit to this run (scipy), beside `RENEWAL_WEIGHT`.

    python3 bench/departure_fit.py [--replications 6] [--duration 300]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
from scipy.optimize import least_squares

from models import analyze, load_scenario
from models.analysis.departure_streams import RENEWAL_WEIGHT, DepartureGaps
from models.distributions import Constant, Distribution, Gamma, Uniform
from models.theory import gg_c_allen_cunneen, mmc
from models.theory.renewal_arrivals import gi_m_c
from sim import simulate

HOLD = 0.004
HOLDS: dict[str, tuple[dict[str, Any], Distribution]] = {
    "constant": ({"constant": HOLD}, Constant(HOLD)),
    "uniform": ({"uniform": [HOLD / 2, HOLD * 1.5]}, Uniform(HOLD / 2, HOLD * 1.5)),
    "gamma": ({"gamma": {"mean": HOLD, "cv": 0.5}}, Gamma(HOLD, 0.5)),
}


def cases() -> list[tuple[str, float, float, int]]:
    """(hold, publisher's load, consumer's load, consumer threads) of the fitted grid."""
    grid = list(itertools.product(HOLDS, [0.5, 0.7, 0.9], [0.3, 0.6, 0.85], [1]))
    grid += list(itertools.product(["constant", "gamma"], [0.5, 0.9], [0.6, 0.85], [2, 4]))
    return grid


def one(case: tuple[str, float, float, int], replications: int, duration: float) -> dict[str, Any]:
    hold, rho_p, rho_c, threads = case
    rate = rho_p / HOLD
    work = rho_c * threads / rate
    document = {
        "name": "departures",
        "simulation": {"duration": duration, "warmup": 10, "replications": replications},
        "services": {
            "p": {"operations": {"op": [{"work": HOLDS[hold][0]}, {"publish": "t"}]}},
            "c": {"operations": {"h": [{"work": {"exponential": work}}]}},
        },
        "topics": {
            "t": {"type": "queue", "subscribers": {"c": {"operation": "h", "concurrency": threads}}}
        },
        "workload": {"f": {"entry": "p.op", "arrivals": {"poisson": rate}}},
    }
    scenario = load_scenario(document)
    group = analyze(scenario, capacity=False).topics["t"].groups["c"]
    measured = simulate(scenario).model_dump(mode="json", exclude={"replications"})
    wait = measured["topics"]["t"]["groups"]["c"]["waiting_time"]
    gaps = DepartureGaps(((1.0, (HOLDS[hold][1],)),), rate)
    return {
        "hold": hold,
        "rho_p": rho_p,
        "rho_c": rho_c,
        "threads": threads,
        "simulated": wait["mean"],
        "interval": wait["ci95"]["mean"],
        "predicted": group.waiting_time.mean if group.waiting_time else None,
        "renewal": gi_m_c(gaps.laplace, rate, 1.0 / work, threads).mean_waiting_time,
        "poisson": mmc(rate, 1.0 / work, threads).mean_waiting_time,
        "allen_cunneen": gg_c_allen_cunneen(rate, work, threads, gaps.scv, 1.0).mean_waiting_time,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=6)
    parser.add_argument("--duration", type=float, default=300.0)
    arguments = parser.parse_args()
    rows = []
    with ProcessPoolExecutor(2) as pool:
        runs = [(case, arguments.replications, arguments.duration) for case in cases()]
        for row in pool.map(one, *zip(*runs, strict=True)):
            print(json.dumps(row), flush=True)
            rows.append(row)
    simulated = np.array([row["simulated"] for row in rows])
    ratio = np.array([row["rho_p"] / row["rho_c"] for row in rows])
    renewal = np.array([row["renewal"] for row in rows])
    poisson = np.array([row["poisson"] for row in rows])

    def errors(weights: tuple[float, float]) -> Any:
        weight = -np.expm1(-weights[0] * ratio ** weights[1])
        return (weight * renewal + (1 - weight) * poisson - simulated) / simulated

    fitted = least_squares(errors, list(RENEWAL_WEIGHT), bounds=([0, 0], [100, 10])).x
    summary: dict[str, Any] = {"cases": len(rows), "fitted_weight": [round(x, 3) for x in fitted]}
    for name in ("predicted", "renewal", "poisson", "allen_cunneen"):
        relative = [(row[name] - row["simulated"]) / row["simulated"] for row in rows]
        summary[name] = {
            "largest_under": round(min(relative), 4),
            "largest_over": round(max(relative), 4),
            "root_mean_square": round(math.sqrt(sum(x * x for x in relative) / len(rows)), 4),
        }
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
