"""A closed flow through thread pools held during its calls (models.analysis.closed_pools):
the throughput of the network with the pools as delays, its waiting moved up by the caps."""

from __future__ import annotations

import math
from typing import Any

import pytest

from models import load_scenario
from models.analysis import analyze
from models.theory import mva_exact

REL = 1e-9


def three_tiers(web: int, app: int, clients: int) -> Any:
    """Clients thinking 50 ms -> web (`web` threads, 0.5 ms) -> app (`app` threads, 2 ms)
    -> db (2 servers, 6 ms), every time exponential."""

    def service(workers: int, mean: float, callee: str | None) -> dict[str, Any]:
        steps: list[dict[str, Any]] = [{"work": {"exponential": mean}}]
        if callee is not None:
            steps.append({"call": callee})
        return {"workers": workers, "operations": {"op": steps}}

    return load_scenario(
        {
            "name": "closed three tiers",
            "simulation": {"duration": 60},
            "services": {
                "web": service(web, 0.0005, "app"),
                "app": service(app, 0.002, "db"),
                "db": service(2, 0.006, None),
            },
            "workload": {
                "users": {"entry": "web", "clients": clients, "think_time": {"exponential": 0.05}}
            },
        }
    )


@pytest.mark.parametrize("clients", [12, 23])
def test_the_caps_move_waiting_up_and_keep_the_throughput(clients: int) -> None:
    """Throughput and response time are those of exact MVA with the pools as delays (the
    bottleneck is work conserving: Kleinrock vol. 2 sec. 3.4); the waiting the caps hold
    back in the pools' queues is taken from the database's, so the total is unchanged."""
    result = analyze(three_tiers(web=8, app=6, clients=clients))
    uncapped = mva_exact([0.0005, 0.002, 0.006], 0.05, clients, [None, None, 2])
    flow = result.flows["users"]
    assert flow.throughput == pytest.approx(uncapped.throughput, rel=REL)
    assert flow.response_time.mean == pytest.approx(uncapped.response_time, rel=REL)
    waits = {name: result.services[name].waiting_time.mean for name in ("web", "app", "db")}
    db_queue = uncapped.station_queue_lengths[2] - uncapped.throughput * 0.006
    assert math.fsum(waits.values()) * uncapped.throughput == pytest.approx(db_queue, rel=1e-9)
    assert waits["web"] > 0 and waits["app"] > 0
    assert "placed by their caps" in result.services["web"].method


def test_pools_wider_than_the_population_are_plain_mva() -> None:
    result = analyze(three_tiers(web=12, app=12, clients=12))
    assert result.flows["users"].exact is True
    assert result.services["web"].waiting_time.mean == 0.0


def test_a_pool_that_limits_the_throughput_is_left_to_the_fixed_point() -> None:
    """Two app threads held 20 ms each (own work) in front of a database of 6 ms: the pool
    (X(2) about 2 / 26 ms) is below 90% of the database's 333/s; its caps do not merely
    move waiting, so the closed-loop fixed point is used."""
    document = three_tiers(web=8, app=2, clients=23).model_dump(mode="json", by_alias=True)
    document["services"]["app"]["operations"]["op"][0] = {"work": {"exponential": 0.02}}
    result = analyze(load_scenario(document))
    assert result.flows["users"].method.startswith("closed-loop fixed point")
