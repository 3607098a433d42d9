"""A scenario from traces (models.traces.building): synthetic traces generated here from a
known model with numpy (a shop), imported, and the model's numbers recovered: the steps of
its operation, their times and fitted families, the arrival rate, replicas, workers and
topics; the file written loads, validates and runs.

Statistical tests (marked) compare an estimate with the model's value within a bound of
3.89 standard errors: a false alarm (a correct importer failing) about once in 10,000 runs
of the generator with another seed (two-sided normal tail 1e-4); the seed is fixed, so the
tests are repeatable. The other tests are deterministic.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from models.loading import load_scenario
from models.traces.building import TraceImport, import_traces
from models.traces.fitting import fit_times
from models.traces.yaml_out import scenario_yaml
from sim.presentation.cli import main
from tests.unit.trace_import_fixtures import (
    CLIENT,
    CONSUMER,
    PRODUCER,
    SERVER,
    Synth,
    calls_in,
    steps_of,
)

Z = 3.89  # two-sided normal tail of 1e-4


# The model of the synthetic shop ------------------------------------------------------------

REQUESTS = 2000
RATE = 40.0  # requests per second, Poisson
HOP = 0.00025  # seconds one way on the network: a call's delay is 2 x HOP
FRONT_MEAN, FRONT_CV = 0.005, 1.5  # frontend's own work: lognormal
CATALOG_MEAN = 0.003  # exponential
ADS_PROBABILITY = 0.3
DELIVERY, DELIVERY_WAIT = 0.003, 0.001  # publish-to-handling: 3 ms + exponential(1 ms)
PARTITIONS = 4


def lognormal(rng: np.random.Generator, mean: float, cv: float) -> float:
    sigma = math.sqrt(math.log1p(cv**2))
    return float(rng.lognormal(math.log(mean) - sigma**2 / 2, sigma))


class Shop:
    """frontend.GET /home: own work, a call of catalog.list (which publishes item-viewed,
    consumed by the group analytics-group), pricing.quote and reviews.get in parallel,
    ads.show with probability 0.3, stock.check twice in a row."""

    def __init__(self, seed: int = 7) -> None:
        self.synth = Synth(seed)
        self.rng = self.synth.rng
        self.front_work: list[float] = []
        self.arrivals = np.cumsum(self.rng.exponential(1 / RATE, REQUESTS))
        self.ads = 0
        for index, start in enumerate(self.arrivals):
            self.request(f"{index + 1:032x}", float(start))

    def call(
        self,
        trace: str,
        parent: str,
        start: float,
        service: str,
        name: str,
        work: float,
        caller: tuple[str, str | None],
    ) -> tuple[float, str]:
        """A CLIENT span and its SERVER span; returns (end, server span id)."""
        client = self.synth.new_id()
        server_start = start + HOP
        server = self.synth.span(
            (service, f"{service}-0"),
            trace,
            client,
            SERVER,
            name,
            server_start,
            server_start + work,
        )
        end = server_start + work + HOP
        self.synth.span(caller, trace, parent, CLIENT, name, start, end, span_id=client)
        return end, server

    def request(self, trace: str, start: float) -> None:
        rng, synth = self.rng, self.synth
        front = ("frontend", f"fe-{rng.integers(2)}")
        root = synth.new_id()
        own = lognormal(rng, FRONT_MEAN, FRONT_CV)
        self.front_work.append(own)
        t = start + own / 2
        catalog_work = float(rng.exponential(CATALOG_MEAN))
        t, catalog = self.call(trace, root, t, "catalog", "list", catalog_work, front)
        self.publish(trace, catalog, t - HOP)
        pricing, _ = self.call(
            trace, root, t, "pricing", "quote", float(rng.gamma(4, 0.0005)), front
        )
        reviews, _ = self.call(
            trace, root, t + 0.0001, "reviews", "get", float(rng.exponential(0.001)), front
        )
        t = max(pricing, reviews)
        if rng.random() < ADS_PROBABILITY:
            self.ads += 1
            t, _ = self.call(trace, root, t, "ads", "show", 0.0005, front)
        for _ in range(2):
            t, _ = self.call(trace, root, t, "stock", "check", float(rng.exponential(0.001)), front)
        synth.span(front, trace, None, SERVER, "GET /home", start, t + own / 2, span_id=root)

    def publish(self, trace: str, parent: str, at: float) -> None:
        partition = int(self.rng.integers(PARTITIONS))
        topic = {
            "messaging.destination.name": "item-viewed",
            "messaging.destination.partition.id": partition,
        }
        producer = self.synth.span(
            ("catalog", "catalog-0"), trace, parent, PRODUCER, "item-viewed publish", at, at, topic
        )
        begin = at + DELIVERY + float(self.rng.exponential(DELIVERY_WAIT))
        self.synth.span(
            ("analytics", "analytics-0"),
            f"{self.synth.count:032x}",
            None,
            CONSUMER,
            "item-viewed process",
            begin,
            begin + float(self.rng.exponential(0.002)),
            {**topic, "messaging.consumer.group.name": "analytics-group"},
            links=[(trace, producer)],
        )


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> tuple[Shop, TraceImport]:
    model = Shop()
    path = model.synth.write(tmp_path_factory.mktemp("shop") / "shop.otlp.json")
    return model, import_traces([path], name="shop")


def seconds(text: str) -> float:
    from models.units import parse_duration

    return parse_duration(text)


# Structure -------------------------------------------------------------------------------


def test_the_operation_has_the_model_s_steps_in_order(shop: tuple[Shop, TraceImport]) -> None:
    _, result = shop
    steps = steps_of(result, "frontend", "GET-home")
    kinds = [next(iter(step)) for step in steps]
    assert kinds == [
        "work",
        "delay",
        "call",
        "parallel",
        "branch",
        "delay",
        "call",
        "delay",
        "call",
    ]
    assert calls_in(steps) == [
        "catalog.list", "pricing.quote", "reviews.get", "ads.show", "stock.check", "stock.check",
    ]  # fmt: skip
    assert steps[1] == {"delay": {"constant": "500us"}}  # 2 x HOP, the same for every call


def test_overlapping_calls_are_a_parallel_step(shop: tuple[Shop, TraceImport]) -> None:
    _, result = shop
    (parallel,) = [
        s["parallel"] for s in steps_of(result, "frontend", "GET-home") if "parallel" in s
    ]
    assert [calls_in(branch) for branch in parallel] == [["pricing.quote"], ["reviews.get"]]


@pytest.mark.theory
def test_a_call_probability_is_recovered(shop: tuple[Shop, TraceImport]) -> None:
    """The share of requests that call ads: binomial, standard error sqrt(p(1-p)/n)."""
    model, result = shop
    (branch,) = [s["branch"] for s in steps_of(result, "frontend", "GET-home") if "branch" in s]
    taken = next(option for option in branch if option["steps"])
    assert calls_in(taken["steps"]) == ["ads.show"]
    assert taken["probability"] == pytest.approx(model.ads / REQUESTS, abs=1e-4)  # exact share
    error = math.sqrt(ADS_PROBABILITY * (1 - ADS_PROBABILITY) / REQUESTS)
    assert abs(taken["probability"] - ADS_PROBABILITY) <= Z * error


# Times -------------------------------------------------------------------------------------


def test_self_time_is_the_duration_less_the_calls(shop: tuple[Shop, TraceImport]) -> None:
    """Deterministic: the written mean is the generated own work's sample mean (4 digits)."""
    model, result = shop
    work = steps_of(result, "frontend", "GET-home")[0]["work"]
    written = seconds(work["lognormal"]["mean"])
    assert written == pytest.approx(float(np.mean(model.front_work)), rel=5e-4)


