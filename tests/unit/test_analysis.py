"""Unit tests of `models.analyze`: traffic equations, the formula chosen for each station,
unstable stations, the layered fixed point, closed flows, fork-joins and topics.

Deterministic tests (no simulation): every expected value is computed independently here,
by hand or with the formulas of `models.theory`, and compared to 1e-9 relative unless a
comment says why the tolerance is wider. The statistical cross-checks against the simulator
are in tests/theory/test_analysis_vs_simulation.py.
"""

from __future__ import annotations

import json
import math
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq

from models import Prediction, ScenarioError, analyze, load_scenario
from models.analysis.prediction import PredictedFlow, PredictedGroup
from models.analysis.traffic import default_partition_shares
from models.schema import KeySpace, Topic
from models.theory import (
    erlang_b,
    fork_join_nelson_tantawi,
    fork_join_two_mm1,
    gi_m1_erlang_arrivals,
    mg1,
    mg1_priority_nonpreemptive,
    mm1,
    mmc,
    mmc_priority_nonpreemptive,
    mmck,
    mva_exact,
    mva_schweitzer,
)

REL = 1e-9
SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def scenario(services: dict[str, Any], workload: dict[str, Any], **extra: Any) -> Any:
    """A validated scenario from its services and workload (and topics, ...)."""
    return load_scenario(
        {
            "name": "unit",
            "simulation": {"duration": 60},
            "services": services,
            "workload": workload,
            **extra,
        }
    )


def op(*steps: Any) -> dict[str, Any]:
    """A service with one operation `op` made of `steps` (other keys may be added)."""
    return {"operations": {"op": list(steps)}}


def exp(mean: float) -> dict[str, Any]:
    return {"work": {"exponential": mean}}


def poisson(entry: str, rate: float) -> dict[str, Any]:
    return {"entry": entry, "arrivals": {"poisson": rate}}


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
    assert result.topics["t"].published == pytest.approx(15.0, rel=REL)
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
    assert result.topics["t"].published == pytest.approx(20.0 / (1 - q), rel=REL)
    assert result.flows["f"].visits.groups["t"]["worker"] == pytest.approx(1 / (1 - q))


def test_feedback_that_never_dies_out_is_reported_not_solved() -> None:
    result = analyze(
        scenario(
            {
                "front": {"workers": "unlimited", **op({"publish": "t"})},
                "worker": op(exp(0.001), {"publish": "t"}),
            },
            {"f": poisson("front", 1.0)},
            topics={"t": {"type": "queue", "subscribers": {"worker": "op"}}},
        )
    )
    assert result.flows["f"].stable is False
    assert result.flows["f"].response_time.mean is None
    assert "feed back" in result.warnings[0]
    # the same document as always, every value unknown (null) but the consumers
    assert result.flows["f"].visits is None and result.flows["f"].completion_exact is False
    assert result.topics["t"].groups["worker"].consumers == 1
    document = result.to_dict()
    assert list(document["flows"]["f"]) == list(PredictedFlow.model_fields)
    assert list(document["topics"]["t"]["groups"]["worker"]) == list(PredictedGroup.model_fields)


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


def test_non_poisson_arrivals_use_allen_cunneen() -> None:
    workload = {"f": {"entry": "s", "arrivals": {"constant": 60.0}}}
    service = analyze(scenario({"s": op(exp(0.01))}, workload)).services["s"]
    assert (service.method, service.exact) == ("Allen-Cunneen G/G/c", False)
    # Allen-Cunneen with ca² = 0, cs² = 1: half the M/M/1 wait
    assert service.waiting_time.mean == pytest.approx(mm1(60, 100).mean_waiting_time / 2)


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


# --------------------------------------------------------------------------- layers


def pool_over_callee(clients: int, rate: float) -> float:
    """Waiting for a worker of a pool of 4, each request holding one for 20 ms plus a call to
    an M/M/1 database of 10 ms: the flow-equivalent server, computed here from first
    principles — X(k) of the closed subnetwork by exact MVA, then the birth-death chain
    with service rate X(min(n, 4)) (tail geometric with ratio rate / X(4))."""
    capacity = [mva_exact([0.02, 0.01], 0.0, k, [None, 1]).throughput for k in range(1, 5)]
    weights = [1.0]
    for k in range(clients):
        weights.append(weights[-1] * rate / capacity[k])
    ratio = rate / capacity[-1]
    norm = sum(weights[:-1]) + weights[-1] / (1 - ratio)
    queue = weights[-1] * ratio / (1 - ratio) ** 2 / norm
    return queue / rate


