"""Statistical tests of one service station against single-queue theory.

Each test simulates a scenario whose one service is a textbook queue (M/M/1, M/M/c, M/M/c/K,
M/G/c/c, M/G/inf, M/G/1, M/G/1 with priorities, E_2/M/1) and compares
per-replication statistics with the formula named in its docstring (`models.theory`), or
checks Little's law.

Tolerance (`agrees`, see `tests/theory/conftest.py`): |mean - theory| <= t SE, SE = s / sqrt(n)
over the n = 20 independent replications (30 for M/M/1), t = t_{1 - alpha/2, n - 1} = 4.90
(4.51 for n = 30): a false-alarm rate alpha = 1e-4 per check; + 0.5% of theory for
percentiles (log-histogram buckets 0.27% wide); each check also asserts that its expected
half-width is below 6% of theory (power). Runs are sized to ~100k-900k customers (mean waits
need the most); warm-up (runs start empty) is tens of relaxation times of the station. Seeds:
the `seed` fixture (a function of the test's name, plus ARCHSIM_TEST_SEED_SHIFT).
"""

from __future__ import annotations

import math
from typing import Any

import pytest

import models.theory as theory
from tests.theory.scenarios import priorities

pytestmark = pytest.mark.theory

REPLICATIONS = 20


def station(
    service: dict[str, Any],
    arrival_rate: float,
    *,
    duration: float,
    warmup: float,
    replications: int = REPLICATIONS,
) -> dict[str, Any]:
    """A scenario: Poisson arrivals of flow `customers` straight into service `server`
    (`replications_of` runs it with the test's seed)."""
    return {
        "name": "station",
        "simulation": {
            "duration": duration,
            "warmup": warmup,
            "replications": replications,
        },
        "services": {"server": service},
        "workload": {"customers": {"entry": "server", "arrivals": {"poisson": arrival_rate}}},
    }


def serving(work: dict[str, Any], **settings: Any) -> dict[str, Any]:
    """A service spec with one operation `serve` that does `work`."""
    return {**settings, "operations": {"serve": [{"work": work}]}}


# ----------------------------------------------------------------------------- 1. M/M/1


def test_mm1(agrees, replications_of, stat) -> None:
    """M/M/1: sojourn time, its percentiles, utilization, number in system, P(wait).

    Formula: with rho = lambda / mu, the FCFS sojourn time is exponential with rate
    mu - lambda (Kleinrock, "Queueing Systems" Vol. 1, 1975, sec. 3.2, eq. 3.21), so
    W = 1 / (mu - lambda) and its q-quantile is -ln(1 - q) / (mu - lambda) (p99 = ln(100) /
    (mu - lambda)); Wq = rho / (mu - lambda); L = rho / (1 - rho); utilization = rho;
    P(wait) = rho (PASTA; Wolff 1982).
    Tolerance: 4.51 SE over 30 replications (alpha = 1e-4; +0.5% for percentiles).
    """
    arrival_rate, service_rate = 0.6, 1.0
    runs = replications_of(
        station(
            serving({"exponential": 1 / service_rate}),
            arrival_rate,
            duration=40_000,
            warmup=300,
            replications=30,  # the p99's half-width is ~6% of theory with 20
        )
    )
    expected = theory.mm1(arrival_rate, service_rate)
    gap = service_rate - arrival_rate
    assert math.isclose(expected.mean_response_time, 1 / gap)
    assert math.isclose(expected.mean_in_system, 1.5)  # rho / (1 - rho)

    def flow(*keys: str) -> list[float]:
        return stat(runs, "flows", "customers", *keys)

    def server(*keys: str) -> list[float]:
        return stat(runs, "services", "server", *keys)

    agrees(flow("response_time", "mean"), 1 / gap, "flow sojourn mean")
    for key, level in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99)]:
        agrees(flow("response_time", key), -math.log1p(-level) / gap, key, percentile=True)
    assert math.isclose(
        theory.mm1_response_time_quantile(arrival_rate, service_rate, 0.99), math.log(100) / gap
    )
    agrees(server("response_time", "mean"), expected.mean_response_time, "service sojourn mean")
    agrees(server("waiting_time", "mean"), expected.mean_waiting_time, "waiting mean")
    agrees(server("utilization"), arrival_rate / service_rate, "utilization")
    agrees(server("in_system", "mean"), expected.mean_in_system, "in_system mean")
    agrees(server("queue_length", "mean"), expected.mean_queue_length, "queue_length mean")
    agrees(server("p_wait"), arrival_rate / service_rate, "P(wait)")
    agrees(flow("throughput"), arrival_rate, "throughput")


