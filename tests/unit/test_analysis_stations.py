"""Unit tests of `models.analyze`: traffic equations (visits, topics, partitions, drops),
the formula chosen for each station, and unstable stations.

Deterministic tests (no simulation): every expected value is computed independently here,
by hand or with the formulas of `models.theory`, and compared to 1e-9 relative unless a
comment says why the tolerance is wider. The statistical cross-checks against the simulator
are in tests/theory/test_analysis_vs_simulation.py; the helpers shared with
test_analysis.py, test_analysis_failures.py and test_analysis_faults.py are in
analysis_scenarios.py.
"""

from __future__ import annotations

import math
import zlib
from typing import Any

import pytest

from models import Prediction, ScenarioError, analyze, load_scenario
from models.analysis.prediction import PredictedFlow, PredictedGroup
from models.analysis.traffic import default_partition_shares
from models.schema import KeySpace, Scenario, Topic
from models.theory import (
    erlang_b,
    gi_m1_erlang_arrivals,
    mg1,
    mg1_priority_nonpreemptive,
    mm1,
    mmc,
    mmc_priority_nonpreemptive,
    mmck,
)
from tests.unit.analysis_scenarios import (
    REL,
    exp,
    op,
    poisson,
    scenario,
)

# --------------------------------------------------------------------------- traffic


def test_visit_counts_follow_call_probabilities_branches_parallel_and_retries() -> None:
    result = analyze(
        scenario(
            {
                "front": {
                    "workers": "unlimited",
                    **op(
                        {"call": {"service": "b", "probability": 0.5}},
                        {
                            "branch": [
                                {"probability": 0.3, "steps": [{"call": "c"}]},
                                {"probability": 0.7, "steps": []},
                            ]
                        },
                        {"parallel": [[{"call": "d"}], [{"call": "d"}, {"call": "d"}]]},
                    ),
                },
                "b": {"workers": "unlimited", **op(exp(0.001))},
                "c": {"workers": "unlimited", **op(exp(0.001))},
                "d": {"workers": "unlimited", **op(exp(0.001))},
            },
            {"f": poisson("front", 10.0)},
        )
    )
    visits = result.flows["f"].visits.services
    assert visits == pytest.approx({"front": 1.0, "b": 0.5, "c": 0.3, "d": 3.0}, rel=REL)
    assert result.services["d"].arrival_rate == pytest.approx(30.0, rel=REL)


def test_publish_probability_count_and_fan_out_to_every_group() -> None:
    result = analyze(
        scenario(
            {
                "front": {
                    "workers": "unlimited",
                    **op({"publish": {"topic": "t", "probability": 0.5, "count": 3}}),
                },
                "g1": op(exp(0.001)),
                "g2": op(exp(0.001)),
            },
            {"f": poisson("front", 10.0)},
            topics={"t": {"type": "queue", "subscribers": {"g1": "op", "g2": "op"}}},
        )
    )
    assert result.topics["t"].publish_rate == pytest.approx(15.0, rel=REL)
    groups = result.flows["f"].visits.groups["t"]
    assert groups == pytest.approx({"g1": 1.5, "g2": 1.5}, rel=REL)
    for group in ("g1", "g2"):
        assert result.topics["t"].groups[group].throughput == pytest.approx(15.0)


def test_feedback_through_a_topic_solves_the_traffic_equations() -> None:
    """A handler republishing with probability q: visits 1 / (1 - q) (geometric)."""
    q = 0.4
    result = analyze(
        scenario(
            {
                "front": {"workers": "unlimited", **op({"publish": "t"})},
                "worker": op(exp(0.001), {"publish": {"topic": "t", "probability": q}}),
            },
            {"f": poisson("front", 20.0)},
            topics={"t": {"type": "queue", "subscribers": {"worker": "op"}}},
        )
    )
    assert result.topics["t"].publish_rate == pytest.approx(20.0 / (1 - q), rel=REL)
    assert result.flows["f"].visits.groups["t"]["worker"] == pytest.approx(1 / (1 - q))


def test_feedback_that_never_dies_out_is_reported_not_solved() -> None:
    """`load_scenario` refuses such a scenario (`models.budget`); one validated without that
    check is still analysed: every value unknown."""
    raw = {
        "name": "unit",
        "simulation": {"duration": 60},
        "services": {
            "front": {"workers": "unlimited", **op({"publish": "t"})},
            "worker": op(exp(0.001), {"publish": "t"}),
        },
        "workload": {"f": poisson("front", 1.0)},
        "topics": {"t": {"type": "queue", "subscribers": {"worker": "op"}}},
    }
    with pytest.raises(ScenarioError, match="messages multiply without end"):
        load_scenario(raw)
    result = analyze(Scenario.model_validate(raw))
    assert result.flows["f"].stable is False
    assert result.flows["f"].response_time.mean is None
    assert "feed back" in result.warnings[0]
    # the same document as always, every value unknown (null) but the consumers
    assert result.flows["f"].visits is None and result.flows["f"].completion_exact is False
    assert result.topics["t"].groups["worker"].consumers == 1
    document = result.to_dict()
    assert list(document["flows"]["f"]) == required_keys(PredictedFlow)
    assert list(document["topics"]["t"]["groups"]["worker"]) == required_keys(PredictedGroup)


