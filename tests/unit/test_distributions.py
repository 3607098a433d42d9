"""Unit tests of `models.distributions`: moments against samples, parsing, errors, sampling.

All draws use fixed seeds, so every test is deterministic. The statistical checks compare
sample moments with the analytic `mean` and `scv`; each tolerance is derived below.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import BaseModel, ValidationError

from models.distribution_spec import FAMILIES, DistributionField, parse_distribution
from models.distributions import (
    Constant,
    Distribution,
    Erlang,
    Exponential,
    Gamma,
    Hyperexponential,
    Lognormal,
    Pareto,
    Uniform,
    Weibull,
)
from models.empirical import Empirical
from sim.engine.streams import block_sampler

DRAWS = 200_000
BATCHES = 100
SEED = 20240607

# Every family, by its scenario form and the object it must give (times in seconds).
CASES: list[tuple[dict[str, Any], Distribution]] = [
    ({"constant": "3ms"}, Constant(0.003)),
    ({"constant": 0}, Constant(0.0)),
    ({"exponential": "5ms"}, Exponential(0.005)),
    ({"uniform": ["1ms", "4ms"]}, Uniform(0.001, 0.004)),
    ({"uniform": [0, 2]}, Uniform(0.0, 2.0)),
    ({"erlang": {"k": 3, "mean": "2ms"}}, Erlang(3, 0.002)),
    ({"gamma": {"mean": "4ms", "cv": 0.5}}, Gamma(0.004, 0.5)),
    ({"gamma": {"mean": 1, "cv": 2}}, Gamma(1.0, 2.0)),
    ({"lognormal": {"mean": "4ms", "cv": 1.2}}, Lognormal.from_mean_cv(0.004, 1.2)),
    ({"lognormal": {"median": "10ms", "p99": "100ms"}}, Lognormal.from_percentiles(0.01, 0.1)),
    ({"weibull": {"mean": "10ms", "cv": 0.5}}, Weibull(0.01, 0.5)),
    ({"weibull": {"mean": "10ms", "cv": 2}}, Weibull(0.01, 2.0)),
    ({"pareto": {"mean": "10ms", "alpha": 6}}, Pareto(0.01, 6.0)),
    ({"pareto": {"mean": "10ms", "alpha": 2.5}}, Pareto(0.01, 2.5)),
    ({"hyperexponential": {"mean": "10ms", "cv": 3}}, Hyperexponential(0.01, 3.0)),
    ({"hyperexponential": {"mean": "10ms", "cv": 1}}, Hyperexponential(0.01, 1.0)),
    ({"empirical": ["1ms", "2ms", "2ms", "7ms"]}, Empirical((0.001, 0.002, 0.002, 0.007))),
]
DISTRIBUTIONS = [dist for _, dist in CASES]


def case_id(dist: Distribution) -> str:
    return f"{dist.family}-{dist.scv:.3g}"


def draws(dist: Distribution, seed: int = SEED) -> np.ndarray:
    return dist.sample(np.random.default_rng(seed), DRAWS)


# ----------------------------------------------------------------- analytic values


@pytest.mark.parametrize(("spec", "expected"), CASES, ids=[case_id(d) for d in DISTRIBUTIONS])
def test_scenario_form_builds_the_expected_distribution(
    spec: dict[str, Any], expected: Distribution
) -> None:
    dist = parse_distribution(spec)
    assert type(dist) is type(expected)
    assert dist.family == next(iter(spec))
    assert dist.mean == pytest.approx(expected.mean, rel=1e-12)
    assert dist.scv == pytest.approx(expected.scv, rel=1e-12)


def test_every_family_has_a_case() -> None:
    assert {dist.family for dist in DISTRIBUTIONS} == set(FAMILIES)


@pytest.mark.parametrize(
    ("dist", "mean", "scv"),
    [
        (Constant(0.003), 0.003, 0.0),
        (Exponential(2.0), 2.0, 1.0),
        (Uniform(1.0, 3.0), 2.0, (2.0**2 / 12) / 4),
        (Erlang(4, 2.0), 2.0, 0.25),
        (Gamma(2.0, 0.5), 2.0, 0.25),
        (Lognormal.from_mean_cv(2.0, 0.5), 2.0, 0.25),
        (Weibull(2.0, 1.0), 2.0, 1.0),  # shape 1 is the exponential law
        (Pareto(2.0, 3.0), 2.0, 1 / 3),  # 1 / (alpha (alpha - 2))
        (Pareto(2.0, 2.0), 2.0, math.inf),
        (Hyperexponential(2.0, 3.0), 2.0, 9.0),
        (Empirical((1.0, 3.0)), 2.0, 0.25),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Distribution) else None,
)
def test_closed_form_moments(dist: Distribution, mean: float, scv: float) -> None:
    assert dist.mean == pytest.approx(mean, rel=1e-12)
    assert dist.scv == pytest.approx(scv, rel=1e-9)
    if math.isfinite(scv):
        assert dist.variance == pytest.approx(scv * mean**2, rel=1e-9)


def test_weibull_shape_one_is_exponential_and_shape_solves_the_cv() -> None:
    assert Weibull(2.0, 1.0).shape == pytest.approx(1.0, rel=1e-9)
    assert Weibull(2.0, 1.0).scale == pytest.approx(2.0, rel=1e-9)
    # Shape 2 (Rayleigh) has cv = sqrt(4/pi - 1).
    assert Weibull(1.0, math.sqrt(4 / math.pi - 1)).shape == pytest.approx(2.0, rel=1e-9)


def test_hyperexponential_balanced_means() -> None:
    dist = Hyperexponential(2.0, 3.0)
    (p1, p2), (m1, m2) = dist.probabilities, dist.phase_means
    assert p1 + p2 == pytest.approx(1.0)
    assert p1 * m1 == pytest.approx(p2 * m2) == pytest.approx(1.0)  # balanced: = mean / 2
    assert p1 == pytest.approx((1 + math.sqrt(8 / 10)) / 2)
    assert Hyperexponential(2.0, 1.0).phase_means == pytest.approx((2.0, 2.0))


def test_pareto_scale_is_the_minimum() -> None:
    dist = Pareto(0.01, 2.5)
    assert dist.scale == pytest.approx(0.006)
    assert draws(dist).min() >= dist.scale


# ------------------------------------------------------- sampled against analytic moments


@pytest.mark.parametrize("dist", DISTRIBUTIONS, ids=case_id)
def test_sample_mean_agrees_with_the_analytic_mean(dist: Distribution) -> None:
    sample = draws(dist)
    assert sample.shape == (DRAWS,) and sample.dtype == np.float64
    assert (sample >= 0).all()
    if dist.variance == 0:
        assert (sample == dist.mean).all()
        return
    # The sample mean of n iid draws has standard error sqrt(variance / n) (CLT); a deviation
    # beyond 5 standard errors has probability < 1e-6 for a correct sampler.
    standard_error = math.sqrt(dist.variance / DRAWS)
    assert abs(sample.mean() - dist.mean) < 5 * standard_error


def sample_scv(sample: np.ndarray) -> float:
    return float(sample.var() / sample.mean() ** 2)


@pytest.mark.parametrize("dist", DISTRIBUTIONS, ids=case_id)
def test_sample_scv_agrees_with_the_analytic_scv(dist: Distribution) -> None:
    if isinstance(dist, Pareto) and dist.alpha <= 4:
        pytest.skip(
            "pareto with alpha <= 4 has an infinite fourth moment: the sample variance has no "
            "finite standard error and converges too slowly for a meaningful bound"
        )
    sample = draws(dist)
    if dist.scv == 0:
        assert sample.var() == 0.0
        return
    # The standard error of the sample SCV depends on the fourth moment, which differs per
    # family; estimate it by batch means: split the draws into 100 batches, and the spread of
    # the batch SCVs / sqrt(100) is the standard error of the overall SCV. Allow 5 of those
    # (generous: the batch estimate of a heavy-tailed SCV is noisy itself), and at least 1%.
    batch_scvs = [sample_scv(batch) for batch in np.split(sample, BATCHES)]
    standard_error = float(np.std(batch_scvs, ddof=1)) / math.sqrt(BATCHES)
    tolerance = max(5 * standard_error, 0.01 * dist.scv)
    assert abs(sample_scv(sample) - dist.scv) < tolerance


def test_lognormal_percentile_fit_reproduces_the_percentiles() -> None:
    dist = parse_distribution({"lognormal": {"median": "20ms", "p99": "250ms"}})
    assert isinstance(dist, Lognormal)
    assert dist.quantile(0.5) == pytest.approx(0.020, rel=1e-12)
    assert dist.quantile(0.99) == pytest.approx(0.250, rel=1e-12)
    sample = draws(dist)
    # The fraction of draws below the true p-quantile is binomial: standard error
    # sqrt(p (1 - p) / n). Allow 5 standard errors.
    for probability, quantile in ((0.5, 0.020), (0.99, 0.250)):
        below = float((sample <= quantile).mean())
        assert abs(below - probability) < 5 * math.sqrt(probability * (1 - probability) / DRAWS)


def test_lognormal_mean_cv_and_percentile_forms_are_consistent() -> None:
    fitted = Lognormal.from_percentiles(0.020, 0.250)
    again = Lognormal.from_mean_cv(fitted.mean, math.sqrt(fitted.scv))
    assert (again.mu, again.sigma) == pytest.approx((fitted.mu, fitted.sigma), rel=1e-12)


def test_empirical_resamples_only_the_given_values_uniformly() -> None:
    dist = Empirical((0.001, 0.002, 0.007))
    sample = draws(dist)
    values, counts = np.unique(sample, return_counts=True)
    assert values.tolist() == [0.001, 0.002, 0.007]
    # Each count is binomial(n, 1/3): standard error sqrt(n p (1 - p)); allow 5 of them.
    assert np.all(np.abs(counts - DRAWS / 3) < 5 * math.sqrt(DRAWS * (1 / 3) * (2 / 3)))


# -------------------------------------------------------------------------- block sampler


@pytest.mark.parametrize("dist", DISTRIBUTIONS, ids=case_id)
def test_block_sampler_gives_the_same_sequence_as_sample(dist: Distribution) -> None:
    draw = block_sampler(dist, np.random.default_rng(SEED), block_size=7)
    got = [draw() for _ in range(20)]
    rng = np.random.default_rng(SEED)
    expected = np.concatenate([dist.sample(rng, 7) for _ in range(3)])[:20].tolist()
    assert got == expected
    assert all(type(value) is float for value in got)


def test_block_sampler_default_block_crosses_block_boundaries() -> None:
    dist = Gamma(0.004, 0.5)
    draw = block_sampler(dist, np.random.default_rng(1))
    got = [draw() for _ in range(5000)]
    rng = np.random.default_rng(1)
    assert got == np.concatenate([dist.sample(rng, 4096), dist.sample(rng, 4096)])[:5000].tolist()


# ---------------------------------------------------------------------- scenario form


@pytest.mark.parametrize("dist", DISTRIBUTIONS, ids=case_id)
def test_to_spec_round_trips_through_parse_distribution(dist: Distribution) -> None:
    spec = dist.to_spec()
    assert list(spec) == [dist.family]
    again = parse_distribution(spec)
    assert type(again) is type(dist)
    assert again.mean == pytest.approx(dist.mean, rel=1e-12)
    assert again.scv == pytest.approx(dist.scv, rel=1e-12)
    if not isinstance(dist, Lognormal):  # lognormal goes through exp/log: equal to rounding
        assert again == dist


def test_lognormal_to_spec_keeps_the_form_it_was_given() -> None:
    by_percentiles = parse_distribution({"lognormal": {"median": 0.02, "p99": 0.25}})
    assert by_percentiles.to_spec()["lognormal"] == pytest.approx({"median": 0.02, "p99": 0.25})
    by_moments = parse_distribution({"lognormal": {"mean": 0.004, "cv": 1.2}})
    assert by_moments.to_spec()["lognormal"] == pytest.approx({"mean": 0.004, "cv": 1.2})


class Step(BaseModel):
    work: DistributionField
    delay: DistributionField | None = None


def test_distribution_field_in_a_model_validates_dumps_and_accepts_objects() -> None:
    step = Step.model_validate({"work": {"gamma": {"mean": "4ms", "cv": 0.5}}})
    assert step.work == Gamma(0.004, 0.5)
    assert step.delay is None
    assert step.model_dump() == {"work": {"gamma": {"mean": 0.004, "cv": 0.5}}, "delay": None}
    assert Step.model_validate_json(step.model_dump_json()) == step
    assert Step(work=Exponential(0.001)).work == Exponential(0.001)


def test_distribution_field_json_schema_lists_every_family() -> None:
    schema = Step.model_json_schema()
    work = schema["properties"]["work"]
    families = {
        next(iter(schema["$defs"][option["$ref"].rsplit("/", 1)[1]]["properties"]))
        for option in work["oneOf"]
    }
    assert families == set(FAMILIES)
    gamma = schema["$defs"]["MeanCv"]["properties"]
    assert gamma["mean"]["anyOf"][0] == {"type": "number", "exclusiveMinimum": 0}
    assert gamma["cv"]["exclusiveMinimum"] == 0


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"gamma": {"mean": 1, "cv": -1}}, "gamma: 'cv' must be > 0 (got -1)"),
        ({"gamma": {"mean": "-4ms", "cv": 0}}, "gamma: 'mean' must be > 0 (got -0.004)"),
        ({"lognormal": {"mean": 1, "cv": 0}}, "lognormal: 'cv' must be > 0 (got 0)"),
        ({"weibull": {"mean": 1, "cv": -0.5}}, "weibull: 'cv' must be > 0 (got -0.5)"),
        ({"weibull": {"mean": 1, "cv": 1e-9}}, "weibull: 'cv' must be between"),
        ({"exponential": 0}, "exponential: the mean must be > 0 (got 0)"),
        ({"exponential": "-5ms"}, "exponential: the mean must be > 0 (got -0.005)"),
        ({"constant": -1}, "constant: the time must be >= 0 (got -1)"),
        (
            {"expo": 5},
            "unknown distribution family 'expo' (expected one of: constant, exponential, "
            "uniform, erlang, gamma, lognormal, weibull, pareto, hyperexponential, empirical)",
        ),
        (
            {"gamma": {"mean": 1, "cv": 1}, "exponential": 1},
            "a distribution is a mapping with exactly one key, the family (got {'gamma': ",
        ),
        (5, "a distribution is a mapping with exactly one key, the family (got 5)"),
        ({}, "a distribution is a mapping with exactly one key, the family (got {})"),
        ({"uniform": [5, 1]}, "uniform: low must be <= high (got [5, 1])"),
        ({"uniform": [-1, 1]}, "uniform: low must be >= 0 (got [-1, 1])"),
        ({"uniform": [0, 0]}, "uniform: high must be > 0 (got [0, 0])"),
        ({"uniform": 5}, "uniform takes [low, high] (got 5)"),
        ({"gamma": 5}, "gamma takes {mean, cv} (got 5)"),
        (
            {"lognormal": {"mean": 1, "p99": 2}},
            "lognormal takes {mean, cv} or {median, p99} (got {'mean': 1.0, 'p99': 2.0})",
        ),
        ({"lognormal": {"median": 1}}, "lognormal takes {mean, cv} or {median, p99}"),
        (
            {"lognormal": {"median": 2, "p99": 1}},
            "lognormal: 'p99' must be > 'median' (got median 2.0, p99 1.0)",
        ),
        ({"lognormal": {"median": 0, "p99": 1}}, "lognormal: 'median' must be > 0 (got 0)"),
        ({"erlang": {"k": 0, "mean": 1}}, "erlang: 'k' must be an integer >= 1 (got 0)"),
        ({"erlang": {"k": 2.5, "mean": 1}}, "valid integer"),
        (
            {"pareto": {"mean": 1, "alpha": 1}},
            "pareto: 'alpha' must be > 1 (got 1)",
        ),
        (
            {"hyperexponential": {"mean": 1, "cv": 0.5}},
            "hyperexponential: 'cv' must be >= 1 (got 0.5)",
        ),
        ({"gamma": {"mean": 1, "cv": math.inf}}, "gamma: 'cv' must be finite (got inf)"),
        ({"empirical": []}, "empirical: needs at least one sample (got [])"),
        ({"empirical": [1, -2]}, "empirical: samples must be finite and >= 0 (got -2 at index 1)"),
        ({"empirical": 5}, "empirical takes [samples...] or {file: path.csv} (got 5)"),
        ({"gamma": {"mean": 1, "cv": 1, "shape": 2}}, "Extra inputs are not permitted"),
        ({"gamma": {"mean": 1}}, "Field required"),
        ({"exponential": "5 parsecs"}, "'5 parsecs' is not a duration"),
        ({"constant": True}, "True is not a duration"),
    ],
)
def test_bad_distributions_name_the_family_rule_and_value(spec: Any, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_distribution(spec)


def test_several_problems_of_one_distribution_are_reported_together() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_distribution({"erlang": {"k": 0, "mean": -1}})
    (error,) = caught.value.errors()
    assert error["msg"].endswith(
        "erlang: 'k' must be an integer >= 1 (got 0); 'mean' must be > 0 (got -1)"
    )


def test_constructors_validate_too() -> None:
    with pytest.raises(ValueError, match=re.escape("gamma: 'cv' must be > 0 (got -1)")):
        Gamma(1.0, -1)
    with pytest.raises(ValueError, match=re.escape("lognormal: sigma must be > 0 (got 0)")):
        Lognormal(0.0, 0.0)


# ------------------------------------------------------------------------ empirical files


def test_empirical_file_relative_to_base_dir_with_header(tmp_path: Path) -> None:
    (tmp_path / "latency.csv").write_text("latency_s\n0.001\n0.002\n\n2ms\n0.007\n")
    spec = {"empirical": {"file": "latency.csv"}}
    dist = parse_distribution(spec, base_dir=tmp_path)
    assert isinstance(dist, Empirical)
    assert dist.values == (0.001, 0.002, 0.002, 0.007)
    assert dist.source == str(tmp_path / "latency.csv")
    assert dist.to_spec() == {"empirical": [0.001, 0.002, 0.002, 0.007]}
    step = Step.model_validate({"work": spec}, context={"base_dir": tmp_path})
    assert step.work == dist


def test_empirical_file_without_header_or_base_dir(tmp_path: Path) -> None:
    path = tmp_path / "samples.csv"
    path.write_text("0.5\n1.5\n")
    dist = parse_distribution({"empirical": {"file": str(path)}})
    assert (dist.mean, dist.scv) == (1.0, 0.25)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,b\n1,2\n", "line 1: expected one column of numbers (got 2 columns)"),
        ("seconds\n0.1\nfast\n", "line 3: expected a time (got 'fast')"),
        ("seconds\n", "empirical: needs at least one sample in "),
        ("0.1\n-0.2\n", "empirical: samples must be finite and >= 0 in "),
    ],
)
def test_empirical_file_errors_name_the_file_and_line(
    tmp_path: Path, text: str, message: str
) -> None:
    (tmp_path / "bad.csv").write_text(text)
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_distribution({"empirical": {"file": "bad.csv"}}, base_dir=tmp_path)


def test_empirical_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"empirical: cannot read '.*nope\.csv': No such file"):
        parse_distribution({"empirical": {"file": "nope.csv"}}, base_dir=tmp_path)
