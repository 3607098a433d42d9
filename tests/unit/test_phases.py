"""An MMPP flow phase by phase (`models.analysis.phases`): the blend's weight from the exact
MMPP/M/1 proxy, the phases' means, and where the flow keeps Poisson at its mean rate."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from models import analyze, load_scenario
from models.analysis.phases import Bursts, _weight, bursty_flows, flow_phases
from models.arrivals import MmppArrivals, MmppSpec
from models.theory.fluid_queue import brownian_queue
from models.theory.mmpp import (
    kronecker_sum,
    mmpp_m1,
    modulated_m1,
    phase_generator,
)


def pool(
    workers: int = 3,
    rates: tuple[float, float] = (45.0, 135.0),
    switch_rates: tuple[float, float] = (0.5, 1.0),
    **extra: Any,
) -> dict[str, Any]:
    """A pool of `workers` of Exp(20 ms) fed by one MMPP flow."""
    return {
        "name": "phases",
        "simulation": {"duration": 1000},
        "services": {
            "api": {"workers": workers, "operations": {"get": [{"work": {"exponential": 0.02}}]}}
        },
        "workload": {
            "users": {
                "entry": "api",
                "arrivals": {"mmpp": {"rates": list(rates), "switch_rates": list(switch_rates)}},
            }
        },
        **extra,
    }


def bounded(document: dict[str, Any]) -> dict[str, Any]:
    """`document` with a waiting room of 50 at its pool (a backlog there drops: not
    carried over)."""
    document["services"]["api"]["queue_capacity"] = 50
    return document


def one_flow(spec: MmppSpec) -> Bursts:
    """The phases of one flow with `spec`'s bursts."""
    phases = flow_phases(MmppArrivals(mmpp=spec))
    assert phases is not None
    return Bursts.of({"users": phases})


def mm1_response(rate: float, speed: float) -> float:
    return 1.0 / (speed - rate)


@pytest.mark.parametrize("switch", [0.01, 0.3, 3.0, 30.0])
def test_the_weight_blends_an_mm1_into_its_exact_mmpp_mean(switch: float) -> None:
    """For one exponential server the blend (1 - theta) W_mean + theta W_phases is the exact
    MMPP/M/1 response (Neuts' matrix-geometric solution), at every switching speed."""
    spec = MmppSpec(rates=[30.0, 70.0], switch_rates=[switch, 2 * switch])
    theta = _weight(one_flow(spec), 100.0, [0.3, 0.7])
    shares = spec.stationary
    mean = shares[0] * 30 + shares[1] * 70
    phased = shares[0] * 30 * mm1_response(30, 100) + shares[1] * 70 * mm1_response(70, 100)
    phased /= mean
    blended = (1 - theta) * mm1_response(mean, 100) + theta * phased
    exact = mmpp_m1([30.0, 70.0], [switch, 2 * switch], 100.0).mean_response_time
    assert blended == pytest.approx(exact, rel=1e-9)
    assert 0.0 < theta < 1.0


def test_the_weight_grows_with_the_phases_length() -> None:
    """Long phases settle into their own steady states (theta near 1), short ones look like
    Poisson at the mean rate (theta near 0)."""
    weights = [
        _weight(one_flow(MmppSpec(rates=[30.0, 70.0], switch_rates=[s, s])), 100.0, [0.3, 0.7])
        for s in (30.0, 3.0, 0.3, 0.03)
    ]
    assert weights == sorted(weights)
    assert weights[0] < 0.3 and weights[-1] > 0.99


def test_a_pool_fed_in_bursts_waits_between_its_two_limits() -> None:
    """M/M/3 of 20 ms at 45/s (2 s on average) and 135/s (1 s): the phases alone (each an
    M/M/3 of its own) and Poisson at the mean rate, 75/s, bracket the prediction; the
    warning names the blend and its weight."""
    prediction = analyze(load_scenario(pool()))
    slow = analyze(load_scenario(pool(switch_rates=(0.0005, 0.001))))
    fast = analyze(load_scenario(pool(switch_rates=(500.0, 1000.0))))
    response = prediction.flows["users"].response_time.mean
    assert fast.flows["users"].response_time.mean < response
    assert response < slow.flows["users"].response_time.mean
    poisson = analyze(load_scenario(pool(rates=(75.0, 75.0)))).flows["users"].response_time.mean
    assert fast.flows["users"].response_time.mean == pytest.approx(poisson, rel=0.01)
    (warning,) = [w for w in prediction.warnings if "bursty (MMPP)" in w]
    assert "phase by phase (2 phases" in warning and "proxy of service 'api'" in warning
    assert prediction.services["api"].utilization == pytest.approx(75 * 0.02 / 3)
    assert not prediction.services["api"].exact


