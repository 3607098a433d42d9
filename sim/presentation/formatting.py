"""How numbers are shown to a person: fixed digits, a unit scale, and a 95% interval.

Times are shown in milliseconds (scale 1000), rates per second; a value with a 95%
interval is shown as ``mean ±half-width``; a missing value as ``-``. A value that rounds to
zero at the digits shown (or is below `TINY` in its unit) is shown as 0, never as ``-0.00``
or ``1e-38``.

Every quantity in the tables (times, rates, utilizations, queue lengths, lags, counts)
cannot be negative, so an interval is shown clipped at 0 (and at 1 for a probability or a
utilization): ``0.02 +0.05 -0.02`` where the interval is wider than the value on the low
side. The documents (`--json`, results.json) keep the Student-t interval as computed.

`fit` sets the column widths of a table that is wider than the terminal so that no word is
cut: rich alone shrinks every column evenly and cuts headers and names (``through…``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.table import Table

from models.results import Record

MILLISECONDS = 1000.0

TINY = 1e-9
"""Below this (in the unit shown) a value is shown as 0: numerical noise of a formula."""


def _shown(value: float, digits: int) -> float:
    """`value` as it is shown with `digits` decimals: 0 (not -0) when it rounds to zero."""
    if abs(value) < TINY or round(value, digits) == 0:
        return 0.0
    return value


def number(value: float | None, scale: float = 1.0, digits: int = 2) -> str:
    """`value` x `scale` with thousands separators and `digits` decimals; ``-`` for None.

    >>> number(0.01234, 1000), number(None), number(12345.0, digits=0)
    ('12.34', '-', '12,345')
    >>> number(-1e-12), number(1.2e-38, 1000)
    ('0.00', '0.00')
    """
    if value is None:
        return "-"
    return f"{_shown(value * scale, digits):,.{digits}f}"


SMALLEST_SIGNIFICANT = 1e-6
"""`significant` shows values below this (in the unit shown) as 0: a millionth of a
millisecond or of a request is a formula's tail, not a figure to read."""


def significant(value: float | None, scale: float = 1.0) -> str:
    """`value` x `scale` with 4 significant digits (and thousands separators), never in
    exponent notation; 0 below `SMALLEST_SIGNIFICANT`; ``-`` for None.

    >>> significant(0.0269412, 1000), significant(1.172e-41, 1000), significant(123456.0)
    ('26.94', '0', '123,456')
    >>> significant(0.0001234), significant(8.938e-11, 1000), significant(2.5e-5)
    ('0.0001234', '0', '0.00002500')
    """
    if value is None:
        return "-"
    scaled = value * scale
    if abs(scaled) < SMALLEST_SIGNIFICANT:
        return "0"
    if not math.isfinite(scaled) or abs(scaled) >= 1e4:
        return f"{scaled:,.0f}" if math.isfinite(scaled) else str(scaled)
    if abs(scaled) < 1e-4:  # (where the g format would turn to exponents)
        return f"{scaled:.{3 - math.floor(math.log10(abs(scaled)))}f}"
    return f"{scaled:,.4g}"


def clipped(
    interval: Sequence[float], low: float | None = 0.0, high: float | None = None
) -> tuple[float, float]:
    """`interval` clipped to [`low`, `high`] (None: no bound on that side).

    >>> clipped((-0.2, 0.5)), clipped((0.9, 1.1), high=1.0)
    ((0.0, 0.5), (0.9, 1.0))
    """
    start, end = interval[0], interval[1]
    if low is not None:
        start, end = max(start, low), max(end, low)
    if high is not None:
        start, end = min(start, high), min(end, high)
    return start, end


