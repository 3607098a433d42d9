"""Deterministic tests of replayed traces and of autoscaling: exact timelines.

Traces are CSV files written into pytest's `tmp_path`, loaded through a scenario YAML file
next to them (the trace's path is relative to the scenario file). A flow whose one step is a
constant `delay` of 0.1 s answers every request 0.1 s after it arrives, so the flow
throughput time series (sampled every 0.25 s) counts the arrivals of each sample interval:
with arrival times on a 0.5 s grid each response falls strictly inside one interval, and the
series gives every arrival time exactly.

Autoscaling runs on traces too: pairs of requests at k + 0.5 s (k = 0, 1, ...), constant
work, decisions every 10 s, so that no arrival, completion or sample coincides with a
decision and every utilization the autoscaler observes is a ratio of known areas (stated in
each test). Time-series samples are taken every 0.5 s, and read only off the decision
instants.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from models import load_scenario
from models.arrivals import TraceSpec
from models.schema import Scenario
from sim.engine import Replication, run_replication

Trace = list[tuple[str, str, int, int, float]]


def write_trace(folder: Path, times: list[float], name: str = "arrivals.csv") -> str:
    """A trace CSV of one arrival time per line in `folder`; its absolute path (for inline
    scenarios)."""
    path = folder / name
    path.write_text("\n".join(str(time) for time in times) + "\n", encoding="utf-8")
    return str(path)


def load_from_folder(folder: Path, document: dict[str, Any]) -> Scenario:
    """Write `document` as scenario.yaml in `folder` and load it from there (relative trace
    paths resolve against the folder)."""
    path = folder / "scenario.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return load_scenario(path)


def series(timeseries: dict[str, list[Any]], entity: str, metric: str) -> dict[float, float]:
    """{time: value} of one metric of one entity."""
    return {
        float(time): float(value)
        for time, kind_entity, kind_metric, value in zip(
            timeseries["time"],
            timeseries["entity"],
            timeseries["metric"],
            timeseries["value"],
            strict=True,
        )
        if kind_entity == entity and kind_metric == metric
    }


# --------------------------------------------------------------------------- trace replay

TRACE_ROWS = ["id,time", "a,1", "b,2s", "c,2000ms", "d,4", "e,6"]
"""A trace with a header (the `time` column is read) and units: arrivals at 1, 2, 2, 4, 6 s;
a loop lasts 6 s (its last arrival time)."""


def trace_scenario(folder: Path, trace: dict[str, Any], warmup: float, duration: float) -> Scenario:
    (folder / "arrivals.csv").write_text("\n".join(TRACE_ROWS) + "\n", encoding="utf-8")
    return load_from_folder(
        folder,
        {
            "name": "replay",
            "simulation": {"duration": duration, "warmup": warmup, "sample_interval": 0.25},
            "workload": {
                "replayed": {
                    "steps": [{"delay": {"constant": 0.1}}],
                    "arrivals": {"trace": {"file": "arrivals.csv", **trace}},
                }
            },
        },
    )


@pytest.mark.parametrize(
    ("trace", "warmup", "duration", "arrivals"),
    [
        # as recorded: the arrival at 1 s is in the warm-up
        ({}, 1.5, 10.0, [1.0, 2.0, 2.0, 4.0, 6.0]),
        # twice as fast: 0.5, 1, 1, 2, 3 (the first is in the warm-up)
        ({"speed": 2}, 0.75, 10.0, [0.5, 1.0, 1.0, 2.0, 3.0]),
        # twice as fast and looped: a loop lasts 3 s (the last arrival time, 6 s / 2), so
        # loop k replays 0.5, 1, 1, 2, 3 shifted by 3 k
        (
            {"speed": 2, "repeat": True},
            0.75,
            8.0,
            [0.5, 1, 1, 2, 3, 3.5, 4, 4, 5, 6, 6.5, 7, 7, 8, 9],
        ),
    ],
    ids=["as-recorded", "speed-2", "speed-2-repeat"],
)
def test_a_trace_is_replayed_at_its_times(
    tmp_path: Path,
    trace: dict[str, Any],
    warmup: float,
    duration: float,
    arrivals: list[float],
) -> None:
    """Every arrival at its time / speed (+ loop x last time when repeated): the counts of
    the measured window [warmup, warmup + duration), the response time (the 0.1 s delay) and
    each 0.25 s interval's count of responses."""
    scenario = trace_scenario(tmp_path, trace, warmup, duration)
    spec = scenario.workload["replayed"].arrivals.trace
    assert Path(spec.file) == tmp_path / "arrivals.csv"
    assert spec.times == (1.0, 2.0, 2.0, 4.0, 6.0)
    run = run_replication(scenario, 0, 1)
    end = warmup + duration
    expected = [time for time in arrivals if time < end]
    measured = [time for time in expected if time >= warmup]
    flow = run.measurements.flows["replayed"]
    assert flow.arrived == len(measured) == spec.count_between(warmup, end)
    assert flow.completed == len([time for time in measured if time + 0.1 < end])
    assert flow.response_time.mean == pytest.approx(0.1, rel=1e-9)
    assert flow.response_time.max == pytest.approx(0.1, rel=1e-9)
    throughput = series(run.timeseries, "replayed", "throughput")
    counts = {time: round(value * 0.25) for time, value in throughput.items()}
    assert sorted(counts) == pytest.approx([0.25 * k for k in range(1, round(end / 0.25) + 1)])
    responses = np.array(expected) + 0.1
    for sample_end, count in counts.items():
        inside = (responses > sample_end - 0.25) & (responses <= sample_end)
        assert count == np.count_nonzero(inside), f"interval ending {sample_end}"
    assert sum(counts.values()) == len([time for time in responses if time <= end])


