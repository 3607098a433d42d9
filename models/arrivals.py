"""Arrivals whose rate changes: Markov-modulated bursts, replayed traces and daily cycles
(docs/scenario-language.md, "Workload"). Times count from the start of the run, warm-up
included, like rate profiles.

- `mmpp: {rates: [r0, r1, ...], switch_rates: [s0, s1, ...]}`: in phase i arrivals are
  Poisson at r_i; the phase is left at rate s_i for the next one (i+1 mod n); the first
  phase is drawn from the stationary distribution, pi_i proportional to 1 / s_i.
- `trace: {file: arrivals.csv, speed: 1, repeat: false}`: one arrival time per line
  (seconds from the start, or a unit), or a column `time`; `speed: 2` replays twice as fast,
  `repeat: true` loops it (a loop lasts as long as its last arrival time).
- `sinusoid: {mean, amplitude, period, phase: 0s}`: Poisson with rate
  mean + amplitude sin(2 pi (t - phase) / period).
"""

from __future__ import annotations

import csv
import itertools
import math
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from models.units import Duration, PositiveDuration, parse_duration, parse_rate

NonNegativeRate = Annotated[float, BeforeValidator(parse_rate), Field(ge=0)]
PositiveRate = Annotated[float, BeforeValidator(parse_rate), Field(gt=0)]


class ArrivalModel(BaseModel):
    """Base of the models here: unknown keys are errors, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class MmppSpec(ArrivalModel):
    """A Markov-modulated Poisson process with phases in a cycle."""

    rates: Annotated[list[NonNegativeRate], Field(min_length=2)]
    switch_rates: Annotated[list[PositiveRate], Field(min_length=2)]

    @model_validator(mode="after")
    def _consistent(self) -> MmppSpec:
        if len(self.rates) != len(self.switch_rates):
            raise ValueError(
                f"'rates' and 'switch_rates' need one value per phase (got {len(self.rates)} "
                f"and {len(self.switch_rates)})"
            )
        if not any(self.rates):
            raise ValueError("an mmpp needs a positive rate in some phase")
        return self

    @property
    def stationary(self) -> list[float]:
        """The stationary phase probabilities: pi_i proportional to the mean time in phase i,
        1 / s_i (the phases form a cycle).

        >>> MmppSpec(rates=[1, 9], switch_rates=[1, 3]).stationary
        [0.75, 0.25]
        """
        weights = [1.0 / rate for rate in self.switch_rates]
        total = math.fsum(weights)
        return [weight / total for weight in weights]

    @property
    def mean_rate(self) -> float:
        """The long-run arrival rate sum(pi_i r_i)."""
        return math.fsum(p * r for p, r in zip(self.stationary, self.rates, strict=True))


class MmppArrivals(ArrivalModel):
    """Bursty arrivals: a Markov-modulated Poisson process."""

    mmpp: MmppSpec


def read_arrival_times(path: Path) -> list[float]:
    """Arrival times from a CSV file: one per line, or the column `time` of a header row;
    non-decreasing, >= 0."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ValueError(f"cannot read trace {str(path)!r}: {error.strerror}") from None
    rows = [
        [cell.strip() for cell in row]
        for row in csv.reader(text.splitlines())
        if row and row[0].strip() and not row[0].strip().startswith("#")
    ]
    column = 0
    if rows and any(cell.lower() == "time" for cell in rows[0]):
        column = [cell.lower() for cell in rows[0]].index("time")
        rows = rows[1:]
    times = []
    for number, row in enumerate(rows, start=1):
        if column >= len(row):
            raise ValueError(f"trace {path}: row {number} has no column {column + 1}")
        try:
            times.append(parse_duration(row[column]))
        except ValueError:
            raise ValueError(
                f"trace {path}: row {number}: expected a time (got {row[column]!r})"
            ) from None
    if not times:
        raise ValueError(f"trace {path}: no arrival times")
    if any(later < earlier for earlier, later in itertools.pairwise(times)):
        raise ValueError(f"trace {path}: arrival times must not decrease")
    if times[0] < 0:
        raise ValueError(f"trace {path}: arrival times must be >= 0 (got {times[0]:g})")
    return times


