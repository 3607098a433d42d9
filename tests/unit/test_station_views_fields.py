"""`station_views` builds a service's whole `StationView`: every field of the dataclass
set, equal to the view built from those fields, and the values read from the station."""

from __future__ import annotations

import dataclasses

from models.analysis.graph import StationId
from models.analysis.moments import Moments
from models.analysis.station_load import ClassLoad, ServiceStation, StationLoad, StationSolution
from models.analysis.station_views import station_views
from models.analysis.summary import StationView


def test_a_service_view_has_every_field_and_equals_the_dataclass_built_one() -> None:
    load_class = ClassLoad(0, 2.0, 2.0, Moments(0.1, 0.01), 0.1, True, True)
    load = StationLoad(4, None, False, (load_class,), 1.0, 2)
    solution = StationSolution(
        "M/M/c", True, True, False, 2.0, 0.2, 0.05, 2.0, 0.0, 0.01, {0: Moments(0.001, 0.0)}
    )
    services = {"svc": ServiceStation("svc", 1, load, solution)}
    station = StationId("service", "svc")
    views = station_views(services, {}, {}, {}, {station: 1.5}, read=(station,), timed=("svc",))
    view = views[station]
    assert set(vars(view)) == {f.name for f in dataclasses.fields(StationView)}
    assert view == StationView(**vars(view))
    assert view.arrival_scv == 1.5 and view.servers == 4 and view.method == "M/M/c"
