"""Thread pools as flow-equivalent servers, in the network: which services' and consumer
groups' pools qualify, their callees as the pool sees them, and the pool's solution (the
flow-equivalent server itself is `models.analysis.layers`).

A pool qualifies when its calls block (consumer threads always do), its waiting room is
unbounded and it has one priority class; its callees count when this service alone calls
them (all their arrivals are its calls), they are one pool, never drop, have no priorities
and are called one at a time without timeouts or retries (in a `parallel` step, beside
branches that queue nowhere: `summary.side_by_side`; an async-I/O callee once per
acquisition, `_at_the_callee`). A callee shared with other
callers is, for the pool, a delay of its open-model response time: its queue is shaped by
all of its traffic, not capped by this pool's threads (modelling it instead as the servers
the others leave, slowed, stretched every call and compounded up deep graphs of small
pools: the Alibaba-like graph of the regression set at 95%, 57.6% -> 22.7%; at 60%, 7.4% ->
2.8%) -- unless the pool brings at least `OWN_SHARE` of its arrivals: then its threads,
held there together when it is slow, set its queue, and the others' load slows its
servers (8 threads over a database of one server that a batch flow brings 7% of: the
pool's wait 2.41 ms predicted, 2.59 ms simulated, 0.24 ms as a delay). From
`SHARED_SHARE` to `OWN_SHARE` of its arrivals (where no other bounded caller is the
callee's two-class station's), the callee is so in the pool's own wait and capacity, but
its waits, as the pool's requests see them, are its own model's (the two-class station
of `models.analysis.mixed_source` and `models.analysis.pool_fed`): a pool of 3 threads
bringing 80% of a one-server database called twice, its flow 46.4 ms predicted, 51.0 ms
simulated, 37.8 ms with the database a delay (`bench/shared_callee.py`: the flows of ten
such shapes from -23..-29% to -2..-16%, the pool's waits from -45..-87% to -15..-48%,
+99% and +26% with regular service; the regression set's means by at most 0.1 point;
at 30%, j5 at 95% went from 8.2% to 18.8%). A callee that
only this pool calls reports the waiting the pool's requests see there
as its own; a callee that is itself such a pool enters with its own X(1..c)
(`Callee.completion_rates`). A one-worker pool whose callees are its alone is an M/G/1
queue exactly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from models.analysis.bounded_pools import scale_callees, split_pool
from models.analysis.excess_pools import BelowMemo, Populations, apply_excess, population_below
from models.analysis.few_present import capped
from models.analysis.graph import OpKey, StationId
from models.analysis.layers import (
    Callee,
    Found,
    Layer,
    LayerCache,
    WeightCache,
    flow_equivalent,
)
from models.analysis.least_outstanding import joined_solution
from models.analysis.moments import Moments, mixture
from models.analysis.pool_solution import pool_solution
from models.analysis.revised import revised
from models.analysis.round_structure import RoundStructure, round_structure
from models.analysis.station_load import ServiceStation, StationLoad, StationSolution
from models.analysis.summary import POISSON, OperationSummary
from models.schema import Scenario

OWN_SHARE = 0.9
"""A callee's waits are the pool's (as its requests see them there) where the pool brings
at least this share of its arrivals."""
SHARED_SHARE = 0.5
"""A callee counts with the pool (its other callers' load slowing its servers) in the
pool's own wait where the pool brings at least this share of its arrivals."""


def _never_drops(callee: ServiceStation) -> bool:
    """True when the callee's waiting room can never fill (unbounded, or larger than the
    most requests that can reach it)."""
    load = callee.load
    if load.room is None:
        return True
    return (
        load.population is not None
        and load.servers is not None
        and load.population <= load.servers + load.room
    )


def find_callees(
    scenario: Scenario,
    members: Sequence[OpKey],
    summaries: Mapping[OpKey, OperationSummary],
    rates: Mapping[OpKey, float],
    services: Mapping[str, ServiceStation],
    replicas: bool = False,
    served: Mapping[OpKey, float] | None = None,
) -> Found | None:
    """(calls per request, time in calls per request) for each eligible callee service, and
    whether every callee is eligible; None when a callee has no steady state (the open model
    then says it all). A callee with replicas, each its own pool, is eligible only with
    `replicas` (the flow-equivalent server takes one pool). `served`: the share of each
    operation's runs that a saturated pool serves, and so of its calls the callees get
    (`models.analysis.throttle`; missing: all)."""
    served = served or {}
    specs = scenario.services
    total = math.fsum([rates.get(k, 0.0) for k in members])
    visits: dict[str, float] = {}
    times: dict[str, float] = {}
    excluded: set[str] = set()
    sent: dict[str, float] = {}
    for key in members:
        summary, rate = summaries[key], rates.get(key, 0.0)
        weight, share = rate / total, served.get(key, 1.0)
        irregular, concurrency, call_times = (
            summary.irregular,
            summary.concurrency,
            summary.call_times,
        )
        for target, count in summary.calls.items():
            name = target.name
            callee = services[name]
            solution = callee.solution
            if not solution.stable:
                return None
            spec = specs[name]
            eligible = (
                not spec.unlimited
                and (callee.pools == 1 or replicas)
                and _never_drops(callee)
                and not callee.load.priority
                and target not in irregular
                and concurrency.get(target, 1) == 1
            )
            if not eligible or solution.arrival_rate <= 0 or solution.offered_load <= 0:
                excluded.add(name)
            held, released = (
                (1.0, 0.0)  # (`_at_the_callee`'s, without looking up its summary)
                if spec.blocking_calls
                else _at_the_callee(scenario, summaries[target])
            )
            visits[name] = visits.get(name, 0.0) + weight * count * held
            sent[name] = sent.get(name, 0.0) + rate * count * held * share
            spent = weight * (call_times.get(target, 0.0) - count * released)
            times[name] = times.get(name, 0.0) + spent
    caller = (members[0].kind, members[0].name) if members else None
    for name, rate in sent.items():  # the callees it brings most of (module docstring)
        callee = services[name]
        if _own_share(rate, callee):
            continue
        arrivals = callee.solution.arrival_rate * callee.pools
        bounded = callee.solution.caller_waiting
        if rate < SHARED_SHARE * arrivals or (bounded is not None and caller not in bounded[0]):
            excluded.add(name)  # (another bounded caller's load is no open background)
    eligible_visits: dict[str, float] = {}
    eligible_times: dict[str, float] = {}
    for name, count in visits.items():
        if count > 0 and name not in excluded:
            eligible_visits[name], eligible_times[name] = count, times[name]
    return eligible_visits, eligible_times, not excluded


def _at_the_callee(scenario: Scenario, callee: OperationSummary) -> tuple[float, float]:
    """(the callee's workers taken per call, the time per call spent away from them) of a
    call to operation `callee`: (1, 0) where its service's calls block; at an async-I/O
    service (`blocking_calls: false`), which releases its worker during its own calls and
    takes one again after each reply, its acquisitions, and the time in its own calls,
    E[execution] - E[holding] - (its waits - 1) E[first wait], the reacquisitions waiting
    as the first acquisition does. The pool's requests queue at the callee once per
    acquisition (each its share of the holding time, the callee's arrivals counting
    acquisitions), and spend the rest of the call elsewhere (in the pool's delay): counted
    per call, with the callee's whole response as the time at it, a callee that publishes
    after a call (a reacquisition) fell below `OWN_SHARE` of its own arrivals and was left
    to the open model (`bench/analysis_fuzz.py` seed 1180 at 70%: the pool's wait 45.4 ms
    predicted, 9.4 ms simulated), and without one the time in its calls was lost."""
    if scenario.services[callee.key.name].blocking_calls:
        return 1.0, 0.0
    first_wait = max(callee.response.mean - callee.execution.mean, 0.0)
    away = callee.execution.mean - callee.holding.mean - (callee.waits - 1.0) * first_wait
    return callee.acquisitions, max(away, 0.0)


def _layered(
    scenario: Scenario, found: Found | None, services: Mapping[str, ServiceStation], pools: int
) -> Found | None:
    """`found` without the callees with replicas, each its own pool, but those that the
    calls of a caller of one pool (`pools`) pick at random: stations of their own in its
    flow-equivalent server (`layers.Callee.copies`). Replicas dealt in turn (round robin)
    are no product form; and a caller's own replicas, each a pool that takes the others'
    calls for an open class at every replica, made such a pool wait longer than the open
    model (fuzz seed 1476: 3 replicas of 4 threads over 3 random replicas of 2 workers,
    the pool's wait 7.94 ms for 4.39 ms simulated, 4.55 ms by the open model)."""
    if found is None:
        return None
    visits, times, every = found
    kept = {
        name: count
        for name, count in visits.items()
        if services[name].pools == 1
        or (pools == 1 and scenario.services[name].balancing == "random")
    }
    return kept, {name: times[name] for name in kept}, every and len(kept) == len(visits)


def apply_layers(
    scenario: Scenario,
    keys: Sequence[OpKey],
    summaries: Mapping[OpKey, OperationSummary],
    rates: Mapping[OpKey, float],
    services: dict[str, ServiceStation],
    known: LayerCache | None = None,
    served: Mapping[OpKey, float] | None = None,
    remembered: BelowMemo | None = None,
    structure: RoundStructure | None = None,
    weights: WeightCache | None = None,
) -> dict[StationId, dict[StationId, float]]:
    """Re-solve every blocking thread pool that calls queueing services as a flow-equivalent
    server; return, per pool, the waiting its requests see at each callee. A callee that only
    this pool calls gets that waiting as its own. `known` holds the flow-equivalent servers
    solved in earlier rounds, by their inputs: as the iteration settles, most pools see the
    same inputs again (their callees have settled), and `flow_equivalent` is most of a
    round's cost; `remembered` and `weights`, likewise, what the populations below the pools
    gave (`excess_pools.BelowMemo`) and the subnetworks' stages' weights
    (`layers.WeightCache`).
    `served`: as `find_callees`'s. `structure`: the services' operations and their order,
    if found before (`models.analysis.round_structure`, from `keys` and `summaries`)."""
    seen_by: dict[StationId, dict[StationId, float]] = {}
    structure = structure or round_structure(scenario, keys, summaries)
    keys_of = structure.service_keys
    opened = {name: station.solution for name, station in services.items()}
    below = Populations(opened) if remembered is None else Populations(opened, memo=remembered)
    for name in structure.order:
        members = keys_of.get(name)
        if members is None:  # (no operation reached: no pool to solve, as `apply_layer` finds)
            continue
        seen = apply_layer(
            scenario, name, members, summaries, rates, services, known, below, served, weights
        )
        if seen is not None:
            seen_by[StationId("service", name)] = seen
    return seen_by


def apply_layer(
    scenario: Scenario,
    name: str,
    keys: Sequence[OpKey],
    summaries: Mapping[OpKey, OperationSummary],
    rates: Mapping[OpKey, float],
    services: dict[str, ServiceStation],
    known: LayerCache | None = None,
    populations: Populations | None = None,
    served: Mapping[OpKey, float] | None = None,
    weights: WeightCache | None = None,
) -> dict[StationId, float] | None:
    """Service `name`'s pool (its operations `keys`) as a flow-equivalent server, if it is a
    blocking thread pool over queueing callees (`apply_layers`): its solution replaces the
    open model's, and the waiting its requests see at each callee is returned. When its
    callees are its own (replicated ones too), the waiting (its own and at its callees) is
    blended with the open model's population below it (`models.analysis.excess_pools`,
    which also takes pools the flow-equivalent server does not); `populations` holds those
    of the pools solved so far, for their callers; `weights`: as `solve_pool`'s."""
    station = services[name]
    load, spec = station.load, scenario.services[name]
    opened = station.solution  # (the open model's: a finite source where few are present)
    if load.servers is None or not spec.blocking_calls or load.room is not None or load.closed:
        return None
    members = [k for k in keys if rates.get(k)]
    if (
        not members
        or (load.priority and len({c.priority for c in load.classes}) > 1)
        or not any(summaries[k].calls for k in members)  # (no callees: nothing below it)
    ):
        return None
    with_replicas = find_callees(
        scenario, members, summaries, rates, services, replicas=True, served=served
    )
    found = _layered(scenario, with_replicas, services, station.pools)
    pool = None
    holding = None  # (the pool's holding time, once needed: `_holding`)
    if found and found[0] and not _one_worker_replicas(load, station):
        rate = math.fsum(rates.get(k, 0.0) for k in members) / station.pools
        sent = rate  # (what reaches its callees: a saturated pool's served share, throttled)
        if served:
            sent = math.fsum(rates.get(k, 0.0) * served.get(k, 1.0) for k in members)
            sent /= station.pools
        holding = _holding(load)
        total = rate * station.pools
        pool = solve_pool(load, rate, total, found, services, known, sent, holding, weights)
    queued = 0.0
    if pool is not None:
        station.solution = pool[0]
        if station.pools == 1 and not pool[0].saturated:
            station.completion_rates = pool[2].completion_rates or None
        queued = 0.0 if pool[2].paced is None else pool[2].paced.queued
    waits = None if pool is None else pool[1]
    if populations is not None and station.solution.stable and with_replicas:
        below = population_below(load, station, with_replicas, services, populations, holding)
        if below is not None:
            holding = below.holding
            waits = apply_excess(station, below, services, populations, waits, queued)
    if pool is not None:  # (least-outstanding replicas as such: the open model's are already)
        station.solution = joined_solution(station.solution, load)
        few = capped(load, station.solution, opened) if station.solution.stable else None
        if few is not None:
            station.solution = few
        elif station.pools == 1 and found:  # (independent bounded callers: `bounded_pools`)
            holding = _holding(load) if holding is None else holding
            rate = station.solution.arrival_rate
            split = split_pool(load, station.solution, pool[2], rate, holding)
            station.solution = split.solution
            scale_callees(split, waits, services, rate, found[0])
    return waits


def solve_pool(
    load: StationLoad,
    rate: float,
    total_rate: float,
    found: Found,
    services: dict[str, ServiceStation],
    known: LayerCache | None,
    sent: float | None = None,
    holding: Moments | None = None,
    weights: WeightCache | None = None,
) -> tuple[StationSolution, dict[StationId, float], Layer] | None:
    """One pool of `load.servers` threads held through its calls (a service's workers, or a
    consumer group's threads), `rate` acquisitions per second,
    solved as a flow-equivalent server over the callees `found`: its solution and the
    waiting its requests see at each callee (None when the model does not apply). A callee
    that only this caller calls (`total_rate`: its acquisitions per second, all pools
    together) gets that waiting as its own. `sent`: the acquisitions per second whose calls
    reach the callees (a saturated pool's served share, where the solve is throttled:
    `models.analysis.throttle`; `rate` if None), so that the others' load at a callee is
    what is left of its own. Also returns the flow-equivalent server. `holding`: the
    pool's holding time (`_holding(load)`), if already found; `weights`: the
    subnetworks' stages' weights solved before (`layers.WeightCache`).

    Where the pool's callers can never have more requests there than it has threads
    (`StationLoad.population`, their workers, clients or consumers), no more are ever busy:
    the flow-equivalent server has that many threads, and the pool never waits
    (`few_present.capped`; at one more, the finite source's wait). A pool of 3 threads
    fed by open arrivals calling one of 8 that calls
    a one-server database at 80%: the database's wait 8.7 ms with 8 threads in the
    subnetwork, 5.3 ms with 3, 4.7 ms simulated; the flow's response 24.2, 20.8 and 20.7 ms
    (`bench/analysis_fuzz.py` seed 1895: its one-worker service +97%, now -25%)."""
    visits, times, _ = found
    holding = _holding(load) if holding is None else holding
    if not holding.finite or load.servers is None:
        return None
    mine_rate = rate if sent is None else sent
    callees = []
    for callee_name, count in visits.items():
        callee_station = services[callee_name]
        solution, callee_load = callee_station.solution, callee_station.load
        offered = solution.offered_load
        per_call = offered / solution.arrival_rate
        servers = callee_load.servers
        assert servers is not None
        copies = callee_station.pools  # (replicas picked at random: `_layered`)
        background = max(offered - mine_rate * count * per_call / copies, 0.0)
        rates = callee_station.completion_rates
        if rates is not None and background > 1e-9 * offered:
            rates = None  # (shared with other callers: its servers, slowed, as below)
        scv = _holding(callee_load).scv
        station_id = StationId("service", callee_name)
        callees.append(Callee(station_id, count, per_call, servers, background, scv, rates, copies))
    delay = max(holding.mean - math.fsum(times.values()), 0.0)
    threads = load.servers  # (never more busy than its callers can have requests there)
    if load.population is not None and load.population < threads:
        threads = max(load.population, 1)
    if known is None:
        layer = flow_equivalent(rate, threads, delay, callees, weights)
    else:
        inputs = (rate, threads, delay, tuple(callees))
        try:  # (one hash of the callees where `in` and then [] took two)
            layer = known[inputs]
        except KeyError:
            layer = known[inputs] = flow_equivalent(rate, threads, delay, callees, weights)
    if layer is None:
        return None
    one_worker = load.servers == 1 and pools_of_one(total_rate, rate)
    reaching = total_rate if sent is None else total_rate * sent / rate if rate > 0 else 0.0
    seen = {}  # (the waits its requests see where it brings `OWN_SHARE` of the arrivals)
    for callee in callees:
        station_id = callee.station
        target = services[station_id.name]
        solution = target.solution
        per_copy = total_rate * callee.visits / callee.copies
        exclusive = math.isclose(solution.arrival_rate, per_copy, rel_tol=1e-9)
        wait = layer.callee_waiting[station_id]
        finite = math.isfinite(wait)
        if exclusive and one_worker:
            target.solution = revised(
                solution,
                method=NEVER_WAITS_METHOD,
                exact=True,
                waiting={p: Moments(0.0, 0.0) for p in solution.waiting},
            )
        elif exclusive and finite:
            target.solution = revised(
                solution,
                method=f"{solution.method}, waiting seen through its callers' thread pool",
                exact=False,
                waiting={p: Moments(wait, wait**2) for p in solution.waiting},
            )
        if finite and _own_share(reaching * callee.visits, target):  # (its arrivals as before)
            seen[station_id] = wait
    solution = pool_solution(load, layer, rate, holding)
    if threads < load.servers:  # (over all its threads)
        solution = revised(solution, utilization=solution.utilization * threads / load.servers)
    if _one_worker_m_g_1(load, callees, found, services):
        solution = revised(solution, method=ONE_WORKER_METHOD, exact=True)
    return solution, seen, layer


def _holding(load: StationLoad) -> Moments:
    """A pool's holding time: its classes' with arrivals, mixed by their rates (found once
    for each pool in a round: `apply_layer` hands it to the parts that read it)."""
    return mixture([(c.arrival_rate, c.holding) for c in load.classes if c.arrival_rate])


def _own_share(sent: float, callee: ServiceStation) -> bool:
    """Whether calls at `sent` per second are at least `OWN_SHARE` of the callee's arrivals
    (all of them, to rounding)."""
    arrivals = callee.solution.arrival_rate * callee.pools
    return sent >= OWN_SHARE * arrivals or math.isclose(arrivals, sent, rel_tol=1e-6)


def _one_worker_replicas(load: StationLoad, station: ServiceStation) -> bool:
    """Whether the service is replicas of one worker each, each its own pool: each is an
    M/G/1 queue whatever its callees (they never see two of its requests), with a holding
    time of the mean and variance its summary gives (the callees' waits included, which
    the other replicas cause), as the open model solves it; the flow-equivalent server
    counts the callees' servers that the other replicas keep busy as slowed, which one
    request at a time never meets (3 replicas of one worker over a database of 2 that they
    share, 64% busy: 21.2 ms of waiting, where the simulation says 13.2 ms (12.5-13.8) and
    M/G/1 12.9 ms; `bench/analysis_fuzz.py` seed 573 at 70%). One pool of one worker has
    its callees to itself (`find_callees`): the flow-equivalent server is that M/G/1
    (`_one_worker_m_g_1`)."""
    return load.servers == 1 and station.pools > 1


NEVER_WAITS_METHOD = "never waits: its only caller is one worker held through its calls"


def pools_of_one(total_rate: float, rate: float) -> bool:
    """Whether the caller is a single pool (its rate is all of its callers' rate)."""
    return math.isclose(total_rate, rate, rel_tol=1e-12)


ONE_WORKER_METHOD = "M/G/1 (Pollaczek-Khinchine): one worker held through its calls"


def _one_worker_m_g_1(
    load: StationLoad,
    callees: Sequence[Callee],
    found: Found,
    services: Mapping[str, ServiceStation],
) -> bool:
    """Whether the pool is exactly an M/G/1 queue: one worker, Poisson arrivals of one
    class whose held time is exact, and callees that only it calls (so they never see two
    of its requests: their service is all of their response) and whose own service times
    are independent from request to request (i.i.d.: no waiting further down) — every
    callee eligible."""
    return (
        load.servers == 1
        and load.input_flag == POISSON
        and len(load.classes) == 1
        and all(c.holding_exact for c in load.classes)
        and found[2]
        and all(
            callee.background == 0.0
            and all(c.iid for c in services[callee.station.name].load.classes)
            for callee in callees
        )
    )
