"""The Markov-modulated fluid queue: a buffer that fills at drift d_i while a Markov chain
is in phase i (emptied at the rate it drains, never below 0); and the same with Brownian
noise of variance sigma_i^2 per unit of time (`brownian_queue`), the heavy-traffic limit of
a queue fed in phases.

Assumptions: an irreducible phase process with generator Q and stationary distribution pi;
a drift d_i != 0 in every phase (fluid in minus fluid out); a mean drift sum(pi_i d_i) < 0
(stable); an infinite buffer.

Method (Anick, Mitra & Sondhi, "Stochastic theory of a data-handling system with multiple
sources", Bell System Technical Journal 61(8), 1982; Kulkarni, "Fluid models for single
buffer systems", in Frontiers in Queueing, CRC Press, 1997, §4): the stationary
F_i(x) = P(X <= x, phase i), a row vector F(x), solves F'(x) D = F(x) Q with D = diag(d).
Its bounded solutions are F(x) = pi + sum_k a_k exp(z_k x) phi_k over the eigenvalues z_k
of Q D^-1 with a negative real part (phi_k their left eigenvectors: phi_k Q = z_k phi_k D);
there are as many as phases that fill (d_i > 0), and a filling phase never finds the buffer
empty: F_i(0) = 0 for d_i > 0, which fixes the a_k. Then

    P(X > x) = -sum_k a_k exp(z_k x) (phi_k 1),    E[X] = sum_k a_k (phi_k 1) / z_k,
    P(X = 0, phase i) = F_i(0) = pi_i + sum_k a_k phi_k,i.

Two phases, draining d_1 < 0 and filling d_2 > 0, leaving them at rates s_1 and s_2: one
eigenvalue z = -(s_1 / d_1 + s_2 / d_2) (negative when stable), P(X > x) = pi_2 (1 + d_2 /
|d_1|) exp(z x), E[X] = pi_2 (1 + d_2 / |d_1|) / -z.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.linalg

from models.theory._checks import require_positive


@dataclass(frozen=True)
class FluidQueue:
    """The stationary Markov-modulated fluid queue (`fluid_queue`)."""

    mean_content: float
    """E[X]: the buffer's mean content."""
    empty: tuple[float, ...]
    """P(X = 0, phase i): the time fraction in phase i with an empty buffer (0 where the
    phase fills)."""
    phases: tuple[float, ...]
    """The stationary phase distribution pi."""

    @property
    def nonempty(self) -> float:
        """P(X > 0): the time fraction with fluid in the buffer."""
        return 1.0 - float(sum(self.empty))


def stationary(generator: np.ndarray) -> np.ndarray:
    """pi with pi Q = 0, pi 1 = 1 (an irreducible generator)."""
    size = len(generator)
    system = np.vstack([generator.T, np.ones(size)])
    right = np.zeros(size + 1)
    right[-1] = 1.0
    solution, *_ = np.linalg.lstsq(system, right, rcond=None)
    return np.asarray(solution, dtype=float)


def fluid_queue(generator: np.ndarray, drifts: Sequence[float]) -> FluidQueue:
    """The stationary fluid queue of `drifts` modulated by `generator` (module docstring:
    assumptions, method, sources). Raises ValueError where a drift is 0 or the mean drift
    is not negative."""
    drift = np.asarray(drifts, dtype=float)
    if np.any(drift == 0.0):
        raise ValueError(f"every phase needs a drift other than 0 (got {list(drifts)})")
    pi = stationary(generator)
    mean_drift = float(pi @ drift)
    require_positive("minus the mean drift", -mean_drift)
    filling = drift > 0.0
    if not filling.any():
        return FluidQueue(0.0, tuple(float(p) for p in pi), tuple(float(p) for p in pi))
    # left eigenvectors of Q D^-1: eigenvectors of (Q D^-1)^T
    values, vectors = np.linalg.eig((generator / drift[np.newaxis, :]).T)
    decaying = [k for k in range(len(values)) if values[k].real < -1e-12 * abs(values).max()]
    if len(decaying) != int(filling.sum()):
        raise ValueError("the fluid queue's spectrum does not match its filling phases")
    rates = values[decaying]
    modes = vectors[:, decaying].T  # one row per decaying mode: phi_k
    # F_i(0) = pi_i + sum_k a_k phi_k,i = 0 for the filling phases i
    coefficients = np.linalg.solve(modes[:, filling].T, -pi[filling].astype(complex))
    totals = modes.sum(axis=1)
    mean = float(np.real(np.sum(coefficients * totals / rates)))
    empty = np.real(pi + coefficients @ modes)
    empty[filling] = 0.0
    return FluidQueue(
        mean_content=max(mean, 0.0),
        empty=tuple(float(max(e, 0.0)) for e in empty),
        phases=tuple(float(p) for p in pi),
    )


