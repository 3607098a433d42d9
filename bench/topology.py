"""Scenario dicts for the benchmarks: a fixed mixed topology and generated ones of any size.

- `mixed_topology(duration, seed)`: 32 services of a shop (gateway, backends for frontends,
  databases, third-party APIs), 3 open flows of 100 requests/s in all, synchronous calls,
  `parallel` and `branch` steps, a log topic and a queue topic each fanned out to 3 consumer
  groups, two more topics with one group each; every station and group at about 30-60%
  utilization.
- `generated_topology(services, duration, seed)`: N services (10 to 1000 and beyond), one
  replica each, deterministic from the seed; a random tree of synchronous calls and topics
  (each service is reached from exactly one parent, by a call or through a topic the parent
  publishes to) plus a few second callers of called services (shared dependencies);
  every station is sized for a moderate utilization from the rates the structure gives it
  (simulated: about 0.15-0.65, median 0.38, for every size tried from 10 to 1000).

Both return plain dicts in archsim's scenario language (`models.load_scenario` takes them).
Run this file to simulate generated topologies (200 s each by default) and print the range
of their utilizations, as a check:

    python3 bench/topology.py --services 10 50 500 1000
"""

from __future__ import annotations

import argparse
import math
import random
from dataclasses import dataclass, field
from typing import Any

MIXED_ARRIVAL_RATE = 100.0
"""Flow arrivals per second of `mixed_topology`, all flows together."""


def _call(service: str, probability: float = 1.0) -> dict[str, Any]:
    """A `call` step, with a probability below 1 only when given."""
    if probability >= 1.0:
        return {"call": service}
    return {"call": {"service": service, "probability": probability}}


def _work(mean: str) -> dict[str, Any]:
    return {"work": {"exponential": mean}}


def _leaf(operation: str, mean: str, workers: int | str = 1) -> dict[str, Any]:
    """A service with one operation that only works (a database, a cache, a model)."""
    return {"workers": workers, "operations": {operation: [_work(mean)]}}


