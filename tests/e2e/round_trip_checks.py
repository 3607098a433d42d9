"""The checks of the round trip of traces (tests/e2e/test_trace_round_trip.py, whose
docstring lists what is compared and within which bands; test_trace_round_trip_checks.py
shows that they fail on a wrong import): `compare_structure`, the imported scenario against
the original, and the comparisons it makes (counts of calls and publishes, work, capacity,
topics, flows and their rates). Also `round_trip_seed`, the seed of a round-trip test, which
a module registers as its `seed` fixture: ``seed = pytest.fixture(round_trip_seed,
name="seed")``.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from scipy import stats

from models.arrivals import MmppArrivals, SinusoidArrivals, TraceArrivals
from models.schema import PoissonArrivals, ProfileArrivals, Scenario
from tests.e2e.round_trip_model import NONE, Counts, Facts
from tests.theory.conftest import ALPHA, base_seed, seed_shift, t_quantile

SAMPLE = 0.5
PROBABILITY_SLACK = 1e-4
"""Written probabilities have 4 significant digits (branch weights 6 decimals)."""
TIME_SLACK = 5e-4
"""Written times have 4 significant digits: at most 0.05% off."""


def round_trip_seed(request: pytest.FixtureRequest) -> int:
    """This test's seed: a CRC-32 of its name plus ARCHSIM_TEST_SEED_SHIFT (never chosen)."""
    return base_seed(request.path.name, request.node.name) + seed_shift()


class Checks:
    """Collects what differs, so that one failure names every difference of a scenario."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.problems: list[str] = []
        self.compared = 0

    def expect(self, ok: bool, what: str) -> None:
        self.compared += 1
        if not ok:
            self.problems.append(what)

    def done(self) -> None:
        assert not self.problems, f"{self.label}:\n  " + "\n  ".join(self.problems)


def binomial_band(trials: int, probability: float) -> tuple[float, float]:
    """The shares of `trials` that Binomial(trials, probability) leaves with probability at
    most ALPHA / 2 on each side, widened by `PROBABILITY_SLACK`."""
    low = float(stats.binom.ppf(ALPHA / 2, trials, probability)) / trials
    high = float(stats.binom.isf(ALPHA / 2, trials, probability)) / trials
    return low - PROBABILITY_SLACK, high + PROBABILITY_SLACK


def compare_counts(
    checks: Checks, where: str, original: Counts, imported: Counts, executions: int
) -> None:
    """The imported distribution of an action's count per execution against the original's:
    each count's share within its binomial band; no count the original never makes."""
    for count in sorted(original.keys() | imported.keys()):
        share = imported.get(count, 0.0)
        if count not in original:
            checks.expect(share == 0.0, f"{where}: made {count} times in {share:.4g} (never)")
            continue
        low, high = binomial_band(executions, original[count])
        checks.expect(
            low <= share <= high,
            f"{where}: made {count} times in {share:.5g} of {executions} executions, "
            f"probability {original[count]:.5g} (binomial band [{low:.5g}, {high:.5g}])",
        )


def compare_structure(
    original: Scenario, imported: Scenario, report: dict[str, Any], label: str
) -> Checks:
    """The imported scenario against the original (test_trace_round_trip.py's docstring),
    with the report of `archsim import traces --json`."""
    checks = Checks(label)
    before, after = Facts(original), Facts(imported)
    operations, topics = before.reachable()
    checks.expect(
        set(after.operations) == operations,
        f"operations {sorted(after.operations)}, expected {sorted(operations)}",
    )
    faulted = {getattr(fault, "service", None) for fault in original.faults}
    asynchronous = {name for name, spec in original.services.items() if not spec.blocking_calls}
    fits = {row["where"]: row for row in report["fits"] if row["what"] == "work"}
    for name in sorted(operations & set(after.operations)):
        old, new, fit = before.operations[name], after.operations[name], fits[name]
        service = name.split(".")[0]
        if old.resilient:
            extra = set(new.actions) - set(old.actions) - old.possible
            checks.expect(not extra, f"{name}: actions {sorted(extra)} the original never makes")
            continue
        for key in sorted(old.actions.keys() | new.actions.keys()):
            if key[0] == "call" and key[1].split(".")[0] in faulted:
                continue  # (calls into a faulted service fail: counted as not made)
            before_counts, after_counts = old.actions.get(key, NONE), new.actions.get(key, NONE)
            where = f"{name} {key[0]} {key[1]}"
            compare_counts(checks, where, before_counts, after_counts, fit["count"])
        if service not in faulted | asynchronous and old.self_time is not None:
            compare_work(checks, name, old.self_time, new.self_time or 0.0, fit)
    compare_capacity(checks, original, imported)
    compare_topics(checks, original, imported, topics)
    compare_flows(checks, original, imported, report)
    return checks


