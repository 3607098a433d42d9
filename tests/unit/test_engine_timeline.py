"""Deterministic engine tests: constant times give an exact timeline, so every statistic of a
replication is known in closed form (no tolerance beyond float rounding).

The timeline used throughout: every 2 s (first at t = 2) a request forks two calls to `db`,
which has one worker and a constant 0.4 s operation. The first call is served at once
(0 .. 0.4 s after the batch), the second waits 0.4 s and is served until 0.8 s. Per 2 s cycle:
busy 0.8 s, one job waiting for 0.4 s, jobs present for 0.4 + 0.8 = 1.2 s. Hence
utilization 0.4, mean queue length 0.2, mean in system 0.6, mean waiting 0.2 s, mean
response 0.6 s at the service, and 0.8 s for the request (the join waits for the second call).
"""

from __future__ import annotations

from typing import Any

import pytest

from models import load_scenario
from sim.engine import run_replication


def batch_scenario(warmup: float, duration: float, **db: Any) -> dict[str, Any]:
    """Two simultaneous calls to a one-worker `db` every 2 s (see the module docstring)."""
    return {
        "name": "batches",
        "simulation": {"duration": duration, "warmup": warmup, "seed": 1},
        "services": {
            "db": {"workers": 1, "operations": {"query": [{"work": {"constant": 0.4}}]}, **db}
        },
        "workload": {
            "batch": {
                "arrivals": {"constant": 0.5},
                "steps": [{"parallel": [[{"call": "db"}], [{"call": "db"}]]}],
            }
        },
    }


def run(raw: dict[str, Any]) -> dict[str, Any]:
    return run_replication(load_scenario(raw), 0, 1).measurements


@pytest.mark.parametrize(
    "warmup",
    [
        1.0,  # warm-up ends while the system is empty
        2.2,  # warm-up ends in the middle of a busy period, one job waiting: the levels'
        # areas before it must be discarded exactly, and the partial cycles at both ends
        # of the window [2.2, 102.2] add up to one full cycle
    ],
)
def test_levels_and_latencies_follow_the_exact_timeline(warmup: float) -> None:
    result = run(batch_scenario(warmup=warmup, duration=100.0))
    db = result.services["db"]
    assert db.utilization == pytest.approx(0.4, rel=1e-9)
    assert db.queue_length.mean == pytest.approx(0.2, rel=1e-9)
    assert db.in_system.mean == pytest.approx(0.6, rel=1e-9)
    assert db.queue_length.max == 1
    assert db.in_system.max == 2
    assert db.waiting_time.mean == pytest.approx(0.2, rel=1e-9)
    assert db.response_time.mean == pytest.approx(0.6, rel=1e-9)
    assert db.response_time.max == pytest.approx(0.8, rel=1e-9)
    assert db.p_wait == pytest.approx(0.5)
    flow = result.flows["batch"]
    assert flow.response_time.mean == pytest.approx(0.8, rel=1e-9)
    assert flow.completion_time.mean == pytest.approx(0.8, rel=1e-9)
    assert flow.arrived == flow.completed + flow.dropped + flow.failed + flow.in_flight


def test_warmup_in_a_busy_period_counts_what_happens_after_it() -> None:
    """Window [2.2, 102.2]: the batch of t = 2 completes inside it (2 completions, 1 start),
    batches 4..100 fully (98 jobs), and the batch of t = 102 has started one job and holds two
    at the end; only requests arriving after warm-up count for the flow."""
    result = run(batch_scenario(warmup=2.2, duration=100.0))
    db = result.services["db"]
    assert db.throughput == pytest.approx(100 / 100.0)
    assert db.in_system.final == 2
    assert db.arrival_rate == pytest.approx(100 / 100.0)
    flow = result.flows["batch"]
    assert (flow.arrived, flow.completed, flow.in_flight) == (50, 49, 1)


def test_a_full_waiting_room_drops_the_second_call_and_fails_the_request() -> None:
    result = run(batch_scenario(warmup=1.0, duration=100.0, queue_capacity=0))
    db = result.services["db"]
    assert db.dropped == 50
    assert db.loss_probability == pytest.approx(0.5)
    assert db.queue_length.mean == 0.0
    assert db.utilization == pytest.approx(0.2, rel=1e-9)
    flow = result.flows["batch"]
    assert (flow.completed, flow.dropped) == (0, 50)


def test_a_timed_out_call_fails_the_request_but_its_work_counts_for_completion() -> None:
    """A single call with a 0.3 s timeout to a 0.4 s operation: the client gives up at 0.3 s,
    the callee still finishes at 0.4 s and the worker is busy 0.4 s per 2 s."""
    raw = batch_scenario(warmup=1.0, duration=100.0)
    raw["workload"]["batch"]["steps"] = [{"call": {"service": "db", "timeout": 0.3}}]
    result = run(raw)
    flow = result.flows["batch"]
    assert (flow.completed, flow.failed) == (0, 50)
    assert result.services["db"].utilization == pytest.approx(0.2, rel=1e-9)
    assert result.services["db"].response_time.mean == pytest.approx(0.4, rel=1e-9)


def test_non_blocking_calls_release_the_worker_while_waiting() -> None:
    """`api` (one worker, blocking_calls: false) calls `db` twice in parallel per request:
    its worker is held only for its own 0.1 s step, so two requests arriving together do not
    queue behind each other's database calls."""
    raw = batch_scenario(warmup=1.0, duration=100.0, workers=2)
    raw["services"]["api"] = {
        "workers": 1,
        "blocking_calls": False,
        "operations": {
            "handle": [{"work": {"constant": 0.1}}, {"call": "db"}, {"work": {"constant": 0.1}}]
        },
    }
    raw["workload"]["batch"]["steps"] = [{"parallel": [[{"call": "api"}], [{"call": "api"}]]}]
    result = run(raw)
    # Per batch (times after it): A works 0..0.1 and calls db 0.1..0.5, releasing the worker;
    # B (waited 0.1) works 0.1..0.2 and calls db 0.2..0.6; A works 0.5..0.6 and ends; B works
    # 0.6..0.7. The api worker is busy 0.4 s per 2 s, and the request's response is 0.7 s.
    api = result.services["api"]
    assert api.utilization == pytest.approx(0.2, rel=1e-9)
    assert result.flows["batch"].response_time.mean == pytest.approx(0.7, rel=1e-9)
    assert result.services["db"].waiting_time.mean == pytest.approx(0.0, abs=1e-12)


def test_abandoned_attempts_count_as_pending_work_until_they_end() -> None:
    """Calls with a timeout and retries to an exponential operation: an attempt that timed out
    keeps working after its caller has gone on, so each request's completion time is at least
    its response time, and every completed request has one (same seed: a fixed sample path)."""
    raw = batch_scenario(warmup=10.0, duration=2000.0, workers=4)
    raw["services"]["db"]["operations"]["query"] = [{"work": {"exponential": 0.4}}]
    raw["workload"]["batch"]["steps"] = [{"call": {"service": "db", "timeout": 0.5, "retries": 3}}]
    flow = run(raw).flows["batch"]
    assert flow.failed > 0 and flow.completed > 0  # the timeouts do bite
    response, completion = flow.response_time, flow.completion_time
    assert completion.mean > response.mean
    assert completion.max >= response.max
