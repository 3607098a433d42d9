"""How an architecture runs: the simpy engine, experiments, results, plots and the CLI.

Three layers, each a subpackage; each imports only the ones below it:

- `sim.engine`: one replication of a scenario (stations, steps, topics, flows, metrics,
  random streams, time series). The only code that imports simpy.
- `sim.experiments`: many replications (executors), sweeps, comparisons, and the
  `Results` they return.
- `sim.presentation`: terminal tables, figures (`sim.presentation.plots`), result files
  and the `archsim` command.

The API notebooks use (docs/architecture.md): `simulate`, `sweep`, `compare`, `Results`,
`plots`.
"""

from sim.experiments.comparison import Comparison, compare
from sim.experiments.results import Results
from sim.experiments.simulation import simulate
from sim.experiments.sweep import SweepResults, sweep
from sim.presentation import plots

__all__ = ["Comparison", "Results", "SweepResults", "compare", "plots", "simulate", "sweep"]