def required_keys(model: type[PredictedFlow] | type[PredictedGroup]) -> list[str]:
    """The keys always in the document (those added for failures are absent without)."""
    return [name for name in model.model_fields if name not in model.OPTIONAL]


def test_key_skew_gives_the_hottest_partition_its_zipf_share() -> None:
    # keys 0 and 2 land on partition 0 (weights 1 + 1/3), key 1 on partition 1 (1/2)
    shares = default_partition_shares(
        Topic(partitions=2, partitioning="key", keys=KeySpace(count=3, skew=1.0))
    )
    assert list(shares) == pytest.approx([8 / 11, 3 / 11], rel=REL)
    result = analyze(
        scenario(
            {
                "front": {"workers": "unlimited", **op({"publish": "t"})},
                "c": op(exp(0.01)),
            },
            {"f": poisson("front", 50.0)},
            topics={
                "t": {
                    "partitions": 2,
                    "partitioning": "key",
                    "keys": {"count": 3, "skew": 1.0},
                    "subscribers": {"c": {"operation": "op", "concurrency": 2}},
                }
            },
        )
    )
    group = result.topics["t"].groups["c"]
    assert group.max_partition_utilization == pytest.approx(50.0 * 8 / 11 * 0.01, rel=REL)
    assert group.exact is True  # random keys: each partition gets a thinned Poisson stream
    hot, cold = (mm1(50.0 * s, 100.0) for s in (8 / 11, 3 / 11))
    lag = hot.mean_in_system + cold.mean_in_system
    assert group.lag.mean == pytest.approx(lag, rel=REL)


def test_a_fixed_key_sends_every_message_to_its_hashed_partition() -> None:
    partitions = 4
    hashed = zlib.crc32(b"customer-7") % partitions
    result = analyze(
        scenario(
            {
                "front": {
                    "workers": "unlimited",
                    **op({"publish": {"topic": "t", "key": "customer-7"}}),
                },
                "c": op(exp(0.01)),
            },
            {"f": poisson("front", 40.0)},
            topics={
                "t": {
                    "partitions": partitions,
                    "subscribers": {"c": {"operation": "op", "concurrency": 4}},
                }
            },
        )
    )
    group = result.topics["t"].groups["c"]
    assert group.max_partition_utilization == pytest.approx(0.4, rel=REL)
    assert group.utilization == pytest.approx(0.4 / 4, rel=REL)
    assert hashed in range(partitions)


def test_dropped_calls_skip_the_rest_of_the_operation() -> None:
    """An M/M/1/2 front drops 1/3 of requests; the call after it sees the admitted 2/3."""
    result = analyze(
        scenario(
            {
                "front": {"queue_capacity": 1, **op(exp(1.0))},
                "after": {"workers": "unlimited", **op(exp(0.1))},
            },
            {"f": {"steps": [{"call": "front"}, {"call": "after"}], "arrivals": {"poisson": 1.0}}},
        )
    )
    loss = mmck(1.0, 1.0, 1, 2).loss_probability
    assert loss == pytest.approx(1 / 3, rel=REL)
    assert result.services["front"].loss_probability == pytest.approx(loss, rel=REL)
    assert result.services["after"].arrival_rate == pytest.approx(1 - loss, rel=REL)
    assert result.flows["f"].throughput == pytest.approx(1 - loss, rel=REL)


# --------------------------------------------------------------------------- stations


def single_service(spec: dict[str, Any], rate: float, **flow: Any) -> Prediction:
    """The analysis of one service `s` fed by one flow."""
    workload = {"f": {"entry": "s", "arrivals": {"poisson": rate}, **flow}}
    return analyze(scenario({"s": spec}, workload))


