"""Deterministic unit tests of `models.units`: every time and rate unit, and bad input."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from models.units import (
    DURATION_PATTERN,
    RATE_PATTERN,
    Duration,
    PositiveDuration,
    Rate,
    parse_duration,
    parse_rate,
)

DURATIONS: list[tuple[Any, float]] = [
    (0, 0.0),
    (2, 2.0),
    (0.25, 0.25),
    ("0.5", 0.5),
    ("3", 3.0),
    ("1e-3", 0.001),
    ("7ns", 7e-9),
    ("250us", 0.00025),
    ("250µs", 0.00025),  # MICRO SIGN
    ("250μs", 0.00025),  # GREEK SMALL LETTER MU
    ("5ms", 0.005),
    ("5 ms", 0.005),
    ("  5ms  ", 0.005),
    ("0.1ms", 0.0001),
    (".5s", 0.5),
    ("2s", 2.0),
    ("+2s", 2.0),
    ("1.5min", 90.0),
    ("1h", 3600.0),
    ("2.5e3ms", 2.5),
    ("-3ms", -0.003),  # parses; the field types reject it with a message naming the rule
]

RATES: list[tuple[Any, float]] = [
    (200, 200.0),
    (0.5, 0.5),
    ("200", 200.0),
    ("200/s", 200.0),
    ("5 /s", 5.0),
    ("5/ s", 5.0),
    ("12000/min", 200.0),
    ("3/ms", 3000.0),
    ("2/us", 2e6),
    ("1/ns", 1e9),
    ("7200/h", 2.0),
    ("10/h", 10 / 3600),
    ("1.5e3/min", 25.0),
]

BAD_VALUES: list[Any] = [
    "5 parsecs",
    "",
    "ms",
    "5m",  # ambiguous: minutes or milliseconds?
    "5 MS",
    "5ms ms",
    "1,5s",
    "nan",
    "inf",
    "5s/s",
    True,
    False,
    None,
    math.nan,
    math.inf,
    -math.inf,
    [5],
    {"ms": 5},
]


@pytest.mark.parametrize(("given", "seconds"), DURATIONS)
def test_parse_duration_every_unit(given: Any, seconds: float) -> None:
    assert parse_duration(given) == seconds


@pytest.mark.parametrize(("given", "per_second"), RATES)
def test_parse_rate_every_unit(given: Any, per_second: float) -> None:
    assert parse_rate(given) == pytest.approx(per_second, rel=1e-15)


def test_decimal_scaling_is_exact() -> None:
    assert parse_duration("0.1ms") == 0.0001
    assert parse_duration("3ms") == 0.003
    assert parse_rate("12000/min") == 200.0


@pytest.mark.parametrize("given", BAD_VALUES)
def test_bad_durations_name_the_value_and_the_accepted_forms(given: Any) -> None:
    expected = (
        f"{given!r} is not a duration: use a number of seconds or a string like "
        "'250us', '5ms', '2s', '1.5min', '1h'"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
        parse_duration(given)


@pytest.mark.parametrize("given", [*BAD_VALUES, "200/sec", "200 per s", "/s", "200//s"])
def test_bad_rates_name_the_value_and_the_accepted_forms(given: Any) -> None:
    expected = (
        f"{given!r} is not a rate: use a number per second or a string like "
        "'200/s', '12000/min', '3/ms', '10/h'"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
        parse_rate(given)


class Timing(BaseModel):
    wait: Duration = 0.0
    period: PositiveDuration = 1.0
    rate: Rate = 1.0


def test_field_types_normalise_units() -> None:
    timing = Timing(wait="250us", period="1.5min", rate="12000/min")
    assert (timing.wait, timing.period, timing.rate) == (0.00025, 90.0, 200.0)
    assert Timing(wait=0).wait == 0.0


@pytest.mark.parametrize(
    ("field", "given", "rule"),
    [
        ("wait", -3, "greater than or equal to 0"),
        ("wait", "-3ms", "greater than or equal to 0"),
        ("period", 0, "greater than 0"),
        ("period", "-3s", "greater than 0"),
        ("rate", "0/s", "greater than 0"),
        ("rate", -5, "greater than 0"),
    ],
)
def test_field_types_name_the_rule_and_the_value(field: str, given: Any, rule: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Timing.model_validate({field: given})
    (error,) = caught.value.errors()
    assert error["loc"] == (field,)
    assert rule in error["msg"]
    assert error["input"] == given  # the value as written, not the parsed seconds


def test_field_types_report_bad_strings() -> None:
    with pytest.raises(ValidationError) as caught:
        Timing.model_validate({"wait": "5 parsecs", "rate": "fast"})
    messages = {error["loc"][0]: error["msg"] for error in caught.value.errors()}
    assert "'5 parsecs' is not a duration" in messages["wait"]
    assert "'fast' is not a rate" in messages["rate"]


def test_json_schema_shows_number_and_string_forms() -> None:
    properties = Timing.model_json_schema()["properties"]
    wait_number, wait_string = properties["wait"]["anyOf"]
    assert wait_number == {"type": "number", "minimum": 0}
    assert wait_string == {"type": "string", "pattern": DURATION_PATTERN}
    assert properties["period"]["anyOf"][0] == {"type": "number", "exclusiveMinimum": 0}
    assert properties["rate"]["anyOf"][1] == {"type": "string", "pattern": RATE_PATTERN}


@pytest.mark.parametrize(
    ("pattern", "accepted", "rejected"),
    [
        (DURATION_PATTERN, ["250us", "5 ms", "2s", "1.5min", "1h", "0.5", "250µs"], ["5 parsecs"]),
        (RATE_PATTERN, ["200/s", "12000/min", "5 /s", "3/ms", "10/h", "200"], ["200/sec", "x"]),
    ],
)
def test_schema_patterns_agree_with_the_parsers(
    pattern: str, accepted: list[str], rejected: list[str]
) -> None:
    for text in accepted:
        assert re.search(pattern, text), text
    for text in rejected:
        assert not re.search(pattern, text), text
    assert not re.search(DURATION_PATTERN, "-5ms")  # the schema only documents valid times
