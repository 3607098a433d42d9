"""What an architecture is: the scenario language, distributions and queueing theory.

Pure Python (no simpy, no matplotlib). The way in is `load_scenario`.

The exports are loaded on first use (PEP 562 `__getattr__`): `from models import
ScenarioError` loads no pydantic, and `from models import load_scenario` no queueing theory
(start-up time of the `archsim` command, see tests/unit/test_startup.py).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from models.errors import Problem, ScenarioError

if TYPE_CHECKING:
    from models.analysis import Prediction, analyze
    from models.loading import load_scenario
    from models.schema import Scenario

__all__ = ["Prediction", "Problem", "Scenario", "ScenarioError", "analyze", "load_scenario"]

_LAZY_EXPORTS = {
    "Prediction": "models.analysis",
    "analyze": "models.analysis",
    "load_scenario": "models.loading",
    "Scenario": "models.schema",
}


def __getattr__(name: str) -> Any:
    """Import a lazy export on first use and keep it as an attribute of the package."""
    module_name = _LAZY_EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
