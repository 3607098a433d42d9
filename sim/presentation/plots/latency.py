"""Latency figures: latency-vs-load curves, percentile CDFs and candidate comparisons.

All response times are drawn in milliseconds (the results hold seconds). Confidence bands
and error bars are the records' ``ci95`` (95% t-intervals across replications); with one
replication there is nothing to draw and none is drawn. Results are the typed documents of
`models.results` (a `sim.Results`, or one loaded with `Results.from_json`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from models.results import FlowResults, Latency, Record, ResultsDocument
from sim.experiments.sweep import SweepResults
from sim.presentation.plots._common import (
    MILLISECONDS,
    new_axes,
    number,
    place_legend,
    statistic,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

SweepPoints = SweepResults | Sequence[tuple[float, ResultsDocument]]

CURVE_COLORS = {
    "mean": "tab:green",
    "p50": "tab:blue",
    "p90": "tab:cyan",
    "p95": "tab:orange",
    "p99": "tab:red",
    "p999": "tab:brown",
    "max": "0.4",
}
# (statistic, cumulative probability) of the summary percentiles of a latency
PERCENTILE_LEVELS = (
    ("p50", 0.5),
    ("p90", 0.9),
    ("p95", 0.95),
    ("p99", 0.99),
    ("p999", 0.999),
    ("max", 1.0),
)
METRIC_NAMES = {"response_time": "response time", "completion_time": "completion time"}


def latency_curve(
    points: SweepPoints,
    flow: str,
    *,
    prediction: Sequence[tuple[float, float | None]] | None = None,
    knee: float | None = None,
    saturation: float | None = None,
    statistics: Sequence[str] = ("p50", "p95", "p99"),
    xlabel: str | None = None,
    log_y: bool = False,
    ax: Axes | None = None,
) -> Figure:
    """Response time of `flow` (ms) against the swept value, with 95% confidence bands.

    `points` is a list of ``(value, results)``, or a whole sweep (`SweepResults`), in which
    case the x label and the knee and saturation come from it unless given. `prediction` is the
    analytic mean response time ``(value, seconds or None)``; when given the simulated mean is
    drawn too, so like is compared with like. `knee` and `saturation` are marked by
    vertical dashed lines.
    """
    pairs, parameter, landmarks = _sweep_points(points, flow)
    knee = landmarks.get("knee") if knee is None else knee
    saturation = landmarks.get("saturation") if saturation is None else saturation
    figure, ax = new_axes(ax)
    values = [value for value, _ in pairs]
    shown = [*(("mean",) if prediction is not None else ()), *statistics]
    for name in shown:
        rows = [
            statistic(results.flows[flow].response_time, name, MILLISECONDS) for _, results in pairs
        ]
        color = CURVE_COLORS.get(name)
        label = "simulated mean" if name == "mean" else name
        ax.plot(
            values, [row[0] for row in rows], marker="o", markersize=4, color=color, label=label
        )
        if any(low != high for _, low, high in rows):
            ax.fill_between(
                values, [row[1] for row in rows], [row[2] for row in rows], color=color, alpha=0.2
            )
    if prediction is not None:
        ax.plot(
            [value for value, _ in prediction],
            [number(mean) * MILLISECONDS for _, mean in prediction],
            color="black",
            linestyle="--",
            linewidth=1.5,
            label="analytic mean",
            zorder=3,
        )
    _mark_landmarks(ax, [(knee, "knee", "tab:purple"), (saturation, "saturation", "0.2")])
    if log_y:
        ax.set_yscale("log")
    else:
        ax.set_ylim(bottom=0)
    ax.set_xlabel(xlabel or _axis_label(parameter))
    ax.set_ylabel("response time (ms)")
    ax.set_title(
        f"Latency vs load: {flow}"
        + ("  (bands: 95% CI)" if len(pairs) and _has_ci(pairs, flow) else "")
    )
    ax.grid(True, alpha=0.3)
    place_legend(ax, len(ax.get_legend_handles_labels()[1]), loc="upper left")
    return figure


def latency_cdf(
    results: ResultsDocument,
    flow: str,
    *,
    metric: str | Sequence[str] = "response_time",
    ccdf: bool = False,
    log_x: bool = False,
    ax: Axes | None = None,
) -> Figure:
    """The distribution of `flow`'s latency from its summary percentiles (p50 ... max).

    Only the percentiles are known, so the CDF is drawn as those points joined by lines,
    each with its 95% confidence interval as a horizontal error bar. `ccdf=True` draws
    P(latency > x) on a log y axis (the max, at probability 0, is left out), which shows
    the tail. `metric` is ``response_time``, ``completion_time`` or both.
    """
    flow_results = results.flows[flow]
    metrics = [metric] if isinstance(metric, str) else list(metric)
    figure, ax = new_axes(ax)
    for index, name in enumerate(metrics):
        levels = [(key, level) for key, level in PERCENTILE_LEVELS if not (ccdf and level >= 1.0)]
        latency = _latency(flow_results, name)
        rows = [statistic(latency, key, MILLISECONDS) for key, _ in levels]
        xs = [row[0] for row in rows]
        ys = [1.0 - level if ccdf else level for _, level in levels]
        errors = [[row[0] - row[1] for row in rows], [row[2] - row[0] for row in rows]]
        color = f"C{index}"
        ax.errorbar(
            xs,
            ys,
            xerr=errors,
            marker="o",
            markersize=5,
            color=color,
            capsize=3,
            label=METRIC_NAMES.get(name, name),
        )
        mean = number(latency.mean) * MILLISECONDS
        ax.axvline(
            mean,
            color=color,
            linestyle=":",
            linewidth=1.2,
            label=f"mean {METRIC_NAMES.get(name, name)}",
        )
        for (key, _), x, y in zip(levels, xs, ys, strict=True):
            ax.annotate(
                key,
                (x, y),
                textcoords="offset points",
                xytext=(6, -10 if not ccdf else 4),
                fontsize="x-small",
                color=color,
            )
    if ccdf:
        ax.set_yscale("log")
        ax.set_ylabel("P(latency > x)")
    else:
        ax.set_ylim(0.0, 1.05)
        ax.set_ylabel("P(latency ≤ x)")
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel("latency (ms)")
    points = "p50 … p99.9" if ccdf else "p50 … p99.9 and max"
    kind = "Tail (CCDF)" if ccdf else "CDF"
    with_ci = any(_latency(flow_results, name).ci95 for name in metrics)
    bars = " (bars: 95% CI)" if with_ci else ""
    ax.set_title(f"{kind} of latency: {flow}\nfrom the summary percentiles {points}{bars}")
    ax.margins(x=0.08)
    ax.grid(True, which="both", alpha=0.3)
    place_legend(
        ax, len(ax.get_legend_handles_labels()[1]), loc="lower right" if not ccdf else "upper right"
    )
    return figure


def comparison_bars(
    candidates: Mapping[str, ResultsDocument],
    metric: str = "p99",
    *,
    flows: Sequence[str] | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Per flow, one bar per candidate of a statistic with its 95% confidence interval.

    `metric` is a statistic of the flow's response time (``mean``, ``p50`` ... ``max``), a
    dotted ``completion_time.p99``, or ``throughput`` (requests/s). Bars are labelled with
    their values.
    """
    documents = dict(candidates)
    if flows is None:
        flows = list(dict.fromkeys(flow for doc in documents.values() for flow in doc.flows))
    path, unit, scale = _metric_path(metric)
    figure, ax = new_axes(
        ax, figsize=(min(14.0, max(6.0, 1.5 + 0.8 * len(flows) * len(documents))), 4.5)
    )
    width = 0.8 / max(len(documents), 1)
    positions = list(range(len(flows)))
    drawn: list[tuple[float, float, float]] = []
    for index, (name, doc) in enumerate(documents.items()):
        rows = [_flow_statistic(doc.flows.get(flow), path, scale) for flow in flows]
        drawn += rows
        offsets = [position - 0.4 + width * (index + 0.5) for position in positions]
        heights = [row[0] for row in rows]
        errors = [[row[0] - row[1] for row in rows], [row[2] - row[0] for row in rows]]
        bars = ax.bar(
            offsets,
            heights,
            width=width * 0.95,
            yerr=errors,
            capsize=4,
            label=name,
            color=f"C{index}",
        )
        for bar, row in zip(bars, rows, strict=True):
            ax.annotate(
                f"{row[0]:.3g}",
                (bar.get_x() + bar.get_width() / 2, row[2]),
                xytext=(0, 3),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize="x-small",
            )
    ax.set_xticks(positions, list(flows))
    ax.set_xlabel("flow")
    ax.set_ylabel(f"{_metric_label(path)} ({unit})")
    with_ci = any(row[1] != row[2] for row in drawn)
    note = " (error bars: 95% CI)" if with_ci else ""
    ax.set_title(f"{_metric_label(path)} per candidate{note}")
    ax.margins(y=0.3)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(loc="upper center", ncols=min(len(documents), 4), fontsize="small", title="candidate")
    return figure


