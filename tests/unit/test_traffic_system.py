"""`traffic._system` builds the same matrix, entry for entry, as the sparse difference
it replaces."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from models.analysis.traffic import _system


@pytest.mark.parametrize("seed", range(20))
def test_system_as_the_sparse_difference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    size = int(rng.integers(1, 40))
    direct = rng.random((size, size)) * (rng.random((size, size)) < 0.1)
    direct[rng.integers(0, size)] = 0.0  # (a row without calls)
    loops = rng.integers(0, size, 3)
    direct[loops, loops] = [1.0, 0.5, 0.0]  # (a loop of weight 1: the diagonal's 0 dropped)
    direct[0, -1] = 1e-300
    found = _system(direct)
    expected = sparse.csc_matrix(sparse.identity(size) - sparse.csr_matrix(direct).T)
    assert found.format == expected.format == "csc"
    assert found.has_sorted_indices and expected.has_sorted_indices
    assert np.array_equal(found.indptr, expected.indptr)
    assert np.array_equal(found.indices, expected.indices)
    assert found.data.tobytes() == expected.data.tobytes()
    assert found.indices.dtype == expected.indices.dtype
    assert found.indptr.dtype == expected.indptr.dtype
