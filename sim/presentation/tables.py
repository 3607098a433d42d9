"""Terminal tables of results (rich): what `archsim run`, `compare` and `sweep` show a
person (numbers as `sim.presentation.formatting` shows them)."""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from models.resilience import REASONS
from models.results import ResultsDocument
from sim.experiments.comparison import Comparison
from sim.experiments.sweep import SweepResults
from sim.presentation.formatting import MILLISECONDS as MS
from sim.presentation.formatting import fitted, new_table, number, with_interval


def flows_table(results: ResultsDocument) -> Table:
    """One row per flow: counts, throughput and response-time percentiles (ms)."""
    columns = ("flow", "arrived", "completed", "dropped", "failed", "throughput/s")
    latencies = ("mean", "p50", "p95", "p99", "p99.9", "completion mean")
    table = new_table("Flows (times in ms)", (*columns, *latencies), left=("flow",))
    for name, flow in results.flows.items():
        response = flow.response_time
        table.add_row(
            name,
            number(flow.arrived, digits=0),
            number(flow.completed, digits=0),
            number(flow.dropped, digits=0),
            number(flow.failed, digits=0),
            with_interval(flow, "throughput"),
            with_interval(response, "mean", MS),
            with_interval(response, "p50", MS),
            with_interval(response, "p95", MS),
            with_interval(response, "p99", MS),
            with_interval(response, "p999", MS),
            with_interval(flow.completion_time, "mean", MS),
        )
    return table


def services_table(results: ResultsDocument) -> Table:
    """One row per service: load, utilization, backlog and latency (ms)."""
    columns = (
        "service",
        "arrivals/s",
        "throughput/s",
        "utilization",
        "P(wait)",
        "queue",
        "in system",
        "wait mean",
        "resp mean",
        "resp p99",
        "dropped",
    )
    table = new_table(
        "Services (times in ms)",
        columns,
        left=("service",),
        caption="services that received no requests are not shown",
    )
    for name, service in results.services.items():
        if not service.arrival_rate:
            continue  # e.g. a service that only consumes messages
        table.add_row(
            name,
            with_interval(service, "arrival_rate"),
            with_interval(service, "throughput"),
            with_interval(service, "utilization", digits=3, high=1.0),
            with_interval(service, "p_wait", digits=3, high=1.0),
            with_interval(service.queue_length, "mean"),
            with_interval(service.in_system, "mean"),
            with_interval(service.waiting_time, "mean", MS),
            with_interval(service.response_time, "mean", MS),
            with_interval(service.response_time, "p99", MS),
            number(service.dropped, digits=0),
        )
    return table


def groups_table(results: ResultsDocument) -> Table:
    """One row per consumer group: throughput, utilization, lag and latency (ms)."""
    columns = (
        "topic/group",
        "published",
        "throughput/s",
        "utilization",
        "lag mean",
        "lag max",
        "lag final",
        "max partition lag",
        "wait mean",
        "sojourn mean",
        "sojourn p99",
    )
    table = new_table("Consumer groups (times in ms)", columns, left=("topic/group",))
    for topic_name, topic in results.topics.items():
        for group_name, group in topic.groups.items():
            lag = group.lag
            table.add_row(
                f"{topic_name}/{group_name}",
                number(topic.published, digits=0),
                with_interval(group, "throughput"),
                with_interval(group, "utilization", digits=3, high=1.0),
                with_interval(lag, "mean"),
                number(lag.max, digits=0),
                number(lag.final, digits=0),
                number(group.max_partition_lag, digits=0),
                with_interval(group.waiting_time, "mean", MS),
                with_interval(group.sojourn_time, "mean", MS),
                with_interval(group.sojourn_time, "p99", MS),
            )
    return table


def failures_table(results: ResultsDocument) -> Table:
    """One row per flow: success rate and failed requests by reason."""
    columns = ("flow", "success rate", *REASONS)
    table = new_table("Failures by reason (requests)", columns, left=("flow",))
    for name, flow in results.flows.items():
        if flow.failures is None:
            continue
        success = "-" if flow.success_rate is None else f"{flow.success_rate:.2%}"
        counts = [number(getattr(flow.failures, reason), digits=0) for reason in REASONS]
        table.add_row(name, success, *counts)
    return table


def worst_intervals_table(results: ResultsDocument) -> Table:
    """One row per flow with time-varying load: its sample interval with the highest p99."""
    table = new_table(
        "Worst interval per flow",
        ("flow", "interval ends at (s)", "its p99 (ms)"),
        left=("flow",),
        caption="the sample interval with the highest p99",
    )
    for name, flow in results.flows.items():
        worst = flow.worst_interval
        if worst is not None:
            table.add_row(
                name, with_interval(worst, "time", digits=1), with_interval(worst, "p99", MS)
            )
    return table


def calls_table(results: ResultsDocument) -> Table:
    """One row per caller and callee operation with a timeout, retries or a pattern."""
    columns = ("caller->callee", "calls", "attempts", "retries", "failures", "short-circuited")
    table = new_table(
        "Calls with timeouts, retries, breakers, bulkheads or fallbacks",
        (*columns, "fallbacks", "open"),
        left=("caller->callee",),
        caption="failures: failed attempts by reason; open: the time the breaker was open",
    )
    for label, call in (results.calls or {}).items():
        failed = ", ".join(
            f"{reason} {number(getattr(call.failures, reason), digits=0)}"
            for reason in REASONS
            if getattr(call.failures, reason)
        )
        table.add_row(
            label,
            number(call.calls, digits=0),
            number(call.attempts, digits=0),
            number(call.retries, digits=0),
            failed or "0",
            number(call.short_circuited, digits=0),
            number(call.fallbacks, digits=0),
            "-" if call.open_fraction is None else f"{call.open_fraction:.1%}",
        )
    return table


