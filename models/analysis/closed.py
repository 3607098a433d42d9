"""Closed flows (`clients` + `think_time`): exact MVA where the network is product-form,
a closed-loop fixed point over the open model otherwise.

Product form (and so exact MVA, Reiser & Lavenberg 1980) needs: one flow, closed; no
messages, fork-joins, timeouts, retries, other failures or faults, or non-blocking calls on
its way; no request ever
dropped (waiting rooms of at least N); services that hold a worker during calls never queue
(at least N workers per pool, so that holding two resources at once cannot make anyone
wait); and every station where requests do queue serves them in exponential time with one
mean (any distribution is fine at delay stations and for the think time — insensitivity).
Replicas balanced at random are separate stations (probabilistic routing); round-robin and
least-outstanding replicas are pooled (an approximation). Populations above
`MVA_EXACT_LIMIT` use Schweitzer's approximate MVA.

Any other closed flow is solved for its throughput X = N / (Z + R(X)), with R(X) the flow's
response time in the open model at arrival rate X (Brent's method; R grows with X) — the
closed-loop fixed point of the open model, an approximation that is good for large N and
errs on the side of waiting at small N.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from models.analysis.closed_pools import PlacedWaiting, place_waiting, pool_chain, pools_limit
from models.analysis.graph import (
    StationId,
    flow_key,
    one_queue,
    service_keys,
    steps_of,
    workers_of,
)
from models.analysis.moments import waiting_moments
from models.analysis.network import FlowSource, NetworkSolution, solve_network
from models.analysis.summary import NOT_POISSON, StationView
from models.references import walk_steps
from models.schema import CallStep, ParallelStep, Scenario
from models.theory import MVAResult, mva_exact, mva_schweitzer

MVA_EXACT_LIMIT = 2000
"""Above this population exact MVA (O(M N^2) with multi-server stations) gives way to
Schweitzer's approximation."""
RELATIVE_TOLERANCE = 1e-7
ROUNDS = 30


@dataclass
class ClosedResult:
    """Throughput and method of every closed flow, and the network solved at those rates."""

    throughputs: dict[str, float | None]
    methods: dict[str, str]
    exact: dict[str, bool]
    solution: NetworkSolution | None = None
    """The MVA solution (None when the fixed point was used: solve the network again)."""


def closed_source(rate: float, clients: int) -> FlowSource:
    """A closed flow seen as arrivals at its throughput, never more than `clients` at once."""
    return FlowSource(rate=rate, scv=1.0, flag=NOT_POISSON, population=clients)


def _why_not_product_form(
    scenario: Scenario,
    name: str,
    base: NetworkSolution,
    clients: int,
    capped: dict[str, int] | None = None,
) -> str | None:
    """The reason why closed flow `name` and its stations are not a product-form network
    (see the module docstring), or None when they are (then exact MVA applies). With
    `capped`, the services that hold workers during calls and may queue, in one pool (one
    replica, or replicas sharing their workers), are put there with their workers instead
    of being a reason (`models.analysis.closed_pools` places their waiting)."""
    if len(scenario.workload) != 1:
        return "other flows share the stations"
    if base.failures.reports:
        return "failures, faults or resilience patterns"
    for topic, count in base.traffic.topic_visits.get(name, {}).items():
        if count > 0 and scenario.topics[topic].subscribers:
            return "its requests publish messages"
    for key in base.keys:
        for _, step in walk_steps(steps_of(scenario, key), ""):
            if isinstance(step, ParallelStep):
                return "fork-join is not product-form"
            if isinstance(step, CallStep) and (step.call.timeout or step.call.retries):
                return "timeouts and retries"
    for service_name in base.services:
        members = service_keys(base.keys, service_name)
        if not members:
            continue
        spec = scenario.services[service_name]
        if spec.unlimited:
            continue
        workers = workers_of(spec) or 0
        pooled = one_queue(spec)
        servers = workers * spec.replicas if pooled else workers
        if spec.queue_capacity is not None:
            room = spec.queue_capacity * (spec.replicas if pooled else 1)
            if servers + room < clients:
                return f"service '{service_name}' may drop requests"
        calls = any(base.summaries[k].calls for k in members)
        if calls and not spec.blocking_calls:
            return f"service '{service_name}' makes non-blocking calls"
        if calls and servers < clients:
            if capped is None or not pooled:
                return f"service '{service_name}' holds workers during calls and may queue"
            capped[service_name] = servers
    return None


