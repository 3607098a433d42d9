"""The stations as the next round's operations see them (`models.analysis.network`): each
service's and consumer group's waits, losses, flags, streams' SCVs and what it passes on,
reduced from the round's solved stations to a `StationView`."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from models.analysis.graph import StationId
from models.analysis.moments import mixture
from models.analysis.station_load import GroupStation, ServiceStation, StationLoad, StationSolution
from models.analysis.streams import departure_scv, merged
from models.analysis.summary import NOT_POISSON, POISSON, StationView
from models.analysis.throttle import Throttle, group_served
from models.distributions import Distribution


def station_views(
    services: Mapping[str, ServiceStation],
    groups: Mapping[tuple[str, str], GroupStation],
    seen_by: Mapping[StationId, dict[StationId, float]],
    rejected: Mapping[str, float],
    carried: Mapping[StationId, float],
    read: Collection[StationId] = (),
    timed: Collection[str] = (),
    throttle: Throttle | None = None,
) -> dict[StationId, StationView]:
    """Every station as the next round's operations see it (the departures' SCV only of
    the stations in `read`, whose SCV some emission carries; 1, unread, elsewhere: a view
    that does not change with it keeps the summaries that read it the same). `carried`: what
    each station's calls carry (`streams.Streams.carried`); `timed`: the services that a
    call with a timeout reaches, whose views carry their work's laws (`_work_laws`);
    `throttle`: how saturated stations pass on only what they serve (None: they pass on
    all they are offered)."""
    views: dict[StationId, StationView] = {}
    for name, station in services.items():
        solution, load = station.solution, station.load
        station_id = StationId("service", name)
        is_timed = name in timed
        views[station_id] = StationView(
            waiting=solution.waiting,
            loss=solution.loss,
            exact=solution.exact,
            method=solution.method,
            input_flag=load.input_flag,
            departure_flag=solution.departure_flag,
            utilization=solution.utilization,
            p_wait=solution.p_wait or 0.0,
            arrival_rate=solution.arrival_rate,
            mm1=solution.mm1,
            callee_waiting=seen_by.get(station_id, {}),
            rejected=rejected.get(name, 0.0),
            caller_waiting=solution.caller_waiting,
            arrival_scv=carried.get(station_id, 1.0),
            departure_scv=_departures([(load, solution)], station.pools)
            if station_id in read
            else 1.0,
            servers=load.servers if is_timed else None,
            laws=_work_laws(load) if is_timed else None,
            served={} if throttle is None else throttle.service(name, load, solution),
        )
    for (topic, group), group_station in groups.items():
        solutions = [solution for _, solution in group_station.consumers]
        departure = min([s.departure_flag for s in solutions], default=NOT_POISSON)
        group_id = StationId("group", topic, group)
        views[group_id] = StationView(
            exact=all([s.exact for s in solutions]),
            input_flag=min(
                [load.input_flag for load, _ in group_station.consumers], default=POISSON
            ),
            departure_flag=departure if group_station.delivery_exact else NOT_POISSON,
            utilization=max([s.utilization for s in solutions], default=0.0),
            callee_waiting=seen_by.get(group_id, {}),
            arrival_scv=carried.get(group_id, 1.0),
            departure_scv=_departures(group_station.consumers) if group_id in read else 1.0,
            served={} if throttle is None else group_served(group_station),
        )
    return views


def _work_laws(load: StationLoad) -> tuple[tuple[float, Distribution], ...] | None:
    """The laws of a pool's work (`ClassLoad.laws`) where a timeout can read its response
    from them (`models.analysis.response_tail`): one FCFS class, no waiting-room limit."""
    if load.servers is None or load.room is not None or len(load.classes) != 1:
        return None
    return load.classes[0].laws


def _departures(pools: Sequence[tuple[StationLoad, StationSolution]], copies: int = 1) -> float:
    """SCV of the departures of a station's pools (replicas, or a group's consumers)
    together (`models.analysis.streams`); `copies`: how many of each of `pools` there are
    (a service's replicas: one load and solution, its departures found once)."""
    leaving = [(solution.arrival_rate, _departure_scv(load, solution)) for load, solution in pools]
    utilization = max([solution.utilization for _, solution in pools], default=0.0)
    return merged(leaving * copies, utilization)


def _departure_scv(load: StationLoad, solution: StationSolution) -> float:
    """SCV of the departures of one pool (`streams.departure_scv`)."""
    holding = mixture([(c.arrival_rate, c.holding) for c in load.classes]).scv
    return departure_scv(load.arrival_scv, holding, solution.utilization, load.servers)
