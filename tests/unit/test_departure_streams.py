"""One server's departures as the arrivals of a consumer pool
(`models.analysis.departure_streams`): the gaps' law, which topics carry them, and the
weighted station."""

from __future__ import annotations

import math
from typing import Any

import pytest

from models import analyze, load_scenario
from models.analysis.departure_streams import (
    DepartureGaps,
    departure_publishers,
    departures_station,
)
from models.analysis.graph import reachable
from models.distributions import Constant, Exponential, Uniform
from models.theory import mmc
from models.theory.renewal_arrivals import gi_m_c


def test_exponential_holds_leave_poisson_departures() -> None:
    """Burke: M/M/1's departures are Poisson, A*(s) = λ / (λ + s), at any load."""
    gaps = DepartureGaps(((1.0, (Exponential(0.004),)),), 150.0)
    for s in (0.0, 10.0, 150.0, 2000.0):
        assert math.isclose(gaps.laplace(s), 150.0 / (150.0 + s), rel_tol=1e-12)
    assert math.isclose(gaps.scv, 1.0, rel_tol=1e-12)


def test_the_gaps_moments_are_the_transforms() -> None:
    """The mean 1/λ and SCV 1 − ρ² + ρ² cs² agree with −A*'(0) and A*''(0), taken
    numerically, for a hold of two options (a branch) of constant and uniform parts."""
    hold = ((0.3, (Constant(0.002), Uniform(0.001, 0.003))), (0.7, (Constant(0.003),)))
    gaps = DepartureGaps(hold, 200.0)
    h = 1e-2
    values = [gaps.laplace(k * h) for k in range(5)]
    first = -(-3 * values[0] + 4 * values[1] - values[2]) / (2 * h)  # (one-sided, O(h^2))
    second = (2 * values[0] - 5 * values[1] + 4 * values[2] - values[3]) / h**2
    assert math.isclose(first, gaps.mean, rel_tol=1e-4)
    assert math.isclose(second / first**2 - 1.0, gaps.scv, rel_tol=1e-3)
    assert math.isclose(gaps.utilization, 200.0 * (0.3 * 0.004 + 0.7 * 0.003), rel_tol=1e-12)


def _document(publisher_steps: list[Any], workers: int = 1, topic: str = "queue") -> Any:
    spec: dict[str, Any] = {"type": topic, "subscribers": {"c": {"operation": "h"}}}
    if topic == "log":  # (two partitions, two consumers: each takes one)
        spec["partitions"] = 2
        spec["subscribers"]["c"]["concurrency"] = 2
    return load_scenario(
        {
            "name": "departures",
            "simulation": {"duration": 10},
            "services": {
                "p": {"workers": workers, "operations": {"op": publisher_steps}},
                "db": {"operations": {"get": [{"work": {"constant": 0.001}}]}},
                "c": {"workers": 1, "operations": {"h": [{"work": {"exponential": 0.002}}]}},
            },
            "topics": {"t": spec},
            "workload": {"f": {"entry": "p.op", "arrivals": {"poisson": 150}}},
        }
    )


WORK = {"work": {"constant": 0.004}}
EITHER = {"branch": [{"probability": 0.5, "steps": [WORK]}, {"probability": 0.5, "steps": []}]}


@pytest.mark.parametrize(
    ("steps", "found"),
    [
        ([WORK, {"publish": "t"}], True),
        ([{"delay": {"uniform": [0.001, 0.002]}}, WORK, {"publish": "t"}], True),
        ([EITHER, {"publish": "t"}], True),
        ([{"publish": "t"}, WORK], False),  # (not at the end of the hold)
        ([WORK, {"publish": "t"}, {"publish": "t"}], False),  # (two a hold)
        ([WORK, {"publish": {"topic": "t", "probability": 0.5}}], False),
        ([WORK, {"publish": {"topic": "t", "count": 2}}], False),
        ([WORK, {"call": "db"}, {"publish": "t"}], False),  # (a callee's time: no law)
        ([{"work": {"lognormal": {"mean": 0.004, "cv": 1.0}}}, {"publish": "t"}], False),
    ],
)
def test_a_publisher_is_one_server_ending_every_hold_with_one_message(
    steps: list[Any], found: bool
) -> None:
    scenario = _document(steps)
    assert ("t" in departure_publishers(scenario, reachable(scenario))) is found


def test_several_servers_are_no_publisher() -> None:
    scenario = _document([WORK, {"publish": "t"}], workers=2)
    assert departure_publishers(scenario, reachable(scenario)) == {}


def test_the_consumer_of_a_log_topic_of_two_consumers_is_left_alone() -> None:
    """A log topic's messages split between two consumers (its two partitions, the group's
    two threads): each sees a share, not the departures; one consumer takes them all."""
    scenario = _document([WORK, {"publish": "t"}], topic="log")
    group = analyze(scenario, capacity=False).topics["t"].groups["c"]
    assert not group.method.startswith("one server's departures")
    queue = analyze(_document([WORK, {"publish": "t"}]), capacity=False).topics["t"].groups["c"]
    assert queue.method.startswith("one server's departures")


def test_the_weight_goes_from_renewal_to_poisson_with_the_time_scales() -> None:
    """A consumer much faster than the publisher waits as GI/M/1 of the gaps; one much
    slower as M/M/1 (the departures' long-run variability is the Poisson arrivals')."""
    rate = 100.0
    gaps = DepartureGaps(((1.0, (Constant(0.009),)),), rate)  # (ρ_P = 0.9)

    def weighted(mean: float) -> float:
        found = departures_station(gaps, rate, mean, 1)
        assert found is not None
        return found.mean_waiting_time

    fast = 0.0009  # (ρ_C = 0.09: r = 10)
    renewal = gi_m_c(gaps.laplace, rate, 1.0 / fast, 1).mean_waiting_time
    assert math.isclose(weighted(fast), renewal, rel_tol=1e-9)
    slow = 0.0095  # (ρ_C = 0.95: r = 0.95; still much of each)
    poisson = mmc(rate, 1.0 / slow, 1).mean_waiting_time
    renewal = gi_m_c(gaps.laplace, rate, 1.0 / slow, 1).mean_waiting_time
    assert renewal < weighted(slow) < poisson


def test_a_publisher_that_takes_no_time_passes_its_poisson_arrivals_on() -> None:
    """A hold of constant 0 leaves the arrivals' gaps as they came: the consumer is M/M/1
    (its law's transform was read at 1 / mean, a division by zero)."""
    scenario = _document([{"work": {"constant": 0.0}}, {"publish": "t"}])
    group = analyze(scenario, capacity=False).topics["t"].groups["c"]
    assert group.waiting_time is not None and group.waiting_time.mean is not None
    expected = mmc(150.0, 1.0 / 0.002, 1).mean_waiting_time
    assert math.isclose(group.waiting_time.mean, expected, rel_tol=1e-9)
