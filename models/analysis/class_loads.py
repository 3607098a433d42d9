"""A station's classes: per priority, its operations' worker acquisitions, fresh arrivals
and holding time per acquisition taken together (`station_load.ClassLoad`), with what the
formulas can use of their work's law (`models.analysis.work_laws`)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence

from models.analysis.graph import OpKey
from models.analysis.moments import Moments, mixture
from models.analysis.station_load import ClassLoad
from models.analysis.summary import OperationSummary
from models.analysis.work_laws import known_laws, mixed_third_moment, work_facts
from models.distributions import Distribution
from models.schema import Scenario

NO_FACTS: tuple[None, None, None] = (None, None, None)
"""`work_facts` of an operation that takes its worker more than once (none apply)."""


def class_loads(
    scenario: Scenario,
    summaries: Mapping[OpKey, OperationSummary],
    rates: Mapping[OpKey, float],
    keys: Sequence[OpKey],
    share: float,
) -> tuple[ClassLoad, ...]:
    """One class per priority of the operations `keys` at a pool that gets `share` of
    their calls (`rates`): acquisitions and fresh arrivals per second, the holding time per
    acquisition (the operations' mixture by acquisitions), and where every operation that
    runs agrees, its exponential mean and hyperexponential law; E[S³] and the laws where
    every one has them (`work_laws`); i.i.d. and exact where every one that acquires the
    pool is. One loop over each class's operations: a station's classes are new wherever
    its operations' holding times moved, most of them one operation."""
    groups: list[tuple[int, list[OpKey]]]
    if len(keys) == 1:
        groups = [(keys[0].priority, list(keys))]
    else:
        by_priority: dict[int, list[OpKey]] = defaultdict(list)
        for key in keys:
            by_priority[key.priority].append(key)
        groups = sorted(by_priority.items())
    result = []
    rate_of = rates.get
    for priority, members in groups:
        acquired: list[float] = []
        fresh: list[float] = []
        holdings: list[tuple[float, Moments]] = []
        means = set()
        laws = set()
        thirds: list[tuple[float, float | None]] = []
        owned: list[tuple[float, Distribution | None]] = []
        iid = holding_exact = True  # (of the operations that acquire the pool)
        for key in members:
            summary = summaries[key]
            rate = rate_of(key, 0.0) * share
            per = summary.acquisitions
            holding = Moments(summary.holding.mean / per, summary.holding.variance / per)
            acquisitions = rate * per
            acquired.append(acquisitions)
            fresh.append(rate)
            holdings.append((acquisitions, holding))
            if acquisitions > 0:
                iid = iid and summary.iid
                holding_exact = holding_exact and summary.holding_exact
            if rate > 0:
                means.add(summary.exponential_mean if per == 1.0 else None)
                facts = work_facts(scenario, key, holding) if per == 1.0 else NO_FACTS
                laws.add(facts[0])
                thirds.append((acquisitions, facts[1]))
                owned.append((acquisitions, facts[2]))
        result.append(
            ClassLoad(
                priority=priority,
                arrival_rate=math.fsum(acquired),
                fresh_rate=math.fsum(fresh),
                holding=mixture(holdings),
                exponential_mean=next(iter(means)) if len(means) == 1 else None,
                hyperexponential=next(iter(laws)) if len(laws) == 1 else None,
                third_moment=mixed_third_moment(thirds),
                laws=known_laws(owned),
                iid=iid,
                holding_exact=holding_exact,
            )
        )
    return tuple(result)
