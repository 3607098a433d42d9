"""How an import spells what it measured: names that follow the scenario language's rule,
times and rates with units, counts with thousands separators.

Names: ``[A-Za-z0-9][A-Za-z0-9_-]*`` (docs/scenario-language.md, "Names"); every run of other
characters becomes one ``-`` (accents are dropped first: ``Zahlungsprüfung`` ->
``Zahlungsprufung``), and a name left empty becomes ``unnamed``. Times are written with 4
significant digits in the largest unit that keeps them >= 1 (``12.35ms``, ``250us``).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Collection

_OUTSIDE = re.compile(r"[^A-Za-z0-9_-]+")


def scenario_name(text: str) -> str:
    """`text` made a valid scenario name.

    >>> scenario_name("GET /api/orders/{id}"), scenario_name("publish order.placed")
    ('GET-api-orders-id', 'publish-order-placed')
    >>> scenario_name("Zahlungsprüfung"), scenario_name("///"), scenario_name("-x-")
    ('Zahlungsprufung', 'unnamed', 'x')
    """
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    name = _OUTSIDE.sub("-", ascii_text).strip("-_")
    return name or "unnamed"


def unique_name(name: str, taken: Collection[str]) -> str:
    """`name`, or `name-2`, `name-3`, ... whichever is not taken.

    >>> unique_name("api", {"api", "api-2"})
    'api-3'
    """
    if name not in taken:
        return name
    number = 2
    while f"{name}-{number}" in taken:
        number += 1
    return f"{name}-{number}"


def significant(value: float, digits: int = 4) -> float:
    """`value` rounded to `digits` significant digits.

    >>> significant(0.012345678), significant(123456.0, 3)
    (0.01235, 123000.0)
    """
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))


def _plain(value: float) -> str:
    text = f"{value:.6g}"
    return text[:-2] if text.endswith(".0") else text


def unit_of(seconds: float) -> tuple[str, float]:
    """The unit a time is written in and its size in seconds."""
    for unit, size in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if abs(seconds) >= size:
            return unit, size
    return "ns", 1e-9


def spell_time(seconds: float, unit: tuple[str, float] | None = None) -> str:
    """A time with its unit, 4 significant digits (in `unit` if given).

    >>> spell_time(0.0123456), spell_time(0.00025), spell_time(0.00099999999), spell_time(0)
    ('12.35ms', '250us', '1ms', '0s')
    """
    if seconds == 0:
        return "0s"
    rounded = significant(seconds)  # (0.000999999 is written 1ms, not 1000us)
    name, size = unit or unit_of(rounded)
    return f"{_plain(significant(rounded / size))}{name}"


def spell_rate(per_second: float) -> str:
    """A rate per second, 4 significant digits.

    >>> spell_rate(123.456), spell_rate(0.5)
    ('123.5/s', '0.5/s')
    """
    return f"{_plain(significant(per_second))}/s"


def spell_count(count: int) -> str:
    """A count with thousands separators.

    >>> spell_count(1234567)
    '1,234,567'
    """
    return f"{count:,}"


def spell_ms(seconds: float) -> str:
    """A time in milliseconds for a comment: 3 significant digits.

    >>> spell_ms(0.0123456), spell_ms(0.000012)
    ('12.3 ms', '0.012 ms')
    """
    return f"{_plain(significant(seconds * 1e3, 3))} ms"


def nice_seconds(seconds: float) -> float:
    """`seconds` rounded down to 1, 2 or 5 times a power of ten (at least 1 ms).

    >>> nice_seconds(37.2), nice_seconds(0.31)
    (20.0, 0.2)
    """
    seconds = max(seconds, 0.001)
    power = 10.0 ** math.floor(math.log10(seconds))
    return max(step * power for step in (1.0, 2.0, 5.0) if step * power <= seconds + 1e-12)
