"""Comments attached to the parts of a document while it is built, before their places are
known: `Notes.note(part, text)` marks a dict or list; `Notes.paths(document)` finds where each
marked part ended up (the `YamlPath` an `ImportedScenario`'s comments are keyed by)."""

from __future__ import annotations

from typing import Any, TypeVar

from models.traces.imported import YamlPath

Part = TypeVar("Part", dict[str, Any], list[Any])


class Notes:
    """Comments on parts of a document under construction (dicts and lists, by identity)."""

    def __init__(self) -> None:
        self._texts: dict[int, str] = {}
        self._parts: list[Any] = []  # keeps the parts alive, so their ids stay theirs

    def note(self, part: Part, text: str) -> Part:
        """Attach `text` to `part` (joined with "; " to a comment already there); return it."""
        key = id(part)
        if key in self._texts:
            self._texts[key] = f"{self._texts[key]}; {text}"
        else:
            self._texts[key] = text
            self._parts.append(part)
        return part

    def paths(self, document: Any) -> dict[YamlPath, str]:
        """Where each noted part is in `document` (parts not in it are left out).

        >>> notes = Notes()
        >>> step = notes.note({"work": {"constant": "1ms"}}, "measured")
        >>> notes.paths({"ops": {"get": [step]}})
        {('ops', 'get', 0): 'measured'}
        """
        found: dict[YamlPath, str] = {}
        stack: list[tuple[YamlPath, Any]] = [((), document)]
        while stack:
            path, value = stack.pop()
            if isinstance(value, dict | list) and id(value) in self._texts:
                found[path] = self._texts[id(value)]
            if isinstance(value, dict):
                stack.extend(((*path, key), inner) for key, inner in value.items())
            elif isinstance(value, list):
                stack.extend(((*path, index), inner) for index, inner in enumerate(value))
        return dict(sorted(found.items(), key=lambda item: [str(part) for part in item[0]]))
