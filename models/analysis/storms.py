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
of K, which its attempts keep full, else the backlog over mu), its wait's law unknown (the
gamma fit of the response, whose P(R > tau) is about 1 where W is well beyond tau); where
a full room admits the service's capacity, a fresh attempt is refused with probability
1 - u (`Storm.admitted`). Calls without a timeout wait through the backlog and succeed
unless refused.

**What the run's means make of it** (`storm_documents`, mixed into the run's means by
`models.analysis.quasi_static` for the storm's share of the measured period): its callers'
documents from one round solved with the backlog (every call's attempts until it is
refused or its last times out, their time), the service flat out: utilization 1, its
capacity's throughput, the attempts that reach it refused 1 - mu / lambda of the time,
every admitted one waiting W, the backlog in its queue.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass

from models.analysis.failures import FailureInputs
from models.analysis.graph import StationId, flow_key
from models.analysis.moments import ZERO, Moments, mixture
from models.analysis.network import FlowSource, NetworkSolution, solve_network
from models.analysis.quasi_static import Documents, documents_of
from models.analysis.regimes import Regime
from models.analysis.report_flows import FlowInfo
from models.analysis.report_stations import executions
from models.analysis.summary import StationView
from models.analysis.traffic import MessageStormError
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
    calls: float = 0.0
    """Calls per second with a timeout (their first attempts)."""
    timed: float = 0.0
    """Attempts per second of those calls when every one times out."""

    def admitted(self, capacity: float) -> float:
        """u: the probability that a fresh attempt finds a place in a full waiting room
        that admits `capacity` per second. Every admitted attempt with a timeout times
        out and is retried at once; a refused one is refused again on the spot, ending
        its call (`models.analysis.calls`): a call of R = r + 1 attempts is admitted
        u + u^2 + ... + u^R times, the other attempts u times, and all that is admitted
        is served: calls (u + ... + u^R) + others u = capacity (1 where it is less)."""
        attempts = self._attempts()
        others = max(self.offered - self.timed, 0.0)

        def excess(u: float) -> float:
            series = u * (1.0 - u**attempts) / (1.0 - u) if u < 1.0 else attempts
            return self.calls * series + others * u - capacity

        if excess(1.0) <= 0.0:
            return 1.0
        from scipy.optimize import brentq  # (here: not on every command's way in)

        return float(brentq(excess, 0.0, 1.0, xtol=1e-12))

    def _attempts(self) -> float:
        """R: attempts per call with a timeout when every one times out."""
        return self.timed / self.calls if self.calls > 0 else 1.0


def storm_of(solution: NetworkSolution, name: str) -> Storm | None:
    """The callers of `name` that retry on timeouts (None: no call to it has a timeout)."""
    timed = first = calm = 0.0
    timeout = math.inf
    breaker = False
    for key in solution.keys:
        summary = solution.summaries[key]
        rate = executions(solution, key)
        for target, tally in summary.tallies.items():
            if target.name == name and tally.timeout is not None:
                timed += rate * tally.timed
                first += rate * tally.timed_calls
                calm += rate * tally.timed_attempts
                timeout = min(timeout, tally.timeout)
                breaker = breaker or any("circuit breaker" in note for note in tally.notes)
    if not math.isfinite(timeout):
        return None
    usual = solution.offered.get(name, 0.0)  # (attempts: the calm retries included)
    return Storm(max(usual - calm, 0.0) + timed, timeout, breaker, calls=first, timed=timed)


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


def self_sustaining_storms(solution: NetworkSolution) -> list[str]:
    """Warnings for the services whose steady state is stable while a retry storm, once
    started, would sustain itself there: every call with a timeout then makes its r + 1
    attempts (each costing the service its work), which offer it at least its capacity
    (`storm_of`), so the backlog that started it never drains. The steady state is the calm
    one; what starts a storm (a burst, a slow spell: the chance the queue outgrows the
    timeout) is not predicted, only that it does not end by itself (a metastable failure,
    Bronson et al., HotOS 2021). In the simulator, a pool of 2 workers of 20 ms at 35% of
    its capacity, called with a 70 ms timeout and 2 retries on the spot (the storm 1.05
    times its capacity), fell into one within 4 runs of 1,200 s and served 19% of its
    calls; at 1.2 times, an API of 4 workers over a one-server database at 60/s ran calm
    for 4 x 600 s. None where a caller's circuit breaker may shed the retries (not
    modelled), or where the service is not stable anyway."""
    warnings = []
    for name, station in solution.services.items():
        result, servers = station.solution, station.load.servers
        if servers is None or not result.stable or result.arrival_rate <= 0:
            continue
        storm = storm_of(solution, name)
        if storm is None or storm.breaker or storm.timed <= storm.calls:
            continue  # (no timeout, or no retry: a storm needs the retries' load)
        capacity = result.capacity(servers) * station.pools
        if not (math.isfinite(capacity) and storm.offered >= capacity):
            continue
        warnings.append(
            f"service '{name}': a retry storm, once started (attempts waiting beyond the "
            f"{storm.timeout:.3g} s timeout), sustains itself: every call then retrying "
            f"offers it {storm.offered:.4g} attempts/s, {storm.offered / capacity:.2f} times "
            f"its capacity ({capacity:.4g}/s); the prediction is the calm steady state "
            f"(metastable: a burst or a slow spell can tip it, and it does not recover)"
        )
    return warnings


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
    """The wait a storm's backlog imposes: a full room's K / mu (its attempts keep it
    full), else `backlog` / mu."""
    places = room(scenario, name)
    return (places if math.isfinite(places) else backlog) / capacity


