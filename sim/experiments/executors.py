"""Where replications run: in this process, in local processes, or on a Dask cluster.

Every task is a pure function of (scenario, replication index, seed), so the results are the
same whichever executor runs them and in whatever order they finish (see `sim.engine.streams`).

- `jobs=1`: in this process (no pickling; what tests and notebooks get by default).
- `jobs=N`: a `concurrent.futures.ProcessPoolExecutor` with N processes.
- `scheduler="tcp://HOST:PORT"`: a `dask.distributed.Client` connected to that scheduler;
  its `get_executor()` is a `concurrent.futures.Executor` of the cluster.

A malformed or unreachable scheduler address raises `SchedulerError` within
`CONNECT_TIMEOUT` seconds, with no client left behind. Local worker processes ignore SIGINT
(Ctrl-C reaches the whole process group): the parent decides, and when the block ends with
an exception (Ctrl-C included) the pending tasks are cancelled and the workers stopped at
once instead of running to completion.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import socket
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from typing import Any, TypeVar

from models.blas_threads import limit_blas_threads

T = TypeVar("T")

CONNECT_TIMEOUT = 5.0
"""Seconds to reach a Dask scheduler before giving up."""

SCHEDULER_SCHEMES = ("tcp", "tls", "ws", "wss")


class SchedulerError(Exception):
    """A Dask scheduler address that is malformed or cannot be reached (or no Dask)."""


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
        with _dask_client(scheduler) as client:
            yield client.get_executor()
        return
    workers = default_jobs() if jobs is None else jobs
    if workers <= 1:
        yield None
        return
    earlier = {child.pid for child in multiprocessing.active_children()} | _os_children()
    pool = ProcessPoolExecutor(max_workers=workers, initializer=_start_worker)
    try:
        yield pool
    except BaseException:
        stop_pool(pool, spared=earlier)
        raise
    pool.shutdown(wait=True)


def _start_worker() -> None:
    """Worker processes ignore Ctrl-C (the parent cancels the tasks and stops them) and
    use one BLAS thread each (`models.blas_threads`: the workers are the parallelism)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    limit_blas_threads()


def stop_pool(pool: ProcessPoolExecutor, spared: Iterable[int | None] = ()) -> None:
    """Cancel the tasks not started and stop the workers now (running tasks are lost).

    The pool's own list of workers misses one whose start a Ctrl-C interrupted (forked,
    not yet registered): it would wait for tasks for ever, ignoring Ctrl-C and holding the
    terminal's output open after archsim has exited. So every child process this one
    started since (not in `spared`, the process ids alive before the pool) is stopped too,
    those `multiprocessing` knows and those only the operating system lists."""
    processes = list((getattr(pool, "_processes", None) or {}).values())  # before shutdown
    known = {process.pid for process in processes}
    left_out = set(spared)
    processes += [
        child
        for child in multiprocessing.active_children()
        if child.pid not in known and child.pid not in left_out
    ]
    # Cancel what has not started here, at once: shutdown's own cancelling happens later in
    # the pool's manager thread, which may first see the workers stopped and fail the tasks.
    for item in tuple((getattr(pool, "_pending_work_items", None) or {}).values()):
        item.future.cancel()  # (False, and no harm, for a task already handed to a worker)
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        with contextlib.suppress(Exception):
            process.terminate()
    for process in processes:
        with contextlib.suppress(Exception):
            process.join(timeout=1.0)
    _stop_os_children(left_out | {process.pid for process in processes})


def _os_children() -> set[int]:
    """The process ids of this process's children as the operating system lists them
    (Linux: /proc/self/task/*/children; elsewhere none)."""
    found: set[int] = set()
    with contextlib.suppress(OSError):
        for task in os.listdir("/proc/self/task"):
            with contextlib.suppress(OSError), open(f"/proc/self/task/{task}/children") as file:
                found.update(int(pid) for pid in file.read().split())
    return found


def _stop_os_children(spared: set[int | None], wait: float = 1.0) -> None:
    """Stop every child of this process that `spared` does not name: a worker forked as a
    Ctrl-C interrupted its start can be missing from `multiprocessing.active_children()`
    too (the interrupt lands after the fork, before the child is registered), and it would
    hold the terminal's output open after archsim has exited. Waits up to `wait` seconds
    for them to exit (a zombie holds nothing open)."""
    stopped = _os_children() - {pid for pid in spared if pid is not None}
    for pid in stopped:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + wait
    while stopped and time.monotonic() < deadline:
        stopped = {pid for pid in stopped if _running(pid)}
        time.sleep(0.01)


