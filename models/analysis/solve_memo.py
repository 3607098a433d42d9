"""What the rounds of `models.analysis.network.solve_network` remember between rounds and
between solves, each entry by the inputs it was computed from (so reusing it is exact).

The capacity search solves one network at many loads, every trial from no waiting anywhere.
Whatever a trial's load does not reach goes through the same rounds in every trial: the
same views in round 1, the same in round 2, and so on. So besides the round before (which
matches once the iteration settles), a round looks up what the same round of the solve
before computed (`SolveMemo.rounds`); a summary is reused from either only when its inputs
(`Evaluator.inputs`) are equal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from models.analysis.caller_graph import LastGraph
from models.analysis.departure_streams import Publisher, departure_publishers
from models.analysis.excess_pools import BelowMemo
from models.analysis.failures import NONE, FailureInputs, failure_inputs
from models.analysis.fan_out import Senders
from models.analysis.graph import OpKey, StationId, reachable
from models.analysis.layers import WeightCache
from models.analysis.message_runs import senders
from models.analysis.node_shapes import NodeShapes
from models.analysis.operations import Evaluator, Remembered
from models.analysis.paced import Pacing, pacing
from models.analysis.release_groups import Releases, releases
from models.analysis.response_tail import timed_callees
from models.analysis.round_structure import RoundStructure, round_structure
from models.analysis.station_load import StationLoad, StationSolution
from models.analysis.summary import OperationSummary, StationView
from models.analysis.traffic import Traffic, Visits, solve_visits, traffic_at
from models.schema import Scenario, Service, Topic


@dataclass
class SolveMemo:
    """What the rounds of `solve_network` remember, each entry by the inputs it was
    computed from (so reusing it is exact): operation summaries (of the round before, and
    of each round of the solve before), stations' classes and solutions, and thread pools'
    flow-equivalent servers."""

    summaries: Remembered = field(default_factory=dict)
    """The summaries of the round before."""
    rounds: list[Remembered] = field(default_factory=list)
    """The summaries of each round of the solves before (round n at index n - 1: the
    latest solve that reached it)."""
    layers: dict[Any, Any] = field(default_factory=dict)
    stations: dict[StationLoad, StationSolution] = field(default_factory=dict)
    classes: dict[Any, Any] = field(default_factory=dict)
    """Stations' classes by their inputs (`LoadBuilder.classes`)."""
    fans: Senders | None = None
    """What sends groups at once in the scenario (`models.analysis.fan_out`), found once."""
    resumes: Releases | None = None
    """What async pools let go together (`models.analysis.release_groups`), found once."""
    traffics: dict[Any, Traffic] = field(default_factory=dict)
    """Solved traffic by what it is solved from (`SolveMemo.traffic`)."""
    visits: dict[Any, Visits] = field(default_factory=dict)
    """Visits per request by what they are solved from, without the flows' rates
    (`SolveMemo.traffic`): shared by the searches, which change only the rates."""
    reached: list[OpKey] | None = None
    """The nodes some flow reaches (`graph.reachable`), found once."""
    constants: FailureInputs | None = None
    """The scenario's failure constants (`failures.failure_inputs`), found once."""
    timed_services: frozenset[str] | None = None
    """The services that a call with a timeout reaches (`response_tail.timed_callees`)."""
    in_flight: dict[tuple[OpKey, str | OpKey], int] = field(default_factory=dict)
    """The calls each node can have in flight to each service (`bounds.calls_in_flight`):
    the scenario's structure, found once."""
    paced: Pacing | None = None
    """The stations that one server paces (`models.analysis.paced`), found once."""
    departing: dict[str, Publisher] | None = None
    """Per topic, the one server whose departures are its messages
    (`models.analysis.departure_streams`), found once."""
    last_graph: LastGraph = field(default_factory=LastGraph)
    """Who calls what in the last traffic (`bounds.CallerGraph`): the next round's, where
    its traffic is the same object."""
    structure: RoundStructure | None = None
    """Each service's operations, each group's handlers and the pools' order
    (`models.analysis.round_structure`), found once."""
    below: BelowMemo = field(default_factory=BelowMemo)
    """What the populations below thread pools gave, by their inputs
    (`excess_pools.BelowMemo`)."""
    weights: WeightCache = field(default_factory=dict)
    """The flow-equivalent servers' subnetworks' stages' weights, by their inputs
    (`layers.WeightCache`)."""
    idle: dict[str, tuple[Service, int, StationLoad, StationSolution, float | None]] = field(
        default_factory=dict
    )
    """The stations of the services no flow reaches, as their first round built them
    (`network._idle`): the scenario's, the same in every round and solve."""
    released: dict[str, tuple[tuple[int, float], ...]] = field(default_factory=dict)
    """The groups async pools let go to each service, as the round before settled them
    (the next round starts from them: `release_groups.settle_releases`)."""
    shapes: NodeShapes | None = None
    """What the walks of the operations read of the scenario's structure
    (`models.analysis.node_shapes`), found once."""

    def shared(self) -> SolveMemo:
        """A memo for another solve of the same scenario that starts from what this one
        remembers by its inputs alone (stations, classes, flow-equivalent servers, the
        scenario's structure) and has rounds of its own: a capacity search from the solved
        network finds the stations its load does not reach already solved. Copies, so
        that what one search adds is let go with it (the searches of the TrainTicket-like
        model at 95%, sharing one memo, held 15 MiB more at their peak)."""
        return SolveMemo(
            summaries=self.summaries,
            layers=dict(self.layers),
            below=self.below.copy(),
            weights=dict(self.weights),
            structure=self.structure,
            stations=dict(self.stations),
            classes=dict(self.classes),
            fans=self.fans,
            resumes=self.resumes,
            reached=self.reached,
            constants=self.constants,
            timed_services=self.timed_services,
            in_flight=self.in_flight,
            paced=self.paced,
            visits=self.visits,
            departing=self.departing,
            idle=self.idle,
            shapes=self.shapes,
        )

    def evaluator(
        self,
        round_number: int,
        scenario: Scenario,
        views: Mapping[StationId, StationView],
        rates: Mapping[OpKey, float],
        flow_flags: Mapping[str, int],
        failures: FailureInputs = NONE,
        flow_scvs: Mapping[str, float] | None = None,
    ) -> Evaluator:
        """An evaluator for round `round_number` (from 1) that reuses what this memo holds:
        the same round of the solve before first, then the round before."""
        earlier = self.rounds[round_number - 1] if round_number <= len(self.rounds) else {}
        remembered = (earlier, self.summaries)
        shapes = self.node_shapes(scenario)
        return Evaluator(
            scenario, views, rates, flow_flags, failures, remembered, flow_scvs, shapes
        )

    def node_shapes(self, scenario: Scenario) -> NodeShapes:
        """The structure of the scenario's nodes (`models.analysis.node_shapes`), found as
        the walks first read it (anew for another scenario)."""
        if self.shapes is None or self.shapes.scenario is not scenario:
            self.shapes = NodeShapes(scenario)
        return self.shapes

    def keys(self, scenario: Scenario) -> list[OpKey]:
        """`reachable(scenario)`, found on the first call (the scenario's structure)."""
        if self.reached is None:
            self.reached = reachable(scenario)
        return self.reached

    def timed(self, scenario: Scenario, keys: list[OpKey]) -> frozenset[str]:
        """`timed_callees(scenario, keys)`, found on the first call (its structure)."""
        if self.timed_services is None:
            self.timed_services = timed_callees(scenario, keys)
        return self.timed_services

    def failures(self, scenario: Scenario) -> FailureInputs:
        """`failure_inputs(scenario)`, found on the first call (constants of the scenario)."""
        if self.constants is None:
            self.constants = failure_inputs(scenario)
        return self.constants

    def senders(self, scenario: Scenario, keys: list[OpKey]) -> Senders:
        """`senders(scenario, keys)`, found on the first call (the structure of the
        scenario's steps: the same in every round and solve)."""
        if self.fans is None:
            self.fans = senders(scenario, keys)
        return self.fans

    def pacing(self, scenario: Scenario, keys: list[OpKey]) -> Pacing:
        """`pacing(scenario, keys)`, found on the first call (the scenario's structure)."""
        if self.paced is None:
            self.paced = pacing(scenario, keys)
        return self.paced

    def publishers(self, scenario: Scenario, keys: list[OpKey]) -> dict[str, Publisher]:
        """`departure_publishers(scenario, keys)`, found on the first call (its structure)."""
        if self.departing is None:
            self.departing = departure_publishers(scenario, keys)
        return self.departing

    def round_structure(
        self,
        scenario: Scenario,
        keys: Sequence[OpKey],
        summaries: Mapping[OpKey, OperationSummary],
    ) -> RoundStructure:
        """`round_structure(scenario, keys, summaries)`, found on the first call (the
        scenario's structure: the nodes and their calls' targets)."""
        if self.structure is None:
            self.structure = round_structure(scenario, keys, summaries)
        return self.structure

    def releases(self, scenario: Scenario, keys: list[OpKey]) -> Releases:
        """`releases(scenario, keys)`, found on the first call (the scenario's structure)."""
        if self.resumes is None:
            self.resumes = releases(scenario, keys)
        return self.resumes

    def traffic(
        self,
        keys: Sequence[OpKey],
        summaries: Mapping[OpKey, OperationSummary],
        flow_rates: Mapping[str, float],
        topics: Mapping[str, Topic],
        admitted: Mapping[OpKey, float],
    ) -> Traffic:
        """`solve_traffic`, remembered by what it reads: each operation's calls,
        publishes, failure probability and admitted share, and the flows' rates (the same
        in every round of a solve without losses: the rounds after the first only change
        waiting times). The visits per request (`solve_visits`) are remembered without the
        flows' rates: a capacity trial's first round, at new rates, only scales them
        (`traffic_at`). Only the last of each is kept."""
        shape = tuple(
            (
                tuple(summaries[key].calls.items()),
                tuple(summaries[key].publishes.items()),
                summaries[key].fail,
                admitted.get(key, 1.0),
            )
            for key in keys
        )
        inputs = (tuple(flow_rates.items()), shape)
        known = self.traffics.get(inputs)
        if known is None:
            solved = self.visits.get(shape)
            if solved is None:
                solved = solve_visits(keys, summaries, topics, admitted)
                self.visits = {shape: solved}
            known = traffic_at(solved, keys, summaries, flow_rates, admitted)
            self.traffics = {inputs: known}
        return known

    def keep(self, round_number: int, evaluator: Evaluator) -> None:
        """Remember what round `round_number` computed."""
        self.summaries = evaluator.computed
        if round_number <= len(self.rounds):
            self.rounds[round_number - 1] = evaluator.computed
        else:
            self.rounds.append(evaluator.computed)