def with_backlog(
    solution: NetworkSolution, name: str, wait: float, loss: float = 0.0
) -> dict[StationId, StationView]:
    """The views of `solution`'s stations with service `name` holding a standing backlog:
    every arrival there (of every priority) waits `wait` more, as its callers see it
    (layered callers' own waits at it, a two-class station's), its wait's law unknown
    (the gamma fit), and a fresh arrival is refused with probability `loss` (a full
    waiting room) where that is more than the view's."""
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
        loss=max(view.loss, loss),
    )
    return stormy


@dataclass(frozen=True)
class StormState:
    """A storm as the run's means see it (`storm_documents`)."""

    solution: NetworkSolution
    """One round solved from the stations' views with the backlog (`with_backlog`)."""
    name: str
    wait: float
    """The wait the backlog imposes."""
    capacity: float
    """What the service serves per second, flat out."""
    offered: float
    """Attempts per second that reach it, those refused included."""


def window_storm(
    scenario: Scenario,
    solution: NetworkSolution,
    window: NetworkSolution,
    sources: Mapping[str, FlowSource],
    inputs: FailureInputs,
    name: str,
    capacity: float,
    length: float,
) -> tuple[float, Regime, StormState] | None:
    """(onset, the storm's regime and state) where a fault window of `length` s, solved
    as `window` with the failure constants `inputs`, overloads service `name` (serving
    `capacity` requests/s in it) behind calls with a timeout (module docstring); None
    where it does not, or a circuit breaker on those calls may shed them (not modelled).
    Its backlog after the onset is the fluid one's mean there (from tau mu on), the
    room's at most."""
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
    found = standing_storm(scenario, window, sources, inputs, storm, (name, backlog, capacity))
    return None if found is None else (onset, *found)


def standing_storm(
    scenario: Scenario,
    solution: NetworkSolution,
    sources: Mapping[str, FlowSource],
    inputs: FailureInputs,
    storm: Storm,
    where: tuple[str, float, float],
) -> tuple[Regime, StormState] | None:
    """The operations under `inputs` with service `name` holding `backlog` requests
    (serving `capacity` per second; `where` = (name, backlog, capacity)): `standing_wait`,
    `with_backlog`; a full room refuses a fresh attempt with probability 1 - u
    (`Storm.admitted`). One round solved from those views gives both the flows' failures
    (the regime) and the storm's state for the run's means; None where its traffic
    equations diverge."""
    name, backlog, capacity = where
    wait = standing_wait(scenario, name, backlog, capacity)
    admitted = storm.admitted(capacity) if math.isfinite(room(scenario, name)) else 1.0
    views = with_backlog(solution, name, wait, 1.0 - admitted)
    try:  # (one round from the storm's views: its failures, and its documents')
        state = solve_network(scenario, sources, views, inputs=inputs)
    except MessageStormError:
        return None
    fails = {flow: state.summaries[flow_key(scenario, flow)].fail for flow in sources}
    return Regime(fails, state.traffic.rates), StormState(
        state, name, wait, capacity, storm.offered
    )


def storm_documents(
    scenario: Scenario, state: StormState, infos: Mapping[str, FlowInfo], failing: bool
) -> Documents:
    """What the prediction reports of a storm: its one round's documents
    (`documents_of`: the callers' calls failing, their time), the service flat out with
    its room full: utilization 1, throughput its capacity, the attempts that reach it
    refused 1 - capacity / offered of the time, every admitted one waiting the backlog's
    wait, its queue the backlog, and its servers busy."""
    documents = documents_of(scenario, state.solution, infos, failing)
    service = documents.services[state.name]
    station = state.solution.services[state.name]
    own = mixture((c.arrival_rate, c.holding) for c in station.load.classes).mean
    queue = state.wait * state.capacity
    service.arrival_rate = state.offered
    service.throughput = state.capacity
    service.utilization = 1.0
    refused = 1.0 - state.capacity / state.offered if state.offered > 0 else 0.0
    service.loss_probability = max(refused, 0.0)
    service.p_wait = 1.0
    service.waiting_time.mean = state.wait
    service.response_time.mean = state.wait + own
    service.queue_length.mean = queue
    service.in_system.mean = queue + (station.load.servers or 0) * station.pools
    service.stable = True
    return documents


def piece_storm(
    scenario: Scenario,
    solution: NetworkSolution,
    sources: Mapping[str, FlowSource],
    length: float,
    ongoing: str | None,
) -> StormState | None:
    """A timeout storm through a rate piece of `length` s (`models.analysis.pointwise`),
    solved as `solution`: at the one station it saturates, a service behind calls with a
    timeout whose full room makes every attempt wait longer than the timeout; or at
    `ongoing` (the service of a storm in the piece before), where its callers' retries
    keep it at or above its capacity (metastable: `metastable`). None otherwise (no
    storm, or one a circuit breaker may shed). Its onset and its end's drain are left
    out: the piece is in the storm throughout."""
    saturated = solution.saturated()
    if ongoing is None:
        if len(saturated) != 1 or saturated[0].kind != "service":
            return None
        name = saturated[0].name
    elif any(station.name != ongoing for station in saturated):
        return None
    else:
        name = ongoing
    storm = storm_of(solution, name)
    station = solution.services[name]
    servers = station.load.servers
    if storm is None or storm.breaker or servers is None:
        return None
    capacity = station.solution.capacity(servers) * station.pools
    if not math.isfinite(capacity) or storm.offered < capacity:
        return None
    places = room(scenario, name)
    backlog = places if math.isfinite(places) else (storm.offered - capacity) * length / 2
    if backlog / capacity <= storm.timeout:
        return None
    where = (name, backlog, capacity)
    found = standing_storm(scenario, solution, sources, solution.failures, storm, where)
    return None if found is None else found[1]
