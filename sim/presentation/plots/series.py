"""Time-series figures: backlog (queues, consumer lag), replicas, flow throughput and p99
over time.

They read `Results.timeseries()` (sampled every `sample_interval` from time 0, warm-up
included) and draw, per entity, the mean across replications with its 95% Student-t band
(`Results.timeseries(aggregate=True)`; with two or more replications), and shade the
warm-up, whose samples are not part of the statistics. With many entities (partitions) only
the few with the highest peak are coloured and named; the rest are thin grey lines.

With few replications the band is wide (t(0.975, 1) = 12.7 with two): the y axis is scaled
to the mean curves with some headroom, so a band may run off the top of the axes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sim.experiments.timeseries import aggregate_series
from sim.presentation.plots._common import WARMUP_COLOR, new_axes, place_legend, time_unit

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from sim.experiments.results import Results

DEFAULT_METRIC = {"service": "queue_length", "group": "lag", "partition": "lag"}
# metric -> (y label, title, scale to the label's unit)
METRIC_AXES: dict[str, tuple[str, str, float]] = {
    "queue_length": ("waiting requests", "Waiting requests", 1.0),
    "in_system": ("requests in system (waiting + in service)", "Requests in system", 1.0),
    "lag": ("lag (messages)", "Consumer lag", 1.0),
    "utilization": ("utilization (%)", "Utilization", 100.0),
    "throughput": ("throughput (requests/s)", "Throughput", 1.0),
    "p99": ("p99 per interval (ms)", "p99 response time", 1000.0),
    "replicas": ("replicas", "Replicas", 1.0),
    "availability": ("availability (%)", "Availability", 100.0),
    "success_rate": ("success rate (%)", "Success rate", 100.0),
}
# metrics that are fractions: their bands are cut at 1 (100%)
FRACTIONS = frozenset({"utilization", "availability", "success_rate", "open"})
KIND_NAMES = {"service": "service", "group": "consumer group", "partition": "partition"}
MANY_ENTITIES = 6
HIGHLIGHTED = 5
LEGEND_HEADROOM = 1.3
BAND_HEADROOM = 1.6  # the y axis shows bands up to this many times the highest mean


def backlog_over_time(
    results: Results | pd.DataFrame,
    *,
    kind: str = "service",
    metric: str | None = None,
    entities: Sequence[str] | None = None,
    warmup: float | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Backlog of every service, consumer group or partition over time.

    `kind` is ``service`` (metric ``queue_length``, ``in_system``, ``utilization`` or,
    with autoscaling, ``replicas``), ``group`` (``lag`` or ``utilization``; entities
    ``topic/group``) or ``partition`` (``lag``; entities ``topic/group/partition``).
    `entities` keeps only those named, or those under a named prefix (``topic/group``
    selects its partitions). `results` may be a time-series DataFrame instead of `Results`;
    `warmup` (seconds) then says what to shade.
    """
    metric = metric or DEFAULT_METRIC[kind]
    frame, warmup, replications = _series(results, warmup)
    selected = frame[(frame["kind"] == kind) & (frame["metric"] == metric)]
    if entities is not None:
        selected = selected[selected["entity"].map(lambda name: _selected(name, entities))]
    ylabel, title, scale = METRIC_AXES.get(metric, (metric, metric, 1.0))
    kind_name = KIND_NAMES.get(kind, kind)
    figure, ax = new_axes(ax, figsize=(9.0, 4.5))
    divisor = _time_axis(ax, frame, warmup)
    upper = 1.0 if metric in FRACTIONS else None
    peak, banded = _draw_entities(ax, selected, divisor, scale, others=f"{kind_name}s", upper=upper)
    ax.set_title(f"{title} per {kind_name}{_band_note(replications, banded)}")
    ax.set_ylabel(ylabel)
    if metric == "replicas":
        from matplotlib.ticker import MaxNLocator

        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    if peak > 0:
        _limit_y(ax, peak)
    else:
        ax.set_ylim(-0.05, 1.0)
        what = "no samples" if selected.empty else "0 throughout the run"
        ax.text(
            0.5, 0.5, f"{title.lower()}: {what}", transform=ax.transAxes, ha="center", va="center"
        )
    place_legend(ax, len(ax.get_legend_handles_labels()[1]))
    return figure


