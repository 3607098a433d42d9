"""Shared fixtures of the tests of the `archsim` command against user mistakes and
interruptions (tests/e2e/test_cli_hardening_*.py): `TINY`, a small scenario with a variant,
written by `write_tiny`, and `refuse_simulation`, which fails a test if anything is
simulated. A module registers the ones it uses as fixtures:
``tiny = pytest.fixture(write_tiny, name="tiny")``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import sim.experiments.comparison
import sim.experiments.simulation
import sim.experiments.sweep

ROOT = Path(__file__).resolve().parents[2]

TINY = """
name: tiny
simulation: {duration: 20s, warmup: 2s, replications: 2, seed: 5}
services:
  api:
    workers: 2
    operations:
      get: [{work: {lognormal: {mean: 20ms, cv: 1.2}}}, {call: db}]
  db:
    workers: 4
    operations:
      read: [{work: {exponential: 8ms}}]
workload:
  users: {entry: api.get, arrivals: {poisson: 30/s}}
variants:
  faster-db: {services.db.operations.read: [{work: {exponential: 4ms}}]}
"""


def write_tiny(tmp_path: Path) -> Path:
    """`TINY` written to tiny.yaml in the test's folder (the `tiny` fixture)."""
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return path


def refuse_simulation(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail the test if anything is simulated. `run_all` is refused where sweeps and
    comparisons hold it too: imported here first, they hold the real one, which a sweep
    test after this one needs (imported first under this fixture, they kept the refusal:
    `-k sweep` failed `test_sweep_values_take_units`)."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the simulation ran")

    monkeypatch.setattr(sim.experiments.simulation, "simulate", refuse)
    for module in (sim.experiments.simulation, sim.experiments.sweep, sim.experiments.comparison):
        monkeypatch.setattr(module, "run_all", refuse)
    yield
