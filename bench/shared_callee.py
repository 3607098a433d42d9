"""Benchmark of agreement: a thread pool over a callee that others call too.

One pool of `c` threads (`app`) does its own work, then calls a database (one server;
2 or 4 in shapes 10-14, 18 and 25) `v` times, each call holding the thread; an open flow
(`other`) sends the rest of the database's arrivals straight to it, so that `app` brings
a share `s` of them. With the database at utilization `u` (per server), the pool's, the
database's and the pool's flow's mean times are predicted (`analyze`) and simulated (6
replications of 400 s), and printed as JSON with the simulation's 95% half-width (Student
t over the replications) and each prediction's relative error.

What it asks: where does such a callee count as the pool's own? `pools.find_callees`
takes it with the pool (its servers slowed by the others' load, the threads' queue there
set by the pool: the flow-equivalent server of `models.analysis.layers`) only where the
pool brings at least `pools.OWN_SHARE` of its arrivals; below, the pool takes the callee's
open-model response as a delay, and the callee's own wait is the two-class chain of
`models.analysis.mixed_source` (the pool's threads as independent sources). `--own-shares`
reruns the prediction with other thresholds (the benchmark's instrument: the module
constant is set for the duration of the run), beside the same simulation.

Measured 2026-12-06 (prediction against simulation, the ten shapes): before, the database
waited 18-31% less than simulated with exponential service (the two-class chain's sources
think independently; +65% with 8 threads, too many for the chain), 51% and 41% less with
constant and gamma (cv 0.5) service, and the pool's flow was 15-45% short (+78% with 8
threads); now (`models.analysis.pool_fed`, and the pool's own wait from its
flow-equivalent server from `pools.SHARED_SHARE`) the database -4% to 0% (-30% and -19%),
the flow -2% to -16% (+8% with constant service), the pool's own wait -15% to -48%
(+26% and +99% with regular service). Shapes 10-14 have a database of 2 or 4 servers
(one law for both classes): the database's wait -30%, -30%, -25%, +35%, +9% by the chain
(or Allen-Cunneen, where the chain is too large), -4%, -1%, -8%, -4%, -13% with the mixed
product form at several servers (2026-12-06); the pool's flow -14%, -13%, -1%, -7%, -2%.
Shapes 15-20 put a queue topic's consumer group in the pool's place (its threads take
the topic's messages from one queue, an API publishing them): the database's wait +206%,
+28%, +66%, +147%, +65%, +66% with the consumers' writes as open arrivals, -2%, -4%, -3%,
-1%, -1%, -3% with the consumers as the pool of the mixed product form; the messages'
completion +31%, +2%, +15%, +21%, +7%, +15%, then -16%, -15%, -14%, -13%, -5%, -14%,
the group's own wait -14% to -46%, then -15% to -48% (the pool's own wait, as above).
Then the threads' pacing at a server they share (`layers.own_server_pacing`, 2026-12-06):
the pools' own wait over one exponential server (shapes 1-5, 7-9) -33%, -36%, -48%, -27%,
-15%, -22%, -28%, -29%, now -12%, -20%, -37%, -12%, +4%, -12%, -4%, -7%, their flow -1%
to -13%; the groups' (15-17, 19, 20) -12%, -37%, -20%, +4%, -20%, the completion -7%,
-13%, -8%, +1%, -8%.
Shapes 21-27 put a log topic's consumers there (1-4 consumers of one thread, 2-8
partitions, writing to a database of 1 or 2 servers they bring 40-80% of, at 70-80%;
2026-12-07): with their writes as open arrivals the database's wait +82% to +249%, the
reads' response +28% to +79%, four of the seven groups predicted saturated where the
simulation keeps up, two waiting +542% and +625%, one -21%; with the consumers as the
two-class chain's sources (`bounds.CallerBounds._group`) the database -1% to -21%, the
reads -1% to -8%, the groups' own wait -15% to -33% and the completion -11% to -21%.

    python3 bench/shared_callee.py [--replications 6] [--duration 400] [--own-shares 0.9 0.5]
        [--shapes FIRST LAST]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

import models.analysis.pools as pools
from models import analyze, load_scenario
from sim import simulate

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:  # bench/ is not a package: as a script, this file needs its
    sys.path.append(str(BENCH))  # folder to import its parts

from pool_contention import law  # noqa: E402


@dataclass(frozen=True)
class Shape:
    """A pool of `threads` over a one-server database it brings `share` of, at `utilization`."""

    threads: int
    own_work: float
    own_cv: float
    service: float
    service_cv: float
    visits: int
    share: float
    utilization: float
    servers: int = 1
    """The database's servers (its `utilization` per server)."""
    consumers: bool = False
    """`app` is a queue topic's group of `threads` consumers, the topic fed by an API's
    publishes (the pool's flow: the messages' completion time), not a thread pool."""
    partitions: int | None = None
    """With `consumers`: the topic is a log topic of this many partitions, its group
    `threads` consumers of one thread each (each its own partitions)."""


