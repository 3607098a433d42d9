"""An entry service that a rate piece overloads passes on its capacity to what it calls
(`models.analysis.flat_out`): its backlog and its callee's load against hand-derived
fluids, and where it is not carried."""

from __future__ import annotations

from typing import Any

import pytest

from models import analyze, load_scenario
from models.analysis.flat_out import entry_flows

SPIKE = {"profile": [{"at": 0, "rate": 50}, {"at": 60, "rate": 150}, {"at": 90, "rate": 50}]}
"""50/s, 150/s for 30 s, 50/s: 12,000 requests in 180 s."""


def api_over_db(arrivals: dict[str, Any], api_workers: int = 2) -> dict[str, Any]:
    """An API of `api_workers` workers, each Exp(8 ms) of work then a call to a database
    of one worker of Exp(8 ms) (125/s): with 2 the API serves 100/s flat out."""
    return {
        "name": "api-over-db",
        "simulation": {"duration": 180, "warmup": 0},
        "services": {
            "api": {
                "workers": api_workers,
                "operations": {"get": [{"work": {"exponential": 0.008}}, {"call": "db"}]},
            },
            "db": {"operations": {"query": [{"work": {"exponential": 0.008}}]}},
        },
        "workload": {"f": {"entry": "api.get", "arrivals": arrivals}},
    }


def test_the_api_piles_up_the_spike_and_its_database_sees_its_capacity() -> None:
    """At its own rates the spike offers the database 150 x 8 ms = 1.2 (no steady state).
    The API serves mu = 100/s flat out (its max_throughput), so its backlog grows at 50/s
    to 1,500 and drains at 50/s in 30 s: in system (45,000 + 2 x 60 + 120 L) / 180, L its
    steady state's at 50/s. The database sees 100/s for those 60 s (80% busy, just below:
    the piece is solved at 99.9% of the API's capacity) and 50/s the other 120 s (40%)."""
    prediction = analyze(load_scenario(api_over_db(SPIKE)))
    steady = analyze(load_scenario(api_over_db({"poisson": 50}))).services["api"]
    assert prediction.flows["f"].max_throughput == pytest.approx(100.0, rel=1e-6)
    api = prediction.services["api"]
    expected = (45_000 + 2 * 60 + 120 * steady.in_system.mean) / 180
    assert api.in_system.mean == pytest.approx(expected, rel=1e-3)
    assert api.response_time.mean == pytest.approx(api.in_system.mean * 180 / 12_000, rel=1e-9)
    assert prediction.flows["f"].response_time.mean == pytest.approx(
        api.response_time.mean, rel=1e-9
    )
    database = prediction.services["db"]
    assert database.utilization == pytest.approx((120 * 0.4 + 60 * 0.8) / 180, rel=2e-3)
    assert database.arrival_rate == pytest.approx(12_000 / 180, rel=1e-9)
    assert prediction.flows["f"].arrival_rate == pytest.approx(12_000 / 180, rel=1e-9)
    assert database.stable and "carried" not in database.method


def test_a_database_that_saturates_before_the_api_keeps_the_average() -> None:
    """With 8 API workers the database (125/s) saturates first as the load grows: its
    backlog would wait on the API's held workers (not modelled), so the flow keeps its
    average rate."""
    prediction = analyze(load_scenario(api_over_db(SPIKE, api_workers=8)))
    (warning,) = [w for w in prediction.warnings if "time-varying rate" in w]
    assert "predicted at its average" in warning


def test_a_group_overloaded_with_the_api_keeps_the_average() -> None:
    """The API also publishes each request to a consumer of 80/s: over a flat-out API
    the group is not carried (the flow keeps its average rate)."""
    document = api_over_db(SPIKE)
    document["services"]["api"]["operations"]["get"].append({"publish": "events"})
    document["services"]["consumer"] = {
        "operations": {"record": [{"work": {"exponential": 0.0125}}]}
    }
    document["topics"] = {"events": {"subscribers": {"consumer": {"operation": "record"}}}}
    prediction = analyze(load_scenario(document))
    (warning,) = [w for w in prediction.warnings if "time-varying rate" in w]
    assert "predicted at its average" in warning


def test_the_flows_into_an_entry_service() -> None:
    """The flows whose body is one call to the service; none where another flow's steps
    reach it too."""
    scenario = load_scenario(api_over_db(SPIKE))
    assert entry_flows(scenario, "api") == ("f",)
    assert entry_flows(scenario, "db") is None
    document = api_over_db(SPIKE)
    document["workload"]["g"] = {
        "steps": [{"call": "api.get"}, {"call": "db"}],
        "arrivals": {"poisson": 1},
    }
    assert entry_flows(load_scenario(document), "api") is None