def test_a_trace_of_one_column_without_header_and_an_absolute_path(tmp_path: Path) -> None:
    """One time per line, no header, the file named by an absolute path in an inline
    scenario: arrivals at 0.5, 0.5, 2.5 (two at the same instant)."""
    path = tmp_path / "plain.csv"
    path.write_text("0.5\n0.5\n2.5\n", encoding="utf-8")
    raw = {
        "name": "plain",
        "simulation": {"duration": 5},
        "services": {"db": {"operations": {"q": [{"work": {"constant": 1.0}}]}}},
        "workload": {"f": {"entry": "db", "arrivals": {"trace": str(path)}}},
    }
    result = run_replication(load_scenario(raw), 0, 1).measurements
    db = result.services["db"]
    # the second request at 0.5 waits 1 s for the one worker; the third finds it free
    assert (result.flows["f"].arrived, result.flows["f"].completed) == (3, 3)
    assert db.waiting_time.mean == pytest.approx(1 / 3, rel=1e-9)
    assert db.waiting_time.max == pytest.approx(1.0, rel=1e-9)
    assert result.flows["f"].response_time.mean == pytest.approx(4 / 3, rel=1e-9)


def test_count_between_matches_a_long_looped_replay(tmp_path: Path) -> None:
    """`TraceSpec.count_between` (used for the expected load) agrees with the engine over
    windows that start mid-loop and span many loops."""
    scenario = trace_scenario(tmp_path, {"speed": 0.5, "repeat": True}, 7.25, 250.0)
    spec = scenario.workload["replayed"].arrivals.trace
    assert isinstance(spec, TraceSpec)
    arrived = run_replication(scenario, 0, 1).measurements.flows["replayed"].arrived
    # loops of 12 s with arrivals at 2, 4, 4, 8, 12 (+ 12 k): window [7.25, 257.25)
    loops = [12 * k + offset for k in range(30) for offset in (2, 4, 4, 8, 12)]
    assert arrived == sum(7.25 <= time < 257.25 for time in loops)
    assert arrived == spec.count_between(7.25, 257.25)


# --------------------------------------------------------------------------- autoscaling


def pairs(last: int) -> list[float]:
    """Two arrivals at each k + 0.5 s, k = 0 .. last."""
    return [k + 0.5 for k in range(last + 1) for _ in range(2)]


def autoscaled(
    folder: Path,
    times: list[float],
    work: float,
    autoscale: dict[str, Any],
    duration: float,
    replicas: int = 1,
    **service: Any,
) -> dict[str, Any]:
    """Service `api` (one worker per replica, constant `work`, autoscaled) fed by a trace."""
    return {
        "name": "hpa",
        "simulation": {"duration": duration, "sample_interval": 0.5},
        "services": {
            "api": {
                "replicas": replicas,
                "workers": 1,
                "operations": {"handle": [{"work": {"constant": work}}]},
                "autoscale": {"interval": 10, **autoscale},
                **service,
            }
        },
        "workload": {
            "users": {"entry": "api", "arrivals": {"trace": {"file": write_trace(folder, times)}}}
        },
    }


