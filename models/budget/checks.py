"""The checks of a scenario and of a run: every limit of `models.budget` in one call.

`check_limits` is what loading a scenario checks (sizes, zero-time loops, message
explosions, the time series of its own replications); `check_run` what a run as asked adds
(its replications and the event load against its budget); `refuse_runaway_run` and
`refuse_runaway_file` raise them as a `ScenarioError`. Pure Python.
"""

from __future__ import annotations

from collections.abc import Callable

from models.budget.events import DEFAULT_MAX_EVENTS, estimate_events, event_problems
from models.budget.sizes import run_size_problems, size_problems
from models.budget.steps import Walker
from models.budget.topics import explosion_problems, topic_graph
from models.budget.zero_time import zero_time_problems
from models.errors import Problem, ScenarioError
from models.schema import Scenario


def check_limits(scenario: Scenario) -> list[Problem]:
    """Every problem of a scenario that would run away or not fit, as far as the file says
    (the run as asked is checked by `check_run`). Needs valid references."""
    walker = Walker(scenario)
    bodies = {
        name: walker.steps(flow.body(), f"workload.{name}.steps")
        for name, flow in scenario.workload.items()
    }
    problems = size_problems(scenario)
    problems += zero_time_problems(scenario, bodies)
    problems += explosion_problems(topic_graph(scenario, walker, bodies.values()))
    problems += run_size_problems(scenario, scenario.simulation.replications, overridden=False)
    return problems


def check_run(
    scenario: Scenario, replications: int, max_events: int | None = DEFAULT_MAX_EVENTS
) -> list[Problem]:
    """The problems of running `replications` replications of `scenario` (a loaded one, so
    `check_limits` passed) within `max_events` events each (None: no event budget)."""
    overridden = replications != scenario.simulation.replications
    problems = run_size_problems(scenario, replications, overridden)
    if max_events is not None and not problems:
        problems += event_problems(scenario, estimate_events(scenario), max_events)
    return problems


def refuse_runaway_run(
    scenario: Scenario, replications: int, max_events: int | None = DEFAULT_MAX_EVENTS
) -> None:
    """Raise `ScenarioError` if `check_run` finds problems (the variant is named in them)."""
    problems = check_run(scenario, replications, max_events)
    if problems:
        variant = scenario.variant_name
        if variant is not None:
            problems = [
                Problem(f"variants.{variant}.{problem.path}", problem.message)
                for problem in problems
            ]
        raise ScenarioError(scenario.source, problems)


def refuse_runaway_file(scenario: Scenario, load_variant: Callable[[str], Scenario]) -> None:
    """`archsim validate`: `check_run` of the base scenario and of every variant of its file
    (`load_variant(name)` loads one) with the default budget; raise `ScenarioError` with
    every problem."""
    candidates = [scenario, *(load_variant(name) for name in scenario.variants)]
    problems: list[Problem] = []
    for candidate in candidates:
        try:
            refuse_runaway_run(candidate, candidate.simulation.replications)
        except ScenarioError as error:
            problems.extend(error.problems)
    if problems:
        raise ScenarioError(scenario.source, problems)
