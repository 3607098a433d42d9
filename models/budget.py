"""Limits: scenarios that would never end, or not fit, are refused before they run.

A scenario can be valid and still run away (docs/scenario-language.md, "Limits"). What can be
known before the run is checked here, each problem a `Problem` with its YAML path, like any
other, so that `archsim validate` and `archsim run` report it with exit code 2:

- **message explosions** (`check_limits`): with M[t][u] the expected messages to topic u
  published by the handlers of one message of topic t (publish probability x count x branch
  probabilities, the handlers' synchronous callees included), messages multiply without end
  when the spectral radius of M is >= 1. For a Z-matrix I - M, that radius is below 1 exactly
  when every pivot of its Gaussian elimination (without pivoting) is positive, and a pivot
  1 - r <= 0 at topic t says that one message of t causes r >= 1 messages back to t through
  the topics eliminated before it: that is the message. Only topics that the workload can
  reach count; retries of failed handlers, dead letters and fallbacks (which only make more
  messages) are left out, so what is refused surely explodes. A publish step with a huge
  `count` is refused too;
- **zero-time loops** (`check_limits`): a closed flow whose clients never think (no
  `think_time`, or one of mean 0) and whose requests can take no time at all makes requests
  forever at the same instant; so do interarrival times of mean 0, and a `crash` whose up and
  down times are both always 0;
- **absurd sizes** (`check_limits`, and `check_run` for the run as asked): replications,
  replicas, consumer threads, partitions, keys, clients, retries and message attempts beyond
  what a run can hold, and time series of more rows than fit in memory;
- **event load** (`check_run`): the expected number of simulation events of one replication
  (`estimate_events`: every step that takes time, arrival, think time, timeout, message
  delivery after a latency, time-series sample and autoscaler decision is one event of the
  simpy calendar) against the event budget, `DEFAULT_MAX_EVENTS` unless `--max-events`
  says otherwise.

Whatever gets through is bounded while it runs (`sim.engine.budget`): a replication that
exceeds the event budget or its memory stops, and its results are marked partial.

Pure Python, no numpy: `archsim validate` loads no heavy module (tests/unit/test_startup.py).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from models.arrivals import MmppArrivals, SinusoidArrivals, TraceArrivals, TraceSpec
from models.errors import Problem, ScenarioError
from models.faults import Crash
from models.references import uses_failures, walk_steps
from models.schema import (
    BranchStep,
    CallStep,
    ConstantArrivals,
    DelayStep,
    FailStep,
    InterarrivalArrivals,
    ParallelStep,
    PoissonArrivals,
    ProfileArrivals,
    PublishStep,
    Scenario,
    Step,
    WorkStep,
)

DEFAULT_MAX_EVENTS = 200_000_000
"""Simulation events one replication may take (`--max-events`): at a few microseconds an
event, about ten minutes of CPU."""
SECONDS_PER_EVENT = 3e-6
"""Roughly what an event costs on a laptop core (for the messages only)."""

MAX_REPLICATIONS = 10_000
MAX_PUBLISH_COUNT = 10_000
MAX_REPLICAS = 100_000
"""Replicas of a service (about 1 KB of memory each in every replication)."""
MAX_CONSUMERS = 100_000
"""Consumer threads of a consumer group (about 1 KB each)."""
MAX_PARTITIONS = 1_000_000
MAX_KEYS = 10_000_000
MAX_CLIENTS = 1_000_000
MAX_ATTEMPTS = 1_000
"""Attempts of a call (`retries` + 1) or of a message (`max_attempts`)."""
MAX_TIMESERIES_ROWS = 50_000_000
"""Rows of the time series of a run, all replications together (20 bytes each in a
replication, about 40 in the results)."""

EXPLOSION_PIVOT = 1e-9
"""A pivot of I - M at or below this is a growth factor of 1 or more (the analysis's
`STORM_RADIUS` tolerance)."""


# --------------------------------------------------------------------------- walking steps


@dataclass
class Cost:
    """What one run of a list of steps does, in expectation: failures ignored, except that a
    `fail` step ends the run early with its probability (so a count here never exceeds the
    truth by a retry or a fallback)."""

    events: float = 0.0
    """Simulation events: steps that take time, call timeouts, queue timeouts."""
    time: float = 0.0
    """Expected time of its timed steps, without any waiting (a parallel step counts its
    slowest branch): a lower bound of its duration."""
    moves: bool = False
    """Whether it can take time at all: a timed step of positive mean that can run, a
    fallback that can, or a retry that waits for a backoff."""
    publishes: dict[str, float] = field(default_factory=dict)
    """Expected messages per topic."""
    sources: dict[str, str] = field(default_factory=dict)
    """Per topic: the YAML path of a publish step to it (the first one found)."""
    demand: dict[str, float] = field(default_factory=dict)
    """Per service: expected worker-seconds held (blocking services only)."""

    def add(self, other: Cost, weight: float, time: bool = True) -> None:
        """Add `weight` runs of `other` (its time too unless `time` is false)."""
        if weight <= 0:
            return
        self.events += weight * other.events
        if time:
            self.time += weight * other.time
        self.moves = self.moves or other.moves
        for topic, count in other.publishes.items():
            self.publishes[topic] = self.publishes.get(topic, 0.0) + weight * count
        for topic, path in other.sources.items():
            self.sources.setdefault(topic, path)
        for service, seconds in other.demand.items():
            self.demand[service] = self.demand.get(service, 0.0) + weight * seconds


class Walker:
    """Costs of operations (memoized, callees first) and of any list of steps, for a
    scenario whose references are valid (no call cycles, every target exists)."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self._operations: dict[tuple[str, str], Cost] = {}
        for service, operation in self._callees_first():
            self.operation(service, operation)

    def _target(self, step: CallStep) -> tuple[str, str]:
        call = step.call
        name, _ = self.scenario.operation(call.service, call.operation)
        return call.service, name

    def _callees_first(self) -> list[tuple[str, str]]:
        """Every operation, each after the operations it calls (an iterative depth-first
        search, so that long chains of calls need no deep recursion)."""
        order: list[tuple[str, str]] = []
        done: set[tuple[str, str]] = set()
        for service_name, service in self.scenario.services.items():
            for operation_name in service.operations:
                root = (service_name, operation_name)
                if root in done:
                    continue
                stack = [(root, iter(self._calls_of(root)))]
                done.add(root)
                while stack:
                    node, callees = stack[-1]
                    callee = next(callees, None)
                    if callee is None:
                        stack.pop()
                        order.append(node)
                    elif callee not in done:
                        done.add(callee)
                        stack.append((callee, iter(self._calls_of(callee))))
        return order

    def _calls_of(self, operation: tuple[str, str]) -> list[tuple[str, str]]:
        steps = self.scenario.services[operation[0]].operations[operation[1]]
        found: list[tuple[str, str]] = []
        pending: list[Step] = list(steps)
        while pending:
            step = pending.pop()
            if isinstance(step, CallStep):
                found.append(self._target(step))
                pending.extend(step.call.fallback or [])
            elif isinstance(step, ParallelStep):
                pending.extend(s for branch in step.parallel for s in branch)
            elif isinstance(step, BranchStep):
                pending.extend(s for option in step.branch for s in option.steps)
        return found

    def operation(self, service: str, operation: str) -> Cost:
        """One run of `service.operation`, its synchronous callees included."""
        key = (service, operation)
        cost = self._operations.get(key)
        if cost is None:
            steps = self.scenario.services[service].operations[operation]
            cost = self.steps(steps, f"services.{service}.operations.{operation}")
            self._operations[key] = cost
        return cost

    def steps(self, steps: Sequence[Step], base: str) -> Cost:
        """One run of `steps` (at YAML path `base`)."""
        cost = Cost()
        reach = 1.0  # the probability that no `fail` step has ended the run yet
        for index, step in enumerate(steps):
            if reach <= 0:
                break
            path = f"{base}[{index}]"
            if isinstance(step, WorkStep | DelayStep):
                mean = step.work.mean if isinstance(step, WorkStep) else step.delay.mean
                cost.events += reach
                cost.time += reach * mean
                cost.moves = cost.moves or mean > 0
            elif isinstance(step, CallStep):
                self._call(cost, step, path, reach)
            elif isinstance(step, PublishStep):
                spec = step.publish
                count = reach * spec.probability * spec.count
                cost.publishes[spec.topic] = cost.publishes.get(spec.topic, 0.0) + count
                cost.sources.setdefault(spec.topic, f"{path}.publish")
            elif isinstance(step, ParallelStep):
                branches = [
                    self.steps(branch, f"{path}.parallel[{number}]")
                    for number, branch in enumerate(step.parallel)
                ]
                for branch in branches:
                    cost.add(branch, reach, time=False)
                cost.time += reach * max(branch.time for branch in branches)
            elif isinstance(step, BranchStep):
                for number, option in enumerate(step.branch):
                    option_cost = self.steps(option.steps, f"{path}.branch[{number}].steps")
                    cost.add(option_cost, reach * option.probability)
            elif isinstance(step, FailStep):
                reach *= 1.0 - step.fail
        return cost

    def _call(self, cost: Cost, step: CallStep, path: str, reach: float) -> None:
        call = step.call
        service_name, operation_name = self._target(step)
        service = self.scenario.services[service_name]
        callee = self.operation(service_name, operation_name)
        weight = reach * call.probability
        cost.add(callee, weight)
        if service.blocking_calls and callee.time > 0:
            cost.demand[service_name] = cost.demand.get(service_name, 0.0) + weight * callee.time
        cost.events += weight * ((call.timeout is not None) + (service.queue_timeout is not None))
        if call.fallback:
            fallback = self.steps(call.fallback, f"{path}.call.fallback")
            cost.moves = cost.moves or fallback.moves
            for topic, source in fallback.sources.items():
                cost.sources.setdefault(topic, source)
        if call.retries > 0 and call.backoff is not None:
            cost.moves = True

    def handler(self, topic: str, service: str) -> Cost:
        """One run of the handler of `service`'s consumer group on `topic`."""
        subscriber = self.scenario.topics[topic].subscribers[service]
        name, _ = self.scenario.operation(service, subscriber.operation)
        return self.operation(service, name)


