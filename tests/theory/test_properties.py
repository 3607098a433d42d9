"""Deterministic property tests of the engine (no queueing formula, no tolerance).

Invariants that hold exactly on every run, whatever the random numbers: conservation of
requests per flow and per service (also with drops, timeouts and retries), reproducibility
from the seed, and independence of replications. These are property tests, not statistical
ones (no tolerance); like everything under tests/theory they carry the `theory` marker
(tests/conftest.py) and run with the test's `seed` (tests/theory/conftest.py), so that
``ARCHSIM_TEST_SEED_SHIFT`` exercises them on other random numbers too.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from models import load_scenario
from sim import simulate

DURATION = 400.0

MM1: dict[str, Any] = {
    "name": "mm1",
    "simulation": {"duration": DURATION, "warmup": 20, "replications": 3},
    "services": {"server": {"operations": {"serve": [{"work": {"exponential": 1.0}}]}}},
    "workload": {"customers": {"entry": "server", "arrivals": {"poisson": 0.8}}},
}

# An overloaded backend behind a gateway that calls it with a timeout and one retry: requests
# are dropped (full waiting rooms), time out, are retried; an inline flow forks calls and
# branches; a closed flow competes with both.
FAULTY: dict[str, Any] = {
    "name": "drops-and-timeouts",
    "simulation": {"duration": DURATION, "warmup": 20, "replications": 3},
    "services": {
        "gateway": {
            "workers": 2,
            "queue_capacity": 1,
            "operations": {
                "checkout": [
                    {"work": {"exponential": 0.05}},
                    {"call": {"service": "backend", "timeout": 0.5, "retries": 1}},
                ]
            },
        },
        "backend": {
            "workers": 1,
            "queue_capacity": 2,
            "operations": {"serve": [{"work": {"exponential": 0.25}}]},
        },
        "cache": {
            "workers": 2,
            "operations": {"get": [{"work": {"constant": 0.1}}]},
        },
    },
    "workload": {
        "shoppers": {"entry": "gateway.checkout", "arrivals": {"poisson": 3.0}},
        "browsers": {
            "steps": [
                {
                    "parallel": [
                        [{"call": "cache"}],
                        [{"call": {"service": "backend", "timeout": 0.5}}],
                    ]
                },
                {
                    "branch": [
                        {"probability": 0.5, "steps": [{"call": "cache"}]},
                        {"probability": 0.5, "steps": []},
                    ]
                },
            ],
            "arrivals": {"poisson": 1.0},
        },
        "admins": {
            "entry": "gateway.checkout",
            "clients": 3,
            "think_time": {"exponential": 1.0},
        },
    },
}


@pytest.mark.parametrize("document", [MM1, FAULTY], ids=["mm1", "drops-and-timeouts"])
def test_every_request_is_accounted_for(document: dict[str, Any], seed: int) -> None:
    """Per replication and flow: arrived == completed + dropped + failed + in_flight, exactly.

    Per service, the requests present at the end of warm-up, final - (arrivals - dropped -
    completed), must be a whole number between 0 and the maximum present.
    """
    results = simulate(load_scenario(document), seed=seed)
    for replication in results.replications:
        for name, flow in replication.flows.items():
            accounted = flow.completed + flow.dropped + flow.failed + flow.in_flight
            assert flow.arrived == accounted, (name, flow)
            assert flow.in_flight >= 0
            assert flow.throughput == pytest.approx(flow.completed / DURATION)
        for name, service in replication.services.items():
            arrivals = service.arrival_rate * DURATION
            completed = service.throughput * DURATION
            assert arrivals == pytest.approx(round(arrivals)) and completed == pytest.approx(
                round(completed)
            )
            present_at_start = service.in_system.final - (
                round(arrivals) - service.dropped - round(completed)
            )
            assert 0 <= present_at_start <= service.in_system.max, (name, service)
            assert service.in_system.final <= service.in_system.max


def test_drops_timeouts_and_retries_happen_in_the_faulty_scenario(seed: int) -> None:
    """The conservation test above is not vacuous: its faulty scenario drops, times out and
    retries (the backend receives more requests than the gateway's calls that got there)."""
    results = simulate(load_scenario(FAULTY), seed=seed)
    for replication in results.replications:
        flows, services = replication.flows, replication.services
        assert flows["shoppers"].dropped > 0
        assert flows["shoppers"].failed > 0  # timed out twice
        assert flows["browsers"].failed > 0
        assert flows["admins"].completed > 0
        assert services["backend"].dropped > 0
        assert services["gateway"].dropped > 0
        gateway_started = (
            services["gateway"].throughput + services["gateway"].in_system.final / DURATION
        )
        backend_arrivals = services["backend"].arrival_rate
        browser_calls = flows["browsers"].arrived / DURATION
        assert backend_arrivals > gateway_started + 0.5 * browser_calls  # retries


@pytest.mark.parametrize("document", [MM1, FAULTY], ids=["mm1", "drops-and-timeouts"])
def test_same_seed_gives_identical_results(document: dict[str, Any], seed: int) -> None:
    """Same scenario + seed -> byte-identical JSON, in process or on a (thread) executor;
    another seed -> different results."""
    scenario = load_scenario(document)
    first = simulate(scenario, seed=seed).to_json()
    assert simulate(scenario, seed=seed).to_json() == first
    with ThreadPoolExecutor(max_workers=3) as executor:
        assert simulate(scenario, seed=seed, executor=executor).to_json() == first
    assert simulate(scenario, seed=seed + 1).to_json() != first
    again = simulate(load_scenario(json.loads(json.dumps(document))), seed=seed).to_json()
    assert again == first  # a re-loaded scenario draws the same numbers


def test_replications_are_independent_and_stable(seed: int) -> None:
    """Replications differ from each other, and replication i does not depend on how many
    replications were asked for (each has its own random streams)."""
    scenario = load_scenario(MM1)
    four = simulate(scenario, replications=4, seed=seed).replications
    two = simulate(scenario, replications=2, seed=seed).replications
    assert [run.to_dict() for run in two] == [run.to_dict() for run in four[:2]]
    arrivals = [run.flows["customers"].arrived for run in four]
    means = [run.flows["customers"].response_time.mean for run in four]
    assert len(set(means)) == len(means), means
    assert len(set(arrivals)) > 1, arrivals
