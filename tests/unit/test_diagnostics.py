"""The warnings of a simulation's results (`sim.experiments.diagnostics`): overloaded
stations, stations near saturation, and flows with too few responses for their percentiles.

The scenarios are deterministic where they can be (constant arrivals and work), so that a
utilization or a count is exactly what the test says."""

from __future__ import annotations

import re
from typing import Any

import pytest

from models import load_scenario
from sim import simulate
from sim.experiments.diagnostics import (
    NEAR_SATURATION,
    P99_RESPONSES,
    P999_RESPONSES,
    overload_warnings,
    results_warnings,
)
from sim.experiments.sweep import sweep


def station(
    rate: float, work: float = 0.1, duration: float = 200.0, **service: Any
) -> dict[str, Any]:
    """One service `db` with one worker, `work` seconds per request, `rate` arrivals per
    second: utilization rate x work."""
    return {
        "name": "station",
        "simulation": {"duration": duration, "warmup": 0, "seed": 3},
        "services": {"db": {**service, "operations": {"read": [{"work": {"constant": work}}]}}},
        "workload": {"users": {"entry": "db", "arrivals": {"constant": rate}}},
    }


def warnings_of(document: dict[str, Any], replications: int = 1) -> list[str]:
    return simulate(load_scenario(document), replications=replications).warnings


def test_a_service_at_90_percent_is_near_saturation() -> None:
    (warning,) = warnings_of(station(rate=9.0))
    assert "service 'db'" in warning and "90% utilization" in warning
    assert "near saturation" in warning and "twice" in warning


def test_a_service_at_60_percent_does_not_warn() -> None:
    assert warnings_of(station(rate=6.0)) == []


def test_the_threshold_is_the_mean_utilization_over_replications() -> None:
    just_below = NEAR_SATURATION - 0.01
    assert warnings_of(station(rate=just_below / 0.1), replications=2) == []
    (warning,) = warnings_of(station(rate=(NEAR_SATURATION + 0.01) / 0.1), replications=2)
    assert "86% utilization" in warning


def test_an_overloaded_service_gets_the_overload_warning_only() -> None:
    (warning,) = warnings_of(station(rate=12.0))
    assert "service 'db' cannot keep up" in warning
    assert "saturation" not in warning


def test_an_unlimited_service_never_warns() -> None:
    assert warnings_of(station(rate=50.0, workers="unlimited")) == []


def test_a_service_that_turns_requests_away_is_called_saturated() -> None:
    """Poisson arrivals at twice the capacity of an M/M/1/3 queue (a waiting room of 2):
    the worker is busy 93% of the time, 53% of the arrivals are dropped, nothing piles up."""
    document = station(rate=20.0, queue_capacity=2)
    document["workload"]["users"]["arrivals"] = {"poisson": 20.0}
    document["services"]["db"]["operations"]["read"] = [{"work": {"exponential": 0.1}}]
    document["simulation"]["duration"] = 2000.0
    (warning,) = warnings_of(document)
    assert "service 'db' runs at" in warning and "turns away" in warning
    assert re.search(r"at 9[2-5]% utilization and turns away 5[1-6]% of its arrivals", warning)
    assert "(full waiting room)" in warning and "saturated" in warning
    assert "cannot keep up" not in warning


def pipeline(rate: float, handling: float = 0.1) -> dict[str, Any]:
    """A flow publishing one message per request to a topic consumed by one thread."""
    return {
        "name": "pipeline",
        "simulation": {"duration": 200.0, "seed": 3},
        "services": {
            "api": {"workers": "unlimited", "operations": {"post": [{"publish": "events"}]}},
            "worker": {"operations": {"handle": [{"work": {"constant": handling}}]}},
        },
        "topics": {"events": {"subscribers": {"worker": "handle"}}},
        "workload": {"users": {"entry": "api", "arrivals": {"constant": rate}}},
    }


