"""M/H2/c: a pool of c servers with hyperexponential service, against the matrix-geometric
solution (`models.theory.hyperexponential.mh2c`) and against `archsim analyze`.

The H2 law is the balanced-means two-moment fit of `hyperexponential: {mean, cv}`, so the
simulated station is exactly the M/H2/c queue and the theory is exact: the waiting and
P(wait) must agree within the simulation's own confidence band. Allen-Cunneen's
W(M/M/c) (1 + cs²) / 2, which the analysis used before for any c > 1 with cs² > 1, is
well outside that band here (22% high for c = 4, cv = 2 at 60%), so the test shows
which of the two the simulation supports.

Tolerance (`agrees`, tests/theory/conftest.py): 4.90 SE over 20 replications (false-alarm
rate 1e-4 per check), each check's expected half-width under 6% of theory (power).
"""

from __future__ import annotations

import math
from typing import Any

import pytest

import models.theory as theory
from models import analyze, load_scenario
from models.theory.hyperexponential import mh2c
from tests.theory.test_single_station import serving, station

pytestmark = pytest.mark.theory


@pytest.mark.parametrize(
    ("servers", "cv", "load", "duration"),
    [(4, 2.0, 0.6, 60_000)],
    ids=["M/H2/4-cv2-60%"],
)
def test_mh2c_matrix_geometric(
    servers: int,
    cv: float,
    load: float,
    duration: float,
    agrees: Any,
    replications_of: Any,
    stat: Any,
) -> None:
    """M/H2/c: mean waiting, P(wait) and number in system.

    Formula: the QBD of (customers, servers in phase 1), pi_{c+i} = pi_c R^i, R by
    logarithmic reduction (Neuts 1981, ch. 3; Latouche & Ramaswami 1993); Wq = Lq /
    lambda with Lq = pi_c R (I - R)^-2 1; P(wait) = pi_c (I - R)^-1 1 (PASTA).
    Tolerance: 4.90 SE over 20 replications (alpha = 1e-4).
    """
    mean = 1.0
    arrival_rate = load * servers / mean
    scenario = station(
        serving({"hyperexponential": {"mean": mean, "cv": cv}}, workers=servers),
        arrival_rate,
        duration=duration,
        warmup=500,
    )
    runs = replications_of(scenario)
    expected = mh2c(arrival_rate, mean, servers, cv**2)
    allen_cunneen = theory.gg_c_allen_cunneen(arrival_rate, mean, servers, 1.0, cv**2)
    assert allen_cunneen.mean_waiting_time > 1.08 * expected.mean_waiting_time

    def server(*keys: str) -> list[float]:
        return stat(runs, "services", "server", *keys)

    agrees(server("waiting_time", "mean"), expected.mean_waiting_time, "waiting mean")
    agrees(server("p_wait"), expected.p_wait, "P(wait)")
    agrees(server("in_system", "mean"), expected.mean_in_system, "in_system mean")

    predicted = analyze(load_scenario(scenario)).services["server"]
    assert predicted.method.startswith("M/H2/c") and predicted.exact
    assert math.isclose(predicted.waiting_time.mean, expected.mean_waiting_time, rel_tol=1e-9)
