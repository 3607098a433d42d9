"""The YAML writer of imports (models.traces.yaml_out): what it writes reads back as the
document, with every comment on the line of its value (a property test over random
documents, and exact layouts)."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from models.traces.imported import ImportedScenario, YamlPath
from models.traces.yaml_out import scenario_yaml

KEYS = st.text(alphabet="abcxyz-_.:# 'é0", min_size=1, max_size=8)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["yes", "no", "null", "1e3", "0x10", "12ms", "a: b", "- x", "[1]", "~"]),
)
DOCUMENTS = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=4)),
    max_leaves=25,
)


def paths_of(value: Any, path: YamlPath = ()) -> list[YamlPath]:
    found = [path]
    if isinstance(value, dict):
        for key, inner in value.items():
            found.extend(paths_of(inner, (*path, key)))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found.extend(paths_of(inner, (*path, index)))
    return found


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.dictionaries(KEYS, DOCUMENTS, min_size=1, max_size=5), st.data())
def test_what_is_written_reads_back_as_the_document(document: dict[str, Any], data: Any) -> None:
    paths = paths_of(document)
    chosen = data.draw(st.lists(st.sampled_from(paths), max_size=6, unique=True))
    comments = {path: f"note {index} # with: odd 'text'" for index, path in enumerate(chosen)}
    comments[("not", "there")] = "goes to the top"
    text = scenario_yaml(ImportedScenario(document, comments, ["header line"]))
    assert yaml.safe_load(text) == document
    for index in range(len(chosen)):
        assert f"note {index} # with" in text


def test_layout_inline_blocks_comments_and_long_lists() -> None:
    document = {
        "name": "x",
        "services": {
            "api": {
                "workers": 4,
                "operations": {
                    "get": [
                        {"work": {"lognormal": {"mean": "4ms", "cv": 1.2}}},
                        {"parallel": [[{"call": "a.b"}], [{"call": "c.d"}]]},
                        {"work": {"empirical": [f"{i}ms" for i in range(40)]}},
                    ]
                },
            }
        },
    }
    comments = {
        ("services", "api", "workers"): "estimated",
        ("services", "api", "operations", "get", 0): "from 3 spans",
        ("services", "api", "operations", "get", 1, "parallel", 0, 0): "first",
        ("services", "api", "operations", "get", 2, "work"): "samples",
        ("services", "api", "replicas"): "not there: goes to the service",
    }
    text = scenario_yaml(ImportedScenario(document, comments, ["made by a test"]))
    assert yaml.safe_load(text) == document
    lines = text.splitlines()
    assert lines[:3] == ["# made by a test", "", "name: x"]
    assert "  api:  # not there: goes to the service" in lines
    assert "    workers: 4  # estimated" in lines
    assert "        - {work: {lognormal: {mean: 4ms, cv: 1.2}}}  # from 3 spans" in lines
    assert "            - - {call: a.b}  # first" in lines
    assert "            - - {call: c.d}" in lines  # (a list of mappings: a block)
    assert "        - work:  # samples" in lines
    empirical = next(line for line in lines if "empirical:" in line)
    assert empirical.startswith("            empirical: [0ms, 1ms, 2ms,")
    assert [line for line in lines if len(line) > 100] == []
