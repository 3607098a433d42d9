"""The visits per request are solved once and scaled by the flows' rates
(`traffic.solve_visits`, `traffic.traffic_at`, `SolveMemo.traffic`): the traffic at new
rates is the one `solve_traffic` solves from scratch, to the last bit."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.analysis.network import FlowSource, solve_network
from models.analysis.solve_memo import SolveMemo
from models.analysis.traffic import solve_traffic
from models.loading import load_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


@pytest.mark.parametrize("name", ["poison_messages", "three_tier_shop", "order_pipeline"])
def test_remembered_visits_scale_to_new_rates(name: str) -> None:
    path = SCENARIOS / f"{name}.yaml"
    scenario = load_scenario(path)
    flows = [key.name for key in SolveMemo().keys(scenario) if key.kind == "flow"]
    sources = {flow: FlowSource(1.0 + 0.5 * index) for index, flow in enumerate(flows)}
    solution = solve_network(scenario, sources)
    keys, summaries, topics = solution.keys, solution.summaries, scenario.topics
    memo = SolveMemo()
    first = memo.traffic(keys, summaries, {n: s.rate for n, s in sources.items()}, topics, {})
    remembered = memo.visits
    for factor in (0.5, 1.7, 3.25):
        rates = {n: s.rate * factor for n, s in sources.items()}
        scaled = memo.traffic(keys, summaries, rates, topics, {})
        fresh = solve_traffic(keys, summaries, rates, topics, {})
        assert memo.visits is remembered  # (no new solve of the equations)
        assert scaled.rates == fresh.rates
        assert scaled.topic_rates == fresh.topic_rates
        assert scaled.partition_rates == fresh.partition_rates
        assert scaled.topic_events == fresh.topic_events
        assert scaled.visits == fresh.visits == first.visits
        assert scaled.topic_visits == fresh.topic_visits
        assert scaled.rates != first.rates or not any(first.rates.values())
