"""Unit tests of `models.analyze` with faults: crashes (availability and the time-average
capacity), outages of a consumer, of some replicas, of a broker or of a synchronous chain,
slowdowns, error bursts, and retry storms that never recover.

Deterministic tests (no simulation), as in test_analysis.py. Expected values by hand:
availability mtbf / (mtbf + mttr) (alternating renewal); backlog lambda T and drain
lambda T / (mu - lambda) (fluid model); docs/analysis.md, section 13. The cross-checks against
the simulator are in tests/theory/test_analysis_failures.py; failures of requests and
messages (fail steps, retries, fallbacks, rate limits) are in test_analysis_failures.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from models import Prediction, analyze, load_scenario
from models.theory import mmc
from tests.unit.analysis_scenarios import (
    REL,
    SCENARIOS,
    exp,
    load_and_analyze,
    op,
    poisson,
    retrying_client,
    scenario,
)

CRASH = {"service": "server", "kind": "crash", "mtbf": "9min", "mttr": "1min"}
HOUR = {"simulation": {"duration": 3600}}


def test_crashes_give_availability_and_the_time_average_capacity() -> None:
    """mtbf 9 min, mttr 1 min: each replica is up 0.9 of the time. One replica of 2 workers:
    0.1 of the arrivals find it down; the 45/s admitted see the capacity 2 x 0.9 / 20 ms
    (servers slowed by 1 / 0.9: M/M/2 at offered load 1); utilization counts all workers."""
    result = analyze(
        scenario(
            {"server": {"workers": 2, **op(exp(0.02))}},
            {"f": poisson("server", 50)},
            faults=[CRASH],
            **HOUR,
        )
    )
    server = result.services["server"]
    assert server.availability == pytest.approx(0.9, REL)
    assert server.unavailable == pytest.approx(5.0, REL)
    assert server.utilization == pytest.approx(45 * 0.02 / 2, REL)
    assert server.waiting_time.mean == pytest.approx(mmc(45.0, 45.0, 2).mean_waiting_time, REL)
    assert "time-average capacity with crashes" in server.method and server.exact is False
    assert result.flows["f"].success_rate == pytest.approx(0.9, REL)
    (fault,) = result.faults or []
    assert (fault.kind, fault.at, fault.for_) == ("crash", None, None)
    assert fault.windows == pytest.approx(3600 / 600, REL)
    # one replica only: every arrival in a window (and those in progress) fails
    assert server.response_time.mean is not None
    assert fault.failures == pytest.approx(50 * (60 + server.response_time.mean), REL)
    assert fault.backlog_peak == 0.0 and fault.recovery_time == 0.0
    assert any("A = mtbf / (mtbf + mttr) = 0.9" in w for w in result.warnings)


def test_availability_of_several_replicas_needs_every_one_down() -> None:
    """Two replicas, each up 0.9 of the time: no replica up 0.1^2 of the time."""
    result = analyze(
        scenario(
            {"server": {"replicas": 2, "workers": 2, **op(exp(0.02))}},
            {"f": poisson("server", 50)},
            faults=[CRASH],
            **HOUR,
        )
    )
    assert result.services["server"].availability == pytest.approx(0.99, REL)
    fault = (result.faults or [])[0]
    assert fault.windows == pytest.approx(2 * 3600 / 600, REL) and fault.failures is None


def events(**worker: Any) -> dict[str, Any]:
    """`api` publishes 60/s to `t` (3 partitions); `worker` consumes them with 2 threads:
    consumer 0 gets partitions 0 and 2 (40/s), consumer 1 partition 1 (20/s), 10 ms each."""
    return {
        "services": {
            "api": {"workers": "unlimited", **op({"publish": "t"})},
            "worker": {**worker, **op(exp(0.01))},
        },
        "workload": {"f": poisson("api", 60)},
        "topics": {
            "t": {"partitions": 3, "subscribers": {"worker": {"concurrency": 2}}},
        },
    }


def fault_of(spec: dict[str, Any], *faults: dict[str, Any]) -> Prediction:
    return load_and_analyze({**spec, "faults": list(faults)})


def test_a_consumer_outage_piles_up_lambda_t_and_the_slowest_consumer_drains_last() -> None:
    """Worker down 30 s: 60 x 30 messages pile up; consumer 0 drains its 40 x 30 at
    100 - 40 per second (20 s), consumer 1 its 20 x 30 at 100 - 20 (7.5 s)."""
    outage = {"service": "worker", "kind": "outage", "at": 100, "for": 30}
    result = fault_of(events(), outage)
    lag = result.topics["t"].groups["worker"].lag.mean
    assert lag is not None
    (fault,) = result.faults or []
    assert (fault.target, fault.kind, fault.at, fault.for_) == ("worker", "outage", 100, 30)
    assert fault.backlog_peak == pytest.approx(lag + 60 * 30, REL)
    assert fault.recovery_time == pytest.approx(40 * 30 / (100 - 40), REL)
    assert fault.failures == 0.0  # nobody waits for the worker synchronously
    assert fault.exact is False and fault.method.startswith("fluid model")
    assert result.to_dict()["faults"][0]["for"] == 30


def test_slowdowns_and_broker_outages_in_the_fluid_model() -> None:
    """A slowdown x3 leaves consumer 0 100/3 per second < its 40/s (6.67 x 60 pile up, drained
    at 100 - 40); a broker outage of 10 s stops both consumers (600 pile up; consumer 0 drains
    last: 400 / 60)."""
    result = fault_of(
        events(),
        {"service": "worker", "kind": "slowdown", "at": 200, "for": 60, "factor": 3},
        {"topic": "t", "kind": "outage", "at": 300, "for": 10},
    )
    slow, broker = result.faults or []
    lag = result.topics["t"].groups["worker"].lag.mean
    assert lag is not None
    assert slow.backlog_peak == pytest.approx(lag + (40 - 100 / 3) * 60, REL)
    assert slow.recovery_time == pytest.approx((40 - 100 / 3) * 60 / 60, REL)
    assert (broker.target, broker.kind) == ("t", "outage")
    assert broker.backlog_peak == pytest.approx(lag + 60 * 10, REL)
    assert broker.recovery_time == pytest.approx(40 * 10 / 60, REL)


def test_a_partial_outage_stops_only_the_consumers_of_the_replicas_down() -> None:
    """Two replicas of one thread: consumer 0 (partitions 0, 2: 40/s) on replica 0 stops,
    40 x 30 pile up and drain at 100 - 40; with two threads per replica there are three
    consumers (one partition each, 20/s), two of them on replica 0: 40 x 30 again, drained
    at 100 - 20."""
    spec = events(replicas=2)
    spec["topics"]["t"]["subscribers"]["worker"]["concurrency"] = 1
    outage = {"service": "worker", "kind": "outage", "at": 100, "for": 30, "replicas": 1}
    result = fault_of(spec, outage)
    (fault,) = result.faults or []
    lag = result.topics["t"].groups["worker"].lag.mean
    assert lag is not None and fault.backlog_peak == pytest.approx(lag + 40 * 30, REL)
    assert fault.recovery_time == pytest.approx(40 * 30 / 60, REL)
    wide = fault_of(events(replicas=2), outage)
    (fault,) = wide.faults or []
    assert wide.topics["t"].groups["worker"].consumers == 3
    assert fault.recovery_time == pytest.approx(20 * 30 / 80, REL)
    lag = wide.topics["t"].groups["worker"].lag.mean
    assert lag is not None and fault.backlog_peak == pytest.approx(lag + 40 * 30, REL)


def test_a_synchronous_chain_fails_lambda_t_requests_during_an_outage() -> None:
    """`back` down for 60 s of the 600 measured: its callers fail 100 x (60 + W) requests
    (those in progress there too); success is 0.9 over the run; nothing piles up."""
    result = load_and_analyze(
        {
            "services": {
                "front": {"workers": "unlimited", **op({"call": "back"})},
                "back": {"replicas": 2, "workers": 4, **op(exp(0.01))},
            },
            "workload": {"f": poisson("front", 100)},
            "faults": [{"service": "back", "kind": "outage", "at": 100, "for": 60}],
        }
    )
    back, flow = result.services["back"], result.flows["f"]
    (fault,) = result.faults or []
    assert back.response_time.mean is not None
    assert fault.failures == pytest.approx(100 * (60 + back.response_time.mean), REL)
    assert (fault.backlog_peak, fault.recovery_time) == (0.0, 0.0)
    assert flow.success_rate == pytest.approx(0.9, REL)
    assert flow.throughput == pytest.approx(90.0, REL)
    assert back.availability == pytest.approx(0.9, REL)
    assert back.unavailable == pytest.approx(10.0, REL)


def test_an_error_burst_is_weighted_by_its_window() -> None:
    """Errors with probability 0.5 for 120 s of 600, retried twice: success 0.8 + 0.2 x
    (1 - 0.5^3), attempts 50 x (0.8 + 0.2 x 1.75) per second (the retry storm of the window
    for its length), 50 x 0.125 x 120 requests failed."""
    burst = {"service": "server", "kind": "errors", "at": 100, "for": 120, "probability": 0.5}
    result = load_and_analyze(
        {
            "services": {"server": {"workers": "unlimited", **op(exp(0.01))}},
            "workload": retrying_client(50, 2),
            "faults": [burst],
        }
    )
    assert result.flows["f"].success_rate == pytest.approx(0.8 + 0.2 * 0.875, REL)
    assert result.services["server"].attempts == pytest.approx(50 * (0.8 + 0.2 * 1.75), REL)
    assert (result.faults or [])[0].failures == pytest.approx(50 * 0.125 * 120, REL)
    assert any("time-averaged" in w and "(0.1 per operation)" in w for w in result.warnings)


def test_faults_make_every_steady_state_mean_approximate() -> None:
    """An M/M/1 whose means would be exact, with an error burst: nothing exact, a warning."""
    burst = {"service": "s", "kind": "errors", "at": 10, "for": 5, "probability": 0.1}
    result = analyze(scenario({"s": op(exp(0.01))}, {"f": poisson("s", 50)}, faults=[burst]))
    assert result.services["s"].method == "M/M/1"
    assert not result.services["s"].exact
    assert not (result.flows["f"].exact or result.flows["f"].completion_exact)
    assert result.flows["f"].success_exact is False
    assert any("non-stationary" in w for w in result.warnings)


def test_the_outage_example_predicts_the_backlog_and_the_lost_requests() -> None:
    """scenarios/outage_sync_vs_events.yaml: 300/s for 120 s pile up (36 000 messages),
    drained by the consumers with two partitions (50/s at 83.3/s) in 180 s; the REST chain
    loses 300 x 120 requests instead."""
    events_variant = analyze(load_scenario(SCENARIOS / "outage_sync_vs_events.yaml"))
    (fault,) = events_variant.faults or []
    lag = events_variant.topics["order-placed"].groups["payment"].lag.mean
    assert lag is not None and fault.backlog_peak == pytest.approx(lag + 300 * 120, REL)
    assert fault.recovery_time == pytest.approx(50 * 120 / (1 / 0.012 - 50), REL)
    chain = analyze(load_scenario(SCENARIOS / "outage_sync_vs_events.yaml", variant="sync-chain"))
    (fault,) = chain.faults or []
    payment = chain.services["payment"].response_time.mean
    assert payment is not None
    assert fault.failures == pytest.approx(300 * (120 + payment), REL)
    assert chain.flows["checkout"].success_rate == pytest.approx(1 - 120 / 480, REL)


def test_a_retry_storm_that_never_recovers_is_flagged_metastable() -> None:
    """scenarios/retry_storm.yaml: a slowdown x2 solved as a steady state of its own fills
    inventory's waiting rooms; at the window's end an attempt would wait longer than the
    150 ms timeout, and 225/s calls each retried 3 times offer 900/s > the 500/s capacity:
    the backlog does not drain (the simulator: "not within the run"). Without retries it
    drains."""
    storm = analyze(load_scenario(SCENARIOS / "retry_storm.yaml"))
    (fault,) = storm.faults or []
    assert fault.recovery_time is None and "metastable" in fault.method
    assert any("metastable" in warning for warning in storm.warnings)
    calm = analyze(load_scenario(SCENARIOS / "retry_storm.yaml", variant="no-retries"))
    (fault,) = calm.faults or []
    assert fault.recovery_time is not None and "metastable" not in fault.method
