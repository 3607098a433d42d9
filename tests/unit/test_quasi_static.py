"""Unit tests of `models.analysis.quasi_static`: the run's means over normal operation and
its slowdown windows, each weighted as the simulation measures it. Deterministic: the
expected values are the weighted averages worked by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from models import analyze, load_scenario
from models.analysis.prediction import PredictedLength, PredictedService, PredictedTime
from models.analysis.quasi_static import SERVICE_MEANS, mix


def service(rate: float, utilization: float, response: float | None) -> PredictedService:
    return PredictedService(
        arrival_rate=rate,
        throughput=rate,
        utilization=utilization,
        loss_probability=0.0,
        p_wait=0.5,
        waiting_time=PredictedTime(mean=None if response is None else response / 2),
        response_time=PredictedTime(mean=response),
        queue_length=PredictedLength(mean=1.0),
        in_system=PredictedLength(mean=2.0),
        method="m",
        exact=True,
        stable=response is not None,
    )


def test_time_means_by_share_and_request_means_by_share_times_rate() -> None:
    """Normal operation 3/4 of the time at 100/s, 10 ms; a window 1/4 at 300/s, 50 ms:
    utilization by time, (3 x 0.2 + 0.6) / 4 = 0.3; the response per request,
    (0.75 x 100 x 10 + 0.25 x 300 x 50) / (0.75 x 100 + 0.25 x 300) = 30 ms."""
    base = service(100.0, 0.2, 0.010)
    mix(base, [(0.25, service(300.0, 0.6, 0.050))], SERVICE_MEANS)
    assert base.utilization == pytest.approx(0.3, rel=1e-12)
    assert base.arrival_rate == pytest.approx(150.0, rel=1e-12)
    assert base.response_time.mean == pytest.approx(0.030, rel=1e-12)
    assert base.waiting_time.mean == pytest.approx(0.015, rel=1e-12)
    assert base.in_system.mean == pytest.approx(2.0, rel=1e-12)


def test_a_mean_that_a_window_lacks_stays_normal_operations() -> None:
    """An unstable window has no response time: normal operation's stays; the others mix."""
    base = service(100.0, 0.2, 0.010)
    mix(base, [(0.5, service(100.0, 0.4, None))], SERVICE_MEANS)
    assert base.response_time.mean == 0.010
    assert base.utilization == pytest.approx(0.3, rel=1e-12)


def test_a_slowdowns_window_and_its_storm_are_mixed_in() -> None:
    """scenarios/retry_storm.yaml: without retries the slowdown's window is stable, and
    inventory's utilization over the run is 0.45 for 180 s and 0.9 for 120 s of 300:
    0.63. With retries the window starts a storm (at its onset) that never ends: flat out
    from there to the end, normal operation's 0.45 before (simulated: 0.945)."""
    path = Path(__file__).resolve().parents[2] / "scenarios" / "retry_storm.yaml"
    calm = analyze(load_scenario(path, variant="no-retries"), capacity=False)
    assert calm.services["inventory"].utilization == pytest.approx(0.63, rel=1e-6)
    storm = analyze(load_scenario(path), capacity=False)
    success = storm.flows["shoppers"].success_rate
    assert success is not None
    before = success * 300  # (the normal seconds: 30 and the onset; all succeed then)
    utilization = (0.45 * before + 1.0 * (300 - before)) / 300
    assert storm.services["inventory"].utilization == pytest.approx(utilization, rel=1e-3)


def test_regimes_that_cover_the_whole_run_leave_nothing_of_the_base() -> None:
    """Pieces covering the period (pointwise stationary): the base's values, even missing
    ones, do not count."""
    base = service(100.0, 0.2, None)
    mix(base, [(0.5, service(50.0, 0.1, 0.010)), (0.5, service(150.0, 0.3, 0.030))], SERVICE_MEANS)
    assert base.response_time.mean == pytest.approx((50 * 0.010 + 150 * 0.030) / 200, rel=1e-12)
    assert base.utilization == pytest.approx(0.2, rel=1e-12)
