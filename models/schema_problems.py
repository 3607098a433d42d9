"""Pydantic's validation errors as `Problem`s: the YAML path, the rule in words, the value
given, and a "did you mean" hint drawn only from what is valid at that place.

The keys valid at a place come from the JSON Schema of the language (`archsim schema`), so
an unknown key under a service is compared with the keys of a service, an unknown key in a
call with the keys of a call, and so on; a misspelled step kind, distribution family, fault
kind or choice (`balancing: round-robin`) is compared with the kinds or choices allowed there.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from models.errors import Problem, closest, did_you_mean, format_path, short_repr
from models.faults import Crash, ErrorBurst, ServiceOutage, Slowdown, TopicOutage
from models.one_key import kinds_in_message
from models.schema import NAME_RULE, Scenario

_UNION_MEMBER_TAGS = {"int", "str", "float", "literal['unlimited']", "CallSpec", "list[...]"}
_FAULT_TAGS = {"service-outage", "topic-outage", "crash", "slowdown", "errors"}
_FAULT_KINDS = sorted(
    {
        kind
        for model in (ServiceOutage, TopicOutage, Crash, Slowdown, ErrorBurst)
        for kind in typing.get_args(model.model_fields["kind"].annotation)
    }
)
_COMPARISONS = {
    "greater_than": ">",
    "greater_than_equal": ">=",
    "less_than": "<",
    "less_than_equal": "<=",
}

Location = tuple[str | int, ...]


class KeyHints:
    """The keys valid at a place of the scenario language, read from its JSON Schema.

    The schema is built on first use (an error path only) and kept by this object.
    """

    def __init__(self) -> None:
        self._schema: dict[str, Any] | None = None

    def keys_at(self, location: Location) -> list[str]:
        """The keys of the mapping at `location` (a union's keys: of every member)."""
        candidates = self._expand(self._root())
        for part in location:
            children = [child for node in candidates for child in self._children(node, part)]
            if children:  # else a tag pydantic puts in its locations, not a place: stay
                candidates = [leaf for child in children for leaf in self._expand(child)]
        keys = [key for node in candidates for key in node.get("properties", {})]
        return list(dict.fromkeys(keys))

    def _root(self) -> dict[str, Any]:
        if self._schema is None:
            self._schema = Scenario.model_json_schema()
        return self._schema

    def _expand(self, node: dict[str, Any]) -> list[dict[str, Any]]:
        """`node` with references resolved and unions flattened into their members."""
        pending, leaves = [node], []
        while pending:
            current = pending.pop(0)
            reference = current.get("$ref")
            if isinstance(reference, str):
                pending.append(self._root()["$defs"][reference.rsplit("/", 1)[-1]])
                continue
            members = [*current.get("anyOf", []), *current.get("oneOf", [])]
            members += current.get("allOf", [])
            if members:
                pending.extend(members)
            else:
                leaves.append(current)
        return leaves

    @staticmethod
    def _children(node: dict[str, Any], part: str | int) -> list[dict[str, Any]]:
        if isinstance(part, int):
            items = node.get("items")
            return [items] if isinstance(items, dict) else []
        properties = node.get("properties", {})
        if part in properties:
            return [properties[part]]
        named = [value for value in node.get("patternProperties", {}).values()]
        extra = node.get("additionalProperties")
        return named + ([extra] if isinstance(extra, dict) else [])


def schema_problems(error: ValidationError, document: Any, hints: KeyHints) -> list[Problem]:
    """Every error of `error`, raised validating `document`, as a problem."""
    details = _merge_union_members(error.errors())
    problems = [_problem(detail, document, hints) for detail in details]
    return list(dict.fromkeys(problems))


def _merge_union_members(details: list[ErrorDetails]) -> list[ErrorDetails]:
    """One error per value of a union type (``workers: int | 'unlimited'``), saying what
    each member expected: "input should be a valid integer, or 'unlimited'"."""
    merged: list[ErrorDetails] = []
    unions: dict[Location, int] = {}  # the union's location -> its error in `merged`
    for detail in details:
        location = tuple(detail["loc"])
        if not location or location[-1] not in _UNION_MEMBER_TAGS:
            merged.append(detail)
        elif location[:-1] not in unions:
            unions[location[:-1]] = len(merged)
            merged.append(detail)
        else:
            first = merged[unions[location[:-1]]]
            also = str(detail["msg"]).removeprefix("Input should be ")
            merged[unions[location[:-1]]] = {
                **first,
                "type": "union_members",
                "msg": f"{first['msg']}, or {also}",
            }
    return merged


def clean_location(location: Iterable[str | int], document: Any = None) -> Location:
    """Drop what pydantic adds to a location but the file does not have: union tags (a tag
    repeats the key that follows it, or names a fault's kind), validator names, ``[key]``.

    A key repeated in `document` (a service named ``operations``) is kept.

    >>> clean_location(("steps", 0, "call", "call", "function-after[x]", "retries"))
    ('steps', 0, 'call', 'retries')
    >>> document = {"services": {"operations": {"operations": {"get": []}}}}
    >>> clean_location(("services", "operations", "operations"), document)
    ('services', 'operations', 'operations')
    """
    cleaned: list[str | int] = []
    node = document
    for part in location:
        if isinstance(part, str) and (
            part.startswith("function-") or part in _UNION_MEMBER_TAGS or part == "[key]"
        ):
            continue
        in_document = _has(node, part)
        if cleaned and part == cleaned[-1] and isinstance(part, str) and not in_document:
            continue
        if part in _FAULT_TAGS and len(cleaned) == 2 and cleaned[0] == "faults":
            continue
        cleaned.append(part)
        node = node[part] if in_document else None
    return tuple(cleaned)


def _has(node: Any, part: str | int) -> bool:
    """Whether `node[part]` is in the document (a key of a mapping, an index of a list)."""
    if isinstance(node, Mapping):
        return part in node
    return isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)


