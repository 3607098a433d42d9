"""A product-form mixed network, for the tests of the two-class station.

One FCFS station of c servers with one exponential mean S; an open class, Poisson at rate λ;
a closed class of N customers who think an exponential (any) time Z at an infinite-server
station between visits. BCMP (Baskett, Chandy, Muntz & Palacios, JACM 22(2), 1975): with
o open and b closed present (n = o + b),

    p(o, b) ∝ n! / (o! b!) λ^o (N! / (N - b)!) Z^-b S^n / prod_{k=1..n} min(k, c).

Open arrivals see the time averages (PASTA); a closed arrival sees the network with N - 1
of its class (the arrival theorem: Lavenberg & Reiser, J. Appl. Prob. 17, 1980). An arrival
finding n >= c present waits for n - c + 1 departures, S / c each on average.
"""

from __future__ import annotations

import math
from collections.abc import Callable


def mixed_law(
    open_rate: float,
    think: float,
    closed: int,
    completions: Callable[[int], float],
    servers: int,
) -> dict[tuple[int, int], float]:
    """p(o, b) of the station with `closed` customers of the closed class, whose total
    service rate with n present is `completions(n)` (n / S up to c for c exponential
    servers; a load-dependent station's rate otherwise, BCMP's class of service centers):

        p(o, b) ∝ n! / (o! b!) λ^o (N! / (N - b)!) Z^-b / prod_{k=1..n} completions(k),

    summed over (o, b) up to a negligible tail (only o = 0 without an open class)."""
    weights: dict[tuple[int, int], float] = {}
    served = [0.0]  # log prod_{k <= n} completions(k)
    top = -math.inf
    for o in range(100_000 if open_rate > 0 else 1):
        for b in range(closed + 1):
            n = o + b
            while len(served) <= n:
                served.append(served[-1] + math.log(completions(len(served))))
            weights[(o, b)] = (
                math.lgamma(n + 1)
                - math.lgamma(o + 1)
                - math.lgamma(b + 1)
                + (o * math.log(open_rate) if o else 0.0)
                + math.lgamma(closed + 1)
                - math.lgamma(closed - b + 1)
                - b * math.log(think)
                - served[n]
            )
        level = max(weights[(o, b)] for b in range(closed + 1))
        top = max(top, level)
        if o > servers and level < top - 60:  # (the rest adds less than e^-60)
            break
    total = sum(math.exp(w - top) for w in weights.values())
    return {state: math.exp(w - top) / total for state, w in weights.items()}


def product_form(
    open_rate: float, think: float, population: int, mean: float, servers: int
) -> tuple[float, float, float]:
    """(open mean wait, closed mean wait, closed throughput) of the network (module
    docstring), summed over (o, b) up to a negligible tail."""

    def law(closed: int) -> dict[tuple[int, int], float]:
        return mixed_law(open_rate, think, closed, lambda n: min(n, servers) / mean, servers)

    def wait(seen: dict[tuple[int, int], float]) -> float:
        """FCFS: an arrival finding n >= c present waits for n - c + 1 departures, each
        after S / c on average."""
        return sum(p * max(o + b - servers + 1, 0) for (o, b), p in seen.items()) * mean / servers

    seen_by_open = law(population)  # (Poisson arrivals see time averages)
    in_system = sum(p * b for (_, b), p in seen_by_open.items())
    throughput = (population - in_system) / think
    open_wait = wait(seen_by_open)
    closed_wait = wait(law(population - 1))  # (the arrival theorem)
    return open_wait, closed_wait, throughput
