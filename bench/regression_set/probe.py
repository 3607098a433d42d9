"""The analysis' network solver on a scenario spec, for the generation of the set only.

`models.analysis.network.solve_network` is an internal of the analysis (what `analyze` uses
for capacity, without its per-flow capacity searches): `--generate` sizes pools with it
(`alibaba._size_servers`) and finds the capacity of a shape (`generate.saturates`).
`models` is imported when a probe runs, never at import time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from .blocks import Shape, scenario_document

if TYPE_CHECKING:
    from models.analysis.network import NetworkSolution
    from models.schema import PoissonArrivals


def solve_spec(spec: dict[str, Any], **options: Any) -> NetworkSolution:
    """The open network of `spec` (services, topics, workload; every flow Poisson) solved
    with every flow arriving at its Poisson rate; `options` go to `solve_network`."""
    from models import load_scenario
    from models.analysis.network import FlowSource, solve_network
    from models.analysis.summary import POISSON

    scenario = load_scenario(scenario_document(Shape("probe", "", dict), spec))
    sources = {
        name: FlowSource(cast("PoissonArrivals", flow.arrivals).poisson, 1.0, POISSON)
        for name, flow in scenario.workload.items()
    }
    return solve_network(scenario, sources, **options)
