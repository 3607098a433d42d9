"""Random scenario files for the fuzz test (tests/e2e/test_fuzz.py): hypothesis strategies.

`scenario_files` writes random scenario files: mostly generated scenarios
(`scenario_documents`, of the parts in tests/e2e/fuzz_parts.py) with random topologies
(chains and cycles of calls, cycles of topics with publish probability up to 1), steps nested
deep, variants and faults, stresses now and then (a feedback loop in zero time, a retry
storm, deep nesting, a long chain of calls), broken in random places (`mutate`); and now and
then a file that is not a scenario at all (`raw_files`: text, other YAML, an alias bomb, deep
nesting, JSON, binary). Every file's simulated time is at most 5 s and its rates modest, so
that a valid scenario runs in a fraction of a second; huge values go where they test a
limit, not the CPU. The files a scenario refers to are written beside it (`SAMPLES_CSV`,
`TRACE_CSV`).
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from hypothesis import strategies as st

from models.recursion import deep_recursion
from tests.e2e.fuzz_parts import Names, chain, fault, flow, nested, service, simulation, topic
from tests.e2e.fuzz_values import FLOWS, OPERATIONS, SERVICES, TOPICS, Maker

VARIANT_PATHS = [
    "services.api.workers",
    "services.db.replicas",
    "services.api.operations.get",
    "services.api.operations.get.0.work",
    "services.api.operations.get.99",
    "workload.users.arrivals",
    "workload.users.clients",
    "topics.events.partitions",
    "topics.events.subscribers",
    "simulation.duration",
    "nothing.here",
    "services",
    "",
    "services..api",
]


@st.composite
def scenario_documents(
    draw: Any, max_depth: int = 3, max_nesting: int = 60, max_chain: int = 300
) -> Any:
    """A random scenario as a document (mostly a mapping), valid or not."""
    chaos = draw(st.sampled_from([0, 0, 0, 1, 5, 20]))  # percent of broken values
    m = Maker(draw, chaos, huge=draw(st.sampled_from([0, 0, 2, 15])))
    service_names = draw(st.lists(st.sampled_from(SERVICES), min_size=1, max_size=4, unique=True))
    if m.broken():
        service_names = []
    names = Names(
        operations={
            name: draw(st.lists(st.sampled_from(OPERATIONS), min_size=1, max_size=2, unique=True))
            for name in service_names
        },
        topics=draw(st.lists(st.sampled_from(TOPICS), max_size=3, unique=True)),
    )
    services = {name: service(m, names, name, max_depth) for name in service_names}
    topics = {name: topic(m, names, name) for name in names.topics}
    inject_cycles(m, names, services, topics)
    # A stress now and then, where a runaway or a deep recursion would hide.
    stress = draw(st.sampled_from(["none", "feedback", "nesting", "chain", "retries", "none"]))
    extra_flows: dict[str, Any] = {}
    if stress == "feedback" and service_names:
        extra_flows.update(feedback_loop(m, names, services, topics))
    if stress == "retries" and service_names:
        extra_flows.update(retry_storm(m, names, services))
    if services and (m.maybe(10) or stress == "nesting"):  # deep nesting in one operation
        name = m.pick(sorted(services))
        operations = operations_of(services, name)
        if operations is not None:
            depth = draw(st.integers(1, max_nesting))
            later = [other for other in sorted(names.operations) if other > name]
            callee = f"{later[0]}.{names.operations[later[0]][0]}" if later else None
            operation = names.operations[name][0]
            operations[operation] = nested(m, depth, callee)
    chained = m.maybe(5) or stress == "chain"
    if chained:  # a long chain of calls
        services.update(chain(m, draw(st.integers(2, max_chain))))
    flow_names = draw(st.lists(st.sampled_from(FLOWS), min_size=1, max_size=2, unique=True))
    document: dict[str, Any] = {
        "name": m.leaf(st.sampled_from(["fuzz", "a scenario", "x"])),
        "simulation": simulation(m),
    }
    if services or m.maybe(50):
        document["services"] = services
    if topics:
        document["topics"] = topics
    document["workload"] = {name: flow(m, names, max_depth) for name in flow_names}
    if chained:
        document["workload"]["chained"] = {"entry": "chain0", "arrivals": {"poisson": 5}}
    document["workload"].update(extra_flows)
    if m.maybe(15):
        document["faults"] = [fault(m, names) for _ in range(draw(st.integers(1, 3)))]
    if m.maybe(10):
        document["variants"] = {
            m.leaf(st.sampled_from(["bigger", "v2"])): {
                m.pick(VARIANT_PATHS): m.pick([m.size(1, 8), m.garbage(), None])
                for _ in range(draw(st.integers(1, 2)))
            }
        }
    if m.maybe(10):
        document["description"] = m.leaf("fuzzed")
    for _ in range(draw(st.integers(0, 3)) if m.chaos else 0):
        mutate(m, document)
    return document


def inject_cycles(m: Maker, names: Names, services: dict[str, Any], topics: dict[str, Any]) -> None:
    """Feedback now and then: a handler that publishes back to its own topic (up to
    probability 1, count 2), and two operations that call each other."""
    if m.maybe(25):
        for topic_name, document in topics.items():
            if not isinstance(document, dict) or not isinstance(document.get("subscribers"), dict):
                continue
            for subscribing, spec in document["subscribers"].items():
                operation = spec.get("operation") if isinstance(spec, dict) else spec
                operations = operations_of(services, subscribing)
                if operations is None or not isinstance(operation, str):
                    continue
                body = operations.get(operation)
                if isinstance(body, list):
                    feedback = {
                        "topic": topic_name,
                        "probability": m.pick([1, 0.999, 0.99, 0.9, 0.5]),
                        "count": m.pick([1, 2]),
                    }
                    body.insert(m.pick([0, len(body)]), {"publish": feedback})
                    return
    if m.maybe(15) and len(names.operations) >= 1:
        first = m.pick(sorted(names.operations))
        second = m.pick(sorted(names.operations))
        one, other = names.operations[first][0], names.operations[second][-1]
        for caller, operation, callee in ((first, one, f"{second}.{other}"),):
            operations = operations_of(services, caller)
            if operations is not None and isinstance(operations.get(operation), list):
                operations[operation].append({"call": callee})
        operations = operations_of(services, second)
        if operations is not None and isinstance(operations.get(other), list):
            operations[other].append({"call": f"{first}.{one}"})


def operations_of(services: dict[str, Any], name: str) -> dict[str, Any] | None:
    """The operations of service `name` where it has them as a mapping; None where the
    service was drawn broken (`Maker.garbage`: a number, a string, a list, or a mapping
    without them such as `{}` or `{"x": 1}`), or its operations were."""
    body = services.get(name)
    operations = body.get("operations") if isinstance(body, dict) else None
    return operations if isinstance(operations, dict) else None


def feedback_loop(
    m: Maker, names: Names, services: dict[str, Any], topics: dict[str, Any]
) -> dict[str, Any]:
    """A topic `loop` whose handler publishes back to it first thing (in zero time, and
    sometimes does nothing else), with probability up to 1, and a flow that starts it."""
    name = m.pick(sorted(names.operations))
    operation = names.operations[name][0]
    operations = operations_of(services, name)
    body = None if operations is None else operations.get(operation)
    if not isinstance(body, list):
        return {}
    probability = m.pick([1, 0.999, 0.99, 0.9])
    body.insert(0, {"publish": {"topic": "loop", "probability": probability}})
    if m.maybe(50):  # a handler that takes no time at all
        del body[1:]
    topics["loop"] = {"subscribers": {name: operation}}
    if m.maybe(30):
        topics["loop"]["type"] = "queue"
    names.topics.append("loop")
    return {"looped": {"entry": f"{name}.{operation}", "arrivals": {"poisson": m.rate(20)}}}


def retry_storm(m: Maker, names: Names, services: dict[str, Any]) -> dict[str, Any]:
    """An operation that fails (or refuses) at once, called with many retries."""
    name = m.pick(sorted(names.operations))
    operation = names.operations[name][0]
    operations = operations_of(services, name)
    if operations is None:
        return {}
    if m.maybe(50):
        operations[operation] = [{"fail": 1}]
    else:  # a loss station kept busy: most calls are dropped at once
        services[name].update({"workers": 1, "queue_capacity": 0})
        operations[operation] = [{"work": {"constant": 1}}]
    call = {"service": name, "operation": operation, "retries": m.pick([100, 999, 20, 80])}
    steps = [{"call": call}]
    return {"retrying": {"steps": steps, "arrivals": {"poisson": m.rate(20)}}}


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside `node` (mappings and lists)."""
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found.extend(paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(paths(value, (*prefix, index)))
    return found


def mutate(m: Maker, document: dict[str, Any]) -> None:
    """Break the document at a random place: replace a value, delete a key, add a key."""
    places = paths(document)
    if not places:
        return
    place = m.pick(places)
    parent: Any = document
    for key in place[:-1]:
        parent = parent[key]
    last = place[-1]
    action = m.pick(["replace", "delete", "add", "wrap"])
    if action == "replace":
        parent[last] = m.garbage()
    elif action == "delete" and isinstance(parent, dict):
        del parent[last]
    elif action == "add" and isinstance(parent, dict):
        key = m.pick(["replicatons", "wokers", "extra", "duration", "operations", "x" * 50, 1])
        parent[key] = m.garbage()
    else:
        parent[last] = [parent[last]]


def alias_bomb(levels: int) -> str:
    """The 'billion laughs' in YAML: each level refers ten times to the one before."""
    lines = ['a0: &a0 ["lol"]']
    for level in range(1, levels + 1):
        refs = ", ".join([f"*a{level - 1}"] * 10)
        lines.append(f"a{level}: &a{level} [{refs}]")
    return "\n".join(lines) + f"\nname: bomb\nsimulation: {{duration: 1}}\nworkload: *a{levels}\n"


@st.composite
def raw_files(draw: Any) -> tuple[str, str]:
    """A file that is not a scenario, or hardly: (suffix, text)."""
    kind = draw(st.sampled_from(["text", "yaml", "bomb", "deep", "json", "empty", "binary"]))
    if kind == "text":
        return ".yaml", draw(st.text(max_size=200))
    if kind == "yaml":
        tree = draw(
            st.recursive(
                st.one_of(
                    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8)
                ),
                lambda inner: st.one_of(
                    st.lists(inner, max_size=4),
                    st.dictionaries(st.text(max_size=8), inner, max_size=4),
                ),
                max_leaves=20,
            )
        )
        return ".yaml", yaml.safe_dump(tree)
    if kind == "bomb":
        return ".yaml", alias_bomb(draw(st.integers(1, 9)))
    if kind == "deep":
        depth = draw(st.sampled_from([100, 300, 1000, 10_000, 100_000]))
        opening, closing = draw(st.sampled_from([("[", "]"), ("{a: ", "}")]))
        body = opening * depth + "1" + closing * depth
        return ".yaml", f"name: deep\nsimulation: {{duration: 1}}\nworkload: {body}\n"
    if kind == "json":
        return ".json", json.dumps({"name": "j", "simulation": {"duration": 1}, "workload": {}})
    if kind == "empty":
        return ".yaml", draw(st.sampled_from(["", "# nothing\n", "---\n", "...\n", "~\n"]))
    return ".yaml", draw(st.binary(max_size=40)).decode("latin-1")


@st.composite
def scenario_files(draw: Any, max_nesting: int = 60) -> tuple[str, str]:
    """(suffix, text) of a scenario file: mostly generated scenarios, some raw files."""
    if draw(st.integers(0, 9)) == 9:
        raw: tuple[str, str] = draw(raw_files())
        return raw
    document = draw(scenario_documents(max_nesting=max_nesting))
    as_json = draw(st.integers(0, 9)) == 9
    with deep_recursion():  # (steps nested 200 deep take PyYAML past the default limit)
        if as_json:
            return ".json", json.dumps(document, default=str)
        return ".yaml", yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


SAMPLES_CSV = "# times\n1ms\n2ms\n0.005\n"
TRACE_CSV = "time\n0.01\n0.2\n0.25\n1.5\n3\n"
