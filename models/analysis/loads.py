"""Station loads: each server pool's servers, waiting room, arrivals and holding times.

From the operation summaries and the traffic of one iteration, `LoadBuilder` makes the
`StationLoad` of every service (its replicas pooled or split as its balancing makes them)
and of every consumer group (one pool for a queue topic, one single-server consumer per
share of the partitions for a log topic), with the arrival SCV and Poisson flag of the
streams that feed it and, where only bounded populations reach a service, that bound.
With failures (`models.analysis.failures`) only the attempts a service admits queue (its
rate limit, a replica up), crashes slow its servers by 1 / A (the time-average capacity),
and retries that feed attempts back are marked (`StationLoad.feedback`).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from models.analysis.bounds import CallerBounds
from models.analysis.caller_graph import LastGraph
from models.analysis.class_loads import class_loads
from models.analysis.departure_streams import Departures, Publisher
from models.analysis.failures import admitted_scv, approximated_failures, feedback_into
from models.analysis.fan_out import FanOut, Senders, consumer_fans, pool_groups, thinned
from models.analysis.graph import (
    OpKey,
    StationId,
    consumer_count,
    consumer_threads,
    workers_of,
)
from models.analysis.least_outstanding import POOLED
from models.analysis.mixed_source import BoundedCaller, worth_splitting
from models.analysis.moments import ZERO, Moments, of_distribution
from models.analysis.paced import Pacing
from models.analysis.renewal_streams import entry_stream, renewal_entries
from models.analysis.station_load import (
    ClassLoad,
    GroupStation,
    StationLoad,
    StationSolution,
)
from models.analysis.stations import solve_station
from models.analysis.streams import Streams
from models.analysis.summary import (
    COPY,
    NOT_POISSON,
    POISSON,
    OperationSummary,
    combined_flag,
    emission_flags,
)
from models.analysis.traffic import Traffic, message_attempts, partition_shares
from models.analysis.work_laws import slowed
from models.schema import Scenario


@dataclass(frozen=True)
class FlowSource:
    """How a flow's requests arrive: rate, interarrival SCV and Poisson flag."""

    rate: float
    scv: float = 1.0
    flag: int = POISSON
    population: int | None = None
    """Most requests of the flow in the system at once (a closed flow's clients)."""


