"""A thread pool whose callers can never have more requests there than it has threads
(`pools.solve_pool`): its flow-equivalent server has only as many threads as can be busy,
and it never waits."""

from __future__ import annotations

from typing import Any

from models import analyze, load_scenario


def _scenario(front_workers: int) -> dict[str, Any]:
    """`front` (`front_workers` workers fed by open arrivals) calls `app` (8 workers), which
    calls a one-server `db`."""
    return {
        "name": "threads-in-use",
        "simulation": {"duration": 100},
        "services": {
            "front": {
                "workers": front_workers,
                "operations": {"get": [{"work": {"exponential": "3ms"}}, {"call": "app.get"}]},
            },
            "app": {
                "workers": 8,
                "operations": {"get": [{"work": {"exponential": "2ms"}}, {"call": "db.read"}]},
            },
            "db": {"workers": 1, "operations": {"read": [{"work": {"exponential": "6ms"}}]}},
        },
        "workload": {"users": {"entry": "front.get", "arrivals": {"poisson": 60}}},
    }


def test_a_pool_acts_on_its_callees_as_the_threads_its_callers_can_fill() -> None:
    """Three workers in front: `app` of 8, 5 or 3 threads has at most 3 requests, so `db`
    waits the same behind each (it waited 3.37 ms behind 8 threads, 3.30 ms behind 5 and
    2.84 ms behind 3, when the flow-equivalent server took all the threads)."""
    waits = []
    for threads in (8, 5, 3):
        document = _scenario(3)
        document["services"]["app"]["workers"] = threads
        db = analyze(load_scenario(document), capacity=False).services["db"]
        assert db.waiting_time.mean is not None
        waits.append(db.waiting_time.mean)
    assert waits[0] == waits[1] == waits[2], waits


def test_a_pool_its_callers_cannot_fill_never_waits() -> None:
    """Three workers in front: `app` (8 threads) never waits, and its utilization is over
    its 8 threads (the requests present, all in service, by Little's law)."""
    prediction = analyze(load_scenario(_scenario(3)), capacity=False)
    app = prediction.services["app"]
    assert app.waiting_time.mean == 0.0 and app.p_wait == 0.0
    assert "at most 3 present: never waits" in app.method, app.method
    busy = 60 * (app.response_time.mean)  # (Little: requests present, all in service)
    assert abs(app.utilization - busy / 8) < 1e-9 * busy
