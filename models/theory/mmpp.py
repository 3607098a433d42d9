"""The MMPP/M/1 queue: Markov-modulated Poisson arrivals into one exponential server, FCFS.

Assumptions (those of `mmpp:` arrivals in a scenario, `models.arrivals`): m >= 2 phases in a
cycle; in phase i arrivals are Poisson at rate r_i >= 0, and the phase is left at rate
s_i > 0 for phase i + 1 (mod m); one server with exponential service at rate mu; FCFS,
unbounded waiting room. The phase process has generator Q (Q_{i,i+1 mod m} = s_i,
Q_ii = -s_i) and stationary distribution pi_i = (1 / s_i) / sum_j (1 / s_j); the mean
arrival rate is lambda = sum_i pi_i r_i, and the queue is stable iff lambda < mu
(rho = lambda / mu < 1).

Method: a quasi-birth-death (QBD) process with level n = number in system and phase
i = arrival phase. With Lambda = diag(r) its blocks are

    up (n -> n + 1):      A0 = Lambda
    local (n >= 1):       A1 = Q - Lambda - mu I
    down (n -> n - 1):    A2 = mu I
    local at level 0:     B1 = Q - Lambda   (no service in an empty system)

Because level 0 has the same up block as the others, the stationary vector is
matrix-geometric from level 0 on, pi_n = pi_0 R^n (n >= 0), R being the minimal
non-negative solution of A0 + R A1 + R^2 A2 = 0 (Neuts 1981, ch. 1 and 3). R is computed by
logarithmic reduction (Latouche & Ramaswami 1993; 1999, ch. 8): the minimal solution G of
A2 + A1 G + A0 G^2 = 0 (stochastic when the queue is stable), then
R = A0 (-(A1 + A0 G))^-1 (Latouche & Ramaswami 1999, ch. 6). The boundary equation
pi_0 (B1 + R A2) = 0 with the normalisation pi_0 (I - R)^-1 1 = 1 gives pi_0, and

    L  = sum_n n pi_n 1 = pi_0 R (I - R)^-2 1          (mean number in system)
    W  = L / lambda                                    (Little's law; response time)
    Wq = W - 1 / mu,   Lq = lambda Wq = L - rho        (waiting time, queue length)
    P(wait) = 1 - pi_0 Lambda 1 / lambda               (an arrival in phase i finds the
                                                         server busy: arrivals see the
                                                         phases weighted by r_i)

As checks, pi_0 1 = 1 - rho (the server is busy a fraction rho of the time) and the phase
marginal sum_n pi_n = pi_0 (I - R)^-1 equals the stationary phase distribution pi.

Sources: M. F. Neuts, "Matrix-Geometric Solutions in Stochastic Models", Johns Hopkins
University Press, 1981, ch. 1 (matrix-geometric invariant vectors) and ch. 3
(quasi-birth-and-death processes); G. Latouche and V. Ramaswami, "A logarithmic reduction
algorithm for quasi-birth-and-death processes", J. Appl. Prob. 30 (1993) 650-674, and
"Introduction to Matrix Analytic Methods in Stochastic Modeling", ASA-SIAM, 1999, ch. 6
(QBDs: R, G and their relation) and ch. 8 (algorithms); W. Fischer and K. Meier-Hellstern,
"The Markov-modulated Poisson process (MMPP) cookbook", Performance Evaluation 18 (1993)
149-171 (MMPPs and the queues they feed).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from models.theory._checks import require_nonnegative, require_positive
from models.theory.fluid_queue import stationary
from models.theory.prediction import StationPrediction

METHOD = "MMPP/M/1 (matrix-geometric)"
_TOLERANCE = 1e-14
_MAX_STEPS = 200
_ROUNDING = 1e-17


@dataclass(frozen=True, kw_only=True)
class MMPPM1(StationPrediction):
    """The steady state of an MMPP/M/1 FCFS queue (`mmpp_m1`): the `StationPrediction`
    means plus the phase structure.

    `arrival_rate` and `throughput` are the mean rate lambda = sum pi_i r_i; when unstable
    (lambda >= mu) the means are `math.inf` and `decay_rate` is 1.
    """

    rates: tuple[float, ...]
    """The arrival rate of each phase (per second)."""
    switch_rates: tuple[float, ...]
    """The rate of leaving each phase (per second): for the next one, in a cycle."""
    service_rate: float
    """mu (per second)."""
    phase_probabilities: tuple[float, ...]
    """The stationary phase distribution pi_i proportional to 1 / s_i."""
    decay_rate: float
    """The spectral radius of R: P(N >= n) decays like decay_rate^n (1 when unstable)."""
    in_system_by_phase: tuple[float, ...] = ()
    """E[N; phase i]: the mean number in system while in phase i times the time in it,
    pi_0 R (I - R)^-2 taken phase by phase (their sum is L; inf when unstable). An arrival
    in phase i meets E[N; i] / pi_i on average and, FCFS with exponential work, responds in
    (E[N; i] / pi_i + 1) / mu (`class_response`)."""

    def class_response(self, rates: Sequence[float]) -> float:
        """The mean response time of a class of the arrivals that comes at rates[i] in
        phase i: sum_i r_i (E[N; i] + pi_i) / (mu sum_i pi_i r_i) (the superposition of
        several flows, each a class: `kronecker_sum`)."""
        pi = self.phase_probabilities
        arriving = math.fsum(p * r for p, r in zip(pi, rates, strict=True))
        met = math.fsum(
            r * (n + p) for r, n, p in zip(rates, self.in_system_by_phase, pi, strict=True)
        )
        return met / (self.service_rate * arriving)


def phase_generator(switch_rates: np.ndarray) -> np.ndarray:
    """Q: phase i goes to i + 1 (mod m) at rate s_i."""
    phases = len(switch_rates)
    generator = np.zeros((phases, phases))
    for phase, rate in enumerate(switch_rates):
        generator[phase, (phase + 1) % phases] += rate
        generator[phase, phase] -= rate
    return generator


def kronecker_sum(generators: Sequence[np.ndarray]) -> np.ndarray:
    """The generator of independent Markov chains run side by side: Q1 (+) Q2 = Q1 (x) I +
    I (x) Q2, and so on for more (the joint phase (i, j) has index i m2 + j, numpy.kron's
    order). The superposition of independent MMPPs is the MMPP on that chain whose rate in
    phase (i, j) is r1_i + r2_j (Fischer & Meier-Hellstern 1993, "superposition of
    MMPPs"); its stationary distribution is the product of theirs.

    >>> cycles = [phase_generator(np.array([1.0, 2.0])), phase_generator(np.array([3.0, 4.0]))]
    >>> kronecker_sum(cycles)
    array([[-4.,  3.,  1.,  0.],
           [ 4., -5.,  0.,  1.],
           [ 2.,  0., -5.,  3.],
           [ 0.,  2.,  4., -6.]])
    """
    joint: np.ndarray = np.zeros((1, 1))
    for generator in generators:
        joint = np.kron(joint, np.eye(len(generator))) + np.kron(np.eye(len(joint)), generator)
    return joint


def modulated_m1(rates: Sequence[float], generator: np.ndarray, service_rate: float) -> MMPPM1:
    """The MMPP/M/1 FCFS queue whose phases change as the irreducible `generator` says, not
    only in a cycle (the superposition of several MMPPs, `kronecker_sum`): `mmpp_m1`'s
    matrix-geometric solution with the stationary phases pi Q = 0, pi 1 = 1.

    A cycle gives `mmpp_m1`'s:

    >>> cycle = phase_generator(np.array([0.1, 0.3]))
    >>> round(modulated_m1([0.2, 1.4], cycle, 1.0).mean_response_time, 6)
    3.83099
    """
    phase_rates = [require_nonnegative("rates", rate) for rate in rates]
    if generator.shape != (len(phase_rates), len(phase_rates)):
        raise ValueError(
            f"'generator' must be {len(phase_rates)} x {len(phase_rates)}, one row per phase "
            f"(got {generator.shape})"
        )
    pi = tuple(float(p) for p in stationary(generator))
    return _queue(phase_rates, generator, pi, service_rate)


def minimal_g(up: np.ndarray, local: np.ndarray, down: np.ndarray) -> np.ndarray:
    """The minimal non-negative solution G of down + local G + up G^2 = 0 by logarithmic
    reduction (Latouche & Ramaswami 1993; 1999, ch. 8; quadratic convergence).

    Each doubling adds the paths of first passage one level down within twice as many
    levels; it stops when G 1 is within 1e-14 of 1 (G is stochastic for a positive recurrent
    QBD) or when a doubling no longer changes G in the last place (rounding), and after 200
    doublings at most (a null-recurrent or transient QBD).
    """
    size = len(local)
    identity = np.eye(size)
    inverse = np.linalg.inv(-local)
    high = inverse @ up  # H: one level up, first passage
    low = inverse @ down  # L: one level down
    result = low.copy()
    product = high.copy()
    for _ in range(_MAX_STEPS):
        mixed = high @ low + low @ high
        step = np.linalg.inv(identity - mixed)
        high, low = step @ (high @ high), step @ (low @ low)
        increment = product @ low
        result = result + increment
        product = product @ high
        if np.max(np.abs(1.0 - result.sum(axis=1))) < _TOLERANCE:
            break
        if np.max(np.abs(increment)) <= _ROUNDING * np.max(np.abs(result)):
            break
    return np.asarray(result, dtype=float)


def mmpp_m1(rates: Sequence[float], switch_rates: Sequence[float], service_rate: float) -> MMPPM1:
    """Steady-state means of the MMPP/M/1 FCFS queue with phases in a cycle (module
    docstring: assumptions, the quasi-birth-death process, the matrix-geometric solution
    pi_n = pi_0 R^n, and its sources: Neuts 1981; Latouche & Ramaswami 1999).

    Formula: R minimal with Lambda + R (Q - Lambda - mu I) + mu R^2 = 0;
    pi_0 (Q - Lambda + mu R) = 0, pi_0 (I - R)^-1 1 = 1; L = pi_0 R (I - R)^-2 1;
    W = L / lambda (Little), lambda = sum pi_i r_i with pi_i proportional to 1 / s_i;
    Wq = W - 1 / mu; Lq = lambda Wq; P(wait) = 1 - pi_0 Lambda 1 / lambda.
    Unstable (`stable=False`, infinite means) when lambda >= mu.

    Equal rates give M/M/1 at that rate, W = 1 / (mu - lambda):

    >>> round(mmpp_m1([0.5, 0.5], [1.0, 2.0], 1.0).mean_response_time, 12)
    2.0

    Bursts wait longer than Poisson arrivals at the same mean rate (lambda = 0.5 here):

    >>> queue = mmpp_m1([0.2, 1.4], [0.1, 0.3], 1.0)
    >>> round(queue.arrival_rate, 12), queue.phase_probabilities
    (0.5, (0.75, 0.25))
    >>> round(queue.mean_response_time, 6), round(queue.mean_in_system, 6)
    (3.83099, 1.915495)
    >>> round(queue.mean_in_system - queue.mean_queue_length, 12)  # the server's load
    0.5
    >>> from models.theory import mm1
    >>> mm1(0.5, 1.0).mean_response_time  # Poisson arrivals at the same mean rate
    2.0
    >>> mmpp_m1([0.5, 2.0], [1.0, 1.0], 1.0).stable
    False
    """
    if isinstance(rates, str | bytes) or isinstance(switch_rates, str | bytes):
        raise ValueError("'rates' and 'switch_rates' must be sequences of numbers")
    phase_rates = [require_nonnegative("rates", rate) for rate in rates]
    leaving = [require_positive("switch_rates", rate) for rate in switch_rates]
    require_positive("service_rate", service_rate)
    if len(phase_rates) < 2:
        raise ValueError(f"'rates' must have at least 2 phases (got {len(phase_rates)})")
    if len(leaving) != len(phase_rates):
        raise ValueError(
            f"'switch_rates' must have {len(phase_rates)} elements, one per phase "
            f"(got {len(leaving)})"
        )
    if not any(phase_rates):
        raise ValueError("'rates' must have a positive rate in some phase (got all 0)")
    weights = [1.0 / rate for rate in leaving]
    total = math.fsum(weights)
    pi = tuple(weight / total for weight in weights)
    return _queue(phase_rates, phase_generator(np.asarray(leaving, dtype=float)), pi, service_rate)


def _queue(
    phase_rates: list[float], generator: np.ndarray, pi: tuple[float, ...], service_rate: float
) -> MMPPM1:
    """`mmpp_m1` and `modulated_m1` from the phases' rates, generator and stationary
    distribution (module docstring)."""
    mu = require_positive("service_rate", service_rate)
    if not any(phase_rates):
        raise ValueError("'rates' must have a positive rate in some phase (got all 0)")
    mean_rate = math.fsum(p * r for p, r in zip(pi, phase_rates, strict=True))
    load = mean_rate / mu
    if load >= 1.0:  # no steady state: saturated server, infinite means
        throughput, utilization, stable, p_wait, decay_rate = mu, 1.0, False, 1.0, 1.0
        in_system = response = waiting = queue_length = math.inf
        by_phase = tuple(math.inf for _ in phase_rates)
    else:
        in_system, p_wait, decay_rate, found = _matrix_geometric(phase_rates, generator, mu)
        by_phase = tuple(float(n) for n in found)
        throughput, utilization, stable = mean_rate, load, True
        response = in_system / mean_rate  # Little's law
        waiting = max(response - 1.0 / mu, 0.0)
        queue_length = mean_rate * waiting
    return MMPPM1(
        method=METHOD,
        exact=True,
        arrival_rate=mean_rate,
        throughput=throughput,
        offered_load=load,
        utilization=utilization,
        stable=stable,
        mean_waiting_time=waiting,
        mean_response_time=response,
        mean_queue_length=queue_length,
        mean_in_system=in_system,
        p_wait=p_wait,
        loss_probability=0.0,
        rates=tuple(phase_rates),
        switch_rates=tuple(float(-generator[i, i]) for i in range(len(phase_rates))),
        service_rate=mu,
        phase_probabilities=pi,
        decay_rate=decay_rate,
        in_system_by_phase=by_phase,
    )


def _matrix_geometric(
    rates: list[float], generator: np.ndarray, service_rate: float
) -> tuple[float, float, float, np.ndarray]:
    """(L, P(wait), spectral radius of R, L phase by phase) of a stable MMPP/M/1 queue whose
    phases change as `generator` says (module docstring)."""
    phases = len(rates)
    identity = np.eye(phases)
    arrivals = np.diag(rates)
    up = arrivals
    local = generator - arrivals - service_rate * identity
    down = service_rate * identity
    g = minimal_g(up, local, down)
    r = up @ np.linalg.inv(-(local + up @ g))
    # pi_0 (B1 + R A2) = 0 with B1 = Q - Lambda; one column replaced by the normalisation
    # pi_0 (I - R)^-1 1 = 1.
    boundary = generator - arrivals + r @ down
    to_sum = np.linalg.solve(identity - r, np.ones(phases))  # (I - R)^-1 1
    system = boundary.copy()
    system[:, 0] = to_sum
    right = np.zeros(phases)
    right[0] = 1.0
    empty = np.linalg.solve(system.T, right)  # pi_0
    in_system = float(empty @ r @ np.linalg.solve(identity - r, to_sum))  # pi_0 R (I - R)^-2 1
    mean_rate = float(np.asarray(rates) @ np.linalg.solve(identity - r, identity).T @ empty)
    p_wait = 1.0 - float(empty @ np.asarray(rates)) / mean_rate
    decay_rate = float(np.max(np.abs(np.linalg.eigvals(r))))
    by_phase = empty @ r @ np.linalg.matrix_power(np.linalg.inv(identity - r), 2)
    return in_system, min(max(p_wait, 0.0), 1.0), decay_rate, np.asarray(by_phase, dtype=float)