def _problem(detail: ErrorDetails, document: Any, hints: KeyHints) -> Problem:
    location = clean_location(detail["loc"], document)
    path = format_path(location)
    kind = detail["type"]
    given = detail.get("input")
    last = location[-1] if location else ""
    context = detail.get("ctx", {}) or {}
    if kind == "extra_forbidden":
        hint = did_you_mean(str(last), hints.keys_at(location[:-1]))
        return Problem(path, f"unknown key '{last}'{hint}")
    if kind == "missing":
        return Problem(path, f"required key '{last}' is missing")
    if kind == "string_pattern_mismatch":
        return Problem(path, f"{NAME_RULE} (got {given!r})")
    if kind in _COMPARISONS:
        bound = next(iter(context.values()))
        return Problem(path, f"must be {_COMPARISONS[kind]} {bound} (got {short_repr(given)})")
    message = str(detail["msg"]).removeprefix("Value error, ")
    near = _near_choice(kind, given, message, context)
    if "(got" in message or (given is not None and f"'{given}'" in message):
        hint = f" (did you mean '{near}'?)" if near is not None else ""
        return Problem(path, message + hint)  # the message already shows the value given
    hint = f"; did you mean '{near}'?" if near is not None else ""
    return Problem(path, f"{message[0].lower()}{message[1:]} (got {short_repr(given)}{hint})")


def _near_choice(kind: str, given: Any, message: str, context: dict[str, Any]) -> str | None:
    """The choice valid at the place nearest to a misspelled kind, family or choice."""
    if kind == "one_key_mapping":
        return _near_key(given, kinds_in_message(message))
    if kind == "distribution_family":
        return _near_key(given, str(context.get("families", "")).split(", "))
    if kind == "fault_kind" and isinstance(given, dict) and isinstance(given.get("kind"), str):
        return _near(given["kind"], _FAULT_KINDS)
    if kind == "literal_error" and isinstance(given, str):
        return _near(given, re.findall(r"'([^']*)'", str(context.get("expected", ""))))
    return None


def _near_key(given: Any, kinds: list[str]) -> str | None:
    """The kind nearest to the key of `given`, a one-key mapping whose key is no kind."""
    if not isinstance(given, dict) or len(given) != 1:
        return None
    (key,) = given
    return _near(key, kinds) if isinstance(key, str) else None


def _near(given: str, choices: list[str]) -> str | None:
    """The choice nearest to `given` when `given` is not one of them."""
    return None if given in choices else closest(given, choices)