def test_thread_pool_saturation_is_predicted_by_the_method_of_layers() -> None:
    """A pool of 4 workers held 20 ms plus the database's response cannot complete more than
    X(4) = 90.5 requests/s (the closed subnetwork of 4 customers), below the database's own
    capacity of 100/s: the pool is the bottleneck."""
    services = {
        "gw": {"workers": 4, **op({"delay": {"constant": 0.02}}, {"call": "db"})},
        "db": op(exp(0.01)),
    }
    result = analyze(scenario(services, {"f": poisson("gw", 60.0)}))
    gateway = result.services["gw"]
    assert gateway.method == "flow-equivalent server of its callees (method of layers)"
    assert gateway.exact is False  # a population cap breaks product form
    assert gateway.waiting_time.mean == pytest.approx(pool_over_callee(4, 60.0), rel=1e-9)
    capacity = mva_exact([0.02, 0.01], 0.0, 4, [None, 1]).throughput
    assert result.flows["f"].max_throughput == pytest.approx(capacity, rel=1e-3)
    assert result.bottleneck.name == "gw"
    # the open model would have saturated the pool at lambda (0.02 + 1 / (100 - lambda)) = 4
    open_limit = brentq(lambda r: r * (0.02 + 1 / (100 - r)) - 4, 1, 99.9)
    assert open_limit < capacity


def test_non_blocking_calls_release_the_worker() -> None:
    services = {
        "gw": {"workers": 4, "blocking_calls": False, **op(exp(0.002), {"call": "slow"})},
        "slow": {"workers": "unlimited", **op({"delay": {"constant": 0.4}})},
    }
    result = analyze(scenario(services, {"f": poisson("gw", 100.0)}))
    assert result.services["gw"].utilization == pytest.approx(100 * 0.002 / 4, rel=REL)
    expected = mmc(100.0, 500.0, 4).mean_response_time + 0.4  # tail call: no second wait
    assert result.flows["f"].response_time.mean == pytest.approx(expected, rel=REL)


# --------------------------------------------------------------------------- fork-join


def test_two_identical_m_m_1_branches_are_flatto_hahn() -> None:
    services = {"a": op(exp(0.01)), "b": op(exp(0.01))}
    flow = {"steps": [{"parallel": [[{"call": "a"}], [{"call": "b"}]]}]}
    result = analyze(scenario(services, {"f": {**flow, "arrivals": {"poisson": 60.0}}}))
    expected = fork_join_two_mm1(60.0, 100.0).mean_response_time
    assert result.flows["f"].response_time.mean == pytest.approx(expected, rel=REL)
    assert result.flows["f"].exact is True

    services["c"] = op(exp(0.01))
    flow = {"steps": [{"parallel": [[{"call": "a"}], [{"call": "b"}], [{"call": "c"}]]}]}
    result = analyze(scenario(services, {"f": {**flow, "arrivals": {"poisson": 60.0}}}))
    expected = fork_join_nelson_tantawi(60.0, 100.0, 3).mean_response_time
    assert result.flows["f"].response_time.mean == pytest.approx(expected, rel=REL)
    assert result.flows["f"].exact is False


# --------------------------------------------------------------------------- closed


def closed_network(clients: int) -> Any:
    return scenario(
        {
            "app": {"workers": clients, **op(exp(0.01), {"call": "db"})},
            "db": {"workers": 2, **op(exp(0.012))},
        },
        {"f": {"entry": "app", "clients": clients, "think_time": {"exponential": 0.05}}},
    )


def test_closed_flow_is_exact_mva_when_product_form() -> None:
    result = analyze(closed_network(8))
    expected = mva_exact([0.01, 0.012], 0.05, 8, [None, 2])
    flow = result.flows["f"]
    assert flow.method == expected.method and flow.exact is True
    assert flow.throughput == pytest.approx(expected.throughput, rel=REL)
    assert flow.response_time.mean == pytest.approx(expected.response_time, rel=REL)
    assert flow.headroom is None
    db_in_system = result.services["db"].in_system.mean
    assert db_in_system == pytest.approx(expected.station_queue_lengths[1], rel=REL)


def test_large_closed_populations_use_schweitzer() -> None:
    result = analyze(closed_network(2500))
    expected = mva_schweitzer([0.01, 0.012], 0.05, 2500, [None, 2])
    flow = result.flows["f"]
    assert flow.exact is False and flow.method == expected.method
    assert flow.throughput == pytest.approx(expected.throughput, rel=1e-6)


