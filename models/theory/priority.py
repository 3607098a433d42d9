"""Non-preemptive priority queues (Cobham's formula): M/G/1 and M/M/c with several classes.

Class 0 has the highest priority; within a class, FCFS. A customer in service is never
interrupted. When the total load reaches the capacity, the lowest classes are unstable while
the higher ones still have a steady state: the server is then always busy, and the residual
service seen by a high-priority arrival is computed from the throughputs actually carried.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from models.theory._checks import (
    require_count,
    require_lengths,
    require_nonnegative,
    require_positive,
)
from models.theory.erlang import erlang_c
from models.theory.prediction import StationPrediction


@dataclass(frozen=True, kw_only=True)
class PriorityPrediction:
    """Per-class and overall means of a priority station (class 0 = highest priority)."""

    method: str
    """The model used, e.g. ``"M/G/1 non-preemptive priority (Cobham)"``."""
    classes: tuple[StationPrediction, ...]
    """One prediction per class, in priority order; `utilization` is the class's share."""
    utilization: float
    """Busy fraction of each server, all classes together (<= 1)."""
    stable: bool
    """True when every class has a steady state (total load below capacity)."""
    mean_waiting_time: float
    """Arrival-rate-weighted mean waiting time over all classes (`math.inf` if unstable)."""
    mean_response_time: float
    """Arrival-rate-weighted mean response time over all classes (`math.inf` if unstable)."""
    mean_in_system: float
    """Time-average number present, all classes together (`math.inf` if unstable)."""


def _carried_rates(
    rates: Sequence[float], service_times: Sequence[float], servers: int
) -> list[float]:
    """Throughput of each class: all of it while capacity lasts, then what is left, then 0."""
    carried: list[float] = []
    spare = float(servers)
    for rate, service in zip(rates, service_times, strict=True):
        served = min(rate, spare / service)
        carried.append(served)
        spare = max(spare - served * service, 0.0)
    return carried


def _priority_classes(
    *,
    method: str,
    rates: Sequence[float],
    service_times: Sequence[float],
    servers: int,
    residual: float,
    p_wait: float,
) -> PriorityPrediction:
    """Cobham's W_k = residual / ((1 - sigma_{k-1}) (1 - sigma_k)) for every class k."""
    carried = _carried_rates(rates, service_times, servers)
    classes: list[StationPrediction] = []
    above = 0.0  # sigma_{k-1}: load of the higher classes, per server
    for rate, service, served in zip(rates, service_times, carried, strict=True):
        including = above + rate * service / servers  # sigma_k
        stable = including < 1.0
        waiting = residual / ((1.0 - above) * (1.0 - including)) if stable else math.inf
        classes.append(
            StationPrediction(
                method=method,
                exact=True,
                arrival_rate=rate,
                throughput=served,
                offered_load=rate * service,
                utilization=served * service / servers,
                stable=stable,
                mean_waiting_time=waiting,
                mean_response_time=waiting + service,
                mean_queue_length=rate * waiting if stable else math.inf,
                mean_in_system=rate * (waiting + service) if stable else math.inf,
                p_wait=p_wait,
                loss_probability=0.0,
            )
        )
        above = including
    total_rate = sum(rates)
    weights = [rate / total_rate for rate in rates] if total_rate > 0 else None
    stable = all(station.stable for station in classes)
    if not stable:
        waiting = response = in_system = math.inf
    elif weights is None:
        waiting, response, in_system = 0.0, 0.0, 0.0
    else:
        waiting = sum(w * c.mean_waiting_time for w, c in zip(weights, classes, strict=True))
        response = sum(w * c.mean_response_time for w, c in zip(weights, classes, strict=True))
        in_system = sum(c.mean_in_system for c in classes)
    return PriorityPrediction(
        method=method,
        classes=tuple(classes),
        utilization=sum(c.utilization for c in classes),
        stable=stable,
        mean_waiting_time=waiting,
        mean_response_time=response,
        mean_in_system=in_system,
    )


