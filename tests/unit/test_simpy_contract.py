"""The two things the engine relies on beyond simpy's documented API, pinned.

1. `Environment._now` is the attribute behind the `Environment.now` property: the engine
   reads it directly on its hot path (`sim.engine.stations`, `sim.engine.flows`).
2. Any object with a `callbacks` list and `_ok = True` can be put on the calendar with
   `env.schedule(obj, priority, delay)`; `Environment.step` then calls each callback with
   the object, sets `obj.callbacks` to None, and checks `obj._ok` (`simpy.Event`'s protocol).
   The engine's frames, visitors and arrival processes are their own wake-ups this way
   (`sim.engine.jobs` module docstring, `Frame`): each sets a fresh (or reused) callbacks
   list before it schedules itself again.

3. `Environment.schedule(obj, priority, delay)` is exactly
   `heapq.heappush(env._queue, (env._now + delay, priority, next(env._eid), obj))`: the
   consumer groups' handler fast path writes it out (`sim.engine.groups`).

4. `Environment.step` is: pop the calendar's first entry, set `_now`, take and clear the
   event's callbacks, call each, and crash on a failed, undefused event: the bounded run
   writes it out (`sim.engine.budget.run_bounded`).

If a simpy upgrade breaks any of them, these tests fail first, with a name that says which.
Deterministic: no random numbers.
"""

from __future__ import annotations

from typing import Any

import pytest
import simpy
from simpy.events import NORMAL


class WakeUp:
    """A plain object that is its own wake-up, like the engine's `Frame` (slots, class-level
    `_ok`, callbacks set before each scheduling)."""

    __slots__ = ("callbacks", "name")

    _ok = True

    def __init__(self, name: str) -> None:
        self.name = name
        self.callbacks: list[Any] | None = None


def test_now_and_underscore_now_agree_before_during_and_after_a_run() -> None:
    env = simpy.Environment(initial_time=2.5)
    assert env._now == env.now == 2.5
    seen: list[tuple[float, float]] = []

    def process(env: simpy.Environment):
        for delay in (1.0, 0.25, 3.0):
            yield env.timeout(delay)
            seen.append((env._now, env.now))

    env.process(process(env))
    env.run(until=5.0)
    assert seen == [(3.5, 3.5), (3.75, 3.75)]
    assert env._now == env.now == 5.0
    env.run()
    assert seen[-1] == (6.75, 6.75)
    assert env._now == env.now == 6.75


def test_underscore_now_is_a_plain_attribute_of_the_environment() -> None:
    env = simpy.Environment()
    assert "_now" in vars(env)
    assert isinstance(type(env).__dict__["now"], property)


def test_a_plain_object_scheduled_as_an_event_has_its_callbacks_called_once_at_its_time() -> None:
    env = simpy.Environment()
    wake_up = WakeUp("frame")
    calls: list[tuple[float, Any]] = []
    wake_up.callbacks = [lambda event: calls.append((env._now, event))]
    env.schedule(wake_up, NORMAL, 1.5)  # type: ignore[arg-type]
    env.run(until=1.0)
    assert calls == []
    env.run()
    assert calls == [(1.5, wake_up)]
    assert wake_up.callbacks is None  # simpy dropped them once called
    assert env.now == 1.5


def test_all_callbacks_of_a_plain_object_are_called_in_order_with_the_object() -> None:
    env = simpy.Environment()
    wake_up = WakeUp("frame")
    calls: list[tuple[str, Any]] = []
    wake_up.callbacks = [
        lambda event: calls.append(("first", event)),
        lambda event: calls.append(("second", event)),
    ]
    env.schedule(wake_up, NORMAL, 0.0)  # type: ignore[arg-type]
    env.run()
    assert calls == [("first", wake_up), ("second", wake_up)]


