"""An open flow and a closed flow sharing one pool, against the product-form mixed network
(`tests.theory.mixed_network`) and against `archsim analyze` (the two-class station,
`models.analysis.mixed_source`).

Two clients (a closed flow) never have more than 2 requests at a 2-worker pool that open
arrivals share. With one exponential mean for both flows the network is product-form (BCMP) and
the theory exact: the simulation must agree within its own band, and the analysis (a
closed-loop fixed point over the two-class CTMC) to 1e-6. Allen-Cunneen at the same rates
as Poisson arrivals, what the analysis used before, is far outside that band.

Tolerance (`agrees`, tests/theory/conftest.py): 4.90 SE over 20 replications (false-alarm
rate 1e-4 per check), each check's expected half-width under 6% of theory (power).
"""

from __future__ import annotations

import math
from typing import Any

import pytest

import models.theory as theory
from models import analyze, load_scenario
from tests.theory.mixed_network import product_form

pytestmark = pytest.mark.theory

SERVICE = 0.004
OPEN_RATE = 150.0
CLIENTS = 2
THINK = 0.008
SERVERS = 2


def _scenario(duration: float) -> dict[str, Any]:
    work = [{"work": {"exponential": SERVICE}}]
    return {
        "name": "open-and-closed",
        "simulation": {"duration": duration, "warmup": 20, "replications": 20},
        "services": {"pool": {"workers": SERVERS, "operations": {"open": work, "closed": work}}},
        "workload": {
            "visitors": {"entry": "pool.open", "arrivals": {"poisson": OPEN_RATE}},
            "clients": {
                "entry": "pool.closed",
                "clients": CLIENTS,
                "think_time": {"exponential": THINK},
            },
        },
    }


def test_open_and_closed_flows_at_one_pool(agrees: Any, replications_of: Any, stat: Any) -> None:
    """Per-flow response times, the closed flow's throughput and the pool's mean wait.

    Formula: BCMP product form p(o, b) ∝ n!/(o! b!) λ^o (N!/(N-b)!) Z^-b S^n / prod min(k, c)
    (Baskett et al. 1975); open arrivals see time averages, closed ones the network with
    N - 1 clients (Lavenberg & Reiser 1980); W = E[(n - c + 1)+] S / c as seen on arrival.
    Tolerance: 4.90 SE over 20 replications (alpha = 1e-4).
    """
    open_wait, closed_wait, throughput = product_form(OPEN_RATE, THINK, CLIENTS, SERVICE, SERVERS)
    everyone = OPEN_RATE + throughput
    mean_wait = (OPEN_RATE * open_wait + throughput * closed_wait) / everyone
    poisson = theory.gg_c_allen_cunneen(everyone, SERVICE, SERVERS, 1.0, 1.0)
    assert poisson.mean_waiting_time > 1.3 * mean_wait  # (what the test tells apart)

    runs = replications_of(_scenario(duration=200))

    def flow(name: str, *keys: str) -> list[float]:
        return stat(runs, "flows", name, *keys)

    agrees(flow("visitors", "response_time", "mean"), SERVICE + open_wait, "open R")
    agrees(flow("clients", "response_time", "mean"), SERVICE + closed_wait, "closed R")
    agrees(flow("clients", "throughput"), throughput, "closed X")
    agrees(stat(runs, "services", "pool", "waiting_time", "mean"), mean_wait, "pool W")

    predicted = analyze(load_scenario(_scenario(duration=200)))
    assert predicted.services["pool"].method.startswith("open and finite-source classes")
    visitors, clients = predicted.flows["visitors"], predicted.flows["clients"]
    assert math.isclose(visitors.response_time.mean, SERVICE + open_wait, rel_tol=1e-6)
    assert math.isclose(clients.response_time.mean, SERVICE + closed_wait, rel_tol=1e-6)
    assert math.isclose(predicted.services["pool"].waiting_time.mean, mean_wait, rel_tol=1e-6)