def test_the_capacity_is_measured_against_the_mean_rate() -> None:
    """The pool saturates at 150/s whatever the bursts: max_throughput as for Poisson."""
    prediction = analyze(load_scenario(pool()))
    assert prediction.flows["users"].max_throughput == pytest.approx(150.0, rel=0.01)


@pytest.mark.parametrize(
    "document",
    [
        bounded(pool(rates=(45.0, 165.0))),  # (the busy phase saturates a bounded pool)
        pool(faults=[{"kind": "slowdown", "service": "api", "at": 10, "for": 5, "factor": 2}]),
    ],
    ids=["a-phase-saturates", "faults"],
)
def test_where_the_phases_do_not_apply_the_mean_rate_stays(document: dict[str, Any]) -> None:
    prediction = analyze(load_scenario(document))
    (warning,) = [w for w in prediction.warnings if "bursty (MMPP)" in w]
    assert "predicted as Poisson at their exact mean rate" in warning


def test_bursty_flows_are_taken_together_up_to_sixteen_joint_phases() -> None:
    """Two MMPP flows are one MMPP on the product of their phases; beside a rate profile
    (its pieces would multiply the phases), or past 16 joint phases, they keep Poisson at
    their mean rates."""
    two = pool()
    two["workload"]["more"] = {
        "entry": "api",
        "arrivals": {"mmpp": {"rates": [1, 2, 3], "switch_rates": [1, 1, 1]}},
    }
    bursts = bursty_flows(load_scenario(two))
    assert bursts is not None and bursts.flows == ("users", "more")
    assert bursts.rates[:4] == ((45.0, 1.0), (45.0, 2.0), (45.0, 3.0), (135.0, 1.0))
    assert bursts.shares == pytest.approx([2 / 9] * 3 + [1 / 9] * 3)
    assert bursts.generator[0].tolist() == [-1.5, 1.0, 0.0, 0.5, 0.0, 0.0]
    many = pool()
    many["workload"]["more"] = {
        "entry": "api",
        "arrivals": {"mmpp": {"rates": [1] * 8 + [2], "switch_rates": [1] * 9}},
    }
    assert bursty_flows(load_scenario(many)) is None  # (2 x 9 = 18 joint phases)
    profiled = pool()
    profiled["workload"]["more"] = {
        "entry": "api",
        "arrivals": {"profile": [{"at": 0, "rate": 1}, {"at": 500, "rate": 2}]},
    }
    assert bursty_flows(load_scenario(profiled)) is None
    assert bursty_flows(load_scenario(pool())) is not None


def test_two_bursty_flows_behind_a_caller_blend_into_their_exact_mmpp_mean() -> None:
    """One server of Exp(10 ms) behind a caller (so not taken exactly: tests/unit/
    test_bursts.py) fed by two MMPP flows: together an MMPP on their 4 joint phases
    (`kronecker_sum`), for which the blend is the exact MMPP/M/1 response. Each flow's
    response is its arrivals' blend, so their arrival-weighted average is the service's;
    the flow whose bursts are larger meets the longer queues: the exact split (the
    phase-conditional queue an arrival meets) 27.0 and 24.6 ms, the blend's 26.4 and 25.4
    (-2.1%, +3.2%)."""
    document = pool(workers=1, rates=(10.0, 50.0), switch_rates=(0.5, 1.0))
    document["services"]["api"]["operations"]["get"] = [{"work": {"exponential": 0.01}}]
    document["services"]["front"] = {
        "workers": "unlimited",
        "operations": {"get": [{"call": "api.get"}]},
    }
    document["workload"]["users"]["entry"] = "front"
    document["workload"]["batch"] = {
        "entry": "front",
        "arrivals": {"mmpp": {"rates": [5, 35], "switch_rates": [2.0, 3.0]}},
    }
    prediction = analyze(load_scenario(document))
    cycles = [phase_generator(np.array([0.5, 1.0])), phase_generator(np.array([2.0, 3.0]))]
    exact = modulated_m1([15.0, 45.0, 55.0, 85.0], kronecker_sum(cycles), 100.0)
    response = prediction.services["api"].response_time.mean
    assert response == pytest.approx(exact.mean_response_time, rel=1e-9)
    users = prediction.flows["users"].response_time.mean
    batch = prediction.flows["batch"].response_time.mean
    mean_users, mean_batch = 70 / 3, 17.0
    together = (mean_users * users + mean_batch * batch) / (mean_users + mean_batch)
    assert together == pytest.approx(exact.mean_response_time, rel=1e-9)
    assert users == pytest.approx(exact.class_response([10.0, 10, 50, 50]), rel=0.025)
    assert batch == pytest.approx(exact.class_response([5.0, 35, 5, 35]), rel=0.035)
    warnings = [w for w in prediction.warnings if "bursty (MMPP)" in w]
    assert len(warnings) == 2
    assert "4 joint phases with the bursts of 'batch'" in warnings[0]
    assert "4 joint phases with the bursts of 'users'" in warnings[1]


