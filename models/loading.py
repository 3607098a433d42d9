"""Reading a scenario file: YAML (or JSON), variants, validation with every problem at once.

`load_scenario` is the only way into a model: it returns a fully validated `Scenario` or
raises `ScenarioError` listing every problem of the file, each with the file, the YAML path,
the rule and the value given. Variants are validated too, so a bad variant fails at once and
not halfway through a comparison.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from models.errors import Problem, ScenarioError, format_path, short_repr
from models.references import check_references
from models.schema import Scenario

INLINE_SOURCE = "<scenario>"


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that rejects a key given twice in one mapping (names must be unique)."""


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> Any:
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
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_unique_mapping,
)


def read_scenario_file(path: Path) -> dict[str, Any]:
    """Parse a YAML or JSON file into a mapping, or raise `ScenarioError` saying why not."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ScenarioError(
            source, [Problem("", f"cannot read the file: {error.strerror}")]
        ) from None
    try:
        raw = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        reason = getattr(error, "problem", None) or str(error)
        raise ScenarioError(source, [Problem("", f"not valid YAML: {where}{reason}")]) from None
    if not isinstance(raw, dict):
        kind = type(raw).__name__
        raise ScenarioError(source, [Problem("", f"a scenario is a mapping (got {kind})")])
    return raw


def load_scenario(source: str | Path | Mapping[str, Any], variant: str | None = None) -> Scenario:
    """Load, validate and (optionally) apply a variant: the way into every model.

    `source` is a path to a YAML/JSON file or an already-parsed mapping. Relative file paths
    inside the scenario (empirical samples) resolve against the file's folder.
    """
    if isinstance(source, Mapping):
        raw, label, base_dir = copy.deepcopy(dict(source)), INLINE_SOURCE, Path.cwd()
    else:
        path = Path(source)
        raw, label, base_dir = read_scenario_file(path), str(path), path.resolve().parent
    base = _validate(raw, label, base_dir, prefix=())
    variants = base.variants
    problems: list[Problem] = []
    resolved: dict[str, Scenario] = {}
    for name, overrides in variants.items():
        try:
            resolved[name] = _validate_variant(raw, name, overrides, label, base_dir)
        except ScenarioError as error:
            problems.extend(error.problems)
    if variant is not None and variant not in variants and variant != "base":
        known = ", ".join(["base", *variants])
        problems.append(Problem("variants", f"no variant named '{variant}' (variants: {known})"))
    if problems:
        raise ScenarioError(label, problems)
    chosen = resolved[variant] if variant is not None and variant != "base" else base
    chosen.attach_origin(label, None if variant in (None, "base") else variant)
    return chosen


def variant_names(scenario: Scenario) -> list[str]:
    """`base` followed by the scenario's variants, in file order."""
    return ["base", *scenario.variants]


def _validate_variant(
    raw: dict[str, Any], name: str, overrides: dict[str, Any], label: str, base_dir: Path
) -> Scenario:
    prefix = ("variants", name)
    patched = copy.deepcopy(raw)
    patched.pop("variants", None)
    problems = []
    for dotted, value in overrides.items():
        problem = apply_override(patched, dotted, value)
        if problem is not None:
            problems.append(Problem(format_path((*prefix, dotted)), problem))
    if problems:
        raise ScenarioError(label, problems)
    return _validate(patched, label, base_dir, prefix=prefix)


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


def _validate(raw: dict[str, Any], label: str, base_dir: Path, prefix: tuple[str, ...]) -> Scenario:
    try:
        scenario = Scenario.model_validate(raw, context={"base_dir": base_dir})
    except ValidationError as error:
        problems = _dedupe([_problem_from_pydantic(detail, prefix) for detail in error.errors()])
        raise ScenarioError(label, problems) from None
    problems = [
        Problem(format_path((*prefix, problem.path)) if prefix else problem.path, problem.message)
        for problem in check_references(scenario)
    ]
    if problems:
        raise ScenarioError(label, problems)
    return scenario


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen: dict[tuple[str, str], Problem] = {}
    for problem in problems:
        seen.setdefault((problem.path, problem.message), problem)
    return list(seen.values())


def _clean_location(location: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """Drop pydantic's union tags from a location (a tag repeats the key that follows it)."""
    cleaned: list[str | int] = []
    for part in location:
        if isinstance(part, str) and (part.startswith("function-") or part in _UNION_MEMBER_TAGS):
            continue
        if cleaned and part == cleaned[-1] and isinstance(part, str):
            continue
        cleaned.append(part)
    return tuple(cleaned)


_UNION_MEMBER_TAGS = {"int", "str", "float", "literal['unlimited']", "CallSpec", "list[...]"}


def _problem_from_pydantic(detail: ErrorDetails, prefix: tuple[str, ...]) -> Problem:
    location = _clean_location(tuple(detail["loc"]))
    path = format_path((*prefix, *location))
    kind = detail["type"]
    given = detail.get("input")
    last = location[-1] if location else ""
    context = detail.get("ctx", {}) or {}
    if kind == "extra_forbidden":
        hint = difflib.get_close_matches(str(last), _all_field_names(), n=1)
        suggestion = f" (did you mean '{hint[0]}'?)" if hint else ""
        return Problem(path, f"unknown key '{last}'{suggestion}")
    if kind == "missing":
        return Problem(path, f"required key '{last}' is missing")
    if kind == "string_pattern_mismatch":
        return Problem(
            path,
            f"a name may contain letters, digits, '-' and '_' and must start with a letter or "
            f"digit (got {given!r})",
        )
    if kind == "one_key_mapping":
        return Problem(path, f"{detail['msg']} (got {short_repr(given)})")
    comparisons = {
        "greater_than": ">",
        "greater_than_equal": ">=",
        "less_than": "<",
        "less_than_equal": "<=",
    }
    if kind in comparisons:
        bound = next(iter(context.values()))
        return Problem(path, f"must be {comparisons[kind]} {bound} (got {short_repr(given)})")
    message = str(detail["msg"]).removeprefix("Value error, ")
    if "(got" in message or (given is not None and f"'{given}'" in message):
        return Problem(path, message)  # the message already shows the value given
    return Problem(path, f"{message[0].lower()}{message[1:]} (got {short_repr(given)})")


def _all_field_names() -> list[str]:
    """Every key of the scenario language, for did-you-mean hints."""
    names: set[str] = set()
    pending: list[type[BaseModel]] = [Scenario]
    seen: set[type[BaseModel]] = set()
    while pending:
        model = pending.pop()
        if model in seen:
            continue
        seen.add(model)
        names.update(model.model_fields)
        for field in model.model_fields.values():
            pending.extend(_models_in(field.annotation))
    return sorted(names)


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = []
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        found.append(annotation)
    for argument in getattr(annotation, "__args__", ()) or ():
        found.extend(_models_in(argument))
    for extra in getattr(annotation, "__metadata__", ()) or ():
        found.extend(_models_in(extra))
    origin = getattr(annotation, "__origin__", None)
    if origin is not None and origin is not annotation:
        found.extend(_models_in(origin))
    return found
