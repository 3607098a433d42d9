"""A callee that a pool shares with others, as its flow-equivalent server sees it: the
others' load an open class, summed out of the mixed network's product form
(`models.analysis.layers.mixed_log_weights`)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.analysis.graph import StationId
from models.analysis.layers import Callee, flow_equivalent, mixed_log_weights
from models.theory import mm1, mmc


def _summed(demand: float, servers: int, load: float, population: int) -> np.ndarray:
    """log g(k) by the product form's sum itself, D^k sum_m C(k+m, k) a^m / A(k+m), over
    enough m that the rest is below 1e-16 of it (BCMP 1975)."""
    logs = []
    for k in range(population + 1):
        terms = []
        for m in range(5000):
            n = k + m
            arranged = math.lgamma(min(n, servers) + 1) + max(n - servers, 0) * math.log(servers)
            terms.append(
                math.lgamma(n + 1)
                - math.lgamma(k + 1)
                - math.lgamma(m + 1)
                + m * math.log(load)
                - arranged
            )
        top = max(terms)
        total = math.fsum(math.exp(term - top) for term in terms)
        logs.append(k * math.log(demand) + top + math.log(total))
    return np.array(logs)


@pytest.mark.parametrize(
    ("servers", "load", "demand"), [(2, 0.65, 1.0), (3, 1.2, 0.5), (5, 4.1, 0.2), (8, 7.5, 0.1)]
)
def test_the_weights_are_the_product_form_s_sum(servers: int, load: float, demand: float) -> None:
    """The closed forms (Poisson head, negative binomial tail) against the sum itself."""
    found = mixed_log_weights(demand, servers, load, servers + 4)
    assert found == pytest.approx(_summed(demand, servers, load, servers + 4), abs=1e-12)


@given(
    servers=st.integers(1, 40),
    busy=st.floats(0.01, 0.95),
    demand=st.floats(1e-3, 1.0),
)
def test_with_every_server_wanted_the_capacity_is_what_the_others_leave(
    servers: int, busy: float, demand: float
) -> None:
    """g(k - 1) / g(k) = (c - a) / D for k > c: the closed class completes at the capacity
    the open one leaves; below c never faster than on free servers."""
    load = busy * servers
    weights = mixed_log_weights(demand, servers, load, servers + 3)
    rates = np.exp(weights[:-1] - weights[1:])  # completions per unit of D, k = 1..c+3
    assert rates[-1] == pytest.approx((servers - load) / demand, rel=1e-9)
    assert np.all(rates <= np.arange(1, servers + 4).clip(max=servers) / demand * (1 + 1e-9))


def test_one_call_mostly_finds_a_free_server_at_full_speed() -> None:
    """One call at 3 servers that others keep 0.9 Erlangs busy completes at 0.968 / D,
    where slowing all three by 2.1 / 3 served it at 0.7 / D
    (tests/theory/test_shared_callee_replicas.py)."""
    weights = mixed_log_weights(1.0, 3, 0.9, 1)
    assert math.exp(weights[0] - weights[1]) == pytest.approx(0.967729, abs=1e-6)


@pytest.mark.parametrize("servers", [1, 2, 4])
def test_a_pool_that_never_caps_its_calls_sees_the_open_callee(servers: int) -> None:
    """200 threads over a callee of `servers` servers that others keep 30% busy, the pool
    adding 30%: the threads never run out, so its calls are as Poisson as the others', and
    each waits what the open callee of 60% waits, Erlang C (Gross & Harris sec. 2.3)."""
    holding, busy = 0.003, 0.3
    calls = busy * servers / holding
    callee = Callee(StationId("service", "db"), 1.0, holding, servers, busy * servers)
    layer = flow_equivalent(calls, 200, 0.0, [callee])
    assert layer is not None
    expected = mmc(2 * calls, 1 / holding, servers).mean_waiting_time
    assert layer.callee_waiting[callee.station] == pytest.approx(expected, rel=1e-6)


def test_one_worker_over_a_shared_server_waits_the_background_s_m_m_1_wait() -> None:
    """One thread over one exponential server that others keep 40% busy: its call, never
    behind one of its own, finds the others' M/M/1 at 40% (the closed class of one
    customer in the product form: the slowed server's residence D / (1 - U_b) less D,
    Lazowska et al. 1984 sec. 7.4)."""
    holding = 0.01
    callee = Callee(StationId("service", "db"), 1.0, holding, 1, 0.4)
    layer = flow_equivalent(10.0, 1, 0.0, [callee])
    assert layer is not None
    expected = mm1(40.0, 100.0).mean_waiting_time
    assert layer.callee_waiting[callee.station] == pytest.approx(expected, rel=1e-9)
