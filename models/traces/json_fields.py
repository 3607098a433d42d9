"""Reading fields of a parsed JSON document with the place of every problem.

The readers of the three trace formats walk plain dicts and lists; each value they take
passes through one of these functions, which return the value or None and record a problem
``PLACE: RULE (got VALUE)`` (attrs' pattern) in a `Problems` list, so that one pass reports
everything wrong with a file.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from typing import Any

from models.errors import short_repr

_HEX = re.compile(r"[0-9a-fA-F]+")


class Problems:
    """What is wrong with one document; `prefix` (e.g. ``line 3: ``) starts every place."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self.items: list[str] = []

    def add(self, place: str, rule: str, value: Any = ...) -> None:
        """Record ``PLACE: RULE (got VALUE)``; without a value, ``PLACE: RULE``."""
        given = "" if value is ... else f" (got {short_repr(value)})"
        self.items.append(f"{self.prefix}{place}: {rule}{given}")


def place_of(parent: str, key: str | int) -> str:
    """The JSON path of `key` under `parent`: ``a.b``, ``a[3]``, ``[3]``, ``b``."""
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else key


def mapping(value: Any, place: str, problems: Problems) -> dict[str, Any] | None:
    """`value` if it is a JSON object, else None and a problem."""
    if isinstance(value, dict):
        return value
    problems.add(place, "must be an object", value)
    return None


def items(value: Any, place: str, problems: Problems, *, required: bool = True) -> list[Any]:
    """`value` if it is a JSON array ([] for a missing optional one), else [] and a problem."""
    if isinstance(value, list):
        return value
    if value is None and not required:
        return []
    problems.add(place, "must be an array" if value is not None else "is missing", value)
    return []


def text(
    owner: dict[str, Any], key: str, place: str, problems: Problems, *, required: bool = True
) -> str | None:
    """The string at `owner[key]`; None (and a problem if `required`) when absent or not text."""
    value = owner.get(key)
    if isinstance(value, str) and value:
        return value
    if value is None or value == "":
        if required:
            problems.add(place_of(place, key), "is missing")
        return None
    problems.add(place_of(place, key), "must be a string", value)
    return None


def number(
    owner: dict[str, Any], key: str, place: str, problems: Problems, *, required: bool = True
) -> float | None:
    """The finite number >= 0 at `owner[key]`, given as a JSON number or a decimal string
    (OTLP writes 64-bit integers as strings); None and a problem when it is not one."""
    value = owner.get(key)
    if value is None:
        if required:
            problems.add(place_of(place, key), "is missing")
        return None
    result: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(int(value)) if value.strip().lstrip("-").isdigit() else float(value)
        except ValueError:
            result = None
    if result is None or not math.isfinite(result) or result < 0:
        problems.add(place_of(place, key), "must be a number >= 0", value)
        return None
    return result


def integer_nanos(owner: dict[str, Any], key: str, place: str, problems: Problems) -> int | None:
    """An exact integer number of nanoseconds (a JSON integer or a decimal string)."""
    value = owner.get(key)
    if isinstance(value, bool):
        problems.add(place_of(place, key), "must be an integer number of nanoseconds", value)
        return None
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    if value is None:
        problems.add(place_of(place, key), "is missing")
    else:
        problems.add(place_of(place, key), "must be an integer number of nanoseconds", value)
    return None


def hex_id(
    value: Any, digits: int, place: str, problems: Problems, *, required: bool = True
) -> str | None:
    """A trace or span id as lowercase hex: given as hex (OTLP JSON, Jaeger, Zipkin; shorter
    ids are padded with zeros, as Zipkin's 64-bit trace ids and Jaeger's trimmed ones) or as
    base64 of its bytes (protobuf's canonical JSON); None and a problem otherwise."""
    if value is None or value == "":
        if required:
            problems.add(place, "is missing")
        return None
    if isinstance(value, str):
        if _HEX.fullmatch(value) and len(value) <= digits:
            return value.lower().rjust(digits, "0")
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) == digits // 2:
            return raw.hex()
    problems.add(place, f"must be an id of at most {digits} hex digits", value)
    return None
