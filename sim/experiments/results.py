"""What `sim.simulate` returns: the results document, typed, with the replications behind it.

`Results` is the results document of docs/results.md (`models.results.ResultsDocument`:
``results.flows["checkout"].response_time.p99``) plus what a saved document does not
hold: each replication's own statistics (`replications`) and time series (`timeseries()`,
or their mean across replications with 95% intervals: `timeseries(aggregate=True)`).
With two or more replications every statistic is the mean across them with its 95%
interval in `ci95` (`sim.experiments.statistics`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import PrivateAttr

from models.results import Measurements, ResultsDocument, Settings
from sim.engine import ReplicationRun
from sim.engine.timeseries import TimeSeriesColumns
from sim.experiments.diagnostics import results_warnings
from sim.experiments.statistics import aggregate

if TYPE_CHECKING:
    import pandas as pd

TIMESERIES_COLUMNS = ["replication", "time", "kind", "entity", "metric", "value"]
TABLE_COLUMNS = ["kind", "entity", "metric", "statistic", "mean", "ci_low", "ci_high"]


class Results(ResultsDocument):
    """The results of a simulation: the aggregate document and its replications."""

    _replications: list[Measurements] = PrivateAttr(default_factory=list)
    _series: list[TimeSeriesColumns] = PrivateAttr(default_factory=list)

    @classmethod
    def of_runs(
        cls, scenario: str, variant: str | None, settings: Settings, runs: Sequence[ReplicationRun]
    ) -> Results:
        """Aggregate the replications of one scenario (at least one) into its results."""
        measurements = [run.measurements for run in runs]
        summary = aggregate(measurements)
        results = cls(
            scenario=scenario,
            variant=variant,
            settings=settings,
            flows=summary.flows,
            services=summary.services,
            topics=summary.topics,
            calls=summary.calls,
            faults=summary.faults,
            warnings=results_warnings(summary, settings.duration, bool(settings.partial)),
        )
        results._replications = measurements
        results._series = [run.timeseries for run in runs]
        return results

    @property
    def replications(self) -> list[Measurements]:
        """Each replication's own statistics, in order (empty for a loaded document)."""
        return self._replications

    @classmethod
    def from_json(cls, text: str | bytes) -> Results:
        """Load a saved results document (`to_json`, or `archsim run --out`'s results.json);
        it holds no replications and no time series."""
        return cls.model_validate_json(text)

    def to_json(self, indent: int | None = 2) -> str:
        """The results document as JSON (docs/results.md; non-finite numbers as null)."""
        return json.dumps(self.to_dict(), indent=indent)

    def timeseries(self, aggregate: bool = False) -> pd.DataFrame:
        """Long-format time series of every replication: replication, time, kind, entity,
        metric, value (see `sim.engine.timeseries`).

        With `aggregate`, one row per sample time, kind, entity and metric with the mean
        across replications and its 95% Student-t interval: time, kind, entity, metric,
        mean, ci_low, ci_high, replications (NaN values, such as the p99 of an interval
        without responses, left out; `sim.experiments.timeseries.aggregate_series`)."""
        import pandas as pd  # (imported here: start-up time, see tests/unit/test_startup.py)

        from sim.experiments.timeseries import aggregate_series

        if aggregate:
            return aggregate_series(self.timeseries())
        frames = [
            pd.DataFrame(columns).assign(replication=index)
            for index, columns in enumerate(self._series)
        ]
        if not frames:
            return pd.DataFrame(columns=TIMESERIES_COLUMNS)
        return pd.concat(frames, ignore_index=True)[TIMESERIES_COLUMNS]

    def to_dataframe(self) -> pd.DataFrame:
        """A tidy table: one row per (kind, entity, metric, statistic) with mean and ci95."""
        import pandas as pd  # (imported here: start-up time)

        rows: list[dict[str, Any]] = []
        document = self.to_dict()
        for kind in ("flows", "services", "topics"):
            for entity, values in document[kind].items():
                _flatten(rows, kind.rstrip("s"), entity, values, prefix="")
        return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def _flatten(
    rows: list[dict[str, Any]], kind: str, entity: str, values: dict[str, Any], prefix: str
) -> None:
    """Append a row per number of an entity's document (groups of a topic as their own
    entities ``topic/group``)."""
    intervals = values.get("ci95", {})
    for key, value in values.items():
        if key == "ci95":
            continue
        if isinstance(value, dict):
            if kind == "topic" and key == "groups":
                for group, group_values in value.items():
                    _flatten(rows, "group", f"{entity}/{group}", group_values, prefix="")
                continue
            _flatten(rows, kind, entity, value, prefix=f"{prefix}{key}.")
            continue
        metric, _, statistic = f"{prefix}{key}".rpartition(".")
        low, high = intervals.get(key, (None, None))
        rows.append(
            {
                "kind": kind,
                "entity": entity,
                "metric": metric or statistic,
                "statistic": statistic if metric else "value",
                "mean": value,
                "ci_low": low,
                "ci_high": high,
            }
        )
