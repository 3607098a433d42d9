"""A thread pool over a callee it brings nearly all the load of, against the simulator
(`models.analysis.pools.find_callees`, `OWN_SHARE`).

An API of 8 threads at 196 requests/s calls a database of one server twice in a row (1.9 ms
lognormal of cv 1 each, between 0.5 ms and 1.5 ms of its own work); a batch flow calls the
database directly at 28/s, 7% of its arrivals (80% busy in all). All the API's threads are
held at the database's queue together when it is slow, so the API waits far more than its
mean holding time says: the flow-equivalent server over the database, whose servers the
batch's load slows (Lazowska et al. 1984, sec. 7.4), gives 2.41 ms; the simulation 2.59 ms
(2.17-3.01, 4 replications of 200 s). Taking the database as a delay of its open response
because another flow calls it too (what the analysis did before) said 0.24 ms (fuzz seed
680 at 80%: -90%). An approximation (`SLACK`).

Tolerance (`agrees`, tests/theory/conftest.py): 4.33 SE over 40 replications of 150 s
(false-alarm rate 1e-4 per check). The pool's wait comes in the database's rare slow
spells, so it varies much from run to run: 20 replications of 900 s left a half-width of
8.4% (of 120 s, 22%), 40 of 150 s 10-13% (`POWER`): a sixth of the simulated time for a
half-width 1.2-1.5 times as wide, which still tells the open model apart by far.
"""

from __future__ import annotations

from typing import Any

import pytest

from models import analyze, load_scenario

pytestmark = pytest.mark.theory

SLACK = 0.12
"""The band beyond the simulation's interval: measured -7% (2.41 ms predicted, 2.59 ms
simulated)."""
POWER = 0.15
"""Largest expected half-width allowed, relative to the prediction (instead of the default
6%): 13.1%, 9.8% and 9.8% at seed shifts 0, 1000 and 2000 (8.4% of 900 s x sqrt(900 /
150) x t(40) / t(20) = 4.33 / 4.90 says 12.9%), so the tolerance is 22-25% of the 2.41 ms
predicted (with `SLACK`), at most 15% + 12% = 27% by this bound. The open model's 0.24 ms
is 90% below the prediction: 3.3 times the largest tolerance away (and the simulated mean,
2.4-2.6 ms, further still). Checked against 0.24 ms itself, the half-width (0.24-0.32 ms)
would be 100-130% of the value, far above the power bound's 22% as well."""


def _scenario() -> dict[str, Any]:
    read = {"call": "db.q"}
    return {
        "name": "mostly-own-callee",
        "simulation": {"duration": 150, "warmup": 5, "replications": 40},
        "services": {
            "api": {
                "workers": 8,
                "operations": {
                    "get": [
                        {"work": {"exponential": 0.0005}},
                        read,
                        read,
                        {"work": {"exponential": 0.0015}},
                    ]
                },
            },
            "db": {
                "workers": 1,
                "operations": {"q": [{"work": {"lognormal": {"mean": 0.0019, "cv": 1.0}}}]},
            },
        },
        "workload": {
            "users": {"entry": "api.get", "arrivals": {"poisson": 196}},
            "batch": {"entry": "db.q", "arrivals": {"poisson": 28}},
        },
    }


def test_a_pool_waits_with_the_callee_it_brings_nearly_all_of(
    agrees: Any, replications_of: Any, stat: Any
) -> None:
    api = analyze(load_scenario(_scenario()), capacity=False).services["api"]
    assert api.method.startswith("flow-equivalent server")
    assert api.waiting_time is not None and api.waiting_time.mean is not None
    assert api.waiting_time.mean > 1.5e-3  # (the open model: 0.24 ms)
    runs = replications_of(_scenario())
    waits = stat(runs, "services", "api", "waiting_time", "mean")
    agrees(
        waits,
        api.waiting_time.mean,
        "api W (flow-equivalent, 93% own callee)",
        slack=SLACK,
        max_relative_half_width=POWER,
    )
