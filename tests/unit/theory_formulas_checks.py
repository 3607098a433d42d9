"""Shared checks of the unit tests of `models.theory` (tests/unit/test_theory_formulas_*.py):
the relative tolerance of closed forms, a brute-force solver of the stationary distribution
of a continuous-time Markov chain (numpy/scipy), and the sanity check of a station's means.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import sparse
from scipy.sparse.linalg import spsolve

from models.theory import StationPrediction

REL = 1e-9


def stationary(transitions: dict[tuple[int, int], float], size: int) -> np.ndarray:
    """Stationary distribution of a CTMC given its off-diagonal rates {(from, to): rate}."""
    rows, cols, rates = [], [], []
    outflow = np.zeros(size)
    for (source, target), rate in transitions.items():
        rows.append(target)
        cols.append(source)
        rates.append(rate)
        outflow[source] += rate
    balance = sparse.coo_matrix((rates, (rows, cols)), shape=(size, size)).tolil()
    balance.setdiag(balance.diagonal() - outflow)
    balance[0, :] = np.ones(size)  # replace one balance equation by sum(pi) = 1
    right = np.zeros(size)
    right[0] = 1.0
    return np.asarray(spsolve(balance.tocsr(), right))


def add_rate(transitions: dict[tuple[int, int], float], key: tuple[int, int], rate: float) -> None:
    transitions[key] = transitions.get(key, 0.0) + rate


def assert_sane(prediction: StationPrediction) -> None:
    """No mean is negative or NaN; unstable stations report infinite waits."""
    for name, value in vars(prediction).items():
        if isinstance(value, float):
            assert not math.isnan(value), name
            assert value >= 0.0, name
    assert prediction.utilization <= 1.0 + 1e-12
    if not prediction.stable:
        assert math.isinf(prediction.mean_waiting_time)
        assert math.isinf(prediction.mean_response_time)
        assert math.isinf(prediction.mean_queue_length)
        assert math.isinf(prediction.mean_in_system)