# --------------------------------------------------------------------------- topics


@dataclass
class TopicGraph:
    """The messages topics cause: `growth[t][u]` expected messages to u per message of t
    (its handlers' publishes), `events[t]` the events of one message of t before those
    (deliveries after a latency, its handlers' own events), `sources[t][u]` a publish step
    that makes the edge, and `reachable` the topics the workload can send messages to."""

    growth: dict[str, dict[str, float]]
    events: dict[str, float]
    sources: dict[str, dict[str, str]]
    reachable: list[str]


def topic_graph(scenario: Scenario, walker: Walker, bodies: Iterable[Cost]) -> TopicGraph:
    """The topic graph of `scenario`, reachable from the flows' `bodies`."""
    growth: dict[str, dict[str, float]] = {}
    events: dict[str, float] = {}
    sources: dict[str, dict[str, str]] = {}
    for name, topic in scenario.topics.items():
        row: dict[str, float] = {}
        paths: dict[str, str] = {}
        total = 0.0
        for service in topic.subscribers:
            handler = walker.handler(name, service)
            total += handler.events + (topic.delivery_latency is not None)
            for target, count in handler.publishes.items():
                if count > 0:
                    row[target] = row.get(target, 0.0) + count
                    paths.setdefault(target, handler.sources[target])
        growth[name], events[name], sources[name] = row, total, paths
    seen: set[str] = set()
    pending = [target for body in bodies for target, count in body.publishes.items() if count > 0]
    while pending:
        target = pending.pop()
        if target not in seen:
            seen.add(target)
            pending.extend(growth[target])
    reachable = [name for name in scenario.topics if name in seen]
    return TopicGraph(growth, events, sources, reachable)


