"""The operations under given failure constants (a fault window's, or normal operation's):
each flow's failure probability and every operation's rate, the stations' waiting and rate
limits as the network solution has them (`models.analysis.outages` sets a window against
normal operation with them)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from models.analysis.failures import FailureInputs, admitted_shares
from models.analysis.graph import OpKey, flow_key
from models.analysis.network import FlowSource, NetworkSolution
from models.analysis.operations import Evaluator
from models.analysis.throttle import served_by_operation
from models.analysis.traffic import MessageStormError, solve_traffic
from models.schema import Scenario


@dataclass(frozen=True)
class Regime:
    """What the operations do under given failure constants: each flow's failure
    probability and every operation's rate (attempts per second)."""

    fails: dict[str, float]
    rates: dict[OpKey, float]


def evaluate(
    scenario: Scenario,
    solution: NetworkSolution,
    sources: Mapping[str, FlowSource],
    inputs: FailureInputs,
) -> Regime | None:
    """The operations and the traffic equations under `inputs`, the stations' waiting and
    rate limits as solved (None when the traffic equations diverge)."""
    flags = {name: source.flag for name, source in sources.items()}
    evaluator = Evaluator(scenario, solution.views, solution.traffic.rates, flags, inputs)
    summaries = {key: evaluator.summary(key) for key in solution.keys}
    served = served_by_operation(solution.keys, solution.views)
    admitted, _ = admitted_shares(scenario, solution.keys, solution.views, inputs, served)
    rates = {name: source.rate for name, source in sources.items()}
    try:
        traffic = solve_traffic(solution.keys, summaries, rates, scenario.topics, admitted)
    except MessageStormError:
        return None
    fails = {name: summaries[flow_key(scenario, name)].fail for name in sources}
    return Regime(fails, traffic.rates)
