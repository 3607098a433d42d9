"""What a saturated station passes on (models/analysis/throttle.py), deterministic: the
long-run rates behind a pool that never idles, worked out by hand."""

from __future__ import annotations

import functools
import math
from typing import Any

import pytest

from models import analyze, load_scenario
from models.analysis import flow_source
from models.analysis.capacity import saturating_factor
from models.analysis.flat_out import scaled_sources
from models.analysis.graph import StationId
from models.analysis.network import solve_network
from models.analysis.shielding import shielded
from models.analysis.solve_memo import SolveMemo
from models.analysis.throttle import Throttle
from tests.theory.scenarios import async_gateway, gateway_chain, shared_database
from tests.unit.analysis_scenarios import open_sources

SIMULATION = {"duration": "60s"}


def _publisher(discipline: str, rates: dict[str, float]) -> dict[str, Any]:
    """One server of 5 ms (200/s flat out) running one operation per flow, each
    publishing to its own topic, consumed by a delay station."""
    return {
        "name": "publisher",
        "simulation": SIMULATION,
        "services": {
            "front": {
                "discipline": discipline,
                "operations": {
                    name: [{"work": {"exponential": "5ms"}}, {"publish": f"{name}-done"}]
                    for name in rates
                },
            },
            "sink": {
                "workers": "unlimited",
                "operations": {"log": [{"delay": {"constant": "1ms"}}]},
            },
        },
        "topics": {
            f"{name}-done": {"type": "queue", "subscribers": {"sink": "log"}} for name in rates
        },
        "workload": {
            name: {"entry": f"front.{name}", "priority": index, "arrivals": {"poisson": rate}}
            for index, (name, rate) in enumerate(rates.items())
        },
    }


def _delivered(prediction: dict[str, Any], name: str) -> float:
    group = prediction["topics"][f"{name}-done"]["groups"]["sink"]
    return float(group["throughput"])


def test_fifo_serves_every_class_the_same_share() -> None:
    """Offered 300/s (load 1.5) in FIFO order: each class gets 1 / 1.5 of its arrivals."""
    scenario = load_scenario(_publisher("fifo", {"big": 200.0, "small": 100.0}))
    prediction = analyze(scenario, capacity=False).to_dict()
    assert _delivered(prediction, "big") == pytest.approx(200 / 1.5, rel=1e-12)
    assert _delivered(prediction, "small") == pytest.approx(100 / 1.5, rel=1e-12)
    front = prediction["services"]["front"]
    assert front["stable"] is False
    assert front["throughput"] == pytest.approx(200.0, rel=1e-12)
    assert prediction["flows"]["big"]["throughput"] == pytest.approx(200 / 1.5, rel=1e-12)


@pytest.mark.parametrize(
    ("rates", "expected"),
    [
        ({"urgent": 150.0, "batch": 100.0}, {"urgent": 150.0, "batch": 50.0}),
        ({"urgent": 250.0, "batch": 50.0}, {"urgent": 200.0, "batch": 0.0}),
        (
            {"urgent": 50.0, "normal": 100.0, "batch": 100.0},
            {"urgent": 50.0, "normal": 100.0, "batch": 50.0},
        ),
    ],
)
def test_priorities_are_served_in_order(
    rates: dict[str, float], expected: dict[str, float]
) -> None:
    """Non-preemptive priorities at a server that never idles: each class takes what the
    classes before it leave of its 200/s."""
    prediction = analyze(load_scenario(_publisher("priority", rates)), capacity=False).to_dict()
    for name, rate in expected.items():
        assert _delivered(prediction, name) == pytest.approx(rate, rel=1e-12, abs=1e-12)


def test_a_flow_completes_what_its_saturated_callee_serves() -> None:
    """A gateway without a worker limit calls a 100/s server for half its 300 requests a
    second: 150 of them complete without it, and the server completes 100 of the other
    150 a second, so 250 complete."""
    document = {
        "name": "gateway",
        "simulation": SIMULATION,
        "services": {
            "gateway": {
                "workers": "unlimited",
                "operations": {
                    "get": [
                        {"delay": {"constant": "1ms"}},
                        {"call": {"service": "reports", "probability": 0.5}},
                    ]
                },
            },
            "reports": {"operations": {"build": [{"work": {"exponential": "10ms"}}]}},
        },
        "workload": {"users": {"entry": "gateway.get", "arrivals": {"poisson": "300/s"}}},
    }
    prediction = analyze(load_scenario(document), capacity=False).to_dict()
    assert prediction["services"]["reports"]["throughput"] == pytest.approx(100.0, rel=1e-12)
    assert prediction["flows"]["users"]["throughput"] == pytest.approx(250.0, rel=1e-12)
    assert prediction["flows"]["users"]["stable"] is False


