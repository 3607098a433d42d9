"""Benchmark: the work `analyze` does, counted rather than timed (the machine's speed drifts
by a third within a day; the count does not).

For each model of `bench_analyze.py` (the generated one written into a temporary folder),
in this process: the network solves of the capacity search (`trials`), the rounds of those
solves (`rounds`) and each search's own (`searches`: one per flow, in the workload's order,
then the bottleneck's when there are several flows, as `capacity.solve_capacity` runs
them), and the analysis's CPU seconds in process (for scale only: it drifts). The
searches are told apart by counting `capacity._limit` calls.
`--analysis-root DIR` counts another checkout's analysis (its `models` imported from DIR),
so that a change's effect on the rounds is one command per side:

    python3 bench/analysis_rounds.py [--models generated_100 ...] [--analysis-root DIR]
        [--floor]

`--floor` also counts what each flow's search would cost with its root known (the floor of
any placement of the trials): from the solution at the flows' own rates, as the search
starts, one trial `FLOOR_MARGIN` below the capacity found and one above it (a bracket
inside the search's tolerance). `floor` lists, per flow, the rounds of the two and whether
the upper one saturated (where it does not, the root lies above the capacity reported, within
the tolerance, and a search would need one more trial); `floor_rounds` is the searches'
rounds with each flow's search at the smaller of its own and its floor's.

Counting wraps two functions of `models.analysis.capacity` for the duration of the run,
and `--floor` the package's `solve_capacity` too, to start its trials where the searches
start (a benchmark's instrument, not the library's: the library keeps no counters).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:  # bench/ is not a package: as a script, this file needs its
    sys.path.append(str(BENCH))  # folder to import its parts

from bench_analyze import MODELS, YARDSTICK  # noqa: E402


def _counted(module: Any) -> tuple[list[list[int]], Callable[[], None]]:
    """Wrap `module._limit` and `module.solve_network` (the capacity search's): returns the
    rounds of each search's trials, as they run, and a function that unwraps them."""
    searches: list[list[int]] = []
    limit, solve = module._limit, module.solve_network

    def counted_limit(*arguments: Any, **options: Any) -> Any:
        searches.append([])
        return limit(*arguments, **options)

    def counted_solve(*arguments: Any, **options: Any) -> Any:
        solution = solve(*arguments, **options)
        if searches:
            searches[-1].append(solution.iterations)
        return solution

    module._limit, module.solve_network = counted_limit, counted_solve

    def restore() -> None:
        module._limit, module.solve_network = limit, solve

    return searches, restore


FLOOR_MARGIN = 0.004
"""`--floor`'s trials: this fraction below and above each flow's capacity (a bracket of
0.8%, inside `capacity.RELATIVE_TOLERANCE`'s 1%)."""


def _captured(package: Any) -> tuple[dict[str, Any], Callable[[], None]]:
    """Wrap `package.solve_capacity` (what `analyze` calls): returns the arguments of its
    last call, as they come, and a function that unwraps it."""
    given: dict[str, Any] = {}
    solve = package.solve_capacity

    def captured(scenario: Any, sources: Any, solution: Any = None, memo: Any = None) -> Any:
        given.update(scenario=scenario, sources=sources, solution=solution, memo=memo)
        return solve(scenario, sources, solution, memo)

    package.solve_capacity = captured

    def restore() -> None:
        package.solve_capacity = solve

    return given, restore


def _floor(capacity: Any, given: dict[str, Any], limits: dict[str, float | None]) -> Any:
    """Per flow with a capacity: the rounds of a trial `FLOOR_MARGIN` below it and of one
    above it, both started as its search starts, and whether the upper one saturated."""
    from models.analysis.network import FlowSource

    scenario, sources = given["scenario"], given["sources"]
    solution, memo = given["solution"], given["memo"]
    floors: dict[str, list[Any]] = {}
    for flow, base in sources.items():
        root = limits.get(flow)
        if root is None or not base.rate > 0 or solution is None:
            continue

        def scale(rate: float, flow: str = flow, base: Any = base) -> dict[str, Any]:
            return {**sources, flow: FlowSource(rate, base.scv, base.flag)}

        search = capacity._Search(scenario, scale, capacity._smooth(scenario), climbs=True)
        if memo is not None:
            search.memo = memo.shared()
        search.start, search.origin = solution.round_views, base.rate
        searches, restore = _counted(capacity)
        searches.append([])
        try:
            search.saturated(root * (1.0 - FLOOR_MARGIN))
            above, _ = search.saturated(root * (1.0 + FLOOR_MARGIN))
        finally:
            restore()
        below_rounds, above_rounds = searches[-1]
        floors[flow] = [below_rounds, above_rounds, above]
    return floors


def count(files: dict[str, Path], floor: bool = False) -> dict[str, dict[str, Any]]:
    """Each model's capacity-search work (module docstring)."""
    import models.analysis as package
    import models.analysis.capacity as capacity
    from models import analyze, load_scenario

    report: dict[str, dict[str, Any]] = {}
    for name, path in files.items():
        scenario = load_scenario(path)
        searches, restore = _counted(capacity)
        given, release = _captured(package)
        started = time.process_time()
        try:
            prediction = analyze(scenario)
        finally:
            restore()
            release()
        seconds = time.process_time() - started
        report[name] = {
            "trials": sum(len(search) for search in searches),
            "rounds": sum(sum(search) for search in searches),
            "searches": [sum(search) for search in searches],
            "analysis_cpu_seconds": round(seconds, 3),
        }
        if floor and given:
            limits = {flow: f.max_throughput for flow, f in prediction.flows.items()}
            floors = _floor(capacity, given, limits)
            report[name]["floor"] = floors
            report[name]["floor_rounds"] = _floor_rounds(searches, list(given["sources"]), floors)
    return report


def _floor_rounds(searches: list[list[int]], flows: list[str], floors: dict[str, Any]) -> int:
    """The searches' rounds with each flow's at the smaller of its own and its floor's
    (`capacity.solve_capacity` searches the flows in order, then the bottleneck; one search
    in all where there is one flow)."""
    if len(flows) == 1:
        return sum(sum(search) for search in searches)
    total = sum(sum(search) for search in searches[len(flows) :])  # (the bottleneck's)
    for flow, search in zip(flows, searches, strict=False):
        own = sum(search)
        total += min(own, sum(floors[flow][:2])) if flow in floors else own
    return total


def main() -> None:
    """Count the chosen models' work and print one JSON document."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    choices = [name for name in MODELS if name != YARDSTICK]
    parser.add_argument("--models", nargs="+", choices=choices, help="default: all")
    parser.add_argument("--analysis-root", type=Path, help="checkout whose analysis to count")
    parser.add_argument("--floor", action="store_true", help="searches with their roots known")
    arguments = parser.parse_args()
    root = (arguments.analysis_root or BENCH.parent).resolve()
    sys.path.insert(0, str(root))
    chosen = arguments.models or choices
    with tempfile.TemporaryDirectory() as directory:
        files = {name: MODELS[name](Path(directory)) for name in chosen}
        models = count(files, arguments.floor)
    print(json.dumps({"analysis_root": str(root), "models": models}, indent=2))


if __name__ == "__main__":
    main()
