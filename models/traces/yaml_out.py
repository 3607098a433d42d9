"""Writing an `ImportedScenario` as a YAML file with comments: where each number came from.

`scenario_yaml(imported)` gives text that `yaml.safe_load` reads back as exactly
`imported.document` (a property the tests check), with:

- the `header` lines as comments at the top;
- each comment of `comments` at the end of the line where the value at its path starts (the
  ``key:`` line of a mapping entry, the ``- `` line of a list item), or on its own line(s)
  just above it when the line would grow longer than `WIDTH`; a comment whose path is not in
  the document goes to the nearest part above it that is;
- small mappings and lists written inline (``{lognormal: {mean: 4ms, cv: 1.2}}``) when they
  fit on the line and hold no commented part, lists of mappings (steps) always as blocks;
  long lists of plain values (``empirical`` samples) inline over several lines.

PyYAML cannot write comments, so this is a small emitter of its own; it uses PyYAML only to
know whether a plain scalar would read back as a string (``yes``, ``1e3`` and ``null`` would
not, and are quoted).
"""

from __future__ import annotations

import math
import re
import textwrap
from typing import Any

from models.traces.imported import ImportedScenario, YamlPath

WIDTH = 100
INDENT = 2
MAX_INLINE_KEYS = 4
_PLAIN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./+-]*")


def scenario_yaml(imported: ImportedScenario) -> str:
    """The scenario as YAML text with its header and comments (see the module's text)."""
    return _Emitter(imported.document, imported.comments).text(imported.header)


def scalar(value: Any) -> str:
    """A scalar as YAML that reads back as the same value.

    >>> [scalar(v) for v in ("orders.create", "12.5ms", "yes", "a b", None, True, 1e-05, 3)]
    ['orders.create', '12.5ms', '"yes"', '"a b"', 'null', 'true', '1.0e-05', '3']
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        text = repr(value)
        mantissa, e, exponent = text.partition("e")
        if e and "." not in mantissa:
            text = f"{mantissa}.0e{exponent}"
        return text
    text = str(value)
    if _PLAIN.fullmatch(text) and _reads_as_string(text):
        return text
    return _quoted(text)


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _quoted(text: str) -> str:
    """`text` as a YAML double-quoted scalar: printable characters as they are, others (and
    line breaks: YAML would fold them) escaped, beyond U+FFFF with YAML's ``\\U`` form.

    >>> print(_quoted('a "b"\\n\\u2028\\U00010000é'))
    "a \\"b\\"\\n\\u2028\\U00010000é"
    """
    parts = []
    for char in text:
        code = ord(char)
        if char in _ESCAPES:
            parts.append(_ESCAPES[char])
        elif code > 0xFFFF:
            parts.append(f"\\U{code:08x}")
        elif char.isprintable() and code not in (0x85, 0x2028, 0x2029, 0xFEFF):
            parts.append(char)
        else:
            parts.append(f"\\u{code:04x}")
    return '"' + "".join(parts) + '"'


def _reads_as_string(text: str) -> bool:
    import yaml

    resolver = yaml.resolver.Resolver()
    resolved = resolver.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
    return bool(resolved == "tag:yaml.org,2002:str")


def _inline(value: Any) -> str:
    """`value` in flow style, on one line."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{scalar(k)}: {_inline(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_inline(item) for item in value) + "]"
    return scalar(value)


def _has_list_of_mappings(value: Any) -> bool:
    if isinstance(value, list):
        return any(isinstance(item, dict) for item in value) or any(
            _has_list_of_mappings(item) for item in value
        )
    if isinstance(value, dict):
        return any(_has_list_of_mappings(item) for item in value.values())
    return False


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, dict | list)


