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
    The API serves mu = 100/s flat out (its max_throughput); the flat-out piece is solved
    with its pool 99.9% busy, so it sends c = 99.9/s: its backlog grows at 150 - c for
    30 s and drains at c - 50 in t = 30 (150 - c) / (c - 50) s, an area of
    30 (150 - c) (30 + t) / 2; in system (area + 2 (30 + t) + (150 - t) L) / 180, L its
    steady state's at 50/s (to 0.5%: c is aimed at to 0.1%). The database sees c for
    those 30 + t s and 50/s the other 150 - t: every request's 8 ms, 12,000 x 8 ms / 180."""
    prediction = analyze(load_scenario(api_over_db(SPIKE)))
    steady = analyze(load_scenario(api_over_db({"poisson": 50}))).services["api"]
    assert prediction.flows["f"].max_throughput == pytest.approx(100.0, rel=1e-6)
    api = prediction.services["api"]
    c = 99.9
    drain = 30 * (150 - c) / (c - 50)
    area = 30 * (150 - c) * (30 + drain) / 2
    expected = (area + 2 * (30 + drain) + (150 - drain) * steady.in_system.mean) / 180
    assert api.in_system.mean == pytest.approx(expected, rel=5e-3)
    assert api.response_time.mean == pytest.approx(api.in_system.mean * 180 / 12_000, rel=1e-9)
    assert prediction.flows["f"].response_time.mean == pytest.approx(
        api.response_time.mean, rel=1e-9
    )
    database = prediction.services["db"]
    assert database.utilization == pytest.approx(12_000 * 0.008 / 180, rel=1e-6)
    assert database.arrival_rate == pytest.approx(12_000 / 180, rel=1e-6)
    assert prediction.flows["f"].arrival_rate == pytest.approx(12_000 / 180, rel=1e-9)
    assert database.stable and "carried" not in database.method


def test_a_database_that_saturates_before_the_api_keeps_the_average() -> None:
    """With 8 API workers the database (125/s) saturates first as the load grows: its
    backlog would wait on the API's held workers (not modelled), so the flow keeps its
    average rate."""
    prediction = analyze(load_scenario(api_over_db(SPIKE, api_workers=8)))
    (warning,) = [w for w in prediction.warnings if "time-varying rate" in w]
    assert "predicted at its average" in warning


def publishing(consumer_work: float) -> dict[str, Any]:
    """`api_over_db(SPIKE)` whose API also publishes each request to one consumer of
    Exp(`consumer_work`)."""
    document = api_over_db(SPIKE)
    document["services"]["api"]["operations"]["get"].append({"publish": "events"})
    document["services"]["consumer"] = {
        "operations": {"record": [{"work": {"exponential": consumer_work}}]}
    }
    document["topics"] = {"events": {"subscribers": {"consumer": {"operation": "record"}}}}
    return document


def test_a_group_overloaded_even_at_the_apis_capacity_keeps_the_average() -> None:
    """A consumer of 80/s, overloaded by the 100/s the API sends flat out: not carried
    (the flow keeps its average rate)."""
    prediction = analyze(load_scenario(publishing(0.0125)))
    (warning,) = [w for w in prediction.warnings if "time-varying rate" in w]
    assert "predicted at its average" in warning


def test_a_group_the_api_keeps_below_its_capacity_sees_what_the_api_sends() -> None:
    """A consumer of 120/s: the spike's 150/s would overload it, but the API sends at most
    100/s: a steady state throughout, every message handled (12,000 x 1/120 s of work over
    180 s), and the flow completes after its response by the consumer's sojourn."""
    prediction = analyze(load_scenario(publishing(1 / 120)))
    group = prediction.topics["events"].groups["consumer"]
    assert group.stable and group.throughput == pytest.approx(12_000 / 180, rel=1e-6)
    assert group.utilization == pytest.approx(12_000 / 120 / 180, rel=1e-6)
    flow = prediction.flows["f"]
    assert flow.completion_time.mean > flow.response_time.mean > 1.0


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


BURSTS = {"mmpp": {"rates": [50, 150], "switch_rates": [0.25, 1.0]}}
"""50/s for 4 s and 150/s for 1 s on average: 70/s, above the API's 100/s in a burst."""


def test_bursts_above_the_api_leave_a_backlog_there_not_at_its_database() -> None:
    """The bursts offer the database 150 x 8 ms = 1.2 at their own rate; the API lets
    through at most its capacity, so its backlog is a Markov-modulated Brownian queue (as
    for an entry service alone) and the database is in a steady state throughout: its
    utilization the mean's, 70 x 8 ms (every request the API holds back it lets go while
    its buffer is not empty, `fluid_queue`), the flow's arrival rate its mean, its
    response the API's."""
    prediction = analyze(load_scenario(api_over_db(BURSTS) | {"simulation": {"duration": 1000}}))
    (warning,) = [w for w in prediction.warnings if "bursty (MMPP)" in w]
    assert "the backlog that bursts leave at service 'api'" in warning
    database = prediction.services["db"]
    assert database.stable and database.utilization == pytest.approx(70 * 0.008, rel=1e-9)
    assert prediction.flows["f"].arrival_rate == pytest.approx(70.0, rel=1e-12)
    alone = analyze(load_scenario(api_over_db({"poisson": 70})))
    api = prediction.services["api"]
    assert api.in_system.mean > 10 * alone.services["api"].in_system.mean
    assert prediction.flows["f"].response_time.mean == pytest.approx(
        api.response_time.mean, rel=1e-9
    )  # (the API's response holds its call to the database)


def test_a_pool_between_the_api_and_its_database_is_solved_at_the_apis_pace() -> None:
    """API -> a pool of 2 workers (1 ms, then the call) -> the database: at the spike's
    own rate both would saturate; the API's pool saturates first as the load grows (it
    holds its workers longest), so the piece is solved flat out. (The search for that
    load starts from no waiting: from the saturated piece's views its first trial looked
    saturated at any load, and the flow kept its average rate.) Every request the API
    holds back reaches the pool and the database later: their utilizations are the
    run's, 12,000 x their work over 180 s, the backlog drained within the run."""
    document = api_over_db(SPIKE)
    document["services"]["api"]["operations"]["get"][1] = {"call": "mid"}
    document["services"]["mid"] = {
        "workers": 2,
        "operations": {"op": [{"work": {"exponential": 0.001}}, {"call": "db"}]},
    }
    prediction = analyze(load_scenario(document))
    (warning,) = [w for w in prediction.warnings if "time-varying rate" in w]
    assert "predicted piece by piece" in warning
    assert prediction.services["api"].in_system.mean > 100
    database = prediction.services["db"]
    assert database.stable and database.utilization == pytest.approx(12_000 * 0.008 / 180)
