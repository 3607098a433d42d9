"""Arrival sources whose rate changes: MMPP bursts, replayed traces, sinusoidal cycles.

Each schedules one arrival at a time on simpy's calendar and calls `flow.arrive()` then.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import simpy

from models.arrivals import MmppSpec, SinusoidSpec, TraceSpec
from sim.engine.flows import FlowRuntime


class MmppSource:
    """A Markov-modulated Poisson process on a cycle of phases (`models.arrivals`).

    In phase i the next event comes after Exp(r_i + s_i); it is an arrival with probability
    r_i / (r_i + s_i), else the phase moves on to i + 1 (competing exponentials). The first
    phase is drawn from the stationary distribution.
    """

    def __init__(
        self,
        env: simpy.Environment,
        flow: FlowRuntime,
        spec: MmppSpec,
        unit_exponential: Callable[[], float],
        uniform: Callable[[], float],
    ) -> None:
        self.env = env
        self.flow = flow
        self.rates = list(spec.rates)
        self.switch_rates = list(spec.switch_rates)
        self.unit_exponential = unit_exponential
        self.uniform = uniform
        draw, self.phase = uniform(), 0
        for probability in spec.stationary[:-1]:
            if draw < probability:
                break
            draw -= probability
            self.phase += 1

    def start(self) -> None:
        """Schedule the first event."""
        self._next()

    def _next(self) -> None:
        total = self.rates[self.phase] + self.switch_rates[self.phase]
        self.env.timeout(self.unit_exponential() / total).callbacks.append(self._event)

    def _event(self, _event: object) -> None:
        phase = self.phase
        total = self.rates[phase] + self.switch_rates[phase]
        arrival = self.uniform() * total < self.rates[phase]
        if not arrival:
            self.phase = (phase + 1) % len(self.rates)
        self._next()
        if arrival:
            self.flow.arrive()


class TraceSource:
    """Arrivals at the times of a trace, divided by `speed`, looped if `repeat` (a loop
    lasts as long as the trace's last arrival time)."""

    def __init__(self, env: simpy.Environment, flow: FlowRuntime, spec: TraceSpec) -> None:
        self.env = env
        self.flow = flow
        self.times: Sequence[float] = [time / spec.speed for time in spec.times]
        self.repeat = spec.repeat
        self.loop_length = self.times[-1]
        self.index = 0
        self.offset = 0.0

    def start(self) -> None:
        """Schedule the first arrival."""
        self._schedule()

    def _schedule(self) -> None:
        if self.index == len(self.times):
            if not self.repeat:
                return
            self.index = 0
            self.offset += self.loop_length
        time = self.offset + self.times[self.index]
        self.index += 1
        self.env.timeout(max(0.0, time - self.env.now)).callbacks.append(self._arrival)

    def _arrival(self, _event: object) -> None:
        self._schedule()
        self.flow.arrive()


class SinusoidSource:
    """Poisson arrivals at rate mean + amplitude sin(2 pi (t - phase) / period), by thinning:
    candidates at the peak rate mean + amplitude, each kept with probability rate(t) / peak
    (Lewis and Shedler, "Simulation of nonhomogeneous Poisson processes by thinning", 1979)."""

    def __init__(
        self,
        env: simpy.Environment,
        flow: FlowRuntime,
        spec: SinusoidSpec,
        unit_exponential: Callable[[], float],
        uniform: Callable[[], float],
    ) -> None:
        self.env = env
        self.flow = flow
        self.spec = spec
        self.peak = spec.mean + spec.amplitude
        self.unit_exponential = unit_exponential
        self.uniform = uniform

    def start(self) -> None:
        """Schedule the first candidate."""
        self._next()

    def _next(self) -> None:
        self.env.timeout(self.unit_exponential() / self.peak).callbacks.append(self._candidate)

    def _candidate(self, _event: object) -> None:
        self._next()
        if self.uniform() * self.peak < self.spec.rate(self.env.now):
            self.flow.arrive()
