"""How numbers are shown to a person: fixed digits, a unit scale, and a 95% interval.

Times are shown in milliseconds (scale 1000), rates per second; a value with a 95%
interval is shown as ``mean ±half-width``; a missing value as ``-``.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table

from models.results import Record

MILLISECONDS = 1000.0


def number(value: float | None, scale: float = 1.0, digits: int = 2) -> str:
    """`value` x `scale` with thousands separators and `digits` decimals; ``-`` for None.

    >>> number(0.01234, 1000), number(None), number(12345.0, digits=0)
    ('12.34', '-', '12,345')
    """
    if value is None:
        return "-"
    return f"{value * scale:,.{digits}f}"


def with_interval(record: Record, key: str, scale: float = 1.0, digits: int = 2) -> str:
    """`record.key` as `number` does, followed by ``±half-width`` of its 95% interval when
    the record has one for `key`."""
    value = getattr(record, key)
    text = number(value, scale, digits)
    interval = (record.ci95 or {}).get(key)
    if interval is not None and value is not None:
        half_width = (interval[1] - interval[0]) / 2
        text += f" ±{half_width * scale:,.{digits}f}"
    return text


def new_table(
    title: str, columns: Sequence[str], left: Sequence[str] = (), caption: str | None = None
) -> Table:
    """An empty rich table titled `title`, the columns in `left` left-aligned and the other
    (numbers) right-aligned, with an optional `caption` under it."""
    table = Table(title=title, title_justify="left", caption=caption, caption_justify="left")
    for column in columns:
        table.add_column(column, justify="left" if column in left else "right")
    return table
