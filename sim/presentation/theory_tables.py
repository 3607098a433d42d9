"""Presenting queueing-theory predictions: `archsim analyze` tables, and theory beside the
simulation in `archsim run`.

A gap is flagged where the prediction is exact for the simulator's semantics and the
simulated mean lies farther from it than chance explains: outside its confidence interval
at `GAP_CONFIDENCE` (99.9%), widened to include the prediction's own rounding (0.1%). Then
either the model or the simulation is wrong, and the user should know. The 95% interval
that the table shows is not the test: a run compares about ten exact means, and at 95%
each, four runs in ten would warn by chance; at 99.9% about one in a hundred does. The
wider interval is the 95% one scaled by t_{1 - a/2, n - 1} / t_{0.975, n - 1} (Student's
t, n replications, a = 1 - `GAP_CONFIDENCE`): 3.1 times as wide with 5 replications, 2.1
with 10, 1.9 with 20 (with 2, 50: two replications can hardly show a gap). Approximate
predictions are shown for orientation only.

The method of a prediction is a long phrase shared by many rows, so the tables show only
``exact [n]`` or ``approx. [n]`` and list the methods once, numbered, under the tables: they
fit a 120-column terminal. Intervals are shown clipped to the range of the quantity (no
negative time, no utilization above 1); the gap check uses the interval as computed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from models.analysis.prediction import (
    PredictedFlow,
    PredictedGroup,
    PredictedService,
    Prediction,
)
from models.results import Interval, Record, ResultsDocument
from sim.experiments.statistics import CONFIDENCE, t_quantile
from sim.presentation.formatting import (
    MILLISECONDS,
    clipped,
    fitted,
    new_table,
    number,
    significant,
)

RELATIVE_SLACK = 1e-3
GAP_CONFIDENCE = 0.999
"""How sure a gap must be: the confidence of the interval an exact prediction must lie in."""

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
    high: float | None = None
    """The largest value the quantity can take (1 for a probability), if any; every compared
    quantity is at least 0."""
    saturated_only: bool = False
    """Shown only where the prediction is unstable (a saturated service's throughput, its
    capacity: elsewhere it is its arrival rate)."""


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
    Compared("flow", "success rate", "success_rate", exactness=("success_exact",), high=1.0),
    Compared("service", "utilization", "utilization", high=1.0),
    Compared("service", "throughput (/s)", "throughput", saturated_only=True),
    Compared("service", "waiting mean", "waiting_time.mean", MILLISECONDS, "ms"),
    Compared("service", "response mean", "response_time.mean", MILLISECONDS, "ms"),
    Compared("service", "in system", "in_system.mean"),
    Compared("service", "loss probability", "loss_probability", high=1.0),
    Compared("service", "availability", "availability", high=1.0),
    Compared("service", "replicas mean", "replicas.mean"),
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
    """The prediction is exact and outside the simulation's interval at `GAP_CONFIDENCE`
    (widened by `RELATIVE_SLACK`)."""
    scale: float
    unit: str
    high: float | None = None
    """The largest value the quantity can take, if any (the interval is shown clipped)."""


def _simulated(entity: Record | None, path: str) -> tuple[float | None, Interval | None]:
    """The simulated value at attribute path `path` of a simulated entity (e.g.
    ``"response_time.mean"``) and its 95% interval if it has one."""
    *parents, last = path.split(".")
    record = _at(entity, parents)
    if record is None:
        return None, None
    interval = (record.ci95 or {}).get(last)
    return getattr(record, last), interval


def _at(entity: Any, path: list[str]) -> Any:
    """The attribute at `path` of `entity`; None where a part on the way is missing (an
    autoscaled service's `replicas`, absent for the others)."""
    for name in path:
        if entity is None:
            return None
        entity = getattr(entity, name)
    return entity


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
    widening = gap_widening(simulated.settings.replications)
    rows = []
    for kind, name, entity, prediction_of in _pairs(simulated, predicted):
        if kind == "service" and not _simulated(entity, "arrival_rate")[0]:
            continue
        for compared in COMPARED:
            if compared.kind != kind or (compared.saturated_only and prediction_of.stable):
                continue
            value, interval = _simulated(entity, compared.path)
            prediction = _at(prediction_of, compared.path.split("."))
            if value is None or prediction is None:
                continue
            exact = all(getattr(prediction_of, flag) for flag in compared.exactness)
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
                    gap=_gap(exact, interval, prediction, widening),
                    scale=compared.scale,
                    unit=compared.unit,
                    high=compared.high,
                )
            )
    return rows + _call_rows(simulated, predicted)