def test_closed_flow_that_is_not_product_form_uses_the_closed_loop_fixed_point() -> None:
    result = analyze(
        scenario(
            {"app": {"workers": 2, **op(exp(0.01), {"call": "db"})}, "db": op(exp(0.004))},
            {"f": {"entry": "app", "clients": 6, "think_time": {"constant": 0.03}}},
        )
    )
    flow = result.flows["f"]
    assert flow.method.startswith("closed-loop fixed point")
    assert flow.exact is False
    # X = N / (Z + R): the fixed point holds
    assert flow.throughput * (0.03 + flow.response_time.mean) == pytest.approx(6, 1e-5)
    # the database never sees more than the 2 app threads that call it
    assert result.services["db"].method.startswith("finite-source")


# --------------------------------------------------------------------------- documents


def finite_and_non_negative(value: Any, path: str = "") -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            finite_and_non_negative(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            finite_and_non_negative(item, f"{path}[{index}]")
    elif isinstance(value, int | float) and not isinstance(value, bool):
        assert math.isfinite(value), path
        assert value >= (-1.0 if path.endswith("headroom") else 0.0), (path, value)


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.yaml")), ids=lambda p: p.stem)
def test_example_scenarios_give_complete_finite_documents(path: Path) -> None:
    base = load_scenario(path)
    for variant in [None, *base.variants]:
        result = analyze(load_scenario(path, variant=variant))
        json.dumps(result.to_dict(), allow_nan=False)
        finite_and_non_negative(result.model_dump())  # (to_dict() would null an infinity)
        assert set(result.services) == set(base.services)
        assert result.method == "queueing theory"
        for flow in result.flows.values():
            assert isinstance(flow.exact, bool) and flow.method


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.yaml")), ids=lambda p: p.stem)
def test_the_prediction_document_reads_back_into_the_same_prediction(path: Path) -> None:
    prediction = analyze(load_scenario(path))
    document = prediction.to_dict()
    assert Prediction.model_validate(document).to_dict() == document
    neck = document["bottleneck"]
    if neck is not None:  # `topic` and `partitions` only where they mean something
        assert ("topic" in neck) == (neck["kind"] != "service")
        assert ("partitions" in neck) == (neck["kind"] == "partition")


def test_hot_partition_example_finds_the_hot_partition_unstable() -> None:
    result = analyze(load_scenario(SCENARIOS / "hot_partition.yaml"))
    assert result.bottleneck.kind == "partition"
    group = result.topics["customer-orders"].groups["fulfilment"]
    assert group.stable is False and group.lag.mean is None
    assert any("fulfilment" in warning for warning in result.warnings)


# --------------------------------------------------------------------------- property


DISTRIBUTIONS = st.one_of(
    st.builds(lambda m: {"constant": m}, st.sampled_from([0.0, 0.001, 0.01])),
    st.builds(lambda m: {"exponential": m}, st.sampled_from([0.0005, 0.005, 0.05])),
    st.builds(lambda m: {"uniform": [m / 2, m * 1.5]}, st.sampled_from([0.002, 0.02])),
    st.builds(lambda m: {"gamma": {"mean": m, "cv": 2.0}}, st.sampled_from([0.002, 0.02])),
    st.builds(lambda m: {"pareto": {"mean": m, "alpha": 1.5}}, st.sampled_from([0.002, 0.02])),
    st.builds(lambda v: {"empirical": v}, st.lists(st.sampled_from([0.0, 0.003]), min_size=1)),
)


@st.composite
def step_lists(draw: st.DrawFn, index: int, services: int, topics: int, depth: int = 0) -> Any:
    steps: list[Any] = []
    for _ in range(draw(st.integers(1 if depth == 0 else 0, 3))):
        kinds = ["work", "delay", "publish", "call", "branch", "parallel"]
        kind = draw(st.sampled_from(kinds if depth < 2 else kinds[:4]))
        if kind in ("work", "delay"):
            steps.append({kind: draw(DISTRIBUTIONS)})
        elif kind == "call" and index + 1 < services:
            call: dict[str, Any] = {"service": f"s{draw(st.integers(index + 1, services - 1))}"}
            call["probability"] = draw(st.sampled_from([1.0, 0.4]))
            if draw(st.booleans()):
                call["timeout"] = draw(st.sampled_from([0.005, 0.05]))
                call["retries"] = draw(st.integers(0, 2))
            steps.append({"call": call})
        elif kind == "publish" and topics:
            publish = {"topic": f"t{draw(st.integers(0, topics - 1))}"}
            publish["probability"] = draw(st.sampled_from([1.0, 0.5]))
            publish["count"] = draw(st.integers(1, 2))
            if draw(st.integers(0, 4)) == 0:
                publish["key"] = "k"
            steps.append({"publish": publish})
        elif kind == "branch":
            first, second = (draw(step_lists(index, services, topics, depth + 1)) for _ in "ab")
            steps.append(
                {
                    "branch": [
                        {"probability": 0.25, "steps": first},
                        {"probability": 0.75, "steps": second},
                    ]
                }
            )
        elif kind == "parallel":
            branches = [
                draw(step_lists(index, services, topics, depth + 1))
                for _ in range(draw(st.integers(1, 3)))
            ]
            steps.append({"parallel": [b or [{"delay": {"constant": 0.001}}] for b in branches]})
    return steps


@st.composite
def scenario_documents(draw: st.DrawFn) -> dict[str, Any]:
    """Small random scenarios: services calling later ones (no call cycles), topics with
    feedback allowed, open and closed flows of every kind."""
    services, topics = draw(st.integers(1, 3)), draw(st.integers(0, 2))
    document: dict[str, Any] = {
        "name": "random",
        "simulation": {"duration": 60},
        "services": {},
        "topics": {},
        "workload": {},
    }
    for i in range(services):
        document["services"][f"s{i}"] = {
            "replicas": draw(st.integers(1, 3)),
            "workers": draw(st.one_of(st.integers(1, 4), st.just("unlimited"))),
            "queue_capacity": draw(st.one_of(st.none(), st.integers(0, 4))),
            "balancing": draw(
                st.sampled_from(["shared", "round_robin", "random", "least_outstanding"])
            ),
            "discipline": draw(st.sampled_from(["fifo", "priority"])),
            "blocking_calls": draw(st.booleans()),
            "operations": {"op": draw(step_lists(i, services, topics))},
        }
    for t in range(topics):
        topic: dict[str, Any] = {"type": draw(st.sampled_from(["log", "queue"]))}
        if topic["type"] == "log":
            topic["partitions"] = draw(st.integers(1, 4))
            topic["partitioning"] = draw(st.sampled_from(["random", "round_robin", "key"]))
            if topic["partitioning"] == "key":
                topic["keys"] = {"count": draw(st.integers(1, 20)), "skew": 1.0}
        if draw(st.booleans()):
            topic["delivery_latency"] = draw(DISTRIBUTIONS)
        subscribers = draw(st.lists(st.integers(0, services - 1), unique=True, max_size=2))
        topic["subscribers"] = {
            f"s{s}": {"operation": "op", "concurrency": draw(st.integers(1, 2))}
            for s in subscribers
        }
        document["topics"][f"t{t}"] = topic
    for f in range(draw(st.integers(1, 2))):
        flow: dict[str, Any] = (
            {"entry": "s0"}
            if draw(st.booleans())
            else {"steps": draw(step_lists(-1, services, topics))}
        )
        rate = draw(st.sampled_from([1.0, 50.0, 2000.0]))
        source = draw(st.sampled_from(["poisson", "constant", "interarrival", "closed"]))
        if source == "closed":
            flow["clients"] = draw(st.integers(1, 5))
            if draw(st.booleans()):
                flow["think_time"] = draw(DISTRIBUTIONS)
        elif source == "interarrival":
            flow["arrivals"] = {"interarrival": draw(DISTRIBUTIONS)}
        else:
            flow["arrivals"] = {source: rate}
        flow["priority"] = draw(st.integers(0, 1))
        document["workload"][f"f{f}"] = flow
    return document


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(scenario_documents())
def test_analyze_never_crashes_and_never_returns_negative_or_nan(document: Any) -> None:
    try:
        valid = load_scenario(document)
    except ScenarioError:
        assume(False)
        return
    result = analyze(valid)
    json.dumps(result.to_dict(), allow_nan=False)
    finite_and_non_negative(result.model_dump())
    for service in result.services.values():
        if service.utilization is not None:
            assert service.utilization <= 1.0 + 1e-9
        if not service.stable:
            assert service.response_time.mean is None


def test_calls_of_a_lossy_station_come_only_from_admitted_requests() -> None:
    """Requests dropped at `api` never run its steps, so `db` sees the admitted rate only,
    and since `api`'s loss is approximate, so is the prediction at `db` (regression: the
    offered rate was used and `db` was labelled exact)."""
    scenario = load_scenario(
        {
            "name": "lossy",
            "simulation": {"duration": 100},
            "services": {
                "api": {
                    "workers": 2,
                    "queue_capacity": 3,
                    "operations": {"get": [{"work": {"exponential": 0.05}}, {"call": "db"}]},
                },
                "db": {"workers": 4, "operations": {"read": [{"work": {"exponential": 0.02}}]}},
            },
            "workload": {"users": {"entry": "api.get", "arrivals": {"poisson": 30}}},
        }
    )
    result = analyze(scenario)
    api, db = result.services["api"], result.services["db"]
    assert api.loss_probability > 0.1
    assert db.arrival_rate == pytest.approx(30 * (1 - api.loss_probability), rel=1e-6)
    assert db.exact is False
