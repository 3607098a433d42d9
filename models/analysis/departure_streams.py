"""The messages of one server fed by Poisson arrivals: the gaps of M/G/1's departures.

A topic whose every message comes from one server (a service of one replica and one
worker, or a consumer group of one consumer), which publishes once at the end of every
hold, carries that server's departures. Fed by Poisson arrivals at rate λ, the server is
an M/G/1 queue, and the time from one departure to the next is the next request's service
S, after an idle spell first where the departure left the server empty, which it does
with probability 1 − ρ (ρ = λ E[S]; by Burke's level-crossing argument a departure sees
what an arrival sees, and by PASTA an arrival finds it empty with probability 1 − ρ). The
spell is exponential of rate λ (memoryless arrivals), so the gaps' Laplace transform is

    A*(s) = S*(s) (ρ + (1 − ρ) λ / (λ + s)),

exact for each gap (derived so; with exponential S it is λ / (λ + s), Burke's theorem).
Successive gaps are correlated (a long service leaves a queue behind, and a busy server
sends runs of short gaps), so this law alone does not make the stream: a consumer pool of
exponential servers is weighted between GI/M/c of these gaps taken as renewal
(`models.theory.gi_m_c`) and M/M/c, by the ratio of the two stations' time scales
(`departures_station`). The two-moment formulas see only the gaps' SCV (exact as well:
1 − ρ² + ρ² cs², QNA's departure SCV) and miss their shape: one server holding 4.24 ms (a
1.11 ms constant delay, 3.13 ms of constant work) at 80% publishing to one exponential
consumer of 2.34 ms (44%): the consumer waits 0.629 ms (0.617-0.640) simulated, 0.619 ms
weighted, Allen-Cunneen 1.26 ms (`bench/analysis_fuzz.py` seed 483, at 80%).

Where it applies (`departure_publishers`, once per scenario; `Departures.of` each round):

- every message of the topic is published by one pool of one server that the scenario
  never scales (as in `models.analysis.paced`), once per hold of every operation it runs
  (`count` 1, probability 1, not inside a branch), after every step that takes time: the
  message leaves at the end of the hold;
- its operations are `work` and `delay` steps (and `branch` steps of them) whose laws have
  a Laplace transform in closed form (constant, exponential, uniform, Erlang, gamma,
  hyperexponential), publishes to other topics, and nothing else: no calls (a callee's
  response time has no known law), no `fail` steps;
- its arrivals are Poisson, and nothing else arrives there;
- the topic's delivery latency is none or constant (a constant shifts every message
  alike), it is no group's dead-letter topic, the scenario has no faults and no failures;
- the consumers take the whole stream: a queue topic's group (one pool), or a log topic's
  group of one consumer; their work is one exponential step (`departures_station` says
  why not other work), and they get no message back (`max_attempts` 1).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from models.analysis.graph import OpKey, StationId, station_of, steps_of
from models.analysis.moments import ZERO, Moments, mixture
from models.analysis.paced import single_server, topics_sent
from models.analysis.renewal_streams import renewal_station
from models.analysis.summary import POISSON, combined_flag
from models.distributions import Distribution
from models.schema import BranchStep, DelayStep, PublishStep, Scenario, Step, WorkStep
from models.theory import mmc
from models.theory.prediction import StationPrediction, stable_station
from models.theory.renewal_arrivals import LARGEST_POOL

Hold = tuple[tuple[float, tuple[Distribution, ...]], ...]
"""A hold's law: options taken with their probabilities, each a sum of independent laws."""


@dataclass(frozen=True)
class Publisher:
    """The one server whose holds each end by publishing one message to a topic."""

    station: StationId
    keys: tuple[OpKey, ...]
    """Its nodes that the flows reach (each publishes once, at the end of its hold)."""
    holds: tuple[Hold, ...]
    """Each node's hold, in the order of `keys`."""

    def at(
        self, rates: Mapping[OpKey, float], messages: tuple[float, float]
    ) -> DepartureGaps | None:
        """The gaps between its messages at `rates` (None where it is not stable, or the
        topic carries other messages: `messages`, the topic's messages and publish events
        per second, are both its rate, one at a time)."""
        weights = [rates.get(key, 0.0) for key in self.keys]
        rate = math.fsum(weights)
        if rate <= 0 or not all(math.isclose(rate, count, rel_tol=1e-9) for count in messages):
            return None
        hold = tuple(
            (w / rate * p, parts)
            for w, options in zip(weights, self.holds, strict=True)
            if w > 0
            for p, parts in options
        )
        gaps = DepartureGaps(hold, rate)
        return gaps if gaps.utilization < 1.0 else None