def strongly_connected(nodes: Sequence[str], edges: dict[str, dict[str, float]]) -> list[list[str]]:
    """Tarjan's strongly connected components of the graph restricted to `nodes`, sinks first
    (each component after every component it reaches), each in the order of `nodes`."""
    inside = set(nodes)
    rank = {node: position for position, node in enumerate(nodes)}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter([t for t in edges.get(root, {}) if t in inside]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, targets = work[-1]
            target = next(targets, None)
            if target is not None:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter([t for t in edges.get(target, {}) if t in inside])))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component, key=rank.__getitem__))
    return components


def _first_explosion(
    component: list[str], growth: dict[str, dict[str, float]]
) -> tuple[int, float] | None:
    """Gaussian elimination of I - M on `component` (in its order): None when every pivot is
    positive (messages die out), else the position of the first pivot 1 - r <= 0 and r, the
    messages one message of that topic causes back to it through the topics before it."""
    size = len(component)
    matrix = [
        [
            (row == column) - growth[component[row]].get(component[column], 0.0)
            for column in range(size)
        ]
        for row in range(size)
    ]
    for pivot_index in range(size):
        pivot = matrix[pivot_index][pivot_index]
        if pivot <= EXPLOSION_PIVOT:
            return pivot_index, 1.0 - pivot
        pivot_row = matrix[pivot_index]
        for row in range(pivot_index + 1, size):
            factor = matrix[row][pivot_index] / pivot
            if factor != 0.0:
                target = matrix[row]
                for column in range(pivot_index, size):
                    target[column] -= factor * pivot_row[column]
    return None


