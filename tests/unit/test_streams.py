"""The streams' variability between stations (`models.analysis.streams`): QNA's formulas
where they are exact, and how the analysis carries a stream's SCV from a station's
departures to the stations it feeds. Deterministic."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from models import analyze, load_scenario
from models.analysis.graph import OpKey, StationId
from models.analysis.moments import Moments
from models.analysis.streams import StreamTracker, departure_scv, merged, thinned
from tests.theory.scenarios import two_stage_pipeline


@pytest.mark.parametrize("servers", [1, 2, 8, None])
@pytest.mark.parametrize("rho", [0.0, 0.3, 0.8, 0.99])
def test_poisson_through_exponential_servers_stays_poisson(rho: float, servers: int | None) -> None:
    """Burke's theorem: M/M/m departures are Poisson (c² = 1 exactly, not to rounding)."""
    assert departure_scv(1.0, 1.0, rho, servers) == 1.0


@pytest.mark.parametrize(("rho", "service_scv"), [(0.5, 0.0), (0.8, 0.25), (0.9, 4.0)])
def test_mg1_departures_have_the_exact_interval_scv(rho: float, service_scv: float) -> None:
    """M/G/1: a departure leaves the system empty with probability 1 - rho, and the next
    comes after an exponential idle time and a service, else after a service: the
    interval D has Var = Var S + (1 - rho²) / lambda², so c_d² = 1 - rho² + rho² c_s²
    (Whitt 1983 uses this for QNA's departures)."""
    rate, mean = 1.0, rho
    variance = service_scv * mean**2 + (1.0 - rho**2) / rate**2
    assert departure_scv(1.0, service_scv, rho, 1) == pytest.approx(variance * rate**2)


def test_a_contention_free_station_passes_its_arrivals_on() -> None:
    assert departure_scv(0.3, 5.0, 0.9, None) == 0.3


def test_thinning_a_renewal_stream_is_exact() -> None:
    """Keeping each request of a stream of constant gaps d with probability p: the gap is
    d times a geometric count, of SCV 1 - p; a Poisson stream stays Poisson."""
    for p in (0.1, 0.5, 0.9, 1.0):
        assert thinned(0.0, p) == pytest.approx(1.0 - p)
        assert thinned(1.0, p) == 1.0
    rng = np.random.default_rng(7)
    gaps = rng.geometric(0.3, size=400_000).astype(float)  # constant gaps of 1, thinned
    observed = gaps.var() / gaps.mean() ** 2
    assert observed == pytest.approx(thinned(0.0, 0.3), rel=0.02)


def test_merging_weighs_the_streams_and_many_small_ones_look_poisson() -> None:
    """One stream is itself; Poisson streams make a Poisson stream; n equal streams of
    c² = 0 into a lightly loaded station look nearly Poisson (Whitt's w), into a heavily
    loaded one like their average."""
    assert merged([(5.0, 0.36)], 0.5) == pytest.approx(0.36)
    assert merged([(1.0, 1.0), (3.0, 1.0)], 0.2) == 1.0
    light = merged([(1.0, 0.0)] * 10, 0.1)
    heavy = merged([(1.0, 0.0)] * 10, 0.99)
    assert 0.9 < light < 1.0
    assert heavy < 0.01
    assert merged([], 0.5) == 1.0


def _second_wait(work: dict[str, Any]) -> float:
    scenario = load_scenario(two_stage_pipeline(work, 100.0, {"duration": 100}))
    group = analyze(scenario).topics["t1"].groups["second"]
    assert group.waiting_time.mean is not None
    return group.waiting_time.mean


def test_a_stage_gets_the_stream_its_upstream_stage_lets_go() -> None:
    """At 80% load each stage's work of mean 8 ms: exponential work leaves a Poisson
    stream (the second stage is M/M/1 exactly, 32 ms); lognormal work of cv 0.5 a
    steadier one (c_d² = 1 - 0.64 + 0.64 x 0.25 = 0.52: Allen-Cunneen (0.52 + 0.25) / 2
    x 32 ms), of cv 2 a burstier one (c_d² = 2.92)."""
    assert _second_wait({"exponential": "8ms"}) == pytest.approx(0.032)
    steady = _second_wait({"lognormal": {"mean": "8ms", "cv": 0.5}})
    assert steady == pytest.approx((0.52 + 0.25) / 2 * 0.032)
    bursty = _second_wait({"lognormal": {"mean": "8ms", "cv": 2.0}})
    assert bursty == pytest.approx((2.92 + 4.0) / 2 * 0.032)


