"""Operation summaries reused from an earlier round or solve only where their inputs are
equal (`models.analysis.operations.Evaluator.inputs`): a summary that does not read its
own arrival rate is reused at another rate; one that does (a fork-join of several
branches) is walked again. Deterministic."""

from __future__ import annotations

from typing import Any

from models import load_scenario
from models.analysis import flow_source
from models.analysis.graph import OpKey
from models.analysis.network import FlowSource, solve_network
from models.analysis.operations import Evaluator


def _fork_join_shop() -> Any:
    """A page that asks two identical one-worker services at once (M/M/1 branches fed at
    the fork's rate: Flatto-Hahn exactly), and a shelf of 4 workers whose lookup calls a
    cache (a queueing station's operation: it reads neither its rate nor its callees'
    replies' variability)."""
    leaf = {"workers": 1, "operations": {"get": [{"work": {"exponential": "10ms"}}]}}
    return load_scenario(
        {
            "name": "fork-join-shop",
            "simulation": {"duration": 100},
            "services": {
                "page": {
                    "workers": "unlimited",
                    "operations": {
                        "render": [{"parallel": [[{"call": "left.get"}], [{"call": "right.get"}]]}],
                    },
                },
                "shelf": {"workers": 4, "operations": {"lookup": [{"call": "cache.get"}]}},
                "left": leaf,
                "right": leaf,
                "cache": leaf,
            },
            "workload": {
                "pages": {"entry": "page.render", "arrivals": {"poisson": 40}},
                "lookups": {"entry": "shelf.lookup", "arrivals": {"poisson": 30}},
            },
        }
    )


def _sources(scenario: Any, factor: float) -> dict[str, FlowSource]:
    sources = {}
    for name, flow in scenario.workload.items():
        source = flow_source(scenario, name, flow, [])
        assert source is not None
        sources[name] = FlowSource(source.rate * factor, source.scv, source.flag)
    return sources


def test_a_summary_is_reused_at_another_rate_unless_it_reads_the_rate() -> None:
    """Summaries from the solved views at the solved rates and at 1.8 times them (as a
    capacity trial's round reads them), the second remembering the first's: the lookup's
    is the first's own object (reused at the new rate), the fork-join's is walked again,
    and every summary equals the one computed afresh. At the solved rates the fork-join's
    branches are M/M/1 fed at the fork's rate (Flatto-Hahn); at 1.8 times them from the
    same views they are not (Nelson-Tantawi): reusing it would be wrong."""
    scenario = _fork_join_shop()
    solved = solve_network(scenario, _sources(scenario, 1.0))
    render = OpKey("service", "page", "render", 0)
    lookup = OpKey("service", "shelf", "lookup", 0)
    assert "Flatto-Hahn fork-join" in solved.summaries[render].methods
    flags = {name: source.flag for name, source in _sources(scenario, 1.0).items()}

    def evaluator(factor: float, remembered: Any = ()) -> Evaluator:
        rates = {key: rate * factor for key, rate in solved.traffic.rates.items()}
        return Evaluator(scenario, solved.views, rates, flags, remembered=remembered)

    first = evaluator(1.0)
    before = {key: first.summary(key) for key in solved.keys}
    second = evaluator(1.8, (first.computed,))
    after = {key: second.summary(key) for key in solved.keys}
    fresh = evaluator(1.8)

    assert after == {key: fresh.summary(key) for key in solved.keys}
    assert after[lookup] is before[lookup]
    assert after[render] is not before[render]
    assert after[render].response != before[render].response
    assert "Flatto-Hahn fork-join" not in after[render].methods
