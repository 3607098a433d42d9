"""Presenting queueing-theory predictions: `archsim analyze` tables, and theory beside the
simulation in `archsim run`.

A gap is flagged where the prediction is exact for the simulator's semantics and the
simulated mean lies outside its 95% confidence interval widened to include the prediction's
own rounding (0.1%): then either the model or the simulation is wrong, and the user should
know. Approximate predictions are shown for orientation only.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from models.analysis.prediction import (
    PredictedFlow,
    PredictedGroup,
    PredictedService,
    Prediction,
)
from models.results import Interval, Record, ResultsDocument
from sim.presentation.formatting import MILLISECONDS, new_table, number

RELATIVE_SLACK = 1e-3

Predicted = PredictedFlow | PredictedService | PredictedGroup


@dataclass(frozen=True)
class Compared:
    """One quantity compared: where it is in an entity of both documents, and how shown."""

    kind: str
    """``flow``, ``service`` or ``group``."""
    label: str
    path: str
    """Attribute path in the predicted entity, e.g. ``"response_time.mean"`` (the same keys
    in the simulated entity)."""
    scale: float = 1.0
    unit: str = ""
    exactness: tuple[str, ...] = ("exact",)
    """The predicted entity's flags that must all be true for the prediction to be exact."""


COMPARED = (
    Compared("flow", "response mean", "response_time.mean", MILLISECONDS, "ms"),
    Compared(
        "flow",
        "completion mean",
        "completion_time.mean",
        MILLISECONDS,
        "ms",
        ("exact", "completion_exact"),
    ),
    Compared("flow", "success rate", "success_rate", exactness=("success_exact",)),
    Compared("service", "utilization", "utilization"),
    Compared("service", "waiting mean", "waiting_time.mean", MILLISECONDS, "ms"),
    Compared("service", "response mean", "response_time.mean", MILLISECONDS, "ms"),
    Compared("service", "in system", "in_system.mean"),
    Compared("service", "loss probability", "loss_probability"),
    Compared("service", "availability", "availability"),
    Compared("group", "lag mean", "lag.mean"),
    Compared("group", "sojourn mean", "sojourn_time.mean", MILLISECONDS, "ms"),
)


@dataclass(frozen=True)
class TheoryRow:
    """One simulated mean beside its prediction."""

    kind: str
    name: str
    quantity: str
    simulated: float
    ci95: tuple[float, float] | None
    predicted: float
    method: str
    exact: bool
    gap: bool
    """The prediction is exact and outside the simulation's 95% interval (widened by
    `RELATIVE_SLACK`)."""
    scale: float
    unit: str


def _simulated(entity: Record | None, path: str) -> tuple[float | None, Interval | None]:
    """The simulated value at attribute path `path` of a simulated entity (e.g.
    ``"response_time.mean"``) and its 95% interval if it has one."""
    if entity is None:
        return None, None
    *parents, last = path.split(".")
    record: Record = attrgetter(".".join(parents))(entity) if parents else entity
    interval = (record.ci95 or {}).get(last)
    return getattr(record, last), interval


def _pairs(
    simulated: ResultsDocument, predicted: Prediction
) -> Iterator[tuple[str, str, Record | None, Predicted]]:
    """(kind, name, simulated entity or None, predicted entity) of every predicted entity."""
    for name, flow in predicted.flows.items():
        yield "flow", name, simulated.flows.get(name), flow
    for name, service in predicted.services.items():
        yield "service", name, simulated.services.get(name), service
    for topic_name, topic in predicted.topics.items():
        simulated_topic = simulated.topics.get(topic_name)
        for group_name, group in topic.groups.items():
            simulated_group = simulated_topic.groups.get(group_name) if simulated_topic else None
            yield "group", f"{topic_name}/{group_name}", simulated_group, group


def comparisons(simulated: ResultsDocument, predicted: Prediction) -> list[TheoryRow]:
    """Every simulated mean beside its prediction, with the gap flag where exact."""
    rows = []
    for kind, name, entity, prediction_of in _pairs(simulated, predicted):
        if kind == "service" and not _simulated(entity, "arrival_rate")[0]:
            continue
        for compared in COMPARED:
            if compared.kind != kind:
                continue
            value, interval = _simulated(entity, compared.path)
            prediction = attrgetter(compared.path)(prediction_of)
            if value is None or prediction is None:
                continue
            exact = all(getattr(prediction_of, flag) for flag in compared.exactness)
            gap = False
            if exact and interval is not None:
                slack = RELATIVE_SLACK * abs(prediction)
                gap = not (interval[0] - slack <= prediction <= interval[1] + slack)
            rows.append(
                TheoryRow(
                    kind=kind,
                    name=name,
                    quantity=compared.label,
                    simulated=value,
                    ci95=interval,
                    predicted=prediction,
                    method=prediction_of.method,
                    exact=exact,
                    gap=gap,
                    scale=compared.scale,
                    unit=compared.unit,
                )
            )
    return rows