# ----------------------------------------------------------------------------- 2. M/M/c


@pytest.mark.parametrize(
    "layout",
    [{"workers": 3}, {"replicas": 3, "workers": 1, "balancing": "shared"}],
    ids=["one-replica-3-workers", "3-shared-replicas"],
)
def test_mmc_erlang_c(layout, agrees, replications_of, stat) -> None:
    """M/M/3 (Erlang C): P(wait), mean and p90 waiting time, utilization, number in system.

    Three servers as one replica with `workers: 3`, or as `replicas: 3` with
    `balancing: shared` (one pool): both are the same M/M/c queue. (c = 3 at rho = 0.65
    rather than c = 4: the mean wait of M/M/4 needs ~2x the customers for the same precision.)
    Formula: a = lambda / mu, C = ErlangC(c, a) = P(wait), Wq = C / (c mu - lambda),
    P(Wq > t) = C exp(-(c mu - lambda) t), L = a + lambda Wq (Gross & Harris, "Fundamentals of
    Queueing Theory", 4th ed., 2008, sec. 2.3; Harchol-Balter 2013, ch. 14).
    Tolerance: 4.90 SE over 20 replications (alpha = 1e-4; +0.5% for the percentile).
    """
    arrival_rate, service_rate, servers = 1.95, 1.0, 3
    runs = replications_of(
        station(
            serving({"exponential": 1 / service_rate}, **layout),
            arrival_rate,
            duration=23_000,
            warmup=200,
        )
    )
    expected = theory.mmc(arrival_rate, service_rate, servers)
    assert math.isclose(expected.p_wait, theory.erlang_c(servers, arrival_rate / service_rate))

    def server(*keys: str) -> list[float]:
        return stat(runs, "services", "server", *keys)

    agrees(server("p_wait"), expected.p_wait, "P(wait) = Erlang C")
    agrees(server("waiting_time", "mean"), expected.mean_waiting_time, "waiting mean")
    agrees(
        server("waiting_time", "p90"),
        theory.mmc_waiting_time_quantile(arrival_rate, service_rate, servers, 0.9),
        "waiting p90",
        percentile=True,
    )
    agrees(server("response_time", "mean"), expected.mean_response_time, "response mean")
    agrees(server("utilization"), expected.utilization, "utilization")
    agrees(server("in_system", "mean"), expected.mean_in_system, "in_system mean")


# ----------------------------------------------------------------------------- 3. M/M/c/K


@pytest.mark.parametrize(
    ("layout", "arrival_rate", "servers", "capacity", "duration"),
    [
        ({"workers": 1, "queue_capacity": 2}, 1.0, 1, 3, 5_000),
        ({"workers": 3, "queue_capacity": 3}, 3.3, 3, 6, 3_000),
        (
            {"replicas": 2, "workers": 2, "balancing": "shared", "queue_capacity": 1},
            4.4,
            4,
            6,
            2_000,
        ),
    ],
    ids=["M/M/1/3", "M/M/3/6", "M/M/4/6-shared"],
)
def test_mmck_loss(
    layout, arrival_rate, servers, capacity, duration, agrees, replications_of, stat
) -> None:
    """M/M/c/K: loss probability, mean number in system, mean response of admitted requests.

    `queue_capacity` is the waiting room not counting requests in service, so K = c +
    queue_capacity; with `balancing: shared` the room is replicas x queue_capacity. Loads are
    high (M/M/1/3 at rho = 1, loss 1/4) so that the loss probability is estimated precisely.
    Formula: birth-death chain p_n ~ a^n / n! (n <= c), a^c / c! (a / c)^(n - c)
    (c < n <= K); P(loss) = p_K (PASTA); L = sum n p_n; W = L / (lambda (1 - p_K)) (Little)
    (Gross & Harris, 4th ed., sec. 2.5; Kleinrock 1975 Vol. 1, sec. 3.6).
    Tolerance: 4.90 SE over 20 replications (alpha = 1e-4).
    """
    service_rate = 1.0
    runs = replications_of(
        station(
            serving({"exponential": 1 / service_rate}, **layout),
            arrival_rate,
            duration=duration,
            warmup=100,
        )
    )
    expected = theory.mmck(arrival_rate, service_rate, servers, capacity)

    def server(*keys: str) -> list[float]:
        return stat(runs, "services", "server", *keys)

    agrees(server("loss_probability"), expected.loss_probability, "loss probability")
    agrees(server("in_system", "mean"), expected.mean_in_system, "in_system mean")
    agrees(server("throughput"), expected.throughput, "throughput")
    agrees(
        stat(runs, "flows", "customers", "response_time", "mean"),
        expected.mean_response_time,
        "flow response mean (admitted)",
    )
    arrived = sum(stat(runs, "flows", "customers", "arrived"))
    dropped = sum(stat(runs, "flows", "customers", "dropped"))
    assert dropped > 0.5 * expected.loss_probability * arrived  # drops reach the flow
    assert max(server("in_system", "max")) <= capacity
    assert max(server("queue_length", "max")) <= capacity - servers


