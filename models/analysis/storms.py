"""Timeout storms: a service whose backlog makes every attempt wait longer than its callers'
timeouts, so that every attempt with a timeout fails (and, with retries, is tried again).

**When.** A fault window overloads the service: its attempts per second lambda_w
(retries included, the window's steady state's) reach its capacity mu_w there, and its
callers' calls have a timeout tau. The backlog grows (a fluid model,
`models.analysis.outages`) at lambda - mu_w, lambda the calm load (one attempt per call,
normal operation's) where that alone overloads the service, else lambda_w (the retries of
the first timeouts, which the window's fluctuations start, overload it); from the time it
holds tau mu_w requests, tau mu_w / (lambda - mu_w) after the window opens, a new attempt
waits longer than tau. With a waiting room of K places the backlog stops at K: a wait of
K / mu_w, a storm only where that exceeds tau. After the window the storm goes on where
the backlog would never drain (`outages`' metastability: every call making r + 1 attempts
keeps the service at or above its capacity), up to the end of the run. Where a caller has
a circuit breaker, which may shed the retries and end the storm (not modelled), no storm
is assumed.

**What it fails.** The storm is evaluated as a regime (`models.analysis.regimes`) in which
the service holds a standing backlog: every arrival waits W more (W = K / mu with a room
of K, else the backlog over mu), its wait's law unknown (the gamma fit of the response,
whose P(R > tau) is about 1 where W is well beyond tau). Calls without a timeout wait
through it and succeed; a full room's drops of them are left out (the storm's fresh
arrivals are refused 1 - mu / lambda of the time, counted as normal operation's).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass

from models.analysis.failures import FailureInputs
from models.analysis.graph import StationId
from models.analysis.moments import ZERO, Moments
from models.analysis.network import FlowSource, NetworkSolution
from models.analysis.regimes import Regime, evaluate
from models.analysis.report_stations import executions
from models.analysis.summary import StationView
from models.schema import Scenario


@dataclass(frozen=True)
class Storm:
    """What the callers of a service would offer it if every attempt with a timeout timed
    out (its backlog making every wait longer than the timeout)."""

    offered: float
    """Attempts per second: calls with a timeout r + 1 times each, the others as usual."""
    timeout: float
    """The shortest of those timeouts."""
    breaker: bool
    """Whether some of these calls have a circuit breaker (not modelled)."""


def storm_of(solution: NetworkSolution, name: str) -> Storm | None:
    """The callers of `name` that retry on timeouts (None: no call to it has a timeout)."""
    timed = first = 0.0
    timeout = math.inf
    breaker = False
    for key in solution.keys:
        summary = solution.summaries[key]
        rate = executions(solution, key)
        for target, tally in summary.tallies.items():
            if target.name == name and tally.timeout is not None:
                timed += rate * tally.timed
                first += rate * tally.timed_calls
                timeout = min(timeout, tally.timeout)
                breaker = breaker or any("circuit breaker" in note for note in tally.notes)
    if not math.isfinite(timeout):
        return None
    usual = solution.offered.get(name, 0.0)
    return Storm(max(usual - first, 0.0) + timed, timeout, breaker)


STORM_TO_THE_END = "the storm fails the calls with a timeout to it until the end of the run"
"""What a metastable fault's `method` says where its failures are counted to the end."""


@dataclass(frozen=True)
class Metastable:
    """A backlog that does not drain after a window (`metastable`)."""

    note: str
    """Why (for the fault's `method`)."""
    storm: Storm
    backlog: float
    capacity: float
    """The service's capacity after the window (requests per second)."""


def metastable(
    solution: NetworkSolution, name: str, backlog: float, capacity: float
) -> Metastable | None:
    """Why the `backlog` a window leaves at service `name` (serving `capacity` requests/s
    after it) may never drain (None: it drains): its callers retry on timeouts, the
    backlog makes a new attempt wait longer than the timeout, and every call then making
    r + 1 attempts (each costing the service its work) would offer the service at least
    its capacity (`models.analysis.outages`, Metastability)."""
    storm = storm_of(solution, name)
    if storm is None or capacity <= 0 or not math.isfinite(capacity):
        return None
    if backlog / capacity < storm.timeout or storm.offered < capacity:
        return None
    note = (
        f"metastable: the backlog ({backlog:.4g}) makes attempts wait about "
        f"{backlog / capacity:.3g} s, beyond the {storm.timeout:.3g} s timeout, and "
        f"retrying every call ({storm.offered:.4g}/s) keeps the service at or above its "
        f"capacity ({capacity:.4g}/s): it does not recover"
    )
    if storm.breaker:
        note += " (unless the circuit breaker, not modelled, sheds the retries)"
    else:
        note += f"; {STORM_TO_THE_END}"
    return Metastable(note, storm, backlog, capacity)