class _Emitter:
    def __init__(self, document: dict[str, Any], comments: dict[YamlPath, str]) -> None:
        self.document = document
        self.comments: dict[YamlPath, str] = {}
        for path, comment in comments.items():
            place = self._existing(path)
            text = " ".join(str(comment).split())
            previous = self.comments.get(place)
            self.comments[place] = f"{previous}; {text}" if previous else text
        self.inside = {path[:cut] for path in self.comments for cut in range(len(path))}
        """Paths that hold a commented part strictly inside them."""
        self.lines: list[str] = []

    def _existing(self, path: YamlPath) -> YamlPath:
        """The longest beginning of `path` that is in the document."""
        value: Any = self.document
        for depth, part in enumerate(path):
            found = isinstance(value, dict) and part in value
            found = found or (
                isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value)
            )
            if not found:
                return path[:depth]
            value = value[part]
        return path

    def text(self, header: list[str]) -> str:
        for line in header:
            self.lines.append(f"# {line}".rstrip())
        if header:
            self.lines.append("")
        if () in self.comments:
            self._add(0, "", self.comments[()])
        for index, (key, value) in enumerate(self.document.items()):
            if index and not _is_scalar(value):
                self.lines.append("")
            self._entry(0, "", key, value, (key,))
        return "\n".join(self.lines) + "\n"

    def _add(self, indent: int, text: str, comment: str | None) -> None:
        """Append a line, with its comment at its end or, if too long, on lines above."""
        pad = " " * indent
        if comment is None:
            self.lines.append(f"{pad}{text}")
        elif len(pad) + len(text) + len(comment) + 4 <= WIDTH and text:
            self.lines.append(f"{pad}{text}  # {comment}")
        else:
            room = max(40, WIDTH - indent - 2)
            self.lines.extend(f"{pad}# {part}" for part in textwrap.wrap(comment, room))
            if text:
                self.lines.append(f"{pad}{text}")

    def _fits_inline(self, value: Any, path: YamlPath, used: int) -> bool:
        if _is_scalar(value) or value in ([], {}):
            return True
        if path in self.inside or _has_list_of_mappings(value) or len(path) <= 1:
            return False
        if isinstance(value, dict) and len(value) > MAX_INLINE_KEYS:
            return False
        return used + len(_inline(value)) <= WIDTH

    def _entry(self, indent: int, lead: str, key: Any, value: Any, path: YamlPath) -> None:
        """``KEY: VALUE`` at `indent`; `lead` (``- ``) replaces the start of its first line."""
        head = f"{lead}{scalar(key)}:"
        comment = self.comments.get(path)
        if self._fits_inline(value, path, indent + len(head) + 1):
            self._add(indent, f"{head} {_inline(value)}", comment)
        elif self._long_plain_list(value, path):
            self._wrapped(indent, len(lead), head, value, comment)
        else:
            self._add(indent, head, comment)
            self._block(indent + len(lead) + INDENT, value, path)

    def _long_plain_list(self, value: Any, path: YamlPath) -> bool:
        return (
            isinstance(value, list)
            and bool(value)
            and all(_is_scalar(item) for item in value)
            and path not in self.inside
        )

    def _wrapped(
        self, indent: int, lead: int, head: str, value: list[Any], comment: str | None
    ) -> None:
        """A long list of scalars inline over several lines, continued one level deeper than
        its key (which starts `lead` columns after `indent`)."""
        if comment is not None:
            self._add(indent, "", comment)
        pad = indent + lead + INDENT
        lines = [f"{' ' * indent}{head} ["]
        for number, item in enumerate(scalar(item) for item in value):
            piece = item + ("," if number < len(value) - 1 else "]")
            opened = lines[-1].endswith("[")
            if len(lines[-1]) + 1 + len(piece) > WIDTH and not opened:
                lines.append(" " * pad + piece)
            else:
                lines[-1] += piece if opened else f" {piece}"
        self.lines.extend(lines)

    def _block(self, indent: int, value: Any, path: YamlPath) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                self._entry(indent, "", key, inner, (*path, key))
            return
        for index, item in enumerate(value):
            self._item(indent, item, (*path, index))

    def _item(self, indent: int, item: Any, path: YamlPath) -> None:
        """One list item: ``- VALUE``, a mapping's first entry on the ``- `` line."""
        comment = self.comments.get(path)
        if self._fits_inline(item, path, indent + 2) or item == [] or item == {}:
            self._add(indent, f"- {_inline(item)}", comment)
            return
        if isinstance(item, list):
            self._nested_list(indent, item, path, comment)
            return
        for number, (key, inner) in enumerate(item.items()):
            inner_path = (*path, key)
            if number == 0 and comment is not None:
                joined = self.comments.get(inner_path)
                self.comments[inner_path] = f"{comment}; {joined}" if joined else comment
            lead = "- " if number == 0 else ""
            self._entry(indent if number == 0 else indent + INDENT, lead, key, inner, inner_path)

    def _nested_list(
        self, indent: int, item: list[Any], path: YamlPath, comment: str | None
    ) -> None:
        """A list inside a list: ``- - first`` and the rest below it (the comment of the
        outer item, and those the first line pushed above, go on lines above)."""
        if comment is not None:
            self._add(indent, "", comment)
        start = len(self.lines)
        self._block(indent + INDENT, item, path)
        first = next(
            index
            for index in range(start, len(self.lines))
            if not self.lines[index].lstrip().startswith("#")
        )
        for index in range(start, first):  # comments pushed above: at the outer item's column
            self.lines[index] = " " * indent + self.lines[index].lstrip()
        line = self.lines[first]
        self.lines[first] = f"{' ' * indent}- {line[indent + INDENT :]}"
