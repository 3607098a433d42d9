"""Benchmark of consistency: a flow's predicted latency-vs-load curve never falls.

Users plot a flow's response time against its load; a prediction that drops as the load
grows is a defect of the model, not of the system. For each scenario with one open flow
(Poisson arrivals at a fixed rate; the examples, the regression set and
`bench/analysis_fuzz.py`'s generated architectures, as `capacity_invariance.py` reads them),
the flow's predicted mean response is computed at `--points` loads from 2.5% to 97.5% of
its `max_throughput`, and every step where it falls by more than 0.1% is printed. No
simulation: a few minutes for the files.

Why: on 2026-12-07 it found a flow whose response rose from 15.8 to 18.1 ms at 22.5% of
its capacity and fell back at 23% (fuzz seed 1537: a finite-source wait of rounding over a
probability of waiting of 1e-34, whose variance a fork-join above it took as real;
docs/analysis.md sec. 3). What it still finds: a station that changes method as the load
grows (seed 3019, 4% down at 5-7% of its capacity; docs/analysis.md sec. 12).

    python3 bench/latency_curves.py [--seeds FIRST LAST] [--points 39]
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from itertools import pairwise
from pathlib import Path
from typing import Any

from models import analyze, load_scenario

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:  # (as a script, this file needs its folder to import its parts)
    sys.path.append(str(BENCH))

from capacity_invariance import scan  # noqa: E402

FALL = 1e-3
"""The relative fall of the response between two loads that is reported."""


def falls(label: str, document: dict[str, Any], points: int) -> list[dict[str, Any]]:
    """Where the one open flow's predicted response falls as its load grows (empty where it
    never does, or where the scenario has other flows or no capacity)."""
    flows = document.get("workload", {})
    if len(flows) != 1 or document.get("faults"):
        return []
    name, flow = next(iter(flows.items()))
    arrivals = flow.get("arrivals")
    if not (isinstance(arrivals, dict) and isinstance(arrivals.get("poisson"), int | float)):
        return []
    capacity = analyze(load_scenario(document)).flows[name].max_throughput
    if not capacity:
        return []
    curve = []
    for step in range(1, points + 1):
        share = step / (points + 1)
        scaled = copy.deepcopy(document)
        scaled["workload"][name]["arrivals"]["poisson"] = capacity * share
        response = analyze(load_scenario(scaled), capacity=False).flows[name].response_time
        curve.append((share, response.mean))
    return [
        {"scenario": label, "flow": name, "from": [a, ra], "to": [b, rb]}
        for (a, ra), (b, rb) in pairwise(curve)
        if ra is not None and rb is not None and rb < ra * (1.0 - FALL)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs=2, metavar=("FIRST", "LAST"))
    parser.add_argument("--points", type=int, default=39)
    arguments = parser.parse_args()
    seeds = None if arguments.seeds is None else (arguments.seeds[0], arguments.seeds[1])
    checked, found = scan(
        lambda label, document: falls(label, document, arguments.points), seeds is None, seeds
    )
    print(json.dumps({"checked": checked, "falls": found}, indent=1))


if __name__ == "__main__":
    main()
