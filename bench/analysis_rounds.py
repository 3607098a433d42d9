"""Benchmark: the work `analyze` does, counted rather than timed (the machine's speed drifts
by a third within a day; the count does not).

For each model of `bench_analyze.py` (the generated one written into a temporary folder),
in this process: the network solves of the capacity search (`trials`), the rounds of those
solves (`rounds`) and each search's own (`searches`: the bottleneck's first when there are
several flows, then one per flow), and the analysis's CPU seconds in process (for scale
only: it drifts). The searches are told apart by counting `capacity._limit` calls.
`--analysis-root DIR` counts another checkout's analysis (its `models` imported from DIR),
so that a change's effect on the rounds is one command per side:

    python3 bench/analysis_rounds.py [--models generated_100 ...] [--analysis-root DIR]

Counting wraps two functions of `models.analysis.capacity` for the duration of the run (a
benchmark's instrument, not the library's: the library keeps no counters).
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


def count(files: dict[str, Path]) -> dict[str, dict[str, Any]]:
    """Each model's capacity-search work (module docstring)."""
    import models.analysis.capacity as capacity
    from models import analyze, load_scenario

    report: dict[str, dict[str, Any]] = {}
    for name, path in files.items():
        scenario = load_scenario(path)
        searches, restore = _counted(capacity)
        started = time.process_time()
        try:
            analyze(scenario)
        finally:
            restore()
        seconds = time.process_time() - started
        report[name] = {
            "trials": sum(len(search) for search in searches),
            "rounds": sum(sum(search) for search in searches),
            "searches": [sum(search) for search in searches],
            "analysis_cpu_seconds": round(seconds, 3),
        }
    return report


def main() -> None:
    """Count the chosen models' work and print one JSON document."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    choices = [name for name in MODELS if name != YARDSTICK]
    parser.add_argument("--models", nargs="+", choices=choices, help="default: all")
    parser.add_argument("--analysis-root", type=Path, help="checkout whose analysis to count")
    arguments = parser.parse_args()
    root = (arguments.analysis_root or BENCH.parent).resolve()
    sys.path.insert(0, str(root))
    chosen = arguments.models or choices
    with tempfile.TemporaryDirectory() as directory:
        files = {name: MODELS[name](Path(directory)) for name in chosen}
        models = count(files)
    print(json.dumps({"analysis_root": str(root), "models": models}, indent=2))


if __name__ == "__main__":
    main()
