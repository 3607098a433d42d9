"""The building blocks of the regression set's scenario documents, and `Shape`.

Plain dicts in the scenario language (times in milliseconds as the language writes them,
`ms`): distributions (`exp`, `lognormal`, `gamma`), steps (`work`, `call`, `branch`,
`parallel`, `publish`), services (`service`, `store`) and open flows (`open_flow`). A `Shape`
names a builder of such a document; `scenario_document` completes it with a name and a
placeholder simulation section.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def ms(value: float) -> str:
    """A time in milliseconds, as the scenario language writes it."""
    text = f"{value:.6g}"
    return f"{text}ms"


def exp(mean_ms: float) -> dict[str, Any]:
    """An exponential distribution of mean `mean_ms` milliseconds."""
    return {"exponential": ms(mean_ms)}


def lognormal(mean_ms: float, cv: float) -> dict[str, Any]:
    """A lognormal distribution: mean `mean_ms` milliseconds, coefficient of variation `cv`."""
    return {"lognormal": {"mean": ms(mean_ms), "cv": cv}}


def gamma(mean_ms: float, cv: float) -> dict[str, Any]:
    """A gamma distribution: mean `mean_ms` milliseconds, coefficient of variation `cv`."""
    return {"gamma": {"mean": ms(mean_ms), "cv": cv}}


def work(dist: dict[str, Any]) -> dict[str, Any]:
    """A step that holds a worker for a time drawn from `dist`."""
    return {"work": dist}


def call(target: str, probability: float = 1.0) -> dict[str, Any]:
    """A call of `target` (``service`` or ``service.operation``) with `probability`."""
    if probability >= 1.0:
        return {"call": target}
    service, _, operation = target.partition(".")
    body: dict[str, Any] = {"service": service}
    if operation:
        body["operation"] = operation
    body["probability"] = probability
    return {"call": body}


def branch(*options: tuple[float, list[dict[str, Any]]]) -> dict[str, Any]:
    """A step that runs one of `options`, (probability, steps), at random."""
    return {"branch": [{"probability": p, "steps": steps} for p, steps in options]}


def parallel(*branches: list[dict[str, Any]]) -> dict[str, Any]:
    """A fork-join step: every branch's steps at once; it ends with the last."""
    return {"parallel": [list(steps) for steps in branches]}


def publish(topic: str, probability: float = 1.0) -> dict[str, Any]:
    """A step that publishes a message to `topic` (with `probability`) and goes on."""
    if probability >= 1.0:
        return {"publish": topic}
    return {"publish": {"topic": topic, "probability": probability}}


def service(workers: int | str = 1, replicas: int = 1, **operations: Any) -> dict[str, Any]:
    """A service; keyword `_balancing`, `_blocking` set balancing and blocking_calls."""
    spec: dict[str, Any] = {}
    if replicas != 1:
        spec["replicas"] = replicas
    if workers != 1:
        spec["workers"] = workers
    balancing = operations.pop("_balancing", None)
    if balancing:
        spec["balancing"] = balancing
    blocking = operations.pop("_blocking", None)
    if blocking is not None:
        spec["blocking_calls"] = blocking
    spec["operations"] = {name.replace("__", "-"): steps for name, steps in operations.items()}
    return spec


def store(workers: int, dist: dict[str, Any], operation: str = "query") -> dict[str, Any]:
    """A leaf (database, cache) with one operation of one `work` step."""
    return {"workers": workers, "balancing": "shared", "operations": {operation: [work(dist)]}}


def open_flow(entry: str, rate: float) -> dict[str, Any]:
    """An open flow of Poisson arrivals at `rate` per second into `entry`."""
    return {"entry": entry, "arrivals": {"poisson": rate}}


@dataclass(frozen=True)
class Shape:
    """One shape of the regression set: a scenario builder and what it is."""

    name: str
    description: str
    build: Callable[[], dict[str, Any]]
    closed: bool = False
    clients: tuple[int, int] | None = None
    """A closed shape's clients at the two loads, set by simulation (None: the number whose
    predicted peak utilization is nearest the load)."""
    capacity_scale: float = 1.0
    """The simulated capacity relative to the analysis' (measured by short simulations when
    the two differ much), on which the loads are taken."""
    calibration: str = ""
    """How `clients` or `capacity_scale` was measured."""


def scenario_document(shape: Shape, spec: dict[str, Any], name: str = "") -> dict[str, Any]:
    """A complete scenario document (name first, a placeholder simulation section)."""
    return {
        "name": name or shape.name,
        "simulation": {"duration": 100, "warmup": 10, "replications": 2, "seed": 15},
        **spec,
    }


def model_name(shape: Shape, load: float) -> str:
    """The name (and file stem) of `shape` at `load`: ``<shape>_60``."""
    return f"{shape.name}_{round(load * 100)}"
