"""A random call graph of the regression set after Alibaba's 2021 traces: j5.

`alibaba_like` draws the graph from its seed (`random.Random`, its own stream) and sizes
every pool with the analysis' network solver (`_size_servers`, through `probe`), so that
the same seed and the same solver give the same document.

The builder's docstring are copied into the files' header comments by `--generate`
(`generate.header`): editing it changes the generated scenario files.
"""

from __future__ import annotations

import copy
import math
import random
from collections.abc import Iterable
from typing import Any

from .blocks import branch, call, exp, lognormal, open_flow, parallel, publish, service, work
from .probe import solve_spec


def alibaba_like(seed: int = 15, services_count: int = 48) -> dict[str, Any]:
    """A random call graph with the traits of Alibaba's 2021 microservice traces (Luo et al.,
    SoCC 2021): a few entry services, a stateless tier of shared services called by many
    entries (popularity is Zipf-like), calls mostly to caches (memcached: hits fast, a miss
    goes to a database) and databases, heavy-tailed fan-out, shallow trees (depth <= 4),
    some parallel fan-outs and a few asynchronous (MQ) calls; the stateless services are
    Java-like thread pools, some async-I/O."""
    rng = random.Random(seed)
    entries = 4
    stateless = services_count - entries - 16  # 16 stores: 8 caches, 8 databases
    caches = [f"mc-{index}" for index in range(8)]
    databases = [f"db-{index}" for index in range(8)]
    names = [f"entry-{index}" for index in range(entries)] + [
        f"svc-{index:02d}" for index in range(stateless)
    ]
    specs: dict[str, dict[str, list[dict[str, Any]]]] = {name: {} for name in names}
    topics: dict[str, Any] = {}

    def lognormal_ms(low: float, high: float) -> dict[str, Any]:
        return lognormal(round(rng.uniform(low, high), 2), round(rng.uniform(0.6, 1.6), 2))

    def pick_service(after: int) -> int:
        """A stateless service of index > after, popular ones (low index) preferred."""
        choices = list(range(max(after + 1, entries), len(names)))
        weights = [1.0 / (1 + index - choices[0]) ** 0.8 for index in choices]
        return rng.choices(choices, weights)[0]

    def store_call() -> list[dict[str, Any]]:
        if rng.random() < 0.7:
            cache = rng.choice(caches)
            miss = rng.choice((0.05, 0.1, 0.2, 0.3))
            return [
                call(f"{cache}.get"),
                branch((round(1 - miss, 2), []), (miss, [call(f"{rng.choice(databases)}.read")])),
            ]
        return [call(f"{rng.choice(databases)}.{rng.choice(('read', 'write'))}")]

    counter = [0]

    def operation(index: int, depth: int) -> str:
        """A new operation of service `index` (its callees built first); its name."""
        counter[0] += 1
        op = f"op{counter[0]}"
        children = min(6, int(rng.paretovariate(1.6))) if depth < 4 else 0
        if depth == 0:
            children = max(children, 2)
        steps: list[dict[str, Any]] = [work(lognormal_ms(0.3, 1.5))]
        pending: list[list[dict[str, Any]]] = []
        for _ in range(children):
            if rng.random() < 0.45 and index + 1 < len(names) - 1:
                callee = pick_service(index)
                child = operation(callee, depth + 1)
                pending.append([call(f"{names[callee]}.{child}", rng.choice((1.0, 1.0, 0.5)))])
            else:
                pending.append(store_call())
        while pending:
            if len(pending) >= 2 and rng.random() < 0.3:
                width = min(len(pending), rng.choice((2, 3)))
                group, pending = pending[:width], pending[width:]
                steps.append(parallel(*group))
            else:
                steps.extend(pending.pop(0))
        if rng.random() < 0.1 and depth <= 2 and index + 1 < len(names) - 1:
            consumer = pick_service(index)
            handler = operation(consumer, 3)
            topic = f"mq-{len(topics)}"
            topics[topic] = {
                "type": "queue",
                "subscribers": {names[consumer]: {"operation": handler, "concurrency": 4}},
            }
            steps.append(publish(topic))
        specs[names[index]][op] = steps
        return op

    workload: dict[str, Any] = {}
    rates = (1000.0, 500.0, 300.0, 200.0)
    for index in range(entries):
        for flow in range(2):
            op = operation(index, 0)
            workload[f"{names[index]}-{flow}"] = open_flow(
                f"{names[index]}.{op}", rates[index] / (flow + 1)
            )
    services: dict[str, Any] = {}
    for position, name in enumerate(names):
        if not specs[name]:
            continue
        async_io = rng.random() < 0.25 and position >= entries
        workers = rng.choice((2, 4)) if async_io else rng.choice((8, 16, 32))
        options: dict[str, Any] = {"_blocking": False} if async_io else {}
        options.update(specs[name])
        services[name] = service(workers, **options)
    for cache in caches:
        services[cache] = {
            "workers": 2,
            "balancing": "shared",
            "operations": {"get": [work(exp(round(rng.uniform(0.15, 0.4), 2)))]},
        }
    for database in databases:
        services[database] = {
            "workers": rng.choice((2, 4, 8)),
            "balancing": "shared",
            "operations": {
                "read": [work(lognormal_ms(1.5, 4.0))],
                "write": [work(lognormal_ms(3.0, 6.0))],
            },
        }
    used = _called_services(services, workload, topics)
    services = {name: spec for name, spec in services.items() if name in used}
    document = {"services": services, "topics": topics, "workload": workload}
    _size_servers(document, rng)
    return document


def _size_servers(spec: dict[str, Any], rng: random.Random) -> None:
    """Give every service (and consumer group) servers for a utilization drawn in
    [0.25, 0.7] at the flows' rates, from the busy servers it needs without any waiting
    (the analysis' network solver with every pool unlimited; `--generate` only)."""
    probe = copy.deepcopy(spec)
    for service_spec in probe["services"].values():
        service_spec["workers"] = "unlimited"
        service_spec.pop("balancing", None)
    for topic in probe["topics"].values():
        for subscriber in topic["subscribers"].values():
            subscriber["concurrency"] = 1000
    solution = solve_spec(probe)
    for name, service_spec in spec["services"].items():
        offered = solution.services[name].solution.offered_load
        if service_spec.get("workers") == "unlimited" or offered <= 0:
            continue
        service_spec["workers"] = max(1, math.ceil(offered / rng.uniform(0.25, 0.7)))
    for topic_name, topic in spec["topics"].items():
        for group, subscriber in topic["subscribers"].items():
            station = solution.groups[(topic_name, group)]
            offered = sum(consumer.offered_load for _, consumer in station.consumers)
            subscriber["concurrency"] = max(1, math.ceil(offered / rng.uniform(0.25, 0.7)))


def _called_services(
    services: dict[str, Any], workload: dict[str, Any], topics: dict[str, Any]
) -> set[str]:
    """The services a flow, a call or a subscription reaches."""
    used = {flow["entry"].split(".")[0] for flow in workload.values()}
    for topic in topics.values():
        used.update(topic["subscribers"])

    def walk(steps: Iterable[dict[str, Any]]) -> None:
        for step in steps:
            if "call" in step:
                target = step["call"]
                used.add(target.split(".")[0] if isinstance(target, str) else target["service"])
            for key in ("parallel",):
                for inner in step.get(key, []):
                    walk(inner)
            for option in step.get("branch", []):
                walk(option["steps"])

    for spec in services.values():
        for steps in spec["operations"].values():
            walk(steps)
    return used
