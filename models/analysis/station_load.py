"""What a station formula works on: a pool's load by class, and what the formula predicts.

`models.analysis.loads` builds the loads from the operations' summaries and the traffic;
`models.analysis.stations` picks the formula and solves them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

from models.analysis.mixed_source import BoundedCaller
from models.analysis.moments import Moments
from models.analysis.summary import NOT_POISSON
from models.analysis.value_types import value_type
from models.distributions import Distribution


class RenewalLaw(Protocol):
    """The law of the time between renewal arrivals, as the GI/M/c formula reads it: a
    `Distribution` (a flow's `interarrival` law), or the gaps between one server's
    departures (`models.analysis.departure_streams.DepartureGaps`). Hashable (a
    `StationLoad` is a key)."""

    @property
    def mean(self) -> float: ...

    def laplace(self, s: float) -> float | None: ...

    def __hash__(self) -> int: ...


@value_type(kept_hash=True)
class ClassLoad:
    """The load of one priority class at one server pool."""

    priority: int
    arrival_rate: float
    """Worker acquisitions per second (reacquisitions after non-blocking calls included)."""
    fresh_rate: float
    """New arrivals per second (those subject to the waiting-room limit)."""
    holding: Moments
    """Holding time per acquisition (a mixture over the class's operations)."""
    exponential_mean: float | None
    """The common mean when every holding time is one exponential step."""
    iid: bool
    holding_exact: bool
    hyperexponential: tuple[float, float] | None = None
    """The common (mean, cv) when every holding time is one hyperexponential `work` step
    (then M/H2/c with Poisson arrivals is exact)."""
    third_moment: float | None = None
    """E[S³] of the holding time when every operation is one `work` step whose law has it
    in closed form (M/H2/c then fits three moments)."""
    laws: tuple[tuple[float, Distribution], ...] | None = None
    """(acquisitions per second, law) of each operation when every one that has
    acquisitions is one `work` step and its holding time is that work (one server with a
    finite room is then M/G/1/K exactly: `models.analysis.finite_rooms`)."""


@value_type(kept_hash=True)
class StationLoad:
    """One server pool: its servers, waiting room, discipline and load."""

    servers: int | None
    """Servers (workers or consumers); None = unlimited."""
    room: int | None
    """Waiting room (not counting requests in service); None = unbounded."""
    priority: bool
    """True for `discipline: priority` (non-preemptive, lower number first)."""
    classes: tuple[ClassLoad, ...]
    arrival_scv: float
    """Squared coefficient of variation of the interarrival times."""
    input_flag: int
    """Poisson flag of the arrivals (see `models.analysis.summary`)."""
    erlang_phases: int | None = None
    """k when arrivals are every k-th of a Poisson stream (round-robin splitting)."""
    note: str = ""
    """An approximation made in building the pool (named in the method)."""
    population: int | None = None
    """Most requests that can ever be present (bounded callers); None = unbounded."""
    closed: bool = False
    """True when every request comes (synchronously) from closed flows' clients."""
    independent: bool = False
    """True when every request comes straight from sources that queue nowhere together:
    closed flows' clients and log topics' consumers (`bounds.CallerBounds.independent`)."""
    feedback: int = 0
    """Attempts that come back after a failure (retries): 0 none; 1 the callee's own
    failures, independent of its queue, retried at once or after a delay — a product-form
    (Jackson/BCMP) feedback, under which the exponential FIFO formulas stay exact; 2 other
    retries (after timeouts, drops, rejections): no formula is exact."""
    bounded: BoundedCaller | None = None
    """The blocking caller with few workers that brings the most load, if any (the
    two-class station, `models.analysis.mixed_source`)."""
    interarrival: RenewalLaw | None = None
    """The time between arrivals where they are a renewal stream sent straight to this pool
    and nothing else (GI/M/c): one flow's (`constant` or `interarrival` arrivals whose law
    has a Laplace transform), or taken as one, one server's departures (its messages:
    `models.analysis.departure_streams`); None otherwise."""
    groups: tuple[tuple[int, float], ...] | None = None
    """(size, groups per second) where requests arrive in groups (a `parallel` step's
    branches calling this pool at once, messages published at once: `models.analysis.
    fan_out`); None: one at a time."""
    least_outstanding: int = 1
    """The replicas that `balancing: least_outstanding` splits the pool into (each request
    joins the one with the fewest present: `models.analysis.least_outstanding`); 1: one
    pool."""
    paced: bool = False
    """Arrivals at least as far apart as a server's longest hold divided by the servers,
    so that none ever waits (`models.analysis.paced`)."""


@value_type
class StationSolution:
    """What the formula predicts for one server pool."""

    method: str
    exact: bool
    stable: bool
    saturated: bool
    """Offered load >= servers (no steady state, or heavy loss with a finite room)."""
    arrival_rate: float
    offered_load: float
    """Busy servers needed to serve every arrival (Erlangs)."""
    utilization: float
    """Busy fraction of the servers (<= 1)."""
    throughput: float
    """Acquisitions admitted per second."""
    loss: float
    p_wait: float | None
    waiting: dict[int, Moments] = field(default_factory=dict)
    departure_flag: int = NOT_POISSON
    mm1: bool = False
    infinite_variance: bool = False
    """The service SCV is infinite, so the mean wait is infinite although stable."""
    pressure: float | None = None
    """Arrival rate over capacity when that is not offered load over servers (a thread pool
    solved with its callees); >= 1 means saturated."""
    caller_waiting: tuple[tuple[tuple[str, str], ...], float, float] | None = None
    """(callers, the mean wait their requests see, the mean wait of every other request)
    where bounded callers' requests wait otherwise than the rest (`waiting` is their mean:
    the callers of one class of the two-class station, `mixed_source.BoundedCaller`)."""

    def load_ratio(self, servers: int) -> float:
        """How close to saturation (1): arrival rate relative to what the pool can serve."""
        if self.pressure is not None:
            return self.pressure
        return self.offered_load / servers

    def capacity(self, servers: int | None) -> float:
        """Requests per second the pool serves flat out: its arrival rate over its load
        ratio (inf without a limit, or without a load to tell it by)."""
        ratio = self.load_ratio(servers or 1)
        if servers is None or not ratio > 0:
            return math.inf
        return self.arrival_rate / ratio


@value_type
class PoolMix:
    """The classes of a pool that have arrivals, taken together as the formulas need them."""

    classes: tuple[ClassLoad, ...]
    """The classes with a positive arrival rate."""
    rate: float
    """Worker acquisitions per second, all classes together."""
    holding: Moments
    """The holding time: the classes' mixture by arrival rate."""
    exponential: float | None
    """The common mean when every holding time is one exponential step."""
    hyperexponential: tuple[float, float] | None
    """The common (mean, cv) when every holding time is one hyperexponential step."""
    third_moment: float | None
    """E[S³] of the holding time, where every class has it."""
    iid: bool
    holding_exact: bool
    poisson: bool
    """Poisson arrivals (not split round-robin)."""

    @property
    def offered(self) -> float:
        """Offered load: busy servers needed to serve every arrival (Erlangs)."""
        return self.rate * self.holding.mean


@dataclass
class ServiceStation:
    """A service: `pools` identical server pools (replicas unless pooled), each with `load`."""

    name: str
    pools: int
    load: StationLoad
    solution: StationSolution
    completion_rates: tuple[float, ...] | None = None
    """For a blocking pool solved as a flow-equivalent server (`models.analysis.layers`):
    X(1), ..., X(c), the requests per second it completes with n = 1..c of them inside it
    (its callees' limits included); None otherwise."""


@dataclass
class GroupStation:
    """A consumer group: one pool (queue topic) or one single-server consumer per share of
    the partitions (log topic)."""

    topic: str
    group: str
    threads: int
    partitions: int
    delivery: Moments
    delivery_exact: bool
    consumers: list[tuple[StationLoad, StationSolution]]
    """Each consumer (server pool) with its load and solution."""
    shares: list[float]
    """Each consumer's share of the group's messages."""

    def stable(self) -> bool:
        """Whether every consumer has a steady state."""
        return all(solution.stable for _, solution in self.consumers)

    def utilization(self) -> float:
        """Busy fraction of the group's consumer threads."""
        busy = math.fsum(s.utilization * (load.servers or 0) for load, s in self.consumers)
        return busy / self.threads
