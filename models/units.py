"""Times and rates as a scenario writes them, normalised to seconds and to per second.

A number is already in the base unit (seconds, or events per second). A string may carry a
unit (docs/scenario-language.md): times ``250us``, ``5ms``, ``2s``, ``1.5min``, ``1h`` (also
``ns`` and ``µs``), rates ``200/s``, ``12000/min``, ``3/ms``, ``10/h``. Blanks between the
number and the unit are allowed. The decimal value is scaled exactly and then rounded once to
a float, so ``"0.1ms"`` gives the same float as ``0.0001``.

>>> parse_duration("250us"), parse_duration("1.5min"), parse_duration(2)
(0.00025, 90.0, 2.0)
>>> parse_rate("12000/min"), parse_rate("3/ms"), parse_rate(0.5)
(200.0, 3000.0, 0.5)

The pydantic field types `Duration`, `PositiveDuration` and `Rate` apply these parsers before
validation and publish both accepted forms in the JSON Schema.
"""

from __future__ import annotations

import math
import numbers
import re
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, WithJsonSchema

__all__ = [
    "DURATION_PATTERN",
    "RATE_PATTERN",
    "Duration",
    "PositiveDuration",
    "Rate",
    "duration_json_schema",
    "parse_duration",
    "parse_rate",
    "rate_json_schema",
]

# Seconds per unit, as exact decimals.
SECONDS_PER_UNIT: dict[str, Decimal] = {
    "ns": Decimal("1e-9"),
    "us": Decimal("1e-6"),
    "µs": Decimal("1e-6"),  # MICRO SIGN U+00B5
    "μs": Decimal("1e-6"),  # GREEK SMALL LETTER MU U+03BC
    "ms": Decimal("1e-3"),
    "s": Decimal(1),
    "min": Decimal(60),
    "h": Decimal(3600),
}

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_UNIT = r"ns|us|µs|μs|ms|s|min|h"
_DURATION_RE = re.compile(rf"\s*(?P<number>{_NUMBER})\s*(?P<unit>{_UNIT})?\s*")
_RATE_RE = re.compile(rf"\s*(?P<number>{_NUMBER})\s*(?:/\s*(?P<unit>{_UNIT}))?\s*")

# JSON Schema (ECMA-262) patterns of the string forms; no sign, since every field that uses
# them must be non-negative.
_UNSIGNED = r"(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?"
DURATION_PATTERN = rf"^\s*\+?{_UNSIGNED}\s*({_UNIT})?\s*$"
RATE_PATTERN = rf"^\s*\+?{_UNSIGNED}\s*(/\s*({_UNIT}))?\s*$"

_DURATION_HINT = "use a number of seconds or a string like '250us', '5ms', '2s', '1.5min', '1h'"
_RATE_HINT = "use a number per second or a string like '200/s', '12000/min', '3/ms', '10/h'"


def _finite_number(value: object) -> float | None:
    """`value` as a float if it is a finite real number (booleans are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def parse_duration(value: float | int | str) -> float:
    """A time in seconds, from a number of seconds or a string with a unit.

    Negative values parse (the field types reject them with a message naming the rule);
    booleans, NaN, infinities and anything else raise `ValueError`.

    >>> parse_duration("5 ms"), parse_duration("0.5"), parse_duration("2s")
    (0.005, 0.5, 2.0)
    >>> parse_duration("5 parsecs")
    Traceback (most recent call last):
    ...
    ValueError: '5 parsecs' is not a duration: use a number of seconds or a string like \
'250us', '5ms', '2s', '1.5min', '1h'
    """
    number = _finite_number(value)
    if number is not None:
        return number
    if isinstance(value, str):
        match = _DURATION_RE.fullmatch(value)
        if match is not None:
            scale = SECONDS_PER_UNIT[match["unit"] or "s"]
            return float(Decimal(match["number"]) * scale)
    raise ValueError(f"{value!r} is not a duration: {_DURATION_HINT}")


def parse_rate(value: float | int | str) -> float:
    """A rate in events per second, from a number per second or a string ``N/UNIT``.

    >>> parse_rate("200/s"), parse_rate("5 /s"), parse_rate("10/h") * 3600
    (200.0, 5.0, 10.0)
    >>> parse_rate("fast")
    Traceback (most recent call last):
    ...
    ValueError: 'fast' is not a rate: use a number per second or a string like \
'200/s', '12000/min', '3/ms', '10/h'
    """
    number = _finite_number(value)
    if number is not None:
        return number
    if isinstance(value, str):
        match = _RATE_RE.fullmatch(value)
        if match is not None:
            per = SECONDS_PER_UNIT[match["unit"] or "s"]
            return float(Decimal(match["number"]) / per)
    raise ValueError(f"{value!r} is not a rate: {_RATE_HINT}")


def duration_json_schema(*, positive: bool = False) -> dict[str, Any]:
    """JSON Schema of a time: seconds as a number, or a string with a unit."""
    bound = {"exclusiveMinimum": 0} if positive else {"minimum": 0}
    return {
        "anyOf": [
            {"type": "number", **bound},
            {"type": "string", "pattern": DURATION_PATTERN},
        ],
        "description": "seconds, or a string with a unit: '250us', '5ms', '2s', '1.5min', '1h'",
    }


def rate_json_schema() -> dict[str, Any]:
    """JSON Schema of a rate: per second as a number, or a string ``N/UNIT``."""
    return {
        "anyOf": [
            {"type": "number", "exclusiveMinimum": 0},
            {"type": "string", "pattern": RATE_PATTERN},
        ],
        "description": "per second, or a string with a unit: '200/s', '12000/min', '3/ms'",
    }


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    Field(ge=0),
    WithJsonSchema(duration_json_schema()),
]
"""A time >= 0, in seconds."""

PositiveDuration = Annotated[
    float,
    BeforeValidator(parse_duration),
    Field(gt=0),
    WithJsonSchema(duration_json_schema(positive=True)),
]
"""A time > 0, in seconds."""

Rate = Annotated[
    float,
    BeforeValidator(parse_rate),
    Field(gt=0),
    WithJsonSchema(rate_json_schema()),
]
"""A rate > 0, in events per second."""