class LoadBuilder:
    """Builds the station loads of one iteration from the summaries and the traffic."""

    def __init__(
        self,
        scenario: Scenario,
        sources: Mapping[str, FlowSource],
        summaries: Mapping[OpKey, OperationSummary],
        traffic: Traffic,
        admission: Mapping[str, float] | None = None,
        capacity: Mapping[str, float] | None = None,
        solved: dict[StationLoad, StationSolution] | None = None,
        known_classes: dict[Any, Any] | None = None,
        senders: Senders | None = None,
        released: Mapping[str, tuple[tuple[int, float], ...]] | None = None,
        in_flight: dict[tuple[OpKey, str | OpKey], int] | None = None,
        served: Mapping[OpKey, float] | None = None,
        pacing: Pacing | None = None,
        publishers: Mapping[str, Publisher] | None = None,
        last_graph: LastGraph | None = None,
    ) -> None:
        self.scenario = scenario
        self.sources = sources
        self.summaries = summaries
        self.traffic = traffic
        self.admission = admission or {}
        """Per service: the share of its attempts let in (rate limit, a replica up)."""
        self.capacity = capacity or {}
        """Per service: the time-average share of its capacity that is up (crashes)."""
        self.solved = solved if solved is not None else {}
        """Station solutions by their load (a frozen value): reused across rounds and solves."""
        self.known_classes = known_classes if known_classes is not None else {}
        """`classes` by their inputs, reused across rounds and solves (`classes`)."""
        self.senders = senders or Senders({}, {})  # (what sends requests at once)
        self.released = released or {}
        """Per service, the groups async pools let go to it (`models.analysis.release_groups`)."""
        self.station_flags, self.topic_flags = emission_flags(summaries, traffic.rates)
        self.streams = Streams(summaries, traffic, sources)
        """The streams into each station, and what its calls carry (`streams.carried`)."""
        sending = traffic.rates  # (what callers send: a saturated one its served share)
        if served:
            sending = {key: rate * served.get(key, 1.0) for key, rate in sending.items()}
        last = None if served else last_graph  # (`served` changes what callers send)
        same = last is not None and last.traffic is traffic and last.sources is sources
        graph = last.graph if last is not None and same else None
        self.populations = CallerBounds(scenario, sources, summaries, sending, in_flight, graph)
        if last is not None:
            last.traffic, last.sources, last.graph = traffic, sources, self.populations.graph
        self.pacing = pacing or Pacing()
        """The stations that never wait (`models.analysis.paced`)."""
        flags, failing = (self.station_flags, self.topic_flags), bool(admission or capacity)
        self.departures = Departures(scenario, publishers or {}, flags, traffic.rates, failing)
        """The consumers that take one server's departures (`departure_streams`)."""

    def solve(self, load: StationLoad) -> StationSolution:
        """`solve_station(load)`, remembered by the load (a pure function of it)."""
        solution = self.solved.get(load)
        if solution is None:
            solution = self.solved[load] = solve_station(load)
        return solution

    def classes(self, keys: Sequence[OpKey], share: float) -> tuple[ClassLoad, ...]:
        """One class per priority: acquisitions, fresh arrivals and holding per acquisition,
        remembered by the share and, per key, its rate and all that `_classes` reads of its
        summary (acquisitions, holding moments, exponential mean, iid, exactness): a capacity
        trial's rounds rebuild the same classes wherever its load does not reach, and an
        operation summarised again often holds its worker as long as before (by value, not
        by the summary: 41% fewer classes computed on the 100-service model)."""
        every, rate_of = self.summaries, self.traffic.rates.get
        parts: list[Any] = [share]
        for key in keys:
            summary = every[key]
            holding = summary.holding
            parts.append(
                (
                    key,
                    rate_of(key, 0.0),
                    summary.acquisitions,
                    holding.mean,
                    holding.variance,
                    summary.exponential_mean,
                    summary.iid,
                    summary.holding_exact,
                )
            )
        inputs = tuple(parts)
        known: tuple[ClassLoad, ...] | None = self.known_classes.get(inputs)
        if known is None:
            known = self.known_classes[inputs] = self._classes(keys, share)
        return known

    def _classes(self, keys: Sequence[OpKey], share: float) -> tuple[ClassLoad, ...]:
        """`classes`, computed (`class_loads`)."""
        return class_loads(self.scenario, self.summaries, self.traffic.rates, keys, share)

    def _adjusted(self, name: str, classes: tuple[ClassLoad, ...]) -> tuple[ClassLoad, ...]:
        """The classes of service `name` with failures: only admitted attempts queue, and a
        time-average capacity A (crashes) is modelled as every server slowed by 1 / A
        (the same capacity, c x A / E[S], with the whole pool)."""
        share = self.admission.get(name, 1.0)
        up = self.capacity.get(name, 1.0)
        if share == 1.0 and up == 1.0:
            return classes
        return tuple(
            dataclasses.replace(
                c,
                arrival_rate=c.arrival_rate * share,
                fresh_rate=c.fresh_rate * share,
                holding=Moments(c.holding.mean / up, c.holding.variance / up**2),
                exponential_mean=None if c.exponential_mean is None else c.exponential_mean / up,
                hyperexponential=slowed(c.hyperexponential, up),
                third_moment=None,
                laws=None,
            )
            for c in classes
        )

    def _consumer_classes(
        self, topic_name: str, group: str, keys: Sequence[OpKey], share: float
    ) -> tuple[ClassLoad, ...]:
        """A consumer's classes, with failures: retried messages make its formula
        approximate (their runs come back: on a log topic after the backoff, in place, on a
        queue topic at the tail of the queue); on a log topic the consumer waits for the
        backoff before retrying (head-of-line blocking), which holds it q = (E[runs] - 1) /
        E[runs] of the runs for a backoff (a Bernoulli mixture: its mean and variance);
        the crash availability A of the group's service slows it by 1 / A (as for a
        service; messages are never refused, they wait)."""
        classes = self.classes(keys, share)
        topic = self.scenario.topics[topic_name]
        subscriber = topic.subscribers[group]
        up = self.capacity.get(group, 1.0)
        if up == 1.0 and subscriber.max_attempts == 1:
            return classes
        backoff = subscriber.retry_backoff if topic.type == "log" else None
        adjusted = []
        for c in classes:
            holding = c.holding
            exponential, law = c.exponential_mean, c.hyperexponential
            members = [k for k in keys if k.priority == c.priority]
            runs = math.fsum(self.traffic.rates.get(k, 0.0) for k in members)
            failed = math.fsum(
                self.traffic.rates.get(k, 0.0) * self.summaries[k].fail for k in members
            )
            attempts = message_attempts(failed / runs if runs > 0 else 0.0, subscriber.max_attempts)
            if attempts > 1.0 and backoff is not None:
                q = (attempts - 1.0) / attempts
                square = backoff.variance + backoff.mean**2
                holding = holding + Moments(
                    q * backoff.mean, max(q * square - (q * backoff.mean) ** 2, 0.0)
                )
                exponential, law = None, None
            adjusted.append(
                dataclasses.replace(
                    c,
                    holding=Moments(holding.mean / up, holding.variance / up**2),
                    exponential_mean=None if exponential is None else exponential / up,
                    hyperexponential=slowed(law, up),
                    third_moment=None,
                    laws=None,
                    holding_exact=c.holding_exact and attempts == 1.0 and up == 1.0,
                )
            )
        return tuple(adjusted)

    @functools.cached_property
    def _feedback_into(self) -> dict[OpKey, int]:
        """How attempts come back to each operation after failures (`feedback_into`): 0
        never, 1 as a product-form feedback, 2 otherwise."""
        return feedback_into(self.summaries, self.traffic.rates)

    @functools.cached_property
    def _renewal_entries(self) -> dict[str, list[str]]:
        """Per service, the flows of renewal arrivals that enter at it (`renewal_entries`)."""
        return renewal_entries(self.scenario)

    def service(self, name: str, keys: Sequence[OpKey]) -> tuple[int, StationLoad]:
        """`_pools`, marked paced where one server paces its calls (`models.analysis.paced`)."""
        pools, load = self._pools(name, keys)
        if self.pacing.paces(name, load.servers):
            load = dataclasses.replace(load, paced=True)
        return pools, load

    def _pools(self, name: str, keys: Sequence[OpKey]) -> tuple[int, StationLoad]:
        """The server pool(s) of a service, as its balancing makes them."""
        spec = self.scenario.services[name]
        station = StationId("service", name)
        flag = combined_flag(self.station_flags.get(station, []))
        workers = workers_of(spec)
        replicas = spec.replicas
        total = None if workers is None else workers * replicas
        scv = self.streams.scv(keys, keys, total, station)
        limit = spec.rate_limit
        if limit is not None and name in self.admission:  # (the bucket shapes the arrivals)
            offered = math.fsum(self.traffic.rates.get(k, 0.0) for k in keys)
            flag = NOT_POISSON
            scv = admitted_scv(offered, limit.rate, limit.burst, scv)
        room = spec.queue_capacity
        priority = spec.discipline == "priority"
        population, closed = self.populations.service(name)
        feedback_of = self._feedback_into.get
        feedback = max([feedback_of(key, 0) for key in keys], default=0)
        failure_note = approximated_failures(name, spec, self.capacity, self.admission)
        failing = bool(self.admission or self.capacity)
        fans = self.senders.services.get(name, ())
        entries = self._renewal_entries
        if workers is None or replicas == 1 or spec.balancing in ("shared", "least_outstanding"):
            joined = workers is not None and replicas > 1 and spec.balancing == "least_outstanding"
            note = failure_note
            if joined:  # (`POOLED` first: `least_outstanding.unpooled` takes it off)
                note = f"{POOLED}, {failure_note}" if failure_note else POOLED
            pooled = None if workers is None else workers * replicas
            classes = self._adjusted(name, self.classes(keys, 1.0))
            load = StationLoad(
                servers=pooled,
                room=None if room is None else room * replicas,
                priority=priority,
                classes=classes,
                arrival_scv=scv,
                input_flag=flag,
                note=note,
                least_outstanding=replicas if joined else 1,
                population=population,
                closed=closed is not None,
                independent=not joined and self.populations.independent(name),
                feedback=feedback,
                bounded=self._bounded_caller(name, pooled, classes, feedback),
                groups=None if feedback else self._groups(fans, classes, name),
                interarrival=entry_stream(
                    self.scenario, self.sources, self.traffic, keys, classes, failing, entries
                ),
            )
            return 1, load
        share = 1.0 / replicas  # (any replica may hold all `population`: fuzz seed 775)
        if spec.balancing == "random":  # (each request of a group picks its replica)
            classes = self._adjusted(name, self.classes(keys, share))
            spread = thinned(fans, share)
            caller = self._bounded_caller(name, workers, classes, feedback)
            return replicas, StationLoad(
                servers=workers,
                room=room,
                priority=priority,
                classes=classes,
                arrival_scv=1.0 - share + share * scv,
                input_flag=flag,
                note=failure_note,
                population=population,
                closed=closed is not None,
                feedback=feedback,
                bounded=None if caller is None else caller.at_replica(share),
                groups=None if feedback else self._groups(spread, classes),
            )
        return replicas, StationLoad(
            servers=workers,
            room=room,
            priority=priority,
            classes=self._adjusted(name, self.classes(keys, share)),
            arrival_scv=scv * share,
            input_flag=flag,
            note=failure_note,
            erlang_phases=replicas if flag >= COPY else None,
            population=population,
            closed=closed is not None,
            feedback=feedback,
        )

    def _groups(
        self,
        fans: Sequence[FanOut],
        classes: tuple[ClassLoad, ...],
        service: str = "",
        topic: str | None = None,
    ) -> tuple[tuple[int, float], ...] | None:
        """The groups a pool with `classes` receives from `fans` (`pool_groups`; `topic`: a
        consumer group's) and, for `service`'s one pool, async pools' resumes (`released`);
        none with failures (rejections, crashes and retries thin them: not modelled)."""
        released = self.released.get(service, ())
        if (not fans and not released) or self.admission or self.capacity:
            return None
        arrivals = math.fsum(c.arrival_rate for c in classes)
        if arrivals <= 0.0:
            return None  # (nothing arrives: a closed flow's trial at no load)
        holding = math.fsum(c.arrival_rate * c.holding.mean for c in classes) / arrivals
        rates, summaries, bounds = self.traffic.rates, self.summaries, self.populations
        return pool_groups(fans, arrivals, bounds, rates, summaries, released, holding, topic)

    def _bounded_caller(
        self, name: str, servers: int | None, classes: tuple[ClassLoad, ...], feedback: int
    ) -> BoundedCaller | None:
        """The bounded caller of service `name` for the two-class station, where it may
        apply (one FIFO pool of `servers` with an unbounded waiting room, requests that wait
        often, no retries coming back, no failures: `models.analysis.mixed_source`)."""
        spec = self.scenario.services[name]
        unsplit = spec.discipline == "priority" or name in self.admission or name in self.capacity
        if servers is None or spec.queue_capacity is not None or feedback or unsplit:
            return None
        offered = math.fsum([c.arrival_rate * c.holding.mean for c in classes])
        if not (worth_splitting(servers, offered) or self.populations.apart(name)):
            return None  # (a pool splits those at any load: `bounded_pools`)
        return self.populations.bounded_caller(name, servers)

    def group(self, topic_name: str, group: str, keys: Sequence[OpKey]) -> GroupStation:
        """A consumer group's pool (queue topic) or its consumers (log topic)."""
        topic = self.scenario.topics[topic_name]
        threads = consumer_threads(self.scenario, topic_name, group)
        latency = topic.delivery_latency
        delivery = of_distribution(latency) if latency is not None else ZERO
        ordered = topic.type == "log" and delivery.variance > 0
        flag = combined_flag(self.topic_flags.get(topic_name, []))
        if len(topic.subscribers) > 1:
            flag = min(flag, COPY)
        if ordered:
            flag = NOT_POISSON
        events = self.traffic.topic_events.get(topic_name, 0.0)
        messages = self.traffic.topic_rates.get(topic_name, 0.0)
        batch = messages / events if events > 0 else 1.0
        at = StationId("group", topic_name, group)
        plain = self.streams.scv([topic_name], keys, threads, at)
        # (`plain`: without the groups' batches, `scv` with them)
        scv = plain * batch
        together = delivery.variance == 0 and topic.subscribers[group].max_attempts == 1
        senders = self.senders.topics.get(topic_name, ()) if together else ()
        paced = (topic_name, group) in self.pacing.groups
        gaps = self.departures.of(topic_name, group, (messages, events))
        if topic.type == "queue":
            classes = self._consumer_classes(topic_name, group, keys, 1.0)
            groups = self._groups(senders, classes, topic=topic_name)
            load = StationLoad(
                servers=threads,
                room=None,
                priority=False,
                classes=classes,
                arrival_scv=scv if groups is None else plain,
                input_flag=flag,
                groups=groups,
                paced=paced,
                interarrival=gaps,
            )
            consumers = [(load, self.solve(load))]
            shares = [1.0]
        else:
            active = consumer_count(self.scenario, topic_name, group)
            known_shares = self.populations.graph.consumer_shares
            found = known_shares.get((topic_name, group))
            if found is None:  # (the same while the traffic is: kept with its caller graph)
                by_partition = self.traffic.partition_rates.get(topic_name, {})
                per_partition = partition_shares(topic, by_partition)
                found = known_shares[(topic_name, group)] = (
                    tuple([float(per_partition[j::active].sum()) for j in range(active)]),
                    topic.partitioning == "round_robin"
                    and topic.keys is None
                    and set(by_partition) <= {None},
                )
            shares, round_robin = list(found[0]), found[1]
            phases = active if round_robin and topic.partitions % active == 0 else None
            consumers = []
            for index, share in enumerate(shares):
                if not senders and index > 0 and share > 0.0 and share == shares[index - 1]:
                    # (no groups sent: the consumer before's load, of the same share, to the
                    # bit; most log topics share their partitions out evenly)
                    consumers.append(consumers[-1])
                    continue
                classes = self._consumer_classes(topic_name, group, keys, share)
                fans = consumer_fans(self.scenario, topic_name, senders, index, active)
                groups = self._groups(fans, classes, topic=topic_name)
                base = scv if groups is None else plain
                load = StationLoad(
                    servers=1,
                    room=None,
                    priority=False,
                    classes=classes,
                    arrival_scv=base * share if round_robin else 1.0 - share + share * base,
                    input_flag=flag,
                    erlang_phases=phases if phases and phases > 1 and flag >= COPY else None,
                    groups=groups,
                    paced=paced,
                    interarrival=gaps if active == 1 else None,
                )
                consumers.append((load, self.solve(load)))
        return GroupStation(
            topic=topic_name,
            group=group,
            threads=threads,
            partitions=topic.partitions,
            delivery=delivery,
            delivery_exact=not ordered,
            consumers=consumers,
            shares=shares,
        )
