"""Statistical tests of failures and resilience against closed-form results.

Each test simulates a scenario whose failure behaviour has a textbook answer and compares a
per-replication statistic with it: retry amplification (a geometric series), timeouts at an
M/M/1 callee (its exponential sojourn time), a token bucket (a renewal process; a Lundberg
bound), the drain of a backlog after an outage (the busy period of an M/G/1 queue; a fluid
model for c consumers), and the availability of a crashing service (an alternating renewal
process). The formula and its source are in each test's docstring.

Tolerance (`agrees`, tests/theory/conftest.py): |mean - theory| <= t SE, SE = s / sqrt(n)
over the n = 20 independent replications, t = t_{1 - alpha/2, 19} = 4.90 for a false-alarm
rate alpha = 1e-4 per check, plus a documented relative `slack` where the measured
statistic has a known, bounded bias (the reading grid of the recovery monitor, the O(1)
messages a fluid model ignores); each check also asserts that its expected half-width is
below 6% of theory (power). Count checks that are not replication means use the same alpha
(`quantiles`). Seeds: the `seed` fixture (a function of the test's name, plus
ARCHSIM_TEST_SEED_SHIFT).
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from scipy import optimize

import models.theory as theory

pytestmark = pytest.mark.theory

REPLICATIONS = 20


def ratios(numerators: list[float], denominators: list[float]) -> list[float]:
    """Per-replication ratios."""
    return [a / b for a, b in zip(numerators, denominators, strict=True)]


# ----------------------------------------------------------------------------- retries


@pytest.mark.parametrize(("p", "retries"), [(0.5, 3), (0.2, 2), (0.8, 5)])
def test_retry_amplification_is_a_geometric_series(
    p: float, retries: int, agrees, replications_of, stat
) -> None:
    """Attempts per call and success probability of a call retried `retries` times at a
    callee whose operation fails with probability p (`fail: p`), without timeout or backoff.

    Formula: attempt k happens iff the k - 1 before it failed (probability p^(k-1)), so with
    r retries the number of attempts A has E[A] = sum_{k=1}^{r+1} p^(k-1)
    = (1 - p^(r+1)) / (1 - p) (geometric series) and the call succeeds unless all r + 1
    attempts fail: P(success) = 1 - p^(r+1) (independent Bernoulli trials; e.g. Feller,
    "An Introduction to Probability Theory", vol. 1, ch. VI). Measured: the `calls` table's
    attempts / calls and the flow's `success_rate`, per replication (~2,500 calls each).
    The callee is a delay station (`workers: unlimited`, 1 ms): no queueing, and at most a
    call or two in flight at the end (a bias of order 1e-4, far below the half-width).
    Exact identities checked on every replication: attempts = calls + retries (no backoff:
    a retry starts at once), every failure is an `error`, and the flow failed exactly when
    the call's last attempt failed.
    """
    rate, duration = 10.0, 250.0
    runs = replications_of(
        {
            "name": "retries",
            "simulation": {"duration": duration, "warmup": 1, "replications": REPLICATIONS},
            "services": {
                "db": {
                    "workers": "unlimited",
                    "operations": {"query": [{"delay": {"constant": 0.001}}, {"fail": p}]},
                }
            },
            "workload": {
                "client": {
                    "arrivals": {"poisson": rate},
                    "steps": [{"call": {"service": "db", "retries": retries}}],
                }
            },
        }
    )
    edge = "client->db.query"
    attempts, calls = stat(runs, "calls", edge, "attempts"), stat(runs, "calls", edge, "calls")
    expected_attempts = (1 - p ** (retries + 1)) / (1 - p)
    agrees(ratios(attempts, calls), expected_attempts, f"attempts per call (p={p}, r={retries})")
    agrees(
        stat(runs, "flows", "client", "success_rate"),
        1 - p ** (retries + 1),
        f"success rate (p={p}, r={retries})",
    )
    for run in runs:
        row, flow = run.calls[edge], run.flows["client"]
        assert row.attempts == row.calls + row.retries
        assert row.failures.error == sum(row.failures.to_dict().values())
        assert flow.failed == flow.failures.error
        assert flow.arrived == flow.completed + flow.failed + flow.in_flight


# ----------------------------------------------------------------------------- timeouts


def test_timeouts_at_an_mm1_callee_follow_its_exponential_sojourn(
    agrees, replications_of, stat
) -> None:
    """The fraction of calls that time out at an M/M/1 callee is P(sojourn > tau).

    Formula: at an M/M/1 FCFS queue the sojourn time is exponential with rate mu - lambda
    (Kleinrock, "Queueing Systems" Vol. 1, 1975, sec. 3.2, eq. 3.21), so a caller with
    timeout tau (and no retries) gives up on a fraction exp(-(mu - lambda) tau) of its
    calls. The callee keeps working after a timeout (the caller only stops waiting), so its
    queue stays M/M/1: utilization rho = lambda / mu and mean sojourn 1 / (mu - lambda) are
    checked too. Two flows of Poisson rate lambda / 2 each (together Poisson lambda, and the
    sojourn time of FIFO does not depend on the flow) call with tau = ln(2) / (mu - lambda)
    (the sojourn's median: fraction 1/2) and tau = 1 / (mu - lambda) (its mean: fraction
    e^-1). (Smaller fractions need much longer runs: long sojourns come in clusters, so a
    timeout at the p90 has a half-width of ~9% with these runs.)
    Runs: 20 x 20,000 s (~6,000 calls per flow), warm-up 200 s (over 20 relaxation times
    1 / (mu (1 - sqrt(rho))^2) = 9 s).
    """
    arrival_rate, service_rate = 0.6, 1.0
    gap = service_rate - arrival_rate
    timeouts = {"median": math.log(2) / gap, "mean": 1 / gap}
    runs = replications_of(
        {
            "name": "timeouts",
            "simulation": {"duration": 20_000, "warmup": 200, "replications": REPLICATIONS},
            "services": {"db": {"operations": {"query": [{"work": {"exponential": 1.0}}]}}},
            "workload": {
                name: {
                    "arrivals": {"poisson": arrival_rate / 2},
                    "steps": [{"call": {"service": "db", "timeout": tau}}],
                }
                for name, tau in timeouts.items()
            },
        }
    )
    for name, tau in timeouts.items():
        answered = [
            c + f
            for c, f in zip(
                stat(runs, "flows", name, "completed"),
                stat(runs, "flows", name, "failed"),
                strict=True,
            )
        ]
        timed_out = stat(runs, "flows", name, "failures", "timeout")
        agrees(ratios(timed_out, answered), math.exp(-gap * tau), f"P(timeout), tau = {name}")
        for run in runs:
            flow = run.flows[name]
            assert flow.failed == flow.failures.timeout  # (no other kind of failure)
    agrees(stat(runs, "services", "db", "utilization"), arrival_rate / service_rate, "db rho")
    agrees(stat(runs, "services", "db", "response_time", "mean"), 1 / gap, "db sojourn mean")


# ----------------------------------------------------------------------------- token bucket


def token_bucket_scenario(
    arrival_rate: float, rate: float, burst: int, duration: float
) -> dict[str, Any]:
    """Poisson arrivals at `api` (a delay station) behind a token bucket."""
    return {
        "name": "token-bucket",
        "simulation": {"duration": duration, "replications": REPLICATIONS},
        "services": {
            "api": {
                "workers": "unlimited",
                "rate_limit": {"rate": rate, "burst": burst},
                "operations": {"serve": [{"delay": {"constant": 0.001}}]},
            }
        },
        "workload": {"client": {"entry": "api", "arrivals": {"poisson": arrival_rate}}},
    }


def admitted(run: Any) -> float:
    """Arrivals at `api` that got a token."""
    api = run.services["api"]
    return api.attempts - api.rejected


@pytest.mark.parametrize("load", [0.5, 1.0, 4.0])
def test_token_bucket_of_one_token_admits_a_renewal_process(
    load: float, agrees, replications_of
) -> None:
    """A bucket of one token (burst 1) refilled at R, Poisson arrivals lambda = load x R.

    Formula: the bucket is full (one token) from 1 / R after an admission until the next
    arrival, which takes it; by memorylessness that wait is exponential with rate lambda,
    so admissions form a renewal process with mean gap 1 / R + 1 / lambda and the long-run
    admitted rate is lambda R / (lambda + R) (renewal reward theorem; Ross, "Stochastic
    Processes", 2nd ed., 1996, sec. 3.6): R / 3 at lambda = R / 2, R / 2 at lambda = R,
    0.8 R at lambda = 4 R; it tends to R as lambda grows. Runs: 20 x 2,000 s with R = 1/s.
    The bucket starts full (a bias of at most one admission: 0.1% at most of ~700-1,600).
    """
    rate, duration = 1.0, 2_000.0
    arrival_rate = load * rate
    runs = replications_of(token_bucket_scenario(arrival_rate, rate, 1, duration))
    agrees(
        [admitted(run) / duration for run in runs],
        arrival_rate * rate / (arrival_rate + rate),
        f"admitted rate, lambda = {load} R",
    )


def test_token_bucket_admits_rate_r_under_heavy_load(seed, replications_of) -> None:
    """Under heavy load (lambda = 20 R) a bucket of `burst` b admits R per second, exactly in
    the long run: admitted = b + R T - (tokens left at the end, < 1 here) - R x (time the
    bucket spent full, when refills are wasted).

    The bucket can never hand out more than it starts with plus what it refills, so
    admitted <= b + R T on every run (a hard bound). It is full only until the first arrival
    (exponential, mean 1 / lambda) and again only after b - 1 = 9 refill times without an
    arrival, about 180 expected arrivals (probability e^-180); so admitted >= b + R T - 2
    unless the first arrival takes over 1 / R (probability e^-20). Both bounds together say
    that the admitted rate is R within 2 / (R T) = 0.4% (T = 500 s).
    """
    rate, burst, duration = 1.0, 10, 500.0
    document = token_bucket_scenario(20 * rate, rate, burst, duration)
    document["simulation"]["replications"] = 5  # (a bound on every run: 5 runs suffice)
    runs = replications_of(document)
    for run in runs:
        assert burst + rate * duration - 2 <= admitted(run) <= burst + rate * duration


def lundberg_exponent(load: float) -> float:
    """The positive root theta of load (e^theta - 1) = theta (load < 1)."""
    return optimize.brentq(lambda theta: load * math.expm1(theta) - theta, 1e-9, 50.0)


def test_token_bucket_with_a_large_burst_rejects_nothing_below_its_rate(
    replications_of, quantiles
) -> None:
    """Below its rate (lambda = R / 2) a bucket of burst b = 20 rejects essentially nothing.

    Bound: measure the bucket's deficit D = b - tokens in tokens: each admitted arrival adds
    1, refills drain it at rate R, and an arrival is rejected when D > b - 1. Without the cap
    this is the workload of an M/D/1 queue with unit jobs served at rate R, which dominates
    the capped deficit (both start at 0, the cap only removes work) and which, starting
    empty, is stochastically below its stationary law; by Lundberg's inequality
    (Asmussen, "Ruin Probabilities", 2000, ch. I.5; the stationary M/G/1 workload is the
    ruin probability) P(D > x) <= exp(-theta x), theta the positive root of
    rho (e^theta - 1) = theta, rho = lambda / R. With rho = 0.5, theta = 1.256 and a
    rejection happens with probability below exp(-theta (b - 1)) = 4e-11 per arrival (PASTA):
    the largest count the binomial law allows at alpha = 1e-4 over all ~20,000 arrivals
    is 0.
    """
    rate, burst, duration = 1.0, 20, 2_000.0
    load = 0.5
    runs = replications_of(token_bucket_scenario(load * rate, rate, burst, duration))
    bound = math.exp(-lundberg_exponent(load) * (burst - 1))
    arrivals = int(sum(run.services["api"].attempts for run in runs))
    limit = quantiles.binomial_limit(arrivals, bound)
    rejected = sum(run.services["api"].rejected for run in runs)
    assert rejected <= limit, f"{rejected} rejections of {arrivals} (bound {bound:.2g} each)"
    assert limit == 0


# ----------------------------------------------------------------------------- outage drain


def drain_scenario(
    *,
    arrival_rate: float,
    service_time: float,
    consumers: int,
    outage: float,
    kind: str,
    sample_interval: float,
) -> dict[str, Any]:
    """Poisson messages on a topic consumed by `worker` (`consumers` threads, constant
    `service_time`); `worker` (kind `service`, on a queue topic) or the topic's broker (kind
    `topic`, on a log of one partition) is down for `outage` seconds, from the end of a
    10 s warm-up plus an `outage`-long baseline (the monitor's reference period)."""
    drain_rate = consumers / service_time - arrival_rate
    recovery = arrival_rate * outage / drain_rate
    warmup = 10.0
    at = warmup + outage
    if kind == "service":
        fault = {"service": "worker", "kind": "outage", "at": at, "for": outage}
        topic = {"type": "queue"}
    else:  # (a log: a paused queue topic loses its consumers, see the timeline tests)
        fault = {"topic": "events", "kind": "outage", "at": at, "for": outage}
        topic = {"type": "log", "partitions": 1}
    return {
        "name": "drain",
        "simulation": {
            "duration": at - warmup + outage + 1.5 * recovery,  # (recovery sd ~3%)
            "warmup": warmup,
            "replications": REPLICATIONS,
            "sample_interval": sample_interval,
        },
        "services": {
            "api": {"workers": "unlimited", "operations": {"publish": [{"publish": "events"}]}},
            "worker": {"operations": {"handle": [{"work": {"constant": service_time}}]}},
        },
        "topics": {
            "events": {
                **topic,
                "subscribers": {"worker": {"operation": "handle", "concurrency": consumers}},
            }
        },
        "workload": {"client": {"entry": "api", "arrivals": {"poisson": arrival_rate}}},
        "faults": [fault],
    }


@pytest.mark.parametrize(
    ("consumers", "kind"),
    [(1, "service"), (1, "topic"), (4, "service")],
    ids=["md1-service-outage", "md1-broker-outage", "md4-service-outage"],
)
def test_outage_backlog_peaks_at_lambda_t_and_drains_at_c_mu_minus_lambda(
    consumers: int, kind: str, agrees, replications_of, stat
) -> None:
    """Backlog peak and recovery time of an outage of length T at a consumer group fed with
    Poisson lambda, served by c consumers in constant time 1 / mu (load 1/2).

    Formula: during the outage nothing is consumed, so the backlog (the group's lag) grows
    from its steady-state value L0 by the lambda T arrivals: peak = L0 + lambda T (it is
    largest at the end of the outage; afterwards it drains). After the outage the c
    consumers drain it at c mu - lambda (fluid model; e.g. Kleinrock, "Queueing Systems"
    Vol. 2, 1976, ch. 2): recovery time = lambda T / (c mu - lambda).
    - c = 1 (M/D/1, L0 = rho + rho^2 / (2 (1 - rho)), Pollaczek-Khinchine): recovered means
      the backlog is at or below its mean L0 < 1 before the outage, i.e. empty; the time to
      empty from work w is a busy period of mean w / (1 - rho), so the recovery time has
      mean (L0 + lambda T) / (mu - lambda) exactly, L0 / (mu - lambda) above the fluid value.
    - c = 4 (M/D/4): the fluid value ignores the few messages in service at either end (it
      is off by at most (L0 + c) / (c mu - lambda) + 1 / mu); L0 = lambda / mu + Lq with
      Lq below M/M/4's 0.17 (0.01% of the peak: left out).
    The monitor reads the backlog every `resolution` (0.25 s here) and calls it recovered
    at the first reading at or below the baseline; once drained, a reading sees that with
    probability at least 1 - rho = 1/2 (P(empty) = 1 - rho for c = 1; P(N <= 2) ~ 0.65 for
    M/M/4, more for M/D/4), the readings being far apart compared with a busy cycle, so the
    recovery is seen late by resolution / (1 - rho) on average at most. Slack for the
    recovery time: (L0 + c) / (c mu - lambda) + 1 / mu + resolution / (1 - rho), relative to
    theory (1.1% for c = 1, 1.4% for c = 4); none for the peak (L0 is in its theory; what
    arrives after the outage before the first consumer is done is below one message on
    average, 0.05% of the peak).
    A service outage stops the consumers (the message in process goes back to the queue);
    a broker outage holds the messages published during it and delivers them at its end:
    the backlog (lag counts them from publication) is the same.
    lambda = 40/s, T = 50 s: lambda T = 2,000 messages; c mu - lambda = lambda, so the
    recovery time is T (per-replication sd ~3%, from the Poisson counts in the outage and in
    the drain).
    """
    arrival_rate, outage, resolution = 40.0, 50.0, 0.25
    service_rate = 2 * arrival_rate / consumers
    service_time = 1 / service_rate
    drain_rate = consumers * service_rate - arrival_rate
    runs = replications_of(
        drain_scenario(
            arrival_rate=arrival_rate,
            service_time=service_time,
            consumers=consumers,
            outage=outage,
            kind=kind,
            sample_interval=resolution,
        )
    )
    if consumers == 1:
        steady_lag = theory.md1(arrival_rate, service_time).mean_in_system
    else:
        steady_lag = arrival_rate * service_time
    peaks = [run.faults[0].backlog_peak for run in runs]
    recoveries = [run.faults[0].recovery_time for run in runs]
    assert all(value is not None for value in recoveries), "every run recovered"
    agrees(peaks, steady_lag + arrival_rate * outage, f"backlog peak ({kind}, c={consumers})")
    fluid = arrival_rate * outage / drain_rate
    load = arrival_rate / (consumers * service_rate)
    late = resolution / (1 - load)
    slack = ((steady_lag + consumers) / drain_rate + service_time + late) / fluid
    agrees(recoveries, fluid, f"recovery time ({kind}, c={consumers})", slack=slack)
    for run in runs:
        group = run.topics["events"].groups["worker"]
        assert group.lost == group.dead_lettered == 0
        # a service outage sends back the messages in process at its start (at most c);
        # a broker outage stops nothing that was already received
        assert group.redelivered <= (consumers if kind == "service" else 0)


# ----------------------------------------------------------------------------- availability


@pytest.mark.parametrize(
    ("up_time", "down_time"),
    [
        ({"exponential": 9.0}, {"exponential": 1.0}),
        ({"uniform": [3.0, 15.0]}, {"lognormal": {"mean": 1.0, "cv": 2.0}}),
    ],
    ids=["exponential", "uniform-lognormal"],
)
def test_availability_of_a_crashing_service_is_mtbf_over_mtbf_plus_mttr(
    up_time: dict[str, Any], down_time: dict[str, Any], agrees, replications_of, stat
) -> None:
    """The `availability` of a one-replica service that crashes (mean up time mtbf = 9 s)
    and is repaired (mean down time mttr = 1 s), over and over.

    Formula: the replica is an alternating renewal process; the long-run fraction of time
    it is up is mtbf / (mtbf + mttr) = 0.9 whatever the distributions of the up and down
    times (Ross, "Stochastic Processes", 2nd ed., 1996, sec. 3.4.1, Theorem 3.4.4): checked
    with exponential times, and with uniform up times and lognormal (cv 2) down times.
    Runs: 20 x 500 s (50 cycles each; per-replication sd of the up fraction ~2%), after a
    100 s warm-up (the replica starts up; the initial state is forgotten within a few
    cycles of 10 s). Short runs because the crash summary costs windows x readings
    (about (duration / 10 s) x (duration / 0.1 s); 20,000 s would take minutes per run).
    """
    mtbf, mttr = 9.0, 1.0
    runs = replications_of(
        {
            "name": "crashes",
            "simulation": {"duration": 500, "warmup": 100, "replications": REPLICATIONS},
            "services": {"api": {"operations": {"serve": [{"work": {"constant": 0.01}}]}}},
            "workload": {"client": {"entry": "api", "arrivals": {"constant": 0.1}}},
            "faults": [{"service": "api", "kind": "crash", "mtbf": up_time, "mttr": down_time}],
        }
    )
    agrees(stat(runs, "services", "api", "availability"), mtbf / (mtbf + mttr), "availability")
