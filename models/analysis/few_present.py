"""A thread pool's wait where its callers can never crowd it (`pools.apply_layer`).

The flow-equivalent server (`models.analysis.layers`) takes the pool's requests as Poisson
arrivals to a birth-death queue, any number of them present. Its callers' bound (the most
requests they can have there at once, `bounds.CallerBounds`, the open model's
`load.population`) caps that:

- below its threads (`never_waits`), none ever waits;
- at one more than its threads (`one_waits`), at most one ever waits, and the open
  model's finite source (M/M/c//(c + 1), `stations`) says how long, where the birth-death
  queue lets a queue build that the callers cannot form (fuzz seed 2715: a pool of one
  worker, that one request of a one-worker caller reaches twice through a `parallel`
  step, waited 6.03 ms as M/G/1 at 45%, 0.96 ms simulated; 1.77 ms by the finite source;
  the caller's response, its P-K amplifying the hold, 71.7 ms for 39.3 ms, now 41.7 ms).

Beyond that the birth-death queue stays: the finite source's independent thinkers are the
wrong model for a pool fed by open arrivals whose threads call together (the regression
set's j1 at 95%: 8 threads of `text` over `url-shorten`'s 4 workers, its wait 0.157 ms by
the queue, 0.018 ms by the finite source, 0.172 ms simulated).
"""

from __future__ import annotations

import dataclasses

from models.analysis.moments import Moments
from models.analysis.station_load import StationLoad, StationSolution


def never_waits(solution: StationSolution, present: int) -> StationSolution:
    """The pool's solution where its callers never have more requests there than it has
    threads (`present`): none ever waits for one (the open model's population below it,
    `models.analysis.excess_pools`, does not see that bound and can find some)."""
    return dataclasses.replace(
        solution,
        method=f"{solution.method} (at most {present} present: never waits)",
        p_wait=0.0,
        waiting={p: Moments(0.0, 0.0) for p in solution.waiting},
    )


def one_waits(load: StationLoad, opened: StationSolution) -> bool:
    """Whether the pool's callers can have at most one request more there than it has
    threads, so that at most one ever waits, and `opened` (the open model's solution of
    `load`, a finite source there) says how long: not where its callers are independent
    sources (`bounded_pools` splits their waits from the others')."""
    present, servers = load.population, load.servers
    return (
        present is not None
        and servers is not None
        and present == servers + 1
        and not load.independent
        and opened.stable
        and opened.p_wait is not None
    )


def finite_source_wait(
    load: StationLoad, solution: StationSolution, opened: StationSolution
) -> StationSolution:
    """The pool's solution with the open model's finite-source wait (`one_waits`)."""
    return dataclasses.replace(
        solution,
        method=f"{solution.method}, waiting of the finite source"
        f" (at most {load.population} present)",
        p_wait=opened.p_wait,
        waiting=dict(opened.waiting),
    )
