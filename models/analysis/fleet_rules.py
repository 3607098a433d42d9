"""What an HPA rule decides at a steady state: the count it asks for, seeing a service's
busy workers (`utilization`) or its mean requests waiting, and in service (`queue_length`,
`in_system`), and whether a rule on the lengths holds the count it settles at
(models/autoscale.py; the simulator's rules: sim/engine/autoscaling.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from models.analysis.prediction import PredictedService, Prediction
from models.autoscale import ServiceAutoscale
from models.schema import Scenario


def with_fleet(scenario: Scenario, counts: Mapping[str, int]) -> Scenario:
    """`scenario` with the services of `counts` at those replicas, without autoscaling."""
    services = dict(scenario.services)
    for name, count in counts.items():
        services[name] = services[name].model_copy(update={"replicas": count, "autoscale": None})
    return scenario.model_copy(update={"services": services})


def workers_per_replica(scenario: Scenario, name: str) -> int:
    """The workers of one replica of autoscaled service `name` (a finite pool)."""
    workers = scenario.services[name].workers
    assert isinstance(workers, int)
    return workers


def busy_workers(service: PredictedService, count: int, workers: int) -> float | None:
    """The busy workers of a service run with `count` replicas (None: no steady state)."""
    if not service.stable or service.utilization is None:
        return None
    return service.utilization * count * workers


def asks(rule: ServiceAutoscale, service: PredictedService, count: int, workers: int) -> int:
    """What the rule asks for at the steady state `service` of `count` replicas: from its
    busy workers (saturated: all of them, as the HPA sees them), or from its mean requests
    waiting (and in service, for `in_system`; saturated: its queue grows, up to `max`)."""
    if rule.metric != "utilization":
        length = service.in_system if rule.metric == "in_system" else service.queue_length
        present = length.mean
        if not service.stable or present is None:
            return rule.max
        desired = math.ceil(present / rule.target - 1e-9)
        return min(max(desired, rule.min), rule.max)
    busy = busy_workers(service, count, workers)
    seen = count * workers if busy is None else busy
    desired = math.ceil(seen / (workers * rule.target) - 1e-9)
    return min(max(desired, rule.min), rule.max)


def holds(
    scenario: Scenario,
    rule: ServiceAutoscale,
    name: str,
    counts: Mapping[str, int],
    prediction: Prediction,
    at: Callable[[Mapping[str, int]], Prediction],
) -> bool:
    """Whether a rule on the lengths holds its settled count n under a steady load (`at`:
    the prediction at that load with the fleet given): it asks for n at n, for n again at
    n + 1 (a replica more, which noise or a transient brings, goes once the window lets
    it) and for n or n + 1 at n - 1 (a replica fewer comes back at once). Its queue
    shrinks as its count grows; where one replica more shortens it enough to ask for fewer
    than n, or one fewer lengthens it past n + 1, the count swings, as the simulation's
    noise drives it (140/s of 20 ms on one worker a replica, `queue_length` target 5: 3
    replicas hold a queue of 12.3, 4 of 1.0, which asks for 1; simulated, 4.95 replicas on
    average and a queue of 145), and is not predicted."""
    workers = workers_per_replica(scenario, name)
    count = counts[name]
    if asks(rule, prediction.services[name], count, workers) != count:
        return False
    for other, lowest, highest in ((count + 1, count, count), (count - 1, count, count + 1)):
        if not rule.min <= other <= rule.max:
            continue
        around = at({**counts, name: other})
        if not lowest <= asks(rule, around.services[name], other, workers) <= highest:
            return False
    return True
