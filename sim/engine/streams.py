"""Random-number streams: one independent numpy stream per component and replication.

A stream is named by the YAML path of the component that draws from it (e.g.
``services.orders.operations.create[0].work``). Its seed is derived from the scenario seed,
the replication index and a hash of that name with numpy's SeedSequence, so that

- the same scenario and seed give identical results on any executor or worker count;
- two variants of a scenario draw the same numbers for the components they share
  (common random numbers), which makes their differences sharper than noise.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from models.distributions import Constant, Distribution


class Streams:
    """The random streams of one replication."""

    def __init__(self, seed: int, replication: int) -> None:
        self.seed = seed
        self.replication = replication

    def generator(self, name: str) -> np.random.Generator:
        """A fresh generator for the component called `name` (same name -> same numbers)."""
        digest = hashlib.blake2b(name.encode("utf-8"), digest_size=16).digest()
        words = tuple(int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4))
        sequence = np.random.SeedSequence(entropy=self.seed, spawn_key=(self.replication, *words))
        return np.random.Generator(np.random.PCG64(sequence))

    def uniform(self, name: str) -> Callable[[], float]:
        """A fast source of U(0,1) floats for `name`, drawn in numpy blocks."""
        return draws_in_blocks(self.generator(name).random)

    def sampler(self, distribution: Distribution, name: str) -> Callable[[], float]:
        """A fast source of draws of `distribution` for `name`, drawn in numpy blocks."""
        return block_sampler(distribution, self.generator(name))


BLOCK_SIZE = 4096
"""Draws made at once by `block_sampler` and `draws_in_blocks` (one numpy call per block,
not per draw)."""

LIST_SIZE = 256
"""Draws of a block turned into Python numbers at once (see `draws_in_blocks`)."""


def block_sampler(
    dist: Distribution, rng: np.random.Generator, block_size: int = BLOCK_SIZE
) -> Callable[[], float]:
    """A zero-argument callable giving one draw per call, from blocks of `block_size`.

    The draws are those of ``dist.sample(rng, block_size)`` called repeatedly, in order.

    >>> from models.distributions import Exponential
    >>> draw = block_sampler(Exponential(2.0), np.random.default_rng(1), block_size=3)
    >>> first = [draw() for _ in range(5)]
    >>> rng = np.random.default_rng(1)
    >>> first == rng.exponential(2.0, 3).tolist() + rng.exponential(2.0, 3).tolist()[:2]
    True
    """
    if isinstance(dist, Constant):
        value = dist.value
        return lambda: value
    return draws_in_blocks(lambda size: dist.sample(rng, size), block_size)


def draws_in_blocks(
    draw_block: Callable[[int], Any], block_size: int = BLOCK_SIZE
) -> Callable[[], float]:
    """A zero-argument callable giving one draw per call, taken in order from the arrays
    ``draw_block(block_size)``, ``draw_block(block_size)``, ... (drawn when needed).

    This is how every stream of the engine draws: one numpy call per block, and per draw
    only the `__next__` of an iterator (no Python frame). A block is turned into Python
    numbers `LIST_SIZE` at a time, so that a stream holds a numpy block and a short list
    (about 34 kB), not thousands of Python floats: a model of many services has thousands
    of streams.

    >>> draw = draws_in_blocks(lambda size: np.arange(size), block_size=2)
    >>> [draw() for _ in range(5)]
    [0, 1, 0, 1, 0]
    """

    def lists() -> Iterator[list[Any]]:
        while True:
            block = draw_block(block_size)
            for start in range(0, block_size, LIST_SIZE):
                yield block[start : start + LIST_SIZE].tolist()

    return itertools.chain.from_iterable(lists()).__next__
