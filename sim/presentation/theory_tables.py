"""Presenting queueing-theory predictions: `archsim analyze` tables, and theory beside the
simulation in `archsim run`.

A gap is flagged where the prediction is exact for the simulator's semantics and the
simulated mean lies outside its 95% confidence interval widened to include the prediction's
own rounding (0.1%): then either the model or the simulation is wrong, and the user should
know. Approximate predictions are shown for orientation only.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

RELATIVE_SLACK = 1e-3

# (kind, label, path in the simulated entity, path in the predicted entity, scale, unit)
COMPARED: tuple[tuple[str, str, tuple[str, ...], tuple[str, ...], float, str], ...] = (
    ("flow", "response mean", ("response_time", "mean"), ("response_time", "mean"), 1000, "ms"),
    (
        "flow",
        "completion mean",
        ("completion_time", "mean"),
        ("completion_time", "mean"),
        1000,
        "ms",
    ),
    ("service", "utilization", ("utilization",), ("utilization",), 1, ""),
    ("service", "waiting mean", ("waiting_time", "mean"), ("waiting_time", "mean"), 1000, "ms"),
    ("service", "response mean", ("response_time", "mean"), ("response_time", "mean"), 1000, "ms"),
    ("service", "in system", ("in_system", "mean"), ("in_system", "mean"), 1, ""),
    ("service", "loss probability", ("loss_probability",), ("loss_probability",), 1, ""),
    ("group", "lag mean", ("lag", "mean"), ("lag", "mean"), 1, ""),
    ("group", "sojourn mean", ("sojourn_time", "mean"), ("sojourn_time", "mean"), 1000, "ms"),
)


def _dig(node: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def _interval(node: dict[str, Any], path: tuple[str, ...]) -> list[float] | None:
    parent = _dig(node, path[:-1]) if len(path) > 1 else node
    if not isinstance(parent, dict):
        return None
    interval = parent.get("ci95", {}).get(path[-1])
    return interval if isinstance(interval, list) else None


def _pairs(
    simulated: dict[str, Any], predicted: dict[str, Any]
) -> Iterator[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    for name, flow in simulated["flows"].items():
        if name in predicted.get("flows", {}):
            yield "flow", name, flow, predicted["flows"][name]
    for name, service in simulated["services"].items():
        if name in predicted.get("services", {}) and service.get("arrival_rate"):
            yield "service", name, service, predicted["services"][name]
    for topic_name, topic in simulated.get("topics", {}).items():
        predicted_groups = predicted.get("topics", {}).get(topic_name, {}).get("groups", {})
        for group_name, group in topic["groups"].items():
            if group_name in predicted_groups:
                yield "group", f"{topic_name}/{group_name}", group, predicted_groups[group_name]


def comparisons(simulated: dict[str, Any], predicted: dict[str, Any]) -> list[dict[str, Any]]:
    """Every simulated mean beside its prediction, with the gap flag where exact."""
    rows = []
    for kind, name, sim_entity, theory_entity in _pairs(simulated, predicted):
        for row_kind, label, sim_path, theory_path, scale, unit in COMPARED:
            if row_kind != kind:
                continue
            value = _dig(sim_entity, sim_path)
            prediction = _dig(theory_entity, theory_path)
            if value is None or prediction is None:
                continue
            exact = bool(theory_entity.get("exact")) and not (
                label == "completion mean" and not theory_entity.get("completion_exact", True)
            )
            interval = _interval(sim_entity, sim_path)
            gap = False
            if exact and interval is not None:
                slack = RELATIVE_SLACK * abs(prediction)
                gap = not (interval[0] - slack <= prediction <= interval[1] + slack)
            rows.append(
                {
                    "kind": kind,
                    "name": name,
                    "quantity": label,
                    "simulated": value,
                    "ci95": interval,
                    "predicted": prediction,
                    "method": theory_entity.get("method", ""),
                    "exact": exact,
                    "gap": gap,
                    "scale": scale,
                    "unit": unit,
                }
            )
    return rows


def gap_warnings(rows: list[dict[str, Any]]) -> list[str]:
    """A sentence for every exact prediction outside the simulation's confidence interval."""
    return [
        f"{row['kind']} '{row['name']}': simulated {row['quantity']} "
        f"{row['simulated'] * row['scale']:.4g}{row['unit']} differs from the exact prediction "
        f"{row['predicted'] * row['scale']:.4g}{row['unit']} ({row['method']}) by more than "
        f"its 95% confidence interval"
        for row in rows
        if row["gap"]
    ]


