"""A flow's renewal arrivals at its entry pool: where a pool sees them, and GI/M/c there.

A flow with `arrivals: {constant: R}` or `{interarrival: LAW}` sends its requests a random
(or constant) time apart, independently. The pool it calls as its entry sees that very
stream when nothing else reaches it: one call and one worker acquisition per request, no
other flow or caller, no failures (rejections and crashes thin it). With exponential
servers it is then GI/M/c exactly (`models.theory.gi_m_c`), for the laws whose Laplace
transform has a closed form (`Distribution.laplace`): D/M/c for constant gaps, E_k/M/c for
Erlang ones. Elsewhere the stream after a queue, or merged with others, is no longer
renewal, and the two-moment formulas stay.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Protocol

from models.analysis.graph import OpKey
from models.analysis.station_load import ClassLoad, RenewalLaw
from models.analysis.traffic import Traffic
from models.distributions import Constant, Distribution, Erlang
from models.schema import ConstantArrivals, InterarrivalArrivals, Scenario
from models.theory.prediction import StationPrediction
from models.theory.renewal_arrivals import gi_m_c


class _Rated(Protocol):
    """A flow's source as `entry_stream` reads it (`models.analysis.loads.FlowSource`)."""

    @property
    def rate(self) -> float: ...


def renewal_entries(scenario: Scenario) -> dict[str, list[str]]:
    """Per service, the flows of renewal arrivals that call it as their entry, in the
    workload's order (the scenario's structure: `entry_stream` reads it for every pool)."""
    entries: dict[str, list[str]] = {}
    for name, flow in scenario.workload.items():
        renewal = isinstance(flow.arrivals, ConstantArrivals | InterarrivalArrivals)
        if renewal and flow.entry is not None:
            entries.setdefault(flow.entry.split(".")[0], []).append(name)
    return entries


def entry_stream(
    scenario: Scenario,
    sources: Mapping[str, _Rated],
    traffic: Traffic,
    keys: Sequence[OpKey],
    classes: tuple[ClassLoad, ...],
    failing: bool,
    entries: Mapping[str, Sequence[str]],
) -> Distribution | None:
    """The law of the time between arrivals where every request of the pool (its
    operations `keys`, its `classes`) comes from one flow of renewal arrivals that calls it
    as its entry, one call and one acquisition each, nothing else reaching it and no
    failures (`failing`); None otherwise. `entries`: `renewal_entries(scenario)`."""
    if failing or len(classes) != 1 or not keys:
        return None
    renewal = entries.get(keys[0].name, ())
    if len(renewal) != 1 or renewal[0] not in sources:  # (cheap: most pools stop here)
        return None
    senders = [
        name
        for name, visits in traffic.visits.items()
        if any(visits.get(key, 0.0) > 0.0 for key in keys)
    ]
    if senders != [renewal[0]]:
        return None
    arrivals = scenario.workload[renewal[0]].arrivals
    if isinstance(arrivals, ConstantArrivals):
        law: Distribution = Constant(1.0 / arrivals.constant)
    elif isinstance(arrivals, InterarrivalArrivals):
        law = arrivals.interarrival
    else:
        return None
    rate, (single,) = sources[renewal[0]].rate, classes
    if law.laplace(1.0 / law.mean) is None or not (
        math.isclose(single.arrival_rate, rate, rel_tol=1e-12)
        and math.isclose(single.fresh_rate, rate, rel_tol=1e-12)
    ):
        return None
    return law


def renewal_station(law: RenewalLaw, rate: float, mu: float, servers: int) -> StationPrediction:
    """GI/M/c for `rate` arrivals per second a time of law `law` apart (`entry_stream`, or
    one server's departures: `models.analysis.departure_streams`) at `servers`
    exponential servers of rate `mu`."""

    def transform(s: float) -> float:
        value = law.laplace(s)
        assert value is not None  # (`entry_stream` keeps only such laws)
        return value

    if isinstance(law, Constant):
        name = "D/M/c"
    elif isinstance(law, Erlang):
        name = f"E_{law.k}/M/c"
    else:
        name = "GI/M/c"
    return gi_m_c(transform, rate, mu, servers, name)
