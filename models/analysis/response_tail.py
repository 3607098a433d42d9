"""A callee's response time against a caller's timeout, from the laws of the work.

A call with a `timeout` T fails when the callee's response R exceeds T and otherwise takes
E[R | R <= T] (`models.analysis.calls`). From R's mean and variance alone, R is fitted by a
gamma law (`moments.truncated`), whose tail is exponential. Behind heavy-tailed work the
wait has a heavier tail than that: a request that queues behind a long job waits a long
time (lognormal work of cv 2 on one worker at 60%: with the timeout at 6 means, 26.96% of
the calls time out by the gamma fit against 22.83% simulated; at 15 means 6.67% against
7.68%).

Where the callee's operation is one `work` step of a known law S at a FCFS pool of c
servers whose every operation is one such step (`ClassLoad.laws`), R = W + S with the wait
W independent of the request's own work, and

- W = 0 with probability 1 - P(wait), the pool's own P(wait);
- given that it waits, W has the shape of the wait of M/G/1 at the pool's utilization rho
  whose work is the pool's mixture of laws divided by c, scaled to the pool's own mean
  wait given waiting E[W] / P(wait).

For one server with Poisson arrivals that M/G/1 wait is exact: by the Pollaczek-Khinchine
formula (Beneš's form) the wait is a geometric sum, P(N = n) = (1 - rho) rho^n, of
independent times of the equilibrium law of the work, density (1 - F_S(x)) / E[S]
(Asmussen, *Applied Probability and Queues*, 2nd ed. 2003, VIII.5, Theorem 5.7). For c
exponential servers the conditional wait is exponential with rate c mu (1 - rho) (Erlang C;
Kleinrock, *Queueing Systems* vol. 1, 1975, §3.5), which is the conditional wait of M/M/1
at rho with work S/c: the same rule gives M/M/c exactly. For c servers and other work it is
an approximation; scaling it to the pool's mean keeps the timeout consistent with every
other waiting time the analysis reports (lognormal of cv 2 on 2 workers at 60%: 8.45% and
1.36% at 6 and 15 means, 9.28% and 1.44% simulated; the gamma fit 9.26% and 0.70%). At a
delay station (`workers: unlimited`) nothing waits, and R is the law of its operation's one
`work` or `delay` step (an external API: `scenarios/slow_dependency.yaml`).

The geometric sum is computed with the discrete Fourier transform, exponentially tilted
against aliasing (`_compound_geometric`), on a grid over [0, T] (in the M/G/1 wait's own
time) of at least `CELLS` steps, each at most `FINEST` of the M/G/1 work's mean; the
equilibrium law is put on the grid's points by Gerber's mean-preserving rounding (each
cell's mass split between its two ends so that its mean is kept), and a point's mass stands
for the half-cells on either side. Then P(W + S <= T) = int_0^T P(W <= T - s) dF_S(s) and
E[R; R <= T] = int_0^T [s P(W <= T - s) + E[W; W <= T - s]] dF_S(s), each summed at the
midpoints of the cells of a grid over the work's law (uniform, and geometric down to T /
`FARTHEST`). M/M/1 and M/M/c come out within about 1e-3 (relative) of their closed forms
(`tests/unit/test_response_tail.py`).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from models.analysis.graph import OpKey, steps_of
from models.analysis.moments import Moments
from models.analysis.summary import OperationSummary, StationView
from models.analysis.timeout_retries import QueueAhead, same_pool_share
from models.analysis.work_laws import own_work_law
from models.distributions import (
    Constant,
    Distribution,
    Erlang,
    Exponential,
    Gamma,
    Hyperexponential,
    Lognormal,
    Pareto,
    Uniform,
    Weibull,
)
from models.empirical import Empirical
from models.references import walk_steps
from models.schema import CallSpec, CallStep, Scenario

CELLS = 1024
"""Cells of the grid over [0, T] on which the work's law is summed, and the fewest of the
wait's."""
MOST_CELLS = 1 << 13
"""The most cells of the wait's grid (about 4 ms of CPU there): a timeout further out than
that many `FINEST` steps of the M/G/1 wait's time keeps the gamma fit (8 workers of 10 ms
at 70%: about a second)."""
FINEST = 1.0 / 8
"""The wait's grid steps at most this fraction of the mean of the M/G/1 work (S / c):
coarser, the equilibrium law's shape would be lost."""
FINE = 8
"""Steps of the grid on which the equilibrium law is integrated, per step of the wait's."""
TILT = 20.0
"""Exponential tilting of the geometric sum's transform (`_compound_geometric`): e^-20."""
FARTHEST = 1e6
"""A timeout more than this many mean responses out keeps the gamma fit (its tail there is
nothing a caller would see), and the work's grid reaches down to T / FARTHEST."""
LAWS_REMEMBERED = 1024
"""Timeouts' answers kept by their inputs (a solve asks for the same ones round after round)."""