def _cycle_through(topic: str, allowed: set[str], growth: dict[str, dict[str, float]]) -> list[str]:
    """A shortest cycle of messages from `topic` back to it through `allowed` topics."""
    previous: dict[str, str] = {}
    frontier = [topic]
    while frontier:
        following = []
        for node in frontier:
            for target in growth.get(node, {}):
                if target == topic:
                    chain = [node]
                    while chain[-1] != topic:
                        chain.append(previous[chain[-1]])
                    return [*reversed(chain), topic]
                if target in allowed and target not in previous and target != topic:
                    previous[target] = node
                    following.append(target)
        frontier = following
    return [topic, topic]


def explosion_problems(graph: TopicGraph) -> list[Problem]:
    """One problem per group of topics whose messages multiply without end."""
    problems = []
    for component in strongly_connected(graph.reachable, graph.growth):
        member = component[0]
        if len(component) == 1 and graph.growth[member].get(member, 0.0) <= 0:
            continue
        found = _first_explosion(component, graph.growth)
        if found is None:
            continue
        position, factor = found
        topic = component[position]
        cycle = _cycle_through(topic, set(component[: position + 1]), graph.growth)
        chain = " -> ".join(f"'{name}'" for name in cycle)
        problems.append(
            Problem(
                graph.sources[cycle[0]][cycle[1]],
                f"messages multiply without end: each message of '{topic}' causes "
                f"{_factor(factor)} messages back to '{topic}' on average (through {chain}), "
                f"so the traffic of these topics grows for ever and the run cannot end; make "
                f"the publishes of this cycle less likely or fewer (below 1 message back per "
                f"message)",
            )
        )
    return problems


def _factor(value: float) -> str:
    text = f"{value:.3g}"
    return text if any(mark in text for mark in ".e") else f"{text}.0"


def _solve_topic_events(graph: TopicGraph) -> dict[str, float]:
    """Events of one message of each reachable topic, the messages it causes included:
    c = e + M c, component by component, sinks first (inf where messages never die out)."""
    cost: dict[str, float] = {}
    for component in strongly_connected(graph.reachable, graph.growth):
        members = set(component)
        size = len(component)
        matrix = [
            [
                (row == column) - graph.growth[component[row]].get(component[column], 0.0)
                for column in range(size)
            ]
            for row in range(size)
        ]
        right = [
            graph.events[topic]
            + sum(
                count * cost[target]
                for target, count in graph.growth[topic].items()
                if target not in members
            )
            for topic in component
        ]
        solution = _solve(matrix, right)
        for topic, value in zip(component, solution, strict=True):
            cost[topic] = value
    return cost


def _solve(matrix: list[list[float]], right: list[float]) -> list[float]:
    """Solve a small system of an M-matrix by Gaussian elimination (inf if it is singular
    or not an M-matrix: messages that never die out)."""
    size = len(matrix)
    for pivot_index in range(size):
        pivot = matrix[pivot_index][pivot_index]
        if pivot <= EXPLOSION_PIVOT or not math.isfinite(right[pivot_index]):
            return [math.inf] * size
        for row in range(pivot_index + 1, size):
            factor = matrix[row][pivot_index] / pivot
            if factor != 0.0:
                for column in range(pivot_index, size):
                    matrix[row][column] -= factor * matrix[pivot_index][column]
                right[row] -= factor * right[pivot_index]
    solution = [0.0] * size
    for row in reversed(range(size)):
        total = right[row] - sum(
            matrix[row][column] * solution[column] for column in range(row + 1, size)
        )
        solution[row] = max(total / matrix[row][row], 0.0)
    return solution


# --------------------------------------------------------------------------- the checks