def gap_warnings(rows: list[TheoryRow]) -> list[str]:
    """A sentence for every exact prediction outside the simulation's confidence interval."""
    return [
        f"{row.kind} '{row.name}': simulated {row.quantity} "
        f"{row.simulated * row.scale:.4g}{row.unit} differs from the exact prediction "
        f"{row.predicted * row.scale:.4g}{row.unit} ({row.method}) by more than "
        f"its 95% confidence interval"
        for row in rows
        if row.gap
    ]


def theory_table(rows: list[TheoryRow]) -> Table:
    """Simulated mean, its interval and the prediction side by side."""
    table = new_table(
        "Theory beside the simulation",
        ("entity", "quantity", "simulated", "95% interval", "predicted", "method"),
        left=("entity", "quantity", "method"),
        caption="exact: the formula is exact for this case; ! = outside the 95% interval",
    )
    for row in rows:
        scale, unit, interval = row.scale, row.unit, row.ci95
        shown = (
            f"{interval[0] * scale:,.4g} .. {interval[1] * scale:,.4g}"
            if interval is not None
            else "-"
        )
        flag = " !" if row.gap else ""
        table.add_row(
            f"{row.kind} {row.name}",
            f"{row.quantity}{f' ({unit})' if unit else ''}",
            f"{row.simulated * scale:,.4g}",
            shown,
            f"{row.predicted * scale:,.4g}{flag}",
            f"{'exact' if row.exact else 'approx.'}: {row.method}",
        )
    return table


def render_prediction(prediction: Prediction, console: Console) -> None:
    """`archsim analyze`: the predicted values, capacity and bottleneck as tables."""
    parts: list[Any] = [
        Text.assemble((prediction.scenario, "bold"), "  queueing-theory prediction"),
        _flow_table(prediction),
        _service_table(prediction),
    ]
    groups = _group_table(prediction)
    if groups.row_count:
        parts.append(groups)
    parts.extend(_notes(prediction))
    console.print(Group(*parts))


def _flow_table(prediction: Prediction) -> Table:
    """One row per flow: rates, capacity, headroom, mean response and completion times."""
    table = new_table(
        "Flows (times in ms)",
        (
            "flow",
            "rate/s",
            "max rate/s",
            "headroom",
            "response mean",
            "completion mean",
            "method",
        ),
        ("flow", "method"),
    )
    for name, flow in prediction.flows.items():
        table.add_row(
            name,
            number(flow.arrival_rate),
            number(flow.max_throughput),
            _percent(flow.headroom),
            number(flow.response_time.mean, MILLISECONDS),
            number(flow.completion_time.mean, MILLISECONDS),
            _method(flow),
        )
    return table


def _service_table(prediction: Prediction) -> Table:
    """One row per service with traffic: load, waiting, response, backlog and loss."""
    table = new_table(
        "Services (times in ms)",
        (
            "service",
            "arrivals/s",
            "utilization",
            "P(wait)",
            "wait mean",
            "resp mean",
            "in system",
            "loss",
            "method",
        ),
        ("service", "method"),
    )
    for name, service in prediction.services.items():
        if not service.arrival_rate:
            continue
        table.add_row(
            name,
            number(service.arrival_rate),
            number(service.utilization, digits=3),
            number(service.p_wait, digits=3),
            number(service.waiting_time.mean, MILLISECONDS),
            number(service.response_time.mean, MILLISECONDS),
            number(service.in_system.mean),
            number(service.loss_probability, digits=4),
            _method(service),
        )
    return table


def _group_table(prediction: Prediction) -> Table:
    """One row per consumer group: throughput, utilization, lag, waiting and sojourn."""
    table = new_table(
        "Consumer groups (times in ms)",
        (
            "topic/group",
            "throughput/s",
            "utilization",
            "lag mean",
            "wait mean",
            "sojourn mean",
            "method",
        ),
        ("topic/group", "method"),
    )
    for topic_name, topic in prediction.topics.items():
        for group_name, group in topic.groups.items():
            table.add_row(
                f"{topic_name}/{group_name}",
                number(group.throughput),
                number(group.utilization, digits=3),
                number(group.lag.mean),
                number(group.waiting_time.mean, MILLISECONDS),
                number(group.sojourn_time.mean, MILLISECONDS),
                _method(group),
            )
    return table


def _notes(prediction: Prediction) -> list[Text]:
    """The bottleneck and the warnings, one line each."""
    notes = []
    neck = prediction.bottleneck
    if neck is not None:
        notes.append(
            Text(
                f"bottleneck: {neck.kind} '{neck.name}' (utilization {neck.utilization:.3f} "
                f"now; the first to saturate as the load grows)"
            )
        )
    notes.extend(
        Text(f"warning: {warning}", style="bold yellow") for warning in prediction.warnings
    )
    return notes


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:+.0%}"


def _method(entity: Predicted) -> str:
    stability = "" if entity.stable else "UNSTABLE; "
    exactness = "exact" if entity.exact else "approx."
    return f"{stability}{exactness}: {entity.method}"
