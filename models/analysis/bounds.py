"""Bounded callers: the most requests that can be present at each service at once.

Where only bounded populations reach a service (a closed flow's clients, blocking callers'
workers, consumer threads), that bound makes it a finite-source station
(`models.analysis.loads` puts it in the service's `StationLoad.population`). Where one
bounded caller (a closed flow with few clients, a blocking service with few workers)
brings much of a service's load among other arrivals, its bound makes that part
finite-source (`StationLoad.bounded`, `models.analysis.mixed_source`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Protocol

from models.analysis.caller_graph import Caller, CallerGraph, CallerShape
from models.analysis.graph import OpKey, active_threads, consumer_threads, steps_of, workers_of
from models.analysis.mixed_source import MAX_PHASES, MAX_STATES, BoundedCaller, phases
from models.analysis.moments import Moments, mixture
from models.analysis.pool_fed import Feeder, same_mean
from models.analysis.summary import OperationSummary
from models.schema import BranchStep, CallStep, ParallelStep, Scenario, Step

OPEN_SHARE = 0.1
"""The share of a station's arrivals that bounded callers taken together leave open
(`_merged`): the two-class chain needs an open class, and with none the station is the
finite-source model's (`StationLoad.population`) or the open one's."""


class BoundedSource(Protocol):
    """What the bounds read of a flow's arrivals (`network.FlowSource`): how many of its
    requests can be in the system at once (a closed flow's clients; None: unbounded)."""

    @property
    def population(self) -> int | None: ...


class CallerBounds:
    """The most requests that can be present at each service at once, when bounded.

    A node can have at most as many executions in progress as the place running it allows:
    a closed flow's clients; a service's workers when its calls block (only requests in
    service make calls); the consumer threads of a group; and never more than its own
    callers can have started, which is all that bounds an operation of an unlimited or
    non-blocking service. The bound of what arrives — at an operation, or at a service
    over all its operations — is the sum over the nodes calling it of their bounds times
    the calls one execution can have in flight at once (parallel branches); any unbounded
    caller (an open flow) makes it unbounded.
    The *closed* bound counts only closed flows' clients (None unless every request at the
    service comes from closed flows, synchronously).
    """

    def __init__(
        self,
        scenario: Scenario,
        sources: Mapping[str, BoundedSource],
        summaries: Mapping[OpKey, OperationSummary],
        rates: Mapping[OpKey, float],
        in_flight: dict[tuple[OpKey, str | OpKey], int] | None = None,
        graph: CallerGraph | None = None,
    ) -> None:
        self.scenario = scenario
        self.sources = sources
        self.summaries = summaries
        self.rates = rates
        self.in_flight = {} if in_flight is None else in_flight
        """`calls_in_flight` of a node to a service or to one operation, by (node, service
        name or operation): the scenario's structure, the same in every round (a
        dictionary kept from round to round)."""
        if graph is None:
            graph = CallerGraph(summaries, rates, self._in_flight)
        self.graph = graph
        """Who calls what (`CallerGraph`): given, where the round before had this traffic."""
        self.callers = graph.callers
        self.op_callers = graph.op_callers
        self.known: dict[str, tuple[int | None, int | None]] = {}
        self.known_operations: dict[OpKey, tuple[int | None, int | None]] = {}
        if graph.acyclic:  # (the same from round to round: `CallerGraph.known`)
            self.known, self.known_operations = graph.known, graph.known_operations
        self.visiting: set[str | OpKey] = set()

    def _in_flight(self, source: OpKey, target: str | OpKey) -> int:
        """`calls_in_flight` of node `source` to `target` (a service, or one operation),
        found once."""
        known = self.in_flight.get((source, target))
        if known is None:
            steps = steps_of(self.scenario, source)
            if isinstance(target, OpKey):
                known = calls_in_flight(steps, target.name, self.scenario, target.operation)
            else:
                known = calls_in_flight(steps, target)
            self.in_flight[(source, target)] = known
        return known

    def node(self, key: OpKey) -> tuple[int | None, int | None]:
        """(bound, closed bound) of the executions of `key` in progress at once."""
        if key.kind == "flow":
            source = self.sources.get(key.name)
            population = None if source is None else source.population
            return population, population
        if key.kind == "handler":
            return active_threads(self.scenario, key.name, key.operation), None
        spec = self.scenario.services[key.name]
        arriving, closed = self.operation(key)
        if spec.unlimited or not spec.blocking_calls:
            return arriving, closed
        workers = (workers_of(spec) or 0) * spec.replicas
        return (workers if arriving is None else min(arriving, workers)), closed

    def service(self, name: str) -> tuple[int | None, int | None]:
        """(bound, closed bound) of service `name` (None = unbounded): its callers', over
        all its operations."""
        known = self.known.get(name)
        if known is None:
            known = self.known[name] = self._arriving(name, self.callers.get(name, []))
        return known

    def independent(self, name: str) -> bool:
        """Whether every request at service `name` comes straight from sources that queue
        nowhere together: a closed flow's clients, each thinking on its own, or a log
        topic's consumers (held through their calls), each taking its own partitions' messages
        one at a time. At any number they make the station finite-source
        (`stations.FINITE_SOURCE_REACH` bounds only pools' threads, which share a queue and
        send their calls in bursts): 3-6 consumers writing to a one-server database at
        70-85%, its wait +168% to +214% with Allen-Cunneen, -13% to -24% so (their next
        write comes sooner after a slow one, which the model's independent think times do
        not see)."""
        known = self.graph.independent.get(name)
        if known is None:
            callers = self.callers.get(name, [])
            known = self.graph.independent[name] = bool(callers) and all(
                count < UNBOUNDED and self._on_its_own(caller) for caller, count in callers
            )
        return known

    def apart(self, name: str) -> bool:
        """Whether sources that queue nowhere together (`_on_its_own`) call service `name`:
        a thread pool keeps them apart from its open arrivals at any load
        (`models.analysis.bounded_pools`), where the two-class station only splits them
        where requests wait often (`mixed_source.worth_splitting`)."""
        callers = self.callers.get(name, [])
        return any(count < UNBOUNDED and self._on_its_own(caller) for caller, count in callers)

    def _on_its_own(self, caller: OpKey) -> bool:
        """Whether node `caller` is a closed flow's or a log topic's consumers' (held
        through their calls): sources that queue nowhere together (`independent`)."""
        if caller.kind == "flow":
            source = self.sources.get(caller.name)
            return source is not None and source.population is not None
        return (
            caller.kind == "handler"
            and self.scenario.topics[caller.name].type == "log"
            and self.scenario.services[caller.operation].blocking_calls
        )

    def operation(self, key: OpKey) -> tuple[int | None, int | None]:
        """(bound, closed bound) of the executions of operation `key` that its callers can
        have started at once (None = unbounded): tighter than its service's where other
        operations of the service have other callers (an async service called by a pool of
        2 threads in one operation and by 50 in another)."""
        if key not in self.known_operations:
            self.known_operations[key] = self._arriving(key, self.op_callers.get(key, []))
        return self.known_operations[key]

    def _arriving(
        self, target: str | OpKey, callers: list[tuple[OpKey, int]]
    ) -> tuple[int | None, int | None]:
        """The sum over `callers` of their bound times their calls in flight (None: any
        unbounded caller, or a cycle through `target`)."""
        if target in self.visiting:
            return None, None
        self.visiting.add(target)
        total: int | None = 0
        closed: int | None = 0
        for caller, count in callers:
            if count >= UNBOUNDED:  # (a call that can time out: nothing bounds what stays)
                self.visiting.discard(target)
                return None, None
            bound, closed_bound = self.node(caller)
            total = None if bound is None or total is None else total + bound * count
            closed = (
                None if closed_bound is None or closed is None else closed + closed_bound * count
            )
        self.visiting.discard(target)
        return total or None, closed or None

    def bounded_caller(self, name: str, servers: int) -> BoundedCaller | None:
        """The bounded caller with the most load per source at service `name` (offered
        load over its population: the one whose bound holds its queue shortest against
        Poisson arrivals at its rate): a closed flow (its clients), or a service whose
        workers are held through the call (its workers), among those few enough for the
        two-class station with `servers` (`models.analysis.mixed_source.MAX_PHASES`); None
        if there is none, or if a request of `name` can take its worker more than once
        (non-blocking calls). Taking the one with the most load took a pool of 4 threads
        over a caller of one worker sharing a one-server database, whose calls as Poisson
        queued behind one another: its thread waited 20.1 ms predicted, 12.2 ms simulated,
        now 11.3 ms (`tests/theory/test_tightest_bounded_caller.py`).

        Where that one is taken by the chain (no pool of the mixed product form), the
        other bounded callers the chain could take join its class while they fit it
        (`_merged`): each still has at most its population there, where as open arrivals
        they queued behind themselves (two log topics' consumers, one each, writing to a
        database that open reads share: its wait +39% with one of them open, -8% now; the
        open one's consumer waited 1.1 s predicted, 40 ms simulated, 28 ms now)."""
        shape = self._shape(name)
        if shape is None:
            return None
        parts: dict[Caller, list[tuple[float, Moments]]] = {}  # (each caller has a call)
        summaries = self.summaries
        for caller, weight, target in shape.calls:
            callee = summaries[target]
            if callee.acquisitions != 1.0:
                return None
            weighted = parts.get(caller)
            if weighted is None:
                parts[caller] = [(weight, callee.holding)]
            else:
                weighted.append((weight, callee.holding))
        candidates: list[tuple[BoundedCaller, bool]] = []
        one_mean: bool | None = None  # (`_one_mean(name)`, asked once)
        for who, population, rate, independent in shape.callers:
            weighted = parts[who]
            if rate <= 0:
                continue
            feeder = None
            if who[0] == "service":  # (`pool_fed`: no chain, no bound)
                feeder = self._feeder(who[1], name, population)
            elif who[0] == "handler":
                feeder = self._group_feeder(who[1], name, population)
            # (at several servers, `pool_fed` takes classes of one mean only: `applies`)
            if feeder is not None and servers > 1 and one_mean is None:
                one_mean = self._one_mean(name)
            chain_only = feeder is None or (servers > 1 and not one_mean)
            if (
                chain_only
                and phases(servers, population) > MAX_PHASES
                and not (
                    rate >= (1.0 - 1e-9) * self._arrivals(name)  # (alone: one level)
                    and phases(servers, population) <= MAX_STATES
                )
            ):
                continue
            candidate = BoundedCaller(
                who, population, rate, mixture(weighted), feeder, independent=independent
            )
            candidates.append((candidate, chain_only))
        if not candidates:
            return None
        if len(candidates) == 1:  # (most services: one caller, nothing to sort or merge)
            return candidates[0][0]
        candidates.sort(key=lambda found: -_per_source(found[0]))
        best, chain_only = candidates[0]
        if not chain_only:
            return best
        others = [c for c, only in candidates[1:] if only]
        return _merged(best, others, servers, self._arrivals(name))

    def _shape(self, name: str) -> CallerShape | None:
        """The bounded callers of service `name` as the caller graph has them
        (`CallerShape`), kept with it where it is acyclic (then the nodes' bounds are its
        own); None where one of them calls an operation that takes its worker more than
        once (found here only where the graph has a cycle: `bounded_caller` looks)."""
        graph = self.graph
        if not graph.acyclic:
            return self._find_shape(name, True)
        if name not in graph.shapes:
            graph.shapes[name] = self._find_shape(name, False)
        return graph.shapes[name]

    def _find_shape(self, name: str, checked: bool) -> CallerShape | None:
        """`_shape`, found (`checked`: None at the first operation taking its worker more
        than once, which stops the walk where `bounded_caller` did)."""
        reach: dict[tuple[str, ...], int] = defaultdict(int)
        """Per caller (per group for a topic's handlers): its requests at `name` at once
        (calls in flight x its bound)."""
        weights: dict[Caller, list[float]] = defaultdict(list)
        """Per caller: its nodes' calls per second to each operation of `name`."""
        calls: list[tuple[Caller, float, OpKey]] = []
        on_its_own: dict[Caller, bool] = {}
        """Per caller: whether every node of it queues nowhere with the others."""
        seen: set[OpKey] = set()
        targets = self.graph.targets
        for source, _ in self.callers.get(name, []):
            if source in seen or (source.kind == "handler" and not self._groups(source.name, name)):
                continue
            seen.add(source)
            if source.kind == "service":
                spec = self.scenario.services[source.name]
                if spec.unlimited or not spec.blocking_calls:
                    continue
            bound, _ = self.node(source)
            if bound is None:
                continue
            summary, rate = self.summaries[source], self.rates.get(source, 0.0)
            caller: Caller = (source.kind, source.name)
            for target in targets.get((source, name), ()):
                count = summary.calls[target]
                if count <= 0:
                    continue
                if checked and self.summaries[target].acquisitions != 1.0:
                    return None
                weights[caller].append(rate * count)
                calls.append((caller, rate * count, target))
            held = (*caller, source.operation) if source.kind == "handler" else caller
            reach[held] = max(reach[held], bound * self._in_flight(source, name))
            on_its_own[caller] = on_its_own.get(caller, True) and self._on_its_own(source)
        callers = []
        for who, weighted in weights.items():
            population = sum([n for held, n in reach.items() if held[:2] == who])
            rate = sum(weighted)
            callers.append((who, population, rate, on_its_own.get(who, False)))
        return CallerShape(tuple(calls), tuple(callers))

    def _arrivals(self, station: str) -> float:
        """Calls per second to service `station`, from every caller (kept with the caller
        graph: it reads only the rates and what each node calls, its traffic's)."""
        known = self.graph.arrivals.get(station)
        if known is None:
            known = self.graph.arrivals[station] = self._arrivals_of(station)
        return known

    def _arrivals_of(self, station: str) -> float:
        """`_arrivals`, computed."""
        total = 0.0
        targets = self.graph.targets
        for source, _ in self.callers.get(station, []):
            calls = self.summaries[source].calls
            rate = self.rates.get(source, 0.0)
            total += rate * sum([calls[t] for t in targets.get((source, station), ())])
        return total

    def _groups(self, topic: str, station: str) -> set[str]:
        """The consumer groups of `topic` that call `station`, where their threads are
        bounded callers (held through their calls); empty otherwise. The station tells
        its callers apart by kind and name, a handler's name its topic: the groups of one
        topic are one caller there, whose population is theirs summed. A queue topic's
        group is one pool that takes the topic's messages from one queue
        (`_group_feeder`); a log topic's consumers each take their own partitions, one
        message at a time, so each has at most one call in flight, and together they are
        the two-class chain's sources (a log consumer writing to a database that open
        reads share, `bench/shared_callee.py`'s shapes 21-27: the database's wait +82% to
        +249% as open arrivals, -21% to -1% so)."""
        groups = {
            caller.operation
            for caller, _ in self.callers.get(station, [])
            if caller.kind == "handler" and caller.name == topic
        }
        if not all(self.scenario.services[group].blocking_calls for group in groups):
            return set()
        return groups

    def _group(self, topic: str, station: str) -> str | None:
        """The one consumer group of `topic` that calls `station` (`_groups`), if one."""
        groups = self._groups(topic, station)
        return next(iter(groups)) if len(groups) == 1 else None

    def _group_feeder(self, topic: str, station: str, population: int) -> Feeder | None:
        """The consumer group of queue topic `topic` that calls `station` (`_group`) as a
        pool fed by open arrivals (`models.analysis.pool_fed`): its messages queue for its
        threads, whatever their publishers (they do not wait for them), one call to
        `station` in flight per thread (`population` its threads); None otherwise."""
        if self.scenario.topics[topic].type != "queue":
            return None  # (a log topic's consumers each have a queue of their own)
        group = self._group(topic, station)
        if group is None:
            return None
        if consumer_threads(self.scenario, topic, group) != population:
            return None
        return self._fed(self.graph.nodes.get(("handler", topic), []), station)

    def _one_mean(self, station: str) -> bool:
        """Whether every operation of `station` that runs holds a server for one mean time
        (to `pool_fed.SAME_MEAN`): then every class there has that mean."""
        summaries, rates = self.summaries, self.rates
        means = [
            summaries[key].holding.mean
            for key in self.graph.nodes.get(("service", station), [])
            if rates.get(key, 0.0) > 0
        ]
        return all(same_mean(means[0], mean) for mean in means[1:])

    def _feeder(self, caller: str, station: str, population: int) -> Feeder | None:
        """Service `caller` as one thread pool fed by open arrivals of its own
        (`models.analysis.pool_fed`), where it is one: one replica, or replicas that share
        one queue (`balancing: shared`: one pool of their threads), its own arrivals
        unbounded (its requests queue for its threads), one call to `station` in flight at
        a time (`population` its workers); None otherwise."""
        spec = self.scenario.services[caller]
        if spec.replicas != 1 and spec.balancing != "shared":
            return None
        if (workers_of(spec) or 0) * spec.replicas != population:
            return None
        if self.service(caller)[0] is not None:
            return None
        return self._fed(self.graph.nodes.get(("service", caller), []), station)

    def _fed(self, nodes: Sequence[OpKey], station: str) -> Feeder | None:
        """The pool that runs `nodes` as `pool_fed` reads it: its requests, its calls to
        `station` per request and its time held away from it per request."""
        requests = held = at_station = calls = 0.0
        for key in nodes:
            summary, rate = self.summaries[key], self.rates.get(key, 0.0)
            if rate <= 0:
                continue
            requests += rate
            held += rate * summary.holding.mean
            for target in self.graph.targets.get((key, station), ()):
                calls += rate * summary.calls[target]
                at_station += rate * summary.call_times.get(target, 0.0)
        if not (requests > 0 and calls > 0 and math.isfinite(held) and math.isfinite(at_station)):
            return None  # (no calls, or a saturated pool's holding time)
        away = max(held - at_station, 0.0) / requests
        return Feeder(requests, calls / requests, away)


def _merged(
    best: BoundedCaller, others: Sequence[BoundedCaller], servers: int, arrivals: float
) -> BoundedCaller:
    """`best` with as many of the `others` (bounded callers the chain could take alone, most
    load per source first) as the chain takes together, leaving `OPEN_SHARE` of the
    station's `arrivals` (per second) open: one class of their populations summed, their
    calls' rates and holding times mixed, no pool of its own."""
    chosen = [best]
    population, rate = best.population, best.arrival_rate
    for other in others:
        fits = phases(servers, population + other.population) <= MAX_PHASES
        if fits and rate + other.arrival_rate <= (1.0 - OPEN_SHARE) * arrivals:
            chosen.append(other)
            population += other.population
            rate += other.arrival_rate
    if len(chosen) == 1:
        return best
    holding = mixture([(c.arrival_rate / rate, c.holding) for c in chosen])
    also = tuple(c.caller for c in chosen[1:])
    independent = all(c.independent for c in chosen)
    return BoundedCaller(best.caller, population, rate, holding, None, also, independent)


def _per_source(caller: BoundedCaller) -> float:
    """A bounded caller's offered load at the station over its population."""
    return caller.arrival_rate * caller.holding.mean / caller.population


UNBOUNDED = 10**9
"""`calls_in_flight` of a call with a timeout: an abandoned request stays at the callee."""


def calls_in_flight(
    steps: Sequence[Step],
    service: str,
    scenario: Scenario | None = None,
    operation: str | None = None,
) -> int:
    """The most calls to `service` (to its `operation` only, if given, resolved in
    `scenario`) that one execution of `steps` can have in flight at once: one per call
    step, summed over parallel branches, the largest over sequential steps, over a
    branch's options and over a call and the fallback run after it fails (`UNBOUNDED`
    where a call can time out: its abandoned request stays at the callee). The count
    for a population bound: a pool of 4 threads that calls a service once and then once
    more in one of two parallel branches has at most 4 requests there, not 8 (the
    summaries' `concurrency` counts what a request can queue for at once beside it)."""
    most = 0
    for step in steps:
        here = 0
        if isinstance(step, CallStep):
            call = step.call
            if call.service == service and (
                operation is None
                or scenario is None
                or scenario.operation(service, call.operation)[0] == operation
            ):
                here = 1 if call.timeout is None else UNBOUNDED
            if call.fallback:
                here = max(here, calls_in_flight(call.fallback, service, scenario, operation))
        elif isinstance(step, ParallelStep):
            here = sum(
                calls_in_flight(branch, service, scenario, operation) for branch in step.parallel
            )
        elif isinstance(step, BranchStep):
            here = max(
                (
                    calls_in_flight(option.steps, service, scenario, operation)
                    for option in step.branch
                ),
                default=0,
            )
        most = max(most, here)
    return most