def replica_steps(run: Any) -> list[tuple[float, float]]:
    """(time, count) of every change of the `replicas` series (sampled every 0.5 s), from its
    first sample, skipping the samples at decision instants (multiples of 10 s: their order
    with the decision is not specified); a change decided at t shows at t + 0.5."""
    values = series(run.timeseries, "api", "replicas")
    steps: list[tuple[float, float]] = []
    for time in sorted(values):
        if time % 10 == 0:
            continue
        if not steps or values[time] != steps[-1][1]:
            steps.append((time, values[time]))
    return steps


@pytest.mark.parametrize(
    ("startup", "target", "count"),
    [(0.0, 0.5, 2), (5.0, 0.5, 2), (0.0, 0.2, 4)],
)
def test_scale_up_is_decided_after_an_interval_and_serves_after_startup(
    tmp_path: Path, startup: float, target: float, count: int
) -> None:
    """Pairs of 0.35 s requests every second: one replica is busy 0.7 of the time, the
    second request of each pair waiting 0.35 s. At t = 10 the autoscaler sees utilization
    0.7 and wants ceil(1 x 0.7 / target) replicas (2 for target 0.5, 4 for 0.2), at once; the
    new ones serve from 10 + startup, and from then on round robin splits every pair (no
    more waiting). Later decisions keep the count: at t = 20 the started workers were busy
    7 s of (10 + (count - 1)(10 - startup)) s, e.g. ceil(2 x 7 / 15 / 0.5) = 2, and then
    7 s of 10 count s. (Four replicas with a start-up delay are
    `test_a_startup_delay_does_not_inflate_the_next_decision`.)

    Exactly, over [0, 100): replicas 1 until 10 then `count` (mean 0.1 + 0.9 count,
    replica-seconds 10 + 90 count); the first (10 + startup) pairs wait 0.35 s for their
    second request; utilization = busy / worker-seconds of started replicas =
    70 / (100 + (count - 1)(90 - startup)).
    """
    raw = autoscaled(
        tmp_path,
        pairs(99),
        0.35,
        {"target": target, "min": 1, "max": 6, "stabilization": 30, "startup": startup},
        duration=100,
    )
    run = run_replication(load_scenario(raw), 0, 1)
    api = run.measurements.services["api"]
    assert replica_steps(run) == [(0.5, 1.0), (10.5, float(count))]
    assert api.replicas.mean == pytest.approx(0.1 + 0.9 * count, rel=1e-9)
    assert (api.replicas.max, api.replicas.final) == (count, count)
    assert api.replica_seconds == pytest.approx(10 + 90 * count, rel=1e-9)
    waited = 10 + int(startup)  # pairs at 0.5 .. 9.5 + startup
    assert api.p_wait == pytest.approx(waited / 200)
    assert api.waiting_time.mean == pytest.approx(waited * 0.35 / 200, rel=1e-9)
    worker_seconds = 100 + (count - 1) * (90 - startup)
    assert api.utilization == pytest.approx(70 / worker_seconds, rel=1e-9)
    flow = run.measurements.flows["users"]
    assert (flow.arrived, flow.completed, flow.failed) == (200, 200, 0)


def test_a_startup_delay_does_not_inflate_the_next_decision(tmp_path: Path) -> None:
    """Pairs of 0.35 s requests every second (0.7 Erlang), target 0.2: 4 replicas at t = 10
    (serving from 15). Over [10, 20] the service did 7 s of work, 7 / (4 x 10) = 0.175 per
    replica-second of the 4 replicas it has: 4 are enough (ceil(0.7 / 0.2) = 4), and the
    count should stay 4; utilization over started workers only (7 / 25 = 0.28) times 4
    replicas gives 6."""
    raw = autoscaled(
        tmp_path,
        pairs(99),
        0.35,
        {"target": 0.2, "min": 1, "max": 6, "stabilization": 30, "startup": 5},
        duration=100,
    )
    run = run_replication(load_scenario(raw), 0, 1)
    assert replica_steps(run) == [(0.5, 1.0), (10.5, 4.0)]