def test_a_consumer_group_near_saturation_warns_about_its_lag() -> None:
    (warning,) = warnings_of(pipeline(rate=9.2))
    assert "consumer group 'worker' on topic 'events'" in warning
    assert "92% utilization" in warning and "near saturation" in warning and "lag" in warning


def test_an_overloaded_consumer_group_gets_the_overload_warning_only() -> None:
    (warning,) = warnings_of(pipeline(rate=12.0))
    assert "cannot keep up" in warning and "saturation" not in warning


def test_a_short_run_of_50_requests_warns_about_its_p99() -> None:
    (warning,) = warnings_of(station(rate=10.0, work=0.01, duration=5.05))
    assert "flow 'users' completed only 50 requests per replication" in warning
    assert f"p99 is the largest of fewer than {P99_RESPONSES} responses" in warning
    assert "run longer" in warning


def test_a_run_of_500_requests_warns_about_its_p999_only() -> None:
    (warning,) = warnings_of(station(rate=10.0, work=0.01, duration=50.05))
    assert "completed only 500 requests" in warning
    assert f"p99.9 is the largest of fewer than {P999_RESPONSES:,} responses" in warning
    assert "p99 is" not in warning


def test_enough_responses_do_not_warn() -> None:
    assert warnings_of(station(rate=10.0, work=0.01, duration=100.05)) == []  # 1,000


def test_a_flow_without_responses_says_so() -> None:
    document = station(rate=10.0, work=0.01, duration=5.05)
    document["services"]["db"]["operations"]["read"].append({"fail": 1})
    warnings = warnings_of(document)
    assert any(
        "flow 'users' completed no request" in warning and "no latencies" in warning
        for warning in warnings
    ), warnings


def test_the_warnings_come_in_order_overload_saturation_responses() -> None:
    """Two services, one overloaded and one at 90%, and a short run."""
    document = station(rate=9.0, work=0.1, duration=9.0)
    document["services"]["hot"] = {"operations": {"serve": [{"work": {"constant": 0.2}}]}}
    document["workload"]["more"] = {"entry": "hot", "arrivals": {"constant": 9.0}}
    document["simulation"]["duration"] = 60.0
    warnings = warnings_of(document)
    assert [w.split(" ")[0:2] for w in warnings] == [
        ["service", "'hot'"],
        ["service", "'db'"],
        ["flow", "'users'"],
        ["flow", "'more'"],
    ], warnings
    assert "cannot keep up" in warnings[0] and "near saturation" in warnings[1]


def test_the_sweep_saturation_landmark_ignores_stations_near_saturation() -> None:
    """A sweep that reaches 90% (a warning) but not overload has no saturation point."""
    scenario = load_scenario(station(rate=5.0))
    results = sweep(scenario, "workload.users.arrivals.constant", [5.0, 9.0])
    assert results.points[1].warnings  # near saturation
    assert not overload_warnings(results.points[1], results.points[1].settings.duration)
    assert results.landmarks("users")["saturation"] is None


@pytest.mark.parametrize("replications", [1, 3])
def test_results_warnings_is_what_the_results_carry(replications: int) -> None:
    results = simulate(load_scenario(station(rate=9.0, duration=5.0)), replications=replications)
    assert results.warnings == results_warnings(results, results.settings.duration)
    assert len(results.warnings) == 2  # near saturation, 45 responses


def test_partial_results_get_no_station_warnings() -> None:
    """A replication stopped at a run-time limit divides its rates by the time it ran, not
    by the duration: the balance of a station cannot be drawn up, so only the flows'
    counts are judged."""
    results = simulate(load_scenario(station(rate=12.0, duration=50.0)))
    assert any("cannot keep up" in warning for warning in results.warnings)
    duration = results.settings.duration
    assert overload_warnings(results, duration, partial=True) == []
    (warning,) = results_warnings(results, duration, partial=True)
    assert warning.startswith("flow 'users' completed only")