def _running(pid: int) -> bool:
    """Whether process `pid` exists and has not exited (a zombie has)."""
    try:
        with open(f"/proc/{pid}/stat") as file:
            return file.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def parse_scheduler_address(address: str) -> tuple[str, str, int]:
    """(scheme, host, port) of ``SCHEME://HOST:PORT`` (``tcp://`` when the scheme is left out).

    >>> parse_scheduler_address("tcp://10.0.0.5:8786")
    ('tcp', '10.0.0.5', 8786)
    >>> parse_scheduler_address("tcp://host:http")
    Traceback (most recent call last):
    ...
    sim.experiments.executors.SchedulerError: 'tcp://host:http' is not a scheduler address: \
the port 'http' is not a number (expected tcp://HOST:PORT)
    """
    expected = "(expected tcp://HOST:PORT)"

    def bad(reason: str) -> SchedulerError:
        return SchedulerError(f"{address!r} is not a scheduler address: {reason} {expected}")

    scheme, separator, rest = address.strip().rpartition("://")
    scheme = scheme.lower() if separator else "tcp"
    if scheme not in SCHEDULER_SCHEMES:
        known = ", ".join(f"{name}://" for name in SCHEDULER_SCHEMES)
        raise bad(f"unknown protocol {scheme + '://'!r}, use one of {known}")
    host, colon, port_text = rest.rpartition(":")
    if not rest:
        raise bad("no host and port")
    if not colon:
        raise bad("no port")
    host = host.removeprefix("[").removesuffix("]")  # [::1]:8786
    if not host:
        raise bad("no host")
    if not port_text.isdigit():
        raise bad(f"the port {port_text!r} is not a number" if port_text else "no port")
    port = int(port_text)
    if not 0 < port < 65536:
        raise bad(f"the port {port} is not between 1 and 65535")
    return scheme, host, port


def _probe(address: str, scheme: str, host: str, port: int) -> None:
    """Raise `SchedulerError` unless something accepts connections at `address` and, over
    plain TCP, starts talking within `CONNECT_TIMEOUT` seconds (a Dask scheduler sends its
    handshake at once; Dask itself would wait forever for a silent one)."""
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT) as connection:
            if scheme == "tcp" and not connection.recv(1):
                raise SchedulerError(
                    f"cannot connect to the Dask scheduler at {address}: the connection was "
                    f"closed at once (is a Dask scheduler listening there?)"
                )
    except TimeoutError:
        raise SchedulerError(
            f"cannot reach the scheduler at {address}: no answer within "
            f"{CONNECT_TIMEOUT:g} s (is a Dask scheduler listening there?)"
        ) from None
    except OSError as error:
        raise SchedulerError(
            f"cannot reach the scheduler at {address}: {error.strerror or error} "
            f"(waited at most {CONNECT_TIMEOUT:g} s)"
        ) from None


@contextlib.contextmanager
def _dask_client(address: str) -> Iterator[Any]:
    """A Dask client of the scheduler at `address`, closed at the end of the block."""
    scheme, host, port = parse_scheduler_address(address)
    _probe(address, scheme, host, port)
    try:
        from distributed import Client  # imported only when a cluster is asked for
    except ImportError:
        raise SchedulerError(
            "--scheduler needs Dask: python3 -m pip install 'dask[distributed]'"
        ) from None

    class ClosingClient(Client):
        """A client that closes itself (its threads and connections) when it cannot
        connect: a failed `Client(...)` otherwise leaves a client that blocks the exit."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            try:
                super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]
            except BaseException:
                with contextlib.suppress(Exception):
                    self.close(timeout=1)  # type: ignore[no-untyped-call]
                raise

    try:
        client = ClosingClient(address, set_as_default=False, timeout=CONNECT_TIMEOUT)
    except (OSError, ValueError) as error:
        message = f"cannot connect to the Dask scheduler at {address}: {error}"
        raise SchedulerError(message) from None
    except Exception as error:  # something else listens there and answers garbage
        raise SchedulerError(
            f"cannot connect to the Dask scheduler at {address}: something answers there, "
            f"but not a Dask scheduler ({type(error).__name__})"
        ) from None
    with client:
        yield client


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
