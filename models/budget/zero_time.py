"""Zero-time loops: sources of requests or events that would repeat for ever at one instant.

A closed flow whose clients never think (no `think_time`, or one of mean 0) and whose
requests can take no time at all makes requests forever at the same instant; so do
interarrival times of mean 0, and a `crash` whose up and down times are both always 0.
Whether a request can take time is `Cost.moves` (`models.budget.steps`). Pure Python.
"""

from __future__ import annotations

from models.budget.steps import Cost
from models.errors import Problem
from models.faults import Crash
from models.schema import InterarrivalArrivals, Scenario


def zero_time_problems(scenario: Scenario, bodies: dict[str, Cost]) -> list[Problem]:
    """Sources of requests or events that would repeat for ever at the same instant."""
    problems = []
    for name, flow in scenario.workload.items():
        path = f"workload.{name}"
        if flow.clients is not None:
            think = flow.think_time
            if (think is None or think.mean <= 0) and not bodies[name].moves:
                where = path if think is None else f"{path}.think_time"
                problems.append(
                    Problem(
                        where,
                        "a closed flow whose clients never think (no think_time, or one that is "
                        "always 0) and whose requests take no time makes requests for ever at "
                        "the same instant, so the run would never end: give it a think_time of "
                        "positive mean, or a step that takes time",
                    )
                )
        elif (
            isinstance(flow.arrivals, InterarrivalArrivals) and flow.arrivals.interarrival.mean <= 0
        ):
            problems.append(
                Problem(
                    f"{path}.arrivals.interarrival",
                    "interarrival times that are always 0 make arrivals for ever at the same "
                    "instant, so the run would never end: give them a positive mean "
                    f"(got {flow.arrivals.interarrival.to_spec()})",
                )
            )
    for index, fault in enumerate(scenario.faults):
        if isinstance(fault, Crash) and fault.mtbf.mean <= 0 and fault.mttr.mean <= 0:
            problems.append(
                Problem(
                    f"faults[{index}]",
                    "a crash whose up and down times are both always 0 makes replicas fail and "
                    "come back for ever at the same instant, so the run would never end: give "
                    "'mtbf' or 'mttr' a positive mean",
                )
            )
    return problems
