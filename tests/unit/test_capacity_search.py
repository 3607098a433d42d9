"""The capacity search: its extrapolation and how few solves it needs (deterministic).

`max_throughput` is the root of peak(f) = 1, peak being the largest load ratio of any pool
at f times the load (`models.analysis.capacity`). Each trial is a whole network solve, so
the search must land next to the root in a few of them, and still bracket it to within
`RELATIVE_TOLERANCE`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from models import load_scenario
from models.analysis import analyze
from models.analysis.capacity import (
    RELATIVE_TOLERANCE,
    _all_flows_limit,
    _saturated,
)
from models.analysis.network import FlowSource, solve_network
from models.analysis.ratio_curves import Trials, rational_root
from tests.unit.analysis_scenarios import open_sources

REGRESSION = Path(__file__).resolve().parents[1] / "data" / "analysis_regression"


def test_the_rational_curve_is_the_line_through_collinear_trials() -> None:
    """Load ratios 0.1, 0.2, 0.3 at 1, 2, 3 reach 1 at 10 (c = 0: a plain line)."""
    assert rational_root([(1.0, 0.1), (2.0, 0.2), (3.0, 0.3)]) == pytest.approx(10.0)


def test_the_rational_curve_follows_a_pole() -> None:
    """y = 0.5 + 0.1 / (2 - x), a pool whose callee saturates at x = 2, reaches 1 at 1.8:
    three trials below it give that root exactly, where a parabola through them does not."""

    def ratio(x: float) -> float:
        return 0.5 + 0.1 / (2.0 - x)

    fits = [(x, ratio(x)) for x in (1.0, 1.5, 1.7)]
    assert rational_root(fits) == pytest.approx(1.8, rel=1e-12)


@pytest.mark.parametrize(
    "fits",
    [
        [(1.0, 0.5), (2.0, 0.4), (3.0, 0.3)],  # falling
        [(1.0, 0.2), (2.0, 0.35), (3.0, 0.45)],  # levelling off below 1
        [(1.0, 0.2), (1.0, 0.3), (3.0, 0.4)],  # two trials at one factor
        [(1.0, 0.2), (2.0, 0.5), (3.0, 1.2)],  # past 1 already
    ],
)
def test_no_rational_root_where_the_curve_does_not_rise_to_one(
    fits: list[tuple[float, float]],
) -> None:
    assert rational_root(fits) is None


def _scenario(db_servers: int, web_workers: int | None) -> Any:
    services: dict[str, Any] = {
        "db": {"workers": db_servers, "operations": {"q": [{"work": {"exponential": "10ms"}}]}},
    }
    if web_workers is not None:
        services["web"] = {
            "workers": web_workers,
            "operations": {"h": [{"work": {"exponential": "2ms"}}, {"call": "db.q"}]},
        }
    entry = "web.h" if web_workers is not None else "db.q"
    return load_scenario(
        {
            "name": "search",
            "simulation": {"duration": "1min"},
            "services": services,
            "workload": {"users": {"entry": entry, "arrivals": {"poisson": "50/s"}}},
        }
    )


def test_a_station_without_callees_is_found_in_three_solves() -> None:
    """M/M/2 with 10 ms of work saturates at 200/s, 4 times its 50/s: its load ratio is
    linear in the load, so the extrapolation is exact; one solve past it and one just below
    close the bracket (the known solution at the start counts for nothing)."""
    scenario = _scenario(db_servers=2, web_workers=None)
    sources = open_sources(scenario)
    found = _all_flows_limit(scenario, sources, True, solve_network(scenario, sources))
    assert found is not None
    factor, search = found
    assert factor == pytest.approx(4.0, rel=1e-9)
    assert search.trials <= 3
    assert analyze(scenario).flows["users"].max_throughput == pytest.approx(200.0, rel=1e-9)


def test_a_pool_over_a_callee_near_saturation_is_bracketed_in_a_few_solves() -> None:
    """A 2-thread pool calling a one-server database: the pool's load ratio climbs
    steeply as the database nears saturation, and the pool saturates first (its 2 threads
    can keep the database busy only between their own 2 ms of work each). The network is
    unsaturated `RELATIVE_TOLERANCE` below the reported factor and saturated twice that
    above it (the report is the extrapolation inside the final bracket)."""
    scenario = _scenario(db_servers=1, web_workers=2)
    sources = open_sources(scenario)
    found = _all_flows_limit(scenario, sources, True, solve_network(scenario, sources))
    assert found is not None
    factor, search = found
    assert 1.0 < factor < 2.0  # (the database alone saturates at 100/s, twice the load)
    assert search.trials <= 8

    def saturated_at(f: float) -> bool:
        scaled = {n: FlowSource(s.rate * f, s.scv, s.flag) for n, s in sources.items()}
        return _saturated(solve_network(scenario, scaled))

    assert not saturated_at(factor * (1.0 - RELATIVE_TOLERANCE))
    assert saturated_at(factor * (1.0 + 2 * RELATIVE_TOLERANCE))


@pytest.mark.parametrize(
    ("model", "flow"),
    [
        ("j1_social_network_60", "read-home-timeline"),
        ("j4_train_ticket_60", "plan"),
    ],
)
def test_the_reported_capacity_brackets_saturation_within_the_tolerance(
    model: str, flow: str
) -> None:
    """The network, solved to its fixed point from the flows' own rates with the flow at
    `RELATIVE_TOLERANCE` below its reported capacity, is unsaturated, and at as much above
    it, saturated. Each trial of the search starts from the heaviest unsaturated trial's
    solution (`capacity._Search.start`): from the flows' own rates, as before, these two
    came out 1.1% low (4781.8/s and 400.3/s, where 4835.6/s and 404.8/s bracketed the
    root; the plan's model has moved since, docs/analysis.md sec. 6)."""
    scenario = load_scenario(REGRESSION / f"{model}.yaml")
    reported = analyze(scenario).flows[flow].max_throughput
    assert reported is not None
    sources = open_sources(scenario)
    base = solve_network(scenario, sources)

    def saturated_at(rate: float) -> bool:
        scaled = {**sources, flow: FlowSource(rate, sources[flow].scv, sources[flow].flag)}
        solution = solve_network(scenario, scaled, start=base.round_views, max_iterations=400)
        return _saturated(solution)

    assert not saturated_at(reported * (1.0 - RELATIVE_TOLERANCE))
    assert saturated_at(reported * (1.0 + RELATIVE_TOLERANCE))


def test_a_flat_load_ratio_is_not_extrapolated_to_saturation() -> None:
    """A pool whose ratio rose by rounding only over trials more than 10% apart heads
    nowhere: the estimate is the rising pool's (a rational curve through the flat one's put
    a pole just past its points: the TrainTicket-like model at 95%, `login`)."""
    trials = Trials()
    flat = [0.6263755949556097, 0.6263755950301311, 0.6263756052360333]
    rising = [0.3650, 0.3839, 0.6940]
    for factor, first, second in zip([202.8, 221.7, 531.8], flat, rising, strict=True):
        trials.add(factor, {("service", "flat"): first, ("service", "rising"): second})
    alone = Trials()
    for factor, ratio in zip([202.8, 221.7, 531.8], rising, strict=True):
        alone.add(factor, {("service", "rising"): ratio})
    assert trials.estimate(False) == alone.estimate(False) > 600.0
    close = Trials()  # (trials less than 10% apart: not judged flat)
    for factor, ratio in zip([500.0, 505.0, 510.0], flat, strict=True):
        close.add(factor, {("service", "flat"): ratio})
    assert close.estimate(False) < 1e6