def _pool_over_database() -> dict[str, Any]:
    """An API of 2 workers (10 ms, then a call to a database of 4 of 5 ms) offered 150/s:
    flat out it completes X(2) = 2 / 15 ms = 133.3/s (the database never waits)."""
    return {
        "name": "pool",
        "simulation": SIMULATION,
        "services": {
            "api": {
                "workers": 2,
                "operations": {
                    "get": [{"work": {"exponential": "10ms"}}, {"call": "db"}, {"publish": "done"}]
                },
            },
            "db": {"workers": 4, "operations": {"read": [{"work": {"exponential": "5ms"}}]}},
            "audit": {"operations": {"log": [{"work": {"exponential": "4ms"}}]}},
        },
        "topics": {"done": {"type": "queue", "subscribers": {"audit": "log"}}},
        "workload": {"users": {"entry": "api.get", "arrivals": {"poisson": "150/s"}}},
    }


def test_behind_a_saturated_thread_pool_every_station_sees_its_throughput() -> None:
    prediction = analyze(load_scenario(_pool_over_database())).to_dict()
    capacity = 2 / 0.015
    api, db = prediction["services"]["api"], prediction["services"]["db"]
    assert api["method"].startswith("flow-equivalent server")
    assert api["throughput"] == pytest.approx(capacity, rel=1e-9)
    assert db["arrival_rate"] == pytest.approx(capacity, rel=1e-9)
    assert db["utilization"] == pytest.approx(capacity * 0.005 / 4, rel=1e-9)
    assert db["in_system"]["mean"] == pytest.approx(db["arrival_rate"] * 0.005, rel=1e-9)
    audit = prediction["topics"]["done"]["groups"]["audit"]
    assert audit["throughput"] == pytest.approx(capacity, rel=1e-9)
    assert audit["utilization"] == pytest.approx(capacity * 0.004, rel=1e-9)  # one consumer
    # the capacity search grows the load from the offered rate, where the pool saturates
    assert prediction["flows"]["users"]["max_throughput"] == pytest.approx(capacity, rel=1e-2)


def test_a_saturated_consumer_group_passes_on_what_it_consumes() -> None:
    """A queue topic's one consumer (10 ms a message, then a call to a database of 2 of
    5 ms) offered 150 messages a second consumes 1 / 15 ms = 66.7 of them."""
    document = {
        "name": "group",
        "simulation": SIMULATION,
        "services": {
            "shop": {"workers": "unlimited", "operations": {"sell": [{"publish": "sold"}]}},
            "billing": {
                "operations": {"bill": [{"work": {"exponential": "10ms"}}, {"call": "ledger"}]}
            },
            "ledger": {"workers": 2, "operations": {"write": [{"work": {"exponential": "5ms"}}]}},
        },
        "topics": {"sold": {"type": "queue", "subscribers": {"billing": "bill"}}},
        "workload": {"buyers": {"entry": "shop.sell", "arrivals": {"poisson": "150/s"}}},
    }
    prediction = analyze(load_scenario(document), capacity=False).to_dict()
    consumed = 1 / 0.015
    billing = prediction["topics"]["sold"]["groups"]["billing"]
    assert billing["stable"] is False
    assert billing["throughput"] == pytest.approx(consumed, rel=1e-9)
    assert prediction["services"]["ledger"]["arrival_rate"] == pytest.approx(consumed, rel=1e-9)


def test_only_the_steady_state_solve_is_throttled() -> None:
    """A capacity trial, a rate piece and any solve started from a throttled one's views
    offer every station behind a saturated one its offered load (`flat_out` and the
    search have their own model of it)."""
    scenario = load_scenario(_pool_over_database())
    source = flow_source(scenario, "users", scenario.workload["users"], [])
    assert source is not None
    sources = {"users": source}
    throttled = solve_network(scenario, sources, throttle=Throttle())
    plain = solve_network(scenario, sources, start=throttled.round_views)
    db = StationId("service", "db")
    assert throttled.views[db].arrival_rate == pytest.approx(2 / 0.015, rel=1e-9)
    assert plain.views[db].arrival_rate == pytest.approx(150.0, rel=1e-12)
    assert all(not view.served for view in plain.views.values())


def _shared_database(batch: str) -> dict[str, Any]:
    """`tests.theory.scenarios.shared_database`, run for a minute."""
    return {**shared_database(batch), "simulation": SIMULATION}