# ----------------------------------------------------------------------------- 4. Erlang B


@pytest.mark.parametrize(
    ("work", "scv"),
    [({"constant": 1.0}, 0.0), ({"lognormal": {"mean": 1.0, "cv": 2.0}}, 4.0)],
    ids=["constant", "lognormal-cv2"],
)
def test_erlang_b_is_insensitive_to_service_distribution(
    work, scv, agrees, replications_of, stat
) -> None:
    """M/G/c/c (no waiting room): P(loss) = Erlang B(c, a) whatever the service distribution.

    Formula: B(c, a) = (a^c / c!) / sum_{k<=c} a^k / k!, a = lambda E[S]; the stationary
    number busy is truncated Poisson for any service distribution with that mean
    (insensitivity: Sevastyanov 1957; Gross & Harris, 4th ed., sec. 2.6 and 6.2.2), so the
    mean number in system is a (1 - B). Here c = 5, a = 5, service constant (SCV 0) or
    lognormal with SCV 4.
    Tolerance: 4.90 SE over 20 replications (alpha = 1e-4).
    """
    arrival_rate, mean_service_time, servers = 5.0, 1.0, 5
    runs = replications_of(
        station(
            serving(work, workers=servers, queue_capacity=0),
            arrival_rate,
            duration=3_500,
            warmup=100,
        )
    )
    load = arrival_rate * mean_service_time
    blocking = theory.erlang_b(servers, load)
    assert math.isclose(blocking, theory.mmck(arrival_rate, 1.0, servers, servers).loss_probability)

    def server(*keys: str) -> list[float]:
        return stat(runs, "services", "server", *keys)

    agrees(server("loss_probability"), blocking, f"loss = Erlang B (SCV {scv})")
    agrees(server("in_system", "mean"), load * (1 - blocking), "busy servers a (1 - B)")
    assert max(server("waiting_time", "max")) == 0.0  # nobody ever waits
    assert max(server("queue_length", "max")) == 0


def test_unlimited_workers_is_an_infinite_server_station(agrees, replications_of, stat) -> None:
    """`workers: unlimited`: an M/G/inf delay station; nobody waits.

    Formula: the number present is Poisson with mean lambda E[S] for any service
    distribution (M/G/inf insensitivity; Kleinrock 1975 Vol. 1, sec. 3.4; Gross & Harris,
    4th ed., sec. 2.7 and 6.2.3); the response time is the service time, mean E[S]. Here
    lambda = 20/s and lognormal service with mean 0.5 s and cv 1.5.
    Tolerance: 4.90 SE over 20 replications (alpha = 1e-4).
    """
    arrival_rate, mean_service_time = 20.0, 0.5
    runs = replications_of(
        station(
            serving({"lognormal": {"mean": mean_service_time, "cv": 1.5}}, workers="unlimited"),
            arrival_rate,
            duration=400,
            warmup=50,
        )
    )
    expected = theory.mm_infinity(arrival_rate, 1 / mean_service_time)

    def server(*keys: str) -> list[float]:
        return stat(runs, "services", "server", *keys)

    agrees(server("in_system", "mean"), expected.mean_in_system, "in_system mean = lambda E[S]")
    agrees(server("response_time", "mean"), expected.mean_response_time, "response mean = E[S]")
    assert max(server("waiting_time", "max")) == 0.0
    assert max(server("p_wait")) == 0.0


# ----------------------------------------------------------------------------- 5. M/G/1