def throughput_over_time(
    results: Results | pd.DataFrame,
    flows: Sequence[str] | None = None,
    *,
    p99: bool = False,
    warmup: float | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Responses per second of every flow over time; with `p99`, the p99 response time of
    each interval on a second y axis (dashed, ms)."""
    frame, warmup, replications = _series(results, warmup)
    flow_rows = frame[frame["kind"] == "flow"]
    if flows is not None:
        flow_rows = flow_rows[flow_rows["entity"].isin(list(flows))]
    figure, ax = new_axes(ax, figsize=(9.0, 4.5))
    divisor = _time_axis(ax, frame, warmup)
    throughput = flow_rows[flow_rows["metric"] == "throughput"]
    suffix = " throughput" if p99 else ""
    peak, banded = _draw_entities(ax, throughput, divisor, 1.0, others="flows", suffix=suffix)
    ax.set_ylabel(METRIC_AXES["throughput"][0])
    _limit_y(ax, peak)
    if not p99:
        ax.set_title(f"Throughput per flow{_band_note(replications, banded)}")
        place_legend(ax, len(ax.get_legend_handles_labels()[1]))
        return figure
    right = ax.twinx()
    latency = flow_rows[flow_rows["metric"] == "p99"]
    _draw_entities(right, latency, divisor, 1000.0, others="flows", suffix=" p99", dashed=True)
    right.set_ylabel(METRIC_AXES["p99"][0])
    # headroom on both axes so that the legend, on top, covers no data
    for axes in (ax, right):
        axes.set_ylim(0.0, max(axes.get_ylim()[1], 1e-9) * LEGEND_HEADROOM)
    handles, labels = ax.get_legend_handles_labels()
    more_handles, more_labels = right.get_legend_handles_labels()
    right.legend(
        [*handles, *more_handles],
        [*labels, *more_labels],
        loc="upper center",
        ncols=min(4, len(labels) + len(more_labels)),
        fontsize="small",
        framealpha=0.9,
    )
    ax.set_title(
        f"Throughput (solid, left) and p99 response time (dashed, right) per flow"
        f"{_band_note(replications, banded)}"
    )
    return figure


def latency_over_time(
    results: Results | pd.DataFrame,
    flows: Sequence[str] | None = None,
    *,
    warmup: float | None = None,
    ax: Axes | None = None,
) -> Figure:
    """The p99 response time of every flow in each sample interval (ms), over time."""
    frame, warmup, replications = _series(results, warmup)
    rows = frame[(frame["kind"] == "flow") & (frame["metric"] == "p99")]
    if flows is not None:
        rows = rows[rows["entity"].isin(list(flows))]
    figure, ax = new_axes(ax, figsize=(9.0, 4.5))
    divisor = _time_axis(ax, frame, warmup)
    peak, banded = _draw_entities(ax, rows, divisor, 1000.0, others="flows")
    ax.set_ylabel(METRIC_AXES["p99"][0])
    _limit_y(ax, peak)
    ax.set_title(f"p99 response time per flow and interval{_band_note(replications, banded)}")
    place_legend(ax, len(ax.get_legend_handles_labels()[1]))
    return figure


# --------------------------------------------------------------------------- helpers


def _series(
    results: Results | pd.DataFrame, warmup: float | None
) -> tuple[pd.DataFrame, float, int]:
    """(time series, warm-up seconds, replications) of `results`."""
    import pandas as pd

    if isinstance(results, pd.DataFrame):
        frame = results
        shaded = warmup or 0.0
    else:
        frame = results.timeseries()
        shaded = results.settings.warmup if warmup is None else warmup
    replications = int(frame["replication"].nunique()) if "replication" in frame else 1
    return frame, shaded, replications


FAULT_COLOR = "tab:red"


def shade_faults(
    ax: Axes, windows: Sequence[tuple[str, float, float]], frame: pd.DataFrame
) -> None:
    """Shade fault windows ``(label, start, end)`` (seconds from the start) on a time axis
    drawn from `frame` (the same unit as the curves), each named once in the legend."""
    end = float(frame["time"].max()) if len(frame) else 0.0
    divisor, _ = time_unit(end)
    for label, start, stop in windows:
        ax.axvspan(
            start / divisor,
            stop / divisor,
            color=FAULT_COLOR,
            alpha=0.12,
            zorder=0,
            label=f"fault: {label}",
        )
    place_legend(ax, len(ax.get_legend_handles_labels()[1]))


def _selected(entity: str, names: Sequence[str]) -> bool:
    return any(entity == name or entity.startswith(f"{name}/") for name in names)


def _time_axis(ax: Axes, frame: pd.DataFrame, warmup: float) -> float:
    """Label the time axis in a readable unit and shade the warm-up; the unit's seconds."""
    end = float(frame["time"].max()) if len(frame) else 0.0
    divisor, unit = time_unit(end)
    if warmup > 0:
        ax.axvspan(0.0, warmup / divisor, color=WARMUP_COLOR, alpha=0.6, zorder=0, label="warm-up")
        ax.set_xlabel(f"time since start ({unit}); shaded: warm-up, not measured")
    else:
        ax.set_xlabel(f"time since start ({unit})")
    ax.set_xlim(0.0, max(end, warmup, 1e-9) / divisor)
    ax.grid(True, alpha=0.3)
    return divisor


def _draw_entities(
    ax: Axes,
    rows: pd.DataFrame,
    divisor: float,
    scale: float,
    *,
    others: str,
    suffix: str = "",
    dashed: bool = False,
    upper: float | None = None,
) -> tuple[float, bool]:
    """One line per entity (mean across replications) with its 95% band where two or more
    replications have a value; (the highest mean drawn, whether bands were drawn).

    Every metric drawn is non-negative: bands are cut at 0, and at `upper` if given.
    With more than `MANY_ENTITIES`, the `HIGHLIGHTED` entities with the highest peak are
    coloured (highest first in the legend), without bands, and the rest drawn as thin grey
    lines below them.
    """
    aggregated = aggregate_series(rows).sort_values("time", kind="stable")
    summaries = {str(entity): group for entity, group in aggregated.groupby("entity", sort=False)}
    peaks = {entity: float(summary["mean"].max()) for entity, summary in summaries.items()}
    named = list(summaries)
    many = len(named) > MANY_ENTITIES
    if many:
        named = sorted(named, key=lambda entity: -peaks[entity])[:HIGHLIGHTED]
    for index, entity in enumerate(named):
        summary = summaries[entity]
        times = summary["time"].to_numpy(dtype=float) / divisor
        color = f"C{index % 10}"
        ax.plot(
            times,
            summary["mean"].to_numpy(dtype=float) * scale,
            color=color,
            linestyle="--" if dashed else "-",
            linewidth=1.4,
            label=f"{entity}{suffix}",
        )
        if not (dashed or many) and summary["replications"].max() > 1:
            low = summary["ci_low"].to_numpy(dtype=float).clip(min=0.0, max=upper)
            high = summary["ci_high"].to_numpy(dtype=float).clip(min=0.0, max=upper)
            ax.fill_between(times, low * scale, high * scale, color=color, alpha=0.2, linewidth=0)
    rest = [entity for entity in summaries if entity not in named]
    for index, entity in enumerate(rest):
        summary = summaries[entity]
        ax.plot(
            summary["time"].to_numpy(dtype=float) / divisor,
            summary["mean"].to_numpy(dtype=float) * scale,
            color="0.6",
            linewidth=0.7,
            linestyle="--" if dashed else "-",
            zorder=1.5,
            label=f"{len(rest)} other {others}" if index == 0 else "_nolegend_",
        )
    finite = [peak for peak in peaks.values() if peak == peak]
    return max(finite, default=0.0) * scale, not (dashed or many)


def _limit_y(ax: Axes, peak: float) -> None:
    """From 0 to the top of what is drawn, but no higher than `BAND_HEADROOM` times the
    highest mean `peak` (wide bands of few replications run off the top instead)."""
    top = ax.get_ylim()[1]
    if peak > 0:
        top = min(top, peak * BAND_HEADROOM)
    ax.set_ylim(0.0, max(top, 1e-9))


def _band_note(replications: int, banded: bool) -> str:
    if replications < 2:
        return ""
    return f"\nmean of {replications} replications" + ("; band: 95% interval" if banded else "")