def bursty_consumer(**subscriber: Any) -> dict[str, Any]:
    """One consumer of Exp(10 ms) (100/s) behind an MMPP of 30/s and 130/s, 5 s each on
    average: the bursts overload it."""
    return {
        "name": "bursty-consumer",
        "simulation": {"duration": 1000},
        "services": {
            "shop": {"workers": "unlimited", "operations": {"order": [{"publish": "orders"}]}},
            "billing": {"operations": {"charge": [{"work": {"exponential": 0.01}}]}},
        },
        "topics": {"orders": {"subscribers": {"billing": {"operation": "charge", **subscriber}}}},
        "workload": {
            "users": {
                "entry": "shop.order",
                "arrivals": {"mmpp": {"rates": [30, 130], "switch_rates": [0.2, 0.2]}},
            }
        },
    }


def test_a_burst_above_a_consumers_capacity_leaves_a_backlog() -> None:
    """The backlog is a two-phase Markov-modulated Brownian queue: drifts -70/s and +30/s,
    variances 30 + 100 and 130 + 100 per second (Poisson arrivals, exponential work), each
    phase left at 0.2/s. The lag adds the consumer busy on average, 80 x 10 ms; the
    sojourn is that lag over the mean rate, 80/s (Little). Every message that comes in
    while the fluid queue of the same drifts is not empty waits (P(X > 0) = 0.5 (1 +
    30/70)), and a share 0.3 of the others in the calm phase."""
    prediction = analyze(load_scenario(bursty_consumer()))
    group = prediction.topics["orders"].groups["billing"]
    generator = phase_generator(np.array([0.2, 0.2]))
    lag = brownian_queue(generator, [-70.0, 30.0], [130.0, 230.0]) + 0.8
    assert lag == pytest.approx(194.94, abs=0.01)
    assert group.lag.mean == pytest.approx(lag, rel=1e-9)
    assert group.sojourn_time.mean == pytest.approx(lag / 80, rel=1e-9)
    assert group.utilization == pytest.approx(80 * 0.01, rel=1e-9)
    nonempty = 0.5 * (1 + 30 / 70)
    calm_empty = 1 - nonempty
    waited = (0.5 - calm_empty) * 30 + calm_empty * 0.3 * 30 + 0.5 * 130
    assert group.p_wait == pytest.approx(waited / 80, rel=1e-9)
    assert prediction.flows["users"].completion_time.mean == pytest.approx(lag / 80, rel=1e-9)
    (warning,) = [w for w in prediction.warnings if "bursty (MMPP)" in w]
    assert "Brownian queue" in warning and "orders/billing" in warning


def test_an_autoscaled_consumer_group_keeps_the_mean_rate() -> None:
    """Autoscaling is not predicted: its backlog is not carried over."""
    scaled = {"autoscale": {"target": 20, "max": 4}}
    prediction = analyze(load_scenario(bursty_consumer(**scaled)))
    (warning,) = [w for w in prediction.warnings if "bursty (MMPP)" in w]
    assert "predicted as Poisson at their exact mean rate" in warning


