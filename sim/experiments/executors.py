"""Where replications run: in this process, in local processes, or on a Dask cluster.

Every task is a pure function of (scenario, replication index, seed), so the results are the
same whichever executor runs them and in whatever order they finish (see `sim.engine.streams`).

- `jobs=1`: in this process (no pickling; what tests and notebooks get by default).
- `jobs=N`: a `concurrent.futures.ProcessPoolExecutor` with N processes.
- `scheduler="tcp://HOST:PORT"`: a `dask.distributed.Client` connected to that scheduler;
  its `get_executor()` is a `concurrent.futures.Executor` of the cluster.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from typing import Any, TypeVar

T = TypeVar("T")


def default_jobs() -> int:
    """The number of cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@contextlib.contextmanager
def open_executor(jobs: int | None = None, scheduler: str | None = None) -> Iterator[Any]:
    """An executor for the lifetime of the block: None (serial), local processes, or Dask.

    `jobs` defaults to the core count; `scheduler` (an address such as ``tcp://host:8786``)
    selects a Dask cluster instead of local processes.
    """
    if scheduler is not None:
        from distributed import Client  # imported only when a cluster is asked for

        with Client(scheduler, set_as_default=False) as client:  # type: ignore[no-untyped-call]
            yield client.get_executor()
        return
    workers = default_jobs() if jobs is None else jobs
    if workers <= 1:
        yield None
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield pool


def run_tasks(
    function: Callable[..., T],
    arguments: Sequence[tuple[Any, ...]],
    executor: Any = None,
    progress: Callable[[int], None] | None = None,
) -> list[T]:
    """`function(*args)` for every args, in order; `progress(1)` after each one finishes.

    `executor` is None (run here), a `concurrent.futures.Executor`, or a Dask client (its
    executor is used).
    """
    if executor is not None and hasattr(executor, "get_executor"):
        executor = executor.get_executor()
    if executor is None or len(arguments) <= 1:
        results = []
        for args in arguments:
            results.append(function(*args))
            if progress is not None:
                progress(1)
        return results
    assert isinstance(executor, Executor) or hasattr(executor, "submit")
    futures = [executor.submit(function, *args) for args in arguments]
    for _ in _finished(futures):
        if progress is not None:
            progress(1)
    return [future.result() for future in futures]


def _finished(futures: Iterable[Any]) -> Iterator[Any]:
    yield from as_completed(list(futures))
