"""What the prediction makes of the autoscaling it does not predict: the warnings.

A service scaled on utilization, or on a length that holds its count, under a steady load,
a profile or a sinusoid is predicted at the replicas its rule runs (`models.analysis.fleet`).
Every other autoscaled service or consumer group (rules on lag, a length that swings, or
any rule under bursts, traces or faults) is predicted at its starting count (a service's
`replicas`, a group's replicas x concurrency consumer threads), as if the autoscaler never
acted. Each one gets a warning that says so, and, for a service scaled on utilization, the
count its rule asks for at the predicted load: the HPA's desired count is ceil(busy
workers / (workers per replica x target)) within [min, max] (`models.autoscale`), and the
busy workers, its offered load, do not depend on how many replicas share them.
"""

from __future__ import annotations

import math

from models.analysis.graph import consumer_threads, workers_of
from models.analysis.network import NetworkSolution
from models.schema import Scenario


def autoscale_warnings(scenario: Scenario, solution: NetworkSolution) -> list[str]:
    """One warning per autoscaled service and consumer group (module docstring)."""
    found = []
    for name, spec in scenario.services.items():
        rule = spec.autoscale
        if rule is None:
            continue
        text = (
            f"service '{name}' autoscales ({rule.metric}, target {rule.target:g}, "
            f"{rule.min}-{rule.max} replicas): predicted at its starting {spec.replicas} "
            f"replica{'s' if spec.replicas != 1 else ''} (autoscaling is not predicted)"
        )
        station = solution.services.get(name)
        workers = workers_of(spec)
        if rule.metric != "utilization":
            text += (
                f"; a rule on {rule.metric} is predicted where it holds its count (one replica "
                f"more or fewer brings it back) under a steady load, a profile or a sinusoid"
            )
        if rule.metric == "utilization" and station is not None and workers is not None:
            if station.solution.stable:
                busy = station.solution.offered_load * station.pools
                wanted = math.ceil(busy / (workers * rule.target) - 1e-9)
                count = min(max(wanted, rule.min), rule.max)
                text += f"; at this load its rule asks for {count}"
            else:
                text += f"; overloaded at that count, its rule would scale it up to {rule.max}"
        found.append(text)
    for topic_name, topic in scenario.topics.items():
        for group, subscriber in topic.subscribers.items():
            lag_rule = subscriber.autoscale
            if lag_rule is None:
                continue
            threads = consumer_threads(scenario, topic_name, group)
            found.append(
                f"consumer group '{group}' on topic '{topic_name}' autoscales (lag, target "
                f"{lag_rule.target:g}, {lag_rule.min}-{lag_rule.max} consumers): predicted at "
                f"its starting {threads} consumer thread{'s' if threads != 1 else ''} "
                f"(autoscaling is not predicted)"
            )
    return found
