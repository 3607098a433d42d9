"""How an architecture runs: the simpy engine, experiments, results, plots and the CLI.

The API notebooks use (DESIGN §1): `simulate`, `sweep`, `compare`, `Results`, and `plots`.
"""

from sim import plots
from sim.compare import Comparison, compare
from sim.experiment import simulate
from sim.results import Results
from sim.sweep import SweepResults, sweep

__all__ = ["Comparison", "Results", "SweepResults", "compare", "plots", "simulate", "sweep"]
