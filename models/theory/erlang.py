"""Erlang's loss (B) and delay (C) formulas for c parallel servers and Poisson arrivals."""

from __future__ import annotations

from models.theory._checks import require_count, require_nonnegative


def erlang_b(servers: int, offered_load: float) -> float:
    """Probability that an arrival finds all `servers` busy and is lost (Erlang B, M/M/c/c).

    Assumptions: Poisson arrivals, no waiting room, any service time distribution with finite
    mean (the formula is insensitive to it); `offered_load` a = lambda E[S] in Erlangs.

    Formula: B(c, a) = (a^c / c!) / sum_{k=0}^{c} a^k / k!, computed by the recursion
    B(0, a) = 1, B(k, a) = a B(k-1, a) / (k + a B(k-1, a)), which never overflows and is
    stable for thousands of servers.

    Source: Erlang 1917; Gross & Harris, "Fundamentals of Queueing Theory", 4th ed., sec. 2.6;
    the recursion is the standard one (e.g. Harchol-Balter, "Performance Modeling and Design of
    Computer Systems", ch. 14 exercises).

    >>> round(erlang_b(10, 5.0), 6)
    0.018385
    >>> erlang_b(1, 1.0)
    0.5
    """
    require_count("servers", servers)
    return _erlang_b(servers, require_nonnegative("offered_load", offered_load))


def _erlang_b(servers: int, load: float) -> float:
    """`erlang_b` of arguments already checked (`erlang_c` checks them once, not twice)."""
    blocking = 1.0
    for k in range(1, servers + 1):
        blocking = load * blocking / (k + load * blocking)
    return blocking


def erlang_c(servers: int, offered_load: float) -> float:
    """Probability that an arrival has to wait in an M/M/c queue (Erlang C).

    Assumptions: Poisson arrivals, exponential service, `servers` identical servers, FCFS,
    unbounded waiting room; `offered_load` a = lambda / mu in Erlangs. Returns 1.0 when
    a >= c (no steady state: every arrival eventually waits).

    Formula: C(c, a) = c B(c, a) / (c - a (1 - B(c, a))), with B the Erlang B probability;
    equivalent to (a^c / c!) (c / (c - a)) / (sum_{k<c} a^k / k! + (a^c / c!) c / (c - a)).

    Source: Gross & Harris, "Fundamentals of Queueing Theory", 4th ed., sec. 2.3;
    Kleinrock, "Queueing Systems" Vol. 1, sec. 3.5.

    >>> round(erlang_c(2, 1.0), 10)
    0.3333333333
    >>> erlang_c(1, 0.5)
    0.5
    """
    require_count("servers", servers)
    load = require_nonnegative("offered_load", offered_load)
    if load >= servers:
        return 1.0
    blocking = _erlang_b(servers, load)
    return servers * blocking / (servers - load * (1.0 - blocking))
