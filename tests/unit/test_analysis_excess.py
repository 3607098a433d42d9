"""The open model's population below a thread pool (models.analysis.excess): its parts
against their textbook distributions, and the pool's waiting where it is exact."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binom, poisson

from models import Prediction, analyze, load_scenario
from models.analysis.excess import Population, Queue, pool_population, queue_population
from models.theory import mmc


def mmc_distribution(servers: int, offered: float, size: int) -> np.ndarray:
    """P(N = n) of M/M/c (Gross & Harris, "Fundamentals of Queueing Theory", sec. 2.3)."""
    terms = [offered**n / math.factorial(n) for n in range(servers)]
    tail = offered**servers / math.factorial(servers) / (1 - offered / servers)
    p0 = 1 / (sum(terms) + tail)
    return np.array(
        [
            p0 * offered**n / math.factorial(n)
            if n < servers
            else p0
            * offered**servers
            / math.factorial(servers)
            * (offered / servers) ** (n - servers)
            for n in range(size)
        ]
    )


@pytest.mark.parametrize(("servers", "offered"), [(1, 0.6), (2, 1.9), (4, 3.2), (8, 7.6)])
def test_a_queue_with_the_m_m_c_mean_queue_has_the_m_m_c_distribution(
    servers: int, offered: float
) -> None:
    waiting = mmc(offered, 1.0, servers).mean_queue_length
    head = Queue(servers, offered, waiting).head(60)
    assert head == pytest.approx(mmc_distribution(servers, offered, 60), rel=1e-9, abs=1e-15)


@pytest.mark.parametrize("level", [0.0, 1.0, 2.5, 7.0, 11.3])
def test_the_excess_over_a_level_is_the_brute_force_sum(level: float) -> None:
    """E[(N - level)^+] of a Poisson stage plus two queues, from the head and the mean,
    against the sum over a long pmf (linear between integer levels)."""
    population = Population(1.3, (Queue(2, 1.6, 2.0), Queue(3, 1.2, 0.4)), 2.4, 10.0)
    size = 4000
    pmf = poisson.pmf(np.arange(size), 1.3)
    for queue in population.queues:
        pmf = np.convolve(pmf, queue.head(size))[:size]
    present = np.arange(size)
    assert float(np.dot(present, pmf)) == pytest.approx(population.mean, rel=1e-9)

    def brute(k: float) -> float:
        return float(np.dot(np.maximum(present - k, 0.0), pmf))

    low = math.floor(level)
    expected = brute(low) + (level - low) * (brute(low + 1) - brute(low))
    assert population.excess(level) == pytest.approx(expected, rel=1e-9)


def test_the_waiting_rate_is_that_of_the_requests_that_wait() -> None:
    """A pool whose requests call a database one time in five: its queue is made of the
    database's requests, so its waiting is their excess over their arrival rate."""
    db = queue_population(4, 50.0, 0.015, 0.05)
    cache = queue_population(2, 300.0, 0.0003, 0.00001)
    below = pool_population(250.0, 0.001, [(db, 0.2), (cache, 1.2)])
    share = (db.waiting + cache.waiting) / (db.waiting / 50.0 + cache.waiting / 250.0)
    assert below.tail_rate == pytest.approx(share, rel=1e-12)
    assert 50.0 < below.tail_rate < 51.0


def pool_over_mm1() -> Prediction:
    document = {
        "name": "pool over an M/M/1",
        "simulation": {"duration": 100},
        "services": {
            "gw": {"workers": 3, "operations": {"op": [{"call": "db.op"}]}},
            "db": {"operations": {"op": [{"work": {"exponential": "10ms"}}]}},
        },
        "workload": {"f": {"entry": "gw.op", "arrivals": {"poisson": 90}}},
    }
    return analyze(load_scenario(document))


def test_a_pool_that_only_calls_an_m_m_1_waits_as_the_conservation_law_says() -> None:
    """Three threads that only call an exclusive M/M/1 (rho = 0.9): the database serves
    whenever one of them is below, so the number in the whole system is M/M/1's N
    (geometric); the pool's queue is E[(N - 3)^+] = rho^4 / (1 - rho) and the database's
    E[(N - 1)^+] - E[(N - 3)^+] (Kleinrock, "Queueing Systems" vol. 2, sec. 3.4): exact."""
    result = pool_over_mm1()
    rho, rate = 0.9, 90.0
    assert result.services["gw"].waiting_time.mean == pytest.approx(
        rho**4 / (1 - rho) / rate, rel=1e-9
    )
    assert result.services["db"].waiting_time.mean == pytest.approx(
        (rho**2 - rho**4) / (1 - rho) / rate, rel=1e-9
    )


@pytest.mark.parametrize("share", [0.5, 0.25])
def test_a_thinned_population_is_the_binomial_thinning_of_the_whole(share: float) -> None:
    """Each request in one of several pools at random: P(k of the n below are one pool's)
    is binomial (n, share); the thinned parts' convolution against that sum over n."""
    population = Population(0.8, (Queue(3, 2.4, 3.0), Queue(1, 0.5, 0.5)), 3.5, 40.0)
    size = 3000
    whole = population.head(size)
    kept = binom.pmf(np.arange(40)[None, :], np.arange(size)[:, None], share)
    thinned = population.thinned(share)
    assert thinned.head(40) == pytest.approx(whole @ kept, rel=1e-9, abs=1e-15)
    assert thinned.mean == pytest.approx(share * population.mean, rel=1e-12)