def check_limits(scenario: Scenario) -> list[Problem]:
    """Every problem of a scenario that would run away or not fit, as far as the file says
    (the run as asked is checked by `check_run`). Needs valid references."""
    walker = Walker(scenario)
    bodies = {
        name: walker.steps(flow.body(), f"workload.{name}.steps")
        for name, flow in scenario.workload.items()
    }
    problems = _size_problems(scenario)
    problems += _zero_time_problems(scenario, bodies)
    problems += explosion_problems(topic_graph(scenario, walker, bodies.values()))
    problems += _run_size_problems(scenario, scenario.simulation.replications, overridden=False)
    return problems


def check_run(
    scenario: Scenario, replications: int, max_events: int | None = DEFAULT_MAX_EVENTS
) -> list[Problem]:
    """The problems of running `replications` replications of `scenario` (a loaded one, so
    `check_limits` passed) within `max_events` events each (None: no event budget)."""
    overridden = replications != scenario.simulation.replications
    problems = _run_size_problems(scenario, replications, overridden)
    if max_events is not None and not problems:
        problems += _event_problems(scenario, estimate_events(scenario), max_events)
    return problems


def refuse_runaway_run(
    scenario: Scenario, replications: int, max_events: int | None = DEFAULT_MAX_EVENTS
) -> None:
    """Raise `ScenarioError` if `check_run` finds problems (the variant is named in them)."""
    problems = check_run(scenario, replications, max_events)
    if problems:
        variant = scenario.variant_name
        if variant is not None:
            problems = [
                Problem(f"variants.{variant}.{problem.path}", problem.message)
                for problem in problems
            ]
        raise ScenarioError(scenario.source, problems)


def refuse_runaway_file(scenario: Scenario, load_variant: Callable[[str], Scenario]) -> None:
    """`archsim validate`: `check_run` of the base scenario and of every variant of its file
    (`load_variant(name)` loads one) with the default budget; raise `ScenarioError` with
    every problem."""
    candidates = [scenario, *(load_variant(name) for name in scenario.variants)]
    problems: list[Problem] = []
    for candidate in candidates:
        try:
            refuse_runaway_run(candidate, candidate.simulation.replications)
        except ScenarioError as error:
            problems.extend(error.problems)
    if problems:
        raise ScenarioError(scenario.source, problems)


def _size_problems(scenario: Scenario) -> list[Problem]:
    """Replicas, consumers, partitions, keys, clients, attempts and publish counts a run can
    hold."""
    problems = []

    def at_most(path: str, value: int, limit: int, what: str) -> None:
        if value > limit:
            problems.append(Problem(path, f"must be <= {limit:,} (got {value:,}): {what}"))

    for name, service in scenario.services.items():
        path = f"services.{name}"
        memory = "each replica takes about 1 KB of memory in every replication"
        at_most(f"{path}.replicas", service.replicas, MAX_REPLICAS, memory)
        if service.autoscale is not None:
            at_most(f"{path}.autoscale.max", service.autoscale.max, MAX_REPLICAS, memory)
        for operation, steps in service.operations.items():
            problems.extend(_step_size_problems(steps, f"{path}.operations.{operation}"))
    for name, topic in scenario.topics.items():
        path = f"topics.{name}"
        at_most(
            f"{path}.partitions",
            topic.partitions,
            MAX_PARTITIONS,
            "each partition takes memory in every consumer group and a value in every sample "
            "of the time series",
        )
        if topic.keys is not None:
            at_most(
                f"{path}.keys.count",
                topic.keys.count,
                MAX_KEYS,
                "the keys' weights are kept in memory",
            )
        for group, subscriber in topic.subscribers.items():
            where = f"{path}.subscribers.{group}"
            replicas = scenario.services[group].replicas
            threads = replicas * subscriber.concurrency
            if threads > MAX_CONSUMERS:
                problems.append(
                    Problem(
                        f"{where}.concurrency",
                        f"{replicas:,} replica(s) x {subscriber.concurrency:,} = {threads:,} "
                        f"consumer threads, more than the {MAX_CONSUMERS:,} a group may have "
                        f"(each takes about 1 KB of memory): at most "
                        f"{max(MAX_CONSUMERS // replicas, 1):,} per replica fit",
                    )
                )
            if subscriber.autoscale is not None:
                at_most(
                    f"{where}.autoscale.max",
                    subscriber.autoscale.max,
                    MAX_CONSUMERS,
                    "each consumer thread takes about 1 KB of memory in every replication",
                )
            at_most(
                f"{where}.max_attempts",
                subscriber.max_attempts,
                MAX_ATTEMPTS,
                "beyond that a message that always fails only burns the run's time",
            )
    for name, flow in scenario.workload.items():
        if flow.clients is not None:
            at_most(
                f"workload.{name}.clients",
                flow.clients,
                MAX_CLIENTS,
                "each client is kept in memory; model a larger population as open arrivals",
            )
        if flow.steps is not None:
            problems.extend(_step_size_problems(flow.steps, f"workload.{name}.steps"))
    return problems


