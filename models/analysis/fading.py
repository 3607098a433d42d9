"""Thresholds that fade: a model switched on by a quantity below a threshold, blended in
over a band around it instead.

The fixed point's rounds cycle across a hard threshold wherever the model it switches moves
the quantity it is switched by (a callee's groups on and off with their sender's Erlang B,
a pool's round-robin scale with its callees' waits: `fan_out.seldom_bound`,
`smooth_arrivals.calm`; docs/analysis.md sec. 3, 5). A weight that runs continuously from 1
to 0 across the threshold makes the round a continuous function of its inputs, which the
damped rounds settle.
"""

from __future__ import annotations

import math


def faded(value: float, threshold: float, band: float) -> float:
    """How much of a model switched on by `value` below `threshold` holds: 1 at
    `threshold` / `band` or less, 0 at `threshold` x `band` or more, log-linear in `value`
    between (1/2 at the threshold); 1 where `value` is 0 or less, else 0 where `threshold`
    is 0 or less."""
    if value <= 0.0:
        return 1.0
    if not threshold > 0.0:
        return 0.0
    share = math.log(band * threshold / value) / math.log(band**2)
    return min(max(share, 0.0), 1.0)
