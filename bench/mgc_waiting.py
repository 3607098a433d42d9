"""M/G/c mean waiting with variable service: simulated, M/H2/c and Allen-Cunneen.

M/H2/c twice: the H2 law fitted to two moments with balanced means (`mh2c`), and fitted to
three (`mh2c_3`, `models.theory.hyperexponential.three_moment_h2`), what the analysis uses
where every operation is one `work` step whose law has its third moment in closed form.

The simulation is the Kiefer-Wolfowitz recursion of the FCFS M/G/c queue (the sorted
vector of the servers' remaining work; one customer at a time), not archsim's engine: it
is the queue itself, with nothing else around it. The mean wait's 95% interval comes from
20 batch means (the first dropped as warm-up). Prints one JSON line per case:

    python3 bench/mgc_waiting.py [--customers N] [--seed S]

The figures of docs/analysis.md §3 (M/H2/c; j2's reservation pool) and §11.1 (g's
database) come from the default run.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable

import numpy as np

from models.theory import gg_c_allen_cunneen, mh2c

Sampler = Callable[[int], np.ndarray]
CASES = [(2, 0.8, 1.2), (4, 0.8, 1.5), (2, 0.6, 2.0), (4, 0.9, 1.3), (8, 0.85, 1.5)]
"""(servers, load, cv) of lognormal service with mean 1."""
BATCHES = 20


def lognormal(rng: np.random.Generator, cv: float) -> Sampler:
    """Lognormal service of mean 1 and this coefficient of variation."""
    sigma2 = math.log(1.0 + cv * cv)
    return lambda size: rng.lognormal(-sigma2 / 2.0, math.sqrt(sigma2), size)


def simulated_wait(
    rng: np.random.Generator, rate: float, service: Sampler, servers: int, customers: int
) -> tuple[float, float]:
    """(mean wait, 95% half-width) over `customers` of the FCFS M/G/c queue."""
    gaps = rng.exponential(1.0 / rate, customers).tolist()
    works = service(customers).tolist()
    remaining = [0.0] * servers
    batch = customers // BATCHES
    means: list[float] = []
    total = 0.0
    for index in range(customers):
        server = min(range(servers), key=remaining.__getitem__)
        total += remaining[server]
        remaining[server] += works[index]
        gap = gaps[index]
        remaining = [left - gap if left > gap else 0.0 for left in remaining]
        if (index + 1) % batch == 0:
            means.append(total / batch)
            total = 0.0
    kept = np.array(means[1:])
    t = 2.1  # t_{0.975, 18}
    return float(kept.mean()), t * float(kept.std(ddof=1)) / math.sqrt(kept.size)


def shared_database(rng: np.random.Generator) -> Sampler:
    """The database of the regression set's g_two_classes_60 as one M/G/2 queue: reads of
    exponential 2 ms (3 in 4) and writes of lognormal 6 ms, cv 1.3 (1 in 4), in seconds."""
    writes = lognormal(rng, 1.3)

    def sample(size: int) -> np.ndarray:
        is_write = rng.random(size) < 0.25
        return np.where(is_write, 0.006 * writes(size), rng.exponential(0.002, size))

    return sample


def reacquired_pool(rng: np.random.Generator) -> Sampler:
    """The reservation pool of the regression set's j2_hotel_reservation_60 (async I/O): per
    request one hold of exponential 0.5 ms and 1.2 empty ones (re-acquisitions after the
    replies), in seconds."""

    def sample(size: int) -> np.ndarray:
        working = rng.random(size) < 1.0 / 2.2
        return np.where(working, rng.exponential(0.0005, size), 0.0)

    return sample


def _case(
    name: str, wait: float, half_width: float, matrix: tuple[float, float], allen: float
) -> None:
    """One JSON line, in milliseconds (`matrix`: M/H2/c of two and of three moments)."""
    print(
        json.dumps(
            {
                "case": f"{name}, Poisson arrivals (ms)",
                "simulated": round(1e3 * wait, 4),
                "half_width": round(1e3 * half_width, 4),
                "mh2c": round(1e3 * matrix[0], 4),
                "mh2c_3": round(1e3 * matrix[1], 4),
                "allen_cunneen": round(1e3 * allen, 4),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_500_000)
    parser.add_argument("--seed", type=int, default=7)
    arguments = parser.parse_args()
    rng = np.random.default_rng(arguments.seed)
    for servers, load, cv in CASES:
        rate = load * servers
        mean, half_width = simulated_wait(
            rng, rate, lognormal(rng, cv), servers, arguments.customers
        )
        matrix = mh2c(rate, 1.0, servers, cv * cv).mean_waiting_time
        third = mh2c(rate, 1.0, servers, cv * cv, (1.0 + cv * cv) ** 3).mean_waiting_time
        allen = gg_c_allen_cunneen(rate, 1.0, servers, 1.0, cv * cv).mean_waiting_time
        print(
            json.dumps(
                {
                    "servers": servers,
                    "load": load,
                    "cv": cv,
                    "simulated": round(mean, 4),
                    "half_width": round(half_width, 4),
                    "mh2c": round(matrix, 4),
                    "mh2c_3": round(third, 4),
                    "allen_cunneen": round(allen, 4),
                }
            )
        )
    # g_two_classes_60's database, 400 requests/s on 2 workers: E[S] = 3 ms, cs² = 2.357
    rate, mean, scv = 400.0, 0.003, 30.21e-6 / 0.003**2 - 1.0
    wait, half_width = simulated_wait(rng, rate, shared_database(rng), 2, arguments.customers)
    third = 0.75 * 6.0 * 0.002**3 + 0.25 * 0.006**3 * (1.0 + 1.3**2) ** 3
    matrix = (
        mh2c(rate, mean, 2, scv).mean_waiting_time,
        mh2c(rate, mean, 2, scv, third).mean_waiting_time,
    )
    allen = gg_c_allen_cunneen(rate, mean, 2, 1.0, scv).mean_waiting_time
    _case("g_two_classes_60 database", wait, half_width, matrix, allen)
    # j2_hotel_reservation_60's reservation pool: 2.2 holds per request at 1304.07/s
    rate, mean = 2.2 * 1304.07, 0.0005 / 2.2
    scv = (2.0 * 0.0005**2 / 2.2) / mean**2 - 1.0
    wait, half_width = simulated_wait(rng, rate, reacquired_pool(rng), 2, arguments.customers)
    third = 6.0 * 0.0005**3 / 2.2
    matrix = (
        mh2c(rate, mean, 2, scv).mean_waiting_time,
        mh2c(rate, mean, 2, scv, third).mean_waiting_time,
    )
    allen = gg_c_allen_cunneen(rate, mean, 2, 1.0, scv).mean_waiting_time
    _case("j2_hotel_reservation_60 reservation pool", wait, half_width, matrix, allen)


if __name__ == "__main__":
    main()
