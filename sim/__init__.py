"""How an architecture runs: the simpy engine, experiments, results and the CLI."""

from sim.experiment import simulate
from sim.results import Results

__all__ = ["Results", "simulate"]
