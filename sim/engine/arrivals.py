"""Where a flow's requests come from: open arrivals (renewal or time-varying Poisson) or
closed clients.

An open flow generates arrivals by a renewal process (Poisson, constant, any interarrival
distribution) or by a Poisson process with a piecewise-constant rate (`profile`). A closed
flow has `clients` that each issue a request, wait for its response, think for
`think_time`, and issue the next one.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from typing import Protocol

import simpy
from simpy.events import NORMAL

from models import schema
from models.arrivals import MmppArrivals, SinusoidArrivals, TraceArrivals
from models.distributions import Constant, Exponential
from sim.engine.flows import FlowRuntime
from sim.engine.streams import Streams, block_sampler
from sim.engine.varying import MmppSource, SinusoidSource, TraceSource


class OpenArrivals:
    """A renewal arrival process: the next arrival after a sampled interarrival time.

    The source is its own wake-up event on simpy's calendar, as a frame is (`sim.engine.jobs`).
    """

    __slots__ = ("_wakeup", "callbacks", "flow", "interarrival", "schedule")

    _ok = True  # as a simpy event: a wake-up always succeeds

    def __init__(
        self, env: simpy.Environment, flow: FlowRuntime, interarrival: Callable[[], float]
    ) -> None:
        self.schedule: Callable[..., None] = env.schedule
        self.flow = flow
        self.interarrival = interarrival
        self._wakeup = [self._arrival]
        self.callbacks = self._wakeup

    def start(self) -> None:
        """Schedule the first arrival (one interarrival time after time zero)."""
        self.schedule(self, NORMAL, self.interarrival())

    def _arrival(self, _event: object) -> None:
        self.callbacks = self._wakeup  # simpy cleared them when it called them
        self.schedule(self, NORMAL, self.interarrival())
        self.flow.arrive()


class ClosedClients:
    """`clients` users, each alternating think time and one request at a time."""

    def __init__(
        self,
        env: simpy.Environment,
        flow: FlowRuntime,
        clients: int,
        think_time: Callable[[], float],
    ) -> None:
        self.env = env
        self.flow = flow
        self.clients = clients
        self.think_time = think_time
        flow.on_response = self._think

    def start(self) -> None:
        """Every client starts by thinking."""
        for _ in range(self.clients):
            self._think()

    def _think(self) -> None:
        self.env.timeout(self.think_time()).callbacks.append(self.flow.arrive)


class ProfileArrivals:
    """Poisson arrivals whose rate is piecewise constant: `changes` = [(time, rate), ...].

    The next arrival is found by inverting the integrated rate: with E ~ Exp(1), it is the
    time t at which the integral of the rate from now to t reaches E (exact for a
    non-homogeneous Poisson process; Ross, "Simulation", §5.5).
    """

    def __init__(
        self,
        env: simpy.Environment,
        flow: FlowRuntime,
        changes: Sequence[tuple[float, float]],
        unit_exponential: Callable[[], float],
    ) -> None:
        self.env = env
        self.flow = flow
        self.starts = [start for start, _ in changes]
        self.rates = [rate for _, rate in changes]
        self.unit_exponential = unit_exponential

    def start(self) -> None:
        """Schedule the first arrival."""
        self._schedule(0.0)

    def _schedule(self, now: float) -> None:
        remaining = self.unit_exponential()
        segment = bisect.bisect_right(self.starts, now) - 1
        time = now
        while True:
            rate = self.rates[segment]
            end = self.starts[segment + 1] if segment + 1 < len(self.starts) else math.inf
            if rate > 0 and time + remaining / rate <= end:
                self.env.timeout(time + remaining / rate - now).callbacks.append(self._arrival)
                return
            if end == math.inf:
                return  # the rate stays 0 forever: no more arrivals
            remaining -= rate * (end - time)
            time = end
            segment += 1

    def _arrival(self, _event: object) -> None:
        self._schedule(self.env.now)
        self.flow.arrive()


class Source(Protocol):
    """Where a flow's requests come from: `start()` schedules the first one."""

    def start(self) -> None:
        """Schedule the first arrival (or event)."""


def arrival_source(
    flow: schema.Flow, runtime: FlowRuntime, env: simpy.Environment, streams: Streams, path: str
) -> Source:
    """The source of a flow's requests (not yet started), its streams named under `path`
    (the flow's YAML path)."""
    if flow.clients is not None:
        think = flow.think_time
        think_sampler = streams.sampler(think, f"{path}.think_time") if think is not None else _zero
        return ClosedClients(env, runtime, flow.clients, think_sampler)
    arrivals = flow.arrivals
    rng = streams.generator(f"{path}.arrivals")
    if isinstance(arrivals, schema.ProfileArrivals):
        changes = [(change.at, change.rate) for change in arrivals.profile]
        return ProfileArrivals(env, runtime, changes, block_sampler(Exponential(1.0), rng))
    if isinstance(arrivals, MmppArrivals):
        uniform = streams.uniform(f"{path}.arrivals.phases")
        return MmppSource(
            env, runtime, arrivals.mmpp, block_sampler(Exponential(1.0), rng), uniform
        )
    if isinstance(arrivals, TraceArrivals):
        return TraceSource(env, runtime, arrivals.trace)
    if isinstance(arrivals, SinusoidArrivals):
        uniform = streams.uniform(f"{path}.arrivals.thinning")
        unit = block_sampler(Exponential(1.0), rng)
        return SinusoidSource(env, runtime, arrivals.sinusoid, unit, uniform)
    if isinstance(arrivals, schema.PoissonArrivals):
        interarrival = block_sampler(Exponential(1.0 / arrivals.poisson), rng)
    elif isinstance(arrivals, schema.ConstantArrivals):
        interarrival = block_sampler(Constant(1.0 / arrivals.constant), rng)
    elif isinstance(arrivals, schema.InterarrivalArrivals):
        interarrival = block_sampler(arrivals.interarrival, rng)
    else:
        raise TypeError(f"unknown arrivals {type(arrivals).__name__}")
    return OpenArrivals(env, runtime, interarrival)


def _zero() -> float:
    return 0.0
