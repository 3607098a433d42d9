"""Traffic equations: how often each operation runs and each topic gets a message.

Every node of the operation graph (see `models.analysis.graph`) runs a number of times per
request of a flow (its *visit count*): the flow's body once; a called operation once per
call attempt (call probabilities, branch probabilities, parallel branches, retries and
the steps skipped after a failed call all enter through the callers' summaries); a handler
once per message of its topic (fan-out: every group gets every message), and a topic gets
`probability x count` messages per publish step reached. With v the vector of visit counts
and A[i, j] the expected runs of node j caused directly by one run of node i, the traffic
equations are v = e_flow + A^T v, solved as (I - A^T) v = e_flow — one right-hand side per
flow. Cycles through topics (feedback) are fine as long as the spectral radius of A is
below 1; otherwise messages multiply without end (a *message storm*).

A consumer group whose handler fails with probability p and whose subscriber allows
`max_attempts` m runs it E[attempts] = (1 - p^m) / (1 - p) times per message (the same
truncated geometric series as call retries); the p^m messages whose last attempt failed go
to its `dead_letter` topic, if any (an edge of weight p^m from the topic to that topic).

Partitions: messages of the topic's default rule spread evenly (random, round robin) or by
key popularity (Zipf weights 1/(k+1)^skew, key k to partition k mod partitions); a fixed
key on a publish step sends all its messages to one partition.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import spsolve

from models.analysis.graph import OpKey
from models.analysis.summary import OperationSummary
from models.schema import Topic

STORM_RADIUS = 1.0 - 1e-9
_K = TypeVar("_K")


class MessageStormError(ValueError):
    """The traffic equations have no finite solution: feedback through topics never dies."""


@dataclass(frozen=True)
class Traffic:
    """Visit counts per flow and the resulting rates (per second)."""

    visits: dict[str, dict[OpKey, float]]
    """Per flow: runs of each node per request of the flow."""
    topic_visits: dict[str, dict[str, float]]
    """Per flow: messages published to each topic per request."""
    rates: dict[OpKey, float]
    """Runs of each node per second, all flows together."""
    topic_rates: dict[str, float]
    """Messages published per second to each topic."""
    partition_rates: dict[str, dict[int | None, float]]
    """Per topic: messages per second by fixed partition (None = the topic's own rule)."""
    topic_events: dict[str, float] = field(default_factory=dict)
    """Per topic: publish steps taken per second by admitted runs (messages / events =
    the mean batch)."""


def solve_traffic(
    keys: Sequence[OpKey],
    summaries: Mapping[OpKey, OperationSummary],
    flow_rates: Mapping[str, float],
    topics: Mapping[str, Topic],
    admitted: Mapping[OpKey, float] | None = None,
) -> Traffic:
    """Solve the traffic equations for every flow; raise `MessageStormError` if they diverge.

    `admitted` is, per operation, the probability that a request for it is admitted by its
    station (1 - loss probability): only admitted requests run the operation's steps, so
    only they make its calls and publishes.
    """
    solved = solve_visits(keys, summaries, topics, admitted)
    return traffic_at(solved, keys, summaries, flow_rates, admitted)


@dataclass(frozen=True)
class Visits:
    """The traffic equations solved per request of each flow (`solve_visits`): what
    `traffic_at` turns into rates for any flows' rates (the visits do not depend on them)."""

    topics: Mapping[str, Topic]
    flows: list[OpKey]
    topic_nodes: list[tuple[str, int]]
    index: dict[OpKey | tuple[str, int], int]
    columns: list[list[float]]
    """Per flow: each node's visits (the nodes in `index`'s order)."""
    visits: dict[str, dict[OpKey, float]]
    topic_visits: dict[str, dict[str, float]]
    dead_letters: list[tuple[str, int, str, float]]


def solve_visits(
    keys: Sequence[OpKey],
    summaries: Mapping[OpKey, OperationSummary],
    topics: Mapping[str, Topic],
    admitted: Mapping[OpKey, float] | None = None,
) -> Visits:
    """The visits of each node per request of each flow (`solve_traffic`, without the
    flows' rates): x = (I - A^T)^-1 e_f for each flow f, A the direct visits."""
    admitted = admitted or {}
    priorities = {key.priority for key in keys}
    topic_nodes = sorted([(topic, priority) for priority in priorities for topic in topics])
    nodes: list[OpKey | tuple[str, int]] = [*keys, *topic_nodes]
    index = {node: i for i, node in enumerate(nodes)}
    size = len(nodes)
    direct = np.zeros((size, size))
    for key in keys:
        summary = summaries[key]
        row = index[key]
        share = admitted.get(key, 1.0)
        for target, count in summary.calls.items():
            direct[row, index[target]] += count * share
        for (topic, _), count in summary.publishes.items():
            direct[row, index[(topic, key.priority)]] += count * share
    dead_letters: list[tuple[str, int, str, float]] = []
    for topic, priority in topic_nodes:
        for group, subscriber in topics[topic].subscribers.items():
            handler = OpKey("handler", topic, group, priority)
            if handler in index:
                retried = subscriber.max_attempts > 1 or subscriber.dead_letter is not None
                fail = summaries[handler].fail if retried else 0.0
                runs = message_attempts(fail, subscriber.max_attempts) if retried else 1.0
                direct[index[(topic, priority)], index[handler]] = runs
                last_failed = fail**subscriber.max_attempts if fail > 0 else 0.0
                dead = subscriber.dead_letter
                if dead is not None and last_failed > 0 and (dead, priority) in index:
                    direct[index[(topic, priority)], index[(dead, priority)]] += last_failed
                    dead_letters.append((topic, priority, dead, last_failed))
    if size and _spectral_radius(direct) >= STORM_RADIUS:
        raise MessageStormError(
            "messages feed back through topics without dying out (every message leads to "
            "at least one more on average): the traffic equations have no finite solution"
        )
    flows = [key for key in keys if key.kind == "flow"]
    sources = np.zeros((size, len(flows)))
    for column, key in enumerate(flows):
        sources[index[key], column] = 1.0
    if size:
        solution = np.asarray(spsolve(_system(direct), sources)).reshape(size, len(flows))
    else:
        solution = sources
    solution = np.maximum(solution, 0.0)
    columns: list[list[float]] = solution.T.tolist()  # (per flow, the nodes' visits)
    visits: dict[str, dict[OpKey, float]] = {}
    topic_visits: dict[str, dict[str, float]] = {}
    for flow, visited in zip(flows, columns, strict=True):
        visits[flow.name] = dict(zip(keys, visited, strict=False))  # (keys: the first nodes)
        per_topic: dict[str, float] = defaultdict(float)
        for topic, priority in topic_nodes:
            per_topic[topic] += visited[index[(topic, priority)]]
        topic_visits[flow.name] = dict(per_topic)
    return Visits(topics, flows, topic_nodes, index, columns, visits, topic_visits, dead_letters)


def traffic_at(
    solved: Visits,
    keys: Sequence[OpKey],
    summaries: Mapping[OpKey, OperationSummary],
    flow_rates: Mapping[str, float],
    admitted: Mapping[OpKey, float] | None = None,
) -> Traffic:
    """The traffic of `solved`'s visits (solved from `summaries`' calls and publishes)
    with the flows arriving at `flow_rates`: each node's rate sums the flows' rates times
    their visits, and each topic's the rates of the operations that publish to it."""
    admitted, index = admitted or {}, solved.index
    rates: dict[OpKey, float] = defaultdict(float)
    for flow in solved.flows:
        flow_rate = flow_rates.get(flow.name, 0.0)
        for key, count in solved.visits[flow.name].items():
            rates[key] += flow_rate * count
    topics = solved.topics
    topic_rates: dict[str, float] = dict.fromkeys(topics, 0.0)
    topic_events: dict[str, float] = {}
    partition_rates: dict[str, dict[int | None, float]] = {topic: {} for topic in topics}
    for key in keys:
        for (topic, partition), count in summaries[key].publishes.items():
            rate = rates[key] * count * admitted.get(key, 1.0)
            topic_rates[topic] += rate
            by_partition = partition_rates[topic]
            by_partition[partition] = by_partition.get(partition, 0.0) + rate
        for topic, count in summaries[key].publish_events.items():
            events = rates[key] * count * admitted.get(key, 1.0)
            topic_events[topic] = topic_events.get(topic, 0.0) + events
    for topic, priority, dead, share in solved.dead_letters:
        rate = share * math.fsum(
            flow_rates.get(flow.name, 0.0) * visited[index[(topic, priority)]]
            for flow, visited in zip(solved.flows, solved.columns, strict=True)
        )
        topic_rates[dead] += rate
        partition_rates[dead][None] = partition_rates[dead].get(None, 0.0) + rate
    return Traffic(
        solved.visits,
        solved.topic_visits,
        dict(rates),
        topic_rates,
        partition_rates,
        topic_events,
    )


def _system(direct: np.ndarray) -> sparse.csc_matrix:
    """I - A^T for A = `direct` (square), in CSC form: its columns are the rows of I - A,
    whose CSR form the dense difference gives at once — the same entries (zeros dropped,
    indices sorted) as `sparse.identity(n) - sparse.csr_matrix(A).T` converted to CSC,
    without the sparse conversions and difference (tests/unit/test_traffic_system.py)."""
    size = direct.shape[0]
    rows = sparse.csr_matrix(np.identity(size) - direct)
    return sparse.csc_matrix((rows.data, rows.indices, rows.indptr), shape=(size, size))


def _spectral_radius(direct: np.ndarray) -> float:
    """The spectral radius of the non-negative matrix `direct`: the largest over its
    strongly connected components (the rest of a graph contributes only zero eigenvalues),
    each a small dense eigenvalue problem. Sparse graph code and small matrices: no
    multithreaded BLAS call on the whole matrix, which on a busy machine can take a
    hundred times longer than the arithmetic (the analysis solves this every round)."""
    graph = sparse.csr_matrix(direct)
    count, labels = connected_components(graph, directed=True, connection="strong")
    sizes = np.bincount(labels, minlength=count)
    # (only a component of several nodes, or one node with a loop, has a nonzero eigenvalue:
    # looking at those alone spares a pass over all nodes per component, most of them single)
    looped = np.flatnonzero(np.diagonal(direct) != 0.0)
    cyclic = set(np.flatnonzero(sizes > 1).tolist()) | set(labels[looped].tolist())
    radius = 0.0
    for component in sorted(cyclic):
        members = np.flatnonzero(labels == component)
        block = direct[np.ix_(members, members)]
        radius = max(radius, float(np.max(np.abs(np.linalg.eigvals(block)))))
    return radius


def message_attempts(fail: float, max_attempts: int) -> float:
    """Handler runs per message: (1 - p^m) / (1 - p) = sum_{k<m} p^k for a handler failing
    with probability p and at most m attempts.

    >>> round(message_attempts(0.5, 3), 12)   # 1 + 1/2 + 1/4
    1.75
    """
    return math.fsum(fail**k for k in range(max_attempts))


def default_partition_shares(topic: Topic) -> np.ndarray:
    """Share of each partition in the messages partitioned by the topic's own rule.

    >>> from models.schema import KeySpace
    >>> default_partition_shares(Topic(partitions=4)).tolist()
    [0.25, 0.25, 0.25, 0.25]
    >>> shares = default_partition_shares(
    ...     Topic(partitions=2, partitioning="key", keys=KeySpace(count=3, skew=1.0)))
    >>> [round(float(s), 4) for s in shares]   # keys 0, 2 -> partition 0; key 1 -> partition 1
    [0.7273, 0.2727]
    """
    partitions = topic.partitions if topic.type == "log" else 1
    if topic.keys is None or partitions == 1:
        return np.full(partitions, 1.0 / partitions)
    weights = 1.0 / np.arange(1, topic.keys.count + 1, dtype=float) ** topic.keys.skew
    keys = np.arange(topic.keys.count) % partitions
    shares = np.bincount(keys, weights=weights, minlength=partitions)
    return np.asarray(shares / shares.sum(), dtype=float)


def partition_shares(topic: Topic, by_partition: Mapping[int | None, float]) -> np.ndarray:
    """Share of each partition in all the topic's messages (fixed keys included)."""
    partitions = topic.partitions if topic.type == "log" else 1
    default = default_partition_shares(topic)
    total = sum(by_partition.values())
    if total <= 0:
        return default
    shares = default * by_partition.get(None, 0.0)
    for partition, rate in by_partition.items():
        if partition is not None:
            shares[partition % partitions] += rate
    return np.asarray(shares / total, dtype=float)


def mix_traffic(parts: Sequence[tuple[float, Traffic]]) -> Traffic:
    """The time average of the traffic of several periods (weights summing to 1): visits
    and rates are averaged, each period weighted by its share of the time."""

    def average(maps: Sequence[tuple[float, Mapping[_K, float]]]) -> dict[_K, float]:
        total: dict[_K, float] = {}
        for weight, values in maps:
            for key, value in values.items():
                total[key] = total.get(key, 0.0) + weight * value
        return total

    first = parts[0][1]
    return Traffic(
        visits={f: average([(w, t.visits.get(f, {})) for w, t in parts]) for f in first.visits},
        topic_visits={
            f: average([(w, t.topic_visits.get(f, {})) for w, t in parts])
            for f in first.topic_visits
        },
        rates=average([(w, t.rates) for w, t in parts]),
        topic_rates=average([(w, t.topic_rates) for w, t in parts]),
        partition_rates={
            topic: average([(w, t.partition_rates.get(topic, {})) for w, t in parts])
            for topic in first.partition_rates
        },
        topic_events=average([(w, t.topic_events) for w, t in parts]),
    )