@pytest.mark.parametrize(
    ("stabilization", "scale_down_at"), [(0, 60), (15, 70), (25, 80), (35, 90)]
)
def test_scale_down_waits_until_the_stabilization_window_holds_only_lower_counts(
    tmp_path: Path, stabilization: float, scale_down_at: float
) -> None:
    """Pairs of 0.35 s requests every second until 49.5 s, then nothing. Decisions: 2
    replicas at t = 10 (utilization 0.7, target 0.5); 2 at 20 .. 50 (ceil(2 x 0.35 / 0.5));
    1 from t = 60 on (idle since 49.85). The scale-down happens at the first decision whose
    window [t - stabilization, t] no longer holds the recommendation of 50: t = 60 without
    stabilization, 70, 80, 90 for 15, 25, 35 s (a window's recommendations are those at
    times >= t - stabilization). Replica-seconds over [0, 120): 10 + 2 (T - 10) + (120 - T)
    = T + 110.
    """
    raw = autoscaled(
        tmp_path,
        pairs(49),
        0.35,
        {"target": 0.5, "min": 1, "max": 4, "stabilization": stabilization},
        duration=120,
    )
    run = run_replication(load_scenario(raw), 0, 1)
    assert replica_steps(run) == [(0.5, 1.0), (10.5, 2.0), (scale_down_at + 0.5, 1.0)]
    api = run.measurements.services["api"]
    assert api.replica_seconds == pytest.approx(scale_down_at + 110, rel=1e-9)
    assert (api.replicas.max, api.replicas.final) == (2, 1)


def test_the_starting_count_is_held_for_the_stabilization_window(tmp_path: Path) -> None:
    """3 replicas to start with, a load that needs 1 (pairs of 0.05 s requests), stabilization
    35 s: every decision recommends 1, but the window of the first decisions still covers
    the start (t = 0, 3 replicas), so the count may drop only at t = 40 (window [5, 40])."""
    raw = autoscaled(
        tmp_path,
        pairs(99),
        0.05,
        {"target": 0.5, "min": 1, "max": 4, "stabilization": 35},
        duration=100,
        replicas=3,
    )
    run = run_replication(load_scenario(raw), 0, 1)
    assert replica_steps(run) == [(0.5, 3.0), (40.5, 1.0)]


@pytest.mark.parametrize(
    ("replicas", "bounds", "work", "steps"),
    [
        # utilization 0.7 wants ceil(0.7 / 0.1) = 7 replicas: capped at max = 3
        (1, {"min": 1, "max": 3}, 0.35, [(0.5, 1.0), (10.5, 3.0)]),
        # nearly idle (0.02) wants 1: not below min = 2 (no stabilization: at once)
        (3, {"min": 2, "max": 4}, 0.01, [(0.5, 3.0), (10.5, 2.0)]),
        # max = 1: the count never changes
        (1, {"min": 1, "max": 1}, 0.35, [(0.5, 1.0)]),
    ],
    ids=["max", "min", "min-equals-max"],
)
def test_the_count_stays_within_min_and_max(
    tmp_path: Path, replicas: int, bounds: dict[str, int], work: float, steps: list[Any]
) -> None:
    raw = autoscaled(
        tmp_path,
        pairs(59),
        work,
        {"target": 0.1, "stabilization": 0, **bounds},
        duration=60,
        replicas=replicas,
    )
    run = run_replication(load_scenario(raw), 0, 1)
    assert replica_steps(run) == steps
    api = run.measurements.services["api"]
    assert api.replicas.final == steps[-1][1]
    assert bounds["min"] <= api.replicas.max <= bounds["max"]


@pytest.mark.parametrize(
    ("balancing", "replica_seconds"),
    [
        ("round_robin", 2 * 10.9 + 4.1),
        ("shared", 2 * 10 + 5),
    ],
)
def test_a_removed_replica_finishes_its_requests(
    tmp_path: Path, balancing: str, replica_seconds: float
) -> None:
    """Two replicas of one worker, 1 s requests: three arrive at 9.9 s (replica 0 gets the
    first and third, replica 1 the second), one at 10.5 s. At t = 10 the utilization of the
    last interval is 0.2 s / 20 s, so the count goes to 1 (no stabilization): the newest
    replica (1) is removed while it serves a request.

    Round robin: replica 1 takes nothing new and leaves when its request is done at 10.9
    (provisioned: 2 until 10.9); the request of 10.5 goes to replica 0 and waits until 11.9.
    Shared pool: the pool loses a worker at once (provisioned: 2 until 10), the two requests
    in service finish at 10.9, then the one waiting (10.9 - 11.9), then the one of 10.5
    (11.9 - 12.9). Either way: waits 0, 0, 1.0, 1.4 s, nothing fails.
    """
    raw = autoscaled(
        tmp_path,
        [9.9, 9.9, 9.9, 10.5],
        1.0,
        {"target": 0.5, "min": 1, "max": 2, "stabilization": 0},
        duration=15,
        replicas=2,
        balancing=balancing,
    )
    run = run_replication(load_scenario(raw), 0, 1)
    api = run.measurements.services["api"]
    flow = run.measurements.flows["users"]
    assert (flow.arrived, flow.completed, flow.failed, flow.dropped) == (4, 4, 0, 0)
    assert api.waiting_time.mean == pytest.approx((1.0 + 1.4) / 4, rel=1e-9)
    assert api.waiting_time.max == pytest.approx(1.4, rel=1e-9)
    assert flow.response_time.mean == pytest.approx(1.0 + 2.4 / 4, rel=1e-9)
    assert api.replica_seconds == pytest.approx(replica_seconds, rel=1e-9)
    assert (api.replicas.max, api.replicas.final) == (2, 1)
    assert series(run.timeseries, "api", "replicas")[11.0] == 1.0