def test_a_saturated_pool_sees_the_others_load_at_a_callee_it_counts_as_its_own() -> None:
    """A batch bringing about 7% of the database's arrivals: the API (4 threads) counts it
    as its own callee (`pools.OWN_SHARE`), slowed by the batch's load. Saturated and
    throttled, the API serves X(4) of that subnetwork, MVA over 12 ms of own work and the
    database's 3 ms / (1 - U_batch): the others' load is what is left of the callee's once
    the API's served calls (not its offered 300/s) are taken out."""
    scenario = load_scenario(_shared_database("15/s"))
    prediction = analyze(scenario, capacity=False).to_dict()
    api, db = prediction["services"]["api"], prediction["services"]["db"]
    assert api["stable"] is False and db["stable"] is True
    demand, present, rate = 0.003 / (1 - 15 * 0.003), 0.0, 0.0
    for threads in range(1, 5):  # exact MVA of the closed subnetwork
        response = demand * (1 + present)
        rate = threads / (0.012 + response)
        present = rate * response
    assert api["throughput"] == pytest.approx(rate, rel=1e-3)


def test_a_pool_shields_the_database_it_shares() -> None:
    """Offered 300/s, the API would send the database 1.2 of load with the batch: its pool
    gives way first, at the rate the capacity search finds for its flow, and the database
    keeps a steady state (its bounded caller: the API's 4 workers, always busy)."""
    scenario = load_scenario(_shared_database("100/s"))
    sources = open_sources(scenario)
    found = saturating_factor(scenario, functools.partial(scaled_sources, sources, ("users",)))
    assert found is not None and found[1] is not None
    assert found[1].station == StationId("service", "api")
    prediction = analyze(scenario, capacity=False).to_dict()
    api, db = prediction["services"]["api"], prediction["services"]["db"]
    assert api["stable"] is False
    assert api["throughput"] == pytest.approx(300 * found[0], rel=1e-12)
    assert db["stable"] is True
    assert db["arrival_rate"] == pytest.approx(api["throughput"] + 100, rel=1e-9)
    assert "(service api: at most 4 present)" in db["method"]  # (its bounded caller)
    assert prediction["flows"]["batch"]["response_time"]["mean"] is not None
    assert prediction["flows"]["users"]["throughput"] == pytest.approx(api["throughput"])
    # the share pinned is the one the pool's own load ratio gives back (to the search's
    # extrapolation): a fixed point, not a guess
    memo = SolveMemo()
    plain = solve_network(scenario, sources, memo=memo, throttle=Throttle())
    station = shielded(scenario, sources, plain, memo).services["api"]
    share = api["throughput"] / 300
    assert station.solution.load_ratio(4) * share == pytest.approx(1.0, abs=1e-3)


def test_a_callee_saturated_by_other_traffic_holds_its_callers_forever() -> None:
    """The batch alone (400/s of 3 ms) saturates the database: nothing the API does
    relieves it, and its workers wait there for good."""
    prediction = analyze(load_scenario(_shared_database("400/s")), capacity=False).to_dict()
    assert prediction["services"]["db"]["stable"] is False
    assert prediction["services"]["api"]["throughput"] is None
    assert any("held forever" in warning for warning in prediction["warnings"])


def _unshielded() -> dict[str, Any]:
    """`bench/analysis_fuzz.py` seed 2953 deep at 95%: `front`'s 12 threads call `mid` twice
    and `db` once a request, `mid`'s 8 call `db` too, and an open flow enters at `mid`; the
    open flows alone offer `db` 319/s of 6.93 ms, 2.21 on its 2 servers."""
    uniform = {"uniform": [0.003465, 0.010395]}
    return {
        "name": "seed-2953-deep",
        "simulation": SIMULATION,
        "services": {
            "front": {
                "workers": 4,
                "replicas": 3,
                "balancing": "shared",
                "operations": {
                    "op": [
                        {"work": {"uniform": [0.00136, 0.00408]}},
                        {"parallel": [[{"call": "mid"}], [{"call": "db"}]]},
                        {"work": {"exponential": 0.00194}},
                        {"parallel": [[{"call": "side"}], [{"call": "mid"}]]},
                    ]
                },
            },
            "mid": {
                "workers": 8,
                "operations": {
                    "op": [
                        {"work": {"exponential": 0.00213}},
                        {"call": "db"},
                        {"work": {"gamma": {"mean": 0.00083, "cv": 0.8}}},
                    ]
                },
            },
            "side": {
                "workers": 8,
                "replicas": 2,
                "balancing": "least_outstanding",
                "operations": {
                    "op": [
                        {"work": {"exponential": 0.00095}},
                        {"call": {"service": "db", "probability": 0.44}},
                        {"work": {"exponential": 0.00074}},
                    ]
                },
            },
            "db": {"workers": 2, "operations": {"op": [{"work": uniform}]}},
        },
        "workload": {
            "f0": {"entry": "front.op", "arrivals": {"poisson": 80.97}},
            "f2": {"entry": "mid.op", "arrivals": {"poisson": 40.485}},
        },
    }


