"""Several servers with variable service: Allen-Cunneen, or the M/H2/c queue of the
service's two moments (`models.theory.hyperexponential`), for `models.analysis.stations`."""

from __future__ import annotations

from models.analysis.moments import LARGEST_SCV, Moments
from models.theory import gg_c_allen_cunneen, mh2c
from models.theory.prediction import StationPrediction, stable_station

H2_SERVERS = 64
"""The most servers solved as M/H2/c (its levels below c cost O(c^4): 6 ms at 64, 28 ms
at 128); larger pools keep Allen-Cunneen."""
NEGLIGIBLE_WAITING = 1e-9
"""Below this P(wait) (Erlang C) a pool's waiting is negligible (a 64-thread pool at 20%:
1e-26) and Allen-Cunneen's is kept, sparing the matrices: the two differ by less than
their size."""


def many_servers(
    rate: float,
    holding: Moments,
    servers: int,
    arrival_scv: float,
    own_work: bool,
    third_moment: float | None = None,
) -> StationPrediction:
    """G/G/c: Allen-Cunneen, except for c > 1 servers with a service SCV above 1 (up to
    `H2_SERVERS`), where the M/H2/c queue (exact by matrix-geometric methods,
    `models.theory.hyperexponential`) of the H2 fitted to three moments (`third_moment`:
    E[S³], where the laws give it; lognormal service of cv 1.5 on 4 servers at 80%:
    1.098 ± 0.051 simulated, 1.110 of three moments, 1.157 of two, `bench/mgc_waiting.py`),
    else to two, takes the place of M/M/c x (1 + cs²) / 2,
    and the arrivals' SCV scales it by (ca² + cs²) / (1 + cs²) as in Allen-Cunneen (so
    that it is the M/H2/c queue itself for Poisson arrivals).

    Only where the holds are the station's `own_work`: i.i.d., one per request. A thread
    pool whose holds include queueing callees is not a renewal server (the flow-equivalent
    server of `models.analysis.layers` re-solves it), and a pool re-acquired after replies
    (async I/O) holds many times for 0 (the continuation after a last call), a shape the
    balanced H2 misses: for an exponential with an atom at 0 Allen-Cunneen is exact (the
    empty holds wait as virtual customers of the M/M/c of the others: W = C(c, a)
    E[S | S > 0] / (c - a) = W(M/M/c) (1 + cs²) / 2; j2's reservation pool as M/G/2 with
    Poisson arrivals: 0.060 ms simulated, 0.059 ms Allen-Cunneen, 0.050 ms M/H2/2). Nor
    where Erlang C's P(wait) is below `NEGLIGIBLE_WAITING`."""
    scv = holding.scv
    fitted = gg_c_allen_cunneen(rate, holding.mean, servers, arrival_scv, scv)
    eligible = 1.0 < scv <= LARGEST_SCV and 1 < servers <= H2_SERVERS and own_work
    if not (eligible and fitted.stable):
        return fitted
    if fitted.p_wait < NEGLIGIBLE_WAITING:
        return fitted  # (next to nothing waits: not worth the matrices)
    prediction = mh2c(rate, holding.mean, servers, scv, third_moment)
    if not prediction.stable or arrival_scv == 1.0:
        return prediction
    return stable_station(
        method=f"{prediction.method}, arrivals' SCV as in Allen-Cunneen",
        exact=False,
        arrival_rate=rate,
        mean_service_time=holding.mean,
        servers=servers,
        mean_waiting_time=prediction.mean_waiting_time * (arrival_scv + scv) / (1.0 + scv),
        p_wait=prediction.p_wait,
    )