@pytest.mark.parametrize(
    ("work", "arrival_rate", "mean_service_time", "scv", "duration"),
    [
        ({"constant": 1.0}, 0.5, 1.0, 0.0, 20_000),
        ({"uniform": [0.25, 1.75]}, 0.5, 1.0, 1.5**2 / 12, 40_000),
        ({"gamma": {"mean": 1.0, "cv": 2.0}}, 0.4, 1.0, 4.0, 110_000),
    ],
    ids=["M/D/1", "M/U/1", "M/Gamma(cv=2)/1"],
)
def test_mg1_pollaczek_khinchine(
    work, arrival_rate, mean_service_time, scv, duration, agrees, replications_of, stat
) -> None:
    """M/G/1: mean waiting time by the Pollaczek-Khinchine formula.

    Formula: Wq = rho E[S] (1 + cs^2) / (2 (1 - rho)), rho = lambda E[S], cs^2 the service
    SCV (uniform [a, b]: (b - a)^2 / 12 / E[S]^2; gamma with cv 2: 4; constant: 0, the M/D/1
    case, half the M/M/1 wait); P(wait) = rho; L = lambda (Wq + E[S]) (Pollaczek 1930,
    Khinchine 1932; Kleinrock 1975 Vol. 1, sec. 5.6; Gross & Harris, 4th ed., sec. 5.1).
    Tolerance: 4.90 SE over 20 replications (alpha = 1e-4).
    """
    runs = replications_of(
        station(
            serving(work),
            arrival_rate,
            duration=duration,
            warmup=500,
        )
    )
    expected = theory.mg1(arrival_rate, mean_service_time, scv)
    if scv == 0.0:
        assert math.isclose(
            expected.mean_waiting_time,
            theory.md1(arrival_rate, mean_service_time).mean_waiting_time,
        )

    def server(*keys: str) -> list[float]:
        return stat(runs, "services", "server", *keys)

    agrees(server("waiting_time", "mean"), expected.mean_waiting_time, "waiting mean (P-K)")
    agrees(server("response_time", "mean"), expected.mean_response_time, "response mean")
    agrees(server("in_system", "mean"), expected.mean_in_system, "in_system mean")
    agrees(server("p_wait"), expected.p_wait, "P(wait) = rho")


# ----------------------------------------------------------------------------- 6. priorities


def test_nonpreemptive_priority_cobham(agrees, replications_of, stat) -> None:
    """Two non-preemptive priority classes at one server (`discipline: priority`).

    Class `interactive` (priority 1, lambda 0.4, exponential service mean 0.5) goes before
    class `batch` (priority 2, lambda 0.3, constant service 1.5); rho = 0.65.
    Formula (Cobham 1954; Kleinrock 1976 Vol. 2, sec. 3.6; Harchol-Balter 2013, ch. 31):
    W_k = W0 / ((1 - sigma_{k-1}) (1 - sigma_k)), W0 = sum_i lambda_i E[S_i^2] / 2,
    sigma_k the load of classes 1..k. A class's waiting is read as its flow's mean response
    minus its mean service time (exact for the constant class; unbiased for the exponential
    class, whose service-time noise is part of the replications' spread, hence of the SE).
    The service's overall mean wait is the arrival-weighted mean of the classes'
    (Kleinrock's conservation law).
    Tolerance: 4.90 SE over 20 replications (alpha = 1e-4).
    """
    rates = {"interactive": 0.4, "batch": 0.3}
    means = {"interactive": 0.5, "batch": 1.5}
    simulation = {"duration": 40_000, "warmup": 300, "replications": REPLICATIONS}
    document = priorities(simulation, rates, means)
    runs = replications_of(document)
    expected = theory.mg1_priority_nonpreemptive(
        [rates["interactive"], rates["batch"]],
        [means["interactive"], means["batch"]],
        [1.0, 0.0],
    )
    for name, predicted in zip(["interactive", "batch"], expected.classes, strict=True):
        responses = stat(runs, "flows", name, "response_time", "mean")
        agrees(
            [response - means[name] for response in responses],
            predicted.mean_waiting_time,
            f"{name} waiting mean",
        )
    agrees(
        stat(runs, "services", "server", "waiting_time", "mean"),
        expected.mean_waiting_time,
        "overall waiting mean (conservation)",
    )
    agrees(stat(runs, "services", "server", "utilization"), 0.65, "utilization")


# ----------------------------------------------------------------------------- 10. Little