# --------------------------------------------------------------------------- helpers


def _mark_landmarks(ax: Axes, landmarks: Sequence[tuple[float | None, str, str]]) -> None:
    """Vertical dashed lines at the landmarks, named on a secondary x axis on top (so the
    names never cover the curves) and in the legend with their values."""
    shown = [(value, name, color) for value, name, color in landmarks if value is not None]
    for value, name, color in shown:
        ax.axvline(value, color=color, linestyle="--", linewidth=1.2, label=f"{name} ({value:g})")
    if shown:
        top = ax.secondary_xaxis("top")
        top.set_xticks([value for value, _, _ in shown], [name for _, name, _ in shown])
        top.tick_params(labelsize="small")
        for label, (_, _, color) in zip(top.get_xticklabels(), shown, strict=True):
            label.set_color(color)


def _sweep_points(
    points: SweepPoints, flow: str
) -> tuple[list[tuple[float, ResultsDocument]], str | None, Mapping[str, Any]]:
    """(points sorted by value, swept parameter, landmarks of `flow`) of either form."""
    pairs: list[tuple[float, ResultsDocument]]
    if isinstance(points, SweepResults):
        swept = zip(points.values, points.points, strict=True)
        pairs = [(float(value), results) for value, results in swept]
        parameter, landmarks = points.parameter, points.landmarks(flow)
    else:
        pairs = [(float(value), results) for value, results in points]
        parameter, landmarks = None, {}
    return sorted(pairs, key=lambda pair: pair[0]), parameter, landmarks


