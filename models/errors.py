"""The one error type of the input layer: a scenario that cannot be run.

A `ScenarioError` carries every problem found in a file at once, each naming the file, the
YAML path, the rule broken and the value given, so that a user fixes them in one go.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a scenario: where (`path`, dotted YAML path) and what (`message`)."""

    path: str
    message: str

    def render(self, source: str) -> str:
        """Format as ``source: path: message`` (the path is omitted when it is the root)."""
        where = f"{source}: {self.path}" if self.path else source
        return f"{where}: {self.message}"


class ScenarioError(Exception):
    """A scenario file that cannot be run; `problems` lists everything wrong with it."""

    def __init__(self, source: str, problems: Iterable[Problem]) -> None:
        self.source = source
        self.problems = tuple(problems)
        super().__init__(self.render())

    def render(self) -> str:
        """All problems, one per line, each prefixed with the file and the YAML path."""
        count = len(self.problems)
        header = f"{self.source}: {count} problem{'s' if count != 1 else ''} found"
        lines = [problem.render(self.source) for problem in self.problems]
        return "\n".join([header, *("  " + line for line in lines)])


class UnsimulatableError(Exception):
    """A scenario that validates but cannot be simulated as given (e.g. work that chains in
    zero time deeper than the engine can follow). A user's mistake: exit code 2."""


def short_repr(value: Any, limit: int = 60) -> str:
    """`value` as a problem message shows the value given: its repr, cut to `limit` characters.

    >>> short_repr(list(range(100)), limit=20), short_repr("abc")
    ('[0, 1, 2, 3, 4, 5...', "'abc'")
    """
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def format_path(location: Iterable[str | int]) -> str:
    """Render a location tuple as a YAML path: ``services.orders.operations.create[1].call``.

    >>> format_path(("services", "orders", "operations", "create", 1, "call"))
    'services.orders.operations.create[1].call'
    >>> format_path(())
    ''
    """
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


_PATH_PART = re.compile(r"\[(\d+)\]|([^.\[]+)")


def path_sort_key(path: str) -> tuple[tuple[int, int, str], ...]:
    """Order of YAML paths: key by key, list items by their index (``[2]`` before ``[10]``).

    >>> sorted(["b", "a[10]", "a[2].x", "", "a"], key=path_sort_key)
    ['', 'a', 'a[2].x', 'a[10]', 'b']
    """
    return tuple(
        (0, int(index), "") if index else (1, 0, key) for index, key in _PATH_PART.findall(path)
    )


def merge_problems(problems: Iterable[Problem]) -> list[Problem]:
    """`problems` without repeats, sorted by YAML path (in their order within a path)."""
    unique = dict.fromkeys(problems)
    return sorted(unique, key=lambda problem: path_sort_key(problem.path))


def closest(given: str, choices: Iterable[str]) -> str | None:
    """The choice nearest to `given` (a near miss: a typo, a letter too many), or None.

    >>> closest("replicaz", ["replicas", "workers"]), closest("zzz", ["replicas"])
    ('replicas', None)
    """
    near = difflib.get_close_matches(given, [str(choice) for choice in choices], n=1)
    return near[0] if near else None


def did_you_mean(given: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'X'?)`` for the choice nearest to `given`, or "" when none is near.

    >>> did_you_mean("replicaz", ["replicas", "workers"]), did_you_mean("zzz", ["replicas"])
    (" (did you mean 'replicas'?)", '')
    """
    near = closest(given, choices)
    return f" (did you mean '{near}'?)" if near is not None else ""


def unknown_name(kind: str, given: str, known: Iterable[str], owner: str | None = None) -> str:
    """The message for a name that names nothing: the nearest known name, then all of them.

    >>> unknown_name("service", "dbx", ["api", "db"])
    "unknown service 'dbx' (did you mean 'db'? services: api, db)"
    >>> unknown_name("operation", "raed", ["read", "write"], owner="service 'db'")
    "service 'db' has no operation 'raed' (did you mean 'read'? operations: read, write)"
    >>> unknown_name("topic", "orders", [])
    "unknown topic 'orders' (topics: none)"
    """
    names = list(known)
    near = closest(given, names)
    hint = f"did you mean '{near}'? " if near is not None else ""
    what = f"{owner} has no {kind}" if owner is not None else f"unknown {kind}"
    return f"{what} '{given}' ({hint}{kind}s: {', '.join(names) or 'none'})"
