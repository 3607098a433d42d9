"""Scenario files read by libyaml's parser give what PyYAML's own parser gives, and it is
used only where it cannot nest deeper than the limit or build structures with aliases."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from models import ScenarioError, loading
from models.raw_document import MAX_DEPTH

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted(ROOT.glob("scenarios/*.yaml")) + sorted(ROOT.glob("tests/data/**/*.yaml"))

pytestmark = pytest.mark.skipif(loading._LibyamlLoader is None, reason="PyYAML without libyaml")


def _depth(value: Any) -> int:
    """How many mappings and lists `value` nests inside each other."""
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def test_the_examples_are_read_by_libyaml_as_pyyaml_reads_them() -> None:
    fast = 0
    for path in FILES:
        text = path.read_text()
        if not loading._plain_enough(text):
            continue
        fast += 1
        assert yaml.load(text, Loader=loading._LibyamlLoader) == yaml.load(
            text, Loader=loading._UniqueKeyLoader
        ), path
    assert fast >= len(FILES) - 5  # (the examples have no anchors and nest a few levels)


def test_a_key_given_twice_is_refused_on_the_fast_path_too(tmp_path: Path) -> None:
    text = "name: x\nsimulation: {duration: 1}\nservices:\n  a: {}\n  a: {}\n"
    assert loading._plain_enough(text)
    with pytest.raises(yaml.constructor.ConstructorError):
        yaml.load(text, Loader=loading._LibyamlLoader)
    path = tmp_path / "twice.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError, match="the key 'a' is given twice"):
        loading.load_scenario(path)


def test_anchors_and_deep_text_take_pyyaml_s_own_parser() -> None:
    assert not loading._plain_enough("a: &x [1]\nb: *x\n")
    assert not loading._plain_enough("a: " + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "\n")
    assert not loading._plain_enough("a: \x07\n")  # (a character PyYAML's reader refuses)


def _random_block(rng: random.Random, depth: int, indent: int) -> list[str]:
    """Lines of a random block document nesting `depth` levels (sequences in compact form
    with "- " and mappings indented, or flow lists)."""
    pad = " " * indent
    if depth == 0:
        return [pad + "leaf"]
    kind = rng.choice(["map", "seq", "compact", "flow"])
    if kind == "map":
        return [pad + "k:", *_random_block(rng, depth - 1, indent + rng.choice([1, 2, 4]))]
    if kind == "flow":
        return [pad + "[" * depth + "1" + "]" * depth]
    inner = _random_block(rng, depth - 1, indent + 2)
    if kind == "compact" and not inner[0].lstrip().startswith("["):
        return [pad + "- " + inner[0].lstrip(), *inner[1:]]
    return [pad + "-", *inner]


def test_the_nesting_bound_is_never_below_the_nesting() -> None:
    rng = random.Random(20261207)
    for _ in range(300):
        depth = rng.randint(1, 12)
        text = "\n".join(["top:", *_random_block(rng, depth, 2)]) + "\n"
        document = yaml.load(text, Loader=loading._UniqueKeyLoader)
        assert loading._nesting_bound(text) >= _depth(document), text
