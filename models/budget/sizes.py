"""Size limits: what a run can hold in memory and in time.

Replications, replicas, consumer threads, partitions, keys, clients, retries, message
attempts and publish counts beyond what a run can hold are refused (`size_problems`, for
the file as written), and so are time series of more rows than fit in memory
(`run_size_problems`, for the run as asked). Pure Python.
"""

from __future__ import annotations

import math

from models.errors import Problem
from models.references import uses_failures, walk_steps
from models.schema import CallStep, PublishStep, Scenario, Step

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


def size_problems(scenario: Scenario) -> list[Problem]:
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


def timeseries_samples(scenario: Scenario) -> int:
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


def run_size_problems(scenario: Scenario, replications: int, overridden: bool) -> list[Problem]:
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
    samples = timeseries_samples(scenario)
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
            f"{round_up(fits)} s (got {settings.resolved_sample_interval:g} s)",
        )
    ]


def round_up(value: float) -> str:
    """`value` rounded up to two significant digits, as text."""
    if value <= 0 or not math.isfinite(value):
        return f"{value:g}"
    scale = 10 ** (math.floor(math.log10(value)) - 1)
    return f"{math.ceil(value / scale - 1e-9) * scale:.2g}"