def _axis_label(parameter: str | None) -> str:
    """An x label for a swept dotted path, with the unit when the path says it.

    >>> _axis_label("workload.users.arrivals.poisson")
    'arrival rate of users (requests/s)'
    >>> _axis_label("services.db.workers")
    'services.db.workers'
    """
    if parameter is None:
        return "swept value"
    parts = parameter.split(".")
    if parts[0] == "workload" and parts[2:] in (["arrivals", "poisson"], ["arrivals", "constant"]):
        return f"arrival rate of {parts[1]} (requests/s)"
    if len(parts) == 3 and parts[0] == "workload" and parts[2] == "clients":
        return f"clients of {parts[1]}"
    return parameter


def _has_ci(pairs: Sequence[tuple[float, ResultsDocument]], flow: str) -> bool:
    return any(results.flows[flow].response_time.ci95 for _, results in pairs)


def _latency(flow: FlowResults, metric: str) -> Latency:
    """The flow's `response_time` or `completion_time`."""
    latency: Latency = getattr(flow, metric)
    return latency


def _metric_path(metric: str) -> tuple[tuple[str, ...], str, float]:
    if metric == "throughput":
        return ("throughput",), "requests/s", 1.0
    if "." in metric:
        group, _, key = metric.partition(".")
        return (group, key), "ms", MILLISECONDS
    return ("response_time", metric), "ms", MILLISECONDS


def _metric_label(path: tuple[str, ...]) -> str:
    if path == ("throughput",):
        return "throughput"
    return f"{path[1]} {METRIC_NAMES.get(path[0], path[0])}"


def _flow_statistic(
    flow: FlowResults | None, path: tuple[str, ...], scale: float
) -> tuple[float, float, float]:
    """(value, ci low, ci high) at `path` (a statistic, or a latency and its statistic) of a
    flow's results; NaN where the flow is missing."""
    if flow is None:
        return math.nan, math.nan, math.nan
    record: Record = getattr(flow, path[0]) if len(path) > 1 else flow
    return statistic(record, path[-1], scale)
