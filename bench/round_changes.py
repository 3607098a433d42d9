"""Benchmark: how much of each round of `analyze` repeats the round before, counted.

A round of the network's fixed point (`models.analysis.network._round`) summarises every
operation, builds every station's load, solves it and reduces it to the view the next
round reads. A round that recomputed only what changed could skip a station whose inputs
all equal the round before's; this counts, over the rounds after each solve's first (a
solve's first round starts from another solve's views), how often the pieces come out the
same as in the round before of the same solve:

- `services`: the reached services' stations, with `same_load` (an equal `StationLoad`)
  and `same_solution` (an equal `StationSolution`, after the thread-pool layers);
- `views`: every station's view, with `same_view` (equal);
- `summaries`: the operations' summaries, with `same_summary` (the same object: a summary
  remembered by its inputs, `operations.Evaluator`).

Equal outputs bound what skipping could save from above: a piece can be skipped only
where every input is equal, which is rarer (docs/analysis.md §11.1, Speed, the session of
2026-12-07/08). Counting wraps `_round` for the duration of the run (a benchmark's
instrument, not the library's):

    python3 bench/round_changes.py [--models generated_100 ...]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:  # bench/ is not a package: as a script, this file needs its
    sys.path.append(str(BENCH))  # folder to import its parts

from bench_analyze import MODELS, YARDSTICK  # noqa: E402


def count(path: Path) -> dict[str, int]:
    """The counts of the module docstring for one analysis of the scenario at `path`."""
    import models.analysis.network as network
    from models import analyze, load_scenario

    scenario = load_scenario(path)
    counts: Counter[str] = Counter()
    before: dict[str, Any] = {}
    solve_round = network._round

    def counted_round(*arguments: Any, **options: Any) -> Any:
        current = solve_round(*arguments, **options)
        number = options.get("round_number", arguments[8] if len(arguments) > 8 else 1)
        if number > 1 and before:
            counts["rounds"] += 1
            for name, station in current.services.items():
                if station.load.classes and any(c.arrival_rate for c in station.load.classes):
                    last = before["services"].get(name)
                    counts["services"] += 1
                    counts["same_load"] += last is not None and last.load == station.load
                    counts["same_solution"] += (
                        last is not None and last.solution == station.solution
                    )
            for station_id, view in current.views.items():
                counts["views"] += 1
                counts["same_view"] += before["views"].get(station_id) == view
            for key, summary in current.summaries.items():
                counts["summaries"] += 1
                counts["same_summary"] += before["summaries"].get(key) is summary
        before.update(services=current.services, views=current.views, summaries=current.summaries)
        return current

    network._round = counted_round
    try:
        analyze(scenario)
    finally:
        network._round = solve_round
    return dict(counts)


def main() -> None:
    """Count the chosen models' rounds and print one JSON document."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    choices = [name for name in MODELS if name != YARDSTICK]
    parser.add_argument("--models", nargs="+", choices=choices, help="default: all")
    arguments = parser.parse_args()
    chosen = arguments.models or choices
    with tempfile.TemporaryDirectory() as directory:
        report = {name: count(MODELS[name](Path(directory))) for name in chosen}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
