"""Backlogs that a rate piece or a burst leaves at an entry service (`models.analysis.
backlogs`): the fluid's means against hand-derived figures, and where it is not carried."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from models import analyze, load_scenario
from models.theory.fluid_queue import brownian_queue
from models.theory.mmpp import mmpp_m1, phase_generator


def api(arrivals: dict[str, Any], duration: float = 180, **service: Any) -> dict[str, Any]:
    """An entry service of one worker of Exp(10 ms) (100/s), unless `service` says else."""
    return {
        "name": "api-backlog",
        "simulation": {"duration": duration, "warmup": 0},
        "services": {
            "api": {"operations": {"get": [{"work": {"exponential": 0.01}}]}, **service},
        },
        "workload": {"users": {"entry": "api", "arrivals": arrivals}},
    }


BURSTS = {"mmpp": {"rates": [30, 130], "switch_rates": [0.2, 0.2]}}
"""30/s and 130/s, 5 s each on average."""
CONSTANT = {"get": [{"work": {"constant": 0.01}}]}
SLOWER = {"work": {"exponential": 0.02}}
"""Two replicas of this serve 100/s together."""


def bursts_in_system(service_scv: float) -> float:
    """In system over `BURSTS` at one worker of 100/s: the Markov-modulated Brownian queue
    of drifts -70/s and +30/s and variances 30 + 100 c_s^2 and 130 + 100 c_s^2 (Poisson
    arrivals), plus the worker busy on average, 80 x 10 ms."""
    generator = phase_generator(np.array([0.2, 0.2]))
    variances = [30 + 100 * service_scv, 130 + 100 * service_scv]
    return brownian_queue(generator, [-70.0, 30.0], variances) + 0.8


SPIKE = {"profile": [{"at": 0, "rate": 50}, {"at": 60, "rate": 150}, {"at": 90, "rate": 50}]}
"""50/s, 150/s for 30 s, 50/s: 12,000 requests in 180 s."""


def test_a_spike_above_a_services_capacity_piles_up_and_drains() -> None:
    """The backlog grows at 50/s to 1,500 in 30 s and drains at 50/s in 30 s: an area of
    45,000 request-seconds; the worker is flat out for those 60 s, an M/M/1 at 50% the
    other 120 s (in system 1, waiting 0.5). In system (45,000 + 60 + 120) / 180 = 251,
    waiting (45,000 + 60) / 180; the times by Little's law over the 12,000 requests; busy
    (60 + 120 x 0.5) / 180; every request that arrives during the backlog waits (150 x 30
    + 50 x 30), half the others."""
    prediction = analyze(load_scenario(api(SPIKE)))
    service = prediction.services["api"]
    assert service.in_system.mean == pytest.approx((45_000 + 60 + 120) / 180, rel=1e-9)
    assert service.queue_length.mean == pytest.approx((45_000 + 60) / 180, rel=1e-9)
    assert service.response_time.mean == pytest.approx((45_000 + 180) / 12_000, rel=1e-9)
    assert service.waiting_time.mean == pytest.approx((45_000 + 60) / 12_000, rel=1e-9)
    assert service.utilization == pytest.approx((60 + 60) / 180, rel=1e-9)
    assert service.p_wait == pytest.approx((4_500 + 1_500 + 0.5 * 6_000) / 12_000, rel=1e-9)
    assert service.stable and not service.exact and "fluid" in service.method
    flow = prediction.flows["users"]
    assert flow.response_time.mean == pytest.approx(service.response_time.mean, rel=1e-9)
    assert flow.completion_time.mean == pytest.approx(service.response_time.mean, rel=1e-9)
    assert not flow.exact


def test_bursts_above_a_services_capacity_leave_a_backlog() -> None:
    """An MMPP of 30/s and 130/s, 5 s each on average, to one worker of constant 10 ms
    (c_s^2 = 0): in system `bursts_in_system(0)`, the response that over 80/s."""
    prediction = analyze(load_scenario(api(BURSTS, duration=1000, operations=CONSTANT)))
    service = prediction.services["api"]
    in_system = bursts_in_system(0.0)
    assert service.in_system.mean == pytest.approx(in_system, rel=1e-9)
    assert service.response_time.mean == pytest.approx(in_system / 80, rel=1e-9)
    assert prediction.flows["users"].response_time.mean == pytest.approx(in_system / 80, rel=1e-9)
    (warning,) = [w for w in prediction.warnings if "bursty (MMPP)" in w]
    assert "service 'api' is a Markov-modulated Brownian queue" in warning


def test_the_brownian_backlog_is_close_to_the_exact_mmpp_m1() -> None:
    """With exponential work the station is an MMPP/M/1 queue, predicted exactly
    (`models.analysis.bursts`): 193.6 in system. The Brownian queue with c_s^2 = 1 says
    0.7% more; the fluid queue (no noise) with the calm M/M/1, 188.3, said 2.7% less."""
    prediction = analyze(load_scenario(api(BURSTS, duration=1000)))
    exact = mmpp_m1([30.0, 130.0], [0.2, 0.2], 100.0)
    service = prediction.services["api"]
    assert service.in_system.mean == pytest.approx(exact.mean_in_system, rel=1e-9)
    assert service.exact
    assert bursts_in_system(1.0) / exact.mean_in_system == pytest.approx(1.007, abs=0.001)


@pytest.mark.parametrize(
    "service",
    [
        {"queue_capacity": 100},
        {"rate_limit": {"rate": 500}},
    ],
    ids=["bounded-room", "rate-limit"],
)
def test_a_service_whose_backlog_is_not_carried_keeps_the_average(
    service: dict[str, Any],
) -> None:
    """A bounded waiting room drops (not a backlog), a rate limit sheds: the flow keeps its
    average rate."""
    prediction = analyze(load_scenario(api(SPIKE, **service)))
    (warning,) = [w for w in prediction.warnings if "time-varying rate" in w]
    assert "predicted at its average" in warning


@pytest.mark.parametrize("balancing", ["round_robin", "random"])
def test_replicas_each_carry_their_share_of_the_backlog(balancing: str) -> None:
    """Two replicas of one worker of Exp(20 ms) (50/s each), each offered half the spike:
    each piles up at 75 - 50 = 25/s for 30 s and drains at 25/s, an area of 22,500, and is
    flat out for 60 s; the other 120 s the service is in its steady state at 50/s (S in
    system: M/M/1 at 50% per replica at random, less behind round robin's every other
    request). The service's requests present are both replicas': (2 x 22,500 + 2 x 60 +
    120 S) / 180; its utilization each one's."""
    replicas = {"replicas": 2, "balancing": balancing, "operations": {"get": [SLOWER]}}
    calm = analyze(load_scenario(api({"poisson": 50}, **replicas))).services["api"]
    assert calm.in_system.mean is not None
    service = analyze(load_scenario(api(SPIKE, **replicas))).services["api"]
    present = (45_000 + 120 + 120 * calm.in_system.mean) / 180
    assert service.in_system.mean == pytest.approx(present, rel=1e-9)
    assert service.response_time.mean == pytest.approx(present * 180 / 12_000, rel=1e-9)
    assert service.utilization == pytest.approx((60 + 60) / 180, rel=1e-9)
    assert service.arrival_rate == pytest.approx(12_000 / 180, rel=1e-9)