def compare_work(
    checks: Checks, name: str, expected: float, written: float, fit: dict[str, Any]
) -> None:
    """The written mean work against the original's: the t band of the mean of the
    report's `count` self times (their mean of n >= 150 spans is near normal: the skewness
    of the examples' times over sqrt(n) is at most 0.4 here), plus the 4 digits written."""
    count, mean, cv = fit["count"], fit["mean"], fit["cv"]
    if count < 2:
        return
    deviation = cv * mean * math.sqrt(count / (count - 1))
    tolerance = t_quantile(count) * deviation / math.sqrt(count) + TIME_SLACK * expected
    checks.expect(
        abs(written - expected) <= tolerance,
        f"{name}: work {written * 1e3:.5g} ms, original {expected * 1e3:.5g} ms "
        f"(tolerance {tolerance * 1e3:.3g} ms: t SE of {count} spans + 0.05%)",
    )


def compare_capacity(checks: Checks, original: Scenario, imported: Scenario) -> None:
    """Replicas equal (not autoscaled), workers at most the original's (a lower bound; not
    for an async-I/O service, whose requests waiting for replies hold no worker)."""
    scaled = {
        service
        for topic in original.topics.values()
        for service, subscriber in topic.subscribers.items()
        if subscriber.autoscale is not None
    }
    for name, service in imported.services.items():
        was = original.services[name]
        if was.autoscale is None and name not in scaled:  # (a group's consumers: replicas)
            checks.expect(
                service.replicas == was.replicas,
                f"{name}: {service.replicas} replicas, original {was.replicas}",
            )
        if was.workers != "unlimited" and was.blocking_calls:
            checks.expect(
                service.workers != "unlimited" and service.workers <= was.workers,
                f"{name}: {service.workers} workers, above the original's {was.workers}",
            )


def compare_topics(
    checks: Checks, original: Scenario, imported: Scenario, reached: set[str]
) -> None:
    """The topics reached: type, partitions, groups and handlers, consumer threads (at most
    the original's), delivery latency (at least the original's)."""
    checks.expect(
        set(imported.topics) == reached, f"topics {sorted(imported.topics)}, {sorted(reached)}"
    )
    for name in sorted(reached & set(imported.topics)):
        was, topic = original.topics[name], imported.topics[name]
        checks.expect(topic.type == was.type, f"{name}: type {topic.type}, original {was.type}")
        checks.expect(
            topic.partitions == was.partitions,
            f"{name}: {topic.partitions} partitions, original {was.partitions}",
        )
        handlers = {s: o.operation for s, o in was.subscribers.items()}
        groups = {s: o.operation for s, o in topic.subscribers.items()}
        checks.expect(groups == handlers, f"{name}: groups {groups}, original {handlers}")
        for service, subscriber in topic.subscribers.items():
            group = was.subscribers.get(service)
            if group is not None and group.autoscale is None:
                checks.expect(
                    subscriber.concurrency <= group.concurrency,
                    f"{name}: {service} has {subscriber.concurrency} consumer threads, above "
                    f"the original's {group.concurrency}",
                )
        delivery = 0.0 if was.delivery_latency is None else was.delivery_latency.mean
        written = 0.0 if topic.delivery_latency is None else topic.delivery_latency.mean
        checks.expect(
            written >= delivery * (1 - TIME_SLACK),
            f"{name}: delivery {written:.6g} s below the original's {delivery:.6g} s",
        )


