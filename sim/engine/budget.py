"""Run-time limits of one replication: an event budget and a memory budget.

What `models.budget` cannot refuse before the run (a trace, a burst, retries, a model whose
estimate is low) is bounded here: `run_bounded` runs the simpy environment exactly as
`Environment.run(until=end)` does — the same stop event, scheduled at the same moment, and
the same steps, `Environment.step` written out in the loop (one Python call fewer per event:
about 3% of an event pipeline's run; `tests/unit/test_simpy_contract.py` pins the simpy
internals it reads: the calendar `_queue`, `_now`, the events' `callbacks`, `_ok`, `_value`
and `_defused`) — but in chunks of `RunBudget.check_every` events, and between two
chunks it counts the events processed, looks at the clock (`stall_events` events without it
moving mean a loop at one instant: closed clients without think time whose requests a full
waiting room refuses at once, say) and at the process's memory. A replication that
exceeds a budget stops there, between two events, and `run_bounded` says why; its results
are then partial (`sim.engine.replication`, docs/results.md). The hot path is untouched:
nothing is counted per event, and a run that stays within its budgets processes the very
same events in the same order as `env.run(until=end)`, so its results are identical.

Memory is the resident set size of the process (Linux `/proc/self/statm`; elsewhere the peak
from `resource`), against `max_memory` bytes, or by default `memory_fraction` (75%) of what
was available to the process when the replication started (its own size plus the machine's
`MemAvailable`, or its cgroup's room if smaller). Since replications may run side by side in
several processes, a replication also stops when the machine itself is nearly out of memory
(less than 5% of it, or 256 MB, available) while it holds 256 MB or more: stopping is
better than the kernel's OOM killer, which would lose every replication.
"""

from __future__ import annotations

import contextlib
import heapq
import os
import sys
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path

import simpy
from simpy.core import StopSimulation
from simpy.events import URGENT, Event

from models.budget import DEFAULT_MAX_EVENTS

CHECK_EVERY = 65_536
"""Events between two checks (about a tenth of a second of CPU)."""
STALL_EVENTS = 10_000_000
"""Events at one instant of simulated time that mean time stands still (half a minute of
CPU): a loop of zero-time events, such as closed clients without think time whose requests
are refused at once by a full waiting room, a rate limit or an outage."""
LOW_MEMORY_FRACTION = 0.05
LOW_MEMORY_BYTES = 256 * 2**20
"""The machine is nearly out of memory below max(5% of it, 256 MB) available ..."""
LARGE_PROCESS_BYTES = 256 * 2**20
"""... and a replication of at least this size then stops."""


@dataclass(frozen=True)
class RunBudget:
    """The limits of one replication (picklable: it travels with the task)."""

    max_events: int | None = DEFAULT_MAX_EVENTS
    """Simulation events a replication may process; None: no limit (`--max-events 0`)."""
    max_memory: int | None = None
    """Bytes of memory (resident set) a replication's process may hold; None: the
    `memory_fraction` of what is available when it starts."""
    memory_fraction: float | None = 0.75
    """With `max_memory` None: the share of the available memory; None: no memory limit."""
    stall_events: int | None = STALL_EVENTS
    """Events a replication may process without its clock moving; None: no limit."""
    check_every: int = CHECK_EVERY
    """Events between two checks."""

    @classmethod
    def unlimited(cls) -> RunBudget:
        """No limit at all (the run goes on to its end, whatever it costs)."""
        return cls(max_events=None, max_memory=None, memory_fraction=None, stall_events=None)