@pytest.mark.theory
def test_self_time_mean_is_within_sampling_error(shop: tuple[Shop, TraceImport]) -> None:
    """Standard error of the mean of a lognormal of cv 1.5: 1.5 x 5 ms / sqrt(2000) = 0.17 ms;
    the bound is 3.89 of them plus the rounding to 4 significant digits."""
    _, result = shop
    work = steps_of(result, "frontend", "GET-home")[0]["work"]
    error = FRONT_CV * FRONT_MEAN / math.sqrt(REQUESTS)
    assert abs(seconds(work["lognormal"]["mean"]) - FRONT_MEAN) <= Z * error + 5e-4 * FRONT_MEAN


@pytest.mark.theory
def test_the_family_is_chosen_by_the_data(shop: tuple[Shop, TraceImport]) -> None:
    """Lognormal data (cv 1.5) and exponential data (catalog) get their own family; the
    exponential is kept against the gamma unless the likelihood-ratio test rejects it at
    level 1e-4 (fitting.PENALTY), the lognormal loses by far on exponential data."""
    _, result = shop
    families = {row.where: row.fit.family for row in result.fits if row.what == "work"}
    assert families["frontend.GET-home"] == "lognormal"
    assert families["catalog.list"] == "exponential"
    assert families["ads.show"] == "constant"


