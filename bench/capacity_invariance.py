"""Benchmark of consistency: the analysis's fixed point settles, and a capacity does not
depend on the load it is searched from.

A flow's `max_throughput` is the rate at which a resource first saturates as that flow
grows, every other flow at its own rate: it cannot depend on the flow's own rate. For
each scenario (the examples, the regression set, and `bench/analysis_fuzz.py`'s generated
architectures), every open flow with Poisson arrivals is analysed at its own rate and at
30% and 3% of it; a flow whose capacities differ by more than twice the search's
tolerance, or a solve that warns that it did not settle, is printed. No simulation: a
few minutes for a hundred seeds.

Why: on 2026-12-07 it found three limit cycles of the model's own rounds (a wait of
microseconds that was rounding, a fan-out's groups and a round-robin pool's scale switched
by hard thresholds) and a join-the-shortest-queue ratio that was rounding, each an
unsettled solve that the capacity search took for saturated (capacities 16% to 137 times
too low), and a search whose lighter trials started from an overloaded solve's views (9%
low; docs/analysis.md sec. 5, 9, 3). What it still finds, 2-4% apart, are pools over a
callee near saturation whose rounds settle on different fixed points from different
starts (seed 3439: a full solve saturates between 192 and 194/s, the searches say 189.5,
196.1 and 194.3/s).

    python3 bench/capacity_invariance.py [--files] [--seeds FIRST LAST] [--fractions 1 0.3 0.03]
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from models import ScenarioError, analyze, load_scenario
from models.analysis.capacity import RELATIVE_TOLERANCE

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:  # (as a script, this file needs its folder to import its parts)
    sys.path.append(str(BENCH))

from analysis_fuzz import architecture, scaled  # noqa: E402

ROOT = BENCH.parent
FILES = [
    *sorted((ROOT / "scenarios").glob("*.yaml")),
    *sorted((ROOT / "tests" / "data" / "analysis_regression").glob("*.yaml")),
]
UNSETTLED = "did not converge"


def _open_flows(document: dict[str, Any]) -> list[str]:
    """The flows with Poisson arrivals at a fixed rate (the ones scaled here)."""
    return [
        name
        for name, flow in document.get("workload", {}).items()
        if isinstance(flow.get("arrivals"), dict)
        and isinstance(flow["arrivals"].get("poisson"), int | float)
        and flow["arrivals"]["poisson"] > 0
    ]


def check(label: str, document: dict[str, Any], fractions: list[float]) -> list[dict[str, Any]]:
    """Each open flow's capacity from each fraction of its own rate, where they disagree or
    a solve did not settle (an empty list when all is well)."""
    found: list[dict[str, Any]] = []
    for flow in _open_flows(document):
        capacities: dict[float, float | None] = {}
        unsettled = []
        for fraction in fractions:
            scaled_document = copy.deepcopy(document)
            scaled_document["workload"][flow]["arrivals"]["poisson"] *= fraction
            prediction = analyze(load_scenario(scaled_document))
            capacities[fraction] = prediction.flows[flow].max_throughput
            if any(UNSETTLED in warning for warning in prediction.warnings):
                unsettled.append(fraction)
        known = [c for c in capacities.values() if c is not None]
        spread = max(known) / min(known) - 1.0 if known and min(known) > 0 else 0.0
        if unsettled or spread > 2 * RELATIVE_TOLERANCE or 0 < len(known) < len(capacities):
            found.append(
                {"scenario": label, "flow": flow, "capacities": capacities, "unsettled": unsettled}
            )
    return found


def documents(files: bool, seeds: tuple[int, int] | None) -> Iterator[tuple[str, dict[str, Any]]]:
    """The scenarios to check: the files, then each seed's two architectures at 80%."""
    if files:
        for path in FILES:
            yield path.name, yaml.safe_load(path.read_text())
    if seeds is not None:
        for seed in range(seeds[0], seeds[1] + 1):
            for deep in (False, True):
                try:
                    built = architecture(seed, deep)
                    document = None if built is None else scaled(built, 0.8)
                except ScenarioError:
                    continue  # (a scenario the generator writes that the loader refuses)
                if document is not None:
                    yield f"seed {seed}{' deep' if deep else ''}", document


def scan(
    found: Callable[[str, dict[str, Any]], list[dict[str, Any]]],
    files: bool,
    seeds: tuple[int, int] | None,
) -> tuple[int, list[dict[str, Any]]]:
    """How many scenarios `documents` gives that load, and what `found` finds in them."""
    checked, results = 0, []
    for label, document in documents(files, seeds):
        try:
            results += found(label, document)
        except ScenarioError:
            continue  # (a scenario the generator writes that the loader refuses)
        checked += 1
    return checked, results


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--files", action="store_true", help="the examples and regression set")
    parser.add_argument("--seeds", type=int, nargs=2, metavar=("FIRST", "LAST"))
    parser.add_argument("--fractions", type=float, nargs="+", default=[1.0, 0.3, 0.03])
    arguments = parser.parse_args()
    seeds = None if arguments.seeds is None else (arguments.seeds[0], arguments.seeds[1])
    checked, disagreements = scan(
        lambda label, document: check(label, document, arguments.fractions),
        arguments.files or seeds is None,
        seeds,
    )
    print(json.dumps({"checked": checked, "disagreements": disagreements}, indent=1))


if __name__ == "__main__":
    main()
