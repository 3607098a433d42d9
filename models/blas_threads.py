"""One BLAS thread for archsim's linear algebra.

The analysis solves many small dense systems (join-the-shortest-queue levels of up to 150
phases, matrix-geometric and Erlang chains, flow-equivalent servers), one after another.
OpenBLAS runs each on as many threads as the machine has cores, and its threads spin while
they wait for work: where more threads are runnable than there are cores (the replications'
worker processes beside the parent's prediction, `pytest -n auto`, a sweep in a process
pool), a 150 x 150 inverse took 70 ms instead of 0.85 ms, and `archsim analyze
scenarios/replica_balancing.yaml` 6.3 s of CPU instead of 1.3 s (2 cores, two processes
busy). One thread gives these sizes up nothing on an idle machine; archsim's parallelism
is its processes (`sim.experiments.executors`).

threadpoolctl sets the limit in the libraries already loaded (numpy's and scipy's
OpenBLAS, MKL, BLIS), whatever was imported first, which an environment variable such as
OPENBLAS_NUM_THREADS cannot once numpy is imported.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator

from threadpoolctl import ThreadpoolController, threadpool_limits

BLAS_THREADS = 1
"""Threads each BLAS library may use inside archsim's numerical work."""


@functools.cache
def _controller() -> ThreadpoolController:
    """The thread pools of the libraries loaded now, found once: finding them walks every
    shared library the process has loaded (2.3 ms with pandas and matplotlib loaded, a
    fifth of a one-station `analyze`), setting their limits takes 16 us. `analyze` asks
    first after `models.analysis` is imported, which loads numpy's and scipy's BLAS."""
    return ThreadpoolController()


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """Within the block, every BLAS library loaded (`_controller`) uses `BLAS_THREADS`
    (the previous limits after): for a library caller's process, which archsim does not
    own."""
    with _controller().limit(limits=BLAS_THREADS, user_api="blas"):
        yield


THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
"""The environment variables by which a user sets the BLAS threads: where one is set,
`limit_blas_threads` leaves the process as the user has it."""


def limit_blas_threads() -> None:
    """Limit every BLAS library to `BLAS_THREADS` for the rest of the process and its
    children, unless the user has set their threads (`THREAD_VARIABLES`): for the
    processes archsim owns (the console script, the replications' workers). The libraries
    loaded now are limited by threadpoolctl, those loaded later (and the child processes')
    by the environment variables, which they read as they load."""
    if any(name in os.environ for name in THREAD_VARIABLES):
        return
    for name in THREAD_VARIABLES:
        os.environ[name] = str(BLAS_THREADS)
    threadpool_limits(limits=BLAS_THREADS, user_api="blas")
