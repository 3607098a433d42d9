"""A callee that a pool shares with others, as its flow-equivalent server sees it
(`models.analysis.layers.shared_rates`, `_open_wait`, `_background_wait`)."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.analysis.graph import StationId
from models.analysis.layers import Callee, _open_wait, flow_equivalent, shared_rates
from models.theory import mm1, mmc


@given(
    servers=st.integers(1, 12),
    busy=st.floats(0.0, 0.99),
    holding=st.floats(1e-4, 1.0),
)
def test_the_rates_keep_the_capacity_the_background_leaves(
    servers: int, busy: float, holding: float
) -> None:
    """With every server wanted, (c - b) / D: what slowing the servers in proportion gave;
    fewer calls never complete faster than on free servers, nor slower per call than
    with all of them wanted; more calls never complete fewer."""
    background = busy * servers
    rates = shared_rates(servers, background, holding)
    assert len(rates) == servers
    assert rates[-1] == pytest.approx((servers - background) / holding, rel=1e-9, abs=1e-9)
    for k, rate in enumerate(rates, start=1):
        assert rate <= k / holding * (1 + 1e-12)
        assert rate / k >= rates[-1] / servers * (1 - 1e-12)
    assert all(b >= a * (1 - 1e-12) for a, b in itertools.pairwise(rates))


def test_one_server_is_the_mixed_network_s_slowed_server() -> None:
    """c = 1: (1 - b) / D (Lazowska et al. 1984 sec. 7.4)."""
    assert shared_rates(1, 0.3, 0.01) == pytest.approx((70.0,))


def test_a_free_server_serves_at_full_speed_where_the_old_slowing_did_not() -> None:
    """One call to 3 servers that 0.9 Erlangs of others keep busy: it finds one free but
    when all three are taken (0.3^3), where slowing all three by 2.1 / 3 served it at 70%
    of its speed (tests/theory/test_shared_callee_replicas.py)."""
    first = shared_rates(3, 0.9, 0.015)[0]
    assert first == pytest.approx((1 - 0.3**3) / 0.015)
    assert first > 1.38 * (2.1 / 3) / 0.015


@pytest.mark.parametrize(("servers", "load"), [(1, 0.5), (2, 0.7), (5, 0.9)])
def test_the_open_wait_of_servers_at_their_speed_is_erlang_c(servers: int, load: float) -> None:
    """`_open_wait` of the rates min(k, c) / D: M/M/c's wait (Gross & Harris sec. 2.3)."""
    holding = 0.004
    rate = load * servers / holding
    rates = tuple(k / holding for k in range(1, servers + 1))
    expected = mmc(rate, 1 / holding, servers).mean_waiting_time
    assert _open_wait(rate, rates, holding) == pytest.approx(expected, rel=1e-12)
    assert math.isinf(_open_wait(servers / holding, rates, holding))


@pytest.mark.parametrize("servers", [1, 2, 4])
def test_a_pool_that_never_caps_its_calls_sees_the_open_callee(servers: int) -> None:
    """200 threads over a callee of `servers` servers that others keep 30% busy, the pool
    adding 30%: the threads never run out, so each call waits what the open callee of 60%
    waits, Erlang C (the background's wait, `_background_wait`, is the difference between
    that and the subnetwork's own)."""
    holding, busy = 0.003, 0.3
    calls = busy * servers / holding
    callee = Callee(StationId("service", "db"), 1.0, holding, servers, busy * servers)
    layer = flow_equivalent(calls, 200, 0.0, [callee])
    assert layer is not None
    expected = mmc(2 * calls, 1 / holding, servers).mean_waiting_time
    assert layer.callee_waiting[callee.station] == pytest.approx(expected, rel=1e-6)


def test_one_worker_over_a_shared_server_waits_the_background_s_m_m_1_wait() -> None:
    """One thread over one exponential server that others keep 40% busy: its call, never
    behind one of its own, waits what the background alone waits at a random time, M/M/1
    at 40%: the slowed server's residence D / (1 - U_b) less D (the mixed-network
    approximation, Lazowska et al. 1984 sec. 7.4; the same before the binomial rates)."""
    holding = 0.01
    callee = Callee(StationId("service", "db"), 1.0, holding, 1, 0.4)
    layer = flow_equivalent(10.0, 1, 0.0, [callee])
    assert layer is not None
    expected = mm1(40.0, 100.0).mean_waiting_time
    assert layer.callee_waiting[callee.station] == pytest.approx(expected, rel=1e-9)