@dataclass(frozen=True)
class DepartureGaps:
    """The time between two departures of an M/G/1 queue (module docstring): a renewal
    law with a Laplace transform, as `StationLoad.interarrival` takes it."""

    hold: Hold
    """The server's hold (the mixture of its operations' holds by rate)."""
    rate: float
    """λ: arrivals (and departures) per second."""

    @property
    def mean(self) -> float:
        return 1.0 / self.rate

    @functools.cached_property
    def holding(self) -> Moments:
        """The hold's mean and variance (its options mixed, each a sum of independent laws;
        worked out once: the transform reads it at every point the GI/M/c root asks for)."""
        return mixture(
            (p, sum((Moments(law.mean, law.variance) for law in parts), ZERO))
            for p, parts in self.hold
        )

    @property
    def utilization(self) -> float:
        return self.rate * self.holding.mean

    @property
    def hold_scv(self) -> float:
        """The hold's SCV cs²."""
        return self.holding.scv

    @property
    def scv(self) -> float:
        """The gaps' SCV, 1 − ρ² + ρ² cs²."""
        rho = self.utilization
        return 1.0 - rho**2 + rho**2 * self.hold_scv

    def laplace(self, s: float) -> float:
        """A*(s) = S*(s) (ρ + (1 − ρ) λ / (λ + s))."""
        service = math.fsum(
            p * math.prod(_transform(law, s) for law in parts) for p, parts in self.hold
        )
        rho = self.utilization
        return service * (rho + (1.0 - rho) * self.rate / (self.rate + s))


def _transform(law: Distribution, s: float) -> float:
    value = law.laplace(s)
    assert value is not None  # (`_hold` keeps only such laws)
    return value


def _hold(steps: Sequence[Step], topic: str) -> tuple[Hold, int, bool] | None:
    """The law of a hold running `steps` (the options of branches multiplied out), how many
    messages it publishes to `topic`, and whether the last of them is published after
    every step that takes time; None where a step is not one the law can follow (module
    docstring), or the options pass `LARGEST_MIXTURE`."""
    options: Hold = ((1.0, ()),)
    sent, last = 0, False
    for step in steps:
        if isinstance(step, WorkStep | DelayStep):
            law = step.work if isinstance(step, WorkStep) else step.delay
            if law.laplace(1.0 / law.mean if law.mean > 0 else 1.0) is None:
                return None
            options = tuple((p, (*parts, law)) for p, parts in options)
            last = False
        elif isinstance(step, PublishStep):
            if step.publish.topic == topic:
                if step.publish.count != 1 or step.publish.probability != 1.0:
                    return None
                sent, last = sent + 1, True
        elif isinstance(step, BranchStep):
            grown: list[tuple[float, tuple[Distribution, ...]]] = []
            for option in step.branch:
                inner = _hold(option.steps, topic)
                if inner is None or inner[1] > 0:
                    return None  # (a message on one option only: not once per hold)
                grown.extend(
                    (p * option.probability * q, (*parts, *more))
                    for p, parts in options
                    for q, more in inner[0]
                )
                if any(more for _, more in inner[0]):
                    last = False
            options = tuple(grown)
            if len(options) > LARGEST_MIXTURE:
                return None
        else:
            return None  # (a call, a parallel step, a fail step)
    return options, sent, last


LARGEST_MIXTURE = 64
"""The most options a hold's law may have (branches multiply them)."""


def departure_publishers(scenario: Scenario, keys: Sequence[OpKey]) -> dict[str, Publisher]:
    """Per topic, the one server whose departures are its messages (module docstring);
    `keys`: the nodes the flows reach. The scenario's structure: found once."""
    if scenario.faults:
        return {}
    dead_letters = {
        group.dead_letter
        for spec in scenario.topics.values()
        for group in spec.subscribers.values()
    }
    found: dict[str, Publisher] = {}
    sent = [(key, topics_sent(steps_of(scenario, key))) for key in keys]  # (each walked once)
    for name, topic in scenario.topics.items():
        latency = topic.delivery_latency
        if name in dead_letters or (latency is not None and latency.variance > 0):
            continue
        sending = [key for key, topics in sent if name in topics]
        stations = {station_of(key) for key in sending}
        if len(stations) != 1:
            continue
        (station,) = stations
        if station is None or not single_server(scenario, station):
            continue
        runs = [key for key in keys if station_of(key) == station]
        holds = [_hold(steps_of(scenario, key), name) for key in runs]
        if any(hold is None or hold[1] != 1 or not hold[2] for hold in holds):
            continue  # (an operation of the server that does not end by publishing there)
        found[name] = Publisher(station, tuple(runs), tuple(h[0] for h in holds if h is not None))
    return found


