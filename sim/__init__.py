"""How an architecture runs: the simpy engine, experiments, results, plots and the CLI.

Three layers, each a subpackage; each imports only the ones below it:

- `sim.engine`: one replication of a scenario (stations, steps, topics, flows, metrics,
  random streams, time series). The only code that imports simpy.
- `sim.experiments`: many replications (executors), sweeps, comparisons, and the
  `Results` they return.
- `sim.presentation`: terminal tables, figures (`sim.presentation.plots`), result files
  and the `archsim` command.

The API notebooks use (docs/architecture.md): `simulate`, `sweep`, `compare`, `Results`,
`plots`. They are loaded on first use (PEP 562 `__getattr__`), so that importing
`sim.presentation.cli` loads no engine, experiments or plots (start-up time of the `archsim`
command, see tests/unit/test_startup.py).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sim.experiments.comparison import Comparison, compare
    from sim.experiments.results import Results
    from sim.experiments.simulation import simulate
    from sim.experiments.sweep import SweepResults, sweep
    from sim.presentation import plots

__all__ = ["Comparison", "Results", "SweepResults", "compare", "plots", "simulate", "sweep"]

_LAZY_EXPORTS = {
    "Comparison": "sim.experiments.comparison",
    "compare": "sim.experiments.comparison",
    "Results": "sim.experiments.results",
    "simulate": "sim.experiments.simulation",
    "SweepResults": "sim.experiments.sweep",
    "sweep": "sim.experiments.sweep",
}


def __getattr__(name: str) -> Any:
    """Import a lazy export on first use and keep it as an attribute of the package."""
    if name == "plots":
        value: Any = importlib.import_module("sim.presentation.plots")
    elif name in _LAZY_EXPORTS:
        value = getattr(importlib.import_module(_LAZY_EXPORTS[name]), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
