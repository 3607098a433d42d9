"""`models.analyze` of bursty (MMPP) arrivals phase by phase against `sim.simulate`.

The prediction blends each phase's steady state with Poisson arrivals at the mean rate, by a
weight read off an exact MMPP/M/1 proxy (`models.analysis.phases`). For one exponential
server the blend is exact (tests/unit/test_phases.py); for a pool of several servers the
proxy's relaxation time is an approximation, whose bias was measured with long runs
(`archsim run`, 8-20 replications of 1,000-2,000 s): M/M/3 at 30%/90% switching every 2 s
and 1 s, -0.4%; M/M/4 at 30%/90% with phases of 1, 5 and 25 s on average, +2.4%, +2.6%,
+2.3%. `SLACK` covers it.

Tolerance: the rule of tests/theory/conftest.py (`agrees`): |mean - prediction| <= t_{1 -
alpha/2, 19} SE = 4.90 SE over 20 independent replications (a false-alarm rate alpha = 1e-4
per check), plus `SLACK` x the prediction; each check asserts that its expected half-width
is below `POWER` of the prediction. Seeds: the `seed` fixture. About 15 s of CPU.
"""

from __future__ import annotations

import pytest

from models import analyze, load_scenario
from sim import simulate

pytestmark = pytest.mark.theory

REPLICATIONS = 20
POWER = 0.08
"""Largest expected half-width allowed, relative to the prediction: bursts make the
waiting vary much from run to run (8%, as in test_analysis_vs_simulation.py)."""
SLACK = 0.03
"""The blend's measured bias on pools of several servers (module docstring), rounded up."""


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
            "simulation": {"duration": 1500, "warmup": 20},
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
    results = simulate(scenario, replications=REPLICATIONS, seed=seed).replications
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
