"""`models.analyze` of bursty (MMPP) arrivals phase by phase against `sim.simulate`.

The prediction blends each phase's steady state with Poisson arrivals at the mean rate, by a
weight read off an exact MMPP/M/1 proxy (`models.analysis.phases`). For one exponential
server the blend is exact (tests/unit/test_phases.py); for a pool of several servers the
proxy's relaxation time is an approximation, whose bias was measured with long runs
(`archsim run`, 8-20 replications of 1,000-2,000 s): M/M/3 at 30%/90% switching every 2 s
and 1 s, -0.4%; M/M/4 at 30%/90% with phases of 1, 5 and 25 s on average, +2.4%, +2.6%,
+2.3%. `SLACK` covers it. A burst above a consumer's capacity leaves a backlog that the
prediction takes as a Markov-modulated Brownian queue (the queue's heavy-traffic limit):
measured at +2.4% of the lag (one consumer of 100/s at 50/s and 130/s, phases of 20 s and
5 s, 20 replications of 4,000 s; 95% interval +-8%), +2.4% (30/s and 130/s, phases of 2 s,
20 x 1,000 s, +-11%), and for the consumer of the test below 194.9 against 189.6, 187.9,
203.4 and 183.9 in four runs (20 x 1,000-2,000 s, each +-9-14%); against the exact
MMPP/M/1 of the same bursts +0.7%. `BACKLOG_SLACK` covers it.

Tolerance: the rule of tests/theory/conftest.py (`agrees`): |mean - prediction| <= t_{1 -
alpha/2, n-1} SE over n independent replications (4.33 SE over 40 of 600 s for the pools,
4.90 SE over 20 of 2,000 s for the backlog; a false-alarm rate alpha = 1e-4 per check), plus
the slack x the prediction; each check asserts that its expected
half-width is below `POWER` of the prediction (`BACKLOG_POWER` for a backlog's lag and
sojourn, which the bursts make vary much more from run to run). Seeds: the `seed` fixture.
About 50 s of CPU (30 s of it the backlog's).
"""

from __future__ import annotations

import pytest

from models import analyze, load_scenario
from sim import simulate

pytestmark = pytest.mark.theory

REPLICATIONS = 20
"""Replications of the backlog's test, of 2,000 s each."""
POOL_REPLICATIONS = 40
POOL_DURATION = 600
"""The pools' runs: 40 of 600 s give about the half-widths of 20 x 1,500 s (t quantile 4.33
against 4.90) in 80% of the simulated time (the pool's wait: 7.0%, 6.3% and 8.3% at seed
shifts 0, 1000 and 2000, against 8.7%, 7.4% and 9.2%)."""
POWER = 0.08
"""Largest expected half-width allowed, relative to the prediction: bursts make the
waiting vary much from run to run (8%, as in test_analysis_vs_simulation.py)."""
SLACK = 0.03
"""The blend's measured bias on pools of several servers (module docstring), rounded up."""
FLOW_SPLIT_SLACK = 0.04
"""How the blend splits a station's mean among several bursty flows (each flow's phases
weighted by its own arrivals, one weight theta for all): against the exact MMPP/M/1 of two
flows into one exponential server, -2.1% and +3.2% (tests/unit/test_phases.py)."""
BACKLOG_SLACK = 0.05
"""The Brownian backlog's measured bias (module docstring), rounded up."""
BACKLOG_POWER = 0.2
"""Largest expected half-width of a backlog's mean (at 4.90 SE) allowed: the lag of a run
is dominated by its few hundred bursts; the prediction at the mean rate, a lag of 1.3, is
98% off."""


def test_a_pool_fed_in_bursts_is_predicted_between_its_phases_and_its_mean(
    agrees, stat, seed
) -> None:
    """M/M/3 of 20 ms fed by an MMPP at 45/s (2 s on average) and 135/s (1 s): utilization
    30% and 90% in the phases, 50% on average. Poisson at the mean rate, 75/s, says a
    response of 23.2 ms (Erlang C); each phase in its own steady state, weighted by its
    arrivals, 52.9 ms; the proxy (an MMPP/M/1 of 150/s at the same utilizations) puts the
    simulation's mean between them, at theta = 0.65 of the way: 42.5 ms."""
    scenario = load_scenario(
        {
            "name": "bursty-pool",
            "simulation": {"duration": POOL_DURATION, "warmup": 20},
            "services": {
                "api": {"workers": 3, "operations": {"get": [{"work": {"exponential": 0.02}}]}}
            },
            "workload": {
                "users": {
                    "entry": "api",
                    "arrivals": {"mmpp": {"rates": [45, 135], "switch_rates": [0.5, 1.0]}},
                }
            },
        }
    )
    predicted = analyze(scenario)
    response = predicted.flows["users"].response_time.mean
    assert 0.0232 < response < 0.0537
    assert response == pytest.approx(0.0425, abs=0.0005)
    results = simulate(scenario, replications=POOL_REPLICATIONS, seed=seed).replications
    service = predicted.services["api"]
    for path, theory in [
        (("flows", "users", "response_time", "mean"), response),
        (("services", "api", "waiting_time", "mean"), service.waiting_time.mean),
        (("services", "api", "in_system", "mean"), service.in_system.mean),
        (("services", "api", "utilization"), service.utilization),
    ]:
        agrees(
            stat(results, *path),
            theory,
            f"bursty pool: {'.'.join(path)}",
            slack=SLACK,
            max_relative_half_width=POWER,
        )


