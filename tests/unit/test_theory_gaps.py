"""When `archsim run` says an exact prediction differs from the simulation
(sim/presentation/theory_tables.py): only beyond chance, at `GAP_CONFIDENCE`.

- The widening is the ratio of Student's t quantiles (values from the tables: t_{0.9995, 4}
  = 8.610, t_{0.975, 4} = 2.776).
- Calibration: where the prediction is the true mean, replication means drawn from it (5
  normal replications, the 95% interval as `t_interval` computes it, checked on the first
  hundred) flag a gap with
  probability 1 - GAP_CONFIDENCE = 1e-3 (the t interval is exact for normal values). Over
  100,000 draws the count is binomial; the check fails by chance with probability 1e-4
  (two-sided quantiles), and the 95% interval alone would have flagged 5% of them.
- A prediction clearly outside is flagged; approximate predictions and runs without an
  interval never are.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from sim.experiments.statistics import t_interval
from sim.presentation.theory_tables import GAP_CONFIDENCE, _gap, gap_widening

DRAWS = 100_000
ALPHA = 1e-4


def test_the_widening_is_the_ratio_of_t_quantiles() -> None:
    assert gap_widening(5) == pytest.approx(8.610 / 2.776, rel=1e-3)
    assert gap_widening(2) == pytest.approx(636.62 / 12.706, rel=1e-3)
    assert gap_widening(1) == 1.0


def test_a_true_prediction_is_flagged_one_run_in_a_thousand() -> None:
    rng = np.random.default_rng(20261205)
    samples = rng.normal(10.0, 2.0, size=(DRAWS, 5))
    means = samples.mean(axis=1)
    halves = stats.t.ppf(0.975, 4) * samples.std(axis=1, ddof=1) / math.sqrt(5)
    for sample, mean, half in zip(samples[:100], means, halves, strict=False):
        assert t_interval(sample.tolist()) == pytest.approx((mean - half, mean + half))
    widening = gap_widening(5)
    flagged = sum(
        _gap(True, (mean - half, mean + half), 10.0, widening)
        for mean, half in zip(means.tolist(), halves.tolist(), strict=True)
    )
    at_95 = int(np.count_nonzero(np.abs(means - 10.0) > halves))
    rate = 1.0 - GAP_CONFIDENCE
    low = stats.binom.ppf(ALPHA / 2, DRAWS, rate)
    high = stats.binom.ppf(1 - ALPHA / 2, DRAWS, rate)
    assert low <= flagged <= high, (flagged, low, high)
    assert abs(at_95 - 0.05 * DRAWS) < 5 * math.sqrt(0.05 * 0.95 * DRAWS)


def test_a_prediction_far_outside_is_flagged() -> None:
    interval = (0.99, 1.01)  # a 95% interval of 5 replications about 1.0
    widening = gap_widening(5)
    assert not _gap(True, interval, 1.02, widening)  # outside 95%, not beyond chance
    assert _gap(True, interval, 1.05, widening)
    assert _gap(True, interval, 0.95, widening)
    assert not _gap(False, interval, 1.5, widening)  # approximate: orientation only
    assert not _gap(True, None, 1.5, widening)  # one replication: no interval