def test_a_client_calling_in_turn_sends_the_second_the_first_ones_replies() -> None:
    """A flow that calls `a` then `b`, both of constant work 8 ms at 100/s: `b` gets
    `a`'s departures (c² = 1 - 0.8² = 0.36) and waits (0.36 + 0) / 2 x its M/M/1 wait."""
    constant = {"work": {"constant": "8ms"}}
    scenario = load_scenario(
        {
            "name": "client-tandem",
            "simulation": {"duration": 100},
            "services": {
                "a": {"operations": {"op": [constant]}},
                "b": {"operations": {"op": [constant]}},
            },
            "workload": {
                "users": {
                    "steps": [{"call": "a.op"}, {"call": "b.op"}],
                    "arrivals": {"poisson": 100},
                }
            },
        }
    )
    prediction = analyze(scenario)
    assert prediction.services["a"].waiting_time.mean == pytest.approx(0.016)  # M/D/1
    assert prediction.services["b"].waiting_time.mean == pytest.approx(0.36 / 2 * 0.032)


@pytest.mark.parametrize(
    ("holding", "carried"),
    [
        (Moments(0.002, 0.0), 2.0),  # constant work: c² = 2 - 0
        (Moments(0.002, 0.002**2), 1.0),  # exponential: Poisson, as BCMP has it
        (Moments(0.002, 9 * 0.002**2), 0.0),  # c_s² 9: 2 - 9, at least 0
        (Moments(0.002, float("nan")), 1.0),  # a variance unknown (found by the property
        (Moments(0.0, 0.0), 1.0),  # test of test_analysis.py: a NaN SCV); no holding time
    ],
)
def test_a_call_right_after_a_call_carries_the_re_entries_c2(
    holding: Moments, carried: float
) -> None:
    """`StreamTracker.called` then `emitted` to the same station: the re-entries' c²
    (2 - c_s², within [0, 2]; 1 where c_s² is unknown), half of the emissions when the
    call before was made half the time."""
    read = OpKey("service", "db", "read", 0)
    tracker = StreamTracker(1.0, None, None)
    tracker.called(StationId("service", "db"), 1.0, holding)
    tracker.emitted(read, 1.0)
    assert tracker.fields()["scvs"][read] == pytest.approx(carried)
    half = StreamTracker(1.0, None, None)
    half.called(StationId("service", "db"), 0.5, holding)
    half.emitted(read, 1.0)
    assert half.fields()["scvs"][read] == pytest.approx((1.0 + carried) / 2)


def test_a_call_after_a_branch_re_enters_where_the_options_last_called() -> None:
    """`StreamTracker.after_options`: options of probability 0.5 and 0.3 that ended with a
    call to the database (made always, and half the time) and one of 0.2 that ended with
    work: a call after the branch re-enters with share 0.5 + 0.15 = 0.65, carrying the
    options' re-entry c² weighted by it; a station fewer options called last loses out."""
    db, cache = StationId("service", "db"), StationId("service", "cache")
    tracker = StreamTracker(1.0, None, None)
    tracker.after_options([(0.5, (db, 1.0, 2.0)), (0.3, (db, 0.5, 0.0)), (0.2, None)])
    assert tracker.recent == (db, pytest.approx(0.65), pytest.approx(1.0 / 0.65))
    tracker.after_options([(0.4, (cache, 1.0, 2.0)), (0.6, (db, 1.0, 1.0))])
    assert tracker.recent == (db, pytest.approx(0.6), pytest.approx(1.0))
    tracker.after_options([(0.5, None), (0.5, None)])
    assert tracker.recent is None