@dataclass
class _MvaNetwork:
    """The closed network as MVA sees it: one station per server pool, in order."""

    demands: list[float] = field(default_factory=list)
    """Service demand of each station per request of the flow (seconds)."""
    servers: list[int | None] = field(default_factory=list)
    """Servers of each station (None: a delay station)."""
    owners: list[str | None] = field(default_factory=list)
    """The service of each station (None: the clients' own steps)."""
    exact: bool = True
    """False when pooled replicas or holding times of several means make MVA approximate."""

    def add(self, demand: float, servers: int | None, owner: str | None) -> None:
        self.demands.append(demand)
        self.servers.append(servers)
        self.owners.append(owner)


def _mva_network(
    scenario: Scenario, name: str, base: NetworkSolution, unlimited: Collection[str] = ()
) -> _MvaNetwork:
    """The stations of closed flow `name` with their demands (visits x own time per visit);
    the services `unlimited` as if they had unlimited workers (delay stations)."""
    clients = scenario.workload[name].clients
    assert clients is not None
    visits = base.traffic.visits[name]
    network = _MvaNetwork()
    for service_name in base.services:
        members = service_keys(base.keys, service_name)
        count = math.fsum(visits.get(k, 0.0) for k in members)
        demand = math.fsum(visits.get(k, 0.0) * base.summaries[k].own.mean for k in members)
        if count <= 0 or demand <= 0:
            continue
        spec = scenario.services[service_name]
        pools = 1
        pool_servers: int | None = None
        if not spec.unlimited and service_name not in unlimited:
            workers = workers_of(spec) or 0
            if spec.balancing == "random" and spec.replicas > 1:
                pools, pool_servers = spec.replicas, workers
            else:
                pool_servers = workers * spec.replicas
                if not one_queue(spec) and pool_servers < clients:
                    network.exact = False
            if pool_servers < clients:
                means = {base.summaries[k].exponential_mean for k in members if visits.get(k)}
                if len(means) != 1 or None in means:
                    network.exact = False
        for _ in range(pools):
            network.add(demand / pools, pool_servers, service_name)
    client_time = base.summaries[flow_key(scenario, name)].own.mean
    if client_time > 0:
        network.add(client_time, None, None)
    return network


def _mva_views(
    scenario: Scenario,
    name: str,
    base: NetworkSolution,
    network: _MvaNetwork,
    result: MVAResult,
    method: str,
    exact: bool,
    placed: PlacedWaiting | None = None,
) -> dict[StationId, StationView]:
    """Every service's waiting time and utilization as MVA found them (or, for those in
    `placed`, as thread pools' caps place them)."""
    flow = scenario.workload[name]
    clients = flow.clients
    assert clients is not None
    visits = base.traffic.visits[name]
    views: dict[StationId, StationView] = {}
    for service_name in dict.fromkeys(o for o in network.owners if o is not None):
        indices = [i for i, owner in enumerate(network.owners) if owner == service_name]
        members = service_keys(base.keys, service_name)
        count = math.fsum(visits.get(k, 0.0) for k in members)
        residence = math.fsum(result.station_residence_times[i] for i in indices)
        demand = math.fsum(network.demands[i] for i in indices)
        waiting = max((residence - demand) / count, 0.0)
        utilization = max(result.station_utilizations[i] for i in indices)
        queueing = any(
            (servers := network.servers[i]) is not None and servers < clients for i in indices
        )
        if placed is not None and service_name in placed.waiting:
            waiting = placed.waiting[service_name]
            utilization = placed.utilization.get(service_name, utilization)
            queueing = True
        views[StationId("service", service_name)] = StationView(
            waiting={flow.priority: waiting_moments(waiting, max(utilization, 1e-9))},
            exact=exact,
            method=method if queueing else "delay (never queues: workers >= clients)",
            input_flag=NOT_POISSON,
            departure_flag=NOT_POISSON,
            utilization=utilization,
        )
    return views