def room(scenario: Scenario, name: str) -> float:
    """The waiting places of a service's replicas together (inf: unbounded)."""
    service = scenario.services[name]
    if service.queue_capacity is None:
        return math.inf
    return float(service.queue_capacity * service.replicas)


def storm_onset(
    scenario: Scenario,
    name: str,
    timeout: float,
    arrivals: tuple[float, float],
    capacity: float,
    length: float,
) -> float | None:
    """Seconds after a window opens at which its backlog makes every attempt wait longer
    than `timeout` at service `name`, serving `capacity` requests/s in it (module
    docstring); None when that does not happen within the window's `length` (not
    overloaded, or a waiting room too small for such a wait). `arrivals`: (calm, stormy),
    the attempts per second before any times out (normal operation's) and in the window's
    steady state. The backlog grows at calm - mu where the calm load overloads it, else
    (the window overloaded only by the retries of the first timeouts, which its
    fluctuations start) at stormy - mu."""
    calm, stormy = arrivals
    if not (math.isfinite(capacity) and capacity > 0) or max(calm, stormy) <= capacity:
        return None
    if room(scenario, name) / capacity <= timeout:
        return None
    growth = calm - capacity if calm > capacity else stormy - capacity
    onset = timeout * capacity / growth
    return onset if onset < length else None


def standing_wait(scenario: Scenario, name: str, backlog: float, capacity: float) -> float:
    """The wait a storm's backlog imposes: a full room's K / mu, else `backlog` / mu."""
    return min(room(scenario, name), backlog) / capacity


def with_backlog(solution: NetworkSolution, name: str, wait: float) -> dict[StationId, StationView]:
    """The views of `solution`'s stations with service `name` holding a standing backlog:
    every arrival there (of every priority) waits `wait` more, as its callers see it
    (layered callers' own waits at it, a two-class station's), its wait's law unknown
    (the gamma fit)."""
    views = solution.views
    target = StationId("service", name)
    priorities = {
        key.priority for key in solution.keys if key.kind == "service" and key.name == name
    }
    stormy = dict(views)
    for station, view in views.items():
        if target in view.callee_waiting:
            seen = dict(view.callee_waiting)
            seen[target] += wait
            stormy[station] = dataclasses.replace(view, callee_waiting=seen)
    view = stormy[target]
    split = view.caller_waiting
    stormy[target] = dataclasses.replace(
        view,
        waiting={
            p: Moments(view.waiting.get(p, ZERO).mean + wait, view.waiting.get(p, ZERO).variance)
            for p in priorities | set(view.waiting)
        },
        caller_waiting=None if split is None else (split[0], split[1] + wait, split[2] + wait),
        laws=None,
    )
    return stormy


def window_storm(
    scenario: Scenario,
    solution: NetworkSolution,
    window: NetworkSolution,
    sources: Mapping[str, FlowSource],
    inputs: FailureInputs,
    name: str,
    capacity: float,
    length: float,
) -> tuple[float, Regime] | None:
    """(onset, the storm's regime) where a fault window of `length` s, solved as `window`
    with the failure constants `inputs`, overloads service `name` (serving `capacity`
    requests/s in it) behind calls with a timeout (module docstring); None where it does
    not, or a circuit breaker on those calls may shed them (not modelled). Its backlog
    after the onset is the fluid one's mean there (from tau mu on), the room's at most."""
    storm = storm_of(solution, name)
    if storm is None or storm.breaker:
        return None
    during = window.services[name]
    offered = during.solution.arrival_rate * during.pools
    calm = solution.offered.get(name, 0.0)
    onset = storm_onset(scenario, name, storm.timeout, (calm, offered), capacity, length)
    if onset is None:
        return None
    backlog = storm.timeout * capacity + max(offered - capacity, 0.0) * (length - onset) / 2
    regime = standing_storm(scenario, window, sources, inputs, name, backlog, capacity)
    return None if regime is None else (onset, regime)


def standing_storm(
    scenario: Scenario,
    solution: NetworkSolution,
    sources: Mapping[str, FlowSource],
    inputs: FailureInputs,
    name: str,
    backlog: float,
    capacity: float,
) -> Regime | None:
    """The operations under `inputs` with service `name` holding `backlog` requests
    (serving `capacity` per second): `standing_wait`, `with_backlog`."""
    wait = standing_wait(scenario, name, backlog, capacity)
    return evaluate(scenario, solution, sources, inputs, with_backlog(solution, name, wait))
