"""Property test of paced stations (models/analysis/paced.py) against the engine
(hypothesis; no tolerance: a sample-path fact).

Hypothesis draws a sender that paces a stream at least g apart and a receiver that never
holds longer than its servers x g, and checks that the analysis says the receiver never
waits, exactly (paced; or, behind a blocking caller of one worker, the finite source of
one that the layers name first) and that in the simulation no request ever waits there
(every wait of the run is 0).

The senders: a service of one worker (blocking, or an event loop whose call before the
send lets it go, so only the work after the call counts), a consumer group of one
consumer that publishes on, a flow at a fixed rate (its own steps, some work of varying
length before the send). The receivers: a queue topic's group of k threads, a log topic's
consumers over p partitions (each one server), or a service of k workers (per replica
with round-robin balancing over r replicas). Work laws are constant or uniform, the one
law whose bounds the rule reads (`paced.support`), with the receiver's longest hold drawn
up to the limit itself. The load is Poisson, up to 90% of the sender's capacity (or the
flow's fixed rate), so that queues form upstream.

Seeds: the `seed` fixture (tests/theory/conftest.py) plus a drawn offset.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models import analyze, load_scenario
from sim.engine import run_replication

pytestmark = pytest.mark.theory

SETTINGS = settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
MS = 1e-3


def _uniform(low: float, high: float) -> dict[str, Any]:
    return {"work": {"constant": low} if high <= low else {"uniform": [low, high]}}


@st.composite
def paced_pipelines(draw: st.DrawFn) -> tuple[dict[str, Any], str, tuple[str, ...]]:
    """(scenario, the receiver's kind, its path in the results) for a drawn pipeline."""
    gap = draw(st.floats(1.0, 5.0).map(lambda value: round(value, 2))) * MS
    sender = draw(st.sampled_from(["service", "event-loop", "group", "fixed-rate"]))
    receiver = draw(st.sampled_from(["queue", "log", "service"]))
    servers = draw(st.integers(1, 3))
    longest = gap * (servers if receiver != "log" else 1) * draw(st.sampled_from([1.0, 0.7]))
    shortest = longest * draw(st.floats(0.0, 1.0))
    handle = [_uniform(shortest, longest)]
    send = {"call": "receiver"} if receiver == "service" else {"publish": "stream"}
    services: dict[str, Any] = {"store": {"workers": 4, "operations": {"get": [_uniform(MS, MS)]}}}
    topics: dict[str, Any] = {}
    extra = draw(st.floats(0.0, 1.0)) * gap  # (how much longer than g the sender's work runs)
    sender_work = _uniform(gap, gap + extra)
    load = draw(st.floats(0.3, 0.9)) / (gap + extra / 2)  # (up to 90% of the sender)
    workload: dict[str, Any] = {"users": {"entry": "sender.run", "arrivals": {"poisson": load}}}
    if sender == "service":
        services["sender"] = {"operations": {"run": [sender_work, send]}}
    elif sender == "event-loop":
        run = [_uniform(MS, 2 * MS), {"call": "store"}, sender_work, send, _uniform(MS, MS)]
        services["sender"] = {"blocking_calls": False, "operations": {"run": run}}
        workload["users"]["arrivals"] = {"poisson": load / 2}
    elif sender == "group":
        services["sender"] = {"workers": "unlimited", "operations": {"run": [{"publish": "in"}]}}
        services["stage"] = {"operations": {"work": [sender_work, send]}}
        topics["in"] = {"type": "queue", "subscribers": {"stage": "work"}}
    else:
        rate = 1.0 / (gap + extra)
        workload = {
            "users": {"steps": [_uniform(0.0, extra), send], "arrivals": {"constant": rate}}
        }
    if receiver == "service":
        replicas = draw(st.integers(1, 2))
        services["receiver"] = {
            "workers": servers,
            "replicas": replicas,
            "operations": {"take": handle},
        }
        path: tuple[str, ...] = ("services", "receiver")
    else:
        services["receiver"] = {"operations": {"take": handle}}
        subscriber = {"operation": "take", "concurrency": servers}
        if receiver == "queue":
            topics["stream"] = {"type": "queue", "subscribers": {"receiver": subscriber}}
        else:
            partitions = draw(st.integers(1, 4))
            topics["stream"] = {"partitions": partitions, "subscribers": {"receiver": subscriber}}
        path = ("topics", "stream", "groups", "receiver")
    document = {
        "name": "paced-property",
        "simulation": {"duration": 20, "warmup": 0},
        "services": services,
        "topics": topics,
        "workload": workload,
    }
    return document, receiver, path


@SETTINGS
@given(drawn=paced_pipelines(), offset=st.integers(0, 10_000))
def test_a_paced_receiver_never_waits(
    drawn: tuple[dict[str, Any], str, tuple[str, ...]], offset: int, seed: int
) -> None:
    document, _, path = drawn
    scenario = load_scenario(document)
    predicted: Any = analyze(scenario, capacity=False).to_dict()
    simulated: Any = run_replication(scenario, 0, seed + offset).measurements.model_dump()
    for key in path:
        predicted, simulated = predicted[key], simulated[key]
    assert "never waits" in predicted["method"], (predicted["method"], document)
    assert predicted["exact"] is True
    assert predicted["waiting_time"]["mean"] == 0.0
    assert simulated["waiting_time"]["max"] == 0.0, (simulated["waiting_time"], document)
