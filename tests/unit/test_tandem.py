"""A consumer group fed through an entry service that rate pieces overload
(`models.analysis.tandem`): the service's departures, which groups it feeds, and the
tandem's means against hand-derived figures; where it is not carried."""

from __future__ import annotations

from typing import Any

import pytest

from models import analyze, load_scenario
from models.analysis.tandem import departures, feeders

SPIKE = {"profile": [{"at": 0, "rate": 50}, {"at": 60, "rate": 150}, {"at": 90, "rate": 50}]}
"""50/s, 150/s for 30 s, 50/s: 12,000 requests in 180 s."""


def tandem(consumer_work: float = 0.0125, **extra: Any) -> dict[str, Any]:
    """An entry service of one worker of Exp(10 ms) (100/s) that publishes every request
    to one consumer of Exp(`consumer_work`) (80/s by default), fed `SPIKE`."""
    return {
        "name": "tandem",
        "simulation": {"duration": 180, "warmup": 0},
        "services": {
            "api": {
                "operations": {"get": [{"work": {"exponential": 0.01}}, {"publish": "events"}]}
            },
            "consumer": {"operations": {"record": [{"work": {"exponential": consumer_work}}]}},
            **extra.get("services", {}),
        },
        "topics": {"events": {"subscribers": {"consumer": {"operation": "record"}}}},
        "workload": {"users": {"entry": "api", "arrivals": SPIKE}, **extra.get("workload", {})},
    }


def test_a_fluid_pool_sends_its_capacity_while_it_has_a_backlog() -> None:
    """Offered 150/s for 10 s against 100/s: 500 piled up, drained at 50/s over the next
    10 s (all of the first piece after it, 5 s, and half of the second)."""
    sent = departures(100.0, [(5.0, 20.0), (10.0, 150.0), (5.0, 50.0), (10.0, 50.0), (4.0, 0.0)])
    assert sent == [
        [(1.0, 20.0)],
        [(1.0, 100.0)],
        [(1.0, 100.0)],
        [(0.5, 100.0), (0.5, 50.0)],
        [(1.0, 0.0)],
    ]
    assert departures(100.0, [(3.0, 100.0), (2.0, 40.0)]) == [[(1.0, 100.0)], [(1.0, 40.0)]]


def test_a_group_behind_an_overloaded_entry_service_is_offered_what_it_sends() -> None:
    """The service's backlog grows at 50/s to 1,500 (60-90 s) and drains at 50/s (90-120 s):
    it sends 100/s for 60 s. The consumer (80/s) piles up 20/s to 1,200 and drains at 30/s
    in 40 s: an area of 1,200 x 100 / 2 = 60,000 message-seconds, flat out 100 s, an M/M/1
    at 62.5% (L = 5/3) the other 80 s: lag (60,000 + 100 + 133.3) / 180 (offered what
    arrives at the service, 150/s, it would pile up 2,100: an area of 105,000). The service
    is as alone (tests/unit/test_backlogs.py): in system (45,000 + 60 + 120) / 180. The
    flow completes later by both rises."""
    prediction = analyze(load_scenario(tandem()))
    group = prediction.topics["events"].groups["consumer"]
    assert group.lag.mean == pytest.approx((60_000 + 100 + 80 * 5 / 3) / 180, rel=1e-9)
    assert group.sojourn_time.mean == pytest.approx(group.lag.mean * 180 / 12_000, rel=1e-9)
    assert group.utilization == pytest.approx((100 + 80 * 0.625) / 180, rel=1e-9)
    assert group.throughput == pytest.approx(12_000 / 180, rel=1e-9)
    service = prediction.services["api"]
    assert service.in_system.mean == pytest.approx((45_000 + 60 + 120) / 180, rel=1e-9)
    flow = prediction.flows["users"]
    assert flow.response_time.mean == pytest.approx(service.response_time.mean, rel=1e-9)
    assert flow.completion_time.mean > flow.response_time.mean + group.sojourn_time.mean - 0.1


def test_a_consumer_the_service_keeps_below_its_capacity_stays_in_its_steady_state() -> None:
    """A consumer of 120/s: offered 150/s by the spike it would pile up, but the service
    sends it at most 100/s, so it never does: its lag is its M/M/1's at each rate over
    time (50/s for 60 + 60 s, 100/s while the service is flat out for 60 s), no backlog."""
    prediction = analyze(load_scenario(tandem(consumer_work=1 / 120)))
    group = prediction.topics["events"].groups["consumer"]

    def mm1(rate: float) -> float:
        rho = rate / 120
        return rho / (1 - rho)

    assert group.lag.mean == pytest.approx((120 * mm1(50) + 60 * mm1(100)) / 180, rel=1e-9)
    assert group.utilization == pytest.approx((120 * 50 + 60 * 100) / 120 / 180, rel=1e-9)


def test_which_groups_an_overloaded_service_feeds() -> None:
    """A group fed only through the service is its; a group it does not reach is left out;
    a group another flow also reaches is fed in part: none."""
    scenario = load_scenario(tandem())
    assert feeders(scenario, [("events", "consumer")], ["api"]) == {("events", "consumer"): "api"}
    other = tandem(
        services={"front": {"operations": {"get": [{"publish": "events"}]}}},
        workload={"others": {"entry": "front", "arrivals": {"poisson": 10}}},
    )
    assert feeders(load_scenario(other), [("events", "consumer")], ["api"]) is None
    apart = tandem(
        services={
            "front": {"operations": {"get": [{"publish": "logs"}]}},
            "archiver": {"operations": {"keep": [{"work": {"exponential": 0.001}}]}},
        },
        workload={"others": {"entry": "front", "arrivals": {"poisson": 10}}},
    )
    apart["topics"]["logs"] = {"subscribers": {"archiver": {"operation": "keep"}}}
    assert feeders(load_scenario(apart), [("logs", "archiver")], ["api"]) == {}


def test_a_group_fed_in_part_through_the_service_keeps_the_average() -> None:
    """Another flow publishes to the same topic: what the service lets go is not all the
    group gets, and the tandem is not carried (the pieces keep the average rate)."""
    document = tandem(
        services={"front": {"operations": {"get": [{"publish": "events"}]}}},
        workload={"others": {"entry": "front", "arrivals": {"poisson": 5}}},
    )
    prediction = analyze(load_scenario(document))
    (warning,) = [w for w in prediction.warnings if "'users' has a time-varying rate" in w]
    assert "predicted at its average" in warning


def test_flows_whose_mix_changes_from_piece_to_piece_keep_the_average() -> None:
    """Two flows into the service, one publishing and one not, whose rates change at
    different times: the group's share of what the service sends changes, so the order in
    which it lets its backlog go would matter; not carried."""
    document = tandem()
    document["services"]["api"]["operations"]["ping"] = [{"work": {"exponential": 0.01}}]
    document["workload"]["users"]["entry"] = "api.get"
    document["workload"]["pings"] = {
        "entry": "api.ping",
        "arrivals": {"profile": [{"at": 0, "rate": 10}, {"at": 120, "rate": 30}]},
    }
    prediction = analyze(load_scenario(document))
    (warning,) = [w for w in prediction.warnings if "'users' has a time-varying rate" in w]
    assert "predicted at its average" in warning
