"""Unit tests of `models.analysis.storms`: the onset of a timeout storm in a fault window,
the standing backlog it leaves in the stations' views, and what the prediction of
scenarios/retry_storm.yaml makes of it.

Deterministic (no simulation): the expected values are the module's formulas worked by
hand. The agreement with the simulator is in tests/theory/test_analysis_failures.py
(`test_a_slowdown_that_starts_a_timeout_storm_fails_every_call_to_the_end`).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest

from models import analyze, load_scenario
from models.analysis.graph import StationId
from models.analysis.moments import Moments
from models.analysis.network import FlowSource, solve_network
from models.analysis.storms import storm_onset, with_backlog
from models.analysis.summary import POISSON

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def backend(queue_capacity: int | None) -> dict[str, object]:
    """A scenario of calls at 100/s with a 100 ms timeout to an M/M/5 of 20 ms."""
    service: dict[str, object] = {
        "workers": 5,
        "operations": {"op": [{"work": {"exponential": 0.02}}]},
    }
    if queue_capacity is not None:
        service["queue_capacity"] = queue_capacity
    return {
        "name": "s",
        "simulation": {"duration": 100},
        "services": {
            "api": {
                "workers": "unlimited",
                "operations": {"call": [{"call": {"service": "backend", "timeout": 0.1}}]},
            },
            "backend": service,
        },
        "workload": {"f": {"entry": "api.call", "arrivals": {"poisson": 100}}},
    }


def test_the_onset_is_when_the_backlog_holds_tau_mu_requests() -> None:
    """tau mu / (lambda - mu): grown by the calm load where it alone overloads the service,
    else by the window's stormy one (its retries); never where neither overloads it, where
    a full room's wait K / mu stays within the timeout, or after the window."""
    scenario = load_scenario(backend(100))
    tau, mu = 0.1, 250 / 3
    calm = storm_onset(scenario, "backend", tau, (100.0, 400.0), mu, 20.0)
    assert calm == pytest.approx(tau * mu / (100 - mu), rel=1e-12)
    stormy = storm_onset(scenario, "backend", tau, (80.0, 400.0), mu, 20.0)
    assert stormy == pytest.approx(tau * mu / (400 - mu), rel=1e-12)
    assert storm_onset(scenario, "backend", tau, (80.0, 83.0), mu, 20.0) is None
    assert storm_onset(scenario, "backend", tau, (100.0, 400.0), mu, 0.4) is None
    assert storm_onset(scenario, "backend", 2.0, (100.0, 400.0), mu, 20.0) is None  # (K/mu 1.2 s)
    unbounded = load_scenario(backend(None))
    assert storm_onset(unbounded, "backend", 2.0, (100.0, 400.0), mu, 200.0) == pytest.approx(
        2.0 * mu / (100 - mu), rel=1e-12
    )


def test_a_standing_backlog_adds_its_wait_where_the_callers_see_the_service() -> None:
    """`with_backlog`: the service's waiting (every priority of its operations) gains
    the wait, its law is dropped (the gamma fit), a layered caller's own wait there gains
    it too, and nothing else changes."""
    solution = solve_network(load_scenario(backend(100)), {"f": FlowSource(100.0, 1.0, POISSON)})
    target = StationId("service", "backend")
    stormy = with_backlog(solution, "backend", 0.4)
    before, after = solution.views[target], stormy[target]
    assert set(after.waiting) == {0}
    old = before.waiting.get(0, Moments(0.0, 0.0))
    assert after.waiting[0].mean == pytest.approx(old.mean + 0.4, rel=1e-12)
    assert after.waiting[0].variance == old.variance
    assert after.laws is None and after.loss == before.loss
    caller = StationId("service", "api")
    assert stormy[caller] == solution.views[caller]
    layered = dict(solution.views)  # (a thread pool solved with its callees: its own wait)
    layered[caller] = dataclasses.replace(layered[caller], callee_waiting={target: 0.01})
    seen = with_backlog(dataclasses.replace(solution, views=layered), "backend", 0.4)
    assert seen[caller].callee_waiting[target] == pytest.approx(0.41, rel=1e-12)


def test_the_retry_storm_example_fails_every_call_from_the_onset_to_the_end() -> None:
    """scenarios/retry_storm.yaml: the slowdown (60-180 s) overloads inventory only through
    the retries of the first timeouts (225/s < 250/s at first attempts): the storm starts
    tau mu_w / (lambda_w - mu_w) into the window and, metastable, lasts to the end of the
    run (330 s). Of the 300 s measured, (30 + onset) s succeed (normally all but a
    negligible share of the calls). In the storm inventory is flat out (250/s in the
    window, 500/s after), its rooms of 300 full (a wait of 300 / mu per admitted attempt),
    every call making its 4 attempts (900/s), those admitted timing out. With a circuit
    breaker (not modelled) no storm is assumed: the window's steady state, the old
    prediction (65.8%)."""
    storm = analyze(load_scenario(SCENARIOS / "retry_storm.yaml"))
    (fault,) = storm.faults or []
    assert "until the end of the run" in fault.method
    success = storm.flows["shoppers"].success_rate
    assert success is not None and 30 / 300 < success < 31 / 300
    onset = success * 300 - 30
    assert fault.failures == pytest.approx(225 * (270 - onset), rel=1e-3)
    assert any("count the storm to its end" in warning for warning in storm.warnings)
    inventory = storm.services["inventory"]  # (flat out, its rooms full: 2 x 150 places)
    storm_share = (270 - onset) / 300
    served = (30 + onset) / 300 * 225 + 120 / 300 * 250 + 150 / 300 * 500
    assert inventory.throughput == pytest.approx(served, rel=1e-3)
    waited = (120 * 250 * 300 / 250 + 150 * 500 * 300 / 500) / 300
    assert inventory.waiting_time.mean is not None
    assert inventory.waiting_time.mean * inventory.throughput == pytest.approx(waited, rel=2e-3)
    (row,) = (storm.calls or {}).values()  # (every call makes its 4 attempts in the storm)
    assert row.attempts == pytest.approx((30 + onset) / 300 * 225 + storm_share * 900, rel=1e-3)
    assert row.failures.timeout == pytest.approx(120 / 300 * 250 + 150 / 300 * 500, rel=2e-3)
    breaker = analyze(load_scenario(SCENARIOS / "retry_storm.yaml", variant="circuit-breaker"))
    (fault,) = breaker.faults or []
    assert "unless the circuit breaker" in fault.method
    assert "until the end of the run" not in fault.method
    success = breaker.flows["shoppers"].success_rate
    assert success is not None and success > 0.6
    assert not any("count the storm to its end" in warning for warning in breaker.warnings)
    assert math.isfinite(success)
