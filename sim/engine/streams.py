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
from collections.abc import Callable

import numpy as np

from models.distributions import Distribution, block_sampler, draws_in_blocks


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