def brownian_queue(
    generator: np.ndarray, drifts: Sequence[float], variances: Sequence[float]
) -> float:
    """E[X] of a Markov-modulated reflected Brownian motion (`brownian_queue_by_phase`,
    summed over the phases)."""
    return float(np.sum(brownian_queue_by_phase(generator, drifts, variances)))


def brownian_queue_by_phase(
    generator: np.ndarray, drifts: Sequence[float], variances: Sequence[float]
) -> np.ndarray:
    """E[X; phase i] of a Markov-modulated reflected Brownian motion (the mean content
    while in phase i times the time in it; their sum is E[X]): drift d_i and variance
    sigma_i^2 > 0 per unit of time in phase i (modulated by `generator`, Q), reflected at
    0; mean drift sum(pi_i d_i) < 0. The fluid queue above with Brownian noise: it also
    takes a phase whose drift is 0 (a queue exactly at its capacity, a random walk).

    Method (Karandikar & Kulkarni, "Second-order fluid flow models: reflected Brownian
    motion in a random environment", Operations Research 43(1), 1995; Asmussen, "Stationary
    distributions for fluid flow models with or without Brownian noise", Stochastic Models
    11(1), 1995): the stationary density row vector f(x) solves f'' S - f' D + f Q = 0
    (S = diag(sigma^2 / 2)); f(x) = sum_k c_k phi_k exp(z_k x) over the n roots z_k with a
    negative real part of det(Q - z D + z^2 S) = 0 (phi_k (Q - z_k D + z_k^2 S) = 0; a
    linear pencil of size 2n with psi = z phi), and the phases' marginals are pi:
    sum_k c_k phi_k / -z_k = pi (which also makes the flux at 0 vanish in every phase).
    Then E[X; i] = sum_k c_k phi_k,i / z_k^2 (the density's first moment in phase i),
    and E[X] their sum. One phase: z = 2 d / sigma^2, E[X] = sigma^2 / (2 |d|), the
    reflected Brownian motion's."""
    drift = np.asarray(drifts, dtype=float)
    noise = np.asarray(variances, dtype=float) / 2.0
    if np.any(noise <= 0.0):
        raise ValueError(f"every phase needs a variance > 0 (got {list(variances)})")
    pi = stationary(generator)
    require_positive("minus the mean drift", -float(pi @ drift))
    size = len(drift)
    zero, identity = np.zeros((size, size)), np.eye(size)
    # row pencil [phi psi] A = z [phi psi] B, A = [[Q, 0], [0, I]], B = [[D, I], [-S, 0]]
    left = np.block([[generator, zero], [zero, identity]])
    right = np.block([[np.diag(drift), identity], [-np.diag(noise), zero]])
    values, vectors = scipy.linalg.eig(left.T, right.T)
    finite = np.isfinite(values)
    scale = np.abs(values[finite]).max()
    decaying = [k for k in range(len(values)) if finite[k] and values[k].real < -1e-12 * scale]
    if len(decaying) != size:
        raise ValueError("the Brownian queue's spectrum does not have one root per phase")
    rates = values[decaying]
    modes = vectors[:size, decaying].T  # phi_k, one row each
    coefficients = np.linalg.solve((modes / -rates[:, np.newaxis]).T, pi.astype(complex))
    moments = (coefficients / rates**2) @ modes
    return np.asarray(np.real(moments), dtype=float)