StationLaws = tuple[tuple[float, Distribution], ...]
"""(weight, law) of the work of each operation of a pool (acquisitions per second)."""


def work_cdf(law: Distribution, times: np.ndarray) -> np.ndarray | None:
    """P(S <= t) at each of `times` (>= 0) for the work laws of `models.distributions` and
    empirical ones (`models.empirical`: a trace's times); None for any other law."""
    from scipy.special import gammainc, ndtr  # (here: start-up time, see test_startup.py)

    if isinstance(law, Constant):
        return np.asarray(times >= law.value, dtype=float)
    if isinstance(law, Exponential):
        return -np.expm1(-times / law.mean_time)
    if isinstance(law, Uniform):
        if law.high == law.low:
            return np.asarray(times >= law.low, dtype=float)
        return np.clip((times - law.low) / (law.high - law.low), 0.0, 1.0)
    if isinstance(law, Erlang):
        return np.asarray(gammainc(law.k, times * law.k / law.mean_time))
    if isinstance(law, Gamma):
        shape = 1.0 / law.cv**2
        return np.asarray(gammainc(shape, times / (law.mean_time * law.cv**2)))
    if isinstance(law, Lognormal):
        with np.errstate(divide="ignore"):
            return np.asarray(ndtr((np.log(times) - law.mu) / law.sigma))
    if isinstance(law, Weibull):
        return -np.expm1(-((times / law.scale) ** law.shape))
    if isinstance(law, Pareto):
        ratio = law.scale / np.maximum(times, law.scale)
        return np.asarray(1.0 - ratio**law.alpha)
    if isinstance(law, Hyperexponential):
        (first, second), (mean_1, mean_2) = law.probabilities, law.phase_means
        return np.asarray(1.0 - first * np.exp(-times / mean_1) - second * np.exp(-times / mean_2))
    if isinstance(law, Empirical):  # (each value drawn with probability 1/n)
        values = np.sort(np.asarray(law.values))
        return np.searchsorted(values, times, side="right") / values.size
    return None


def _mixture_cdf(laws: StationLaws, times: np.ndarray) -> np.ndarray | None:
    """P(S <= t) of the mixture of `laws` by their weights."""
    total = math.fsum(weight for weight, _ in laws)
    result = np.zeros_like(times)
    for weight, law in laws:
        cdf = work_cdf(law, times)
        if cdf is None:
            return None
        result += (weight / total) * cdf
    return result


@dataclass(frozen=True)
class ResponseLaw:
    """R = W + S at a FCFS pool (module docstring): the request's own work `work`; the
    wait zero with probability 1 - `p_wait`, else shaped by the M/G/1 wait at `utilization`
    with the pool's work `laws` divided by `servers`, scaled to mean `wait_mean`."""

    work: Distribution
    p_wait: float = 0.0
    wait_mean: float = 0.0
    """E[W | W > 0]."""
    servers: int = 1
    utilization: float = 0.0
    laws: StationLaws = ()
    exact: bool = False
    """Whether R's law is exact: a delay station's one step (R = S, each attempt's drawn
    anew), whose P(R > T) is its distribution function's."""

    def truncated(self, limit: float) -> tuple[float, float] | None:
        """(P(R > T), E[R | R <= T]) for T = `limit`, as `moments.truncated` gives them
        for the gamma fit; None where this form does not apply (a law without a
        distribution function here, a wait grid too coarse)."""
        return _truncated(self, limit)


