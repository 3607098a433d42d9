"""analyze predicts an MMPP flow into one exponential server exactly (MMPP/M/1), and
approximately (phase by phase, `models.analysis.phases`, with its warning) where the station
is anything else."""

from __future__ import annotations

from typing import Any

import pytest

from models import analyze, load_scenario
from models.theory.mmpp import mmpp_m1

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
