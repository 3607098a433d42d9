"""Run-time limits of one replication: an event budget, a stall budget and a memory budget.

What `models.budget` cannot refuse before the run (a trace, a burst, retries, a model whose
estimate is low) is bounded here: `run_bounded` runs the simpy environment exactly as
`Environment.run(until=end)` does — the same stop event, scheduled at the same moment, and
the same steps, `Environment.step` written out in the loop (one Python call fewer per event:
about 3% of an event pipeline's run; `tests/unit/test_simpy_contract.py` pins the simpy
internals it reads: the calendar `_queue`, `_now`, the events' `callbacks`, `_ok`, `_value`
and `_defused`) — but in chunks of `RunBudget.check_every` events, and between two
chunks it counts the events processed, looks at the clock (`stall_events` events without it
moving, or more if the instant began with many events pending, `stall_allowance`, mean a
loop at one instant: closed clients without think time whose requests a full waiting room
refuses at once, say) and at the process's memory. A replication that exceeds a budget
stops there, between two events, and `run_bounded` says why; its results are then partial
(`sim.engine.replication`, docs/results.md). The hot path is untouched: nothing is counted
per event, and a run that stays within its budgets processes the very same events in the
same order as `env.run(until=end)`, so its results are identical.

Work without an event of its own is counted too (`InstantWork`): an attempt retried at once
(a failed call retried without a backoff, a failed message attempted again without a
`retry_backoff`) schedules nothing, so a callee that fails at once, retried 999 times for
every request, would otherwise escape the event budget, and closed clients whose every
request is retried in vain at one instant would escape the stall. The retry paths count each
such attempt as one event (a counter on those paths only), towards the event budget and the
stall; a count over either stops the run at once, even in the middle of one event's storm
of retries.

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
import math
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
STALL_EVENTS = 1_000_000
"""Events at one instant of simulated time that mean time stands still (a few seconds of
CPU): a loop of zero-time events, such as closed clients without think time whose requests
are refused at once by a full waiting room, a rate limit or an outage."""
STALL_EVENTS_PER_PENDING = 16
"""... unless the instant began with many events pending: then this many per event on the
calendar when the instant was first seen. A legitimate burst at one instant (a million
closed clients starting together, requests aligned by constant times, messages by a
constant delivery latency) is on the calendar ahead of time, and each of its events may
cause a few more at the same instant; a loop repeats a few events for ever."""
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
    """Events a replication may process without its clock moving (at least: see
    `stall_events_per_pending`); None: no limit."""
    stall_events_per_pending: int = STALL_EVENTS_PER_PENDING
    """Events without the clock moving allowed per event pending when the instant was first
    seen, where that is more than `stall_events` (`stall_allowance`)."""
    check_every: int = CHECK_EVERY
    """Events between two checks."""

    @classmethod
    def unlimited(cls) -> RunBudget:
        """No limit at all (the run goes on to its end, whatever it costs)."""
        return cls(max_events=None, max_memory=None, memory_fraction=None, stall_events=None)


class InstantWork:
    """Work done at once, without an event of its own, that the budgets count as events:
    attempts retried immediately (module docstring). `ResilientCall` and `ConsumerGroup`
    call `add` on their retry paths, when the retry has no backoff.

    `run_bounded` reads `done` between two chunks of events and tells `start_chunk` what the
    next chunk may take. One event may cause millions of attempts (a storm of immediate
    retries nested in calls retried at once; closed clients without think time whose every
    request is retried at once in vain), so `add` stops the run at once (`BudgetError`),
    between two attempts, when the events and attempts go over the event budget (the events
    of the chunk so far counted exactly, `events_in_chunk`, once the attempts come near it),
    or the attempts at one instant over the stall budget. Outside `run_bounded` nothing
    stops: the limits stay infinite."""

    __slots__ = (
        "allowed",
        "allowed_at_once",
        "at_once",
        "chunk",
        "done",
        "env",
        "instant",
        "pending_at_start",
        "room",
        "scheduled_at_start",
    )

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.done = 0
        """Attempts retried at once so far in the replication."""
        self.instant = env.now
        """The instant of the last attempt ..."""
        self.at_once = 0
        """... and the attempts made at that instant."""
        self.room: float = math.inf
        """The events of this chunk plus `done` that the event budget allows ..."""
        self.allowed: float = math.inf
        """... hence the count of `done` up to which it surely holds (all the chunk's events
        processed); beyond it every attempt counts the chunk's events."""
        self.allowed_at_once: float = math.inf
        """The count of `at_once` beyond which time stands still."""
        self.chunk = 0
        self.scheduled_at_start = self.pending_at_start = 0

    def start_chunk(self, room: float, chunk: int, allowed_at_once: float) -> None:
        """Before a chunk of `chunk` events, with `room` (see above) and the stall's limit;
        infinite: no limit."""
        self.room, self.allowed, self.chunk = room, room - chunk, chunk
        self.allowed_at_once = allowed_at_once
        if room != math.inf:
            self.scheduled_at_start = _scheduled(self.env) or 0
            self.pending_at_start = len(self.env._queue)

    def add(self) -> None:
        """One attempt retried at once (retry paths only: never on the hot path)."""
        self.done += 1
        now = self.env._now
        if now != self.instant:
            self.instant, self.at_once = now, 0
        self.at_once += 1
        if self.done > self.allowed and self.done + self.events_in_chunk() > self.room:
            raise BudgetError
        if self.at_once > self.allowed_at_once:
            raise BudgetError

    def events_in_chunk(self) -> int:
        """The events processed since the chunk started: those put on the calendar since,
        less its growth (the whole chunk if simpy does not say how many it scheduled)."""
        scheduled = _scheduled(self.env)
        if scheduled is None:
            return self.chunk
        grown = len(self.env._queue) - self.pending_at_start
        return scheduled - self.scheduled_at_start - grown