@pytest.mark.parametrize(
    ("layout", "arrival_rate"),
    [({"workers": 1}, 0.7), ({"workers": 3, "queue_capacity": 2}, 3.5)],
    ids=["M/M/1", "M/M/3/5-with-drops"],
)
def test_littles_law_at_a_service(layout, arrival_rate, agrees, replications_of, stat) -> None:
    """Little's law L = X W at a service, also when it drops requests.

    L = `in_system.mean`, X = `throughput` (completions per second), W = `response_time.mean`
    of the requests it served (Little 1961; Kleinrock 1975 Vol. 1, sec. 2.1). The law holds on
    every sample path up to the requests present at the ends of the measured window, so the
    ratio L / (X W) per replication must be 1; the edge effect is ~ L W / duration (< 0.1%).
    For the M/M/3/5 case L is also compared with the M/M/c/K value.
    Tolerance: 4.90 SE over 20 replications (alpha = 1e-4; SE of the ratio) + 0.2% (edge
    effect).
    """
    runs = replications_of(
        station(
            serving({"exponential": 1.0}, **layout),
            arrival_rate,
            duration=3_000,
            warmup=100,
        )
    )
    in_system = stat(runs, "services", "server", "in_system", "mean")
    throughput = stat(runs, "services", "server", "throughput")
    response = stat(runs, "services", "server", "response_time", "mean")
    ratios = [
        level / (rate * time)
        for level, rate, time in zip(in_system, throughput, response, strict=True)
    ]
    agrees(ratios, 1.0, "L / (X W)", slack=0.002)
    if "queue_capacity" in layout:
        expected = theory.mmck(arrival_rate, 1.0, 3, 5)
        assert expected.loss_probability > 0.1
        agrees(in_system, expected.mean_in_system, "in_system mean (M/M/3/5)")
        agrees(
            stat(runs, "services", "server", "loss_probability"),
            expected.loss_probability,
            "loss probability (M/M/3/5)",
        )


# ----------------------------------------------------------------------------- 11. balancing


def test_random_balancing_is_poisson_splitting(agrees, replications_of, stat) -> None:
    """Random balancing over 2 replicas = two independent M/M/1 queues at lambda / 2.

    Formula: a Poisson(lambda) stream routed at random with probability 1/2 is split into two
    independent Poisson(lambda / 2) streams (Ross, "Introduction to Probability Models",
    sec. 5.3.4), so each replica is M/M/1 with rho = lambda / (2 mu): W = 1 / (mu - lambda/2),
    Wq = rho W, P(wait) = rho, L = 2 rho / (1 - rho) over both replicas (Kleinrock 1975
    Vol. 1, sec. 3.2).
    Tolerance: 4.90 SE over 20 replications (alpha = 1e-4).
    """
    arrival_rate, service_rate = 1.2, 1.0
    runs = replications_of(
        station(
            serving({"exponential": 1 / service_rate}, replicas=2, balancing="random"),
            arrival_rate,
            duration=14_000,
            warmup=300,
        )
    )
    expected = theory.mm1(arrival_rate / 2, service_rate)

    def server(*keys: str) -> list[float]:
        return stat(runs, "services", "server", *keys)

    agrees(server("response_time", "mean"), expected.mean_response_time, "response mean")
    agrees(server("waiting_time", "mean"), expected.mean_waiting_time, "waiting mean")
    agrees(server("p_wait"), expected.p_wait, "P(wait)")
    agrees(server("in_system", "mean"), 2 * expected.mean_in_system, "in_system mean")
    agrees(server("utilization"), expected.utilization, "utilization")


def test_round_robin_balancing_gives_erlang_2_arrivals(agrees, replications_of, stat) -> None:
    """Round-robin over 2 replicas: each replica receives every 2nd arrival, an E_2/M/1 queue.

    Formula: the interarrival time at a replica is the sum of 2 exponentials (Erlang-2, mean
    2 / lambda); for E_k/M/1, sigma solves sigma = (k lambda_r / (k lambda_r + mu (1 -
    sigma)))^k, P(wait) = sigma, Wq = sigma / (mu (1 - sigma)), W = 1 / (mu (1 - sigma))
    (Kleinrock 1975 Vol. 1, sec. 6.4; Gross & Harris, 4th ed., sec. 6.3); lambda_r = lambda/2.
    Tolerance: 4.90 SE over 20 replications (alpha = 1e-4).
    """
    arrival_rate, service_rate = 1.0, 1.0
    runs = replications_of(
        station(
            serving({"exponential": 1 / service_rate}, replicas=2, balancing="round_robin"),
            arrival_rate,
            duration=20_000,
            warmup=300,
        )
    )
    expected = theory.gi_m1_erlang_arrivals(arrival_rate / 2, service_rate, 2)
    poisson = theory.mm1(arrival_rate / 2, service_rate)
    assert expected.mean_waiting_time < 0.8 * poisson.mean_waiting_time  # distinguishable

    def server(*keys: str) -> list[float]:
        return stat(runs, "services", "server", *keys)

    agrees(server("waiting_time", "mean"), expected.mean_waiting_time, "waiting mean")
    agrees(server("response_time", "mean"), expected.mean_response_time, "response mean")
    agrees(server("p_wait"), expected.p_wait, "P(wait) = sigma")