def faults_table(results: ResultsDocument) -> Table:
    """One row per fault: its window, the backlog's peak and the time to recover."""
    table = new_table(
        "Faults (backlog: requests at the target's services + lag of its groups)",
        ("target", "kind", "at (s)", "for (s)", "backlog peak", "recovery (s)"),
        left=("target", "kind"),
        caption="recovery: from the window's end until the backlog is back at its level before",
    )
    for fault in results.faults or []:
        kind = fault.kind if fault.windows is None else f"{fault.kind} ({fault.windows:g} windows)"
        table.add_row(
            fault.target,
            kind,
            number(fault.at, digits=0),
            number(fault.for_, digits=0),
            with_interval(fault, "backlog_peak", digits=0),
            "not within the run"
            if fault.recovery_time is None
            else with_interval(fault, "recovery_time", digits=1),
        )
    return table


def render_results(results: ResultsDocument, console: Console) -> None:
    """Print a results document (docs/results.md) as tables."""
    settings = results.settings
    variant = f" [variant {results.variant}]" if results.variant else ""
    header = Text.assemble(
        (f"{results.scenario}{variant}", "bold"),
        f"  duration {settings.duration:g} s after {settings.warmup:g} s warm-up, "
        f"{settings.replications} replication(s), seed {settings.seed}",
    )
    parts: list[Any] = [header, flows_table(results)]
    if any(flow.failures is not None for flow in results.flows.values()):
        parts.append(failures_table(results))
    if any(flow.worst_interval is not None for flow in results.flows.values()):
        parts.append(worst_intervals_table(results))
    if results.services:
        parts.append(services_table(results))
    if any(topic.groups for topic in results.topics.values()):
        parts.append(groups_table(results))
    if results.calls:
        parts.append(calls_table(results))
    if results.faults:
        parts.append(faults_table(results))
    for warning in results.warnings:
        parts.append(Text(f"warning: {warning}", style="bold yellow"))
    console.print(Group(*map(fitted, parts)))


def render_comparison(comparison: Comparison, console: Console) -> None:
    """Side by side: one table per flow with a row per candidate and its paired difference."""
    baseline = comparison.baseline
    parts: list[Any] = [
        Text.assemble(("Comparison", "bold"), f"  baseline: {baseline} (common random numbers)")
    ]
    for flow in comparison.candidates[baseline].flows:
        parts.append(_comparison_table(comparison, flow))
    parts.append(
        Text(
            f"* the paired 95% interval excludes zero; least backlog: "
            f"{comparison.winners.get('backlog')}"
        )
    )
    for name, results in comparison.candidates.items():
        for warning in results.warnings:
            parts.append(Text(f"warning [{name}]: {warning}", style="bold yellow"))
    console.print(Group(*map(fitted, parts)))


def _comparison_table(comparison: Comparison, flow: str) -> Table:
    """One flow: a row per candidate, its p99 change against the baseline, what it wins."""
    failures = any(
        results.flows[flow].success_rate is not None for results in comparison.candidates.values()
    )
    columns = ["candidate", "throughput/s", "mean", "p99", "completion mean"]
    columns += ["success rate"] if failures else []
    columns += ["p99 vs baseline", "winner"]
    table = new_table(f"Flow {flow} (times in ms)", columns, left=("candidate",))
    winners = comparison.winners.get(flow, {})
    for name, results in comparison.candidates.items():
        stats = results.flows[flow]
        differences = comparison.differences.get(name)
        p99 = differences.flows.get(flow, {}).get("p99") if differences else None
        change = "-"
        if p99 is not None and p99.mean is not None:
            marker = " *" if p99.significant else ""
            change = f"{p99.mean * MS:+,.2f}{marker}"
        won = [label for label, winner in winners.items() if winner == name]
        table.add_row(
            name,
            with_interval(stats, "throughput"),
            with_interval(stats.response_time, "mean", MS),
            with_interval(stats.response_time, "p99", MS),
            with_interval(stats.completion_time, "mean", MS),
            *([_percent(stats.success_rate)] if failures else []),
            change,
            ", ".join(won),
        )
    return table


def render_sweep(sweep: SweepResults, console: Console) -> None:
    """One table per flow: the swept value against throughput and latency percentiles."""
    parts: list[Any] = [Text.assemble(("Sweep", "bold"), f"  {sweep.parameter}")]
    for flow in sweep.flows():
        columns = ("value", "throughput/s", "mean", "p50", "p95", "p99", "warnings")
        table = new_table(f"Flow {flow} (times in ms)", columns)
        for value, results in zip(sweep.values, sweep.points, strict=True):
            stats = results.flows[flow]
            response = stats.response_time
            table.add_row(
                f"{value:g}",
                with_interval(stats, "throughput"),
                with_interval(response, "mean", MS),
                with_interval(response, "p50", MS),
                with_interval(response, "p95", MS),
                with_interval(response, "p99", MS),
                str(len(results.warnings)),
            )
        parts.append(table)
        landmarks = sweep.landmarks(flow)
        parts.append(
            Text(
                f"knee (mean response doubled): {_landmark(landmarks.get('knee'))}; "
                f"saturation (overload): {_landmark(landmarks.get('saturation'))}"
            )
        )
    console.print(Group(*map(fitted, parts)))


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def _landmark(value: Any) -> str:
    return "not reached" if value is None else f"{value:g}"
