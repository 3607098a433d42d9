"""The law of an operation's own work, where the station formulas can use more of it than
its mean and variance: a `hyperexponential` step (M/H2/c is then exact), or a step whose
law has E[S³] in closed form (M/H2/c fits three moments)."""

from __future__ import annotations

import math

from models.analysis.graph import OpKey, steps_of
from models.analysis.moments import Moments
from models.distributions import Hyperexponential
from models.schema import Scenario, WorkStep


def hyperexponential_law(scenario: Scenario, key: OpKey) -> tuple[float, float] | None:
    """(mean, cv) when the operation is one `work` step of a hyperexponential law."""
    steps = steps_of(scenario, key)
    if len(steps) == 1 and isinstance(steps[0], WorkStep):
        work = steps[0].work
        if isinstance(work, Hyperexponential):
            return work.mean_time, work.cv
    return None


def work_third_moment(scenario: Scenario, key: OpKey, holding: Moments) -> float | None:
    """E[S³] when the operation is one `work` step whose law has it in closed form and
    its holding time is that work (no slowdown): the three-moment H2 fit of M/H2/c."""
    steps = steps_of(scenario, key)
    if len(steps) == 1 and isinstance(steps[0], WorkStep):
        work = steps[0].work
        if math.isclose(work.mean, holding.mean, rel_tol=1e-9):
            return work.third_moment
    return None


def slowed(law: tuple[float, float] | None, up: float) -> tuple[float, float] | None:
    """A hyperexponential (mean, cv) with every server slowed by 1 / `up`."""
    return None if law is None else (law[0] / up, law[1])
