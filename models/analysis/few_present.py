"""A thread pool's wait where its callers can never crowd it (`capped`, for `pools.apply_layer`).

The flow-equivalent server (`models.analysis.layers`) takes the pool's requests as Poisson
arrivals to a birth-death queue, any number of them present. Its callers' bound (the most
requests they can have there at once, `bounds.CallerBounds`, the open model's
`load.population`) caps that:

- at or below its threads, none ever waits;
- at one more than its threads, at most one ever waits, and the open
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

from models.analysis.moments import Moments
from models.analysis.revised import revised
from models.analysis.station_load import StationLoad, StationSolution


def capped(
    load: StationLoad, solution: StationSolution, opened: StationSolution
) -> StationSolution | None:
    """The pool's solution (its flow-equivalent server's, stable) under its callers' bound
    `load.population` (module docstring): none waits at or below its threads; at one
    more, the wait of `opened` (the open model's solution of `load`, a finite source
    there), but not where its callers are independent sources (`bounded_pools` splits
    their waits from the others'); None elsewhere (the birth-death queue's wait stays)."""
    present, servers = load.population, load.servers
    if present is None or servers is None:
        return None
    if present <= servers:
        return revised(
            solution,
            method=f"{solution.method} (at most {present} present: never waits)",
            p_wait=0.0,
            waiting={p: Moments(0.0, 0.0) for p in solution.waiting},
        )
    if present > servers + 1 or load.independent or not opened.stable or opened.p_wait is None:
        return None
    return revised(
        solution,
        method=f"{solution.method}, waiting of the finite source (at most {present} present)",
        p_wait=opened.p_wait,
        waiting=dict(opened.waiting),
    )