def test_m_m_1() -> None:
    result = single_service(op(exp(0.01)), 80.0)
    expected = mm1(80.0, 100.0)
    service = result.services["s"]
    assert (service.method, service.exact, service.stable) == ("M/M/1", True, True)
    assert service.waiting_time.mean == pytest.approx(expected.mean_waiting_time, rel=REL)
    assert service.queue_length.mean == pytest.approx(expected.mean_queue_length, rel=REL)
    assert service.in_system.mean == pytest.approx(expected.mean_in_system, rel=REL)
    assert service.p_wait == pytest.approx(0.8, rel=REL)
    flow = result.flows["f"]
    assert flow.response_time.mean == pytest.approx(0.05, rel=REL)
    assert flow.completion_time.mean == pytest.approx(0.05, rel=REL)
    assert flow.max_throughput == pytest.approx(100.0, rel=1e-3)  # bisection to 1e-4
    assert flow.headroom == pytest.approx(0.25, rel=1e-2)
    assert result.bottleneck is not None
    assert result.bottleneck.to_dict() == {"kind": "service", "name": "s", "utilization": 0.8}


def test_shared_pool_is_m_m_c_over_all_replicas() -> None:
    spec = {"replicas": 2, "workers": 2, "balancing": "shared", **op(exp(0.04))}
    service = single_service(spec, 80.0).services["s"]
    expected = mmc(80.0, 25.0, 4)
    assert (service.method, service.exact) == ("M/M/c (Erlang C)", True)
    assert service.waiting_time.mean == pytest.approx(expected.mean_waiting_time, rel=REL)
    assert service.p_wait == pytest.approx(expected.p_wait, rel=REL)
    assert service.utilization == pytest.approx(0.8, rel=REL)


def test_random_balancing_splits_poisson_into_independent_replicas() -> None:
    spec = {"replicas": 3, "workers": 2, "balancing": "random", **op(exp(0.04))}
    service = single_service(spec, 90.0).services["s"]
    expected = mmc(30.0, 25.0, 2)
    assert (service.method, service.exact) == ("M/M/c (Erlang C)", True)
    assert service.waiting_time.mean == pytest.approx(expected.mean_waiting_time, rel=REL)
    assert service.queue_length.mean == pytest.approx(3 * expected.mean_queue_length)


def test_round_robin_single_worker_replicas_see_erlang_arrivals() -> None:
    spec = {"replicas": 3, "balancing": "round_robin", **op(exp(0.02))}
    service = single_service(spec, 120.0).services["s"]
    expected = gi_m1_erlang_arrivals(40.0, 50.0, 3)
    assert (service.method, service.exact) == ("E_3/M/1", True)
    assert service.waiting_time.mean == pytest.approx(expected.mean_waiting_time, rel=REL)


def test_m_g_1_pollaczek_khinchine_for_any_service_distribution() -> None:
    spec = op({"work": {"lognormal": {"mean": 0.01, "cv": 1.5}}})
    service = single_service(spec, 60.0).services["s"]
    expected = mg1(60.0, 0.01, 1.5**2)
    assert (service.method, service.exact) == ("M/G/1 (Pollaczek-Khinchine)", True)
    assert service.waiting_time.mean == pytest.approx(expected.mean_waiting_time, rel=1e-6)


def test_constant_arrivals_at_exponential_servers_are_d_m_c() -> None:
    """A flow that sends its requests a constant time apart straight to a pool of
    exponential servers: D/M/1, exact (GI/M/1: sigma = exp(-mu T (1 - sigma)),
    Wq = sigma / (mu (1 - sigma)); Gross & Harris sec. 6.3)."""
    workload = {"f": {"entry": "s", "arrivals": {"constant": 60.0}}}
    service = analyze(scenario({"s": op(exp(0.01))}, workload)).services["s"]
    assert (service.method, service.exact) == ("D/M/1", True)
    sigma = 0.5
    for _ in range(200):  # (the fixed point converges from below)
        sigma = math.exp(-100.0 / 60.0 * (1.0 - sigma))
    assert service.waiting_time.mean == pytest.approx(sigma / (100.0 * (1.0 - sigma)), rel=1e-9)


def test_non_poisson_arrivals_use_allen_cunneen() -> None:
    workload = {"f": {"entry": "s", "arrivals": {"constant": 60.0}}}
    lognormal = op({"work": {"lognormal": {"mean": 0.01, "cv": 1.5}}})
    service = analyze(scenario({"s": lognormal}, workload)).services["s"]
    assert (service.method, service.exact) == ("Allen-Cunneen G/G/c", False)
    # Allen-Cunneen with ca² = 0, cs² = 2.25: (0 + 2.25) / 2 of the M/M/1 wait
    assert service.waiting_time.mean == pytest.approx(
        mm1(60, 100).mean_waiting_time * 2.25 / 2, rel=1e-9
    )


def test_finite_waiting_room_is_m_m_c_k_with_drops() -> None:
    spec = {"workers": 2, "queue_capacity": 3, **op(exp(0.02))}
    service = single_service(spec, 110.0).services["s"]
    expected = mmck(110.0, 50.0, 2, 5)
    assert (service.method, service.exact) == ("M/M/c/K", True)
    assert service.loss_probability == pytest.approx(expected.loss_probability, rel=REL)
    assert service.waiting_time.mean == pytest.approx(expected.mean_waiting_time, rel=REL)
    assert service.queue_length.mean == pytest.approx(expected.mean_queue_length, rel=REL)