def mixed_topology(duration: float, seed: int) -> dict[str, Any]:
    """The 32-service mixed topology, run for `duration` simulated seconds.

    Flows (Poisson): browse 60/s, search 25/s, checkout 15/s. Topics: `page-viewed` (log, 4
    partitions; analytics), `order-placed` (log, 6 partitions; payment, inventory and
    analytics), `payment-done` (queue; shipping, notifications, ledger), `shipment-created`
    (queue; tracking)."""
    services: dict[str, Any] = {
        "gateway": {
            "replicas": 2,
            "workers": 8,
            "operations": {
                "browse": [_work("0.5ms"), _call("auth"), _call("bff")],
                "search": [_work("0.5ms"), _call("auth"), _call("search")],
                "checkout": [_work("0.5ms"), _call("auth"), _call("cart"), _call("orders")],
            },
        },
        "auth": _leaf("verify", "4ms"),
        "bff": {
            "replicas": 2,
            "workers": 3,
            "operations": {
                "page": [
                    _work("2ms"),
                    {
                        "parallel": [
                            [_call("catalog")],
                            [_call("pricing")],
                            [_call("reviews"), _call("profile")],
                        ]
                    },
                    {
                        "branch": [
                            {"probability": 0.3, "steps": [_call("recommendations")]},
                            {"probability": 0.7, "steps": []},
                        ]
                    },
                    {"publish": "page-viewed"},
                ]
            },
        },
        "catalog": {
            "workers": 2,
            "operations": {
                "get": [
                    _work("5ms"),
                    _call("catalog-cache"),
                    {
                        "branch": [
                            {"probability": 0.25, "steps": [_call("catalog-db")]},
                            {"probability": 0.75, "steps": []},
                        ]
                    },
                ]
            },
        },
        "catalog-cache": _leaf("get", "4ms"),
        "catalog-db": _leaf("read", "20ms"),
        "pricing": {"workers": 2, "operations": {"quote": [_work("4ms"), _call("pricing-db")]}},
        "pricing-db": _leaf("read", "6ms"),
        "reviews": {"workers": 2, "operations": {"list": [_work("3ms"), _call("reviews-db")]}},
        "reviews-db": _leaf("read", "6ms"),
        "profile": {"workers": 2, "operations": {"get": [_work("3ms"), _call("profile-db")]}},
        "profile-db": _leaf("read", "5ms"),
        "recommendations": {
            "workers": 2,
            "operations": {"suggest": [_work("5ms"), _call("ml-model")]},
        },
        "ml-model": _leaf("infer", "25ms"),
        "search": {
            "workers": 3,
            "operations": {
                "query": [_work("6ms"), _call("search-index"), _call("catalog", 0.5)],
            },
        },
        "search-index": _leaf("lookup", "20ms"),
        "cart": {"operations": {"get": [_work("4ms"), _call("cart-db")]}},
        "cart-db": _leaf("read", "20ms"),
        "orders": {
            "workers": 3,
            "operations": {
                "create": [
                    _work("5ms"),
                    _call("fraud"),
                    _call("orders-db"),
                    {"publish": "order-placed"},
                ]
            },
        },
        "fraud": _leaf("check", "30ms"),
        "orders-db": _leaf("write", "25ms"),
        # consumers of order-placed
        "payment": {
            "operations": {
                "charge": [_work("10ms"), _call("payment-api"), {"publish": "payment-done"}]
            }
        },
        "payment-api": {
            "workers": "unlimited",
            "operations": {"charge": [{"delay": {"lognormal": {"mean": "80ms", "cv": 0.5}}}]},
        },
        "inventory": {"operations": {"reserve": [_work("10ms"), _call("inventory-db")]}},
        "inventory-db": _leaf("write", "20ms"),
        "analytics": {
            "operations": {"track": [_work("8ms")], "record": [_work("20ms")]},
        },
        # consumers of payment-done and shipment-created
        "shipping": {
            "operations": {
                "ship": [_work("10ms"), _call("warehouse"), {"publish": "shipment-created"}]
            }
        },
        "warehouse": _leaf("pick", "25ms"),
        "notifications": {"operations": {"notify": [_work("5ms"), _call("email-api")]}},
        "email-api": {
            "workers": "unlimited",
            "operations": {"send": [{"delay": {"exponential": "100ms"}}]},
        },
        "ledger": {"operations": {"post": [_work("10ms"), _call("ledger-db")]}},
        "ledger-db": _leaf("write", "25ms"),
        "tracking": {"operations": {"update": [_work("30ms")]}},
    }
    topics: dict[str, Any] = {
        "page-viewed": {
            "partitions": 4,
            "subscribers": {"analytics": "track"},
        },
        "order-placed": {
            "partitions": 6,
            "subscribers": {
                "payment": {"operation": "charge", "concurrency": 3},
                "inventory": "reserve",
                "analytics": "record",
            },
        },
        "payment-done": {
            "type": "queue",
            "subscribers": {
                "shipping": "ship",
                "notifications": {"operation": "notify", "concurrency": 4},
                "ledger": {"operation": "post", "concurrency": 2},
            },
        },
        "shipment-created": {"type": "queue", "subscribers": {"tracking": "update"}},
    }
    return {
        "name": "bench-mixed",
        "simulation": {"duration": duration, "seed": seed},
        "services": services,
        "topics": topics,
        "workload": {
            "browse": {"entry": "gateway.browse", "arrivals": {"poisson": 60.0}},
            "search": {"entry": "gateway.search", "arrivals": {"poisson": 25.0}},
            "checkout": {"entry": "gateway.checkout", "arrivals": {"poisson": 15.0}},
        },
    }


# ---------------------------------------------------------------------- generated topologies


@dataclass
class _Node:
    """One generated service while the topology is being built."""

    index: int
    calls: list[int] = field(default_factory=list)  # callees, in the order of the steps
    subscribers: list[int] = field(default_factory=list)  # services consuming its topic
    via_topic: bool = False  # reached through its parent's topic (a consumer group)
    rate: float = 0.0  # requests (or messages) per second
    steps: list[dict[str, Any]] = field(default_factory=list)
    hold: float = 0.0  # mean time a worker (or consumer thread) is held
    response: float = 0.0  # mean time from arrival to the end, waiting included
    servers: int = 1  # workers, or consumer threads


def _name(index: int) -> str:
    return f"s{index:04d}"


def _topic(index: int) -> str:
    return f"t{index:04d}"


def _mmc_wait(hold: float, utilization: float, servers: int) -> float:
    """Mean wait in an M/M/c queue, roughly (Sakasegawa's approximation)."""
    exponent = math.sqrt(2.0 * (servers + 1)) - 1.0
    return hold * float(utilization**exponent) / (servers * (1.0 - utilization))


def _divisor_at_least(value: int, of: int) -> int:
    """The smallest divisor of `of` that is >= value (`of` if none)."""
    for candidate in range(max(1, value), of + 1):
        if of % candidate == 0:
            return candidate
    return of


LOG_PARTITIONS = 12
"""Partitions of every generated log topic (divisible by 1, 2, 3, 4, 6 consumers)."""


