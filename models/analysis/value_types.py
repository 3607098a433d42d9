"""Frozen value types that the rounds build by the thousand (loads, views, solutions, call
outcomes): a frozen dataclass whose `__init__` sets every field at once.

The frozen dataclass's own `__init__` sets each field through `object.__setattr__` (a
`StationLoad` took 2.4 us so, 1.0 us with its fields set in the instance's dictionary at
once; an analysis of the 100 generated services builds some 50,000 such values).
`value_type` makes the same dataclass (its fields, defaults, comparison and repr) and
replaces its `__init__` with one that takes the same parameters in the same order and
fills `__dict__` in one update; a field with a `default_factory` takes None for a new value
of the factory. With `kept_hash`, the dataclass's hash (of the fields' tuple) is computed
once and kept in the instance (values used as cache keys are hashed again and again), and
left out of pickles (strings hash otherwise in another process).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar, dataclass_transform, overload

T = TypeVar("T")

_KEPT = "_hash"
"""The instance's key for its kept hash (`kept_hash`)."""


@overload
def value_type(cls: type[T], /) -> type[T]: ...


@overload
def value_type(*, kept_hash: bool = False) -> Callable[[type[T]], type[T]]: ...


@dataclass_transform(frozen_default=True)
def value_type(cls: type[T] | None = None, /, *, kept_hash: bool = False) -> Any:
    """`cls` as a frozen dataclass whose `__init__` sets its fields at once (module
    docstring); `kept_hash`: its hash kept once computed."""

    def make(cls: type[T]) -> type[T]:
        made = dataclasses.dataclass(frozen=True)(cls)
        made.__init__ = _fields_at_once(made)  # type: ignore[method-assign]
        if kept_hash:
            made.__hash__ = _kept_hash(made)  # type: ignore[assignment, method-assign]
            made.__getstate__ = _without_hash  # type: ignore[method-assign]
        return made

    return make if cls is None else make(cls)


def _fields_at_once(cls: type) -> Callable[..., None]:
    """An `__init__` with the dataclass's fields as parameters, in order, with their
    defaults (None for a factory's), that sets them in the instance's dictionary (one
    item each: faster than `dict.update`'s keywords for a few fields)."""
    names: dict[str, Any] = {}
    parameters, lines = [], ["    fields = self.__dict__"]
    for field in dataclasses.fields(cls):
        name, value = field.name, field.name
        if field.default is not dataclasses.MISSING:
            names[f"_default_{name}"] = field.default
            parameters.append(f"{name}=_default_{name}")
        elif field.default_factory is not dataclasses.MISSING:
            names[f"_factory_{name}"] = field.default_factory
            parameters.append(f"{name}=None")
            value = f"_factory_{name}() if {name} is None else {name}"
        else:
            parameters.append(name)
        lines.append(f"    fields[{name!r}] = {value}")
    init: Callable[..., None] = _made(
        f"def __init__(self, {', '.join(parameters)}):", lines, names, "__init__"
    )
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__doc__ = "The fields, with their defaults, set at once (`value_types.value_type`)."
    return init


def _kept_hash(cls: type) -> Callable[[Any], int]:
    """A `__hash__` of the fields' tuple (the dataclass's), kept in the instance."""
    values = ", ".join(f"fields[{field.name!r}]" for field in dataclasses.fields(cls))
    lines = [
        "    fields = self.__dict__",
        f"    known = fields.get({_KEPT!r})",
        "    if known is None:",
        f"        known = fields[{_KEPT!r}] = hash(({values},))",
        "    return known",
    ]
    kept: Callable[[Any], int] = _made("def __hash__(self):", lines, {}, "__hash__")
    kept.__qualname__ = f"{cls.__qualname__}.__hash__"
    return kept


def _made(header: str, lines: list[str], names: dict[str, Any], name: str) -> Any:
    """The function `header` + `lines` defines, made with `names` as its globals (as
    `dataclasses` makes a dataclass's `__init__`)."""
    exec("\n".join([header, *lines]), names)
    return names[name]


def _without_hash(self: Any) -> dict[str, object]:
    """The instance's fields without its kept hash (`kept_hash`), for pickling."""
    state: dict[str, object] = self.__dict__
    if _KEPT not in state:
        return state
    return {name: value for name, value in state.items() if name != _KEPT}
