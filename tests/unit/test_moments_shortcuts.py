"""The short ways `mixture` and `expected_maximum` take give what the general ones do, to
the bit: a mixture of one part is its fsums' arithmetic (`math.fsum` of one term x is
x + 0.0), and the integrated maxima are remembered by their parts' floats."""

from __future__ import annotations

import math
import struct

import pytest

from models.analysis.moments import Moments, expected_maximum, mixture


def _general(parts: list[tuple[float, Moments]]) -> Moments:
    """`mixture` as its sums over all parts say (the way before the one-part one)."""
    kept = [(w, m) for w, m in parts if w > 0]
    total = math.fsum([w for w, _ in kept])
    mean = math.fsum([w * m.mean for w, m in kept]) / total
    variance = math.fsum([w * (m.variance + m.mean**2) for w, m in kept]) / total - mean**2
    return Moments(mean, 0.0 if variance < 0.0 else variance)


def _bits(moments: Moments) -> bytes:
    return struct.pack("<2d", moments.mean, moments.variance)


@pytest.mark.parametrize("weight", [1.0, 0.3, 1e-300, 7.0])
@pytest.mark.parametrize("mean", [0.0, -0.0, 1.0, -2.5, 1e-320, 1e150, 0.1])
@pytest.mark.parametrize("variance", [0.0, -0.0, 2.0, 1e-300, 1e300])
def test_a_mixture_of_one_part_is_the_sums_of_one_term(
    weight: float, mean: float, variance: float
) -> None:
    parts = [(weight, Moments(mean, variance)), (0.0, Moments(5.0, 1.0))]
    assert _bits(mixture(parts)) == _bits(_general(parts))
    assert _bits(mixture(iter(parts))) == _bits(_general(parts))


def test_a_mixture_of_one_part_keeps_the_special_cases() -> None:
    assert mixture([(1.0, Moments(-0.0, 0.0))]).mean == 0.0
    assert math.copysign(1.0, mixture([(1.0, Moments(-0.0, 0.0))]).mean) == 1.0
    infinite = mixture([(0.5, Moments(math.inf, 1.0))])
    assert infinite.mean == math.inf and infinite.variance == math.inf
    assert mixture([(0.0, Moments(1.0))]) == Moments(0.0, 0.0)
    with pytest.raises(OverflowError):
        mixture([(1.0, Moments(1e200, 0.0))])


def test_maxima_remembered_by_their_floats_are_the_same_maxima() -> None:
    first = expected_maximum([(1.0, Moments(1.0, 1.0)), (0.5, Moments(2.0, 0.5))])
    again = expected_maximum([(1, Moments(1.0, 1.0)), (0.5, Moments(2.0, 0.5))])
    assert _bits(first) == _bits(again)
    assert round(expected_maximum([(1.0, Moments(1.0, 1.0))] * 2).mean, 5) == 1.5
    constant = Moments(3.0, 0.0)
    assert expected_maximum([(1.0, constant), (0.0, Moments(9.0))]) is constant
    assert expected_maximum([(1.0, Moments(math.inf, 0.0)), (1.0, constant)]).mean == math.inf