def mg1_priority_nonpreemptive(
    arrival_rates: Sequence[float],
    mean_service_times: Sequence[float],
    service_scvs: Sequence[float],
) -> PriorityPrediction:
    """Per-class means of the M/G/1 queue with non-preemptive priorities (Cobham).

    Assumptions: independent Poisson arrivals per class (lambda_k), one server, class-k service
    i.i.d. with mean E[S_k] and SCV cs_k^2; class 0 highest; FCFS within a class; no
    preemption. Class k is unstable when sigma_k = sum_{i<=k} lambda_i E[S_i] >= 1.

    Formula: W_k = W0 / ((1 - sigma_{k-1}) (1 - sigma_k)), sigma_{-1} = 0, with the mean
    residual work in service W0 = sum_i lambda_i E[S_i^2] / 2 and
    E[S_i^2] = E[S_i]^2 (1 + cs_i^2) (under overload lambda_i is replaced by the carried
    throughput); T_k = W_k + E[S_k]. One class reduces to Pollaczek-Khinchine.

    Source: Cobham, "Priority assignment in waiting line problems", Oper. Res. 2 (1954);
    Kleinrock, "Queueing Systems" Vol. 2, sec. 3.6; Harchol-Balter, "Performance Modeling and
    Design of Computer Systems", ch. 31.

    >>> result = mg1_priority_nonpreemptive([0.25, 0.25], [1.0, 1.0], [1.0, 1.0])
    >>> [round(c.mean_waiting_time, 6) for c in result.classes]
    [0.666667, 1.333333]
    >>> result.mean_waiting_time  # equals M/M/1 FCFS at rho = 0.5 (conservation law)
    1.0
    """
    count = len(arrival_rates)
    require_count("len(arrival_rates)", count)
    require_lengths(count, mean_service_times=mean_service_times, service_scvs=service_scvs)
    rates = [require_nonnegative(f"arrival_rates[{k}]", r) for k, r in enumerate(arrival_rates)]
    services = [
        require_positive(f"mean_service_times[{k}]", s) for k, s in enumerate(mean_service_times)
    ]
    scvs = [require_nonnegative(f"service_scvs[{k}]", v) for k, v in enumerate(service_scvs)]
    carried = _carried_rates(rates, services, 1)
    residual = sum(
        served * service**2 * (1.0 + scv) / 2.0
        for served, service, scv in zip(carried, services, scvs, strict=True)
    )
    return _priority_classes(
        method="M/G/1 non-preemptive priority (Cobham)",
        rates=rates,
        service_times=services,
        servers=1,
        residual=residual,
        p_wait=min(sum(r * s for r, s in zip(rates, services, strict=True)), 1.0),
    )


def mmc_priority_nonpreemptive(
    arrival_rates: Sequence[float], service_rate: float, servers: int
) -> PriorityPrediction:
    """Per-class means of the M/M/c queue with non-preemptive priorities.

    Assumptions: independent Poisson arrivals per class (lambda_k); c identical exponential
    servers with the same rate mu for every class (the formula needs it); class 0 highest;
    FCFS within a class; no preemption. Class k is unstable when
    sigma_k = sum_{i<=k} lambda_i / (c mu) >= 1.

    Formula: W_k = [C(c, a) / (c mu)] / ((1 - sigma_{k-1}) (1 - sigma_k)), with
    a = sum_i lambda_i / mu and C the Erlang C probability (1 under overload);
    T_k = W_k + 1 / mu. All classes see P(wait) = C(c, a).

    Source: Cobham, "Priority assignment in waiting line problems", Oper. Res. 2 (1954);
    Kella & Yechiali, "Waiting times in the non-preemptive priority M/M/c queue",
    Stochastic Models 1 (1985); Harchol-Balter, ch. 31; Gross & Harris, sec. 3.4.

    >>> result = mmc_priority_nonpreemptive([0.5, 0.5], 1.0, 2)
    >>> [round(c.mean_waiting_time, 6) for c in result.classes]
    [0.222222, 0.444444]
    """
    count = len(arrival_rates)
    require_count("len(arrival_rates)", count)
    rates = [require_nonnegative(f"arrival_rates[{k}]", r) for k, r in enumerate(arrival_rates)]
    mu = require_positive("service_rate", service_rate)
    server_count = require_count("servers", servers)
    p_wait = erlang_c(server_count, sum(rates) / mu)
    return _priority_classes(
        method="M/M/c non-preemptive priority",
        rates=rates,
        service_times=[1.0 / mu] * count,
        servers=server_count,
        residual=p_wait / (server_count * mu),
        p_wait=p_wait,
    )