def theory_table(rows: list[dict[str, Any]]) -> Table:
    """Simulated mean, its interval and the prediction side by side."""
    table = Table(
        title="Theory beside the simulation",
        title_justify="left",
        caption="exact: the formula is exact for this case; ! = outside the 95% interval",
        caption_justify="left",
    )
    for column in ("entity", "quantity", "simulated", "95% interval", "predicted", "method"):
        table.add_column(
            column, justify="left" if column in ("entity", "quantity", "method") else "right"
        )
    for row in rows:
        scale, unit = row["scale"], row["unit"]
        interval = row["ci95"]
        shown = (
            f"{interval[0] * scale:,.4g} .. {interval[1] * scale:,.4g}"
            if interval is not None
            else "-"
        )
        flag = " !" if row["gap"] else ""
        table.add_row(
            f"{row['kind']} {row['name']}",
            f"{row['quantity']}{f' ({unit})' if unit else ''}",
            f"{row['simulated'] * scale:,.4g}",
            shown,
            f"{row['predicted'] * scale:,.4g}{flag}",
            f"{'exact' if row['exact'] else 'approx.'}: {row['method']}",
        )
    return table


def render_prediction(document: dict[str, Any], console: Console) -> None:
    """`archsim analyze`: the predicted values, capacity and bottleneck as tables."""
    parts: list[Any] = [
        Text.assemble((document["scenario"], "bold"), "  queueing-theory prediction")
    ]
    flows = Table(title="Flows (times in ms)", title_justify="left")
    for column in (
        "flow",
        "rate/s",
        "max rate/s",
        "headroom",
        "response mean",
        "completion mean",
        "method",
    ):
        flows.add_column(column, justify="left" if column in ("flow", "method") else "right")
    for name, flow in document["flows"].items():
        flows.add_row(
            name,
            _fmt(flow.get("arrival_rate")),
            _fmt(flow.get("max_throughput")),
            _percent(flow.get("headroom")),
            _fmt(_dig(flow, ("response_time", "mean")), 1000),
            _fmt(_dig(flow, ("completion_time", "mean")), 1000),
            _method(flow),
        )
    parts.append(flows)
    services = Table(title="Services (times in ms)", title_justify="left")
    for column in (
        "service",
        "arrivals/s",
        "utilization",
        "P(wait)",
        "wait mean",
        "resp mean",
        "in system",
        "loss",
        "method",
    ):
        services.add_column(column, justify="left" if column in ("service", "method") else "right")
    for name, service in document["services"].items():
        if not service.get("arrival_rate"):
            continue
        services.add_row(
            name,
            _fmt(service.get("arrival_rate")),
            _fmt(service.get("utilization"), digits=3),
            _fmt(service.get("p_wait"), digits=3),
            _fmt(_dig(service, ("waiting_time", "mean")), 1000),
            _fmt(_dig(service, ("response_time", "mean")), 1000),
            _fmt(_dig(service, ("in_system", "mean"))),
            _fmt(service.get("loss_probability"), digits=4),
            _method(service),
        )
    parts.append(services)
    groups = Table(title="Consumer groups (times in ms)", title_justify="left")
    for column in (
        "topic/group",
        "throughput/s",
        "utilization",
        "lag mean",
        "wait mean",
        "sojourn mean",
        "method",
    ):
        groups.add_column(
            column, justify="left" if column in ("topic/group", "method") else "right"
        )
    for topic_name, topic in document.get("topics", {}).items():
        for group_name, group in topic.get("groups", {}).items():
            groups.add_row(
                f"{topic_name}/{group_name}",
                _fmt(group.get("throughput")),
                _fmt(group.get("utilization"), digits=3),
                _fmt(_dig(group, ("lag", "mean"))),
                _fmt(_dig(group, ("waiting_time", "mean")), 1000),
                _fmt(_dig(group, ("sojourn_time", "mean")), 1000),
                _method(group),
            )
    if groups.row_count:
        parts.append(groups)
    bottleneck = document.get("bottleneck")
    if bottleneck:
        parts.append(
            Text(
                f"bottleneck: {bottleneck['kind']} '{bottleneck['name']}' "
                f"(utilization {bottleneck['utilization']:.3f} now; the first to saturate "
                f"as the load grows)"
            )
        )
    for warning in document.get("warnings", []):
        parts.append(Text(f"warning: {warning}", style="bold yellow"))
    console.print(Group(*parts))


def _fmt(value: Any, scale: float = 1.0, digits: int = 2) -> str:
    if value is None:
        return "-"
    return f"{value * scale:,.{digits}f}"


def _percent(value: Any) -> str:
    return "-" if value is None else f"{value:+.0%}"


def _method(entity: dict[str, Any]) -> str:
    stability = "" if entity.get("stable", True) else "UNSTABLE; "
    exactness = "exact" if entity.get("exact") else "approx."
    return f"{stability}{exactness}: {entity.get('method', '')}"
