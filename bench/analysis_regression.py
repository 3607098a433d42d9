"""The analysis regression set: `models.analyze` against long, pinned simulations.

Issue #15 (item 2). Scenarios of the shapes an architect writes (three tiers with thread
pools, open and closed; a forwarding chain; an async publish to consumer pools; a cache
branch; a fork-join; two classes sharing a database; async-I/O services; a one-thread caller
of a one-server callee; realistic call graphs of 20-50 services), each at two loads (about
60% and 95% of its bottleneck's capacity), live in tests/data/analysis_regression/ as YAML
files (a comment on top says what each is and its load). Their simulated means, with 95%
confidence half-widths, are pinned in tests/data/analysis_regression/reference.json.

Modes:

    python3 bench/analysis_regression.py                  # analyze every model, print the table
    python3 bench/analysis_regression.py --json out.json  # ... and write every compared value
    python3 bench/analysis_regression.py --analysis-root /work/before15   # another checkout's
                                                # analyze (run in a subprocess, its path first)
    nice -n 10 python3 bench/analysis_regression.py --simulate --jobs 2 [--sim-root PATH]
                                                # simulate, write reference.json (--only NAME...)
    python3 bench/analysis_regression.py --generate [--force] [--out-dir DIR]
                                                # (re)write the scenario files (into DIR)
    nice -n 10 python3 bench/analysis_regression.py --pilot [--write]   # size the simulations

What is compared (`compared_paths`, `compare_model`): every mean that `analyze` predicts among

    flows.F.response_time.mean
    services.S.response_time.mean, services.S.waiting_time.mean
    topics.T.groups.G.sojourn_time.mean, topics.T.groups.G.waiting_time.mean

with its relative error (analyze - sim) / sim. A value is skipped (and counted as skipped)
when the simulation cannot say much about it:

- a waiting time below 1% of the same entity's simulated response (sojourn) time
  (`NEGLIGIBLE_WAIT`): it is negligible in what a user sees, and its relative error is noise;
- a simulated mean whose 95% half-width is above 5% of the mean at 60% load, 10% at 95%
  (`IMPRECISE`: the rare waits of a lightly used pool, a store that a 2% flow reaches...);
- a service or group that received nothing (no mean at all; consumer-only services).

A value that `analyze` leaves null (the station predicted unstable) while the simulation has
a finite mean counts as an error of 100% (and is listed under the table).

The table prints, per model (scenario file): its load, the busiest station in the simulation
and its utilization, the number of compared and skipped means, the mean and the largest
|relative error| (with where, predicted vs simulated), the mean relative 95% half-width of the
simulated means (the noise floor of the comparison) and the CPU seconds of `analyze` on it.

Scenarios (`--generate`; `SHAPES`): each shape's builder gives its services at nominal rates;
the open flows are then scaled together to 60% and 95% of the capacity that the analysis
predicts (its network solver, bisection on a common factor), or of the capacity found by short
simulations where the two differ much (`Shape.capacity_scale`; a closed shape's clients,
`Shape.clients`); the header comment of each file says which.

Simulations (`--simulate`): each file's `simulation` section (duration and warm-up per
replication, replications, seed) was sized by `--pilot` (short runs: the CPU per simulated
second and the half-widths reached; durations for 1.5% (60%) / 3.5% (95%) at the 90th
percentile of the key values, `key_half_widths`, within a CPU budget, longest cut first). The
simulator is taken from `--sim-root` (default: this checkout); reference.json records its
commit, each model's settings, CPU time and a digest of its document.

This file is the command; the code is in bench/regression_set/ (its docstring lists the
modules: the set's files and compared values, the shapes, the generation, the simulations,
the comparison and the table).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:  # bench/ is not a package: loaded by path (tests), not run
    sys.path.append(str(BENCH))  # as a script, this file needs its folder to import its parts

from regression_set.compare import analyze_elsewhere, analyze_models, compare_all  # noqa: E402
from regression_set.dataset import (  # noqa: E402
    DATA,
    REFERENCE,
    ROOT,
    git_description,
    load_of,
    model_files,
    read_reference,
    scenario_digest,
)
from regression_set.generate import generate  # noqa: E402
from regression_set.pilot import pilot  # noqa: E402
from regression_set.report import errors_document, table  # noqa: E402
from regression_set.simulate import simulate_all  # noqa: E402

__all__ = [
    "REFERENCE",
    "analyze_models",
    "compare_all",
    "load_of",
    "main",
    "model_files",
    "read_reference",
    "scenario_digest",
    "table",
]


def main() -> None:
    """The command: parse the options and run the mode they ask for."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--simulate", action="store_true", help="simulate, write reference.json")
    parser.add_argument("--generate", action="store_true", help="write the scenario files")
    parser.add_argument("--pilot", action="store_true", help="short runs: cost and precision")
    parser.add_argument("--write", action="store_true", help="with --pilot: set the durations")
    parser.add_argument("--budget", type=float, default=1400.0, help="--pilot: CPU seconds")
    parser.add_argument("--force", action="store_true", help="with --generate: overwrite")
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=DATA,
        help="with --generate: the folder to write (default: tests/data/analysis_regression)",
    )
    parser.add_argument("--only", nargs="*", default=[], help="models (file stems or prefixes)")
    parser.add_argument("--jobs", type=int, default=1, help="simulation processes")
    parser.add_argument("--sim-root", help="checkout whose simulator to use")
    parser.add_argument("--analysis-root", help="checkout whose analysis to use")
    parser.add_argument("--json", type=Path, help="write every compared value there")
    parser.add_argument("--analyze-worker", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.analyze_worker:
        predictions = analyze_models(model_files(arguments.only), arguments.analysis_root)
        json.dump(predictions, sys.stdout)
        return
    if arguments.generate:
        generate(arguments.force, arguments.only, arguments.out_dir)
        return
    if arguments.pilot:
        pilot(arguments.only, arguments.sim_root, arguments.jobs, arguments.write, arguments.budget)
        return
    if arguments.simulate:
        simulate_all(arguments.only, arguments.sim_root, arguments.jobs)
        return
    files = model_files(arguments.only)
    reference = read_reference()
    files = [path for path in files if path.stem in reference["models"]]
    root = arguments.analysis_root
    predictions = analyze_elsewhere(files, root) if root else analyze_models(files)
    results = compare_all(reference, predictions)
    analysis = git_description(Path(root).resolve() if root else ROOT)
    changed = " (models/ or sim/ changed since)" if analysis["models_or_sim_changed"] else ""
    simulator = reference["simulator"]
    title = (
        f"analyze ({analysis['root']} at {analysis['commit'][:7]}{changed}) vs simulation "
        f"(reference.json: simulator at {simulator['commit'][:7]}, {reference['created']})"
    )
    print(table(results, title))
    if arguments.json:
        arguments.json.write_text(json.dumps(errors_document(results, analysis["root"]), indent=1))


if __name__ == "__main__":
    main()
