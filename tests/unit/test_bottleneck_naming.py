"""The bottleneck's search names the first resource to saturate without bracketing its load
(deterministic).

With several flows, the search that grows every flow in proportion reports only which
resource saturates first, not at what factor (`capacity.solve_capacity`). A saturated
trial in which one pool alone is saturated names it beyond doubt: load ratios grow with
the load, so every other pool is unsaturated at every lighter load too
(`saturation.named`). The search stops there, and names what the bracketed search names.
"""

from __future__ import annotations

from typing import Any

import pytest

from models import load_scenario
from models.analysis.capacity import _limit, _smooth
from models.analysis.graph import StationId
from models.analysis.network import FlowSource, solve_network
from models.analysis.saturation import SaturatingResource, first_saturated, named
from models.schema import Scenario
from tests.unit.analysis_scenarios import open_sources


def _two_flows(api_rate: float, report_rate: float, through_web: bool = False) -> Scenario:
    """Two flows: `api` to a one-server database (10 ms), `report` to a two-server
    warehouse (20 ms each); `through_web`: both through one web pool of 16 workers held
    through the calls, which saturates with the database it waits for."""
    services: dict[str, Any] = {
        "db": {"workers": 1, "operations": {"q": [{"work": {"exponential": "10ms"}}]}},
        "warehouse": {"workers": 2, "operations": {"q": [{"work": {"exponential": "20ms"}}]}},
    }
    entries = {"api": "db.q", "report": "warehouse.q"}
    if through_web:
        services["web"] = {
            "workers": 16,
            "operations": {
                "api": [{"work": {"exponential": "1ms"}}, {"call": "db.q"}],
                "report": [{"work": {"exponential": "1ms"}}, {"call": "warehouse.q"}],
            },
        }
        entries = {"api": "web.api", "report": "web.report"}
    rates = {"api": api_rate, "report": report_rate}
    document: dict[str, Any] = {
        "name": "two-flows",
        "simulation": {"duration": "1min"},
        "services": services,
        "workload": {
            flow: {"entry": entries[flow], "arrivals": {"poisson": f"{rates[flow]}/s"}}
            for flow in ("api", "report")
        },
    }
    return load_scenario(document)


def _scaled(sources: dict[str, FlowSource], factor: float) -> dict[str, FlowSource]:
    return {
        name: FlowSource(source.rate * factor, source.scv, source.flag)
        for name, source in sources.items()
    }


def test_one_saturated_pool_is_named_and_two_are_not() -> None:
    """40 + 10 requests/s: the database at 0.4, the warehouse at 0.1. At x 2.6 the database
    alone is saturated (1.04); at x 12 the warehouse too (1.2)."""
    scenario = _two_flows(40.0, 10.0)
    sources = open_sources(scenario)
    alone = solve_network(scenario, _scaled(sources, 2.6))
    both = solve_network(scenario, _scaled(sources, 12.0))
    assert [s.name for s in alone.saturated()] == ["db"]
    assert {s.name for s in both.saturated()} == {"db", "warehouse"}
    assert named(alone)
    assert first_saturated(alone) == SaturatingResource(StationId("service", "db"), None)
    assert not named(both)
    assert not named(None)


def test_a_pool_saturated_with_its_callee_names_nothing() -> None:
    """A pool held through its calls saturates with the database it waits for (its load
    ratio infinite): which of the two saturated first the solve cannot tell (the pool may
    have on its own, below), so the search brackets as before."""
    scenario = _two_flows(40.0, 10.0, through_web=True)
    solved = solve_network(scenario, _scaled(open_sources(scenario), 2.6))
    assert {s.name for s in solved.saturated()} == {"web", "db"}
    assert not named(solved)


def test_an_unsaturated_solve_names_nothing() -> None:
    scenario = _two_flows(40.0, 10.0)
    assert not named(solve_network(scenario, open_sources(scenario)))


@pytest.mark.parametrize(
    ("api", "report", "through_web", "fewer"),
    [
        (40.0, 10.0, False, True),  # the database first
        (5.0, 40.0, False, True),  # the warehouse first
        (30.0, 30.0, False, False),  # both at once: never one alone
        (40.0, 10.0, True, False),  # the database with the pool over it
    ],
)
def test_the_named_bottleneck_is_the_bracketed_one_in_fewer_solves(
    api: float, report: float, through_web: bool, fewer: bool
) -> None:
    """Whichever of the database and the warehouse saturates first, the search that stops
    at a trial naming it beyond doubt names what the search bracketed to 1% names, and
    needs fewer solves where one pool saturates alone (here 1, from 3), as many where it
    cannot tell (it brackets as before)."""
    scenario = _two_flows(api, report, through_web)
    sources = open_sources(scenario)
    solved = solve_network(scenario, sources)

    def scale(factor: float) -> dict[str, FlowSource]:
        return _scaled(sources, factor)

    smooth = _smooth(scenario)
    full = _limit(scenario, scale, 1.0, smooth, True, solved)
    short = _limit(scenario, scale, 1.0, smooth, True, solved, name_only=True)
    assert full is not None and short is not None
    assert full[1].above is not None and short[1].above is not None
    assert first_saturated(short[1].above) == first_saturated(full[1].above)
    if fewer:
        assert named(short[1].above)
        assert short[1].trials < full[1].trials
    else:
        assert (short[0], short[1].trials) == (full[0], full[1].trials)
    assert short[0] >= full[0]  # (a saturated trial: at or above the bracketed root)