SHAPES = [
    Shape(4, 0.0075, 1.0, 0.00726, 0.0, 1, 0.86, 0.8),
    Shape(4, 0.0075, 1.0, 0.007, 1.0, 1, 0.86, 0.8),
    Shape(4, 0.0075, 1.0, 0.007, 1.0, 1, 0.7, 0.8),
    Shape(4, 0.0075, 1.0, 0.007, 1.0, 1, 0.5, 0.8),
    Shape(2, 0.005, 1.0, 0.010, 1.0, 1, 0.8, 0.75),
    Shape(8, 0.020, 1.0, 0.003, 1.0, 1, 0.8, 0.8),
    Shape(4, 0.0075, 0.5, 0.007, 0.5, 1, 0.7, 0.8),
    Shape(3, 0.004, 1.0, 0.005, 1.0, 2, 0.8, 0.8),
    Shape(4, 0.0075, 1.0, 0.007, 1.0, 1, 0.95, 0.8),
    Shape(6, 0.015, 1.0, 0.006, 1.0, 1, 0.6, 0.7),
    Shape(4, 0.0075, 1.0, 0.014, 1.0, 1, 0.6, 0.8, 2),
    Shape(4, 0.0075, 1.0, 0.014, 1.0, 1, 0.8, 0.8, 2),
    Shape(4, 0.0092, 0.3, 0.0042, 0.5, 2, 0.56, 0.8, 2),
    Shape(8, 0.010, 1.0, 0.02, 1.0, 1, 0.7, 0.8, 4),
    Shape(6, 0.0075, 0.5, 0.014, 0.5, 1, 0.7, 0.75, 2),
    Shape(2, 0.005, 1.0, 0.010, 1.0, 1, 0.8, 0.75, consumers=True),
    Shape(4, 0.0075, 1.0, 0.007, 1.0, 1, 0.5, 0.8, consumers=True),
    Shape(4, 0.0075, 1.0, 0.007, 1.0, 1, 0.7, 0.8, consumers=True),
    Shape(4, 0.0075, 1.0, 0.014, 1.0, 1, 0.8, 0.8, 2, consumers=True),
    Shape(8, 0.020, 1.0, 0.003, 1.0, 1, 0.8, 0.8, consumers=True),
    Shape(4, 0.0075, 0.5, 0.007, 1.0, 1, 0.7, 0.8, consumers=True),
    Shape(1, 0.004, 1.0, 0.007, 1.0, 1, 0.5, 0.8, consumers=True, partitions=4),
    Shape(2, 0.005, 1.0, 0.010, 1.0, 1, 0.8, 0.75, consumers=True, partitions=4),
    Shape(2, 0.0075, 1.0, 0.007, 1.0, 1, 0.5, 0.8, consumers=True, partitions=4),
    Shape(4, 0.0075, 1.0, 0.007, 1.0, 1, 0.7, 0.8, consumers=True, partitions=8),
    Shape(4, 0.0075, 1.0, 0.014, 1.0, 1, 0.8, 0.8, 2, consumers=True, partitions=8),
    Shape(3, 0.0075, 0.5, 0.007, 0.5, 1, 0.7, 0.8, consumers=True, partitions=6),
    Shape(1, 0.002, 1.0, 0.006, 1.0, 1, 0.4, 0.7, consumers=True, partitions=2),
]
"""The first is `bench/analysis_fuzz.py` seed 1501's pool and callee (its callee's constant
work and delay taken as one constant service)."""