def test_a_plain_object_and_timeouts_at_the_same_time_run_in_the_order_they_were_scheduled() -> (
    None
):
    env = simpy.Environment()
    order: list[str] = []
    before = env.timeout(2.0)
    before.callbacks.append(lambda _: order.append("timeout scheduled before"))
    wake_up = WakeUp("frame")
    wake_up.callbacks = [lambda _: order.append("plain object")]
    env.schedule(wake_up, NORMAL, 2.0)  # type: ignore[arg-type]
    after = env.timeout(2.0)
    after.callbacks.append(lambda _: order.append("timeout scheduled after"))
    earlier = env.timeout(1.0)
    earlier.callbacks.append(lambda _: order.append("earlier timeout"))
    env.run()
    assert order == [
        "earlier timeout",
        "timeout scheduled before",
        "plain object",
        "timeout scheduled after",
    ]


def test_a_plain_object_can_reschedule_itself_from_its_own_callback_with_a_reused_list() -> None:
    """The arrival processes' pattern: one list object, re-assigned before each scheduling
    (simpy only drops its reference to the list, it does not empty it)."""
    env = simpy.Environment()
    wake_up = WakeUp("arrivals")
    times: list[float] = []

    def arrive(event: Any) -> None:
        assert event is wake_up
        times.append(env._now)
        if len(times) < 4:
            wake_up.callbacks = reused  # simpy set it to None before calling us
            env.schedule(wake_up, NORMAL, 0.5)  # type: ignore[arg-type]

    reused = [arrive]
    wake_up.callbacks = reused
    env.schedule(wake_up, NORMAL, 1.0)  # type: ignore[arg-type]
    env.run()
    assert times == [1.0, 1.5, 2.0, 2.5]
    assert reused == [arrive]


def test_a_plain_object_can_get_a_fresh_callbacks_list_and_be_rescheduled_after_it_ran() -> None:
    """The frames' pattern: a new callbacks list set by each step before scheduling again."""
    env = simpy.Environment()
    wake_up = WakeUp("frame")
    calls: list[tuple[str, float]] = []
    wake_up.callbacks = [lambda _: calls.append(("first hold", env.now))]
    env.schedule(wake_up, NORMAL, 1.0)  # type: ignore[arg-type]
    env.run()
    assert wake_up.callbacks is None
    wake_up.callbacks = [lambda _: calls.append(("second hold", env.now))]
    env.schedule(wake_up, NORMAL, 2.0)  # type: ignore[arg-type]
    env.run()
    assert calls == [("first hold", 1.0), ("second hold", 3.0)]


def test_a_plain_object_whose_ok_is_true_needs_no_other_event_attribute() -> None:
    """`step` reads `_ok` and nothing else of the object besides `callbacks`: no `_value`,
    `_defused`, `env` or `triggered` is needed when `_ok` is True."""
    env = simpy.Environment()
    wake_up = WakeUp("frame")
    for missing in ("_value", "_defused", "env", "triggered", "processed"):
        assert not hasattr(wake_up, missing)
    calls: list[float] = []
    wake_up.callbacks = [lambda _: calls.append(env.now)]
    env.schedule(wake_up, NORMAL, 0.75)  # type: ignore[arg-type]
    env.run()
    assert calls == [0.75]


def test_a_plain_object_whose_ok_is_false_makes_step_fail() -> None:
    """The other side of the `_ok` check: it is read (a wake-up must keep `_ok = True`)."""

    class Failed:
        _ok = False
        _value = RuntimeError("failed wake-up")

        def __init__(self) -> None:
            self.callbacks: list[Any] = []

    env = simpy.Environment()
    env.schedule(Failed(), NORMAL, 1.0)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="failed wake-up"):
        env.run()


