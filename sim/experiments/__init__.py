"""Experiments: replications on any executor, sweeps, comparisons, and their results."""
