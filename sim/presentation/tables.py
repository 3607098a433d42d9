"""Terminal tables of results (rich): what `archsim run` shows a person.

Times are shown in milliseconds, rates per second; a value with a 95% interval is shown as
``mean ±half-width``.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text


def _number(value: Any, scale: float = 1.0, digits: int = 2) -> str:
    if value is None:
        return "-"
    return f"{value * scale:,.{digits}f}"


def _with_interval(stats: dict[str, Any], key: str, scale: float = 1.0, digits: int = 2) -> str:
    text = _number(stats.get(key), scale, digits)
    interval = stats.get("ci95", {}).get(key)
    if interval is not None and stats.get(key) is not None:
        half_width = (interval[1] - interval[0]) / 2
        text += f" ±{half_width * scale:,.{digits}f}"
    return text


def flows_table(document: dict[str, Any]) -> Table:
    """One row per flow: counts, throughput and response-time percentiles (ms)."""
    table = Table(title="Flows (times in ms)", title_justify="left")
    for column in ("flow", "arrived", "completed", "dropped", "failed", "throughput/s"):
        table.add_column(column, justify="left" if column == "flow" else "right")
    for column in ("mean", "p50", "p95", "p99", "p99.9", "completion mean"):
        table.add_column(column, justify="right")
    for name, flow in document["flows"].items():
        response = flow["response_time"]
        table.add_row(
            name,
            _number(flow["arrived"], digits=0),
            _number(flow["completed"], digits=0),
            _number(flow["dropped"], digits=0),
            _number(flow["failed"], digits=0),
            _with_interval(flow, "throughput"),
            _with_interval(response, "mean", 1000),
            _with_interval(response, "p50", 1000),
            _with_interval(response, "p95", 1000),
            _with_interval(response, "p99", 1000),
            _with_interval(response, "p999", 1000),
            _with_interval(flow["completion_time"], "mean", 1000),
        )
    return table


def services_table(document: dict[str, Any]) -> Table:
    """One row per service: load, utilization, backlog and latency (ms)."""
    table = Table(
        title="Services (times in ms)",
        title_justify="left",
        caption="services that received no requests are not shown",
        caption_justify="left",
    )
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
    for column in columns:
        table.add_column(column, justify="left" if column == "service" else "right")
    for name, service in document["services"].items():
        if not service["arrival_rate"]:
            continue  # e.g. a service that only consumes messages
        table.add_row(
            name,
            _with_interval(service, "arrival_rate"),
            _with_interval(service, "throughput"),
            _with_interval(service, "utilization", digits=3),
            _with_interval(service, "p_wait", digits=3),
            _with_interval(service["queue_length"], "mean"),
            _with_interval(service["in_system"], "mean"),
            _with_interval(service["waiting_time"], "mean", 1000),
            _with_interval(service["response_time"], "mean", 1000),
            _with_interval(service["response_time"], "p99", 1000),
            _number(service["dropped"], digits=0),
        )
    return table


def groups_table(document: dict[str, Any]) -> Table:
    """One row per consumer group: throughput, utilization, lag and latency (ms)."""
    table = Table(title="Consumer groups (times in ms)", title_justify="left")
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
    for column in columns:
        table.add_column(column, justify="left" if column == "topic/group" else "right")
    for topic_name, topic in document["topics"].items():
        for group_name, group in topic["groups"].items():
            lag = group["lag"]
            table.add_row(
                f"{topic_name}/{group_name}",
                _number(topic["published"], digits=0),
                _with_interval(group, "throughput"),
                _with_interval(group, "utilization", digits=3),
                _with_interval(lag, "mean"),
                _number(lag["max"], digits=0),
                _number(lag["final"], digits=0),
                _number(group["max_partition_lag"], digits=0),
                _with_interval(group["waiting_time"], "mean", 1000),
                _with_interval(group["sojourn_time"], "mean", 1000),
                _with_interval(group["sojourn_time"], "p99", 1000),
            )
    return table


def render_results(document: dict[str, Any], console: Console) -> None:
    """Print a results document (docs/results.md) as tables."""
    settings = document["settings"]
    variant = f" [variant {document['variant']}]" if document.get("variant") else ""
    header = Text.assemble(
        (f"{document['scenario']}{variant}", "bold"),
        f"  duration {settings['duration']:g} s after {settings['warmup']:g} s warm-up, "
        f"{settings['replications']} replication(s), seed {settings['seed']}",
    )
    parts: list[Any] = [header, flows_table(document)]
    if document["services"]:
        parts.append(services_table(document))
    if any(topic["groups"] for topic in document.get("topics", {}).values()):
        parts.append(groups_table(document))
    for warning in document.get("warnings", []):
        parts.append(Text(f"warning: {warning}", style="bold yellow"))
    console.print(Group(*parts))


def render_comparison(document: dict[str, Any], console: Console) -> None:
    """Side by side: one table per flow with a row per candidate and its paired difference."""
    baseline = document["baseline"]
    parts: list[Any] = [
        Text.assemble(("Comparison", "bold"), f"  baseline: {baseline} (common random numbers)")
    ]
    candidates = document["candidates"]
    flows = list(candidates[baseline]["flows"])
    for flow in flows:
        table = Table(title=f"Flow {flow} (times in ms)", title_justify="left")
        for column in (
            "candidate",
            "throughput/s",
            "mean",
            "p99",
            "completion mean",
            "p99 vs baseline",
            "winner",
        ):
            table.add_column(column, justify="left" if column == "candidate" else "right")
        winners = document["winners"].get(flow, {})
        for name, results in candidates.items():
            stats = results["flows"][flow]
            difference = document["differences"].get(name, {}).get("flows", {}).get(flow, {})
            p99 = difference.get("p99")
            change = "-"
            if p99 and p99["mean"] is not None:
                marker = " *" if p99["significant"] else ""
                change = f"{p99['mean'] * 1000:+,.2f}{marker}"
            won = [label for label, winner in winners.items() if winner == name]
            table.add_row(
                name,
                _with_interval(stats, "throughput"),
                _with_interval(stats["response_time"], "mean", 1000),
                _with_interval(stats["response_time"], "p99", 1000),
                _with_interval(stats["completion_time"], "mean", 1000),
                change,
                ", ".join(won),
            )
        parts.append(table)
    parts.append(
        Text(
            f"* the paired 95% interval excludes zero; least backlog: "
            f"{document['winners'].get('backlog')}"
        )
    )
    for name, results in candidates.items():
        for warning in results.get("warnings", []):
            parts.append(Text(f"warning [{name}]: {warning}", style="bold yellow"))
    console.print(Group(*parts))


def render_sweep(document: dict[str, Any], console: Console) -> None:
    """One table per flow: the swept value against throughput and latency percentiles."""
    parameter = document["parameter"]
    parts: list[Any] = [Text.assemble(("Sweep", "bold"), f"  {parameter}")]
    points = document["points"]
    flows = list(points[0]["results"]["flows"]) if points else []
    for flow in flows:
        table = Table(title=f"Flow {flow} (times in ms)", title_justify="left")
        for column in ("value", "throughput/s", "mean", "p50", "p95", "p99", "warnings"):
            table.add_column(column, justify="right")
        for point in points:
            stats = point["results"]["flows"][flow]
            response = stats["response_time"]
            table.add_row(
                f"{point['value']:g}",
                _with_interval(stats, "throughput"),
                _with_interval(response, "mean", 1000),
                _with_interval(response, "p50", 1000),
                _with_interval(response, "p95", 1000),
                _with_interval(response, "p99", 1000),
                str(len(point["results"]["warnings"])),
            )
        parts.append(table)
        landmarks = document["landmarks"].get(flow, {})
        parts.append(
            Text(
                f"knee (mean response doubled): {_landmark(landmarks.get('knee'))}; "
                f"saturation (overload): {_landmark(landmarks.get('saturation'))}"
            )
        )
    console.print(Group(*parts))


def _landmark(value: Any) -> str:
    return "not reached" if value is None else f"{value:g}"
