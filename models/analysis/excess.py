"""Thread pools over a queue near saturation: their waiting from the open model's population.

A pool of c threads held through its calls caps how many of its requests are below it;
the others wait for a thread. Near saturation of a station below, the flow-equivalent
server (`models.analysis.layers`) puts too little of the waiting in the pools: it sees the
subnetwork only through its mean completion rates X(1..c), not the long excursions of the
bottleneck's queue that fill every thread above it.

This module counts instead. Without the caps (every pool with unlimited threads) the
requests below a pool P form the open model's population N_P: P's own stage (an infinite
server: Poisson with mean lambda x own time, whatever its distribution) plus each callee's
population (a queue's number in system; a callee pool's own N). The bottleneck is work
conserving, so where its requests wait above it does not change how many of them there
are in all (the conservation law: Kleinrock, "Queueing Systems" vol. 2 (1976), sec. 3.4):
with the caps, the requests beyond P's c threads wait in P's queue,

    Q_P = E[(N_P - c)^+] - E[(N_P - cap)^+],

less those a pool above holds back in its own queue: `cap` is that pool's threads less
its requests elsewhere (own stage, other callees), at their mean. A queue's number in
system has the M/M/c shape (Erlang below c servers, a geometric queue beyond) with the
open model's mean queue (Allen-Cunneen's, so a service time's variability counts). The
requests waiting in P's queue are those bound for the bottleneck (those that are not
pass quickly), so Little's law gives P's waiting as Q_P over the rate of requests that
make up the queue below, the callees weighted by their queues. Replicas, each its own
pool, split the population: each request is in one of them at random, a binomial thinning
(`Population.thinned`).

Assumptions: the pool's callees are its own (nobody else's traffic is in the population)
and answer every call (no drops, timeouts or retries). Checked against the simulation on
the regression set (`tests/data/analysis_regression`, docs/analysis.md sec. 5): a chain of
five pools over a two-server ledger, two replicated tiers over a database, 32 threads over
a two-server database, all at 95%, within 1-4% on average, where the flow-equivalent
server was 18-30% off.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from scipy.special import gammaln

from models.theory.erlang import erlang_c


class Queue(NamedTuple):
    """A queueing station's number in system: `servers` servers, `offered` busy on average
    (Erlangs, < servers), `waiting` requests in its queue on average; of those, each is
    counted with probability `share` (the requests of one of several pools that call it,
    each request belonging to one of them at random: a binomial thinning). A named tuple,
    as `Population`."""

    servers: int
    offered: float
    waiting: float
    share: float = 1.0

    @property
    def mean(self) -> float:
        return self.share * (self.offered + self.waiting)

    def head(self, size: int, known: HeadCache | None = None) -> np.ndarray:
        """P(N = n), n = 0 .. size - 1: Erlang below the servers, geometric beyond, with
        P(N >= servers) = Erlang C and the mean queue `waiting` (exact for M/M/c); thinned,
        its generating function at 1 - share + share z: a polynomial below the servers
        and, beyond, a geometric series of ratio r share / (1 - r (1 - share)). `known`:
        heads computed before, by their inputs (`HeadCache`)."""
        if known is None:
            return self._head(size)
        found = known.get((self, size))
        if found is None:
            found = known[(self, size)] = _frozen(self._head(size))
        return found

    def _head(self, size: int) -> np.ndarray:
        servers, share = self.servers, self.share
        p_wait = erlang_c(servers, self.offered)
        below = np.arange(servers, dtype=float)
        log_erlang = below * math.log(self.offered) - gammaln(below + 1)
        erlang = np.exp(log_erlang - log_erlang.max())
        erlang *= (1.0 - p_wait) / erlang.sum()
        ratio = self.waiting / (self.waiting + p_wait) if self.waiting > 0 and p_wait > 0 else 0.0
        probabilities = np.zeros(size)
        if share == 1.0:
            probabilities[: min(servers, size)] = erlang[:size]
            if size > servers:
                beyond = np.arange(size - servers, dtype=float)
                probabilities[servers:] = p_wait * (1.0 - ratio) * ratio**beyond
            return probabilities
        binomial = np.ones(1)  # P(k of n kept), n = 0, 1, ...
        for present in range(servers):
            kept = min(present + 1, size)
            probabilities[:kept] += erlang[present] * binomial[:kept]
            binomial = np.convolve(binomial, [1.0 - share, share])
        denominator = 1.0 - ratio * (1.0 - share)
        series = (ratio * share / denominator) ** np.arange(size, dtype=float) / denominator
        tail = np.convolve(binomial, series)[:size]
        probabilities[: len(tail)] += p_wait * (1.0 - ratio) * tail
        return probabilities


class Population(NamedTuple):
    """The open model's number of requests below a pool (or at a queue), as the
    independent parts it adds up: an infinite-server stage (`delay`: its mean) and
    queues. A named tuple: the pools' memos (`HeadCache`, `excess_pools.BelowMemo`) look
    populations up by value every round, and a tuple hashes and compares in C."""

    delay: float
    queues: tuple[Queue, ...]
    waiting: float
    """Mean number waiting anywhere inside."""
    tail_rate: float
    """Arrivals per second of the requests that make up the waiting (those bound for the
    queues, weighted by how many wait at each)."""

    @property
    def mean(self) -> float:
        return self.delay + math.fsum([q.mean for q in self.queues])

    def thinned(self, share: float) -> Population:
        """The requests of one of several pools, each request in it with probability
        `share` (a Poisson stage thins to a Poisson stage, a queue to a thinned queue)."""
        return Population(
            self.delay * share,
            tuple([Queue(q.servers, q.offered, q.waiting, q.share * share) for q in self.queues]),
            self.waiting * share,
            self.tail_rate * share,
        )

    def head(self, size: int, known: HeadCache | None = None) -> np.ndarray:
        """P(N = n), n = 0 .. size - 1 (the convolution of the parts). `known`: heads
        computed before, by their inputs (`HeadCache`)."""
        found = None if known is None else known.get((self, size))
        if found is not None:
            return found
        total = _poisson(self.delay, size)
        for queue in self.queues:
            total = np.convolve(total, queue.head(size, known))[:size]
        if known is not None:
            known[(self, size)] = _frozen(total)
        return total

    def excess(
        self, level: float, head: np.ndarray | None = None, known: HeadCache | None = None
    ) -> float:
        """E[(N - level)^+] (`expected_excess`); `head`: this population's, if already
        computed (at least `level` + 2 long); `known`: as `head`'s."""
        if level > 0 and (head is None or len(head) < math.floor(level) + 2):
            head = self.head(math.floor(level) + 2, known)
        return expected_excess(self.mean, head, level)


