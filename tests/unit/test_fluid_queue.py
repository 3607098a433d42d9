"""The Markov-modulated fluid queue (`models.theory.fluid_queue`): the two-phase closed form,
the balance of what flows in and out, and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from models.theory.fluid_queue import brownian_queue, fluid_queue
from models.theory.mmpp import phase_generator


def test_two_phases_match_the_closed_form() -> None:
    """Anick-Mitra-Sondhi with one filling phase: z = -(s1 / d1 + s2 / d2), P(X > 0) =
    pi_2 (1 + d2 / |d1|), E[X] = P(X > 0) / -z."""
    s1, s2, d1, d2 = 0.05, 0.2, -50.0, 30.0
    queue = fluid_queue(phase_generator(np.array([s1, s2])), [d1, d2])
    pi2 = s1 / (s1 + s2)
    nonempty = pi2 * (1 + d2 / -d1)
    assert queue.phases == pytest.approx((s2 / (s1 + s2), pi2), rel=1e-12)
    assert queue.nonempty == pytest.approx(nonempty, rel=1e-9)
    assert queue.mean_content == pytest.approx(nonempty / (s1 / d1 + s2 / d2), rel=1e-9)
    assert queue.empty[1] == 0.0


@pytest.mark.parametrize(
    ("switch", "drifts"),
    [([1.0, 2.0, 3.0], [-5.0, 4.0, 3.0]), ([0.1, 0.5, 0.2, 1.0], [-8.0, 2.0, -1.0, 6.0])],
)
def test_the_buffer_takes_in_what_it_lets_out(switch: list[float], drifts: list[float]) -> None:
    """Over the long run the content does not grow: the drift lost while empty in draining
    phases, sum_i P(X = 0, i) |d_i|, makes up the mean drift -sum_i pi_i d_i; a filling
    phase never finds the buffer empty, and a draining one finds it empty at most as long
    as it lasts."""
    queue = fluid_queue(phase_generator(np.array(switch)), drifts)
    lost = sum(e * -d for e, d in zip(queue.empty, drifts, strict=True))
    mean_drift = sum(p * d for p, d in zip(queue.phases, drifts, strict=True))
    assert lost == pytest.approx(-mean_drift, rel=1e-9)
    for empty, phase, drift in zip(queue.empty, queue.phases, drifts, strict=True):
        assert empty == 0.0 if drift > 0 else 0.0 < empty <= phase
    assert queue.mean_content > 0


def test_a_buffer_that_never_fills_stays_empty() -> None:
    queue = fluid_queue(phase_generator(np.array([1.0, 1.0])), [-1.0, -2.0])
    assert queue.mean_content == 0.0 and queue.nonempty == pytest.approx(0.0)


@pytest.mark.parametrize("drifts", [[-1.0, 3.0], [-1.0, 0.0]], ids=["unstable", "zero-drift"])
def test_bad_drifts_are_refused(drifts: list[float]) -> None:
    with pytest.raises(ValueError, match="drift"):
        fluid_queue(phase_generator(np.array([1.0, 1.0])), drifts)


def test_one_phase_is_the_reflected_brownian_motion() -> None:
    """Two phases alike: the reflected Brownian motion of drift d < 0 and variance s^2,
    whose stationary law is exponential of mean s^2 / (2 |d|)."""
    generator = phase_generator(np.array([1.0, 3.0]))
    assert brownian_queue(generator, [-2.0, -2.0], [3.0, 3.0]) == pytest.approx(0.75, rel=1e-9)


def test_little_noise_is_the_fluid_queue() -> None:
    """As the variances vanish the Brownian queue tends to the fluid queue."""
    generator = phase_generator(np.array([0.05, 0.2]))
    fluid = fluid_queue(generator, [-50.0, 30.0]).mean_content
    noisy = brownian_queue(generator, [-50.0, 30.0], [1e-3, 1e-3])
    assert noisy == pytest.approx(fluid, rel=1e-4)
    assert brownian_queue(generator, [-50.0, 30.0], [150.0, 230.0]) > fluid


def test_a_phase_at_capacity_is_a_random_walk_in_the_brownian_queue() -> None:
    """A drift of 0 in a phase (the fluid cannot take it) still gives a finite mean,
    which grows with that phase's variance."""
    generator = phase_generator(np.array([0.004, 0.016]))
    low = brownian_queue(generator, [-150.0, 0.0], [100.0, 150.0])
    high = brownian_queue(generator, [-150.0, 0.0], [100.0, 300.0])
    assert 0.0 < low < high


def test_a_brownian_queue_needs_noise_everywhere() -> None:
    with pytest.raises(ValueError, match="variance"):
        brownian_queue(phase_generator(np.array([1.0, 1.0])), [-1.0, -2.0], [1.0, 0.0])