def with_interval(
    record: Record,
    key: str,
    scale: float = 1.0,
    digits: int = 2,
    low: float | None = 0.0,
    high: float | None = None,
) -> str:
    """`record.key` as `number` does, followed by ``±half-width`` of its 95% interval when
    the record has one for `key`.

    The interval is clipped to [`low`, `high`] (by default at 0: the quantities of the
    tables cannot be negative); where clipping makes it lopsided it is shown as
    ``+above -below`` (``+above`` alone when nothing is left below).

    >>> from models.results import QueueLength
    >>> with_interval(QueueLength(mean=2.0, max=9, ci95={"mean": (1.5, 2.5)}), "mean")
    '2.00 ±0.50'
    >>> with_interval(QueueLength(mean=0.2, max=3, ci95={"mean": (-0.1, 0.5)}), "mean")
    '0.20 +0.30 -0.20'
    >>> with_interval(QueueLength(mean=0.004, max=1, ci95={"mean": (-0.002, 0.01)}), "mean")
    '0.00 +0.01'
    """
    value = getattr(record, key)
    text = number(value, scale, digits)
    interval = (record.ci95 or {}).get(key)
    if interval is None or value is None:
        return text
    start, end = clipped(interval, low, high)
    below = _shown(max(value - start, 0.0) * scale, digits)
    above = _shown(max(end - value, 0.0) * scale, digits)
    if f"{below:.{digits}f}" == f"{above:.{digits}f}":
        return f"{text} ±{above:,.{digits}f}"
    if below == 0:
        return f"{text} +{above:,.{digits}f}"
    return f"{text} +{above:,.{digits}f} -{below:,.{digits}f}"


def new_table(
    title: str, columns: Sequence[str], left: Sequence[str] = (), caption: str | None = None
) -> Table:
    """An empty rich table titled `title`, the columns in `left` left-aligned and the other
    (numbers) right-aligned, with an optional `caption` under it. The first column (what a
    row is about: a flow, a service) is never wrapped or cut."""
    table = Table(title=title, title_justify="left", caption=caption, caption_justify="left")
    for index, column in enumerate(columns):
        table.add_column(column, justify="left" if column in left else "right", no_wrap=index == 0)
    return table


def fit(table: Table, width: int) -> Table:
    """`table` (made by `new_table`) with its column widths set so that it fits `width`
    terminal columns without cutting a word, if it can: cells wrap at spaces instead (the
    ``±`` part of a value goes under it), and if need be with one space instead of two
    between a cell and the next. Columns get their full width in order of how little they
    need for it. A table that fits, or cannot fit, is left to rich."""
    columns = table.columns
    texts = [[str(column.header), *map(str, column.cells)] for column in columns]
    natural = [
        max(cell_len(line) for text in cells for line in text.splitlines() or [""])
        for cells in texts
    ]
    least = [
        max([cell_len(word) for text in cells for word in text.split()] or [1]) for cells in texts
    ]
    room = width - (3 * len(columns) + 1)  # a border and two spaces per column, and one
    if sum(natural) <= room:
        return table
    if sum(least) > room:  # one space between a cell and the next border, not two
        room += len(columns) - 1
        if sum(least) > room:
            return table
        table.collapse_padding = True
    widths = list(least)
    spare = room - sum(least)
    for index in sorted(range(len(columns)), key=lambda i: natural[i] - least[i]):
        grant = min(natural[index] - least[index], spare)
        widths[index] += grant
        spare -= grant
    if table.collapse_padding:
        # rich pads the first cell on both sides but counts one space for it: make room
        counted = getattr(table, "_get_padding_width", lambda index: 2)(0)
        widths[0] += max(0, 2 - counted)
    for column, column_width in zip(columns, widths, strict=True):
        column.width = column_width
    return table


class Fitted:
    """A table that fits the width it is printed in without cutting a word (`fit`)."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield fit(self.table, options.max_width)


def fitted(renderable: RenderableType) -> RenderableType:
    """`renderable`, fitted to the terminal's width (`fit`) if it is a table."""
    return Fitted(renderable) if isinstance(renderable, Table) else renderable