@pytest.mark.theory
@pytest.mark.parametrize(
    ("draw", "family"),
    [
        (lambda rng: rng.exponential(0.01, 3000), "exponential"),
        (lambda rng: rng.lognormal(math.log(0.01), 1.0, 3000), "lognormal"),
        (lambda rng: rng.gamma(9.0, 0.001, 3000), "gamma"),
    ],
)
def test_fit_families_on_clear_data(draw: Any, family: str) -> None:
    """3,000 samples of a clear case: exponential, lognormal (sigma 1), gamma (shape 9, where
    the lognormal's skew is far off); a wrong choice at these sizes is well below 1e-4."""
    fit = fit_times(list(draw(np.random.default_rng(11))))
    assert fit.family == family
    assert fit.p_value is not None and fit.p_value > 1e-4


def test_constant_and_empirical_fits() -> None:
    assert fit_times([0.002] * 5).spec == {"constant": "2ms"}
    assert fit_times([0.004]).spec == {"constant": "4ms"}
    assert fit_times([0.00005, 0.00007], tiny=1e-4).spec == {"constant": "60us"}
    samples = list(np.random.default_rng(3).exponential(0.01, 5000))
    fit = fit_times(samples, empirical=True)
    assert fit.family == "empirical" and len(fit.spec["empirical"]) == 1000
    loaded = np.mean([seconds(value) for value in fit.spec["empirical"]])
    assert loaded == pytest.approx(np.mean(samples), rel=0.02)  # quantiles: the tail is cut


@pytest.mark.theory
def test_the_arrival_rate_is_measured(shop: tuple[Shop, TraceImport]) -> None:
    """A Poisson count's relative standard error is 1 / sqrt(n)."""
    _, result = shop
    workload = result.scenario.document["workload"]
    assert list(workload) == ["GET-home"]
    flow = workload["GET-home"]
    assert flow["entry"] == "frontend.GET-home"
    rate = float(flow["arrivals"]["poisson"].removesuffix("/s"))
    assert abs(rate - RATE) <= Z * RATE / math.sqrt(REQUESTS)


# Capacity, topics ---------------------------------------------------------------------------


def test_replicas_are_instances(shop: tuple[Shop, TraceImport]) -> None:
    _, result = shop
    services = result.scenario.document["services"]
    assert services["frontend"]["replicas"] == 2
    assert "replicas" not in services["catalog"]
    comments = result.scenario.comments
    assert "a lower bound" in comments[("services", "frontend", "workers")]


def test_workers_are_the_most_requests_at_once_on_one_instance(tmp_path: Path) -> None:
    synth = Synth()
    for index, (instance, start, end) in enumerate(
        [("a", 0, 5), ("a", 1, 6), ("a", 2, 3), ("a", 5, 7), ("b", 0, 9), ("b", 1, 9)]
    ):
        synth.span(("api", instance), f"{index + 1:032x}", None, SERVER, "get", start, end)
    result = import_traces([synth.write(tmp_path / "t.json")])
    api = result.scenario.document["services"]["api"]
    assert (api["replicas"], api["workers"]) == (2, 3)  # a: 3 at t = 2; back to back is 1
    assert "(3 on a)" in result.scenario.comments[("services", "api", "workers")]


