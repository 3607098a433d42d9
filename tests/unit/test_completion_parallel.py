"""A flow's completion time through a `parallel` step whose branch publishes
(`models.analysis.flows._Completions.parallel`): the steps after the step start when the
branches have responded, and a branch's messages are handled beside them.

Every time is constant and every station has room for all (unlimited workers, a queue
topic consumed 100 at a time), so nothing waits and the times are exact: the analysis is
checked to 1e-9 against the sums by hand, and the simulator, whose run then has the same
value for every request, against the same figure.
"""

from __future__ import annotations

from typing import Any

import pytest

from models import analyze, load_scenario
from sim import simulate

REL = 1e-9


def _scenario(after: list[dict[str, Any]]) -> dict[str, Any]:
    """An API: parallel(call `notifier`, which works 1 ms and publishes an event handled in
    20 ms | work 1 ms), then the steps `after`."""
    return {
        "name": "parallel-publish",
        "simulation": {"duration": 40, "warmup": 2, "replications": 2, "seed": 3},
        "services": {
            "api": {
                "workers": "unlimited",
                "operations": {
                    "op": [
                        {
                            "parallel": [
                                [{"call": "notifier"}],
                                [{"work": {"constant": "1ms"}}],
                            ]
                        },
                        *after,
                    ]
                },
            },
            "notifier": {
                "workers": "unlimited",
                "operations": {"op": [{"work": {"constant": "1ms"}}, {"publish": "events"}]},
            },
            "mailer": {
                "workers": "unlimited",
                "operations": {"handle": [{"work": {"constant": "20ms"}}]},
            },
        },
        "topics": {
            "events": {
                "type": "queue",
                "subscribers": {"mailer": {"operation": "handle", "concurrency": 100}},
            }
        },
        "workload": {"users": {"entry": "api.op", "arrivals": {"poisson": 5}}},
    }


@pytest.mark.parametrize(
    ("after", "response", "completion"),
    [
        # the rest (10 ms) runs beside the event (20 ms): max(1 + 10, 1 + 20); the branches'
        # completions joined, then the rest, said 1 + 20 + 10 = 31 ms
        ([{"work": {"constant": "10ms"}}], 0.011, 0.021),
        # the rest outlasts the event: the response itself, max(1 + 30, 1 + 20)
        ([{"work": {"constant": "30ms"}}], 0.031, 0.031),
        # nothing after the step: the event's end, 1 + 20
        ([], 0.001, 0.021),
    ],
)
def test_work_after_a_parallel_step_runs_beside_a_branch_s_messages(
    after: list[dict[str, Any]], response: float, completion: float
) -> None:
    scenario = load_scenario(_scenario(after))
    flow = analyze(scenario).flows["users"]
    assert flow.response_time.mean == pytest.approx(response, rel=REL)
    assert flow.completion_time.mean == pytest.approx(completion, rel=REL)
    simulated = simulate(scenario).flows["users"]
    assert simulated.completion_time.mean == pytest.approx(completion, rel=REL)