def test_schedule_is_a_push_on_the_calendar_with_the_next_event_id() -> None:
    import heapq

    scheduled, pushed = simpy.Environment(initial_time=1.0), simpy.Environment(initial_time=1.0)
    order: dict[str, list[str]] = {"scheduled": [], "pushed": []}
    for delay, name in ((2.0, "a"), (0.5, "b"), (2.0, "c"), (0.0, "d")):
        for env, key in ((scheduled, "scheduled"), (pushed, "pushed")):
            wake_up = WakeUp(name)
            wake_up.callbacks = [lambda event, key=key: order[key].append(event.name)]
            if key == "scheduled":
                env.schedule(wake_up, NORMAL, delay)  # type: ignore[arg-type]
            else:
                heapq.heappush(env._queue, (env._now + delay, NORMAL, next(env._eid), wake_up))
    assert scheduled._queue == [
        (time, priority, event_id, _Same(event))
        for time, priority, event_id, event in pushed._queue
    ]
    scheduled.run()
    pushed.run()
    assert order["scheduled"] == order["pushed"] == ["d", "b", "a", "c"]
    assert scheduled.now == pushed.now == 3.0


class _Same:
    """Equal to a `WakeUp` of the same name (to compare two calendars' entries)."""

    def __init__(self, wake_up: WakeUp) -> None:
        self.name = wake_up.name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WakeUp) and other.name == self.name

    __hash__ = None  # type: ignore[assignment]


def _schedule_mixed(env: simpy.Environment, seen: list[tuple[float, str]]) -> None:
    """Plain wake-ups and simpy Timeouts, some at the same instant, one at the end time."""
    for delay, name in ((2.0, "a"), (0.5, "b"), (2.0, "c"), (0.0, "d"), (5.0, "at-end")):
        wake_up = WakeUp(name)
        wake_up.callbacks = [lambda event: seen.append((env._now, event.name))]
        env.schedule(wake_up, NORMAL, delay)  # type: ignore[arg-type]
    timeout = env.timeout(1.0)
    timeout.callbacks.append(lambda _event: seen.append((env._now, "timeout")))


def test_the_bounded_run_steps_as_environment_run_does() -> None:
    from sim.engine.budget import RunBudget, run_bounded

    by_simpy, written_out = simpy.Environment(), simpy.Environment()
    seen: dict[str, list[tuple[float, str]]] = {"simpy": [], "written": []}
    _schedule_mixed(by_simpy, seen["simpy"])
    _schedule_mixed(written_out, seen["written"])
    by_simpy.run(until=5.0)
    assert run_bounded(written_out, 5.0, RunBudget(check_every=2)) is None
    assert (
        seen["simpy"]
        == seen["written"]
        == [
            (0.0, "d"),
            (0.5, "b"),
            (1.0, "timeout"),
            (2.0, "a"),
            (2.0, "c"),
        ]
    )  # (the event at the end time is not processed, as with `until`)
    assert by_simpy.now == written_out.now == 5.0


def test_a_failed_event_crashes_the_bounded_run_as_it_crashes_environment_run() -> None:
    from sim.engine.budget import RunBudget, run_bounded

    crashes = []
    for run in ("simpy", "written"):
        env = simpy.Environment()
        failed = env.event()
        failed.fail(ValueError("broken", 7))
        with pytest.raises(ValueError) as crash:
            if run == "simpy":
                env.run(until=1.0)
            else:
                run_bounded(env, 1.0, RunBudget())
        crashes.append((crash.value.args, type(crash.value.__cause__)))
    assert crashes[0] == crashes[1] == (("broken", 7), ValueError)


def test_the_event_counter_shows_how_many_events_were_scheduled() -> None:
    """`sim.engine.budget` counts the events put on the calendar from `repr(env._eid)`
    (`count(N)`, N the next event's number, read without taking it): scheduling three
    timeouts moves it by three, and reading it takes nothing."""
    from sim.engine.budget import _scheduled

    env = simpy.Environment()
    before = _scheduled(env)
    assert before is not None
    for delay in (1, 2, 3):
        env.timeout(delay)
    assert _scheduled(env) == before + 3
    assert _scheduled(env) == before + 3
