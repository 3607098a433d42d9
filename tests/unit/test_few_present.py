"""Where a thread pool's callers can never crowd it (`models.analysis.few_present`)."""

from __future__ import annotations

from typing import Any

from models import analyze, load_scenario
from tests.theory.pool_scenarios import pool_reached_twice


def _pool(front_workers: int, pool_workers: int) -> Any:
    document = pool_reached_twice(
        {"duration": 100}, front_workers=front_workers, pool_workers=pool_workers
    )
    return analyze(load_scenario(document), capacity=False).services["pool"]


def test_one_more_than_its_threads_waits_as_the_open_model_s_finite_source() -> None:
    """One worker of `front`, two calls in flight: at most 2 at `pool`'s one thread. Its
    wait is M/M/1//2's (the open model's), less than the flow-equivalent server's
    birth-death queue with Poisson arrivals (4.31 ms at 48%)."""
    pool = _pool(1, 1)
    assert pool.method.startswith("flow-equivalent server of its callees"), pool.method
    assert "waiting of the finite source (at most 2 present)" in pool.method
    assert pool.waiting_time.mean is not None and 0.0 < pool.waiting_time.mean < 0.002


def test_below_its_threads_it_never_waits_and_beyond_one_more_the_queue_stays() -> None:
    """At most 2 at 2 threads: never waits (the flow-equivalent server's threads are all
    it ever has busy). At most 4 at one thread (two workers of `front`): the birth-death
    queue's wait, larger than at most 2 allowed."""
    never = _pool(1, 2)
    assert "finite source" not in never.method, never.method
    assert never.waiting_time.mean == 0.0
    crowded = _pool(2, 1)
    assert "finite source" not in crowded.method, crowded.method
    assert crowded.waiting_time.mean is not None
    assert crowded.waiting_time.mean > _pool(1, 1).waiting_time.mean
