"""One server with a finite waiting room and any service law: M/G/1/K (`models.theory.
finite_room`), from the laws of the pool's own work where they are known, else from a gamma
law with the holding time's mean and SCV.

The M/G/1/K chain needs a_k = P(k arrivals during one holding time). Where every operation
of the pool is one `work` step (its holding time is that work) of a law with a closed form
(constant, exponential, Erlang, gamma, uniform, hyperexponential: `arrivals_during`), the
a_k are exact: a mixture of operations mixes their a_k by acquisitions. Otherwise a gamma
law with the same two moments stands in for the holding time (an approximation).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from models.analysis.moments import Moments
from models.analysis.station_load import ClassLoad
from models.distributions import (
    Constant,
    Distribution,
    Erlang,
    Exponential,
    Gamma,
    Hyperexponential,
    Uniform,
)
from models.theory.finite_room import arrivals_during_gamma, arrivals_during_uniform, mg1k
from models.theory.prediction import StationPrediction

METHOD = "M/G/1/K (embedded chain)"
GAMMA_FIT_NOTE = "service time as a gamma law of its mean and SCV (approximation)"


def arrivals_during(law: Distribution, rate: float, count: int) -> list[float] | None:
    """a_0 .. a_{count-1} for Poisson arrivals at `rate` during a time of law `law`, where
    the law has them in closed form (None otherwise: lognormal, Weibull, Pareto)."""
    if isinstance(law, Constant):
        return arrivals_during_gamma(rate, law.value, 0.0, count) if law.value > 0 else None
    if isinstance(law, Exponential | Erlang | Gamma):
        return arrivals_during_gamma(rate, law.mean, law.scv, count)
    if isinstance(law, Uniform):
        return arrivals_during_uniform(rate, law.low, law.high, count)
    if isinstance(law, Hyperexponential):
        parts = [arrivals_during_gamma(rate, mean, 1.0, count) for mean in law.phase_means]
        return [
            math.fsum(p * part[k] for p, part in zip(law.probabilities, parts, strict=True))
            for k in range(count)
        ]
    return None


def _mixed_arrivals(classes: Sequence[ClassLoad], rate: float, count: int) -> list[float] | None:
    """The a_k of the pool's holding time from its operations' laws (by acquisitions), or
    None where one that has acquisitions has no known law."""
    weighted: list[tuple[float, list[float]]] = []
    for load in classes:
        if load.laws is None:
            return None
        for weight, law in load.laws:
            if weight <= 0:
                continue
            found = arrivals_during(law, rate, count)
            if found is None:
                return None
            weighted.append((weight, found))
    total = math.fsum(weight for weight, _ in weighted)
    if total <= 0:
        return None
    return [math.fsum(w * a[k] for w, a in weighted) / total for k in range(count)]


def one_server_room(
    classes: Sequence[ClassLoad], rate: float, holding: Moments, room: int
) -> tuple[StationPrediction, bool]:
    """The pool of one server and a waiting room of `room` (>= 1) with `rate` Poisson
    acquisitions per second of `holding` in all, by M/G/1/K; and whether its a_k are the
    exact ones (the operations' laws) rather than a gamma law's."""
    capacity = room + 1
    exact = _mixed_arrivals(classes, rate, capacity - 1)
    if exact is not None:
        return mg1k(rate, holding.mean, exact, capacity, METHOD), True
    fitted = arrivals_during_gamma(rate, holding.mean, holding.scv, capacity - 1)
    return mg1k(rate, holding.mean, fitted, capacity, f"{METHOD}, {GAMMA_FIT_NOTE}"), False