def compare_flows(
    checks: Checks, original: Scenario, imported: Scenario, report: dict[str, Any]
) -> None:
    """Flow names, entries and rates (test_trace_round_trip.py's docstring)."""
    checks.expect(
        set(imported.workload) == set(original.workload),
        f"flows {sorted(imported.workload)}, original {sorted(original.workload)}",
    )
    rows = {row["name"]: row for row in report["flows"]}
    start = original.simulation.warmup
    end = start + original.simulation.duration
    for name, flow in original.workload.items():
        if flow.entry is not None and name in imported.workload:
            service, _, operation = flow.entry.partition(".")
            entry = f"{service}.{original.operation(service, operation or None)[0]}"
            got = imported.workload[name].entry
            checks.expect(got == entry, f"flow {name}: entry {got}, original {entry}")
    rates = [total_rate(original, time) for time in (start, end)]
    if min(rates) <= 0:
        return  # (a flow whose rate at the ends is not known: the window is not bounded)
    ends = sum(-math.log(ALPHA / 2) / (SAMPLE * rate) for rate in rates)
    for name, flow in original.workload.items():
        known = expected_arrivals(flow.arrivals, start, end)
        if known is None or name not in rows or flow.clients is not None:
            continue
        count, kind = known
        if kind == "poisson":
            low = float(stats.poisson.ppf(ALPHA / 2, SAMPLE * count))
            high = float(stats.poisson.isf(ALPHA / 2, SAMPLE * count))
        else:
            low = float(stats.binom.ppf(ALPHA / 2, round(count), SAMPLE))
            high = float(stats.binom.isf(ALPHA / 2, round(count), SAMPLE))
        lowest = low / SAMPLE / (end - start + ends)
        highest = high / SAMPLE / max(end - start - ends, 1e-9)
        rate = imported.workload[name].arrivals
        written = rate.poisson if isinstance(rate, PoissonArrivals) else math.nan
        mean = count / (end - start)
        checks.expect(
            lowest * (1 - TIME_SLACK) <= written <= highest * (1 + TIME_SLACK),
            f"flow {name}: rate {written:.5g}/s, original {mean:.5g}/s over the measured "
            f"period (band [{lowest:.5g}, {highest:.5g}]: the count at {ALPHA:g}, the "
            f"window's ends within {ends:.3g} s)",
        )


def expected_arrivals(arrivals: Any, start: float, end: float) -> tuple[float, str] | None:
    """(the expected arrivals in [start, end), "poisson" or "binomial" (a replayed file,
    each traced with probability `SAMPLE`)); None when the count is not Poisson."""
    if isinstance(arrivals, PoissonArrivals):
        return arrivals.poisson * (end - start), "poisson"
    if isinstance(arrivals, ProfileArrivals):
        changes = arrivals.profile
        total = 0.0
        for position, change in enumerate(changes):
            stop = changes[position + 1].at if position + 1 < len(changes) else math.inf
            total += change.rate * max(0.0, min(stop, end) - max(change.at, start))
        return total, "poisson"
    if isinstance(arrivals, SinusoidArrivals):
        return arrivals.sinusoid.integral(start, end), "poisson"
    if isinstance(arrivals, TraceArrivals):
        return arrivals.trace.count_between(start, end), "binomial"
    return None


def total_rate(scenario: Scenario, time: float) -> float:
    """The arrival rate of all flows at `time` (a replayed file: over the second around
    it; an MMPP: its lowest), for the gaps at the ends of the window; 0 when unknown."""
    total = 0.0
    for flow in scenario.workload.values():
        arrivals = flow.arrivals
        if flow.clients is not None or arrivals is None:
            return 0.0
        if isinstance(arrivals, PoissonArrivals):
            total += arrivals.poisson
        elif isinstance(arrivals, ProfileArrivals):
            total += [c.rate for c in arrivals.profile if c.at <= time][-1]
        elif isinstance(arrivals, SinusoidArrivals):
            total += arrivals.sinusoid.rate(time)
        elif isinstance(arrivals, TraceArrivals):
            total += arrivals.trace.count_between(max(0.0, time - 0.5), time + 0.5)
        elif isinstance(arrivals, MmppArrivals):
            total += min(arrivals.mmpp.rates)
        else:
            return 0.0
    return total