def _document(shape: Shape, replications: int, duration: float) -> dict[str, Any]:
    arrivals = shape.utilization * shape.servers / shape.service
    app_rate = shape.share * arrivals / shape.visits
    steps = [{"work": law(shape.own_work, shape.own_cv)}] + [{"call": "db"}] * shape.visits
    document: dict[str, Any] = {
        "name": "shared-callee",
        "simulation": {
            "duration": duration,
            "warmup": 20,
            "replications": replications,
            "seed": 7,
        },
        "services": {
            "app": {"workers": shape.threads, "operations": {"op": steps}},
            "db": {
                "workers": shape.servers,
                "operations": {"op": [{"work": law(shape.service, shape.service_cv)}]},
            },
        },
        "workload": {
            "app": {"entry": "app.op", "arrivals": {"poisson": round(app_rate, 4)}},
            "other": {
                "entry": "db.op",
                "arrivals": {"poisson": round((1.0 - shape.share) * arrivals, 4)},
            },
        },
    }
    if shape.consumers:  # (the topic's consumers in the pool's place)
        document["services"]["app"]["workers"] = 1
        document["services"]["api"] = {
            "workers": "unlimited",
            "operations": {"place": [{"publish": "orders"}]},
        }
        subscriber = {"operation": "op", "concurrency": shape.threads}
        topic: dict[str, Any] = {"type": "queue", "subscribers": {"app": subscriber}}
        if shape.partitions is not None:
            topic.update(type="log", partitions=shape.partitions)
        document["topics"] = {"orders": topic}
        document["workload"]["app"]["entry"] = "api.place"
    return document


def _times(found: Any, shape: Shape) -> dict[str, float | None]:
    """The pool's wait, the database's and the pool's flow's (a prediction or one run):
    for consumers, their group's wait and the messages' completion time."""
    if shape.consumers:
        app_wait = found.topics["orders"].groups["app"].waiting_time.mean
        app_flow = found.flows["app"].completion_time.mean
    else:
        app_wait = found.services["app"].waiting_time.mean
        app_flow = found.flows["app"].response_time.mean
    db_wait = found.services["db"].waiting_time.mean
    return {"app_wait": app_wait, "db_wait": db_wait, "app_flow": app_flow}


def _interval(values: list[float | None]) -> tuple[float, float]:
    sample = np.array([math.nan if value is None else value for value in values])
    half = stats.t.ppf(0.975, sample.size - 1) * sample.std(ddof=1) / math.sqrt(sample.size)
    return float(sample.mean()), float(half)


def _predicted(scenario: Any, shape: Shape, own_share: float) -> dict[str, float]:
    saved = pools.OWN_SHARE
    pools.OWN_SHARE = own_share
    try:
        found = analyze(scenario, capacity=False)
    finally:
        pools.OWN_SHARE = saved
    times = _times(found, shape)
    return {name: math.inf if value is None else value for name, value in times.items()}


def measure(
    shape: Shape, replications: int, duration: float, own_shares: list[float]
) -> dict[str, Any]:
    """The shape's predicted (at each threshold) and simulated mean times."""
    scenario = load_scenario(_document(shape, replications, duration))
    runs = [_times(run, shape) for run in simulate(scenario).replications]
    simulated = {name: _interval([run[name] for run in runs]) for name in runs[0]}
    row: dict[str, Any] = {**asdict(shape)}
    for name, (mean, half) in simulated.items():
        row[name] = {"simulated_ms": mean * 1e3, "half_width_ms": half * 1e3}
        for share in own_shares:
            value = _predicted(scenario, shape, share)[name]
            row[name][f"error_at_{share}"] = value / mean - 1.0 if mean > 0 else math.nan
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=6)
    parser.add_argument("--duration", type=float, default=400.0)
    parser.add_argument("--own-shares", type=float, nargs="+", default=[pools.OWN_SHARE])
    parser.add_argument(
        "--shapes", type=int, nargs=2, default=[0, len(SHAPES) - 1], metavar=("FIRST", "LAST")
    )
    arguments = parser.parse_args()
    first, last = arguments.shapes
    rows = [
        measure(shape, arguments.replications, arguments.duration, arguments.own_shares)
        for shape in SHAPES[first : last + 1]
    ]
    print(json.dumps({"shapes": rows}, indent=1))


if __name__ == "__main__":
    main()