def generated_topology(
    services: int,
    duration: float,
    seed: int,
    *,
    flow_rate: float = 10.0,
    services_per_flow: int = 25,
) -> dict[str, Any]:
    """A scenario of `services` services, run for `duration` seconds, made from `seed`.

    Services s0000 ... are built in index order. The first max(1, services //
    services_per_flow) are the entries of open Poisson flows of `flow_rate` each. Every
    other service has one parent of lower index: with probability 0.7 the parent calls it,
    else it consumes the parent's topic (t<parent>, a log topic of 12 partitions or a queue
    topic; several children of one parent make a fan-out to several consumer groups). One
    called service in 8 is also called by a second parent (a shared dependency). A parent's
    calls are sequential (some with probability 0.5-1), grouped in a `parallel` step or
    made alternatives of a `branch` step. Rates follow from that structure; each service's
    own work is then sized for a target utilization drawn in [0.3, 0.6] (a fifth to two
    thirds of it on a service that calls others), and its workers or consumer threads from
    the time they are held, children's responses included (M/M/c approximations: the
    simulated utilizations come out about 0.15-0.65). Sync calls go from lower to higher
    indices, so they never form a cycle.
    """
    if services < 1:
        raise ValueError(f"services must be >= 1 (got {services})")
    rng = random.Random(seed)
    flows = max(1, services // services_per_flow)
    nodes = [_Node(index) for index in range(services)]
    for node in nodes[flows:]:
        parent = nodes[rng.randrange(node.index)]
        if rng.random() < 0.7:
            parent.calls.append(node.index)
        else:
            parent.subscribers.append(node.index)
            node.via_topic = True
        if not node.via_topic and node.index > flows and rng.random() < 0.125:
            second = nodes[rng.randrange(node.index)]
            if second.index != parent.index and node.index not in second.calls:
                second.calls.append(node.index)
    for node in nodes[:flows]:
        node.rate = flow_rate
    topic_types: dict[int, str] = {}
    # forward pass: steps and rates (every caller has a lower index than its callees)
    for node in nodes:
        node.steps, shares = _steps_of(node, rng)
        for callee, share in shares:
            nodes[callee].rate += node.rate * share
        if node.subscribers:
            topic_types[node.index] = "log" if rng.random() < 0.5 else "queue"
            for subscriber in node.subscribers:
                nodes[subscriber].rate += node.rate
    # backward pass: own work, hold times, servers, responses (callees first)
    works: dict[int, dict[str, Any]] = {}
    for node in reversed(nodes):
        target = rng.uniform(0.3, 0.6)
        downstream = _downstream_time(node, nodes)
        own_share = target if not node.calls else target * rng.uniform(0.2, 0.67)
        rate = max(node.rate, 1e-9)
        work_mean = own_share / rate
        node.hold = work_mean + downstream
        servers = max(1, math.ceil(rate * node.hold / target))
        if node.via_topic and topic_types.get(_parent_of(node, nodes)) == "log":
            servers = _divisor_at_least(servers, LOG_PARTITIONS)
        node.servers = servers
        utilization = min(rate * node.hold / servers, 0.95)
        node.response = node.hold + _mmc_wait(node.hold, utilization, servers)
        works[node.index] = _distribution(work_mean, rng)
    return _scenario(nodes, flows, topic_types, works, duration, seed, flow_rate)


def _steps_of(
    node: _Node, rng: random.Random
) -> tuple[list[dict[str, Any]], list[tuple[int, float]]]:
    """The steps calling `node`'s callees (own work is inserted later), and the share of
    `node`'s requests that reaches each callee."""
    steps: list[dict[str, Any]] = []
    shares: list[tuple[int, float]] = []
    pending = list(node.calls)
    while pending:
        shape = rng.random()
        if len(pending) >= 2 and shape < 0.25:
            width = min(len(pending), rng.choice((2, 3)))
            group, pending = pending[:width], pending[width:]
            steps.append({"parallel": [[_call(_name(callee))] for callee in group]})
            shares += [(callee, 1.0) for callee in group]
        elif len(pending) >= 2 and shape < 0.4:
            (first, second), pending = pending[:2], pending[2:]
            probability = rng.choice((0.5, 0.7, 0.8))
            steps.append(
                {
                    "branch": [
                        {"probability": probability, "steps": [_call(_name(first))]},
                        {"probability": round(1 - probability, 2), "steps": [_call(_name(second))]},
                    ]
                }
            )
            shares += [(first, probability), (second, round(1 - probability, 2))]
        else:
            callee, pending = pending[0], pending[1:]
            probability = rng.choice((1.0, 1.0, 0.8, 0.5))
            steps.append(_call(_name(callee), probability))
            shares.append((callee, probability))
    if node.subscribers:
        steps.append({"publish": _topic(node.index)})
    return steps, shares


def _parent_of(node: _Node, nodes: list[_Node]) -> int:
    """The index of the service whose topic `node` consumes."""
    for candidate in nodes[: node.index]:
        if node.index in candidate.subscribers:
            return candidate.index
    raise ValueError(f"{_name(node.index)} consumes no topic")


def _downstream_time(node: _Node, nodes: list[_Node]) -> float:
    """Mean time `node` waits for its callees' replies (from its steps)."""
    total = 0.0
    for step in node.steps:
        if "call" in step:
            call = step["call"]
            if isinstance(call, str):
                total += nodes[int(call[1:])].response
            else:
                total += call["probability"] * nodes[int(call["service"][1:])].response
        elif "parallel" in step:
            times = sorted(
                nodes[int(branch[0]["call"][1:])].response for branch in step["parallel"]
            )
            total += times[-1] + 0.5 * sum(times[:-1])  # the max of a few, roughly
        elif "branch" in step:
            for option in step["branch"]:
                callee = nodes[int(option["steps"][0]["call"][1:])]
                total += option["probability"] * callee.response
    return total


def _distribution(mean: float, rng: random.Random) -> dict[str, Any]:
    """A work distribution of `mean` seconds: mostly exponential, some others."""
    shape = rng.random()
    if shape < 0.6:
        return {"exponential": mean}
    if shape < 0.8:
        return {"lognormal": {"mean": mean, "cv": round(rng.uniform(0.5, 1.5), 2)}}
    if shape < 0.9:
        return {"erlang": {"k": 2, "mean": mean}}
    return {"gamma": {"mean": mean, "cv": round(rng.uniform(0.5, 1.2), 2)}}


def _scenario(
    nodes: list[_Node],
    flows: int,
    topic_types: dict[int, str],
    works: dict[int, dict[str, Any]],
    duration: float,
    seed: int,
    flow_rate: float,
) -> dict[str, Any]:
    """The scenario dict of the built nodes."""
    services: dict[str, Any] = {}
    for node in nodes:
        service: dict[str, Any] = {"operations": {"op": [{"work": works[node.index]}, *node.steps]}}
        if not node.via_topic and node.servers > 1:
            service["workers"] = node.servers
        services[_name(node.index)] = service
    topics: dict[str, Any] = {}
    for index, kind in topic_types.items():
        subscribers: dict[str, Any] = {}
        for subscriber in nodes[index].subscribers:
            threads = nodes[subscriber].servers
            subscribers[_name(subscriber)] = (
                "op" if threads == 1 else {"operation": "op", "concurrency": threads}
            )
        topic: dict[str, Any] = {"subscribers": subscribers}
        if kind == "log":
            topic["partitions"] = LOG_PARTITIONS
        else:
            topic["type"] = "queue"
        topics[_topic(index)] = topic
    workload = {
        f"flow{index:03d}": {"entry": _name(index), "arrivals": {"poisson": flow_rate}}
        for index in range(flows)
    }
    return {
        "name": f"generated-{len(nodes)}",
        "simulation": {"duration": duration, "seed": seed},
        "services": services,
        "topics": topics,
        "workload": workload,
    }


def main() -> None:
    """Validate generated topologies, simulate them and print their utilizations."""
    parser = argparse.ArgumentParser(description="Check generated benchmark topologies.")
    parser.add_argument("--services", type=int, nargs="+", default=[10, 50, 100, 500, 1000])
    parser.add_argument("--duration", type=float, default=200.0, help="simulated seconds")
    parser.add_argument("--seed", type=int, default=1)
    arguments = parser.parse_args()
    from models import load_scenario
    from sim import simulate

    for count in arguments.services:
        document = generated_topology(count, arguments.duration, arguments.seed)
        document["simulation"]["warmup"] = arguments.duration / 10
        results = simulate(load_scenario(document), replications=1).to_dict()
        utilizations = {
            name: station["utilization"]
            for name, station in results["services"].items()
            if station["throughput"] > 0 and station["utilization"] is not None
        }
        for topic_name, topic in results["topics"].items():
            for group_name, group in topic["groups"].items():
                utilizations[f"{topic_name}/{group_name}"] = group["utilization"]
        ordered = sorted(utilizations.values())
        hot = {name: round(value, 2) for name, value in utilizations.items() if value > 0.75}
        arrived = sum(flow["arrived"] for flow in results["flows"].values())
        completion = max(flow["completion_time"]["mean"] for flow in results["flows"].values())
        print(
            f"{count:5d} services: {len(document['topics'])} topics, "
            f"{len(document['workload'])} flows, {arrived:.0f} requests; utilization of "
            f"{len(ordered)} stations and groups: min {ordered[0]:.2f}, median "
            f"{ordered[len(ordered) // 2]:.2f}, max {ordered[-1]:.2f}; slowest flow's mean "
            f"completion {completion:.3f} s; above 0.75: {hot or 'none'}"
        )


if __name__ == "__main__":
    main()
