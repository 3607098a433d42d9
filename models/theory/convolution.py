"""Exact solution of a closed single-class product-form network by the convolution algorithm,
carried out in log space so that it stays exact for multi-server (load-dependent) stations.

The marginal-probability recursion of load-dependent MVA loses all accuracy once another
station saturates (the subtraction p(0 | n) = 1 - ... amplifies rounding errors exponentially
in n), so `mva_exact` hands networks with multi-server stations to this module instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.special import gammaln

_CHUNK_CELLS = 1 << 21  # cells of the (n, k) matrix evaluated at once


def log_convolve(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """log of the convolution (sum_k e^{left_k} e^{right_{n-k}})_n, n = 0..len - 1.

    Both arguments hold log-values of the same length; -inf stands for 0.
    """
    size = len(left)
    linear = _linear_convolve(left, right)
    if linear is not None:
        return linear
    out = np.empty(size)
    terms = np.arange(size)
    step = max(1, _CHUNK_CELLS // size)
    for start in range(0, size, step):
        totals = np.arange(start, min(start + step, size))
        offsets = totals[:, None] - terms[None, :]
        cells = np.where(offsets >= 0, left[None, :] + right[np.maximum(offsets, 0)], -np.inf)
        out[start : start + len(totals)] = _log_sum_rows(cells)
    return out


LINEAR_RANGE = 300.0
"""Largest spread of finite log-values (e^300) for which `log_convolve` may work in
linear space: every product of two scaled terms stays above e^-600, far from underflow."""


def _linear_convolve(left: np.ndarray, right: np.ndarray) -> np.ndarray | None:
    """`log_convolve` in linear space (numpy's direct convolution, each vector scaled by
    its largest term), or None when a vector spans too many orders of magnitude for that."""
    shifts = []
    for values in (left, right):
        finite = values[np.isfinite(values)]
        if finite.size == 0 or finite.max() - finite.min() > LINEAR_RANGE:
            return None
        shifts.append(float(finite.max()))
    size = len(left)
    product = np.convolve(np.exp(left - shifts[0]), np.exp(right - shifts[1]))[:size]
    with np.errstate(divide="ignore"):
        return np.asarray(np.log(product) + (shifts[0] + shifts[1]))


def _log_sum_rows(cells: np.ndarray) -> np.ndarray:
    """log(sum(exp(row))) of every row, scaled by the row's largest term (a row of -inf
    gives -inf). The same as scipy's `logsumexp(cells, axis=1)`, without its per-call cost
    (the method of layers convolves small vectors many times)."""
    peaks = cells.max(axis=1)
    finite = np.isfinite(peaks)
    shift = np.where(finite, peaks, 0.0)
    with np.errstate(divide="ignore"):
        sums = np.log(np.exp(cells - shift[:, None]).sum(axis=1))
    return np.asarray(np.where(finite, sums + shift, peaks))


def station_log_weights(demand: float, servers: int | None, population: int) -> np.ndarray:
    """log f(j), j = 0..N, of a station with `servers` servers (None: infinite) and demand D.

    Formula: f(j) = D^j / prod_{i=1}^{j} min(i, c); a delay station has f(j) = D^j / j!.
    Source: Buzen, "Computational algorithms for closed queueing networks with exponential
    servers", CACM 16(9) (1973); Lazowska et al., "Quantitative System Performance", ch. 20.
    """
    present = np.arange(population + 1, dtype=float)
    busy = present if servers is None else np.minimum(present, servers)
    log_rates = gammaln(busy + 1.0)
    if servers is not None:
        log_rates = log_rates + np.maximum(present - servers, 0.0) * math.log(servers)
    return np.asarray(present * math.log(demand) - log_rates)


def _combine(left: np.ndarray | None, right: np.ndarray | None, size: int) -> np.ndarray:
    """Convolution where None stands for the empty network (a unit mass at 0)."""
    if left is None and right is None:
        unit = np.full(size, -np.inf)
        unit[0] = 0.0
        return unit
    if left is None or right is None:
        only = left if right is None else right
        assert only is not None
        return only
    return log_convolve(left, right)


def closed_network_by_convolution(
    demands: Sequence[float], servers: Sequence[int | None], think_time: float, population: int
) -> tuple[float, list[float]]:
    """Throughput and per-station mean queue lengths of a closed product-form network.

    Assumptions: one customer class, N = `population` >= 1; station m has demand D_m and
    `servers[m]` servers (None = delay); a think (delay) stage of mean Z; not all of D and Z
    are 0.

    Formula: G(n) = (f_1 * ... * f_M * f_Z)(n) (convolution), X(N) = G(N - 1) / G(N),
    p_m(j | N) = f_m(j) G_{-m}(N - j) / G(N) with G_{-m} the network without station m
    (from prefix and suffix products), Q_m = sum_j j p_m(j | N). Cost O(M N^2).

    Source: Buzen (1973); Lazowska et al., "Quantitative System Performance" (1984), ch. 20.
    """
    size = population + 1
    parts: list[np.ndarray] = []
    owners: list[int] = []  # station index of each part; -1 for the think stage
    for m, (demand, pool) in enumerate(zip(demands, servers, strict=True)):
        if demand > 0.0:
            parts.append(station_log_weights(demand, pool, population))
            owners.append(m)
    if think_time > 0.0:
        parts.append(station_log_weights(think_time, None, population))
        owners.append(-1)
    prefixes: list[np.ndarray | None] = [None]
    for part in parts:
        prefixes.append(_combine(prefixes[-1], part, size))
    suffixes: list[np.ndarray | None] = [None]
    for part in reversed(parts):
        suffixes.append(_combine(part, suffixes[-1], size))
    suffixes.reverse()  # suffixes[i] = parts[i:]
    total = prefixes[-1]
    assert total is not None
    throughput = math.exp(total[population - 1] - total[population])
    queues = [0.0] * len(demands)
    present = np.arange(size, dtype=float)
    for i, (part, owner) in enumerate(zip(parts, owners, strict=True)):
        if owner < 0:
            continue
        others = _combine(prefixes[i], suffixes[i + 1], size)
        log_marginal = part + others[::-1] - total[population]
        queues[owner] = float(np.dot(present, np.exp(log_marginal)))
    return throughput, queues
