"""What a person types and reads: sweep values with units, scheduler addresses, and numbers
in tables (no noise, intervals clipped to what a quantity can take, tables that fit)."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from models.results import QueueLength
from sim.experiments.executors import SchedulerError, parse_scheduler_address
from sim.experiments.sweep import parse_values
from sim.presentation.formatting import fit, new_table, number, significant, with_interval


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("20..95:4", [20.0, 45.0, 70.0, 95.0]),
        ("50/s..200/s:4", [50.0, 100.0, 150.0, 200.0]),
        ("20ms..200ms:5", [0.02, 0.065, 0.11, 0.155, 0.2]),
        ("1200/min..3600/min:3", [20.0, 40.0, 60.0]),
        ("0..1s:3", [0.0, 0.5, 1.0]),
        ("5ms, 250us,1.5min", [0.005, 0.00025, 90.0]),
        ("8,10,12", [8.0, 10.0, 12.0]),
    ],
)
def test_sweep_values_take_the_units_of_the_scenario_language(
    text: str, values: list[float]
) -> None:
    assert parse_values(text) == values


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("10/s..20ms", "both be times or both be rates"),
        ("fast", "is not a number, a time"),
        ("1..5:1", "at least 2 steps"),
        ("1..5:x", "STEPS must be a whole number"),
        ("inf..5", "not a finite number"),
        ("", "no values"),
    ],
)
def test_bad_sweep_values_say_why(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_values(text)


@pytest.mark.parametrize(
    ("address", "parsed"),
    [
        ("tcp://10.0.0.5:8786", ("tcp", "10.0.0.5", 8786)),
        ("scheduler:8786", ("tcp", "scheduler", 8786)),
        ("tls://[::1]:8786", ("tls", "::1", 8786)),
    ],
)
def test_scheduler_addresses(address: str, parsed: tuple[str, str, int]) -> None:
    assert parse_scheduler_address(address) == parsed


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("foo", "no port"),
        ("tcp://", "no host and port"),
        ("tcp://:8786", "no host"),
        ("tcp://host:notaport", "the port 'notaport' is not a number"),
        ("tcp://host:70000", "not between 1 and 65535"),
        ("http://host:80", "unknown protocol 'http://'"),
    ],
)
def test_bad_scheduler_addresses_say_why(address: str, message: str) -> None:
    with pytest.raises(SchedulerError, match=message):
        parse_scheduler_address(address)


def test_tiny_values_show_as_zero() -> None:
    assert number(1.172e-41, 1000) == "0.00"
    assert number(-1e-12) == "0.00"  # never -0.00
    assert significant(1.172e-41, 1000) == "0"
    assert significant(1.787e-19) == "0"
    assert significant(0.02694, 1000) == "26.94"


def test_intervals_are_clipped_at_zero_and_one() -> None:
    wide = QueueLength(mean=0.2, max=3, ci95={"mean": (-0.1, 0.5)})
    assert with_interval(wide, "mean") == "0.20 +0.30 -0.20"
    narrow = QueueLength(mean=2.0, max=5, ci95={"mean": (1.5, 2.5)})
    assert with_interval(narrow, "mean") == "2.00 ±0.50"
    busy = QueueLength(mean=0.95, max=1, ci95={"mean": (0.85, 1.05)})
    assert with_interval(busy, "mean", high=1.0) == "0.95 +0.05 -0.10"
    raw = QueueLength(mean=0.2, max=3, ci95={"mean": (-0.1, 0.5)})
    assert with_interval(raw, "mean", low=None) == "0.20 ±0.30"


@pytest.mark.parametrize("width", [90, 80])
def test_fit_keeps_every_word_whole(width: int) -> None:
    """A table wider than the terminal gets column widths that wrap cells at spaces instead
    of cutting headers and names (rich alone shrinks every column evenly); at 80 columns
    only with one space between a cell and the next border."""
    columns = ("service", "arrivals/s", "throughput/s", "utilization", "P(wait)", "queue")
    table = new_table("Services", columns, left=("service",))
    for name in ("checkout-service", "db"):
        table.add_row(name, *["479.88 ±47.33"] * 5)
    output = io.StringIO()
    Console(file=output, width=width).print(fit(table, width))
    shown = output.getvalue()
    assert "…" not in shown
    assert "checkout-service" in shown and "throughput/s" in shown
    assert max(len(line) for line in shown.splitlines()) <= width
