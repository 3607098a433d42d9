"""Unit tests of `models.analysis.pointwise`: the pieces of a time-varying rate, and when
the prediction is made piece by piece. Deterministic; the agreement with the simulator is
`test_a_rate_profile_is_predicted_piece_by_piece` in tests/theory/
test_analysis_vs_simulation.py."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from models import analyze, load_scenario
from models.analysis.pointwise import MOST_PIECES, SINUSOID_PIECES, rate_pieces

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def scenario(arrivals: dict[str, Any], duration: float, warmup: float = 0.0) -> Any:
    return load_scenario(
        {
            "name": "p",
            "simulation": {"duration": duration, "warmup": warmup},
            "services": {"s": {"operations": {"o": [{"work": {"exponential": 0.01}}]}}},
            "workload": {"f": {"entry": "s", "arrivals": arrivals}},
        }
    )


def test_a_profile_is_cut_where_its_rate_changes_within_the_measured_period() -> None:
    """Rates 10, 20, 5 from 0, 100, 250 s; measured 50-350 s: pieces of 50, 150, 100 s."""
    profile = [{"at": 0, "rate": 10}, {"at": 100, "rate": 20}, {"at": 250, "rate": 5}]
    pieces = rate_pieces(scenario({"profile": profile}, 300, warmup=50))
    assert pieces is not None
    assert [share for share, _ in pieces] == pytest.approx([50 / 300, 150 / 300, 100 / 300])
    assert [rates["f"] for _, rates in pieces] == [10, 20, 5]


def test_a_sinusoid_is_cut_into_pieces_at_its_mean_rate_over_each() -> None:
    """One period in `SINUSOID_PIECES` pieces, each at the integral of the rate over it
    divided by its length: their average is the sinusoid's mean."""
    spec = {"mean": 10, "amplitude": 8, "period": 2400, "phase": 100}
    pieces = rate_pieces(scenario({"sinusoid": spec}, 2400))
    assert pieces is not None and len(pieces) == SINUSOID_PIECES
    assert math.fsum(share * rates["f"] for share, rates in pieces) == pytest.approx(10, rel=1e-12)
    assert max(rates["f"] for _, rates in pieces) > 17


def test_no_pieces_without_a_varying_rate_or_with_too_many() -> None:
    assert rate_pieces(scenario({"poisson": 10}, 100)) is None
    spec = {"mean": 10, "amplitude": 8, "period": 60}
    assert (
        rate_pieces(scenario({"sinusoid": spec}, 60 * (MOST_PIECES // SINUSOID_PIECES + 1))) is None
    )


def test_a_piece_that_overloads_an_entry_service_carries_its_backlog_over() -> None:
    """150/s for 10 s of 200 at an M/M/1 of 10 ms (`models.analysis.backlogs`): the
    backlog grows at 50/s to 500 and drains at 50/s in 10 s, an area of 5,000; the worker
    is flat out 20 s and an M/M/1 at 50% (L = 1) the other 180 s: in system
    (5,000 + 20 + 180) / 200 = 26."""
    profile = [{"at": 0, "rate": 50}, {"at": 100, "rate": 150}, {"at": 110, "rate": 50}]
    prediction = analyze(scenario({"profile": profile}, 200), capacity=False)
    (warning,) = [w for w in prediction.warnings if "time-varying" in w]
    assert "3 pieces" in warning
    assert prediction.services["s"].in_system.mean == pytest.approx(26.0, rel=1e-9)


def test_a_spike_above_the_consumers_carries_its_backlog_over() -> None:
    """scenarios/traffic_spike.yaml: 600/s for a minute against 4 consumers of 100/s; each
    piles up 50/s for 60 s and drains it at 50/s: 4 x 3,000 x 120 / 2 message-seconds over
    360 s (2,000), plus one in service while flat out (4 x 120 s) and the M/M/1s at 50%
    (L = 1) for 240 s: lag 2,004 (simulated 2,005); sojourn 2,004 x 360 / 96,000 published
    = 7.515 s (7.516); the flow's completion that plus its 2 ms at the web tier."""
    prediction = analyze(load_scenario(SCENARIOS / "traffic_spike.yaml"), capacity=False)
    group = prediction.topics["page-views"].groups["analytics"]
    assert group.lag.mean == pytest.approx(2000 + (4 * 120 + 4 * 240) / 360, rel=1e-9)
    assert group.sojourn_time.mean == pytest.approx(group.lag.mean * 360 / 96_000, rel=1e-9)
    completion = prediction.flows["visitors"].completion_time.mean
    assert completion == pytest.approx(group.sojourn_time.mean + 0.002, rel=1e-3)


def test_a_daily_cycle_sized_for_its_peak_is_predicted_hour_by_hour() -> None:
    """scenarios/daily_cycle.yaml --variant fixed-for-peak: 24 pieces of an hour; the lag,
    at the average rate 7 events, is 13.1 hour by hour (simulated: 13.3, 10.5-16.2)."""
    path = SCENARIOS / "daily_cycle.yaml"
    prediction = analyze(load_scenario(path, variant="fixed-for-peak"), capacity=False)
    (warning,) = [w for w in prediction.warnings if "time-varying" in w]
    assert "24 pieces" in warning
    lag = prediction.topics["order-events"].groups["fulfilment"].lag.mean
    assert lag is not None and 12.5 < lag < 13.5


def test_a_piece_that_starts_a_timeout_storm_fails_its_calls() -> None:
    """Calls at 30/s, then 80/s, for 200 s each, to 2 workers of Exp(20 ms) (100/s) with a
    room of 20, behind a 50 ms timeout and a retry on the spot. At 80/s the first timeouts'
    retries overload the pool (160 attempts/s if all time out): a timeout storm for the
    piece, in which every call fails; at 30/s nearly every call succeeds (two attempts of
    an M/M/2/22 at 30%). Success 30 x 200 / (30 x 200 + 80 x 200) = 27.3% at most
    (simulated, 5 replications: 27.4%); the average rate, 55/s, said 91.6%. The pool is
    flat out in the storm: utilization (0.3 x 200 + 1 x 200) / 400 = 0.65, and more
    with the timed-out attempts' work done anyway."""
    api = {
        "workers": "unlimited",
        "operations": {"get": [{"call": {"service": "s", "timeout": 0.05, "retries": 1}}]},
    }
    spec = {
        "name": "piece-storm",
        "simulation": {"duration": 400, "warmup": 0},
        "services": {
            "api": api,
            "s": {
                "workers": 2,
                "queue_capacity": 20,
                "operations": {"op": [{"work": {"exponential": 0.02}}]},
            },
        },
        "workload": {
            "f": {
                "entry": "api.get",
                "arrivals": {"profile": [{"at": 0, "rate": 30}, {"at": 200, "rate": 80}]},
            }
        },
    }
    prediction = analyze(load_scenario(spec), capacity=False)
    success = prediction.flows["f"].success_rate
    assert success is not None and 0.26 < success <= 30 / 110
    utilization = prediction.services["s"].utilization
    assert utilization is not None and 0.65 <= utilization < 0.7
    (row,) = (prediction.calls or {}).values()  # (every call makes its 2 attempts in it)
    normal = 1 + math.exp(-50 * 0.05)  # (about: R ~ Exp(50/s) at 30%; a retry's share)
    expected = (30 * 200 * normal + 80 * 200 * 2) / 400
    assert row.attempts == pytest.approx(expected, rel=1e-2)