def _step_size_problems(steps: list[Step], base: str) -> list[Problem]:
    problems = []
    for path, step in walk_steps(steps, base):
        if isinstance(step, PublishStep) and step.publish.count > MAX_PUBLISH_COUNT:
            problems.append(
                Problem(
                    f"{path}.publish.count",
                    f"must be <= {MAX_PUBLISH_COUNT:,} (got {step.publish.count:,}): messages "
                    f"published at once by one step",
                )
            )
        elif isinstance(step, CallStep) and step.call.retries + 1 > MAX_ATTEMPTS:
            problems.append(
                Problem(
                    f"{path}.call.retries",
                    f"must be <= {MAX_ATTEMPTS - 1:,} (got {step.call.retries:,}): at most "
                    f"{MAX_ATTEMPTS:,} attempts per call",
                )
            )
    return problems


def _zero_time_problems(scenario: Scenario, bodies: dict[str, Cost]) -> list[Problem]:
    """Sources of requests or events that would repeat for ever at the same instant."""
    problems = []
    for name, flow in scenario.workload.items():
        path = f"workload.{name}"
        if flow.clients is not None:
            think = flow.think_time
            if (think is None or think.mean <= 0) and not bodies[name].moves:
                where = path if think is None else f"{path}.think_time"
                problems.append(
                    Problem(
                        where,
                        "a closed flow whose clients never think (no think_time, or one that is "
                        "always 0) and whose requests take no time makes requests for ever at "
                        "the same instant, so the run would never end: give it a think_time of "
                        "positive mean, or a step that takes time",
                    )
                )
        elif (
            isinstance(flow.arrivals, InterarrivalArrivals) and flow.arrivals.interarrival.mean <= 0
        ):
            problems.append(
                Problem(
                    f"{path}.arrivals.interarrival",
                    "interarrival times that are always 0 make arrivals for ever at the same "
                    "instant, so the run would never end: give them a positive mean "
                    f"(got {flow.arrivals.interarrival.to_spec()})",
                )
            )
    for index, fault in enumerate(scenario.faults):
        if isinstance(fault, Crash) and fault.mtbf.mean <= 0 and fault.mttr.mean <= 0:
            problems.append(
                Problem(
                    f"faults[{index}]",
                    "a crash whose up and down times are both always 0 makes replicas fail and "
                    "come back for ever at the same instant, so the run would never end: give "
                    "'mtbf' or 'mttr' a positive mean",
                )
            )
    return problems


def _samples(scenario: Scenario) -> int:
    """Samples of the time series: one every interval, and one at the end."""
    settings = scenario.simulation
    end = settings.warmup + settings.duration
    return max(math.ceil(end / settings.resolved_sample_interval - 1e-9), 1)


def timeseries_series(scenario: Scenario) -> int:
    """How many values each sample of the time series holds (at most: the engine's
    `TimeSeriesSampler` writes these rows)."""
    failures = uses_failures(scenario)
    count = 0
    for service in scenario.services.values():
        count += 2 + (not service.unlimited) + (service.autoscale is not None) + failures
    for topic in scenario.topics.values():
        for subscriber in topic.subscribers.values():
            count += 2 + (subscriber.autoscale is not None)
            if topic.type == "log" and topic.partitions > 1:
                count += topic.partitions
    count += len(scenario.workload) * (2 + failures)
    breakers = 0
    for service in scenario.services.values():
        for steps in service.operations.values():
            breakers += _breakers(steps)
    for flow in scenario.workload.values():
        breakers += _breakers(flow.body())
    return count + breakers


def _breakers(steps: list[Step]) -> int:
    return sum(
        1
        for _, step in walk_steps(steps, "")
        if isinstance(step, CallStep) and step.call.circuit_breaker is not None
    )


