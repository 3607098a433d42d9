"""Unit tests of `models.analyze`: the layered fixed point, fork-joins, closed flows, and
whole prediction documents (those of the example scenarios, and generated ones in a
property test).

Deterministic tests (no simulation): every expected value is computed independently here,
by hand or with the formulas of `models.theory`, and compared to 1e-9 relative unless a
comment says why the tolerance is wider. The statistical cross-checks against the simulator
are in tests/theory/test_analysis_vs_simulation.py. Traffic equations and the formula of
each station are in test_analysis_stations.py, failures in test_analysis_failures.py and
faults in test_analysis_faults.py.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from scipy.optimize import brentq

from models import Prediction, analyze, load_scenario
from models.theory import (
    fork_join_nelson_tantawi,
    fork_join_two_mm1,
    mmc,
    mva_exact,
    mva_schweitzer,
)
from tests.unit.analysis_scenarios import (
    GENERATED_SCENARIOS,
    REL,
    SCENARIOS,
    analyzed_in_range,
    exp,
    finite_and_non_negative,
    op,
    poisson,
    scenario,
    scenario_documents,
)

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
    capacity of 100/s: the pool is the bottleneck. At 88/s its own limit makes it wait
    longer than the database's queue would (models.analysis.excess_pools): the
    flow-equivalent server's waiting is taken."""
    services = {
        "gw": {"workers": 4, **op({"delay": {"constant": 0.02}}, {"call": "db"})},
        "db": op(exp(0.01)),
    }
    result = analyze(scenario(services, {"f": poisson("gw", 88.0)}))
    gateway = result.services["gw"]
    assert gateway.method == "flow-equivalent server of its callees (method of layers)"
    assert gateway.exact is False  # a population cap breaks product form
    # scaled by (1 + cs²) / 2 (Poisson arrivals), cs² that of the held time, 20 ms constant
    # + the database's response (exponential service, and the waiting seen through the pool
    # as an exponential-like time: variance = mean²), except as often as the threads queue
    # at the database, P(n >= 2) = U(4) U(3) at population 4, where they leave at its pace:
    # one exponential service, cs² = 1 (layers.own_server_pacing)
    seen = result.services["db"].waiting_time.mean
    held_mean, held_variance = 0.02 + 0.01 + seen, 0.01**2 + seen**2
    queued = math.prod(mva_exact([0.02, 0.01], 0.0, k, [None, 1]).throughput * 0.01 for k in (3, 4))
    service_scv = queued * 1.0 + (1 - queued) * held_variance / held_mean**2
    expected = pool_over_callee(4, 88.0) * (1 + service_scv) / 2
    assert gateway.waiting_time.mean == pytest.approx(expected, rel=1e-9)
    capacity = mva_exact([0.02, 0.01], 0.0, 4, [None, 1]).throughput
    assert result.flows["f"].max_throughput == pytest.approx(capacity, rel=1e-3)
    assert result.bottleneck.name == "gw"
    # the open model would have saturated the pool at lambda (0.02 + 1 / (100 - lambda)) = 4
    open_limit = brentq(lambda r: r * (0.02 + 1 / (100 - r)) - 4, 1, 99.9)
    assert open_limit < capacity


@pytest.mark.parametrize(("servers", "load"), [(1, 0.6), (4, 0.3), (4, 0.6)])
def test_replicated_pools_see_their_callee_as_the_open_queue_where_no_thread_caps_it(
    servers: int, load: float
) -> None:
    """Two replicas of a pool of 64 threads, each request calling a database of `servers`
    exponential workers at `load`: no replica ever has its threads busy, so the database is
    M/M/c with every replica's requests (Erlang C; Gross & Harris sec. 2.3). Each replica's
    flow-equivalent server has the other's load as an open class at the database, summed
    out of the mixed network's product form (`layers.mixed_log_weights`): its 64 threads
    look Poisson, and the two classes' M/M/c is what the replica sees; on four servers at
    30%, slowing them all for the 0.6 Erlangs of background made it 13 times too long
    (0.54 ms for 0.040 ms)."""
    holding, rate = 0.003, load * servers / 0.003
    services = {
        "gw": {"replicas": 2, "workers": 64, "balancing": "random", **op({"call": "db"})},
        "db": {"workers": servers, **op(exp(holding))},
    }
    result = analyze(scenario(services, {"f": poisson("gw", rate)}))
    expected = mmc(rate, 1 / holding, servers).mean_waiting_time
    # (the closed subnetwork of 64 threads truncates the population: P(n > 64) is below 1e-20)
    assert result.services["db"].waiting_time.mean == pytest.approx(expected, rel=1e-6)


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


@GENERATED_SCENARIOS
@given(scenario_documents())
def test_analyze_never_crashes_and_never_returns_negative_or_nan(document: Any) -> None:
    _, result = analyzed_in_range(document)
    for service in result.services.values():
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
