"""What every plot shares: axes creation, unit conversion and reading statistics.

Figures are `matplotlib.figure.Figure` objects made without pyplot, so plotting never
selects a backend, never opens a window and leaves no figure registered anywhere (PNG output
goes through the Agg canvas that `Figure.savefig` picks by itself). Nothing here changes
rcParams.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from models.results import Record
from sim.presentation.formatting import MILLISECONDS

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["MILLISECONDS", "new_axes", "number", "place_legend", "statistic", "time_unit"]
LATENCY_STATISTICS = ("mean", "p50", "p90", "p95", "p99", "p999", "max")
WARMUP_COLOR = "0.85"


def new_axes(ax: Axes | None, figsize: tuple[float, float] = (8.0, 4.5)) -> tuple[Figure, Axes]:
    """`ax` and the figure it belongs to, or a fresh figure with one axes (constrained layout)."""
    if ax is not None:
        return root_figure(ax), ax
    from matplotlib.figure import Figure

    figure = Figure(figsize=figsize, layout="constrained")
    return figure, figure.add_subplot()


def root_figure(ax: Axes) -> Figure:
    """The top-level figure of `ax` (also when `ax` lives in a subfigure)."""
    from matplotlib.figure import Figure

    figure: Any = ax.figure
    while not isinstance(figure, Figure):
        figure = figure.figure
    return figure


def number(value: Any) -> float:
    """`value` as a float, NaN for None or anything not numeric (so gaps show as gaps)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return math.nan


def statistic(record: Record, key: str, scale: float = 1.0) -> tuple[float, float, float]:
    """(value, ci low, ci high) of `key` of a record of statistics, times `scale`; the
    interval collapses to the value when there is none (one replication). Every statistic
    drawn (times, rates) is non-negative, so a t-interval reaching below 0 is cut at 0."""
    value = number(getattr(record, key)) * scale
    interval = (record.ci95 or {}).get(key)
    if interval is None:
        return value, value, value
    return value, max(number(interval[0]) * scale, 0.0), number(interval[1]) * scale


def time_unit(end: float) -> tuple[float, str]:
    """(divisor, unit) for a time axis running to `end` seconds: seconds up to 20 minutes,
    then minutes, then hours past 20 hours.

    >>> time_unit(300.0), time_unit(3600.0), time_unit(2 * 86400.0)
    ((1.0, 's'), (60.0, 'min'), (3600.0, 'h'))
    """
    if end > 20 * 3600:
        return 3600.0, "h"
    if end > 20 * 60:
        return 60.0, "min"
    return 1.0, "s"


def place_legend(ax: Axes, entries: int, **kwargs: Any) -> None:
    """A legend inside the axes when it is short, outside on the right when it is long;
    none where nothing drawn has a label (a run stopped before any series had a point)."""
    loc = kwargs.pop("loc", "best")
    if not ax.get_legend_handles_labels()[0] and "handles" not in kwargs:
        return
    if entries <= 6:
        ax.legend(loc=loc, fontsize="small", **kwargs)
    else:
        ax.legend(
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            fontsize="small",
            ncols=1 if entries <= 18 else 2,
            borderaxespad=0.0,
            **kwargs,
        )
