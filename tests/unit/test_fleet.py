"""Autoscaled services under a steady load, predicted at the replicas their rule runs
(models/analysis/fleet.py). Deterministic: each expected value is worked out here from
the HPA rule, the fluid replay's timeline (tests/unit/test_hpa.py) and the M/M/c formulas
(Erlang C, `models.theory.markovian.mmc`: Gross & Harris, Fundamentals of Queueing Theory,
§2.3), averaged over the fleets as the simulation measures them (rates and lengths by
time, times by requests, utilization as busy over serving worker-seconds)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from models import analyze, load_scenario
from models.analysis.flat_out import flat_out_rate
from models.analysis.fleet import LoadPiece, load_pieces
from models.analysis.fleet_rules import with_fleet
from models.analysis.network import FlowSource
from models.analysis.summary import POISSON
from models.theory.markovian import mmc

SERVICE_TIME = 0.020


def _shop(
    replicas: int,
    rate: float,
    rule: dict[str, Any],
    *,
    workers: int = 1,
    warmup: float = 30.0,
    duration: float = 570.0,
    arrivals: dict[str, Any] | None = None,
    work: float = SERVICE_TIME,
) -> Any:
    scaling = {"metric": "utilization", "interval": 15, "stabilization": 120, "startup": 10}
    return load_scenario(
        {
            "name": "autoscaled",
            "simulation": {"duration": duration, "warmup": warmup},
            "services": {
                "api": {
                    "replicas": replicas,
                    "workers": workers,
                    "balancing": "shared",
                    "autoscale": {**scaling, **rule},
                    "operations": {"get": [{"work": {"exponential": work}}]},
                }
            },
            "workload": {"users": {"entry": "api.get", "arrivals": arrivals or {"poisson": rate}}},
        }
    )


def _fleet_warning(prediction: Any) -> str:
    (found,) = [w for w in prediction.warnings if w.startswith("service 'api' autoscales")]
    return str(found)


def test_a_fleet_that_starts_where_its_rule_settles_is_its_steady_state_exactly() -> None:
    # 2.8 busy workers, 1 per replica at 0.9: ceil(3.11) = 4 replicas, one pool of 4: M/M/4
    prediction = analyze(_shop(4, 140.0, {"target": 0.9, "min": 1, "max": 10}))
    api = prediction.services["api"]
    theory = mmc(140.0, 1 / SERVICE_TIME, 4)
    assert api.waiting_time.mean == pytest.approx(theory.mean_waiting_time, rel=1e-9)
    assert api.utilization == pytest.approx(0.7, rel=1e-9)
    assert api.exact
    assert api.replicas is not None
    assert (api.replicas.mean, api.replicas.max, api.replicas.final) == (4, 4, 4)
    assert api.replica_seconds == pytest.approx(4 * 570.0)
    assert "predicted at the 4 replicas its rule settles at" in _fleet_warning(prediction)
    document = prediction.to_dict()["services"]["api"]
    assert document["replicas"] == {"mean": 4.0, "max": 4.0, "final": 4.0}


def test_a_fleet_above_its_need_is_averaged_over_the_fleets_it_runs() -> None:
    # From 6 replicas: 4 from 135 s (the starting count leaves the 120 s window then).
    # Measured period [30, 600]: 105 s at 6 (M/M/6), 465 s at 4 (M/M/4).
    prediction = analyze(_shop(6, 140.0, {"target": 0.9, "min": 1, "max": 10}))
    api = prediction.services["api"]
    at_six, at_four = 105 / 570, 465 / 570
    six, four = mmc(140.0, 50.0, 6), mmc(140.0, 50.0, 4)
    waiting = at_six * six.mean_waiting_time + at_four * four.mean_waiting_time
    queue = at_six * six.mean_queue_length + at_four * four.mean_queue_length
    assert api.waiting_time.mean == pytest.approx(waiting, rel=1e-9)
    assert api.queue_length.mean == pytest.approx(queue, rel=1e-9)
    mean_replicas = at_six * 6 + at_four * 4
    assert api.utilization == pytest.approx(2.8 / mean_replicas, rel=1e-9)
    assert api.replicas is not None
    assert (api.replicas.mean, api.replicas.max, api.replicas.final) == (
        pytest.approx(mean_replicas),
        6,
        4,
    )
    flow = prediction.flows["users"]
    assert flow.response_time.mean == pytest.approx(waiting + SERVICE_TIME, rel=1e-9)
    assert not api.exact and not flow.exact  # (a quasi-static average)
    assert "quasi-static" in api.method
    assert "4.37 on average (at most 6)" in _fleet_warning(prediction)


def test_a_saturated_start_adds_its_fluid_backlog_to_the_means() -> None:
    # The timeline of tests/unit/test_hpa.py (one pool, 3 workers per replica, 4.5 busy
    # workers, target 0.6, from 1 replica): the backlog drains at 73.33 s and the count
    # overshoots to 4 from 100 s to 180 s. Measured from 60 s: the backlog then is 30
    # worker-seconds (667 requests of 45 ms), 6 workers hold it; its area from 60 s is
    # (30 + 15) / 2 x 10 + 15 / 2 x 3.33 worker-seconds x s.
    rule = {"target": 0.6, "min": 1, "max": 10, "interval": 30, "stabilization": 60}
    scenario = _shop(1, 100.0, rule, workers=3, warmup=60, duration=600, work=0.045)
    prediction = analyze(scenario)
    api = prediction.services["api"]
    holding, rate, length = 0.045, 100.0, 600.0
    area = ((30 + 15) / 2 * 10 + 15 / 2 * (10 / 3)) / holding  # requests x seconds
    queued = 30 / holding
    nine, twelve = mmc(rate, 1 / holding, 9), mmc(rate, 1 / holding, 12)
    at_twelve = 80 / length  # (100 s to 180 s at 4 replicas)
    steady_wait = (1 - at_twelve) * nine.mean_waiting_time + at_twelve * twelve.mean_waiting_time
    started = rate * length + queued
    expected_wait = steady_wait + (area + queued**2 / (2 * rate)) / started
    assert api.waiting_time.mean == pytest.approx(expected_wait, rel=1e-9)
    steady_queue = (1 - at_twelve) * nine.mean_queue_length
    steady_queue += at_twelve * twelve.mean_queue_length
    assert api.queue_length.mean == pytest.approx(steady_queue + area / length, rel=1e-9)
    # a flow's requests arriving in the period: less the queued ones' own wait in it,
    # 667^2 / (2 x 6 / 0.045)
    flow_wait = steady_wait + (area - queued**2 / (2 * 6 / holding)) / (rate * length)
    response = prediction.flows["users"].response_time.mean
    assert response == pytest.approx(flow_wait + holding, rel=1e-9)
    assert any("a backlog piles up or drains" in w and "73.33 s" in w for w in prediction.warnings)


def test_capacity_is_the_fleet_at_its_max() -> None:
    prediction = analyze(_shop(4, 140.0, {"target": 0.9, "min": 1, "max": 7}))
    flow = prediction.flows["users"]
    assert flow.max_throughput == pytest.approx(7 / SERVICE_TIME, rel=1e-6)
    assert flow.headroom == pytest.approx(350.0 / 140.0 - 1.0, rel=1e-6)
    assert prediction.bottleneck is not None
    assert prediction.bottleneck.name == "api"
    assert prediction.bottleneck.utilization == pytest.approx(0.7, rel=1e-9)  # (at 4)
    assert "max_throughput and the bottleneck with its max of 7" in _fleet_warning(prediction)


def test_a_load_beyond_the_max_is_predicted_overloaded_at_the_max() -> None:
    prediction = analyze(_shop(1, 400.0, {"target": 0.6, "min": 1, "max": 6}))  # 8 busy > 6
    api = prediction.services["api"]
    assert not api.stable
    assert api.replicas is not None and api.replicas.final == 6
    assert _fleet_warning(prediction).endswith("overloaded even at its max of 6 replicas")


def test_a_load_next_to_a_step_of_the_ceiling_is_named() -> None:
    # 2.5 busy workers at 1 per replica and 0.9: 3 replicas, one more at 2.7 busy: an
    # interval's average of 15 s at 125/s has a deviation of 2.5 x sqrt(2 / 1875) = 0.08,
    # so 2.7 is 2.4 deviations away (< 3)
    prediction = analyze(_shop(3, 125.0, {"target": 0.9, "min": 1, "max": 10}))
    warning = _fleet_warning(prediction)
    assert "the simulation will run 4 some of the time" in warning
    far = analyze(_shop(4, 140.0, {"target": 0.9, "min": 1, "max": 10}))  # 2.8 -> 3.6
    assert "some of the time" not in _fleet_warning(far)


def test_a_callee_and_its_caller_both_settle() -> None:
    # the caller's held time includes the callee's response, which depends on the callee's
    # count: the rounds settle both (the caller's busy workers read at the callee's count);
    # both start saturated, and the warm-up of 200 s leaves their catching up out
    document = {
        "name": "chain",
        "simulation": {"duration": 300, "warmup": 200},
        "services": {
            "web": {
                "replicas": 1,
                "workers": 2,
                "autoscale": {
                    "metric": "utilization",
                    "target": 0.7,
                    "max": 10,
                    "stabilization": 30,
                },
                "operations": {"get": [{"work": {"exponential": 0.005}}, {"call": "db.read"}]},
            },
            "db": {
                "replicas": 1,
                "workers": 1,
                "balancing": "shared",
                "autoscale": {
                    "metric": "utilization",
                    "target": 0.7,
                    "max": 10,
                    "stabilization": 30,
                },
                "operations": {"read": [{"work": {"exponential": 0.010}}]},
            },
        },
        "workload": {"users": {"entry": "web.get", "arrivals": {"poisson": 200.0}}},
    }
    prediction = analyze(load_scenario(document))
    db, web = prediction.services["db"], prediction.services["web"]
    assert db.replicas is not None and web.replicas is not None
    assert (db.replicas.mean, db.replicas.final) == (3, 3)  # 2 busy / 0.7 = 2.86
    assert db.utilization == pytest.approx(2 / 3, rel=1e-9)
    assert web.utilization is not None
    busy_web = web.utilization * 3 * 2  # (its pool over its callee: 3.4 busy workers)
    assert (web.replicas.mean, web.replicas.final) == (3, math.ceil(busy_web / (2 * 0.7)))
    held = 0.005 + db.response_time.mean  # (about its own work and the call's response)
    assert busy_web == pytest.approx(200.0 * held, rel=0.02)
    assert not [w for w in prediction.warnings if "backlog" in w]


def test_a_time_varying_load_keeps_the_starting_count_and_says_so() -> None:
    bursts = {"mmpp": {"rates": [100, 300], "switch_rates": [0.1, 0.1]}}
    rule = {"target": 0.9, "min": 1, "max": 10}
    prediction = analyze(_shop(6, 200.0, rule, arrivals=bursts))
    api = prediction.services["api"]
    assert api.replicas is None
    assert "predicted at its starting 6 replicas" in _fleet_warning(prediction)


def test_a_rule_on_the_queue_that_swings_keeps_the_starting_count() -> None:
    # 3 replicas (M/M/3 at 2.8 busy): a queue of 12.27 asks for ceil(12.27 / 5) = 3; 4
    # replicas (M/M/4): 1.00, which asks for 1. So the count swings (simulated: 4.95
    # replicas on average): not predicted.
    rule = {"metric": "queue_length", "target": 5, "min": 1, "max": 6}
    scenario = _shop(3, 140.0, rule)
    assert mmc(140.0, 50.0, 3).mean_queue_length == pytest.approx(12.27, abs=0.01)
    assert mmc(140.0, 50.0, 4).mean_queue_length == pytest.approx(1.00, abs=0.01)
    prediction = analyze(scenario)
    assert prediction.services["api"].replicas is None
    warning = _fleet_warning(prediction)
    assert "(autoscaling is not predicted)" in warning
    assert "a rule on queue_length is predicted where it holds its count" in warning


def test_a_rule_on_requests_in_system_that_holds_its_count_is_its_steady_state() -> None:
    # 500/s of 20 ms, 4 workers per replica, in_system target 3: 10 busy and M/M/16's
    # queue of 0.096 ask for ceil(10.096 / 3) = 4 replicas; 5 (M/M/20, 0.004) ask for 4
    # and 3 (M/M/12, 2.25) for 5: it holds. From 4: M/M/16 exactly, all along.
    rule = {"metric": "in_system", "target": 3, "min": 1, "max": 8}
    prediction = analyze(_shop(4, 500.0, rule, workers=4))
    api = prediction.services["api"]
    theory = mmc(500.0, 50.0, 16)
    assert api.queue_length.mean == pytest.approx(theory.mean_queue_length, rel=1e-9)
    assert api.in_system.mean == pytest.approx(theory.mean_queue_length + 10.0, rel=1e-9)
    assert api.replicas is not None
    assert (api.replicas.mean, api.replicas.max, api.replicas.final) == (4, 4, 4)
    warning = _fleet_warning(prediction)
    assert "autoscales (in_system, target 3, 1-8 replicas): predicted at the 4" in warning
    assert "not estimated" not in warning  # (a queue of 0.096: the busy workers' noise)
    assert "standard deviations" not in warning  # (10.1 requests, 11.6 sd below 12)
    # Target 2.55: the same 4 replicas (3 ask for 5, 5 for 4), but 10.1 requests are 0.6
    # sd from 4 x 2.55 = 10.2, the sd 10 x sqrt(2 / (500 x 15)) = 0.163 of a busy pool.
    near = analyze(_shop(4, 500.0, rule | {"target": 2.55}, workers=4))
    assert near.services["api"].replicas is not None
    assert (
        "its 10.1 requests in the service are within 3 standard deviations of an interval's "
        "average from 10.2, where the rule asks for 5"
    ) in _fleet_warning(near)
    queue_rule = {"metric": "queue_length", "target": 0.05, "min": 4, "max": 8}  # (at its min)
    queued = analyze(_shop(4, 500.0, queue_rule, workers=4))
    assert "noise of an interval's average length" in _fleet_warning(queued)


def test_a_spike_is_its_pieces_and_fleets_with_the_backlog_until_the_rule_catches_up() -> None:
    # The timeline of tests/unit/test_hpa.py's spike: 100/s of 20 ms, 450/s from 120 s to
    # 240 s, one pool of 4 workers per replica. Measured from 60 s to 600 s: 60 s at 100/s
    # on 2 replicas (M/M/8), 40 s of backlog at 450/s (the piece's settled 4 replicas,
    # M/M/16, plus the fluid), 25 s at 450/s on 4 (M/M/16), 55 s on 5 (M/M/20), 75 s at
    # 100/s on 4 (M/M/16), 285 s on 2 (M/M/8). The backlog: 700 worker-seconds x s of work,
    # 35,000 requests x s at 20 ms, none queued at 60 s, over the 96,000 requests of the
    # period.
    rule = {"target": 0.6, "min": 2, "max": 10, "stabilization": 60, "startup": 20}
    rates = [(0, 100), (120, 450), (240, 100)]
    profile = {"profile": [{"at": at, "rate": rate} for at, rate in rates]}
    scenario = _shop(2, 0.0, rule, workers=4, warmup=60, duration=540, arrivals=profile)
    prediction = analyze(scenario)
    api = prediction.services["api"]
    parts = [  # (seconds, rate, workers)
        (60, 100.0, 8),
        (40, 450.0, 16),
        (25, 450.0, 16),
        (55, 450.0, 20),
        (75, 100.0, 16),
        (285, 100.0, 8),
    ]
    requests = sum(seconds * rate for seconds, rate, _ in parts)
    assert requests == 96_000
    steady = sum(
        seconds * rate * mmc(rate, 1 / SERVICE_TIME, workers).mean_waiting_time
        for seconds, rate, workers in parts
    )
    expected = steady / requests + 35_000 / requests
    assert api.waiting_time.mean == pytest.approx(expected, rel=1e-9)
    assert api.replicas is not None
    replica_seconds = 2 * 75 + 4 * 30 + 5 * 75 + 4 * 75 + 2 * 285
    assert api.replica_seconds == pytest.approx(replica_seconds)
    assert (api.replicas.mean, api.replicas.max, api.replicas.final) == (
        pytest.approx(replica_seconds / 540),
        5,
        2,
    )
    busy = requests * SERVICE_TIME  # (worker-seconds)
    workers = 4 * (replica_seconds - 2 * 20 - 1 * 20)  # (less the start-ups: 135-155, 165-185)
    assert api.utilization == pytest.approx(busy / workers, rel=1e-9)
    assert prediction.flows["users"].arrival_rate == pytest.approx(96_000 / 540)
    assert "settling at 2-4 over its pieces" in _fleet_warning(prediction)


def test_a_blocking_pool_drains_at_its_flat_out_rate_not_at_its_workers_pace() -> None:
    # A checkout of 4 workers per replica (8 ms, then a blocking call to a payments
    # service of 12 workers of 12 ms: 1,000/s at most) at 900/s. Flat out, 3 replicas (12
    # workers) serve 12 / 20 ms = 600/s (their calls load payments with 600/s, not 900/s);
    # 8 replicas could serve 1,600/s but payments saturates at 1,000/s first, holding
    # them back: the backlog drains at 100/s, not at the workers' pace.
    document = {
        "name": "held-back",
        "simulation": {"duration": 300, "warmup": 60},
        "services": {
            "checkout": {
                "replicas": 3,
                "workers": 4,
                "balancing": "shared",
                "autoscale": {"metric": "utilization", "target": 0.6, "min": 3, "max": 8},
                "operations": {
                    "pay": [{"work": {"exponential": 0.008}}, {"call": "payments.charge"}]
                },
            },
            "payments": {
                "workers": 12,
                "operations": {"charge": [{"work": {"exponential": 0.012}}]},
            },
        },
        "workload": {"shoppers": {"entry": "checkout.pay", "arrivals": {"poisson": 900.0}}},
    }
    scenario = load_scenario(document)
    sources = {"shoppers": FlowSource(900.0, 1.0, POISSON)}
    three = flat_out_rate(with_fleet(scenario, {"checkout": 3}), sources, "checkout")
    assert three == pytest.approx(600.0, rel=0.01)
    eight = flat_out_rate(with_fleet(scenario, {"checkout": 8}), sources, "checkout")
    assert eight == pytest.approx(1000.0, rel=0.01)
    # payments: no flow calls it alone (checkout does), so not said: its workers' pace is taken
    assert flat_out_rate(with_fleet(scenario, {"checkout": 3}), sources, "payments") is None


def test_the_load_is_cut_where_rates_change_and_at_the_end_of_the_warm_up() -> None:
    steady = _shop(4, 140.0, {"target": 0.9, "max": 10})
    assert load_pieces(steady) == [
        LoadPiece(0.0, 30.0, ()),
        LoadPiece(30.0, 600.0, ()),
    ]
    profile = {"profile": [{"at": 0, "rate": 0}, {"at": 60, "rate": 150}]}
    stepped = _shop(1, 0.0, {"target": 0.9, "max": 10}, arrivals=profile)
    assert load_pieces(stepped) == [
        LoadPiece(0.0, 30.0, (("users", 0.0),)),
        LoadPiece(30.0, 60.0, (("users", 0.0),)),
        LoadPiece(60.0, 600.0, (("users", 150.0),)),
    ]
    # a sinusoid: 24 pieces a period, each at its mean rate over it (an hour of a day)
    wave = {"sinusoid": {"mean": 100, "amplitude": 50, "period": 240}}
    waved = _shop(1, 0.0, {"target": 0.9, "max": 10}, arrivals=wave, warmup=0, duration=480)
    pieces = load_pieces(waved)
    assert pieces is not None and len(pieces) == 48
    assert pieces[0].end == pytest.approx(10.0)
    mean = sum(p.rates[0][1] * (p.end - p.start) for p in pieces) / 480
    assert mean == pytest.approx(100.0)
    # beyond `MOST_PIECES` (96): not predicted this way
    longer = _shop(1, 0.0, {"target": 0.9, "max": 10}, arrivals=wave, warmup=0, duration=2400)
    assert load_pieces(longer) is None
