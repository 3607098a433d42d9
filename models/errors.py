"""The one error type of the input layer: a scenario that cannot be run.

A `ScenarioError` carries every problem found in a file at once, each naming the file, the
YAML path, the rule broken and the value given, so that a user fixes them in one go.
"""

from __future__ import annotations

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
