"""How bursty a service's arrivals are, measured from a trace, and what that costs in waiting.

Reads an OTLP trace written by `archsim run SCENARIO --trace-out FILE` and takes the
arrival times at one service: each SERVER span's start minus its `archsim.wait` (the span
starts when a worker takes the request). Prints one JSON document:

- the stream: arrivals, rate, the interarrival SCV, the share of gaps that are exactly 0
  (requests arriving at the same instant), the sizes of those simultaneous groups, and the
  index of dispersion of counts (variance / mean of the arrivals in windows of 0.2, 0.5, 2
  and 10 ms; 1 for Poisson);
- the mean wait of a FCFS queue of `--servers` servers with exponential work of mean
  `--work` fed by: the recorded arrivals; a renewal stream of gaps drawn from the recorded
  ones; a batch-Poisson stream with the same group sizes; a Poisson stream of the same
  rate. Each is averaged over `--reps` replays (its 95% half-width beside it): the
  recorded stream with fresh work each time, the three others drawn afresh each time as
  well, `--length` times as long as the recording (a single recording's own noise is not
  in its half-width).

The queue is simulated by the Kiefer-Wolfowitz recursion (the servers' next free times in a
heap), not by archsim's engine: the recorded stream is replayed into the queue alone.
Docs/analysis.md §12 (async-I/O pools) quotes:

    archsim run tests/data/analysis_regression/j2_hotel_reservation_60.yaml \
        --replications 1 --trace-out /tmp/j2.json   # (the trace stops at 100,000 spans)
    python3 bench/arrival_replay.py /tmp/j2.json reservation --servers 2 --work 0.5ms
"""

from __future__ import annotations

import argparse
import heapq
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from models.traces.conventions import ARCHSIM_WAIT, SpanKind
from models.traces.reading import read_traces
from models.units import parse_duration

WINDOWS = (0.0002, 0.0005, 0.002, 0.01)
"""Window lengths (seconds) of the index of dispersion of counts."""


def arrival_times(path: Path, service: str) -> np.ndarray:
    """The sorted arrival times at `service`: SERVER span start minus `archsim.wait`."""
    spans = read_traces([path]).spans
    times = [
        span.start - float(span.attributes.get(ARCHSIM_WAIT, 0.0))
        for span in spans
        if span.kind == SpanKind.SERVER and span.service == service
    ]
    if len(times) < 100:
        raise SystemExit(f"{path}: only {len(times)} arrivals at '{service}' (need 100)")
    return np.sort(np.array(times)) - min(times)


def group_sizes(times: np.ndarray) -> np.ndarray:
    """The sizes of the groups of arrivals at the same instant (1: alone)."""
    starts = np.flatnonzero(np.r_[True, np.diff(times) > 0.0])
    return np.diff(np.r_[starts, len(times)])


def dispersion(times: np.ndarray, window: float) -> float:
    """Variance over mean of the arrivals counted in consecutive windows of `window`."""
    counts = np.histogram(times, bins=np.arange(0.0, times[-1], window))[0]
    return float(counts.var() / counts.mean())


def fcfs_wait(times: np.ndarray, servers: int, work: np.ndarray) -> float:
    """Mean wait of the FCFS queue of `servers` servers fed `times` with the given work."""
    free = [0.0] * servers
    total = 0.0
    for arrival, hold in zip(times.tolist(), work.tolist(), strict=True):
        start = max(arrival, heapq.heappop(free))
        total += start - arrival
        heapq.heappush(free, start + hold)
    return total / len(times)


def replayed(
    stream: Callable[[np.random.Generator], np.ndarray],
    servers: int,
    mean_work: float,
    reps: int,
    seed: int,
) -> dict[str, float]:
    """The mean wait over `reps` replays of `stream(rng)` with exponential work, and its 95%
    half-width (in ms)."""
    rng = np.random.default_rng(seed)
    waits = []
    for _ in range(reps):
        times = stream(rng)
        waits.append(fcfs_wait(times, servers, rng.exponential(mean_work, len(times))))
    half = 1.96 * float(np.std(waits, ddof=1)) / np.sqrt(reps)
    return {"mean_wait_ms": float(np.mean(waits)) * 1e3, "half_width_ms": half * 1e3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trace", type=Path)
    parser.add_argument("service")
    parser.add_argument("--servers", type=int, required=True)
    parser.add_argument("--work", required=True, help="mean work, e.g. 0.5ms")
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--length", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    mean_work = parse_duration(args.work)
    times = arrival_times(args.trace, args.service)
    gaps = np.diff(times)
    sizes = group_sizes(times)
    rate = len(times) / float(times[-1])
    groups = len(sizes) * args.length

    def renewal(rng: np.random.Generator) -> np.ndarray:
        return np.cumsum(rng.choice(gaps, size=len(gaps) * args.length))

    def batch_poisson(rng: np.random.Generator) -> np.ndarray:
        epochs = np.cumsum(rng.exponential(float(sizes.mean()) / rate, groups))
        return np.repeat(epochs, rng.choice(sizes, size=groups))

    def poisson(rng: np.random.Generator) -> np.ndarray:
        return np.cumsum(rng.exponential(1.0 / rate, len(times) * args.length))

    def wait(stream: Callable[[np.random.Generator], np.ndarray]) -> dict[str, float]:
        return replayed(stream, args.servers, mean_work, args.reps, args.seed)

    report = {
        "service": args.service,
        "arrivals": len(times),
        "rate_per_s": rate,
        "interarrival_scv": float(gaps.var() / gaps.mean() ** 2),
        "simultaneous_gap_share": float(np.mean(gaps == 0.0)),
        "group_sizes": {str(k): int(n) for k, n in enumerate(np.bincount(sizes)) if k and n},
        "dispersion": {f"{w * 1e3:g}ms": dispersion(times, w) for w in WINDOWS},
        "fcfs_wait": {
            "recorded": wait(lambda rng: times),
            "same_gaps_drawn_at_random": wait(renewal),
            "batch_poisson_same_groups": wait(batch_poisson),
            "poisson_same_rate": wait(poisson),
        },
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