@functools.lru_cache(maxsize=LAWS_REMEMBERED)
def _truncated(law: ResponseLaw, limit: float) -> tuple[float, float] | None:
    if limit <= 0:
        return 1.0, 0.0
    if limit > FARTHEST * (law.work.mean + law.p_wait * law.wait_mean):
        return None  # (the grids could not see the times below it)
    # (uniform over [0, T], and geometric down to T / FARTHEST where the work is short)
    times = np.union1d(
        np.linspace(0.0, limit, CELLS + 1), np.geomspace(limit / FARTHEST, limit, CELLS + 1)
    )
    cdf = work_cdf(law.work, times)
    if cdf is None:
        return None
    mass = np.diff(cdf, prepend=0.0)  # (the first: an atom at 0)
    middle = np.concatenate(([0.0], (times[:-1] + times[1:]) / 2))
    waited, waited_partial = np.ones_like(middle), np.zeros_like(middle)
    if law.p_wait > 0:
        wait = _conditional_wait(law, limit)
        if wait is None:
            return None
        grid, wait_cdf, wait_partial = wait
        waited = np.interp(limit - middle, grid, wait_cdf)
        waited_partial = np.interp(limit - middle, grid, wait_partial)
    within = (1.0 - law.p_wait) + law.p_wait * waited  # P(W <= T - s)
    below = math.fsum(within * mass)
    partial = math.fsum((middle * within + law.p_wait * waited_partial) * mass)
    if below <= 0.0:
        return 1.0, 0.0
    return min(max(1.0 - below, 0.0), 1.0), min(partial / below, limit)


