"""What an import produces: a scenario document with the provenance of its numbers.

Both `archsim import traces` and `archsim import asyncapi` build an `ImportedScenario`; the
document is plain data in the scenario language (docs/scenario-language.md), the comments say
where each number came from and are written next to the value they explain.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

YamlPath = tuple[str | int, ...]
"""A place in the document: mapping keys and list indices from the top, e.g.
``("services", "orders", "operations", "place", 0)``."""


@dataclass
class ImportedScenario:
    """A scenario document built from traces and/or an AsyncAPI document.

    `document` is the scenario as plain dicts and lists (what `yaml.safe_load` of the written
    file gives back); `comments` maps a path in it to one line saying where the value came
    from (written as a YAML comment at that place); `header` are comment lines for the top of
    the file; `warnings` are what the importer noticed and the user should know (partial or
    inconsistent input), printed on stderr by the command.
    """

    document: dict[str, Any]
    comments: dict[YamlPath, str] = field(default_factory=dict)
    header: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
