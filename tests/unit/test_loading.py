"""Deterministic unit tests of scenario loading: validation messages, references, variants."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from models import ScenarioError, load_scenario
from models.schema import CallStep, Scenario

MINIMAL: dict[str, Any] = {
    "name": "minimal",
    "simulation": {"duration": "1min", "warmup": "5s"},
    "services": {
        "api": {
            "replicas": 2,
            "workers": 4,
            "operations": {
                "get": [{"work": {"exponential": "5ms"}}, {"call": "db"}],
                "put": [{"call": {"service": "db", "operation": "write", "probability": 0.5}}],
            },
        },
        "db": {"operations": {"write": [{"work": {"constant": "2ms"}}]}},
    },
    "workload": {"users": {"entry": "api.get", "arrivals": {"poisson": "12000/min"}}},
}


def scenario_with(**changes: Any) -> dict[str, Any]:
    """A copy of MINIMAL with dotted-path changes applied (value None deletes the key)."""
    raw = copy.deepcopy(MINIMAL)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = raw
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if value is None:
            del node[last]
        elif isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return raw


def problems_of(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(raw)
    return [problem.render("f") for problem in caught.value.problems]


def test_minimal_scenario_normalises_units_and_defaults() -> None:
    scenario = load_scenario(MINIMAL)
    assert scenario.simulation.duration == 60.0
    assert scenario.simulation.warmup == 5.0
    assert scenario.simulation.replications == 1
    assert scenario.simulation.resolved_sample_interval == pytest.approx(0.3)
    flow = scenario.workload["users"]
    assert flow.arrivals is not None
    assert flow.arrivals.poisson == pytest.approx(200.0)  # type: ignore[union-attr]
    api = scenario.services["api"]
    assert (api.balancing, api.discipline, api.blocking_calls) == ("round_robin", "fifo", True)
    call = api.operations["get"][1]
    assert isinstance(call, CallStep)
    assert (call.call.service, call.call.operation) == ("db", None)
    assert scenario.operation("db", None)[0] == "write"


def test_every_problem_is_reported_at_once_with_path_rule_and_value() -> None:
    raw = scenario_with(
        services__api__replicas=0,
        services__api__replica=3,
        services__db__workers=-1,
    )
    raw["workload"]["users"]["arrivals"] = {"poisson": -5}
    problems = problems_of(raw)
    assert "f: services.api.replicas: must be >= 1 (got 0)" in problems
    assert any(
        p.startswith("f: services.api.replica: unknown key 'replica'") and "replicas" in p
        for p in problems
    )
    assert any(p.startswith("f: services.db.workers:") and "-1" in p for p in problems)
    assert any(p.startswith("f: workload.users.arrivals.poisson:") for p in problems)
    assert len(problems) == 4


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"workload__users__entry": "nowhere.get"},
            "f: workload.users.entry: unknown service 'nowhere'",
        ),
        (
            {"workload__users__entry": "api.missing"},
            "f: workload.users.entry: service 'api' has no operation 'missing'",
        ),
        (
            {"workload__users__entry": "api"},
            "f: workload.users.entry: service 'api' has several operations",
        ),
        (
            {"services__api__operations__get__1": {"call": "db.read"}},
            "f: services.api.operations.get[1].call: service 'db' has no operation 'read'",
        ),
        (
            {"services__api__operations__get__0": {"wrok": {"exponential": 1}}},
            "f: services.api.operations.get[0]: must be a mapping with exactly one key",
        ),
        (
            {"services__api__operations__get__0": {"work": {"exponential": 1}, "delay": 1}},
            "f: services.api.operations.get[0]: must be a mapping with exactly one key",
        ),
        (
            {"services__api__balancing": "sticky"},
            "f: services.api.balancing:",
        ),
        (
            {"workload__users__clients": 3},
            "f: workload.users: a flow needs exactly one of 'arrivals' (open) or 'clients'",
        ),
        ({"simulation__duration": None}, "f: simulation.duration: required key 'duration'"),
        ({"simulation__duration": "5 parsecs"}, "f: simulation.duration:"),
    ],
)
def test_bad_input_names_the_path_and_the_rule(change: dict[str, Any], expected: str) -> None:
    problems = problems_of(scenario_with(**change))
    assert any(problem.startswith(expected) for problem in problems), problems


def test_branch_probabilities_must_sum_to_one() -> None:
    raw = scenario_with(
        services__api__operations__get__0={
            "branch": [
                {"probability": 0.5, "steps": [{"work": {"exponential": 1}}]},
                {"probability": 0.4, "steps": []},
            ]
        }
    )
    problems = problems_of(raw)
    assert problems == [
        "f: services.api.operations.get[0].branch: branch probabilities must sum to 1 (got 0.9)"
    ]


def test_cycle_of_synchronous_calls_is_an_error() -> None:
    raw = copy.deepcopy(MINIMAL)
    raw["services"]["db"]["operations"]["write"].append({"call": "api.put"})
    problems = problems_of(raw)
    assert len(problems) == 1
    assert "synchronous calls form a cycle that never ends" in problems[0]
    assert "api.put" in problems[0] and "db.write" in problems[0]


def test_calls_in_both_directions_through_different_operations_are_allowed() -> None:
    raw = copy.deepcopy(MINIMAL)
    raw["services"]["db"]["operations"]["audit"] = [{"call": "api.put"}]
    raw["services"]["api"]["operations"]["put"] = [{"work": {"constant": 0.001}}]
    raw["services"]["api"]["operations"]["get"][1] = {"call": "db.write"}
    load_scenario(raw)  # db.audit -> api.put and api.get -> db.write: no cycle


def test_variants_override_dotted_paths_and_are_validated() -> None:
    raw = copy.deepcopy(MINIMAL)
    raw["variants"] = {
        "wide": {"services.api.replicas": 6, "services.db.queue_capacity": 10},
        "broken": {"services.api.workers": 0, "services.nope.replicas": 1},
    }
    problems = problems_of(raw)
    assert any(
        p.startswith("f: variants.broken.services.nope.replicas: no such path") for p in problems
    )
    del raw["variants"]["broken"]
    wide = load_scenario(raw, variant="wide")
    assert wide.services["api"].replicas == 6
    assert wide.services["db"].queue_capacity == 10
    assert wide.variant_name == "wide"
    assert load_scenario(raw).variant_name is None
    with pytest.raises(ScenarioError, match="no variant named 'narrow'"):
        load_scenario(raw, variant="narrow")


def test_variant_with_an_invalid_value_is_reported_under_its_path() -> None:
    raw = copy.deepcopy(MINIMAL)
    raw["variants"] = {"zero": {"services.api.workers": 0}}
    problems = problems_of(raw)
    assert problems == [
        "f: variants.zero.services.api.workers: must be >= 1 or 'unlimited' (got 0)"
    ]


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\nservices: [unclosed\n")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(broken)
    assert str(broken) in caught.value.render()
    assert "not valid YAML: line" in caught.value.render()
    duplicated = tmp_path / "dup.yaml"
    duplicated.write_text("name: x\nname: y\n")
    with pytest.raises(ScenarioError, match="the key 'name' is given twice"):
        load_scenario(duplicated)
    with pytest.raises(ScenarioError, match="cannot read the file"):
        load_scenario(tmp_path / "missing.yaml")
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n- b\n")
    with pytest.raises(ScenarioError, match="a scenario is a mapping"):
        load_scenario(listing)


def test_json_is_accepted(tmp_path: Path) -> None:
    import json

    path = tmp_path / "s.json"
    path.write_text(json.dumps(MINIMAL))
    assert load_scenario(path).name == "minimal"


def test_json_schema_describes_the_language() -> None:
    schema = Scenario.model_json_schema()
    assert schema["additionalProperties"] is False
    assert {"name", "simulation", "services", "workload", "variants"} <= set(schema["properties"])
    assert "Service" in schema["$defs"]


def test_example_scenarios_are_valid() -> None:
    folder = Path(__file__).resolve().parents[2] / "scenarios"
    files = sorted(folder.glob("*.yaml"))
    assert len(files) >= 3
    for path in files:
        scenario = load_scenario(path)
        for variant in scenario.variants:
            load_scenario(path, variant=variant)