def _run_size_problems(scenario: Scenario, replications: int, overridden: bool) -> list[Problem]:
    """The replications and the time series of running `replications` replications."""
    flag = " (--replications)" if overridden else ""
    if replications > MAX_REPLICATIONS:
        return [
            Problem(
                "simulation.replications",
                f"must be <= {MAX_REPLICATIONS:,}{flag} (got {replications:,}): beyond a few "
                f"dozen, longer replications narrow the intervals better than more of them",
            )
        ]
    series = timeseries_series(scenario)
    samples = _samples(scenario)
    rows = samples * series * replications
    if rows <= MAX_TIMESERIES_ROWS:
        return []
    settings = scenario.simulation
    end = settings.warmup + settings.duration
    fits = end * series * replications / MAX_TIMESERIES_ROWS
    return [
        Problem(
            "simulation.sample_interval",
            f"the time series would hold {rows:,} rows ({samples:,} samples x {series:,} "
            f"values x {replications:,} replication(s){flag}), more than the "
            f"{MAX_TIMESERIES_ROWS:,} that fit in memory: use a sample_interval of at least "
            f"{_round_up(fits)} s (got {settings.resolved_sample_interval:g} s)",
        )
    ]


def _round_up(value: float) -> str:
    """`value` rounded up to two significant digits, as text."""
    if value <= 0 or not math.isfinite(value):
        return f"{value:g}"
    scale = 10 ** (math.floor(math.log10(value)) - 1)
    return f"{math.ceil(value / scale - 1e-9) * scale:.2g}"


# --------------------------------------------------------------------------- event load


@dataclass(frozen=True)
class FlowLoad:
    """A flow's share of the events of one replication."""

    requests: float
    """Expected requests in one replication (warm-up included)."""
    per_request: float
    """Events per request: its arrival (or think time), its timed steps and those of the
    messages it causes, transitively."""
    arrival_events: float = 0.0
    """Events of the arrival process not counted per request (thinning candidates)."""

    @property
    def events(self) -> float:
        """The flow's expected events in one replication."""
        return self.requests * self.per_request + self.arrival_events


@dataclass(frozen=True)
class EventEstimate:
    """The expected simulation events of one replication."""

    flows: dict[str, FlowLoad]
    other: float
    """Time-series samples, autoscaler decisions, crashes and repairs."""
    end: float
    """Simulated seconds (warm-up and duration)."""

    @property
    def total(self) -> float:
        """Every event of one replication."""
        return self.other + sum(flow.events for flow in self.flows.values())


def estimate_events(scenario: Scenario) -> EventEstimate:
    """The expected number of simulation events of one replication of `scenario` (module
    docstring): exact for open flows in the engine's own terms when nothing fails or waits
    for a retry, an upper bound for closed flows (their throughput bounded by their clients
    and by the busiest service's workers)."""
    walker = Walker(scenario)
    settings = scenario.simulation
    end = settings.warmup + settings.duration
    bodies = {
        name: walker.steps(flow.body(), f"workload.{name}.steps")
        for name, flow in scenario.workload.items()
    }
    graph = topic_graph(scenario, walker, bodies.values())
    per_message = _solve_topic_events(graph)
    flows = {}
    for name, body in bodies.items():
        per_request = 1.0 + body.events
        for topic, count in body.publishes.items():
            if count > 0:
                per_request += count * per_message.get(topic, 0.0)
        requests, arrival_events = _requests(scenario, name, body, end)
        flows[name] = FlowLoad(requests, per_request, arrival_events)
    other = float(_samples(scenario))
    for service in scenario.services.values():
        if service.autoscale is not None:
            other += end / service.autoscale.interval
    for spec in scenario.topics.values():
        for subscriber in spec.subscribers.values():
            if subscriber.autoscale is not None:
                other += end / subscriber.autoscale.interval
    for fault in scenario.faults:
        if isinstance(fault, Crash):
            cycle = fault.mtbf.mean + fault.mttr.mean
            replicas = scenario.services[fault.service].replicas
            other += replicas * 2 * end / cycle if cycle > 0 else math.inf
    return EventEstimate(flows, other, end)