class TraceSpec(ArrivalModel):
    """A replayed trace of arrival times (read once, when the scenario is loaded)."""

    file: str = Field(description="CSV of arrival times, relative to the scenario file")
    speed: float = Field(default=1.0, gt=0.0, description="2 replays twice as fast")
    repeat: bool = Field(default=False, description="loop the trace")
    _times: tuple[float, ...] = PrivateAttr(default=())

    @field_validator("file")
    @classmethod
    def _absolute(cls, file: str, info: ValidationInfo) -> str:
        """Resolve the file against the scenario's folder (so a resolved scenario and its
        variants find it again)."""
        base = (info.context or {}).get("base_dir")
        path = Path(file)
        if not path.is_absolute() and base is not None:
            path = Path(base) / path
        return str(path)

    @model_validator(mode="after")
    def _load(self) -> TraceSpec:
        self._times = tuple(read_arrival_times(Path(self.file)))
        if self.repeat and self._times[-1] <= 0:
            raise ValueError("a repeated trace needs a last arrival time > 0")
        return self

    @property
    def times(self) -> tuple[float, ...]:
        """The arrival times of the file (seconds, before `speed`)."""
        return self._times

    def count_between(self, start: float, end: float) -> float:
        """How many arrivals the replay makes in [start, end) (with speed and repeat)."""
        import numpy as np  # imported here: start-up time, see tests/unit/test_startup.py

        scaled = np.asarray(self._times) / self.speed
        if not self.repeat:
            return float(np.count_nonzero((scaled >= start) & (scaled < end)))
        length = scaled[-1]
        total = 0
        first_loop = math.floor(start / length) if length > 0 else 0
        loop = max(first_loop - 1, 0)
        while loop * length < end:
            shifted = scaled + loop * length
            total += int(np.count_nonzero((shifted >= start) & (shifted < end)))
            loop += 1
        return float(total)


def _trace_from_string(value: Any) -> Any:
    """``trace: arrivals.csv`` is shorthand for ``trace: {file: arrivals.csv}``."""
    return {"file": value} if isinstance(value, str) else value


class TraceArrivals(ArrivalModel):
    """Arrivals replayed from a file of arrival times."""

    trace: Annotated[
        TraceSpec, BeforeValidator(_trace_from_string, json_schema_input_type=str | TraceSpec)
    ]


class SinusoidSpec(ArrivalModel):
    """A Poisson rate that follows a sine: a daily cycle."""

    mean: PositiveRate
    amplitude: NonNegativeRate
    period: PositiveDuration
    phase: Duration = 0.0

    @model_validator(mode="after")
    def _never_negative(self) -> SinusoidSpec:
        if self.amplitude > self.mean:
            raise ValueError(
                f"'amplitude' must be <= 'mean' so that the rate is never negative "
                f"(got {self.amplitude:g} > {self.mean:g})"
            )
        return self

    def rate(self, time: float) -> float:
        """The arrival rate at `time` (seconds from the start)."""
        return self.mean + self.amplitude * math.sin(
            2 * math.pi * (time - self.phase) / self.period
        )

    def integral(self, start: float, end: float) -> float:
        """The expected number of arrivals in [start, end): the integral of the rate.

        >>> round(SinusoidSpec(mean=2, amplitude=1, period=4).integral(0, 4), 9)
        8.0
        """
        omega = 2 * math.pi / self.period
        cosines = math.cos(omega * (start - self.phase)) - math.cos(omega * (end - self.phase))
        return self.mean * (end - start) + self.amplitude / omega * cosines


class SinusoidArrivals(ArrivalModel):
    """Poisson arrivals with a sinusoidal rate."""

    sinusoid: SinusoidSpec