@pytest.mark.parametrize(
    ("feed", "feed_rates", "generator", "rates"),
    [
        (
            {"mmpp": {"rates": [10, 50], "switch_rates": [0.5, 0.5]}},
            [10.0, 50, 10, 50],
            kronecker_sum(
                [phase_generator(np.array([0.2, 0.2])), phase_generator(np.array([0.5, 0.5]))]
            ),
            [30.0, 70, 90, 130],
        ),
        ({"poisson": 30}, [30.0, 30], phase_generator(np.array([0.2, 0.2])), [50.0, 110]),
    ],
    ids=["bursty-feed", "poisson-feed"],
)
def test_flows_above_a_consumer_meet_its_backlog_as_their_arrivals_fall_in_the_phases(
    feed: dict[str, Any], feed_rates: list[float], generator: np.ndarray, rates: list[float]
) -> None:
    """One consumer of Exp(10 ms) behind web (20/s and 80/s, 5 s each on average) and a
    feed: bursty (10/s and 50/s, 2 s each: 4 joint phases, 130/s where both burst) or
    Poisson at 30/s. The backlog is the Brownian queue over the phases (drifts r - 100,
    variances r + 100), plus the consumer busy on average. The consumer is an MMPP/M/1
    queue, so each flow's exact mean is known (an arrival in phase i meets E[N; i] / pi_i;
    the Poisson feed the time average, PASTA): web 0.821 s and feed 0.705 s, or web 0.639 s
    and feed 0.470 s. Each flow meets the backlog as its own arrivals fall in the phases:
    within 4% of those (the Brownian queue's +2.1% and +2.9% on the whole lag included),
    where adding the same rise to every flow said feed +9.6% and +26%."""
    document = bursty_consumer()
    document["services"]["partner"] = {
        "workers": "unlimited",
        "operations": {"feed": [{"publish": "orders"}]},
    }
    document["workload"]["users"]["arrivals"]["mmpp"] = {
        "rates": [20, 80],
        "switch_rates": [0.2, 0.2],
    }
    document["workload"]["feed"] = {"entry": "partner.feed", "arrivals": feed}
    prediction = analyze(load_scenario(document))
    phases = np.array(rates)
    lag = brownian_queue(generator, list(phases - 100), list(phases + 100)) + 0.8
    group = prediction.topics["orders"].groups["billing"]
    assert group.lag.mean == pytest.approx(lag, rel=1e-9)
    by_phase = np.array(modulated_m1(rates, generator, 100.0).in_system_by_phase)
    shares = np.full(len(rates), 1 / len(rates))
    web = np.array([20.0, 20, 80, 80] if len(rates) == 4 else [20.0, 80])
    for flow, own in [("users", web), ("feed", np.array(feed_rates))]:
        exact = float(own @ (by_phase + shares)) / (100.0 * float(own @ shares))
        assert prediction.flows[flow].completion_time.mean == pytest.approx(exact, rel=0.04)
    users, feeds = (prediction.flows[f].completion_time.mean for f in ("users", "feed"))
    assert (50 * users + 30 * feeds) / 80 == pytest.approx(group.sojourn_time.mean, rel=1e-3)


def test_flows_into_an_entry_service_meet_its_backlog_as_their_bursts_make_it() -> None:
    """The consumer case above as an entry service: two replicas of one worker of Exp(20
    ms), balanced at random (each an MMPP/M/1 queue fed half of each flow: the service is
    not taken exactly, tests/unit/test_bursts.py), fed by web (20/s and 80/s, 5 s each)
    and a feed (10/s and 50/s, 2 s each). The backlog is carried over the same way: the
    service's response 0.898 s against 0.865 exact (+3.8%, the Brownian queue's), web's
    0.966 s against 0.912 (+5.9%), the feed's 0.784 against 0.788 (-0.4%), where one rise
    for both flows said web -1.5% and the feed +14%."""
    document = pool(workers=1, rates=(20.0, 80.0), switch_rates=(0.2, 0.2))
    document["services"]["api"].update(replicas=2, balancing="random")
    document["workload"]["feed"] = {
        "entry": "api",
        "arrivals": {"mmpp": {"rates": [10, 50], "switch_rates": [0.5, 0.5]}},
    }
    prediction = analyze(load_scenario(document))
    assert "Brownian queue" in prediction.services["api"].method
    cycles = [phase_generator(np.array([0.2, 0.2])), phase_generator(np.array([0.5, 0.5]))]
    replica = modulated_m1([15.0, 35, 45, 65], kronecker_sum(cycles), 50.0)
    response = prediction.services["api"].response_time.mean
    assert response == pytest.approx(replica.mean_response_time, rel=0.04)
    for flow, own in [("users", [10.0, 10, 40, 40]), ("feed", [5.0, 25, 5, 25])]:
        exact = replica.class_response(own)
        assert prediction.flows[flow].response_time.mean == pytest.approx(exact, rel=0.065)