def test_topics_partitions_groups_and_delivery(shop: tuple[Shop, TraceImport]) -> None:
    model, result = shop
    document = result.scenario.document
    topic = document["topics"]["item-viewed"]
    assert topic["partitions"] == PARTITIONS
    handlings = [
        (float(span["startTimeUnixNano"]), float(span["endTimeUnixNano"]))
        for span in model.synth.resources[("analytics", "analytics-0")]
    ]
    at_once = max(sum(1 for b, e in handlings if b <= start < e) for start, _ in handlings)
    assert topic["subscribers"] == {
        "analytics": {"operation": "item-viewed-process", "concurrency": at_once}
    }
    comments = result.scenario.comments
    assert (
        "consumer group 'analytics-group'"
        in comments[("topics", "item-viewed", "subscribers", "analytics")]
    )
    # the 10th percentile of 3 ms + exponential(1 ms): 3 ms + 1 ms x ln(1 / 0.9)
    expected = DELIVERY + DELIVERY_WAIT * math.log(1 / 0.9)
    assert seconds(topic["delivery_latency"]["constant"]) == pytest.approx(expected, abs=1e-4)
    assert calls_in(steps_of(result, "catalog", "list")) == []
    assert steps_of(result, "catalog", "list")[1] == {"publish": "item-viewed"}


def test_a_queue_broker_makes_a_queue_topic_and_a_lone_consumer_a_publisher_flow(
    tmp_path: Path,
) -> None:
    synth = Synth()
    for index in range(20):
        attributes = {"messaging.system": "rabbitmq", "messaging.destination.name": "jobs"}
        synth.span(("worker", "w-0"), f"{index + 1:032x}", None, CONSUMER, "jobs process",
                   index, index + 0.5, attributes)  # fmt: skip
    result = import_traces([synth.write(tmp_path / "t.json")])
    document = result.scenario.document
    assert document["topics"]["jobs"]["type"] == "queue"
    assert "partitions" not in document["topics"]["jobs"]
    assert document["topics"]["jobs"]["subscribers"]["worker"]["operation"] == "jobs-process"
    assert document["workload"]["jobs-publisher"]["steps"] == [{"publish": "jobs"}]


# The file: loads, validates, runs -----------------------------------------------------------


def test_the_output_loads_validates_and_runs(
    shop: tuple[Shop, TraceImport], tmp_path: Path
) -> None:
    from sim import simulate

    _, result = shop
    text = scenario_yaml(result.scenario)
    assert yaml.safe_load(text) == result.scenario.document
    assert "# self time from 2,000 spans: mean" in text
    path = tmp_path / "shop.yaml"
    path.write_text(text)
    assert main(["validate", str(path)]) == 0
    document = {**result.scenario.document, "simulation": {"duration": 3, "seed": 1}}
    results = simulate(load_scenario(document), replications=1)
    assert results.flows["GET-home"].completed > 0


def test_empirical_times(tmp_path: Path) -> None:
    model = Shop(seed=3)
    result = import_traces([model.synth.write(tmp_path / "t.json")], empirical=True)
    work = steps_of(result, "frontend", "GET-home")[0]["work"]
    assert len(work["empirical"]) == 1000
    scenario = load_scenario(result.scenario.document)
    assert scenario.name == "imported-from-traces"


def test_trace_arrivals_are_written_to_csv(shop: tuple[Shop, TraceImport], tmp_path: Path) -> None:
    model, _ = shop
    path = model.synth.write(tmp_path / "t.json")
    result = import_traces([path], trace_arrivals=True, name="shop")
    flow = result.scenario.document["workload"]["GET-home"]
    assert flow["arrivals"] == {"trace": {"file": "shop-GET-home.arrivals.csv"}}
    csv = result.files["shop-GET-home.arrivals.csv"]
    times = [float(line) for line in csv.splitlines() if line and line[0].isdigit()]
    assert times == pytest.approx(list(model.arrivals - model.arrivals[0]), abs=2e-6)
    assert result.scenario.document["simulation"]["duration"] == f"{math.ceil(times[-1])}s"
    for name, content in {"shop.yaml": scenario_yaml(result.scenario), **result.files}.items():
        (tmp_path / name).write_text(content)
    assert load_scenario(tmp_path / "shop.yaml").workload["GET-home"] is not None