# --------------------------------------------------------------------------- consumer groups


def bursts_document(
    folder: Path, partitioning: str, handler: dict[str, Any], **topic: Any
) -> dict[str, Any]:
    """A log topic of 4 partitions whose group scales on lag (target 5, at most 4 consumers,
    decisions every 5 s, stabilization 10 s), fed by a burst of 40 messages in the first 2 s
    of every 30 s (a looped trace whose last arrival, at 30 s, sets the loop length and
    coincides with the next loop's first), for 300 s."""
    times = [round(0.05 * k, 2) for k in range(40)] + [30.0]  # the last sets the loop length
    return {
        "name": "rebalance",
        "simulation": {"duration": 300, "sample_interval": 1},
        "services": {"worker": {"operations": {"handle": [{"work": handler}]}}},
        "topics": {
            "events": {
                "partitions": 4,
                "partitioning": partitioning,
                "subscribers": {
                    "worker": {
                        "autoscale": {
                            "target": 5,
                            "min": 1,
                            "max": 8,
                            "interval": 5,
                            "stabilization": 10,
                        }
                    }
                },
                **topic,
            }
        },
        "workload": {
            "load": {
                "steps": [{"publish": "events"}],
                "arrivals": {"trace": {"file": write_trace(folder, times), "repeat": True}},
            }
        },
    }


@pytest.mark.parametrize(
    ("partitioning", "handler", "topic"),
    [
        ("round_robin", {"constant": 0.3}, {}),
        ("random", {"exponential": 0.3}, {"delivery_latency": {"exponential": 0.2}}),
    ],
    ids=["constant", "random"],
)
def test_rebalancing_keeps_every_partition_in_order(
    tmp_path: Path, partitioning: str, handler: dict[str, Any], topic: dict[str, Any]
) -> None:
    """Every burst makes the lag jump and the group scale up (capped at the 4 partitions),
    and the quiet part scales it back down: many stop-the-world rebalances. Through all of
    them each partition's messages start in publication order, each exactly once, one at a
    time (a message starts only after the previous one of its partition ended: with constant
    0.3 s handlers, starts at least 0.3 s apart), and everything is consumed."""
    trace: Trace = []
    scenario = load_scenario(bursts_document(tmp_path, partitioning, handler, **topic))
    run = Replication(scenario, 0, 1, trace=trace).run()
    group = run.measurements.topics["events"].groups["worker"]
    consumers = series(run.timeseries, "events/worker", "consumers")
    changes = sum(a != b for a, b in itertools.pairwise(consumers[t] for t in sorted(consumers)))
    assert changes >= 10  # scaled up and down at every burst
    assert group.consumers.max == 4 and max(consumers.values()) == 4
    assert min(consumers.values()) == 1
    by_partition: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for topic_name, group_name, partition, sequence, start in trace:
        assert (topic_name, group_name) == ("events", "worker")
        by_partition[partition].append((sequence, start))
    assert sorted(by_partition) == [0, 1, 2, 3]
    started = [sequence for starts in by_partition.values() for sequence, _ in starts]
    assert len(started) == len(set(started))  # each message once
    published = run.measurements.topics["events"].published
    assert sorted(started) == list(range(int(published)))  # (sequences count from 0)
    for partition, starts in by_partition.items():
        sequences = [sequence for sequence, _ in starts]
        assert sequences == sorted(sequences), f"partition {partition} out of order"
        if handler == {"constant": 0.3}:
            gaps = [later - earlier for (_, earlier), (_, later) in itertools.pairwise(starts)]
            assert min(gaps) >= 0.3 - 1e-9, f"partition {partition}: two at a time"
    assert group.consumed == published and group.lag.final == 0
