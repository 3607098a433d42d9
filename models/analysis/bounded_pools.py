"""A thread pool over its callees that independent bounded sources share with open
arrivals: their requests wait there otherwise than the rest.

A log topic's consumer has at most one message in hand, so at most one call in flight;
a closed flow's client likewise. Where such callers share a thread pool held through its
calls (its flow-equivalent server, `models.analysis.layers`) with open arrivals, that
server takes every arrival as Poisson: each consumer's calls then queue behind its own,
and the pool's wait comes out far too long (two consumers of a log topic and 80 reads/s
at a pool of 4 threads over a database of 2 servers, 75% busy: the pool's wait 5.3 ms
predicted, 2.5 ms simulated, and the consumers predicted nearly saturated, 499 ms of
waiting for 49 ms).

The two-class station of `models.analysis.mixed_source` is that pool's chain with the
threads' speed in it: with k threads busy they complete X(k) requests a second between
them (the flow-equivalent server's rates), each X(k) / k, whichever class it serves. Its
waits, over the flow-equivalent server's own with Poisson arrivals (one class), scale the
pool's wait as the network has it (its arrivals' and holding times' variability, the
population below it: `models.analysis.excess_pools`), so that each class keeps what
those add. Only sources that queue nowhere together qualify (`bounds.CallerBounds.
independent`): a pool's threads, which share a queue of their own, send their next call
soon after the last one, which independent think times do not see (splitting their
waits so took a pool of the Alibaba-like model of the regression set from -3% to -28%,
docs/analysis.md sec. 12).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from models.analysis.layers import Layer
from models.analysis.mixed_source import BoundedCaller, mixed_source
from models.analysis.moments import Moments
from models.analysis.station_load import StationLoad, StationSolution
from models.schema import Scenario

SPLIT_NOTE = "its independent callers' waits apart"


def independent_sources(scenario: Scenario, bounded: BoundedCaller) -> bool:
    """Whether every caller of the bounded class is a log topic's consumers (one message
    in hand each, held through its calls) or a closed flow's clients."""
    for kind, name in bounded.callers:
        if kind == "handler":
            if scenario.topics[name].type != "log":
                return False
        elif kind != "flow":
            return False
    return True


def split_pool(
    scenario: Scenario,
    load: StationLoad,
    solution: StationSolution,
    layer: Layer,
    rate: float,
    holding: Moments,
) -> StationSolution:
    """`solution` (the pool's, `rate` acquisitions a second of `holding`) with its
    independent bounded callers' waits apart from the others' (module docstring), or as
    it is where that does not apply."""
    bounded = load.bounded
    rates = layer.completion_rates
    if (
        bounded is None
        or not solution.stable
        or not rates
        or not independent_sources(scenario, bounded)
        or solution.caller_waiting is not None
        or layer.waiting <= 0.0
    ):
        return solution
    waits = _waits(rate, holding, bounded, rates, layer.waiting)
    if waits is None:
        return solution
    wait = next(iter(solution.waiting.values())).mean
    own, others = waits[0] * wait, waits[1] * wait
    mean = (bounded.arrival_rate * own + (rate - bounded.arrival_rate) * others) / rate
    scale = mean / wait if wait > 0 else 1.0
    return dataclasses.replace(
        solution,
        method=f"{solution.method}, {SPLIT_NOTE} ({bounded.label})",
        waiting={
            p: Moments(w.mean * scale, w.variance * scale**2) for p, w in solution.waiting.items()
        },
        caller_waiting=(bounded.callers, own, others),
    )


def _waits(
    rate: float,
    holding: Moments,
    bounded: BoundedCaller,
    completion_rates: Sequence[float],
    one_class: float,
) -> tuple[float, float] | None:
    """The bounded class's and the open class's waits over the flow-equivalent server's
    one-class wait `one_class`, from the two-class chain with the threads' speeds
    X(k) S / k (S the mean holding time, so that a request of mean S is done at X(k) / k
    a thread); None where the chain does not apply (`mixed_source`)."""
    threads = len(completion_rates)
    open_rate = rate - bounded.arrival_rate
    own_offered = bounded.arrival_rate * bounded.holding.mean
    open_offered = rate * holding.mean - own_offered
    if open_rate <= 1e-9 * rate or open_offered <= 0.0:
        return None
    speed = [1.0] + [x * holding.mean / k for k, x in enumerate(completion_rates, start=1)]
    result = mixed_source(
        open_rate,
        open_offered / open_rate,
        bounded.arrival_rate,
        bounded.holding.mean,
        bounded.population,
        threads,
        speed,
    )
    if result is None or not math.isfinite(result.bounded_waiting):
        return None
    return result.bounded_waiting / one_class, result.open_waiting / one_class
