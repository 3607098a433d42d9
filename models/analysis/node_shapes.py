"""What the walk of an operation (`models.analysis.operations`) reads of the scenario's
structure: each node's steps, station and kind of server, each call step's callee, and
where each `parallel` step's branches meet (`models.analysis.meetings`).

These are pure functions of the scenario, the same in every round of a solve and in every
solve of one analysis; the walk asked for them again at every node walked (its steps, its
station, whether it is one exponential `work`, the callee's name resolved, its station and
whether it queues, the pools a parallel step's branches meet at). `NodeShapes` finds each
once, on first use, and is kept for the analysis (`SolveMemo.node_shapes`): the 100
generated services walk about 2,500 nodes and 3,100 call steps per analysis, among some
170 nodes and 400 call steps (and 380 parallel steps, among nine).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from models.analysis.graph import OpKey, StationId, callee, station_of, steps_of
from models.analysis.meetings import Place, places
from models.analysis.moments import Moments, of_distribution
from models.analysis.work_laws import single_exponential
from models.schema import CallStep, DelayStep, ParallelStep, Scenario, Step, WorkStep


@dataclass(frozen=True)
class NodeShape:
    """What the walk of one node reads of the scenario (`NodeShapes.node`)."""

    steps: list[Step]
    """The steps it runs (`graph.steps_of`; a flow's body built once)."""
    station: StationId | None
    """The station whose server runs it (`graph.station_of`; None for a flow)."""
    exponential_mean: float | None
    """The mean of its one exponential step (`work_laws.single_exponential`)."""
    contention_free: bool
    """Whether it runs without queueing: a flow, or a service of unlimited workers."""
    blocking: bool
    """Whether its server is held through its calls (a flow, a consumer, a service of
    blocking calls)."""
    faulty: str | None
    """The service whose faults it fails with (`FailureInputs.of`; None for a flow)."""


class CallShape(NamedTuple):
    """What a call step reaches (`NodeShapes.call`)."""

    target: OpKey
    """The called node (`graph.callee`)."""
    station: StationId
    """Its station."""
    unlimited: bool
    """Whether the callee's service has unlimited workers."""


class NodeShapes:
    """The structure of the scenario's nodes and call steps, each found on first use: the
    scenario's structure, found once per analysis (module docstring)."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self._nodes: dict[OpKey, NodeShape] = {}
        self.stations: dict[OpKey, StationId | None] = {}
        """Each node's station found so far (`station`: read it, or this for one found)."""
        self._calls: dict[tuple[int, int], tuple[CallStep, CallShape]] = {}
        """By the call step's identity and the priority: the step itself (kept, so that
        its identity stays its own) and what it reaches."""
        self._moments: dict[int, tuple[WorkStep | DelayStep, Moments]] = {}
        """By a `work` or `delay` step's identity: the step (kept) and its moments."""
        self._places: dict[int, tuple[ParallelStep, tuple[Place, ...]]] = {}
        """By a `parallel` step's identity: the step (kept) and where its branches meet."""

    def node(self, key: OpKey) -> NodeShape:
        """The shape of node `key`."""
        found = self._nodes.get(key)
        if found is None:
            found = self._nodes[key] = self._shape(key)
        return found

    def station(self, key: OpKey) -> StationId | None:
        """`graph.station_of(key)`, one object per node."""
        try:
            return self.stations[key]
        except KeyError:
            found = self.stations[key] = station_of(key)
            return found

    def call(self, step: CallStep, priority: int) -> CallShape:
        """What call step `step` of a node of `priority` reaches."""
        known = self._calls.get((id(step), priority))
        if known is not None and known[0] is step:
            return known[1]
        target = callee(self.scenario, step, priority)
        station = self.station(target)
        assert station is not None
        unlimited = self.scenario.services[step.call.service].unlimited
        shape = CallShape(target, station, unlimited)
        self._calls[(id(step), priority)] = (step, shape)
        return shape

    def moments(self, step: WorkStep | DelayStep) -> Moments:
        """The moments of a `work` or `delay` step's time (`moments.of_distribution`)."""
        known = self._moments.get(id(step))
        if known is not None and known[0] is step:
            return known[1]
        found = of_distribution(step.work if isinstance(step, WorkStep) else step.delay)
        self._moments[id(step)] = (step, found)
        return found

    def places(self, step: ParallelStep) -> tuple[Place, ...]:
        """Where the branches of `parallel` step `step` meet (`meetings.places`)."""
        known = self._places.get(id(step))
        if known is not None and known[0] is step:
            return known[1]
        found = places(self.scenario, step)
        self._places[id(step)] = (step, found)
        return found

    def _shape(self, key: OpKey) -> NodeShape:
        steps = steps_of(self.scenario, key)
        station = self.station(key)
        exponential_mean = single_exponential(steps)
        if key.kind == "flow":
            return NodeShape(steps, station, exponential_mean, True, True, None)
        spec = self.scenario.services[key.name] if key.kind == "service" else None
        contention_free = spec is not None and spec.unlimited
        blocking = spec is None or spec.blocking_calls
        faulty = key.name if key.kind == "service" else key.operation
        return NodeShape(steps, station, exponential_mean, contention_free, blocking, faulty)
