"""Deep recursion for models whose parts nest deeply (long chains of synchronous calls).

The engine continues steps that take no time in the same Python call, and both the engine's
compiler and the analysis walk callees before callers: a chain of N calls nests about 5N
frames, beyond the interpreter's default limit of 1,000 for a few hundred calls. Python 3.11
keeps Python-to-Python calls off the C stack, so a higher limit is safe.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

RECURSION_LIMIT = 30_000
"""Python frames a simulation or an analysis may nest."""


@contextlib.contextmanager
def deep_recursion() -> Iterator[None]:
    """Within the block, allow `RECURSION_LIMIT` nested frames (the previous limit after)."""
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous, RECURSION_LIMIT))
    try:
        yield
    finally:
        sys.setrecursionlimit(previous)
