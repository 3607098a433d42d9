"""Reading AsyncAPI files: YAML or JSON parsed safely, references (``$ref``) followed, values
checked, every problem collected with its place in the document (``channels.orderPlaced``).

The base of `models.traces.asyncapi_document`'s reader. Sources: Reference Object of the
AsyncAPI Specification 2.6.0 and 3.0.0 (``$ref`` holds a URI whose fragment is a JSON Pointer,
RFC 6901: ``~1`` is ``/``, ``~0`` is ``~``); Schema Object (a JSON Schema, whose ``const``,
``enum`` or ``default`` gives a value, as the Kafka bindings' ``groupId`` does).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import yaml

from models.errors import Problem, ScenarioError, did_you_mean, short_repr

_MAX_REFERENCE_HOPS = 32

Binding = tuple[Mapping[str, Any], str]
"""A binding object and its place in the document."""


def load_yaml(path: Path) -> Any:
    """The parsed content of a YAML or JSON file, or `ScenarioError` saying why not."""
    source = str(path)

    def refuse(message: str) -> ScenarioError:
        return ScenarioError(source, [Problem("", message)])

    try:
        text = path.read_bytes().decode("utf-8")
    except IsADirectoryError:
        raise refuse("cannot read the file: it is a directory, not an AsyncAPI file") from None
    except OSError as error:
        raise refuse(f"cannot read the file: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise refuse(f"not UTF-8 text (byte {error.start}): save the file as UTF-8") from None
    try:
        return yaml.safe_load(text)
    except RecursionError:
        raise refuse("not readable: mappings and lists nested too deeply") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        reason = getattr(error, "problem", None) or str(error)
        raise refuse(f"not valid YAML or JSON: {where}{reason}") from None


def _dotted(parts: list[str]) -> str:
    return ".".join(parts)


class DocumentReader:
    """Reads one parsed document, collecting problems and warnings (with places) as it goes."""

    def __init__(self, source: str, root: Any) -> None:
        self.source = source
        self.root = root
        self.problems: list[Problem] = []
        self.warnings: list[str] = []

    def problem(self, place: str, message: str) -> None:
        self.problems.append(Problem(place, message))

    def warn(self, place: str, message: str) -> None:
        self.warnings.append(f"{self.source}: {place}: {message}")

    def schema_value(self, sources: list[Binding], field: str) -> tuple[str | None, str]:
        """The value a Schema Object (or a plain value) of the first source with `field` gives."""
        for binding, where in sources:
            if field not in binding:
                continue
            place = f"{where}.{field}"
            found = self.resolve(binding[field], place)
            if found is None:
                return None, place
            schema, place = found
            if isinstance(schema, str | int) and not isinstance(schema, bool):
                return str(schema), place
            if not isinstance(schema, Mapping):
                self.problem(
                    place,
                    f"must be a Schema Object (e.g. {{type: string, enum: [my-group]}}) or a "
                    f"value (got {short_repr(schema)})",
                )
                return None, place
            if "const" in schema:
                return str(schema["const"]), f"{place}.const"
            values = schema.get("enum")
            if isinstance(values, list) and values:
                if len(values) > 1:
                    self.warn(f"{place}.enum", f"several values {values}: the first is used")
                return str(values[0]), f"{place}.enum"
            if "default" in schema:
                return str(schema["default"]), f"{place}.default"
            return None, place
        return None, ""

    def bindings(self, value: Any, place: str) -> dict[str, Binding]:
        """Protocol name -> (its binding object, its place), references followed."""
        if value is None:
            return {}
        found = self.resolve(value, place)
        if found is None:
            return {}
        body, place = found
        if not isinstance(body, Mapping):
            self.problem(place, f"must be a mapping of protocol bindings (got {short_repr(body)})")
            return {}
        result: dict[str, Binding] = {}
        for protocol, binding in body.items():
            inner = self.resolve(binding, f"{place}.{protocol}")
            if inner is None:
                continue
            if not isinstance(inner[0], Mapping):
                self.problem(inner[1], f"a binding must be a mapping (got {short_repr(inner[0])})")
                continue
            result[str(protocol)] = (inner[0], inner[1])
        return result

    # ---------------------------------------------------------------- values and references

    def mapping(self, value: Any, place: str, required: bool = False) -> Mapping[str, Any] | None:
        if value is None:
            if required:
                self.problem(place, "required: a mapping")
            return None
        if not isinstance(value, Mapping):
            self.problem(place, f"must be a mapping (got {short_repr(value)})")
            return None
        return value

    def positive_int(self, value: Any, place: str) -> int | None:
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            return value
        self.problem(place, f"must be an integer >= 1 (got {short_repr(value)})")
        return None

    def resolve(self, value: Any, place: str) -> tuple[Any, str] | None:
        """`value` with its references followed: (the object, its place in the document); None
        (and a problem) when a reference does not resolve."""
        for _ in range(_MAX_REFERENCE_HOPS):
            if not isinstance(value, Mapping) or "$ref" not in value:
                return value, place
            pointer = value["$ref"]
            where = f"{place}.$ref"
            if not isinstance(pointer, str) or not pointer.startswith("#"):
                self.problem(
                    where,
                    f"only references inside the document ('#/...') are followed; bundle the "
                    f"document first, e.g. with `asyncapi bundle` (got {short_repr(pointer)})",
                )
                return None
            found = self.pointer(pointer, where)
            if found is None:
                return None
            value, place = found
        self.problem(place, f"references chain more than {_MAX_REFERENCE_HOPS} times (a cycle?)")
        return None

    def pointer(self, pointer: str, where: str) -> tuple[Any, str] | None:
        node: Any = self.root
        parts: list[str] = []
        for raw in unquote(pointer[1:]).split("/")[1:]:
            part = raw.replace("~1", "/").replace("~0", "~")
            if isinstance(node, Mapping) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                known = list(map(str, node)) if isinstance(node, Mapping) else []
                under = f"under '{_dotted(parts)}'" if parts else "at the top"
                names = f", which has: {', '.join(known)}" if known else ""
                self.problem(
                    where,
                    f"reference {pointer!r} does not resolve: nothing named {part!r} {under}"
                    f"{names}{did_you_mean(part, known)}",
                )
                return None
            parts.append(part)
        return node, _dotted(parts)


def not_asyncapi(root: Any) -> str:
    """Why `root` is not an AsyncAPI document, with a guess at what it is."""
    if not isinstance(root, Mapping):
        kind = "nothing (the file is empty)" if root is None else f"a {type(root).__name__}"
        return (
            f"not an AsyncAPI document: expected a mapping with an 'asyncapi' version key "
            f"(got {kind})"
        )
    keys = ", ".join(map(str, list(root)[:6])) or "none"
    if "openapi" in root or "swagger" in root:
        what = " (it is an OpenAPI document, which describes HTTP APIs)"
    elif "workload" in root or "simulation" in root:
        what = " (it looks like an archsim scenario)"
    else:
        what = ""
    return (
        f"not an AsyncAPI document{what}: it has no 'asyncapi' version key at the top "
        f"(keys: {keys})"
    )
