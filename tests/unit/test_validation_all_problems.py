"""Validation reports every problem of a file at once (issue #14): schema and reference
problems together, hints drawn only from what is valid at the place, the name rule in words,
and input nested too deeply or not a scenario at all refused with a clear message."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from models import ScenarioError, load_scenario
from models.raw_document import MAX_DEPTH, MAX_STEP_DEPTH, MAX_VALUES, raw_reference_problems
from models.references import check_references
from models.schema import Scenario

BASE: dict[str, Any] = {
    "name": "shop",
    "simulation": {"duration": "1min"},
    "services": {
        "api": {
            "operations": {
                "get": [{"work": {"exponential": "5ms"}}, {"call": "db.read"}],
            },
        },
        "db": {
            "replicas": 2,
            "operations": {
                "read": [{"work": {"constant": "2ms"}}],
                "write": [{"work": {"constant": "3ms"}}],
            },
        },
    },
    "topics": {"orders": {"subscribers": {"db": "write"}}},
    "workload": {"users": {"entry": "api.get", "arrivals": {"poisson": "50/s"}}},
}

NAME_RULE = (
    "a name must start with an ASCII letter or digit and contain only ASCII letters, digits, "
    "'-' and '_'"
)


def problems_of(raw: dict[str, Any] | Path, variant: str | None = None) -> list[str]:
    """The problems of a scenario, rendered with ``f`` as the file (the real file for paths)."""
    with pytest.raises(ScenarioError) as caught:
        load_scenario(raw, variant=variant)
    source = "f" if isinstance(raw, dict) else str(raw)
    return [problem.render(source) for problem in caught.value.problems]


def base() -> dict[str, Any]:
    return copy.deepcopy(BASE)


def test_base_is_valid() -> None:
    assert load_scenario(BASE).name == "shop"


# ----------------------------------------------------------------- every problem at once


def test_reference_problems_are_reported_with_schema_problems_sorted_by_path() -> None:
    raw = base()
    api = raw["services"]["api"]
    api["workers"] = 0  # schema
    api["operations"]["get"][1] = {"call": "dbx.read"}  # reference
    raw["workload"]["users"]["entry"] = "api.put"  # reference
    assert problems_of(raw) == [
        "f: services.api.operations.get[1].call: unknown service 'dbx' "
        "(did you mean 'db'? services: api, db)",
        "f: services.api.workers: must be >= 1 or 'unlimited' (got 0)",
        "f: workload.users.entry: service 'api' has no operation 'put' (operations: get)",
    ]


def test_every_kind_of_reference_is_checked_when_the_schema_fails() -> None:
    raw = base()
    raw["simulation"]["duration"] = -1  # schema: the model is never built
    get = raw["services"]["api"]["operations"]["get"]
    get.append({"publish": "order"})
    get.append({"parallel": [[{"call": "db.wrte"}], [{"publish": {"topic": "nope"}}]]})
    get.append({"branch": [{"probability": 1, "steps": [{"call": "db"}]}]})
    get.append({"call": {"service": "db", "operation": "read", "fallback": [{"call": "x"}]}})
    raw["workload"]["batch"] = {"steps": [{"call": "ap"}], "clients": 1}
    raw["topics"]["orders"]["subscribers"]["ghost"] = {"dead_letter": "orders"}
    raw["topics"]["orders"]["subscribers"]["db"] = {"operation": "write", "dead_letter": "dlq"}
    raw["faults"] = [
        {"service": "dbb", "kind": "outage", "at": 1, "for": 1},
        {"service": "db", "kind": "outage", "replicas": 3, "at": 1, "for": 1},
        {"topic": "ordrs", "kind": "outage", "at": 1, "for": 1},
    ]
    get_path = "f: services.api.operations.get"
    assert problems_of(raw) == [
        "f: faults[0].service: unknown service 'dbb' (did you mean 'db'? services: api, db)",
        "f: faults[1].replicas: must be <= the 2 replica(s) of 'db' (got 3)",
        "f: faults[2].topic: unknown topic 'ordrs' (did you mean 'orders'? topics: orders)",
        f"{get_path}[2].publish.topic: unknown topic 'order' "
        "(did you mean 'orders'? topics: orders)",
        f"{get_path}[3].parallel[0][0].call: service 'db' has no operation 'wrte' "
        "(did you mean 'write'? operations: read, write)",
        f"{get_path}[3].parallel[1][0].publish.topic: unknown topic 'nope' (topics: orders)",
        f"{get_path}[4].branch[0].steps[0].call: service 'db' has several operations "
        "(read, write): name one as 'db.OPERATION'",
        f"{get_path}[5].call.fallback[0].call: unknown service 'x' (services: api, db)",
        "f: simulation.duration: must be > 0 (got -1)",
        "f: topics.orders.subscribers.db.dead_letter: unknown topic 'dlq' (topics: orders)",
        "f: topics.orders.subscribers.ghost: unknown service 'ghost' (services: api, db)",
        "f: topics.orders.subscribers.ghost.dead_letter: "
        "a topic cannot be its own dead-letter topic (got orders)",
        "f: workload.batch.steps[0].call: unknown service 'ap' "
        "(did you mean 'api'? services: api, db)",
    ]


def test_a_cycle_of_calls_is_reported_with_schema_problems() -> None:
    raw = base()
    raw["services"]["db"]["operations"]["read"].append({"call": "api.get"})
    raw["services"]["db"]["replicas"] = "two"
    assert problems_of(raw) == [
        "f: services.api.operations.get: synchronous calls form a cycle that never ends: "
        "api.get -> db.read -> api.get",
        "f: services.db.replicas: input should be a valid integer, unable to parse string as "
        "an integer (got 'two')",
    ]


def test_malformed_parts_are_left_to_the_schema() -> None:
    raw = base()
    get = raw["services"]["api"]["operations"]["get"]
    get[1] = {"call": 5}  # not a call: no reference check
    get.append({"call": {"service": "bad name"}})  # not a name: no "unknown service"
    get.append({"call": "db.read", "publish": "nope"})  # not one step: skipped
    raw["services"]["db"]["operations"] = ["read"]  # db's operations cannot be told
    raw["workload"]["users"]["entry"] = "db.anything"  # db exists: nothing to say
    assert problems_of(raw) == [
        "f: services.api.operations.get[1].call: input should be a valid dictionary or "
        "instance of CallSpec (got 5)",
        f"f: services.api.operations.get[2].call.service: {NAME_RULE} (got 'bad name')",
        "f: services.api.operations.get[3]: must be a mapping with exactly one key, one of: "
        "work, delay, call, publish, parallel, branch, fail "
        "(got {'call': 'db.read', 'publish': 'nope'})",
        "f: services.db.operations: input should be a valid dictionary (got ['read'])",
    ]


def test_services_that_are_not_a_mapping_skip_the_service_references() -> None:
    raw = base()
    raw["services"] = ["api", "db"]
    raw["faults"] = [{"topic": "ordres", "kind": "outage", "at": 1, "for": 1}]
    assert problems_of(raw) == [
        "f: faults[0].topic: unknown topic 'ordres' (did you mean 'orders'? topics: orders)",
        "f: services: input should be a valid dictionary (got ['api', 'db'])",
    ]


@pytest.mark.parametrize(
    "change",
    [
        {"services.api.operations.get.1": {"call": "db.nope"}},
        {"services.api.operations.get.1": {"call": "db"}},
        {"services.api.operations.get.1": {"publish": {"topic": "ordrs", "count": 2}}},
        {"workload.users.entry": "apx"},
        {"topics.orders.subscribers.db": {"operation": "wirte", "dead_letter": "orders"}},
        {"faults": [{"service": "db", "kind": "outage", "replicas": 5, "at": 1, "for": 2}]},
        {"faults": [{"topic": "order", "kind": "outage", "at": 1, "for": 2}]},
        {"services.db.operations.read.0": {"call": "api.get"}},
    ],
)
def test_raw_and_model_reference_checks_agree(change: dict[str, Any]) -> None:
    """On a file whose schema validates, the checks on the file as written find exactly what
    the checks on the model find (the one is used when the other cannot be)."""
    raw = base()
    for dotted, value in change.items():
        *parents, last = dotted.split(".")
        node: Any = raw
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    scenario = Scenario.model_validate(raw)
    expected = check_references(scenario)
    assert expected
    assert raw_reference_problems(raw) == expected


def test_variants_are_checked_too_without_repeating_the_base_problems() -> None:
    raw = base()
    raw["services"]["api"]["workers"] = 0
    raw["variants"] = {
        "wide": {"services.api.replicas": 0, "services.nope.replicas": 1},
        "moved": {"workload.users.entry": "db.nope"},
    }
    assert problems_of(raw, variant="narrow") == [
        "f: services.api.workers: must be >= 1 or 'unlimited' (got 0)",
        "f: variants: no variant named 'narrow' (variants: base, wide, moved)",
        "f: variants.moved.workload.users.entry: service 'db' has no operation 'nope' "
        "(operations: read, write)",
        "f: variants.wide.services.api.replicas: must be >= 1 (got 0)",
        "f: variants.wide.services.nope.replicas: no such path: 'services' has no key 'nope'",
    ]


def test_problems_are_sorted_by_path_with_list_indices_in_numeric_order() -> None:
    raw = base()
    raw["services"]["api"]["operations"]["get"] = [{"delay": {"constant": "1ms"}}] * 12
    raw["services"]["api"]["operations"]["get"][2] = {"call": "nowhere"}
    raw["services"]["api"]["operations"]["get"][10] = {"delay": {"constant": -1}}
    paths = [line.split(": ")[1] for line in problems_of(raw)]
    assert paths == ["services.api.operations.get[2].call", "services.api.operations.get[10].delay"]


# ----------------------------------------------------------------- did you mean


@pytest.mark.parametrize(
    ("where", "key", "expected"),
    [
        (("services", "api"), "replicaz", "unknown key 'replicaz' (did you mean 'replicas'?)"),
        (("services", "api"), "entri", "unknown key 'entri'"),  # 'entry' is a flow's key
        (("services", "api"), "prioritty", "unknown key 'prioritty'"),  # a flow's key too
        (("workload", "users"), "prioritty", "unknown key 'prioritty' (did you mean 'priority'?)"),
        (("simulation",), "seeed", "unknown key 'seeed' (did you mean 'seed'?)"),
        (("topics", "orders"), "partitons", "unknown key 'partitons' (did you mean 'partitions'?)"),
        (
            ("topics", "orders", "subscribers", "db"),
            "max_attemps",
            "unknown key 'max_attemps' (did you mean 'max_attempts'?)",
        ),
    ],
)
def test_unknown_keys_are_compared_with_the_keys_valid_there(
    where: tuple[str, ...], key: str, expected: str
) -> None:
    raw = base()
    raw["topics"]["orders"]["subscribers"]["db"] = {"operation": "write"}
    node = raw
    for part in where:
        node = node[part]
    node[key] = 1
    assert problems_of(raw) == [f"f: {'.'.join(where)}.{key}: {expected}"]


def test_a_key_valid_elsewhere_is_not_suggested_for_itself() -> None:
    raw = base()
    raw["services"]["db"]["partitions"] = 2  # a topic's key
    (problem,) = problems_of(raw)
    assert problem.startswith("f: services.db.partitions: unknown key 'partitions'")
    assert "did you mean 'partitions'" not in problem


def test_hints_inside_calls_faults_and_distributions() -> None:
    raw = base()
    get = raw["services"]["api"]["operations"]["get"]
    get[1] = {"call": {"service": "db", "operation": "read", "retriez": 2}}
    get.append({"work": {"gamma": {"mean": "1ms", "cv": 1, "cvv": 2}}})
    get.append({"wrok": {"exponential": "1ms"}})
    get.append({"delay": {"exponentail": "1ms"}})
    raw["services"]["db"]["balancing"] = "round-robin"
    raw["faults"] = [
        {"service": "db", "kind": "outage", "at": 1, "fro": 2},
        {"service": "db", "kind": "outgae", "at": 1, "for": 2},
    ]
    get_path = "f: services.api.operations.get"
    assert problems_of(raw) == [
        "f: faults[0].for: required key 'for' is missing",
        "f: faults[0].fro: unknown key 'fro' (did you mean 'for'?)",
        "f: faults[1]: a fault names a service or a topic and a kind, one of: service outage, "
        "crash, slowdown, errors; topic outage (got {'service': 'db', 'kind': 'outgae', 'at': "
        "1, 'for': 2}; did you mean 'outage'?)",
        f"{get_path}[1].call.retriez: unknown key 'retriez' (did you mean 'retries'?)",
        f"{get_path}[2].work.gamma.cvv: unknown key 'cvv' (did you mean 'cv'?)",
        f"{get_path}[3]: must be a mapping with exactly one key, one of: work, delay, call, "
        "publish, parallel, branch, fail (got {'wrok': {'exponential': '1ms'}}; "
        "did you mean 'work'?)",
        f"{get_path}[4].delay: unknown distribution family 'exponentail' (expected one of: "
        "constant, exponential, uniform, erlang, gamma, lognormal, weibull, pareto, "
        "hyperexponential, empirical) (got {'exponentail': '1ms'}; did you mean 'exponential'?)",
        "f: services.db.balancing: input should be 'shared', 'round_robin', 'random' or "
        "'least_outstanding' (got 'round-robin'; did you mean 'round_robin'?)",
    ]


def test_an_unknown_name_is_compared_only_with_names_of_its_kind() -> None:
    raw = base()
    raw["topics"]["ledger"] = {}
    get = raw["services"]["api"]["operations"]["get"]
    get[1] = {"call": "ledgr"}  # near the topic 'ledger', but a call names a service
    get.append({"publish": "dbb"})  # near the service 'db', but a publish names a topic
    assert problems_of(raw) == [
        "f: services.api.operations.get[1].call: unknown service 'ledgr' (services: api, db)",
        "f: services.api.operations.get[2].publish.topic: unknown topic 'dbb' "
        "(topics: ledger, orders)",
    ]


def test_a_union_value_gets_one_problem_saying_every_accepted_form() -> None:
    raw = base()
    raw["services"]["db"]["workers"] = "many"
    assert problems_of(raw) == [
        "f: services.db.workers: input should be a valid integer, unable to parse string as "
        "an integer, or 'unlimited' (got 'many')"
    ]


# ----------------------------------------------------------------- names


def test_the_name_rule_says_ascii_and_matches_the_pattern() -> None:
    raw = base()
    raw["services"]["dé"] = raw["services"].pop("db")
    raw["services"]["api"]["operations"]["-get"] = [{"delay": {"constant": "1ms"}}]
    raw["topics"]["orders"]["subscribers"] = {}
    raw["services"]["api"]["operations"]["get"][1] = {"call": "dé.read"}
    assert problems_of(raw) == [
        f"f: services.api.operations.-get: {NAME_RULE} (got '-get')",
        f"f: services.api.operations.get[1].call.service: {NAME_RULE} (got 'dé')",
        f"f: services.dé: {NAME_RULE} (got 'dé')",
    ]
    for good in ("9lives", "Order_Service-2"):
        raw = base()
        raw["services"][good] = raw["services"].pop("db")
        raw["services"]["api"]["operations"]["get"][1] = {"call": f"{good}.read"}
        raw["topics"]["orders"]["subscribers"] = {}
        assert good in load_scenario(raw).services


# ----------------------------------------------------------------- nesting


def nested_steps(levels: int, kind: str) -> list[Any]:
    """Steps nested `levels` deep through `kind` (parallel, branch or a call's fallback)."""
    steps: list[Any] = [{"delay": {"constant": "1ms"}}]
    for _ in range(levels - 1):
        if kind == "parallel":
            steps = [{"parallel": [steps]}]
        elif kind == "branch":
            steps = [{"branch": [{"probability": 1, "steps": steps}]}]
        else:
            steps = [{"call": {"service": "db", "operation": "read", "fallback": steps}}]
    return steps


@pytest.mark.parametrize("kind", ["parallel", "branch", "fallback"])
def test_steps_may_nest_up_to_the_limit(kind: str) -> None:
    raw = base()
    raw["services"]["api"]["operations"]["get"] = nested_steps(MAX_STEP_DEPTH, kind)
    load_scenario(raw)
    raw["services"]["api"]["operations"]["get"] = nested_steps(MAX_STEP_DEPTH + 1, kind)
    assert problems_of(raw) == [
        "f: services.api.operations.get: steps nested 51 levels deep (parallel, branch and "
        "call fallback steps inside each other): the limit is 50"
    ]


def test_thousands_of_nested_steps_in_a_file_are_refused(tmp_path: Path) -> None:
    levels = 10_000
    body = "[{parallel: [" * levels + "[{delay: 1ms}]" + "]}]" * levels
    path = tmp_path / "deep.yaml"
    path.write_text(
        "name: deep\nsimulation: {duration: 1min}\n"
        f"services:\n  api:\n    operations:\n      get: {body}\n"
        "workload:\n  users: {entry: api, arrivals: {poisson: 1/s}}\n"
    )
    line = body  # line 6 is "      get: BODY"; its mappings and lists are in 4 levels of blocks
    openers = [index for index, char in enumerate(line) if char in "[{"]
    column = len("      get: ") + openers[MAX_DEPTH - 4] + 1
    assert problems_of(path) == [
        f"{path}: nested too deeply at line 6, column {column}: a scenario may nest at most "
        f"{MAX_DEPTH} levels of mappings and lists inside each other"
    ]


def test_deeply_nested_lists_and_mappings_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "lists.yaml"
    path.write_text("name: " + "[" * 10_000 + "]" * 10_000 + "\n")
    (problem,) = problems_of(path)
    assert problem == (
        f"{path}: nested too deeply at line 1, column {6 + MAX_DEPTH}: a scenario may nest at "
        f"most {MAX_DEPTH} levels of mappings and lists inside each other"
    )
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(10_000):
        node["a"] = {}
        node = node["a"]
    assert problems_of({"name": "x", "description": deep}) == [
        f"f: nested too deeply at 'description.a.a...': a scenario may nest at most "
        f"{MAX_DEPTH} levels of mappings and lists inside each other"
    ]


def test_a_structure_that_contains_itself_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "alias.yaml"
    path.write_text("name: x\nsimulation: {duration: 1}\nworkload: {users: &a [*a]}\n")
    assert problems_of(path) == [
        f"{path}: nested too deeply at 'workload.users[0]...': a scenario may nest at most "
        f"{MAX_DEPTH} levels of mappings and lists inside each other"
    ]


def test_an_alias_bomb_is_refused_at_once(tmp_path: Path) -> None:
    """Aliases of aliases expand to 10**8 steps: refused, in the time of reading the file."""
    anchors = ["      x0: &a0 [" + ", ".join(["{work: {constant: 1ms}}"] * 10) + "]"]
    for level in range(1, 8):
        uses = ", ".join([f"*a{level - 1}"] * 10)
        anchors.append(f"      x{level}: &a{level} [{{parallel: [{uses}]}}]")
    path = tmp_path / "bomb.yaml"
    path.write_text(
        "name: bomb\nsimulation: {duration: 1}\nservices:\n  s:\n    operations:\n"
        + "\n".join(anchors)
        + "\nworkload: {u: {entry: s.x7, arrivals: {poisson: 1}}}\n"
    )
    assert problems_of(path) == [
        f"{path}: too large at 'services.s.operations...': a scenario may hold at most "
        f"{MAX_VALUES} values, counting a part used through YAML aliases at every place it "
        "is used"
    ]


# ----------------------------------------------------------------- files that are no scenario


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            b"",
            "the file is empty (or only comments): a scenario is a mapping with at least "
            "'name', 'simulation' and 'workload'",
        ),
        (
            b"# nothing yet\n\n",
            "the file is empty (or only comments): a scenario is a mapping "
            "with at least 'name', 'simulation' and 'workload'",
        ),
        (
            b"- a\n- b\n",
            "a scenario is a mapping of keys such as 'name', 'simulation', "
            "'services' and 'workload' (got a list: ['a', 'b'])",
        ),
        (
            b"just words\n",
            "a scenario is a mapping of keys such as 'name', 'simulation', "
            "'services' and 'workload' (got a string: 'just words')",
        ),
        (
            b"\x7fELF\x02\x01\x01\x00\x00",
            "not a text file (it contains NUL bytes): a scenario is a YAML or JSON file in UTF-8",
        ),
        (
            b"name: caf\xe9\n",
            "not UTF-8 text: byte 0xe9 at line 1, column 10 (save the file as UTF-8)",
        ),
        (
            b"name: x\ndescription: a\x07b\n",
            "not valid YAML: line 2, column 15: the character "
            "#x0007 is not allowed (special characters are not allowed)",
        ),
    ],
)
def test_files_that_are_no_scenario_are_named_with_the_reason(
    tmp_path: Path, content: bytes, expected: str
) -> None:
    path = tmp_path / "s.yaml"
    path.write_bytes(content)
    assert problems_of(path) == [f"{path}: {expected}"]


def test_files_that_cannot_be_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert problems_of(tmp_path) == [
        f"{tmp_path}: cannot read the file: it is a directory, not a scenario file"
    ]
    missing = tmp_path / "missing.yaml"
    assert problems_of(missing) == [f"{missing}: cannot read the file: No such file or directory"]
    locked = tmp_path / "locked.yaml"
    locked.write_text("name: x\n")

    def refuse(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", refuse)  # (tests may run as root)
    assert problems_of(locked) == [f"{locked}: cannot read the file: Permission denied"]


def test_parameters_too_large_to_compute_with_are_a_problem_not_a_crash() -> None:
    raw = base()  # (the lognormal's sigma² = ln(1 + cv²) overflows; found by the fuzz test)
    raw["services"]["db"]["operations"]["read"] = [
        {"work": {"lognormal": {"mean": "1ms", "cv": 1.0e308}}}
    ]
    problems = problems_of(raw)
    assert len(problems) == 1
    assert problems[0].startswith("f: services.db.operations.read[0].work: ")