def test_a_called_service_is_not_carried() -> None:
    """A service that a caller's thread waits on: its backlog would hold the caller's
    threads (not modelled), so the flow keeps its average rate."""
    document = api(SPIKE)
    document["services"]["front"] = {
        "workers": 200,
        "operations": {"get": [{"call": "api"}]},
    }
    document["workload"]["users"]["entry"] = "front"
    prediction = analyze(load_scenario(document))
    (warning,) = [w for w in prediction.warnings if "time-varying rate" in w]
    assert "predicted at its average" in warning


def test_bursts_that_overload_a_service_and_its_group_together_keep_the_mean_rate() -> None:
    """A service flat out passes its capacity on, not what arrives: over MMPP phases the
    tandem is not modelled (over rate pieces it is: tests/unit/test_tandem.py), so a group
    it publishes to, overloaded by the same bursts, is not carried over with it."""
    document = api(BURSTS, duration=1000)
    document["services"]["api"]["operations"]["get"].append({"publish": "events"})
    document["services"]["consumer"] = {
        "operations": {"record": [{"work": {"exponential": 0.0095}}]}
    }
    document["topics"] = {"events": {"subscribers": {"consumer": {"operation": "record"}}}}
    prediction = analyze(load_scenario(document))
    (warning,) = [w for w in prediction.warnings if "bursty (MMPP)" in w]
    assert "predicted as Poisson at their exact mean rate" in warning
