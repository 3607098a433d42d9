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
    table = Table(title="Services (times in ms)", title_justify="left")
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


def render_results(document: dict[str, Any], console: Console) -> None:
    """Print a results document (DESIGN §3) as tables."""
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
    for warning in document.get("warnings", []):
        parts.append(Text(f"warning: {warning}", style="bold yellow"))
    console.print(Group(*parts))