def test_two_bursty_flows_are_predicted_over_their_joint_phases(agrees, stat, seed) -> None:
    """The same M/M/3 of 20 ms fed by two independent MMPP flows: web at 20/s (2 s on
    average) and 90/s (1 s), batch at 25/s (1 s) and 45/s (0.5 s); 75/s together, as
    above. Together they are one MMPP on 4 joint phases (the Kronecker sum of their
    cycles), from 45/s to 135/s. Poisson at the mean rates says 23.2 ms for both flows;
    over the joint phases, web's arrivals (whose bursts are the larger) meet longer queues
    than batch's: 35.0 and 29.4 ms."""
    scenario = load_scenario(
        {
            "name": "two-bursty-flows",
            "simulation": {"duration": POOL_DURATION, "warmup": 20},
            "services": {
                "api": {"workers": 3, "operations": {"get": [{"work": {"exponential": 0.02}}]}}
            },
            "workload": {
                "web": {
                    "entry": "api",
                    "arrivals": {"mmpp": {"rates": [20, 90], "switch_rates": [0.5, 1.0]}},
                },
                "batch": {
                    "entry": "api",
                    "arrivals": {"mmpp": {"rates": [25, 45], "switch_rates": [1.0, 2.0]}},
                },
            },
        }
    )
    predicted = analyze(scenario)
    web = predicted.flows["web"].response_time.mean
    batch = predicted.flows["batch"].response_time.mean
    assert web == pytest.approx(0.0350, abs=0.0005)
    assert batch == pytest.approx(0.0294, abs=0.0005)
    results = simulate(scenario, replications=POOL_REPLICATIONS, seed=seed).replications
    service = predicted.services["api"]
    for path, theory in [
        (("flows", "web", "response_time", "mean"), web),
        (("flows", "batch", "response_time", "mean"), batch),
        (("services", "api", "waiting_time", "mean"), service.waiting_time.mean),
        (("services", "api", "in_system", "mean"), service.in_system.mean),
    ]:
        agrees(
            stat(results, *path),
            theory,
            f"two bursty flows: {'.'.join(path)}",
            slack=SLACK + FLOW_SPLIT_SLACK,
            max_relative_half_width=POWER,
        )


def test_bursts_above_a_consumers_capacity_leave_a_backlog(agrees, stat, seed) -> None:
    """One consumer of Exp(10 ms), 100/s, behind an MMPP of 30/s and 130/s, each phase 5 s
    on average: a backlog grows at 30/s in the bursts and drains at 70/s after. As a
    two-phase Markov-modulated Brownian queue (drifts -70 and +30, variances 130 and 230
    per second: Poisson arrivals, exponential work): 194.1 waiting, plus the consumer busy
    on average (0.8): a lag of 194.9; the sojourn is that over the mean rate, 80/s: 2.44 s.
    The fluid queue without noise says 187.5 waiting; Poisson at 80/s a lag of 4 and 50 ms.
    P(wait): every message while the fluid queue is not empty, 0.3 of the others in the
    calm phase: 0.925."""
    scenario = load_scenario(
        {
            "name": "bursty-consumer",
            "simulation": {"duration": 2000, "warmup": 20},
            "services": {
                "shop": {"workers": "unlimited", "operations": {"order": [{"publish": "orders"}]}},
                "billing": {"operations": {"charge": [{"work": {"exponential": 0.01}}]}},
            },
            "topics": {"orders": {"subscribers": {"billing": {"operation": "charge"}}}},
            "workload": {
                "users": {
                    "entry": "shop.order",
                    "arrivals": {"mmpp": {"rates": [30, 130], "switch_rates": [0.2, 0.2]}},
                }
            },
        }
    )
    predicted = analyze(scenario)
    group = predicted.topics["orders"].groups["billing"]
    assert group.lag.mean == pytest.approx(194.94, abs=0.01)
    results = simulate(scenario, replications=REPLICATIONS, seed=seed).replications
    where = ("topics", "orders", "groups", "billing")
    for path, theory, power in [
        ((*where, "lag", "mean"), group.lag.mean, BACKLOG_POWER),
        ((*where, "sojourn_time", "mean"), group.sojourn_time.mean, BACKLOG_POWER),
        ((*where, "utilization"), group.utilization, POWER),
        ((*where, "p_wait"), group.p_wait, POWER),
    ]:
        agrees(
            stat(results, *path),
            theory,
            f"bursty consumer: {'.'.join(path)}",
            slack=BACKLOG_SLACK,
            max_relative_half_width=power,
        )