def gap_widening(replications: int) -> float:
    """How much wider the interval at `GAP_CONFIDENCE` is than the one the results give
    (`statistics.CONFIDENCE`, 95%), for the mean of `replications` (at least 2) independent
    values: the ratio of Student's t quantiles."""
    if replications < 2:
        return 1.0
    wide = t_quantile((1.0 + GAP_CONFIDENCE) / 2, replications - 1)
    return wide / t_quantile((1.0 + CONFIDENCE) / 2, replications - 1)


def _gap(exact: bool, interval: Interval | None, prediction: float, widening: float) -> bool:
    """Whether an exact prediction lies outside the 95% `interval` made `widening` times as
    wide about its middle, and widened by `RELATIVE_SLACK` of the prediction."""
    if not exact or interval is None:
        return False
    middle, half = (interval[0] + interval[1]) / 2, (interval[1] - interval[0]) / 2
    reach = half * widening + RELATIVE_SLACK * abs(prediction)
    return abs(prediction - middle) > reach


def _call_rows(simulated: ResultsDocument, predicted: Prediction) -> list[TheoryRow]:
    """The predicted `calls` rows beside the simulated ones, per second (the simulation
    counts over its measured period): attempts, and failed attempts by reason where
    either side has some. Shown as approximate: a row's `exact` is its failure
    probability's, and its rates are also its caller's, which may not be exact."""
    duration = simulated.settings.duration
    rows = []
    for label, call in (predicted.calls or {}).items():
        entity = (simulated.calls or {}).get(label)
        if entity is None or duration <= 0:
            continue
        quantities = [("attempts", "attempts", call.attempts)]
        for reason, count in call.failures.to_dict().items():
            quantities.append((reason, f"failures.{reason}", count))
        for quantity, path, prediction in quantities:
            value, interval = _simulated(entity, path)
            if value is None or (quantity != "attempts" and not (value or prediction)):
                continue
            per_second = (
                None if interval is None else (interval[0] / duration, interval[1] / duration)
            )
            rows.append(
                TheoryRow(
                    kind="call",
                    name=label,
                    quantity=f"{quantity}/s",
                    simulated=value / duration,
                    ci95=per_second,
                    predicted=prediction,
                    method=call.method,
                    exact=False,  # (`exact` is q's: the rates are the callers' too)
                    gap=False,
                    scale=1.0,
                    unit="",
                )
            )
    return rows


def gap_warnings(rows: list[TheoryRow]) -> list[str]:
    """A sentence for every exact prediction farther from the simulation than chance
    explains (outside its interval at `GAP_CONFIDENCE`)."""
    return [
        f"{row.kind} '{row.name}': simulated {row.quantity} "
        f"{row.simulated * row.scale:.4g}{row.unit} differs from the exact prediction "
        f"{row.predicted * row.scale:.4g}{row.unit} ({row.method}) by more than "
        f"chance explains (outside its {GAP_CONFIDENCE:.1%} confidence interval)"
        for row in rows
        if row.gap
    ]


def theory_table(rows: list[TheoryRow]) -> RenderableType:
    """Simulated mean, its interval and the prediction side by side, one section per
    entity, then the methods (numbered)."""
    methods = Methods()
    table = new_table(
        "Theory beside the simulation",
        ("entity", "quantity", "simulated", "95% interval", "predicted", "model"),
        left=("entity", "quantity", "model"),
        caption="model: exact (the formula is exact for this case) or approx., and its method "
        "\\[n] below; ! = farther than chance explains (outside the 99.9% interval)",
    )
    previous = None
    for row in rows:
        entity = f"{row.kind} {row.name}"
        if previous is not None and entity != previous:
            table.add_section()
        scale, unit = row.scale, row.unit
        shown = "-"
        if row.ci95 is not None:
            low, high = clipped(row.ci95, 0.0, row.high)
            shown = f"{significant(low, scale)} .. {significant(high, scale)}"
        table.add_row(
            entity if entity != previous else "",
            f"{row.quantity}{f' ({unit})' if unit else ''}",
            significant(row.simulated, scale),
            shown,
            f"{significant(row.predicted, scale)}{' !' if row.gap else ''}",
            f"{'exact' if row.exact else 'approx.'} {methods.mark(row.method)}",
        )
        previous = entity
    return Group(fitted(table), methods.legend())


class Methods:
    """The methods of the predictions shown, numbered in order of first use."""

    def __init__(self) -> None:
        self.numbers: dict[str, int] = {}

    def mark(self, method: str) -> str:
        """``[n]``, the number of `method` (a new one if it is new)."""
        index = self.numbers.setdefault(method, len(self.numbers) + 1)
        return f"[{index}]"

    def legend(self) -> Table:
        """``[n] method``, one per line, long ones wrapped under their text."""
        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True)
        grid.add_column()
        for method, index in self.numbers.items():
            grid.add_row(Text(f"[{index}]"), Text(method))
        return grid


