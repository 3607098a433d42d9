"""An event loop (one async-I/O worker) whose operation calls in one branch and works in
the other, against the simulator (`models.analysis.segments`).

`work 4 ms; branch(0.4: call a backend of 5 ms | 0.6: work 3 ms); work 2 ms`, exponential
work, Poisson 70/s (55% busy). Where the branch works, one acquisition holds the loop for
all three pieces (9 ms on average); where it calls, two hold it for 4 ms and for 2 ms. The
loop is M/G/1 of its acquisitions (1.4 a request) with the mixture of those holds:
E[S^2] = 82 / 1.4 ms^2, W = 6.32 ms. Taking the branch's segments as if each were always
taken (what the analysis did before) said 4.30 ms; the simulation says 6.18 ms (5.89-6.46,
4 replications of 200 s). An approximation: the reacquisitions come 5 ms after their
release, not as Poisson arrivals (`SLACK`).

Tolerance (`agrees`, tests/theory/conftest.py): 4.90 SE over 20 replications of 150 s (false-alarm
rate 1e-4 per check), each check's expected half-width under 6% of theory (power).
"""

from __future__ import annotations

from typing import Any

import pytest

from models import analyze, load_scenario
from tests.theory.scenarios import event_loop

pytestmark = pytest.mark.theory

SLACK = 0.05
"""The band beyond the simulation's interval: measured +2.3% (6.32 ms predicted, 6.18
simulated)."""


def _scenario() -> dict[str, Any]:
    return event_loop(150, replications=20)


def test_event_loop_holds_for_the_segments_each_outcome_makes(
    agrees: Any, replications_of: Any, stat: Any
) -> None:
    node = analyze(load_scenario(_scenario()), capacity=False).services["node"]
    assert node.waiting_time is not None and node.waiting_time.mean is not None
    assert node.waiting_time.mean == pytest.approx(0.00632, rel=0.01)
    runs = replications_of(_scenario())
    waits = stat(runs, "services", "node", "waiting_time", "mean")
    agrees(waits, node.waiting_time.mean, "event loop W (M/G/1 of its segments)", slack=SLACK)
