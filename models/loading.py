"""Reading a scenario file: YAML (or JSON), variants, validation with every problem at once.

`load_scenario` is the only way into a model: it returns a fully validated `Scenario` or
raises `ScenarioError` listing every problem of the file, each with the file, the YAML path,
the rule and the value given, sorted by path. Problems of the schema (pydantic) and of
references (`models.references`) come in the same list: when the schema does not validate,
the references of the parts that are well-formed are checked on the file as written
(`models.raw_document`). Variants are validated too, so a bad variant fails at once and not
halfway through a comparison. Input nested too deeply is refused before anything recursive
reads it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from models.budget import check_limits
from models.errors import Problem, ScenarioError, format_path, merge_problems, short_repr
from models.raw_document import (
    MAX_DEPTH,
    nesting_message,
    raw_reference_problems,
    shape_problem,
    step_depth_problems,
)
from models.references import check_references
from models.schema import Scenario
from models.schema_problems import KeyHints, schema_problems

INLINE_SOURCE = "<scenario>"


class _NestingError(Exception):
    """Raised by the YAML loader at a mapping or list nested more than `MAX_DEPTH` deep."""

    def __init__(self, mark: Any) -> None:
        super().__init__(f"line {mark.line + 1}, column {mark.column + 1}")


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that rejects a key given twice in one mapping (names must be unique)
    and mappings and lists nested more than `MAX_DEPTH` levels deep (PyYAML composes them
    recursively)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        """Compose one node, counting the mappings and lists it is nested in."""
        nested = self.check_event(yaml.SequenceStartEvent, yaml.MappingStartEvent)
        self._depth += nested
        try:
            if self._depth > MAX_DEPTH:
                raise _NestingError(self.peek_event().start_mark)  # type: ignore[no-untyped-call]
            return super().compose_node(parent, index)
        finally:
            self._depth -= nested


def _construct_unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> Any:
    """A mapping whose keys are unique; filled after it is yielded (no recursion, as PyYAML's
    own mappings)."""
    data: dict[Any, Any] = {}
    yield data
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while reading a mapping",
                node.start_mark,
                f"the key '{key}' is given twice (names must be unique)",
                key_node.start_mark,
            )
        seen.add(key)
    data.update(loader.construct_mapping(node))


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_unique_mapping,
)

_LibyamlLoader: Any = getattr(yaml, "CSafeLoader", None)
"""PyYAML's safe loader over libyaml's parser, where PyYAML was built with it (None where
not): the same constructors and resolver as `yaml.SafeLoader`, with the scanning,
parsing and composing in C (the 100 generated services' file: 5 ms, from 33 ms)."""


if _LibyamlLoader is not None:

    class _FastUniqueKeyLoader(_LibyamlLoader):  # type: ignore[misc]
        """`_UniqueKeyLoader`'s unique keys over libyaml's parser, which composes nodes in C
        without `_UniqueKeyLoader`'s count of their nesting: used only for text whose
        nesting `_nesting_bound` keeps within `MAX_DEPTH` and that has no anchors (so no
        alias can build a deeper or cyclic structure)."""

    _FastUniqueKeyLoader.add_constructor(
        yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
        _construct_unique_mapping,
    )
    _LibyamlLoader = _FastUniqueKeyLoader


def _nesting_bound(text: str) -> int:
    """An upper bound of how deeply the YAML in `text` nests mappings and lists: each level
    of a block collection starts further in than the one holding it (indented, or after
    its "- ", "? " or ": " indicators on the same line), and each flow collection opens
    with a bracket (brackets inside strings and comments only make the bound larger)."""
    deepest = 0
    for line in text.splitlines():
        deepest = max(deepest, len(line) - len(line.lstrip(" \t-?:")))
    return 1 + deepest + text.count("[") + text.count("{")


def _plain_enough(text: str) -> bool:
    """Whether libyaml's parser reads `text` as PyYAML's own would, to the same objects:
    nothing it could nest beyond `MAX_DEPTH` (`_nesting_bound`), no anchors, and only the
    characters PyYAML's reader allows (libyaml's error for the others differs)."""
    return (
        "&" not in text
        and yaml.reader.Reader.NON_PRINTABLE.search(text) is None
        and _nesting_bound(text) <= MAX_DEPTH
    )


_YAML_KINDS = {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}


def read_scenario_file(path: Path) -> dict[str, Any]:
    """Parse a YAML or JSON file into a mapping, or raise `ScenarioError` saying why not."""
    source = str(path)

    def refuse(message: str) -> ScenarioError:
        return ScenarioError(source, [Problem("", message)])

    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise refuse("cannot read the file: it is a directory, not a scenario file") from None
    except OSError as error:
        raise refuse(f"cannot read the file: {error.strerror or error}") from None
    if b"\x00" in data:
        raise refuse(
            "not a text file (it contains NUL bytes): a scenario is a YAML or JSON file in UTF-8"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - data.rfind(b"\n", 0, error.start)
        raise refuse(
            f"not UTF-8 text: byte 0x{data[error.start]:02x} at line {line}, column {column} "
            f"(save the file as UTF-8)"
        ) from None
    raw = _parse_yaml(text, refuse)
    if raw is None:
        raise refuse(
            "the file is empty (or only comments): a scenario is a mapping with at least "
            "'name', 'simulation' and 'workload'"
        )
    if not isinstance(raw, dict):
        kind = _YAML_KINDS.get(type(raw), type(raw).__name__)
        raise refuse(
            f"a scenario is a mapping of keys such as 'name', 'simulation', 'services' and "
            f"'workload' (got a {kind}: {short_repr(raw)})"
        )
    return raw


def _parse_yaml(text: str, refuse: Any) -> Any:
    """The YAML document in `text`; `refuse(message)` makes the error for a bad one. Read
    by libyaml's parser where that gives the same document (`_plain_enough`); PyYAML's own
    reads it again where libyaml finds it bad, so that every error is reported as before."""
    if _LibyamlLoader is not None and _plain_enough(text):
        try:
            return yaml.load(text, Loader=_LibyamlLoader)
        except yaml.YAMLError:
            pass  # (PyYAML's parser below says why, with its own marks)
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except _NestingError as error:
        raise refuse(nesting_message(MAX_DEPTH, str(error))) from None
    except RecursionError:  # a structure built with aliases; the loader's check sees no aliases
        raise refuse(nesting_message(MAX_DEPTH)) from None
    except yaml.reader.ReaderError as error:
        line = text.count("\n", 0, error.position) + 1
        column = error.position - text.rfind("\n", 0, error.position)
        raise refuse(
            f"not valid YAML: line {line}, column {column}: the character "
            f"#x{error.character:04x} is not allowed ({error.reason})"
        ) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        reason = getattr(error, "problem", None) or str(error)
        raise refuse(f"not valid YAML: {where}{reason}") from None


def load_scenario(source: str | Path | Mapping[str, Any], variant: str | None = None) -> Scenario:
    """Load, validate and (optionally) apply a variant: the way into every model.

    `source` is a path to a YAML/JSON file or an already-parsed mapping. Relative file paths
    inside the scenario (empirical samples) resolve against the file's folder.
    """
    if isinstance(source, Mapping):
        misshapen = shape_problem(source)  # before deepcopy, which recurses
        if misshapen is not None:
            raise ScenarioError(INLINE_SOURCE, [misshapen])
        raw, label, base_dir = copy.deepcopy(dict(source)), INLINE_SOURCE, Path.cwd()
    else:
        path = Path(source)
        raw, label, base_dir = read_scenario_file(path), str(path), path.resolve().parent
        misshapen = shape_problem(raw)  # (its variants hold the same parts: one problem)
        if misshapen is not None:
            raise ScenarioError(label, [misshapen])
    try:
        return _load(raw, variant, label, base_dir)
    except RecursionError:  # a safety net: the depth checks come first
        raise ScenarioError(label, [Problem("", nesting_message(MAX_DEPTH))]) from None


def _load(raw: dict[str, Any], variant: str | None, label: str, base_dir: Path) -> Scenario:
    hints = KeyHints()
    base, problems = _check(raw, base_dir, hints)
    variants = base.variants if base is not None else _raw_variants(raw)
    resolved: dict[str, Scenario] = {}
    for name, overrides in variants.items():
        scenario, found = _check_variant(raw, overrides, base_dir, hints)
        prefix = ("variants", name)
        problems.extend(_under(prefix, p) for p in found if p not in problems)
        if scenario is not None:
            resolved[name] = scenario
    if variant is not None and variant not in variants and variant != "base":
        known = ", ".join(["base", *variants])
        problems.append(Problem("variants", f"no variant named '{variant}' (variants: {known})"))
    if problems or base is None:
        raise ScenarioError(label, merge_problems(problems))
    chosen = resolved[variant] if variant is not None and variant != "base" else base
    chosen.attach_origin(label, None if variant in (None, "base") else variant)
    return chosen


def variant_names(scenario: Scenario) -> list[str]:
    """`base` followed by the scenario's variants, in file order."""
    return ["base", *scenario.variants]


def _raw_variants(raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The well-formed variants of a file whose base does not validate (the others are
    reported by the schema)."""
    variants = raw.get("variants")
    if not isinstance(variants, dict):
        return {}
    return {
        name: overrides
        for name, overrides in variants.items()
        if isinstance(name, str) and isinstance(overrides, dict)
    }


def _check_variant(
    raw: dict[str, Any], overrides: dict[str, Any], base_dir: Path, hints: KeyHints
) -> tuple[Scenario | None, list[Problem]]:
    """The variant's scenario, or None, and its problems (paths as in the variant's scenario;
    an override that leads nowhere under its own dotted path; the other overrides are
    applied and checked all the same)."""
    patched = copy.deepcopy(raw)
    patched.pop("variants", None)
    problems = []
    for dotted, value in overrides.items():
        problem = apply_override(patched, str(dotted), value)
        if problem is not None:
            problems.append(Problem(str(dotted), problem))
    scenario, found = _check(patched, base_dir, hints)
    return (None if problems else scenario), problems + found


def _under(prefix: tuple[str, ...], problem: Problem) -> Problem:
    """`problem` with its path under `prefix` (a variant's problem under its variant)."""
    path = format_path((*prefix, problem.path)) if problem.path else format_path(prefix)
    return Problem(path, problem.message)


def apply_override(raw: dict[str, Any], dotted_path: str, value: Any) -> str | None:
    """Set `dotted_path` (e.g. ``services.orders.replicas``) in `raw`; return a problem or None.

    Intermediate keys must exist; the last one may be new (a default being overridden).
    List items are addressed by index: ``services.a.operations.op.0.work``.

    >>> raw = {"services": {"a": {"replicas": 1}}}
    >>> apply_override(raw, "services.a.replicas", 3), raw
    (None, {'services': {'a': {'replicas': 3}}})
    >>> apply_override(raw, "services.b.replicas", 3)
    "no such path: 'services' has no key 'b'"
    """
    parts = dotted_path.split(".")
    node: Any = raw
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        where = ".".join(parts[:depth]) or "the scenario"
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                return f"no such path: '{where}' has {len(node)} items (got index '{part}')"
            if last:
                node[int(part)] = value
                return None
            node = node[int(part)]
        elif isinstance(node, dict):
            if last:
                node[part] = value
                return None
            if part not in node:
                return f"no such path: '{where}' has no key '{part}'"
            node = node[part]
        else:
            return f"no such path: '{where}' is a value, not a mapping or list"
    return None


def _check(
    raw: dict[str, Any], base_dir: Path, hints: KeyHints
) -> tuple[Scenario | None, list[Problem]]:
    """The scenario, or None, and every problem of `raw`: shape, schema and references.

    References are checked on the model when the schema validates, else on the parts of
    `raw` that are well-formed. (The shape is checked again for a variant: an override may
    move a deep value deeper.)
    """
    misshapen = shape_problem(raw)
    if misshapen is not None:
        return None, [misshapen]
    problems = step_depth_problems(raw)
    try:
        scenario = Scenario.model_validate(raw, context={"base_dir": base_dir})
    except ValidationError as error:
        problems += schema_problems(error, raw, hints)
        problems += raw_reference_problems(raw)
        return None, problems
    problems += check_references(scenario)
    if not problems:  # runaway models: explosions, zero-time loops, sizes (models.budget)
        problems += check_limits(scenario)
    return (None if problems else scenario), problems