def _requests(scenario: Scenario, name: str, body: Cost, end: float) -> tuple[float, float]:
    """The expected requests of flow `name` in [0, end), and the arrival process's events
    besides them."""
    flow = scenario.workload[name]
    arrivals = flow.arrivals
    if flow.clients is not None:
        return end * _closed_throughput(scenario, flow.clients, flow.think_time, body), 0.0
    if isinstance(arrivals, PoissonArrivals):
        return arrivals.poisson * end, 0.0
    if isinstance(arrivals, ConstantArrivals):
        return float(math.floor(arrivals.constant * end)), 0.0
    if isinstance(arrivals, InterarrivalArrivals):
        mean = arrivals.interarrival.mean
        return (end / mean if mean > 0 else math.inf), 0.0
    if isinstance(arrivals, ProfileArrivals):
        total = 0.0
        changes = arrivals.profile
        for position, change in enumerate(changes):
            stop = changes[position + 1].at if position + 1 < len(changes) else end
            total += change.rate * max(min(stop, end) - min(change.at, end), 0.0)
        return total, 0.0
    if isinstance(arrivals, MmppArrivals):
        return arrivals.mmpp.mean_rate * end, 0.0
    if isinstance(arrivals, TraceArrivals):
        return _trace_count(arrivals.trace, end), 0.0
    if isinstance(arrivals, SinusoidArrivals):
        spec = arrivals.sinusoid
        requests = spec.integral(0.0, end)
        return requests, max((spec.mean + spec.amplitude) * end - requests, 0.0)
    raise TypeError(f"unknown arrivals {type(arrivals).__name__}")


def _trace_count(trace: TraceSpec, end: float) -> float:
    """Arrivals a trace replays in [0, end) (pure Python: `TraceSpec.count_between` without
    numpy)."""
    times = [time / trace.speed for time in trace.times]
    within = bisect.bisect_left(times, end)
    if not trace.repeat:
        return float(within)
    length = times[-1]
    loops = math.floor(end / length)
    rest = end - loops * length
    return float(loops * len(times) + bisect.bisect_left(times, rest))


def _closed_throughput(scenario: Scenario, clients: int, think: object, body: Cost) -> float:
    """An upper bound of a closed flow's throughput: clients / (think time + the body's time
    without waiting), and workers / demand at every blocking service it holds."""
    think_mean = getattr(think, "mean", 0.0) if think is not None else 0.0
    cycle = think_mean + body.time
    bound = clients / cycle if cycle > 0 else math.inf
    for service_name, demand in body.demand.items():
        service = scenario.services[service_name]
        if demand <= 0 or isinstance(service.workers, str):
            continue
        replicas = service.autoscale.max if service.autoscale is not None else service.replicas
        bound = min(bound, replicas * service.workers / demand)
    return bound


def _event_problems(scenario: Scenario, estimate: EventEstimate, limit: int) -> list[Problem]:
    """The event load against the budget: one problem, at the flow that makes the most."""
    total = estimate.total
    if total <= limit:
        return []
    busiest = max(estimate.flows.items(), key=lambda item: item[1].events, default=None)
    if busiest is None or estimate.other >= busiest[1].events:
        path = "simulation.sample_interval"
        detail = (
            f"{_count(estimate.other)} of them sampling the time series, deciding "
            f"autoscaling and crashing replicas"
        )
    else:
        name, load = busiest
        path = f"workload.{name}"
        detail = (
            f"this flow makes about {_count(load.requests)} requests in {estimate.end:g} s "
            f"(warm-up and duration), each about {load.per_request:.3g} events (its arrival, "
            f"its steps that take time and those of the messages it causes)"
        )
    raise_to = int(float(_round_up(total * 1.5))) if math.isfinite(total) else 0
    return [
        Problem(
            path,
            f"the run would take about {_count(total)} simulation events per replication "
            f"({_cpu(total)} of CPU), more than the event budget of {limit:,}: {detail}; "
            f"shorten simulation.duration or lower the load, or raise the budget at run time "
            f"with --max-events {raise_to} (0: no limit)",
        )
    ]


def _count(value: float) -> str:
    """A large expected count for a person: three significant digits, with separators.

    >>> _count(60_012_345.6), _count(1234.5), _count(3.2e21)
    ('60,000,000', '1,230', '3.2e+21')
    """
    if not math.isfinite(value):
        return "infinitely many"
    if value >= 1e15:
        return f"{value:.3g}"
    return f"{round(float(f'{value:.3g}')):,}"


def _cpu(events: float) -> str:
    """Roughly how long `events` take, for a person."""
    if not math.isfinite(events):
        return "for ever"
    seconds = events * SECONDS_PER_EVENT
    if seconds < 1:
        return "under a second"
    if seconds < 120:
        return f"about {seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"about {seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"about {seconds / 3600:.0f} h"
    return f"about {seconds / 86400:.0f} days"
