"""Unit tests of `models.analyze` with failures of requests and messages: fail steps,
retries, backoff, fallbacks, rate limits, drops, message retries and dead letters, what is
not modelled (circuit breakers, bulkheads), the failures' keys of the prediction document,
and generated scenarios with failures. Faults (crashes, outages, slowdowns, error bursts,
retry storms) are in test_analysis_faults.py.

Deterministic tests (no simulation), as in test_analysis.py. Expected values by hand:
E[attempts] = 1 + p + ... + p^r, success 1 - p^(r+1) (geometric series); docs/analysis.md,
section 13. The cross-checks against the simulator are in tests/theory/test_analysis_failures.py.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given

from models import Prediction, analyze
from models.resilience import REASONS
from models.theory import gg_c_allen_cunneen, mg1, mm1
from tests.unit.analysis_scenarios import (
    GENERATED_SCENARIOS,
    REL,
    analyzed_in_range,
    exp,
    failing_scenario_documents,
    load_and_analyze,
    op,
    poisson,
    retrying_client,
    scenario,
)
from tests.unit.test_timeout_retries import GAMMA_FIT, mm1_retry_timeout


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
    # an M/M/1 callee: the first attempt's P(R > T) = exp(-(mu - lambda) T) (Kleinrock
    # vol. 1 §3.2), lambda its attempts (timed-out ones still reach it), to the response
    # law's grid (1e-4); each of those is retried once, behind the abandoned attempt
    # (`timeout_retries`: within its gamma fit of the exact M/M/1 law)
    arrivals = retried["services"]["s"]["arrival_rate"]
    late = math.exp(-(100.0 - arrivals) * 0.1)
    assert row["attempts"] == pytest.approx(50.0 * (1.0 + late), rel=1e-4)
    assert row["attempts"] == pytest.approx(arrivals, REL) and row["calls"] == 50.0
    again = mm1_retry_timeout(arrivals, 100.0, 0.1)
    assert row["success_rate"] == pytest.approx(1.0 - late * again, abs=late * GAMMA_FIT)
    timeouts = row["attempts"] * row["attempt_failure"]  # (every failed attempt timed out)
    retries, failed = row["attempts"] - 50.0, 50.0 * (1.0 - row["success_rate"])
    assert timeouts == pytest.approx(retries + failed, rel=1e-9)  # (both attempts' timeouts)
    assert row["failures"] == {**dict.fromkeys(REASONS, 0.0), "timeout": pytest.approx(timeouts)}
    assert retried["flows"]["f"]["success_rate"] == pytest.approx(row["success_rate"], REL)
    assert not retried["flows"]["f"]["success_exact"] and not row["exact"]
    failing = analyze(scenario({"s": op(exp(0.01), {"fail": 0.1})}, {"f": poisson("s", 50)}))
    document = failing.to_dict()
    assert list(document)[-1] == "warnings" and "faults" not in document
    assert document["flows"]["f"]["success_rate"] == pytest.approx(0.9, REL)
    assert list(document["services"]["s"])[-4:] == ["attempts", "errors", "rejected", "unavailable"]
    assert Prediction.model_validate(document).to_dict() == document


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
