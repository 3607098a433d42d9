"""The result of a single-station formula: what a queueing model predicts for one station.

All times are in seconds, all rates per second, lengths in customers (requests, messages).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class StationPrediction:
    """Steady-state means of one station, as predicted by the model named in `method`.

    When the station has no steady state (`stable=False`: unbounded waiting room and offered
    load >= number of servers) the waiting and queue means are `math.inf`, never negative or NaN.
    """

    method: str
    """The model used, e.g. ``"M/M/c (Erlang C)"``."""
    exact: bool
    """True when the formula is exact under its assumptions, False for an approximation."""
    arrival_rate: float
    """Offered arrival rate (per second), before any loss."""
    throughput: float
    """Long-run departure rate: arrivals admitted, or the saturated service rate if unstable."""
    offered_load: float
    """Arrival rate x mean service time, in Erlangs (busy servers needed to serve everything)."""
    utilization: float
    """Long-run busy fraction of each server, <= 1; 0 for an infinite-server station."""
    stable: bool
    """Whether a steady state exists (always True for a finite waiting room)."""
    mean_waiting_time: float
    """Mean time an admitted customer spends queued before service starts (seconds)."""
    mean_response_time: float
    """Mean waiting time plus service time of an admitted customer (seconds)."""
    mean_queue_length: float
    """Time-average number of customers waiting, not counting those in service."""
    mean_in_system: float
    """Time-average number of customers waiting or in service."""
    p_wait: float
    """Probability that an admitted customer has to wait (all servers busy on arrival)."""
    loss_probability: float
    """Probability that an arrival is turned away (finite waiting room only)."""


def unstable_station(
    *, method: str, exact: bool, arrival_rate: float, offered_load: float, servers: int
) -> StationPrediction:
    """The prediction for a station without a steady state: infinite waits, saturated servers.

    Every server is busy forever, so the throughput is servers / mean service time and each
    server's utilization is 1; waiting and queue means grow without bound (`math.inf`).
    """
    mean_service_time = offered_load / arrival_rate
    return StationPrediction(
        method=method,
        exact=exact,
        arrival_rate=arrival_rate,
        throughput=servers / mean_service_time,
        offered_load=offered_load,
        utilization=1.0,
        stable=False,
        mean_waiting_time=math.inf,
        mean_response_time=math.inf,
        mean_queue_length=math.inf,
        mean_in_system=math.inf,
        p_wait=1.0,
        loss_probability=0.0,
    )


def exponential_tail_quantile(p_positive: float, rate: float, q: float) -> float:
    """Quantile of a time that is 0 with probability 1 - p and Exp(rate) with probability p.

    With P(X > t) = p e^{-rate t}, the q-quantile is 0 when 1 - q >= p, else
    ln(p / (1 - q)) / rate. This is the waiting time of M/M/c and GI/M/c in FCFS order.
    """
    if 1.0 - q >= p_positive:
        return 0.0
    return math.log(p_positive / (1.0 - q)) / rate


def stable_station(
    *,
    method: str,
    exact: bool,
    arrival_rate: float,
    mean_service_time: float,
    servers: int,
    mean_waiting_time: float,
    p_wait: float,
) -> StationPrediction:
    """A stable station's prediction from its mean waiting time, completed by Little's law."""
    response = mean_waiting_time + mean_service_time
    load = arrival_rate * mean_service_time
    return StationPrediction(
        method=method,
        exact=exact,
        arrival_rate=arrival_rate,
        throughput=arrival_rate,
        offered_load=load,
        utilization=load / servers,
        stable=True,
        mean_waiting_time=mean_waiting_time,
        mean_response_time=response,
        mean_queue_length=arrival_rate * mean_waiting_time,
        mean_in_system=arrival_rate * response,
        p_wait=p_wait,
        loss_probability=0.0,
    )


def unstable_or_idle(
    method: str, arrival_rate: float, service_rate: float, servers: int
) -> StationPrediction | None:
    """The prediction of an exact formula's two trivial cases: no steady state (offered load
    `arrival_rate` / `service_rate` at least `servers`), or no arrivals (nobody waits);
    None when the formula itself must be solved."""
    load = arrival_rate / service_rate
    if load >= servers:
        return unstable_station(
            method=method, exact=True, arrival_rate=arrival_rate, offered_load=load, servers=servers
        )
    if arrival_rate == 0.0:
        return stable_station(
            method=method,
            exact=True,
            arrival_rate=0.0,
            mean_service_time=1.0 / service_rate,
            servers=servers,
            mean_waiting_time=0.0,
            p_wait=0.0,
        )
    return None