@dataclass(frozen=True)
class Departures:
    """The consumers that take one server's departures whole, in one round: `publishers`
    (per topic), the Poisson flags of what reaches each service and each topic
    (`summary.emission_flags`), the round's rates, and whether the scenario fails
    (rejections and crashes thin the streams: none then)."""

    scenario: Scenario
    publishers: Mapping[str, Publisher]
    flags: tuple[Mapping[StationId, Sequence[int]], Mapping[str, Sequence[int]]]
    rates: Mapping[OpKey, float]
    failing: bool

    def of(self, topic: str, group: str, messages: tuple[float, float]) -> DepartureGaps | None:
        """The gaps between the messages of `topic` that `group` takes whole, where one
        server sends them all (module docstring) fed by Poisson arrivals (every stream that
        reaches its station Poisson, one alone), stably; None otherwise (the group's own
        retries, `max_attempts` above 1, bring messages back). `messages`: the topic's
        messages and publish events per second (`Publisher.at`)."""
        publisher = self.publishers.get(topic)
        if publisher is None or self.failing:
            return None
        if self.scenario.topics[topic].subscribers[group].max_attempts != 1:
            return None
        station = publisher.station
        if station.kind == "service":
            arriving = self.flags[0].get(station, ())
        elif len(self.scenario.topics[station.name].subscribers) == 1:
            arriving = self.flags[1].get(station.name, ())
        else:
            return None  # (a topic's groups get copies of one stream: not Poisson each)
        if combined_flag(arriving) != POISSON:
            return None
        return publisher.at(self.rates, messages)


RENEWAL_WEIGHT = (1.06, 2.65)
"""(a, b) of the renewal model's weight w = 1 − exp(−a r^b), r = ρ_P / ρ_C
(`departures_station`)."""


def departures_station(
    gaps: DepartureGaps, rate: float, mean: float, servers: int
) -> StationPrediction | None:
    """A pool of `servers` exponential servers of mean `mean` fed the messages of one
    server (`gaps`); None where the formula does not apply (more than `LARGEST_POOL`
    servers, a publisher whose hold varies more than an exponential, no steady state).

    Two models bracket it. Taking the gaps as renewal (GI/M/c with their transform) is
    right when the pool clears its work between messages: it sees the gaps one at a time.
    When its work is long beside the publisher's, it sums many gaps, and over long spans
    the departures of a stable queue vary as its Poisson arrivals do (the index of
    dispersion of M/G/1's departure counts tends to 1: Whitt & You, "Heavy-traffic limit
    of the GI/GI/1 stationary departure process and its variance function", Stochastic
    Systems 8(2), 2018): the pool waits as with Poisson arrivals (M/M/c). The renewal
    model misses the runs of short gaps that a busy publisher sends (the gaps are
    positively correlated), the Poisson model the gaps' shape. The wait is weighted
    between them by the ratio of the time scales, r = ρ_P / ρ_C = E[S_P] / (E[S_C] / c),
    w = 1 − exp(−a r^b) on the renewal model, a and b (`RENEWAL_WEIGHT`) fitted to 43
    simulated tandems (`bench/departure_fit.py`; 6 replications of 300 s: a publisher of
    constant, uniform and gamma (cv 0.5) 4 ms holds at 50, 70 and 90% into 1, 2 and 4
    exponential consumers at 30, 60 and 85%): the largest error 5.8%, the root mean
    square 2.3% (with other random numbers −10.4% and 5.0%, within the runs' intervals),
    where the renewal model alone was off by up to 28% and Allen-Cunneen with the gaps'
    SCV from 21% under to 345% over. An empirical interpolation, measured in that range
    and checked outside it
    (docs/analysis.md sec. 4.1); not for a bursty publisher (hold SCV above 1: 15-19%
    under where Allen-Cunneen was 1-14% under) nor for other consumers' work (with smooth
    work on both sides the tandem waits far less than either model says)."""
    if servers > LARGEST_POOL or rate * mean >= servers or gaps.hold_scv > 1.0:
        return None
    renewal = renewal_station(gaps, rate, 1.0 / mean, servers)
    poisson = mmc(rate, 1.0 / mean, servers)
    a, b = RENEWAL_WEIGHT
    ratio = gaps.utilization / (rate * mean / servers)
    weight = -math.expm1(-a * ratio**b)
    wait = weight * renewal.mean_waiting_time + (1.0 - weight) * poisson.mean_waiting_time
    p_wait = weight * (renewal.p_wait or 0.0) + (1.0 - weight) * (poisson.p_wait or 0.0)
    return stable_station(
        method="one server's departures: GI/M/c of their gaps and M/M/c, weighted by the "
        "time scales",
        exact=False,
        arrival_rate=rate,
        mean_service_time=mean,
        servers=servers,
        mean_waiting_time=wait,
        p_wait=p_wait,
    )