def test_a_pool_that_settles_below_saturation_shields_nothing() -> None:
    """Pinned at the share its flows' capacity search gives (85%), `front` settled 93%
    busy: a pool below saturation passes everything on, so that is no steady state, and
    the flow's response came out 225 ms where the simulation saturates every station on
    its way (its response 8 s and growing). Every station of the flow is unstable."""
    prediction = analyze(load_scenario(_unshielded()), capacity=False).to_dict()
    for name in ("front", "mid", "db"):
        assert prediction["services"][name]["stable"] is False, name
    assert prediction["flows"]["f0"]["response_time"]["mean"] is None
    assert any("db" in warning and "unstable" in warning for warning in prediction["warnings"])


def test_a_saturated_async_io_pool_serves_each_segment_its_share_again() -> None:
    """An async-I/O gateway (2 workers, 10 ms, a call, 2 ms) offered 250/s: its resumes
    queue behind the backlog too, each served the share s that its fresh requests are, so
    s (10 ms) + s² (2 ms) = 2 / 250: s = 0.7016, 175.4 calls and 123.1 completions a
    second (simulated 175.9 and 123.5)."""
    prediction = analyze(load_scenario(async_gateway()), capacity=False).to_dict()
    share = (-0.010 + math.sqrt(0.010**2 + 4 * 0.002 * 2 / 250)) / (2 * 0.002)
    assert prediction["services"]["db"]["arrival_rate"] == pytest.approx(250 * share, rel=1e-6)
    assert prediction["services"]["gw"]["throughput"] == pytest.approx(250 * share**2, rel=1e-6)
    assert prediction["flows"]["u"]["throughput"] == pytest.approx(250 * share**2, rel=1e-6)
    assert not any("not modelled" in w for w in prediction["warnings"])


def test_a_caller_goes_on_only_with_what_its_saturated_callee_answers() -> None:
    """`gateway_chain`: `auth` answers 100 of the gateway's 150 requests a second, so the
    gateway's later steps run 100 times a second: half of them call `cart` (50/s), all
    publish (100 messages a second), and the gateway and its flow complete 100/s."""
    prediction = analyze(load_scenario({**gateway_chain(), "simulation": SIMULATION})).to_dict()
    services = prediction["services"]
    assert services["auth"]["throughput"] == pytest.approx(100.0, rel=1e-12)
    assert services["cart"]["arrival_rate"] == pytest.approx(50.0, rel=1e-12)
    assert services["cart"]["utilization"] == pytest.approx(50 * 0.008 / 2, rel=1e-12)
    assert services["gateway"]["throughput"] == pytest.approx(100.0, rel=1e-12)
    assert prediction["topics"]["seen"]["publish_rate"] == pytest.approx(100.0, rel=1e-12)
    assert prediction["flows"]["users"]["throughput"] == pytest.approx(100.0, rel=1e-12)


def test_a_pool_held_forever_passes_its_offered_load_on_and_says_so() -> None:
    """The batch saturates the shared database alone (`shared_database` at 400/s): the
    API's workers wait there for good, what it passes on is unknown, so the stations
    behind it are not exact, its flow has no throughput, and a warning says why."""
    prediction = analyze(load_scenario(_shared_database("400/s")), capacity=False).to_dict()
    assert prediction["services"]["db"]["exact"] is False
    assert prediction["flows"]["users"]["throughput"] is None
    assert any("what it passes on is not modelled" in w for w in prediction["warnings"])


def test_a_saturated_pools_share_settles_where_its_iterates_would_swing() -> None:
    """The async gateway with most of its work after the call (0.5 ms, then 20 ms) offered
    120/s: the share's iteration s -> c / (lambda (h_1 + s h_2)) has a slope near -1, and
    the rounds settle only because the shares are damped with the waits: s = 0.9004
    (s 0.5 ms + s² 20 ms = 2 / 120), 108.05 calls and 97.30 completions a second
    (simulated 107.9 and 97.0)."""
    document = async_gateway()
    document["services"]["gw"]["operations"]["get"] = [
        {"work": {"exponential": "0.5ms"}},
        {"call": "db"},
        {"work": {"exponential": "20ms"}},
    ]
    document["workload"]["u"]["arrivals"] = {"poisson": "120/s"}
    prediction = analyze(load_scenario(document), capacity=False).to_dict()
    share = (-0.0005 + math.sqrt(0.0005**2 + 4 * 0.020 * 2 / 120)) / (2 * 0.020)
    assert not any("did not converge" in w for w in prediction["warnings"])
    assert prediction["services"]["db"]["arrival_rate"] == pytest.approx(120 * share, rel=1e-6)
    assert prediction["services"]["gw"]["throughput"] == pytest.approx(120 * share**2, rel=1e-6)