def render_prediction(prediction: Prediction, console: Console) -> None:
    """`archsim analyze`: the predicted values, capacity and bottleneck as tables, then the
    methods (numbered)."""
    methods = Methods()
    parts: list[Any] = [
        Text.assemble((prediction.scenario, "bold"), "  queueing-theory prediction"),
        _flow_table(prediction, methods),
        _service_table(prediction, methods),
    ]
    groups = _group_table(prediction, methods)
    if groups.row_count:
        parts.append(groups)
    if prediction.calls:
        parts.append(_call_table(prediction, methods))
    parts.append(Text("model: exact or approx., UNSTABLE when overloaded; [n]: its method"))
    parts.append(methods.legend())
    parts.extend(_notes(prediction))
    console.print(Group(*map(fitted, parts)))


def _flow_table(prediction: Prediction, methods: Methods) -> Table:
    """One row per flow: rates, capacity, headroom, mean response and completion times;
    the rate of successful responses too where some requests fail (their calls dropped,
    timed out or failed)."""
    failing = any(_fails(flow) for flow in prediction.flows.values())
    table = new_table(
        "Flows (times in ms)",
        (
            "flow",
            "rate/s",
            *(["succeeded/s"] if failing else []),
            "max rate/s",
            "headroom",
            "response mean",
            "completion mean",
            "model",
        ),
        ("flow", "model"),
    )
    for name, flow in prediction.flows.items():
        table.add_row(
            name,
            number(flow.arrival_rate),
            *([number(flow.throughput)] if failing else []),
            number(flow.max_throughput),
            _percent(flow.headroom),
            number(flow.response_time.mean, MILLISECONDS),
            number(flow.completion_time.mean, MILLISECONDS),
            _model(flow, methods),
        )
    return table


def _fails(flow: PredictedFlow) -> bool:
    """Whether some of the flow's requests are predicted to fail (1e-9 of them or more)."""
    if flow.arrival_rate is None or flow.throughput is None:
        return False
    return flow.throughput < flow.arrival_rate * (1.0 - 1e-9)


def _service_table(prediction: Prediction, methods: Methods) -> Table:
    """One row per service with traffic: load, waiting, response, backlog and loss (and the
    replicas an autoscaler runs, on average, where one is predicted)."""
    scaled = any(s.replicas is not None for s in prediction.services.values())
    columns = ["service", "arrivals/s", "utilization", "P(wait)", "wait mean", "resp mean"]
    columns += ["in system", "loss", *(["replicas"] if scaled else []), "model"]
    table = new_table("Services (times in ms)", tuple(columns), ("service", "model"))
    for name, service in prediction.services.items():
        if not service.arrival_rate:
            continue
        replicas = service.replicas
        table.add_row(
            name,
            number(service.arrival_rate),
            number(service.utilization, digits=3),
            number(service.p_wait, digits=3),
            number(service.waiting_time.mean, MILLISECONDS),
            number(service.response_time.mean, MILLISECONDS),
            number(service.in_system.mean),
            number(service.loss_probability, digits=4),
            *([number(None if replicas is None else replicas.mean)] if scaled else []),
            _model(service, methods),
        )
    return table


def _group_table(prediction: Prediction, methods: Methods) -> Table:
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
            "model",
        ),
        ("topic/group", "model"),
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
                _model(group, methods),
            )
    return table


def _call_table(prediction: Prediction, methods: Methods) -> Table:
    """One row per caller and callee operation with a timeout, retries or a pattern: the
    calls and attempts per second, the failed attempts per second by reason (as `run`'s
    table counts them), and the share of calls that succeed (before any fallback)."""
    table = new_table(
        "Calls with timeouts, retries, breakers, bulkheads or fallbacks",
        (
            "caller->callee",
            "calls/s",
            "attempts/s",
            "retries/s",
            "failures/s",
            "calls succeeded",
            "fallbacks/s",
            "model",
        ),
        ("caller->callee", "model"),
        caption="failures/s: failed attempts per second by reason",
    )
    for label, call in (prediction.calls or {}).items():
        exactness = "exact" if call.exact else "approx."
        failed = ", ".join(
            f"{reason} {number(count)}"
            for reason, count in call.failures.to_dict().items()
            if count > 0
        )
        table.add_row(
            label,
            number(call.calls),
            number(call.attempts),
            number(call.retries),
            failed or "0",
            f"{call.success_rate:.2%}",
            number(call.fallbacks),
            f"{exactness} {methods.mark(call.method)}",
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


def _model(entity: Predicted, methods: Methods) -> str:
    stability = "" if entity.stable else "UNSTABLE; "
    exactness = "exact" if entity.exact else "approx."
    return f"{stability}{exactness} {methods.mark(entity.method)}"
