"""Resampled observations (``empirical: [samples]`` or ``empirical: {file: times.csv}``):
a distribution that draws one of the observed times, each with probability 1/n."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from models.distribution_checks import check_parameters, show_number
from models.distributions import Distribution, Samples
from models.units import parse_duration

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class Empirical(Distribution):
    """Uniform resampling of observed times: the moments are those of the values themselves.

    mean = average of the values, variance = their population variance (divide by n), since a
    draw picks one of the n values with probability 1/n each. `source` names the CSV file the
    values came from, if any.
    """

    family: ClassVar[str] = "empirical"
    values: tuple[float, ...]
    source: str | None = field(default=None, compare=False)
    _array: Samples = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        import numpy as np  # imported here: start-up time, see tests/unit/test_startup.py

        array = np.asarray(self.values, dtype=np.float64)
        where = f" in {self.source}" if self.source else ""
        problems = [] if array.size else [f"needs at least one sample{where} (got [])"]
        bad = np.flatnonzero(~(np.isfinite(array) & (array >= 0)))
        if bad.size:
            first = int(bad[0])
            problems.append(
                f"samples must be finite and >= 0{where} (got {show_number(self.values[first])} "
                f"at index {first})"
            )
        check_parameters(self.family, problems)
        object.__setattr__(self, "values", tuple(array.tolist()))
        object.__setattr__(self, "_array", array)

    @classmethod
    def from_csv(cls, path: Path) -> Empirical:
        """Read one column of times (seconds, or strings with a unit); a header is skipped."""
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise ValueError(f"empirical: cannot read {str(path)!r}: {error.strerror}") from None
        values: list[float] = []
        first_row = True
        for line, row in enumerate(csv.reader(text.splitlines()), start=1):
            cells = [cell.strip() for cell in row]
            while cells and not cells[-1]:
                cells.pop()
            if not cells or cells[0].startswith("#"):
                continue
            if len(cells) != 1:
                raise ValueError(
                    f"empirical: {path} line {line}: expected one column of numbers "
                    f"(got {len(cells)} columns)"
                )
            try:
                values.append(parse_duration(cells[0]))
            except ValueError:
                if not first_row:
                    raise ValueError(
                        f"empirical: {path} line {line}: expected a time (got {cells[0]!r})"
                    ) from None
            first_row = False
        return cls(tuple(values), source=str(path))

    @property
    def mean(self) -> float:
        return float(self._array.mean())

    @property
    def variance(self) -> float:
        return float(self._array.var())

    def sample(self, rng: np.random.Generator, size: int) -> Samples:
        return self._array[rng.integers(0, self._array.size, size)]

    def to_spec(self) -> dict[str, Any]:
        return {self.family: list(self.values)}
