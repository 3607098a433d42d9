"""Time series across replications: the mean at each sample time with its 95% interval.

Every replication samples at the same times (every `simulation.sample_interval` from time
0, and at the end of the run), so the replications' values of one (time, kind, entity,
metric) are independent observations of the same quantity: their mean and 95% Student-t
interval mean ± t(0.975, n-1) · s / √n (as `sim.experiments.statistics.t_interval`,
vectorised). NaN values (an interval without responses has no p99) are left out: n counts
the replications with a value there.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from sim.experiments.statistics import CONFIDENCE

KEYS = ["time", "kind", "entity", "metric"]
AGGREGATE_COLUMNS = [*KEYS, "mean", "ci_low", "ci_high", "replications"]


def aggregate_series(frame: pd.DataFrame) -> pd.DataFrame:
    """The long-format time series `frame` (replication, time, kind, entity, metric, value)
    averaged across replications: one row per (time, kind, entity, metric), in the order
    they first appear, with columns time, kind, entity, metric, mean, ci_low, ci_high and
    replications (the number of finite values). The interval is NaN with fewer than two
    values, the mean too with none.

    >>> frame = pd.DataFrame({"replication": [0, 1, 2], "time": 1.0, "kind": "flow",
    ...     "entity": "f", "metric": "p99", "value": [1.0, 2.0, 3.0]})
    >>> row = aggregate_series(frame).iloc[0]
    >>> float(row["mean"]), round(float(row["ci_low"]), 3), round(float(row["ci_high"]), 3)
    (2.0, -0.484, 4.484)
    """
    if frame.empty:
        return pd.DataFrame(columns=AGGREGATE_COLUMNS)
    values = frame["value"].astype(float)
    finite = frame.assign(value=values.where(np.isfinite(values)))
    grouped = finite.groupby(KEYS, sort=False)["value"]
    summary = grouped.agg(["mean", "std", "count"]).reset_index()
    count = summary["count"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        quantile = stats.t.ppf(0.5 + CONFIDENCE / 2, np.where(count >= 2, count - 1, np.nan))
        half_width = quantile * summary["std"].to_numpy(dtype=float) / np.sqrt(count)
    mean = summary["mean"].to_numpy(dtype=float)
    return pd.DataFrame(
        {
            **{key: summary[key] for key in KEYS},
            "mean": mean,
            "ci_low": mean - half_width,
            "ci_high": mean + half_width,
            "replications": summary["count"].astype(int),
        }
    )[AGGREGATE_COLUMNS]
