"""The one error type of trace input: a file that cannot be read as traces.

A `TraceInputError` carries every problem found in a file at once (the first
`MAX_PROBLEMS_SHOWN` of them are shown), each naming the place in the file (a line and
column for text that is no JSON, a JSON path such as ``data[0].spans[3].startTime`` for a
span that breaks a rule, prefixed with ``line N`` in a JSON-lines file), the rule and the
value given.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

MAX_PROBLEMS_SHOWN = 20


class TraceInputError(Exception):
    """A trace file that cannot be imported; `problems` lists what is wrong with it."""

    def __init__(self, source: str, problems: Iterable[str]) -> None:
        self.source = source
        self.problems = tuple(problems)
        super().__init__(self.render())

    def render(self) -> str:
        """One line for one problem, else a header and one indented line per problem."""
        if len(self.problems) == 1:
            return f"{self.source}: {self.problems[0]}"
        shown = [f"  {self.source}: {problem}" for problem in self.problems[:MAX_PROBLEMS_SHOWN]]
        hidden = len(self.problems) - MAX_PROBLEMS_SHOWN
        if hidden > 0:
            shown.append(f"  ... and {hidden} more")
        return "\n".join([f"{self.source}: {len(self.problems)} problems found", *shown])


RUNAWAY_MARK = "messages multiply without end"
"""How the scenario language's refusal of an exploding topic cycle begins
(`models.budget.topics.explosion_problems`)."""


def refuse_runaway(document: Mapping[str, Any], files: Sequence[str]) -> None:
    """`TraceInputError` when the traces describe topics whose messages cause at least as
    many messages again (the scenario language refuses such a model: its run cannot end);
    any other refusal of the built scenario is left to surface (an importer's bug)."""
    from models.errors import ScenarioError
    from models.loading import load_scenario

    try:
        load_scenario(dict(document))
    except ScenarioError as error:
        runaway = [p.message for p in error.problems if p.message.startswith(RUNAWAY_MARK)]
        if runaway and len(runaway) == len(error.problems):
            source = ", ".join(files) or "the traces"
            raise TraceInputError(
                source,
                [f"the traces describe a model that cannot run: {text}" for text in runaway],
            ) from None
