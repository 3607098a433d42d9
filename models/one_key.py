"""One-key mappings, the shape the scenario language gives every kind-of-thing choice: a step
``{work: ...}``, arrivals ``{poisson: ...}``, a distribution ``{gamma: {...}}``; the key
says which kind (the tag of a pydantic discriminated union).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Discriminator


def single_key(value: Any) -> str | None:
    """The kind of a one-key mapping: its key, or the single field of a model already built
    from one; None for anything else (pydantic then reports the shape).

    >>> single_key({"work": 0.01}), single_key({"a": 1, "b": 2})
    ('work', None)
    """
    if isinstance(value, dict) and len(value) == 1:
        return str(next(iter(value)))
    if isinstance(value, BaseModel):
        return str(next(iter(type(value).model_fields)))
    return None


_KINDS_PREFIX = "must be a mapping with exactly one key, one of: "


def one_key_union(kinds: str) -> Discriminator:
    """A discriminator on the single key, with an error message listing the allowed keys."""
    return Discriminator(
        single_key,
        custom_error_type="one_key_mapping",
        custom_error_message=f"{_KINDS_PREFIX}{kinds}",
    )


def kinds_in_message(message: str) -> list[str]:
    """The keys allowed by a `one_key_union`, read back from its error message.

    >>> kinds_in_message(f"{_KINDS_PREFIX}work, delay")
    ['work', 'delay']
    """
    _, _, kinds = message.partition(_KINDS_PREFIX)
    return [kind.strip() for kind in kinds.split(",") if kind.strip()]
