"""analyze predicts MMPP flows (with Poisson ones or not) into one exponential server
exactly (MMPP/M/1 of their superposition), and approximately (phase by phase,
`models.analysis.phases`, with its warning) where the station is anything else."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from models import analyze, load_scenario
from models.theory.mmpp import kronecker_sum, mmpp_m1, modulated_m1, phase_generator

MMPP = {"mmpp": {"rates": [1, 9], "switch_rates": [1, 3]}}


def scenario(workers: int = 1, work: dict[str, Any] | None = None) -> dict[str, Any]:
    """One service fed by a bursty flow."""
    return {
        "name": "bursts",
        "simulation": {"duration": 100},
        "services": {
            "s": {
                "workers": workers,
                "operations": {"op": [{"work": work or {"exponential": 0.1}}]},
            }
        },
        "workload": {"f": {"entry": "s", "arrivals": MMPP}},
    }


def test_an_mmpp_flow_into_one_exponential_server_is_predicted_exactly() -> None:
    prediction = analyze(load_scenario(scenario()))
    exact = mmpp_m1([1.0, 9.0], [1.0, 3.0], 10.0)
    service = prediction.services["s"]
    assert service.method == "MMPP/M/1 (matrix-geometric)" and service.exact
    assert service.waiting_time.mean == pytest.approx(exact.mean_waiting_time, rel=1e-12)
    assert prediction.flows["f"].response_time.mean == pytest.approx(
        exact.mean_response_time, rel=1e-12
    )
    assert prediction.flows["f"].exact
    # bursts wait longer than Poisson arrivals at the same mean rate (3/s): 1/(10-3) s
    assert exact.mean_response_time > 1.0 / 7.0
    assert any("exactly as an MMPP/M/1" in warning for warning in prediction.warnings)


@pytest.mark.parametrize(
    "document",
    [scenario(workers=2), scenario(work={"constant": 0.1})],
    ids=["two-workers", "constant-work"],
)
def test_other_stations_keep_the_approximation(document: dict[str, Any]) -> None:
    prediction = analyze(load_scenario(document))
    assert not prediction.services["s"].exact
    assert any("bursty (MMPP) arrivals: predicted phase by phase" in w for w in prediction.warnings)


@pytest.mark.parametrize(
    ("others", "cycles", "rates"),
    [
        (
            {"g": {"mmpp": {"rates": [2, 4], "switch_rates": [0.5, 0.5]}}},
            [[1.0, 3.0], [0.5, 0.5]],
            [[1.0, 1, 9, 9], [2.0, 4, 2, 4]],
        ),
        ({"g": {"poisson": 2}}, [[1.0, 3.0]], [[1.0, 9], [2.0, 2]]),
        (
            {
                "g": {"mmpp": {"rates": [2, 4], "switch_rates": [0.5, 0.5]}},
                "h": {"poisson": 1},
            },
            [[1.0, 3.0], [0.5, 0.5]],
            [[1.0, 1, 9, 9], [2.0, 4, 2, 4], [1.0] * 4],
        ),
    ],
    ids=["two-bursty", "bursty-and-poisson", "two-bursty-and-poisson"],
)
def test_several_flows_into_one_exponential_server_are_predicted_exactly(
    others: dict[str, Any], cycles: list[list[float]], rates: list[list[float]]
) -> None:
    """Bursty flows, with Poisson ones or not, that alone feed one exponential server: an
    MMPP/M/1 queue of their superposition (the Kronecker sum of their cycles, a Poisson
    flow one phase), and each flow's response its own class's: an arrival in joint phase i
    meets the queue's mean there (`MMPPM1.class_response`)."""
    document = scenario()
    for name, arrivals in others.items():
        document["workload"][name] = {"entry": "s", "arrivals": arrivals}
    prediction = analyze(load_scenario(document))
    generator = kronecker_sum([phase_generator(np.array(cycle)) for cycle in cycles])
    exact = modulated_m1([math.fsum(phase) for phase in zip(*rates, strict=True)], generator, 10.0)
    service = prediction.services["s"]
    assert service.method == "MMPP/M/1 (matrix-geometric)" and service.exact
    assert service.waiting_time.mean == pytest.approx(exact.mean_waiting_time, rel=1e-12)
    assert service.p_wait == pytest.approx(exact.p_wait, rel=1e-12)
    for name, own in zip(["f", *others], rates, strict=True):
        flow = prediction.flows[name]
        assert flow.response_time.mean == pytest.approx(exact.class_response(own), rel=1e-12)
        assert flow.exact
    bursty = [w for w in prediction.warnings if "bursty (MMPP)" in w]
    assert len(bursty) == 1 + sum("mmpp" in arrivals for arrivals in others.values())
    assert all("exactly as an MMPP/M/1" in warning for warning in bursty)
    assert prediction.flows["f"].response_time.mean > prediction.flows["g"].response_time.mean


def test_a_server_another_service_calls_keeps_the_approximation() -> None:
    document = scenario()
    document["services"]["front"] = {
        "workers": "unlimited",
        "operations": {"get": [{"call": "s.op"}]},
    }
    document["workload"]["g"] = {"entry": "front", "arrivals": {"poisson": 1}}
    prediction = analyze(load_scenario(document))
    assert not prediction.services["s"].exact