HeadCache = dict[tuple[Queue | Population, int], np.ndarray]
"""Heads (`Population.head`, `Queue.head`) by the population or queue and their length:
the rounds of a solve meet the same populations again as the iteration settles (and the
pools of one round their callees' populations), and a head is a convolution of arrays.
Its arrays are read-only (shared by whoever asks again)."""


def _frozen(array: np.ndarray) -> np.ndarray:
    """`array`, made read-only (a `HeadCache` entry is shared)."""
    array.flags.writeable = False
    return array


def expected_excess(mean: float, head: np.ndarray | None, level: float) -> float:
    """E[(N - level)^+] = E[N] - E[min(N, level)] of an integer N of mean `mean` whose
    P(N = n), n = 0, 1, ..., starts `head` (at least floor(level) + 2 long, or all of it;
    None when level <= 0), linear between integer levels (as E[(N - x)^+] is)."""
    if level <= 0 or head is None:
        return mean - level
    below = math.floor(level)
    if len(head) < below + 2:  # (all of N's values: none beyond)
        head = np.pad(head, (0, below + 2 - len(head)))
    present = np.arange(below + 2, dtype=float)
    partial = [
        mean - float(np.dot(present[:k], head[:k])) - k * (1.0 - float(head[:k].sum()))
        for k in (below, below + 1)
    ]
    fraction = level - below
    return max((1.0 - fraction) * partial[0] + fraction * partial[1], 0.0)


def _poisson(mean: float, size: int) -> np.ndarray:
    """P(K = k), k = 0 .. size - 1, K Poisson of `mean` (0: a unit mass at 0)."""
    present = np.arange(size, dtype=float)
    probabilities = np.zeros(size)
    if mean <= 0:
        probabilities[0] = 1.0
    else:
        probabilities[:] = np.exp(present * math.log(mean) - mean - gammaln(present + 1))
    return probabilities


def queue_population(
    servers: int | None, arrival_rate: float, holding: float, wait: float
) -> Population:
    """A server pool's number in system in the open model: `servers` (None: unlimited, a
    delay), `arrival_rate` acquisitions per second each held `holding` on average, `wait`
    its mean waiting time."""
    offered = arrival_rate * holding
    if servers is None or offered <= 0:
        return Population(offered, (), 0.0, arrival_rate)
    waiting = arrival_rate * wait
    return Population(0.0, (Queue(servers, offered, waiting),), waiting, arrival_rate)


def pool_population(
    arrival_rate: float, delay: float, callees: Sequence[tuple[Population, float]]
) -> Population:
    """The requests below a pool with unlimited threads: `arrival_rate` requests per second,
    each `delay` in its own stage, calling each callee `visits` times on average (its whole
    population: nobody else calls it)."""
    waiting = math.fsum(callee.waiting for callee, _ in callees)
    weights = [
        callee.waiting / (callee.tail_rate / max(visits, 1.0))
        for callee, visits in callees
        if callee.waiting > 0 and callee.tail_rate > 0
    ]
    tail_rate = waiting / math.fsum(weights) if weights and waiting > 0 else arrival_rate
    return Population(
        arrival_rate * delay + math.fsum(callee.delay for callee, _ in callees),
        tuple(queue for callee, _ in callees for queue in callee.queues),
        waiting,
        min(tail_rate, arrival_rate),
    )