def _conditional_wait(
    law: ResponseLaw, limit: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The wait given that it waits, on a grid over [0, `limit`]: (times, P(W <= t),
    E[W; W <= t]); None where the wait's grid would be too coarse or a law is unknown."""
    rho = law.utilization
    mixture = [(weight, work) for weight, work in law.laws if weight > 0]
    total = math.fsum(weight for weight, _ in mixture)
    if not (0.0 < rho < 1.0) or not mixture or law.wait_mean <= 0:
        return None
    mean = math.fsum(weight * work.mean for weight, work in mixture) / total
    square = math.fsum(weight * (work.variance + work.mean**2) for weight, work in mixture)
    square /= total
    if not math.isfinite(square) or mean <= 0:
        return None
    servers = law.servers
    # the M/G/1 wait with work S / c: E[W | W > 0] = E[S'^2] / (2 E[S'] (1 - rho))
    own_mean = (square / servers**2) / (2.0 * (mean / servers) * (1.0 - rho))
    scale = law.wait_mean / own_mean  # (the pool's own mean, kept)
    if not (math.isfinite(scale) and scale > 0):
        return None
    span = limit / scale  # the M/G/1 wait's times over [0, T]
    steps = span / (FINEST * mean / servers)
    if not (math.isfinite(steps) and steps <= MOST_CELLS):
        return None
    count = max(CELLS, math.ceil(steps))
    step = span / count
    cells = _equilibrium_masses(mixture, servers, mean, step, count)
    if cells is None:
        return None
    masses = _compound_geometric(cells, rho)
    points = np.arange(count + 1) * step
    # (a point's mass stands for the half-cells on either side: the law's distribution
    # function at the points' midpoints, and 0 at 0 given a wait)
    grid = np.concatenate(([0.0], points + step / 2))
    conditional = np.concatenate(([0.0], (np.cumsum(masses) - (1.0 - rho)) / rho))
    partial = np.concatenate(([0.0], np.cumsum(points * masses) / rho))
    return grid * scale, np.clip(conditional, 0.0, 1.0), partial * scale


def _compound_geometric(cells: np.ndarray, rho: float) -> np.ndarray:
    """The law of a geometric sum, P(N = n) = (1 - rho) rho^n, of independent times of the
    law `cells` (masses on the points k h), on the same points: W = (1 - rho) / (1 - rho E)
    of their discrete Fourier transforms, each mass first tilted by theta^k (and untilted
    after), theta^N = e^-TILT on N points, twice as many as asked for, so that what the
    circular convolution folds back from beyond N is that much smaller (Grübel &
    Hermesmeier, "Computation of compound distributions I: aliasing errors and exponential
    tilting", ASTIN Bulletin 29(2), 1999)."""
    count = len(cells)
    size = 1 << (2 * count - 1).bit_length()
    tilt = np.exp(-TILT * np.arange(size) / size)
    padded = np.zeros(size)
    padded[:count] = cells
    transform = (1.0 - rho) / (1.0 - rho * np.fft.rfft(padded * tilt))
    return np.maximum(np.fft.irfft(transform, size)[:count] / tilt[:count], 0.0)


def _equilibrium_masses(
    mixture: list[tuple[float, Distribution]], servers: int, mean: float, step: float, count: int
) -> np.ndarray | None:
    """The equilibrium law of the work S' = S / `servers`, density (1 - F(x)) / E[S'], as
    masses on the points k `step`, k = 0..`count`: each cell's mass split between its two
    ends so that its mean is kept (Gerber's mean-preserving rounding, "On the numerical
    evaluation of the distribution of aggregate claims and its stop-loss premiums",
    Insurance: Mathematics and Economics 1(1), 1982), its integrals by the trapezoidal rule
    on a grid `FINE` times finer."""
    fine = np.linspace(0.0, count * step, FINE * count + 1)
    cdf = _mixture_cdf(tuple(mixture), fine * servers)
    if cdf is None:
        return None
    survival = np.clip(1.0 - cdf, 0.0, 1.0) / (mean / servers)  # the density of F_e
    gaps = np.diff(fine)
    equilibrium = np.concatenate(([0.0], np.cumsum((survival[1:] + survival[:-1]) / 2 * gaps)))
    below = np.concatenate(([0.0], np.cumsum((equilibrium[1:] + equilibrium[:-1]) / 2 * gaps)))
    ends = np.arange(count + 1) * FINE
    at = equilibrium[ends]  # F_e at the points
    integral = np.diff(below[ends])  # int of F_e over each cell
    points = np.arange(count + 1) * step
    mass = np.diff(at)
    first = points[1:] * at[1:] - points[:-1] * at[:-1] - integral  # int x dF_e over each cell
    result = np.zeros(count + 1)
    result[:-1] += (points[1:] * mass - first) / step
    result[1:] += (first - points[:-1] * mass) / step
    return np.maximum(result, 0.0)


def timed_callees(scenario: Scenario, keys: list[OpKey]) -> frozenset[str]:
    """The services that some call with a `timeout` of the nodes `keys` reaches."""
    return frozenset(
        step.call.service
        for key in keys
        for _, step in walk_steps(steps_of(scenario, key), "")
        if isinstance(step, CallStep) and step.call.timeout is not None
    )


def timed_call(
    scenario: Scenario,
    spec: CallSpec,
    callee: OpKey,
    summary: OperationSummary,
    view: StationView | None,
    response: Moments,
) -> tuple[ResponseLaw | None, QueueAhead | None]:
    """What a call `spec` with a timeout reads of the operation `callee` (its `summary`,
    its station's `view`), with `response` the mean the caller sees (its wait there, as
    the caller's own view may say, plus the work): its response's law (`_response_law`)
    and the queue a retry on the spot finds (`_queue_ahead`); (None, None) without a
    timeout, a view or a finite response."""
    if spec.timeout is None or view is None or not response.finite:
        return None, None
    wait = response.mean - summary.holding.mean
    return (
        _response_law(scenario, callee, summary.holding, view, response.mean, wait),
        _queue_ahead(scenario, spec, summary.holding, view, wait),
    )


def _queue_ahead(
    scenario: Scenario, spec: CallSpec, holding: Moments, view: StationView, wait: float
) -> QueueAhead | None:
    """The callee's queue a retry on the spot finds (`models.analysis.timeout_retries`);
    None where the attempts are independent (no retry, a backoff, a delay station) or its
    pool is not known."""
    if spec.retries == 0 or spec.backoff is not None:
        return None
    service = scenario.services[spec.service]
    if view.servers is None or service.unlimited:
        return None
    same = same_pool_share(service.replicas, service.balancing)
    return QueueAhead(view.servers, view.utilization, holding, view.p_wait, max(wait, 0.0), same)


def _response_law(
    scenario: Scenario,
    callee: OpKey,
    holding: Moments,
    view: StationView,
    mean: float,
    wait: float,
) -> ResponseLaw | None:
    """The callee's response (mean `mean`, of which `wait` waiting) as a `ResponseLaw`;
    None where the work's law is not known or its station's is not (`StationView.laws`):
    the gamma fit then."""
    work = own_work_law(scenario, callee, holding, delay_too=True)  # (an external API)
    if work is None:
        return None
    unlimited = scenario.services[callee.name].unlimited
    if unlimited or wait <= 1e-12 * mean:
        return ResponseLaw(work, exact=unlimited)  # (no wait: R = S)
    if view.laws is None or view.servers is None or view.p_wait <= 0.0:
        return None
    return ResponseLaw(
        work,
        p_wait=view.p_wait,
        wait_mean=wait / view.p_wait,
        servers=view.servers,
        utilization=view.utilization,
        laws=view.laws,
    )