def solve_by_mva(scenario: Scenario, name: str) -> ClosedResult | None:
    """Exact (or Schweitzer) MVA for a lone closed flow on a product-form network, else None."""
    flow = scenario.workload[name]
    assert flow.clients is not None
    clients = flow.clients
    think = flow.think_time.mean if flow.think_time is not None else 0.0
    base = solve_network(scenario, {name: closed_source(1.0, clients)}, fixed_views={})
    capped: dict[str, int] = {}
    if _why_not_product_form(scenario, name, base, clients, capped) is not None:
        return None
    chain = pool_chain(scenario, name, base, list(capped)) if capped else []
    if chain is None:
        return None
    network = _mva_network(scenario, name, base, unlimited=chain)
    if think == 0 and not network.demands:
        return ClosedResult({name: None}, {name: "closed loop with zero cycle time"}, {name: False})
    mva = mva_schweitzer if clients > MVA_EXACT_LIMIT else mva_exact
    result = mva(network.demands, think, clients, network.servers)
    method = (
        result.method if network.exact else f"{result.method} (approximation: not product-form)"
    )
    exact = network.exact and result.exact
    if chain and pools_limit(network.demands, network.servers, network.owners, chain, capped):
        return None
    placed = None
    if chain:
        visits = base.traffic.visits[name]
        per_service = {
            service: math.fsum(visits.get(k, 0.0) for k in service_keys(base.keys, service))
            for service in dict.fromkeys(o for o in network.owners if o is not None)
        }
        placed = place_waiting(
            network.demands, network.servers, network.owners, result, chain, capped, per_service
        )
        method = f"{method}, thread pools as delays, their waiting placed by their caps"
        exact = False
    views = _mva_views(scenario, name, base, network, result, method, exact, placed)
    solution = solve_network(
        scenario, {name: closed_source(result.throughput, clients)}, fixed_views=views
    )
    for station_id, view in views.items():
        station = solution.services[station_id.name]
        station.solution = dataclasses.replace(
            station.solution,
            method=view.method,
            exact=exact,
            stable=True,
            saturated=False,
            loss=0.0,
            p_wait=None,
            waiting=dict(view.waiting),
        )
    return ClosedResult({name: result.throughput}, {name: method}, {name: exact}, solution)


def _response_time(
    scenario: Scenario, sources: Mapping[str, FlowSource], name: str, rate: float
) -> float:
    clients = scenario.workload[name].clients
    assert clients is not None
    trial = {**sources, name: closed_source(rate, clients)}
    solution = solve_network(scenario, trial)
    return solution.summaries[flow_key(scenario, name)].response.mean


def _solve_one(scenario: Scenario, sources: Mapping[str, FlowSource], name: str) -> float | None:
    """The throughput X with X (Z + R(X)) = N for closed flow `name`, others fixed.

    g(X) = X (Z + R(X)) - N grows with X (R does), from -N at no load to at least 0 at
    N / (Z + R(0)); its root is found by Brent's method (`scipy.optimize.brentq`: inverse
    quadratic interpolation safeguarded by bisection, to `RELATIVE_TOLERANCE`), where
    plain bisection took a solve of the network for each of its 20-odd halvings (two closed
    flows at one pool: 677 solves, 4.1 s, then 253 and 1.6 s, the throughputs the same to
    3e-8). An unstable network (R infinite) counts as g = N: above the root."""
    from scipy.optimize import brentq

    flow = scenario.workload[name]
    assert flow.clients is not None
    clients = flow.clients
    think = flow.think_time.mean if flow.think_time is not None else 0.0
    responses = {0.0: _response_time(scenario, sources, name, 0.0)}
    cycle = think + responses[0.0]
    if not math.isfinite(cycle):
        return 0.0
    if cycle <= 0:
        return None
    high = clients / cycle

    def excess(rate: float) -> float:
        if rate not in responses:  # (the ends are asked for twice)
            responses[rate] = _response_time(scenario, sources, name, rate)
        response = responses[rate]
        return rate * (think + response) - clients if math.isfinite(response) else clients

    if excess(high) <= 0.0:
        return high
    root = brentq(excess, 0.0, high, xtol=RELATIVE_TOLERANCE * high, rtol=RELATIVE_TOLERANCE)
    return float(root)


def solve_closed(
    scenario: Scenario, open_sources: Mapping[str, FlowSource], closed: list[str]
) -> ClosedResult:
    """Throughputs of the closed flows `closed`, with the open flows arriving as given."""
    if len(closed) == 1 and not open_sources:
        by_mva = solve_by_mva(scenario, closed[0])
        if by_mva is not None:
            return by_mva
    rates: dict[str, float | None] = dict.fromkeys(closed, 0.0)
    for _ in range(ROUNDS):
        before = dict(rates)
        for name in closed:
            sources = {**open_sources}
            for other in closed:
                clients = scenario.workload[other].clients
                assert clients is not None
                if other != name:
                    sources[other] = closed_source(rates[other] or 0.0, clients)
            rates[name] = _solve_one(scenario, sources, name)
        if all(
            (a is None and b is None)
            or (a is not None and b is not None and math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12))
            for a, b in ((before[n], rates[n]) for n in closed)
        ):
            break
        if len(closed) == 1:
            break
    method = "closed-loop fixed point X = N / (Z + R(X)) over the finite-source network model"
    return ClosedResult(rates, dict.fromkeys(closed, method), dict.fromkeys(closed, False))