def _scheduled(env: simpy.Environment) -> int | None:
    """How many events were put on `env`'s calendar so far: simpy numbers each from
    `env._eid`, an `itertools.count` whose repr, `count(N)`, shows the next number without
    taking it (None if it does not)."""
    text = repr(env._eid)
    if text.startswith("count(") and text.endswith(")"):
        with contextlib.suppress(ValueError):
            return int(text[6:-1])
    return None


class BudgetError(Exception):
    """Raised by `InstantWork.add` in the middle of an event, caught by `run_bounded`."""


def stall_allowance(budget: RunBudget, pending: int) -> int | None:
    """The events an instant may take without the clock moving, `pending` events being on
    the calendar when it was first seen (None: no limit).

    >>> stall_allowance(RunBudget(), pending=10), stall_allowance(RunBudget(), 1_000_000)
    (1000000, 16000000)
    """
    if budget.stall_events is None:
        return None
    return max(budget.stall_events, budget.stall_events_per_pending * pending)


def run_bounded(
    env: simpy.Environment,
    until: float,
    budget: RunBudget,
    instant: InstantWork | None = None,
) -> str | None:
    """Run `env` until `until` like ``env.run(until=until)``; None when it got there, else
    why it stopped early (the environment is then left at the event where it stopped).
    `instant`: the replication's work without events, counted as events (`InstantWork`)."""
    stop = Event(env)  # (what Environment.run(until) schedules: the same event, same moment)
    stop._ok = True
    stop._value = None
    env.schedule(stop, URGENT, until - env.now)
    stop.callbacks.append(StopSimulation.callback)
    memory = MemoryGuard.of(budget)
    limit = budget.max_events
    every = max(budget.check_every, 1)
    work = instant if instant is not None else InstantWork(env)
    calendar, pop = env._queue, heapq.heappop
    processed = 0
    still, since = 0, env.now  # events processed at the instant `since`, as far as seen
    allowed_still = stall_allowance(budget, len(calendar))
    try:
        while True:
            done = work.done
            chunk = every if limit is None else max(1, min(every, limit + 1 - processed - done))
            work.start_chunk(
                math.inf if limit is None else limit - processed,
                chunk,
                math.inf if allowed_still is None else allowed_still,
            )
            for _ in repeat(None, chunk):  # (`Environment.step`, written out: module docstring)
                env._now, _, _, event = pop(calendar)
                callbacks, event.callbacks = event.callbacks, None  # type: ignore[assignment]
                for callback in callbacks:
                    callback(event)
                if not event._ok and not hasattr(event, "_defused"):
                    raise _failure(event)
            processed += chunk
            if limit is not None and processed + work.done > limit:
                return _events_exceeded(limit, work.done, env.now, until)
            if env.now == since:
                still += chunk + work.done - done
            else:
                still, since = 0, env.now
                allowed_still = stall_allowance(budget, len(calendar))
            if allowed_still is not None and still >= allowed_still:
                return _stood_still(still, work, env.now, until)
            reason = memory.exceeded() if memory is not None else None
            if reason is not None:
                return f"{reason} at t = {env.now:.6g} s of {until:.6g} s"
    except StopSimulation:
        return None
    except BudgetError:  # (in the middle of an event: `InstantWork.add`)
        if limit is not None and work.at_once <= work.allowed_at_once:
            return _events_exceeded(limit, work.done, env.now, until)
        counted = still + work.done - done if env.now == since else work.at_once
        return _stood_still(counted, work, env.now, until)
    finally:
        work.start_chunk(math.inf, 0, math.inf)


def _stood_still(count: int, work: InstantWork, now: float, until: float) -> str:
    """Why a run stopped when its clock stood still for `count` events (saying so if
    attempts retried at once at this instant are among them)."""
    retried = " (attempts retried at once included)" if work.at_once and work.instant == now else ""
    return (
        f"simulated time stood still at t = {now:.6g} s of {until:.6g} s for {count:,} "
        f"events{retried}: something repeats at the same instant for ever (e.g. closed clients "
        "without think time whose requests are refused at once)"
    )


def _events_exceeded(limit: int, retried: int, now: float, until: float) -> str:
    """Why a run stopped at its event budget (naming the attempts retried at once it
    counted, if any)."""
    counted = (
        f"; each attempt retried at once, without a backoff, counts as an event: {retried:,} so far"
        if retried
        else ""
    )
    return (
        f"the event budget of {limit:,} events per replication was exceeded at "
        f"t = {now:.6g} s of {until:.6g} s (--max-events{counted})"
    )


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