def test_no_waiting_room_is_erlang_b_for_any_service() -> None:
    spec = {"workers": 3, "queue_capacity": 0, **op({"work": {"constant": 0.05}})}
    service = single_service(spec, 40.0).services["s"]
    assert (service.method, service.exact) == ("Erlang B (M/G/c/c)", True)
    assert service.loss_probability == pytest.approx(erlang_b(3, 2.0), rel=REL)
    assert service.waiting_time.mean == 0.0


def test_unlimited_workers_never_wait() -> None:
    service = single_service({"workers": "unlimited", **op(exp(0.5))}, 100.0).services["s"]
    assert (service.method, service.exact) == ("M/M/inf", True)
    assert service.utilization is None
    assert service.in_system.mean == pytest.approx(50.0, rel=REL)


def test_priority_classes_use_cobham() -> None:
    services = {"s": {"discipline": "priority", **op(exp(0.01))}}
    workload = {
        "high": {"entry": "s", "arrivals": {"poisson": 30.0}, "priority": 0},
        "low": {"entry": "s", "arrivals": {"poisson": 40.0}, "priority": 1},
    }
    result = analyze(scenario(services, workload))
    expected = mg1_priority_nonpreemptive([30.0, 40.0], [0.01, 0.01], [1.0, 1.0])
    assert result.services["s"].method == expected.method
    assert result.services["s"].exact is True
    for name, cls in zip(("high", "low"), expected.classes, strict=True):
        response = result.flows[name].response_time.mean
        assert response == pytest.approx(cls.mean_response_time, rel=REL)

    services = {"s": {"workers": 3, "discipline": "priority", **op(exp(0.01))}}
    result = analyze(scenario(services, workload))
    expected = mmc_priority_nonpreemptive([30.0, 40.0], 100.0, 3)
    assert (result.services["s"].method, result.services["s"].exact) == (
        expected.method,
        True,
    )
    low = result.flows["low"].response_time.mean
    assert low == pytest.approx(expected.classes[1].mean_response_time, rel=REL)


# --------------------------------------------------------------------------- unstable


def test_an_unstable_station_is_reported_with_nulls_and_a_warning() -> None:
    result = single_service(op(exp(0.01)), 125.0)
    service = result.services["s"]
    assert service.stable is False
    assert service.utilization == 1.0
    for key in ("waiting_time", "response_time", "queue_length", "in_system"):
        assert getattr(service, key).mean is None
    assert result.flows["f"].response_time.mean is None
    assert result.flows["f"].stable is False
    assert result.flows["f"].headroom == pytest.approx(-0.2, rel=1e-2)
    (warning,) = result.warnings
    assert "service 's' is unstable" in warning and "1.25" in warning


def test_a_pool_held_through_its_calls_is_reported_by_its_load_ratio() -> None:
    """Two threads over a one-server database (5 ms of their own, 8 ms there) serve at most
    X(2) = 111.6/s (MVA, Z = 5 ms, D = 8 ms), below the database's 125/s: at 120/s the
    pool is unstable and the database is not. The warning gives the pool's arrivals over
    X(2) (1.08), not its open model's utilization, which read under 1 where a pool's
    rounds ended on an unsaturated iterate (fuzz seed 4945: "utilization 0.984 >= 1")."""
    result = analyze(
        scenario(
            {"pool": {"workers": 2, **op(exp(0.005), {"call": "db"})}, "db": op(exp(0.008))},
            {"f": poisson("pool", 120.0)},
        )
    )
    assert result.services["pool"].stable is False and result.services["db"].stable is True
    assert result.flows["f"].max_throughput == pytest.approx(111.588, rel=1e-3)
    (warning,) = result.warnings
    assert "service 'pool' is unstable: its arrivals are 1.08 times what its 2 servers" in warning


def test_a_caller_of_an_unstable_callee_is_saturated_too() -> None:
    result = analyze(
        scenario(
            {"gw": {"workers": 8, **op({"call": "db"})}, "db": op(exp(0.01))},
            {"f": poisson("gw", 150.0)},
        )
    )
    assert result.services["db"].stable is False
    assert result.services["gw"].stable is False
    # eight threads that only wait for the database saturate with it, at 100/s
    assert result.bottleneck.name == "db"
    assert result.flows["f"].max_throughput == pytest.approx(100.0, rel=1e-3)
    assert any("gw" in w and "held forever" in w for w in result.warnings)
