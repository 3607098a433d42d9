"""Open Jackson networks: traffic equations plus an independent M/M/c (or M/M/inf) per station."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TypeVar

import numpy as np

from models.theory._checks import require_count, require_nonnegative, require_positive
from models.theory.markovian import mm1, mm_infinity, mmc
from models.theory.prediction import StationPrediction

_ROW_SUM_SLACK = 1e-9
_Value = TypeVar("_Value")


@dataclass(frozen=True, kw_only=True)
class JacksonPrediction:
    """Per-station predictions and network-wide means of an open Jackson network."""

    method: str
    """The model used: ``"Jackson network"``."""
    stations: Mapping[str, StationPrediction]
    """Each station's prediction at its total arrival rate from the traffic equations."""
    visit_ratios: Mapping[str, float]
    """Mean visits per external arrival, lambda_i / sum(gamma) (0 without external traffic)."""
    external_arrival_rate: float
    """Total rate of customers entering the network from outside (per second)."""
    stable: bool
    """True when every station is stable."""
    mean_in_system: float
    """Mean number of customers in the whole network (`math.inf` if unstable)."""
    mean_sojourn_time: float
    """Mean time from entering to leaving the network, by Little's law (seconds)."""


def _checked(
    problems: list[str], check: Callable[[str, _Value], _Value], name: str, value: _Value
) -> _Value | None:
    """Run one argument check, recording its message instead of raising."""
    try:
        return check(name, value)
    except ValueError as error:
        problems.append(str(error))
        return None


def _trapped(names: list[str], transfer: np.ndarray) -> list[str]:
    """Stations from which no routing path leads out of the network."""
    leaves = {i for i in range(len(names)) if transfer[i].sum() < 1.0 - _ROW_SUM_SLACK}
    changed = True
    while changed:
        changed = False
        for i in range(len(names)):
            if i not in leaves and any(transfer[i, j] > 0 for j in leaves):
                leaves.add(i)
                changed = True
    return [names[i] for i in range(len(names)) if i not in leaves]


def _network_arrays(
    external_arrival_rates: Mapping[str, float],
    routing: Mapping[str, Mapping[str, float]],
    service_rates: Mapping[str, float],
    servers: Mapping[str, int | None] | None,
) -> tuple[list[str], list[float], list[int | None], np.ndarray, np.ndarray]:
    """Check the network; return names, service rates, servers, external rates and P.

    Every problem found is reported at once, in one `ValueError`.
    """
    problems: list[str] = []
    names = list(service_rates)
    index = {name: i for i, name in enumerate(names)}
    rates = [
        _checked(problems, require_positive, f"service_rates[{name!r}]", rate)
        for name, rate in service_rates.items()
    ]
    pools: dict[str, int | None] = dict.fromkeys(names, 1)
    for name, count in (servers or {}).items():
        if name not in index:
            problems.append(f"'servers' names unknown station {name!r} (known: {names})")
        elif count is None:
            pools[name] = None
        else:
            pools[name] = _checked(problems, require_count, f"servers[{name!r}]", count)
    external = np.zeros(len(names))
    for name, rate in external_arrival_rates.items():
        path = f"external_arrival_rates[{name!r}]"
        checked = _checked(problems, require_nonnegative, path, rate)
        if name not in index:
            problems.append(f"'{path}' names unknown station {name!r} (known: {names})")
        elif checked is not None:
            external[index[name]] = checked
    transfer = np.zeros((len(names), len(names)))
    for source, targets in routing.items():
        if source not in index:
            problems.append(f"'routing' names unknown station {source!r} (known: {names})")
            continue
        for target, probability in targets.items():
            path = f"routing[{source!r}][{target!r}]"
            if target not in index:
                problems.append(f"'{path}' names unknown station {target!r} (known: {names})")
            elif _checked(problems, require_nonnegative, path, probability) is not None:
                transfer[index[source], index[target]] = probability
        total = float(transfer[index[source]].sum())
        if total > 1.0 + _ROW_SUM_SLACK:
            problems.append(f"'routing[{source!r}]' probabilities must sum to <= 1 (got {total!r})")
    if not problems and (trapped := _trapped(names, transfer)):
        problems.append(f"'routing' must let every customer leave; no way out from {trapped}")
    if problems:
        raise ValueError("jackson_network: " + "; ".join(problems))
    return (
        names,
        [float(rate or 0.0) for rate in rates],
        [pools[name] for name in names],
        external,
        transfer,
    )


def jackson_network(
    external_arrival_rates: Mapping[str, float],
    routing: Mapping[str, Mapping[str, float]],
    service_rates: Mapping[str, float],
    servers: Mapping[str, int | None] | None = None,
) -> JacksonPrediction:
    """Solve an open Jackson network: per-station M/M/c means and the mean sojourn time.

    Assumptions: Poisson external arrivals gamma_i into station i; after service at i a
    customer goes to j with probability routing[i][j] and leaves with the remaining
    probability (rows sum to <= 1, and every station must have a path out); station i has
    `servers[i]` exponential servers of rate mu_i (default 1; `None` = infinite servers),
    FCFS, unbounded waiting rooms. Stations are named by the keys of `service_rates`.

    Formula: the traffic equations lambda = gamma + P^T lambda, solved as
    (I - P^T) lambda = gamma; by Jackson's theorem each station then behaves as an
    independent M/M/c_i queue at rate lambda_i; network L = sum_i L_i and mean sojourn time
    T = L / sum_i gamma_i (Little's law).

    Source: Jackson, "Jobshop-like queueing systems", Management Science 10 (1963);
    Gross & Harris, "Fundamentals of Queueing Theory", 4th ed., sec. 4.2;
    Harchol-Balter, "Performance Modeling and Design of Computer Systems", ch. 18.

    >>> tandem = jackson_network({"a": 0.5}, {"a": {"b": 1.0}}, {"a": 1.0, "b": 1.0})
    >>> tandem.mean_sojourn_time  # two M/M/1 stations with W = 2 each
    4.0
    >>> loop = jackson_network({"a": 0.25}, {"a": {"a": 0.5}}, {"a": 1.0})
    >>> loop.stations["a"].arrival_rate, loop.visit_ratios["a"], loop.mean_sojourn_time
    (0.5, 2.0, 4.0)
    """
    names, rates, pools, external, transfer = _network_arrays(
        external_arrival_rates, routing, service_rates, servers
    )
    arrival = np.maximum(np.linalg.solve(np.eye(len(names)) - transfer.T, external), 0.0)
    predictions: dict[str, StationPrediction] = {}
    for i, name in enumerate(names):
        rate, mu, pool = float(arrival[i]), rates[i], pools[i]
        if pool is None:
            predictions[name] = mm_infinity(rate, mu)
        elif pool == 1:
            predictions[name] = mm1(rate, mu)
        else:
            predictions[name] = mmc(rate, mu, pool)
    total_external = float(external.sum())
    stable = all(p.stable for p in predictions.values())
    in_system = math.fsum(p.mean_in_system for p in predictions.values()) if stable else math.inf
    sojourn = in_system / total_external if total_external > 0 else 0.0
    visits = {
        name: float(arrival[i]) / total_external if total_external > 0 else 0.0
        for i, name in enumerate(names)
    }
    return JacksonPrediction(
        method="Jackson network",
        stations=MappingProxyType(predictions),
        visit_ratios=MappingProxyType(visits),
        external_arrival_rate=total_external,
        stable=stable,
        mean_in_system=in_system,
        mean_sojourn_time=sojourn,
    )
