"""Unit tests of `models.analyze` with failures: fail steps, retries, backoff, fallbacks,
rate limits, crashes, outages, slowdowns, error bursts, message retries and dead letters,
and retry storms that never recover.

Deterministic tests (no simulation), as in test_analysis.py. Expected values by hand:
E[attempts] = 1 + p + ... + p^r, success 1 - p^(r+1) (geometric series); availability
mtbf / (mtbf + mttr) (alternating renewal); backlog lambda T and drain lambda T / (mu -
lambda) (fluid model); docs/analysis.md, section 13. The cross-checks against the simulator
are in tests/theory/test_analysis_failures.py.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given

from models import Prediction, analyze, load_scenario
from models.resilience import REASONS
from models.theory import gg_c_allen_cunneen, mg1, mm1, mmc
from tests.unit.analysis_scenarios import (
    GENERATED_SCENARIOS,
    REL,
    SCENARIOS,
    analyzed_in_range,
    exp,
    failing_scenario_documents,
    op,
    poisson,
    scenario,
)


def retrying_client(rate: float, retries: int, **call: Any) -> dict[str, Any]:
    """A flow whose client calls `server` with `retries` (and other call keys)."""
    spec = {"service": "server", "retries": retries, **call}
    return {"f": {"steps": [{"call": spec}], "arrivals": {"poisson": rate}}}


def test_retry_amplification_is_the_truncated_geometric_series() -> None:
    """p = 0.2, r = 2: 1 + 0.2 + 0.04 = 1.24 attempts, success 1 - 0.2^3 = 0.992; the
    server sees 1.24 x 50 = 62/s: an M/M/1 with immediate feedback of independent failures,
    product-form (Jackson), so its means are exact."""
    result = analyze(scenario({"server": op(exp(0.01), {"fail": 0.2})}, retrying_client(50, 2)))
    flow, server = result.flows["f"], result.services["server"]
    assert flow.visits is not None and flow.visits.services["server"] == pytest.approx(1.24, REL)
    assert flow.success_rate == pytest.approx(0.992, REL)
    assert flow.throughput == pytest.approx(50 * 0.992, REL)
    assert server.arrival_rate == server.attempts == pytest.approx(62.0, REL)
    assert server.errors == pytest.approx(62.0 * 0.2, REL)
    expected = mm1(62.0, 100.0)
    assert (server.method, server.exact) == ("M/M/1", True)
    assert server.utilization == pytest.approx(0.62, REL)
    assert server.response_time.mean == pytest.approx(expected.mean_response_time, REL)
    # given success after k failed attempts (probability ∝ 0.2^k) the client waited k + 1
    failed_before = (0.2 + 2 * 0.04) / 1.24
    response = (1 + failed_before) * expected.mean_response_time
    assert flow.response_time.mean == pytest.approx(response, REL)
    assert flow.exact and flow.success_exact
    call = result.calls is not None and result.calls["f->server.op"]
    assert call and (call.calls, call.attempts, call.retries) == pytest.approx((50, 62, 12), REL)
    assert call.attempt_failure == pytest.approx(0.2, REL)
    assert call.success_rate == pytest.approx(0.992, REL) and call.exact
    # the retries take capacity: the flow saturates the server at 100 / 1.24
    assert flow.max_throughput == pytest.approx(100 / 1.24, rel=2e-4)


def test_backoff_waits_are_added_given_success() -> None:
    """A retry after a backoff of 10 ms (no jitter): given success after k failures the
    client also waited k backoffs (the first retry 10 ms, the second 20 ms)."""
    plain = analyze(scenario({"server": op(exp(0.01), {"fail": 0.2})}, retrying_client(50, 2)))
    backed = analyze(
        scenario(
            {"server": op(exp(0.01), {"fail": 0.2})},
            retrying_client(50, 2, backoff={"initial": 0.01, "multiplier": 2}),
        )
    )
    waited = (0.2 * 0.01 + 0.04 * (0.01 + 0.02)) / 1.24
    assert backed.flows["f"].response_time.mean == pytest.approx(
        plain.flows["f"].response_time.mean + waited, REL
    )
    assert backed.flows["f"].success_rate == pytest.approx(0.992, REL)


def test_nested_failures_propagate_up_the_chain() -> None:
    """c fails with 0.3, b retries it once (fails 0.3^2 = 0.09, 1.3 attempts), a calls b and
    then fails with 0.1: a request succeeds with 0.91 x 0.9 = 0.819."""
    unlimited = {"workers": "unlimited"}
    result = analyze(
        scenario(
            {
                "a": {**unlimited, **op(exp(0.001), {"call": "b"}, {"fail": 0.1})},
                "b": {
                    **unlimited,
                    **op(exp(0.001), {"call": {"service": "c", "retries": 1}}),
                },
                "c": {**unlimited, **op(exp(0.001), {"fail": 0.3})},
            },
            {"f": poisson("a", 10)},
        )
    )
    flow = result.flows["f"]
    assert flow.success_rate == pytest.approx(0.91 * 0.9, REL)
    assert flow.visits is not None and flow.visits.services == pytest.approx(
        {"a": 1.0, "b": 1.0, "c": 1.3}, REL
    )
    errors = {name: s.errors for name, s in result.services.items()}
    assert errors == pytest.approx({"a": 10 * (1 - 0.819), "b": 0.9, "c": 13 * 0.3}, REL)
    assert flow.success_exact is True


def test_a_fallback_runs_instead_of_a_failed_call() -> None:
    """The call fails with 0.2 (no retries): its fallback (2 ms) runs instead; a fallback
    that fails half the time leaves 0.8 + 0.2 x 0.5 = 0.9 of the requests successful."""
    server = {"workers": "unlimited", **op(exp(0.01), {"fail": 0.2})}
    safe = analyze(
        scenario({"server": server}, retrying_client(50, 0, fallback=[exp(0.002)]))
    ).flows["f"]
    assert safe.success_rate == pytest.approx(1.0, REL)
    assert safe.response_time.mean == pytest.approx(0.8 * 0.01 + 0.2 * 0.012, REL)
    risky = analyze(
        scenario({"server": server}, retrying_client(50, 0, fallback=[exp(0.002), {"fail": 0.5}]))
    )
    assert risky.flows["f"].success_rate == pytest.approx(0.9, REL)
    assert risky.flows["f"].response_time.mean == pytest.approx(
        (0.8 * 0.01 + 0.1 * 0.012) / 0.9, REL
    )
    assert risky.calls is not None
    assert risky.calls["f->server.op"].fallbacks == pytest.approx(10.0, REL)


def test_an_early_fail_step_shortens_the_holding_time_exactly() -> None:
    """fail 0.5 before 10 ms of exponential work: the server is held 0 or Exp(10 ms), a
    mixture with E[S] = 5 ms and E[S²] = 0.5 x 2 x 0.01² (SCV 3): M/G/1, still exact."""
    result = analyze(
        scenario({"server": op({"fail": 0.5}, exp(0.01))}, {"f": poisson("server", 50)})
    )
    server, flow = result.services["server"], result.flows["f"]
    expected = mg1(50.0, 0.005, 3.0)
    assert server.method == "M/G/1 (Pollaczek-Khinchine)" and server.exact
    assert server.waiting_time.mean == pytest.approx(expected.mean_waiting_time, REL)
    assert server.response_time.mean == pytest.approx(expected.mean_response_time, REL)
    assert flow.response_time.mean == pytest.approx(expected.mean_waiting_time + 0.01, REL)
    assert flow.success_rate == pytest.approx(0.5, REL) and flow.exact


def test_a_rate_limit_caps_the_admitted_throughput() -> None:
    """50/s with a bucket of 20 under 80/s offered: 50/s admitted (the long-run token
    bucket), 30/s rejected; with a bucket of 1 (Poisson arrivals, exact): 80 x 50 / 130."""

    def limited(burst: int) -> Prediction:
        limit = {"rate_limit": {"rate": 50, "burst": burst}}
        return analyze(
            scenario({"server": {**limit, **op(exp(0.01))}}, {"f": poisson("server", 80)})
        )

    result = limited(20)
    server, flow = result.services["server"], result.flows["f"]
    assert flow.throughput == pytest.approx(50.0, REL)
    assert flow.success_rate == pytest.approx(50 / 80, REL)
    assert (server.arrival_rate, server.rejected) == pytest.approx((80.0, 30.0), REL)
    assert server.utilization == pytest.approx(0.5, REL)
    assert server.exact is False and flow.success_exact is False
    assert any("rate limit admits 50/s of the 80/s offered" in w for w in result.warnings)
    single = limited(1)
    admitted = 80 * 50 / (80 + 50)
    assert single.flows["f"].throughput == pytest.approx(admitted, REL)
    assert single.services["server"].rejected == pytest.approx(80 - admitted, REL)
    # the admitted stream has gaps 1/R + Exp(1/lambda): SCV (R / (lambda + R))^2
    waiting = gg_c_allen_cunneen(admitted, 0.01, 1, (50 / 130) ** 2, 1.0).mean_waiting_time
    assert single.services["server"].waiting_time.mean == pytest.approx(waiting, REL)


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


def load_and_analyze(parts: dict[str, Any]) -> Prediction:
    return analyze(load_scenario({"name": "faults", "simulation": {"duration": 600}, **parts}))


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


def test_message_retries_and_dead_letters() -> None:
    """A handler failing half the time, 3 attempts: 1.75 runs per message, 0.125 of the
    messages dead-lettered to a topic whose own group gets them."""
    result = load_and_analyze(
        {
            "services": {
                "api": {"workers": "unlimited", **op({"publish": "t"})},
                "worker": op(exp(0.01), {"fail": 0.5}),
                "dlq": op(exp(0.001)),
            },
            "workload": {"f": poisson("api", 20)},
            "topics": {
                "t": {
                    "type": "queue",
                    "subscribers": {
                        "worker": {"concurrency": 4, "max_attempts": 3, "dead_letter": "dead"}
                    },
                },
                "dead": {"type": "queue", "subscribers": {"dlq": "op"}},
            },
        }
    )
    group = result.topics["t"].groups["worker"]
    assert group.attempts == pytest.approx(20 * 1.75, REL)
    assert group.dead_lettered == pytest.approx(20 * 0.125, REL) and group.lost == 0.0
    assert group.throughput == pytest.approx(20 * 0.875, REL)
    assert group.utilization == pytest.approx(35 * 0.01 / 4, REL)
    assert result.topics["dead"].publish_rate == pytest.approx(2.5, REL)
    assert result.topics["dead"].groups["dlq"].throughput == pytest.approx(2.5, REL)


def test_faults_make_every_steady_state_mean_approximate() -> None:
    """An M/M/1 whose means would be exact, with an error burst: nothing exact, a warning."""
    burst = {"service": "s", "kind": "errors", "at": 10, "for": 5, "probability": 0.1}
    result = analyze(scenario({"s": op(exp(0.01))}, {"f": poisson("s", 50)}, faults=[burst]))
    assert result.services["s"].method == "M/M/1"
    assert not result.services["s"].exact
    assert not (result.flows["f"].exact or result.flows["f"].completion_exact)
    assert result.flows["f"].success_exact is False
    assert any("non-stationary" in w for w in result.warnings)


def test_what_is_not_modelled_is_said() -> None:
    breaker = {"failure_rate": 0.5}
    result = analyze(
        scenario(
            {
                "server": {"queue_timeout": 1.0, **op(exp(0.01), {"fail": 0.6})},
                "other": op(exp(0.001)),
            },
            {
                "f": {
                    "steps": [
                        {"call": {"service": "server", "circuit_breaker": breaker}},
                        {"call": {"service": "other", "bulkhead": 2, "timeout": 0.1}},
                    ],
                    "arrivals": {"poisson": 10},
                }
            },
        )
    )
    text = " ".join(result.warnings)
    assert "circuit breaker of 'f->server.op' is not modelled" in text
    assert "0.6 is at or above its failure_rate: it would open" in text
    assert "bulkheads are not modelled" in text and "`queue_timeout` is not modelled" in text
    assert "gamma fit" in text
    assert result.calls is not None and not result.calls["f->server.op"].exact


def test_drops_and_errors_without_retries_are_exact_and_on_the_spot_retries_are_not() -> None:
    """An M/M/2/5 of 10 ms at 200/s (P_K = 2/11) whose operation then fails 1 time in 10:
    a call without retries succeeds with (1 - P_K) 0.9, exactly (a drop, else the
    callee's own independent failure). Retried on the spot, a retry after the callee's
    error comes at one of its departures, which never find the room full: not the
    independent form, so not exact."""
    stock = {**op(exp(0.01), {"fail": 0.1}), "workers": 2, "queue_capacity": 3}
    once = analyze(scenario({"stock": stock}, {"f": poisson("stock", 200)}))
    assert once.flows["f"].success_rate == pytest.approx((1 - 2 / 11) * 0.9, REL)
    assert once.flows["f"].success_exact
    calls = {
        "f": {"steps": [{"call": {"service": "stock", "retries": 1}}], "arrivals": {"poisson": 200}}
    }
    retried = analyze(scenario({"stock": stock}, calls))
    assert not retried.flows["f"].success_exact


def test_the_document_adds_failures_only_when_the_scenario_has_them() -> None:
    """Without failures the document has its former keys. Timeouts and retries alone (which
    the prediction has always modelled) add what the simulation's results have for them and
    a user compares: the `calls` table and the flows' success rate, nothing else. With other
    failures, the services' keys too."""
    plain = analyze(scenario({"s": op(exp(0.01))}, {"f": poisson("s", 50)})).to_dict()
    retried = analyze(
        scenario({"s": op(exp(0.01))}, retrying_client(50, 1, timeout=0.1, service="s"))
    ).to_dict()
    for document in (plain, retried):
        assert "faults" not in document and "attempts" not in document["services"]["s"]
    assert "calls" not in plain and "success_rate" not in plain["flows"]["f"]
    (row,) = retried["calls"].values()
    # an M/M/1 callee: P(R > T) = exp(-(mu - lambda) T) (Kleinrock vol. 1 §3.2), lambda
    # its attempts (timed-out ones still reach it); to the response law's grid (1e-4)
    arrivals = retried["services"]["s"]["arrival_rate"]
    late = math.exp(-(100.0 - arrivals) * 0.1)
    assert row["attempt_failure"] == pytest.approx(late, rel=1e-4)
    assert row["attempts"] == pytest.approx(arrivals, REL) and row["calls"] == 50.0
    timeouts = row["attempts"] * row["attempt_failure"]  # (every failed attempt timed out)
    assert row["failures"] == {**dict.fromkeys(REASONS, 0.0), "timeout": pytest.approx(timeouts)}
    assert row["success_rate"] == pytest.approx(1.0 - row["attempt_failure"] ** 2, REL)
    assert retried["flows"]["f"]["success_rate"] == pytest.approx(row["success_rate"], REL)
    assert not retried["flows"]["f"]["success_exact"] and not row["exact"]
    failing = analyze(scenario({"s": op(exp(0.01), {"fail": 0.1})}, {"f": poisson("s", 50)}))
    document = failing.to_dict()
    assert list(document)[-1] == "warnings" and "faults" not in document
    assert document["flows"]["f"]["success_rate"] == pytest.approx(0.9, REL)
    assert list(document["services"]["s"])[-4:] == ["attempts", "errors", "rejected", "unavailable"]
    assert Prediction.model_validate(document).to_dict() == document


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


@GENERATED_SCENARIOS
@given(failing_scenario_documents())
def test_analyze_with_failures_never_crashes_and_stays_in_range(document: Any) -> None:
    valid, result = analyzed_in_range(document)
    assert Prediction.model_validate(result.to_dict()).to_dict() == result.to_dict()
    for flow in result.flows.values():
        if flow.success_rate is not None:
            assert 0.0 <= flow.success_rate <= 1.0 + 1e-9
    for service in result.services.values():
        if service.availability is not None:
            assert 0.0 <= service.availability <= 1.0
    for call in (result.calls or {}).values():
        assert call.attempts >= call.calls * (1 - 1e-9) and 0.0 <= call.success_rate <= 1.0
    if all(flow.visits is not None for flow in result.flows.values()):  # (not a storm)
        assert len(result.faults or []) == len(valid.faults)


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
