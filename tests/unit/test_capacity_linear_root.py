"""A flow into services that call nothing has its capacity found from one trial
(deterministic).

Where the two solves a flow's search has (its own rate and one trial above it) show that
only pools with proportional load ratios moved (`saturation.proportional_pools`: they call
nothing, only flows call them, nothing is lost), each moved ratio is a line in the flow's
rate and every other pool is untouched by it, so the first root of those lines is the
capacity, exactly (`capacity._linear_root`). Anywhere else the search brackets as before.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from models import load_scenario
from models.analysis.capacity import _limit, _smooth
from models.analysis.network import FlowSource, solve_network
from models.analysis.saturation import proportional_pools
from models.schema import Scenario
from tests.unit.analysis_scenarios import open_sources

REPORT_RATE = 10.0
WAREHOUSE_CAPACITY = 2 / 0.020
"""Two workers of 20 ms each: 100 reports/s."""


def _shop(
    web_reads_warehouse: bool = False, warehouse_room: int | None = None, timeout: bool = False
) -> Scenario:
    """`api` (40/s) to a web pool of 16 workers held through its call to a one-server
    database; `report` (10/s) straight to a two-worker warehouse (20 ms) that publishes
    each report to an archiver (2 consumers of 5 ms). `web_reads_warehouse`: the web pool
    calls the warehouse too (and so waits on it); `warehouse_room`: the warehouse drops
    what finds its waiting room full; `timeout`: reports call the warehouse with a 30 ms
    timeout and two retries (the attempts grow with its waiting)."""
    warehouse: dict[str, Any] = {
        "workers": 2,
        "operations": {"q": [{"work": {"exponential": "20ms"}}, {"publish": "reports"}]},
    }
    if warehouse_room is not None:
        warehouse["queue_capacity"] = warehouse_room
    api = [{"work": {"exponential": "1ms"}}, {"call": "db.q"}]
    if web_reads_warehouse:
        api.append({"call": "warehouse.q"})
    document: dict[str, Any] = {
        "name": "shop",
        "simulation": {"duration": "1min"},
        "services": {
            "db": {"workers": 1, "operations": {"q": [{"work": {"exponential": "5ms"}}]}},
            "web": {"workers": 16, "operations": {"api": api}},
            "warehouse": warehouse,
            "archiver": {"operations": {"store": [{"work": {"exponential": "5ms"}}]}},
        },
        "topics": {
            "reports": {
                "partitions": 2,
                "subscribers": {"archiver": {"operation": "store", "concurrency": 2}},
            }
        },
        "workload": {
            "api": {"entry": "web.api", "arrivals": {"poisson": "40/s"}},
            "report": {"entry": "warehouse.q", "arrivals": {"poisson": f"{REPORT_RATE}/s"}},
        },
    }
    if timeout:
        call = {"service": "warehouse", "timeout": "30ms", "retries": 2}
        document["workload"]["report"] = {
            "steps": [{"call": call}],
            "arrivals": {"poisson": f"{REPORT_RATE}/s"},
        }
    return load_scenario(document)


def _report_search(scenario: Scenario, linear: bool) -> tuple[float, int]:
    """The `report` flow's capacity search (as `capacity._flow_limit` runs it): its
    result and how many trials it solved."""
    sources = open_sources(scenario)
    solved = solve_network(scenario, sources)
    base = sources["report"]

    def scale(rate: float) -> dict[str, FlowSource]:
        return {**sources, "report": FlowSource(rate, base.scv, base.flag)}

    smooth = _smooth(scenario)
    found = _limit(scenario, scale, base.rate, smooth, False, solved, climbs=True, linear=linear)
    assert found is not None
    return found[0], found[1].trials


def test_proportional_pools_call_nothing_and_wait_for_nothing() -> None:
    """The warehouse (entered by a flow) and the archiver's consumers (fed by messages)
    are proportional; the web pool calls, and the database is called by a pool."""
    solved = solve_network(_shop(), open_sources(_shop()))
    found = proportional_pools(solved)
    assert ("service", "warehouse") in found
    assert {key[:3] for key in found if key[0] == "group"} == {("group", "reports", "archiver")}
    assert ("service", "web") not in found
    assert ("service", "db") not in found


def test_a_pool_that_waits_on_it_a_loss_or_a_retry_makes_nothing_proportional() -> None:
    waited_on = _shop(web_reads_warehouse=True)
    assert ("service", "warehouse") not in proportional_pools(
        solve_network(waited_on, open_sources(waited_on))
    )
    lossy = _shop(warehouse_room=2)
    assert proportional_pools(solve_network(lossy, open_sources(lossy))) == set()
    retried = _shop(timeout=True)
    assert proportional_pools(solve_network(retried, open_sources(retried))) == set()


def test_a_flow_into_a_service_that_calls_nothing_takes_one_trial() -> None:
    """The warehouse saturates at exactly 100 reports/s, found from one trial; the
    bracketing search needs more and lands within its 1% tolerance."""
    scenario = _shop()
    short, short_trials = _report_search(scenario, linear=True)
    bracketed, bracketed_trials = _report_search(scenario, linear=False)
    assert math.isclose(short, WAREHOUSE_CAPACITY, rel_tol=1e-9)
    assert short_trials == 1
    assert bracketed_trials > 1
    assert math.isclose(bracketed, WAREHOUSE_CAPACITY, rel_tol=1e-2)


@pytest.mark.parametrize(
    ("web_reads_warehouse", "warehouse_room", "timeout"),
    [(True, None, False), (False, 2, False), (False, None, True)],
    ids=["a pool waits on it", "it loses requests", "timed-out calls are retried"],
)
def test_elsewhere_the_search_brackets_as_before(
    web_reads_warehouse: bool, warehouse_room: int | None, timeout: bool
) -> None:
    scenario = _shop(web_reads_warehouse, warehouse_room, timeout)
    assert _report_search(scenario, linear=True) == _report_search(scenario, linear=False)
