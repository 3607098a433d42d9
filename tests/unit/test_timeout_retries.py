"""A retry on the spot after a timeout queues behind its abandoned attempt
(`models.analysis.timeout_retries`, wired through `models.analysis.calls`)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from scipy import integrate, special, stats

from models import Prediction, analyze, load_scenario
from models.analysis.calls import call_outcome, resilient_outcome
from models.analysis.moments import Moments
from models.analysis.timeout_retries import QueueAhead, behind, same_pool_share
from models.resilience import Backoff
from models.schema import CallSpec

GAMMA_FIT = 0.02
"""How far (absolute) the gamma fit of A(T) + S' may put P(R' > T) from the exact law's
(compound Poisson of exponential work: a Poisson number of Erlang terms)."""


def mm1_retry_timeout(arrivals: float, service_rate: float, timeout: float) -> float:
    """P(R' > T) at M/M/1 for a retry sent as its first attempt times out, exactly:
    R' = X + Erlang(N + 1, mu), X ~ Exp(mu - lambda) the abandoned attempt's residual
    response (memoryless), N ~ Poisson(lambda T) the arrivals while the caller waited, each
    with its exponential work, and the retry's own (the module docstring's R')."""
    theta = service_rate - arrivals
    poisson = stats.poisson(arrivals * timeout)
    within = 0.0
    for n in range(int(poisson.ppf(1 - 1e-13)) + 1):

        def density(x: float, n: int = n) -> float:
            erlang = special.gammainc(n + 1, service_rate * (timeout - x))
            return float(theta * math.exp(-theta * x) * erlang)

        within += poisson.pmf(n) * integrate.quad(density, 0.0, timeout)[0]
    return 1.0 - within


def _mm1(arrivals: float, timeout: float, mu: float = 100.0) -> tuple[Moments, float, float]:
    """An M/M/1 response (mean 1 / (mu - lambda), exponential), P(R > T) and E[R | R <= T]."""
    mean = 1.0 / (mu - arrivals)
    over = math.exp(-timeout / mean)
    below = mean - timeout * over / (1.0 - over)
    return Moments(mean, mean * mean), over, below


@pytest.mark.parametrize("utilization", [0.3, 0.5, 0.7, 0.85])
def test_a_retry_behind_its_abandoned_attempt_times_out_as_at_m_m_1(utilization: float) -> None:
    """At one exponential server the law of the retry's response is known exactly; the
    exponential residual is exact there, and the gamma fit of the rest is within
    `GAMMA_FIT`. The retry times out more often than a fresh attempt (at 30%: 3.0%, and
    27% behind it; exact 27.8%)."""
    arrivals, timeout = 100.0 * utilization, 0.05
    response, over, below = _mm1(arrivals, timeout)
    ahead = QueueAhead(1, utilization, Moments(0.01, 0.0001))
    found = behind(response, timeout, over, below, ahead)
    assert found is not None
    late, spent = found
    assert late == pytest.approx(mm1_retry_timeout(arrivals, 100.0, timeout), abs=GAMMA_FIT)
    assert late > over and 0.0 < spent < timeout


def test_behind_a_standing_backlog_the_retry_is_as_late_as_its_attempt() -> None:
    """A response steadier than exponential (a standing backlog of 0.2 s: SCV 0.01) leaves
    a residual as steady: the retry, 0.17 s behind, times out whenever its attempt did,
    where an exponential residual of that mean would let 5% of the retries through."""
    response = Moments(0.22, 0.01 * 0.22**2)
    ahead = QueueAhead(1, 0.95, Moments(0.02, 0.0004))
    found = behind(response, 0.05, 1.0 - 1e-6, 0.049, ahead)
    assert found is not None and found[0] > 1.0 - 1e-3


def test_one_retry_fails_the_call_when_both_attempts_time_out() -> None:
    """With one retry on the spot, the call fails with P(R > T) P(R' > T): the first
    attempt's timeouts alone make the retries, and the calls table counts both attempts'
    timeouts. Two retries: the third attempt is behind the second, as the second was
    behind the first."""
    response, over, below = _mm1(60.0, 0.05)
    ahead = QueueAhead(1, 0.6, Moments(0.01, 0.0001))
    found = behind(response, 0.05, over, below, ahead)
    assert found is not None
    late = found[0]
    once = call_outcome(
        CallSpec(service="s", timeout=0.05, retries=1), response, 0.0, 0.0, None, None, ahead
    )
    assert once.fail == pytest.approx(over * late, rel=1e-12)
    assert once.attempts == pytest.approx(1.0 + over, rel=1e-12)
    assert once.failed["timeout"] == pytest.approx(over + over * late, rel=1e-12)
    assert once.failed_time == pytest.approx(0.1, rel=1e-12)  # (two timeouts)
    twice = call_outcome(
        CallSpec(service="s", timeout=0.05, retries=2), response, 0.0, 0.0, None, None, ahead
    )
    assert twice.fail == pytest.approx(over * late * late, rel=1e-12)
    assert twice.attempts == pytest.approx(1.0 + over + over * late, rel=1e-12)


def test_a_successful_retry_took_the_timeout_and_its_own_response() -> None:
    """Given success, a call waited T and the retry's response for every retry it made:
    E[time | success] = ((1 - q) E[R | R <= T] + q (1 - q') (T + E[R' | R' <= T])) / P(success)."""
    response, over, below = _mm1(50.0, 0.05)
    ahead = QueueAhead(1, 0.5, Moments(0.01, 0.0001))
    found = behind(response, 0.05, over, below, ahead)
    assert found is not None
    late, spent = found
    outcome = call_outcome(
        CallSpec(service="s", timeout=0.05, retries=1), response, 0.0, 0.0, None, None, ahead
    )
    success = (1 - over) + over * (1 - late)
    expected = (1 - over) * outcome_below(response, 0.05) + over * (1 - late) * (0.05 + spent)
    assert outcome.time.mean == pytest.approx(expected / success, rel=1e-9)


def outcome_below(response: Moments, timeout: float) -> float:
    """E[R | R <= T] as the call sees it without a law (the gamma fit: exponential here)."""
    from models.analysis.calls import timed_out

    return timed_out(response, timeout)[1]


def test_with_a_backoff_or_without_a_queue_the_attempts_stay_independent() -> None:
    """A backoff lets the queue move on, and a delay station (no `ahead`) has none: the
    truncated geometric series of independent attempts, as before."""
    response, over, _ = _mm1(60.0, 0.05)
    ahead = QueueAhead(1, 0.6, Moments(0.01, 0.0001))
    spec = CallSpec(service="s", timeout=0.05, retries=1, backoff=Backoff(initial=0.1))
    backed_off = resilient_outcome(spec, response, 0.0, 0.0, None, None, ahead)
    assert backed_off.fail == pytest.approx(over**2, rel=1e-9)
    plain = call_outcome(CallSpec(service="s", timeout=0.05, retries=1), response, 0.0, 0.0)
    assert plain.fail == pytest.approx(over**2, rel=1e-9)


@pytest.mark.parametrize(
    ("utilization", "work", "timeout", "nearly_fresh"),
    [(0.5, 0.02, 0.06, True), (0.9, 0.005, 0.05, False)],
)
def test_on_several_servers_only_a_retry_behind_a_waiting_attempt_is_behind(
    utilization: float, work: float, timeout: float, nearly_fresh: bool
) -> None:
    """On c servers the retry is behind only where the abandoned attempt was still waiting
    at T (P(W > T) / P(R > T)); where its own work was long, it is a fresh attempt. M/M/4
    at 50% of 20 ms, timeout 60 ms: nearly every timeout is a long service, and the retry
    is nearly fresh; at 90% of 5 ms, timeout 50 ms: nearly every timed-out attempt was
    waiting, and the retry is behind it."""
    servers, mu = 4, 1.0 / work
    lam = utilization * servers * mu
    p_wait = _erlang_c(servers, lam / mu)
    conditional = 1.0 / (servers * mu - lam)  # (M/M/c: the wait given waiting)
    wait = p_wait * conditional
    over = _mmc_response_tail(p_wait, conditional, work, timeout)
    response = Moments(wait + work, 0.0)
    ahead = QueueAhead(servers, utilization, Moments(work, work * work), p_wait, wait)
    found = behind(response, timeout, over, work, ahead)
    if nearly_fresh:
        assert found is None or found[0] == pytest.approx(over, rel=0.1)
    else:
        assert found is not None and found[0] > 5 * over


@pytest.mark.parametrize(
    ("replicas", "balancing", "share"),
    [
        (1, "round_robin", 1.0),
        (3, "shared", 1.0),
        (3, "least_outstanding", 1.0),
        (3, "random", 1 / 3),
        (4, "round_robin", 1 / 4),
    ],
)
def test_a_retry_finds_its_abandoned_attempts_queue_as_its_replicas_are_dealt(
    replicas: int, balancing: str, share: float
) -> None:
    """Replicas dealt at random or in turn, each its own queue: the retry joins the
    abandoned attempt's with probability 1 / r, else it is a fresh attempt at another; one
    queue (shared), or the shortest (least outstanding), it is behind it. M/M/1 at 60%
    with a 50 ms timeout: P(R' > T) is the mixture of behind and fresh."""
    assert same_pool_share(replicas, balancing) == pytest.approx(share)
    response, over, below = _mm1(60.0, 0.05)
    alone = QueueAhead(1, 0.6, Moments(0.01, 0.0001))
    found = behind(response, 0.05, over, below, alone)
    spread = behind(
        response, 0.05, over, below, QueueAhead(1, 0.6, Moments(0.01, 0.0001), 0, 0, share)
    )
    assert found is not None and spread is not None
    assert spread[0] == pytest.approx(share * found[0] + (1 - share) * over, rel=1e-12)


def _erlang_c(servers: int, load: float) -> float:
    terms = sum(load**k / math.factorial(k) for k in range(servers))
    last = load**servers / math.factorial(servers) * servers / (servers - load)
    return last / (terms + last)


def _mmc_response_tail(p_wait: float, conditional: float, mean: float, t: float) -> float:
    """P(W + S > t) for W = 0 w.p. 1 - p_wait, else Exp(conditional); S ~ Exp(mean)."""
    fresh = math.exp(-t / mean)
    if abs(conditional - mean) < 1e-15:
        waited = math.exp(-t / mean) * (1 + t / mean)
    else:
        waited = (conditional * math.exp(-t / conditional) - mean * math.exp(-t / mean)) / (
            conditional - mean
        )
    return (1 - p_wait) * fresh + p_wait * waited


def _pool_behind_retries(rate: float, retries: int, **call: Any) -> Prediction:
    """A client at `rate` calling a pool of 2 workers (20 ms) with a 70 ms timeout and
    `retries` on the spot (and other call keys)."""
    spec = {"service": "db", "timeout": "70ms", "retries": retries, **call}
    return analyze(
        load_scenario(
            {
                "name": "storm",
                "simulation": {"duration": 60},
                "services": {
                    "db": {
                        "workers": 2,
                        "operations": {"read": [{"work": {"exponential": "20ms"}}]},
                    }
                },
                "workload": {"f": {"steps": [{"call": spec}], "arrivals": {"poisson": rate}}},
            }
        ),
        capacity=False,
    )


def _storm_warnings(prediction: Prediction) -> list[str]:
    return [w for w in prediction.warnings if "retry storm, once started" in w]


def test_a_storm_that_would_sustain_itself_is_named_where_the_calm_state_is_stable() -> None:
    """35/s with 2 retries: every call retried to the end offers 105 attempts/s, 1.05 times
    the pool's 100/s, so a storm, once started, never drains (simulated: one started
    within 4 x 1,200 s, and 19% of the calls succeeded); the calm state is stable (37%
    busy). With one retry (70/s) or at 30/s (90/s) a storm drains; a circuit breaker may
    shed the retries; a saturated pool needs no storm to fail."""
    stormy = _pool_behind_retries(35.0, 2)
    assert stormy.services["db"].utilization < 0.4
    (warning,) = _storm_warnings(stormy)
    assert "'db'" in warning and "105 attempts/s, 1.05 times its capacity (100/s)" in warning
    assert not _storm_warnings(_pool_behind_retries(35.0, 1))
    assert not _storm_warnings(_pool_behind_retries(30.0, 2))
    breaker = {"failure_rate": 0.5, "window": "10s", "min_calls": 20, "open_for": "5s"}
    assert not _storm_warnings(_pool_behind_retries(35.0, 2, circuit_breaker=breaker))
    assert not _storm_warnings(_pool_behind_retries(120.0, 2))