def run_bounded(env: simpy.Environment, until: float, budget: RunBudget) -> str | None:
    """Run `env` until `until` like ``env.run(until=until)``; None when it got there, else
    why it stopped early (the environment is then left at the event where it stopped)."""
    stop = Event(env)  # (what Environment.run(until) schedules: the same event, same moment)
    stop._ok = True
    stop._value = None
    env.schedule(stop, URGENT, until - env.now)
    stop.callbacks.append(StopSimulation.callback)
    memory = MemoryGuard.of(budget)
    limit = budget.max_events
    every = max(budget.check_every, 1)
    stall = budget.stall_events
    calendar, pop = env._queue, heapq.heappop
    processed = 0
    still, since = 0, env.now  # events processed at the instant `since`, as far as seen
    try:
        while True:
            chunk = every if limit is None else max(1, min(every, limit + 1 - processed))
            for _ in repeat(None, chunk):  # (`Environment.step`, written out: module docstring)
                env._now, _, _, event = pop(calendar)
                callbacks, event.callbacks = event.callbacks, None  # type: ignore[assignment]
                for callback in callbacks:
                    callback(event)
                if not event._ok and not hasattr(event, "_defused"):
                    raise _failure(event)
            processed += chunk
            if limit is not None and processed > limit:
                return (
                    f"the event budget of {limit:,} events per replication was exceeded at "
                    f"t = {env.now:.6g} s of {until:.6g} s (--max-events)"
                )
            still, since = (still + chunk, since) if env.now == since else (0, env.now)
            if stall is not None and still >= stall:
                return (
                    f"simulated time stood still at t = {env.now:.6g} s of {until:.6g} s for "
                    f"{still:,} events: something repeats at the same instant for ever (e.g. "
                    f"closed clients without think time whose requests are refused at once)"
                )
            reason = memory.exceeded() if memory is not None else None
            if reason is not None:
                return f"{reason} at t = {env.now:.6g} s of {until:.6g} s"
    except StopSimulation:
        return None


class MemoryGuard:
    """Watches the memory of this process against a limit (module docstring)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit

    @classmethod
    def of(cls, budget: RunBudget) -> MemoryGuard | None:
        """The guard of `budget` (None: no memory limit, or no way to measure it here)."""
        if budget.max_memory is not None:
            return cls(budget.max_memory)
        if budget.memory_fraction is None:
            return None
        available, resident = available_memory(), resident_memory()
        if available is None or resident is None:
            return None
        return cls(int(budget.memory_fraction * (available + resident)))

    def exceeded(self) -> str | None:
        """Why this process must stop now, or None."""
        resident = resident_memory()
        if resident is None:
            return None
        if resident > self.limit:
            return (
                f"the memory budget of {_size(self.limit)} was exceeded ({_size(resident)} in use)"
            )
        if resident >= LARGE_PROCESS_BYTES:
            available, total = available_memory(), total_memory()
            if available is not None and total is not None:
                floor = max(LOW_MEMORY_FRACTION * total, LOW_MEMORY_BYTES)
                if available < floor:
                    return (
                        f"the machine ran out of memory ({_size(available)} left; this "
                        f"replication held {_size(resident)})"
                    )
        return None


def _failure(event: Event) -> BaseException:
    """The exception a failed, undefused event crashes the environment with (as
    `Environment.step` makes it: a copy of the event's, caused by it)."""
    cause: BaseException = event._value
    exception = type(cause)(*cause.args)
    exception.__cause__ = cause
    return exception


def _size(bytes_: float) -> str:
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if bytes_ >= scale:
            return f"{bytes_ / scale:.1f} {unit}"
    return f"{bytes_:.0f} B"


def resident_memory() -> int | None:
    """Bytes this process holds in memory now (its peak where /proc is missing)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    try:
        import resource
    except ImportError:  # (Windows)
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def _meminfo() -> dict[str, int]:
    """/proc/meminfo in bytes ({} where it is missing)."""
    values: dict[str, int] = {}
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            name, _, rest = line.partition(":")
            parts = rest.split()
            if parts:
                values[name] = int(parts[0]) * (1024 if parts[1:] == ["kB"] else 1)
    return values


def _cgroup_room() -> int | None:
    """Bytes the process's cgroup (v2, or v1) may still take, if it is limited."""
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/memory/memory.usage_in_bytes",
        ),
    ):
        with contextlib.suppress(OSError, ValueError):
            limit = Path(limit_file).read_text().strip()
            if limit == "max" or int(limit) >= 2**60:
                return None
            return max(int(limit) - int(Path(usage_file).read_text().strip()), 0)
    return None


def available_memory() -> int | None:
    """Bytes the machine (or the cgroup, if smaller) can still give, or None if unknown."""
    available = _meminfo().get("MemAvailable")
    room = _cgroup_room()
    if available is None:
        return room
    return available if room is None else min(available, room)


def total_memory() -> int | None:
    """Bytes of memory of the machine, or None if unknown."""
    return _meminfo().get("MemTotal")
