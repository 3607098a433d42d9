"""Join the shortest queue (`models.theory.shortest_queue.jsq_mmc`) and its use for
`balancing: least_outstanding` (`models.analysis.least_outstanding`): deterministic.

The quasi-birth-death solution is checked against the same chain solved by brute force
(every replica's count, unsorted, up to a total where nothing is left), and against the
limits the model must meet: one replica is M/M/c; at light load a request that waits
waits one whole service of its replica (c = 1: r times the pooled wait); the spread's
bound is not felt.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from scipy import sparse
from scipy.sparse.linalg import spsolve

from models import analyze, load_scenario
from models.analysis.least_outstanding import _ratios
from models.theory import mmc
from models.theory.shortest_queue import LARGEST_REPLICAS, jsq_mmc


def _brute_force(rate: float, mu: float, servers: int, replicas: int, top: int) -> float:
    """The mean wait of join-the-shortest-queue from its whole chain: every vector of
    counts with a total up to `top`, arrivals to the first shortest replica (refused at
    `top`), solved as one linear system; W = Lq / lambda."""
    states = [
        counts
        for counts in itertools.product(range(top + 1), repeat=replicas)
        if sum(counts) <= top
    ]
    index = {state: i for i, state in enumerate(states)}
    generator = sparse.lil_matrix((len(states), len(states)))
    for state, i in index.items():
        moves = []
        if sum(state) < top:
            shortest = state.index(min(state))
            moves.append((rate, shortest, 1))
        moves += [(mu * min(n, servers), k, -1) for k, n in enumerate(state) if n > 0]
        for weight, k, step in moves:
            after = list(state)
            after[k] += step
            generator[i, index[tuple(after)]] += weight
            generator[i, i] -= weight
    system = generator.T.tolil()
    system[0, :] = np.ones(len(states))
    rhs = np.zeros(len(states))
    rhs[0] = 1.0
    pi = spsolve(system.tocsc(), rhs)
    queued = sum(
        p * sum(max(n - servers, 0) for n in state) for p, state in zip(pi, states, strict=True)
    )
    return float(queued) / (rate * (1 - pi[[index[s] for s in states if sum(s) == top]].sum()))


@pytest.mark.parametrize(
    ("replicas", "servers", "utilization"),
    [(2, 1, 0.5), (2, 1, 0.7), (3, 1, 0.6), (2, 2, 0.6)],
)
def test_the_matrix_geometric_solution_is_the_whole_chain(
    replicas: int, servers: int, utilization: float
) -> None:
    """The levels-and-spreads solution against the chain of every replica's count, where
    the totals beyond `top` hold less than 1e-9 of the time (2 x 1 at 70%: 1.108 services)."""
    rate = utilization * replicas * servers
    top = {2: 60, 3: 36}[replicas]
    expected = _brute_force(rate, 1.0, servers, replicas, top)
    assert jsq_mmc(rate, 1.0, servers, replicas).mean_waiting_time == pytest.approx(
        expected, rel=2e-4
    )


@pytest.mark.parametrize(("servers", "utilization"), [(1, 0.3), (1, 0.9), (4, 0.8)])
def test_one_replica_is_m_m_c(servers: int, utilization: float) -> None:
    rate = utilization * servers
    one = jsq_mmc(rate, 1.0, servers, 1)
    pooled = mmc(rate, 1.0, servers)
    assert one.mean_waiting_time == pytest.approx(pooled.mean_waiting_time, rel=1e-9)
    assert one.p_wait == pytest.approx(pooled.p_wait, rel=1e-9)


@pytest.mark.parametrize("replicas", [2, 3, 8])
def test_at_light_load_a_wait_is_a_whole_service_of_the_replica(replicas: int) -> None:
    """One server per replica: a request waits only when every replica is busy (as in the
    pool), but then for its replica's service (mean 1 / mu), not the pool's first departure
    (1 / (r mu)): the ratio of the waits tends to r."""
    ratio, _ = _ratios(0.001, replicas, replicas)
    assert ratio == pytest.approx(replicas, rel=0.01)


@pytest.mark.parametrize(("replicas", "servers"), [(3, 1), (2, 4), (16, 1)])
def test_the_replicas_wait_longer_than_one_pool_and_less_as_it_fills(
    replicas: int, servers: int
) -> None:
    """Above the pool's wait at every load, the ratio falling towards 1 in heavy traffic
    (where the replicas' queues stay level)."""
    ratios = [_ratios(u, replicas * servers, replicas)[0] for u in (0.3, 0.6, 0.9, 0.99)]
    assert all(ratio > 1.0 for ratio in ratios)
    assert ratios == sorted(ratios, reverse=True)
    assert ratios[-1] < 1.06


def test_too_many_replicas_are_refused() -> None:
    with pytest.raises(ValueError, match="at most"):
        jsq_mmc(1.0, 1.0, 1, LARGEST_REPLICAS + 1)


def test_saturated_and_idle_replicas() -> None:
    assert not jsq_mmc(3.0, 1.0, 1, 3).stable
    assert jsq_mmc(0.0, 1.0, 1, 3).mean_waiting_time == 0.0


def _service(balancing: str, replicas: int, work: dict[str, Any]) -> Any:
    return load_scenario(
        {
            "name": "balancing",
            "simulation": {"duration": 60},
            "services": {
                "api": {
                    "replicas": replicas,
                    "workers": 1,
                    "balancing": balancing,
                    "operations": {"op": [{"work": work}]},
                }
            },
            "workload": {"f": {"entry": "api.op", "arrivals": {"poisson": 180}}},
        }
    )


def test_least_outstanding_exponential_replicas_are_the_chain() -> None:
    """3 replicas of one exponential worker at 60%: the chain's 4.177 ms (simulated 4.173 ms,
    4.088-4.259, 8 x 400 s), where one pool of 3 (Erlang C) said 2.956 ms."""
    api = analyze(_service("least_outstanding", 3, {"exponential": 0.01})).services["api"]
    assert api.method.startswith("join the shortest queue")
    assert api.waiting_time is not None and api.waiting_time.mean is not None
    assert api.waiting_time.mean == pytest.approx(jsq_mmc(180, 100.0, 1, 3).mean_waiting_time)
    assert api.waiting_time.mean == pytest.approx(0.004177, rel=1e-3)


def test_least_outstanding_other_work_is_scaled() -> None:
    """Constant work: the pool's formula times the chain's ratio at the same load."""
    shared = analyze(_service("shared", 3, {"constant": 0.01})).services["api"]
    joined = analyze(_service("least_outstanding", 3, {"constant": 0.01})).services["api"]
    assert shared.waiting_time is not None and joined.waiting_time is not None
    assert shared.waiting_time.mean is not None and joined.waiting_time.mean is not None
    ratio, _ = _ratios(0.6, 3, 3)
    assert joined.waiting_time.mean == pytest.approx(shared.waiting_time.mean * ratio)
    assert "join the shortest queue" in joined.method
    assert "pooled approximation" not in joined.method
