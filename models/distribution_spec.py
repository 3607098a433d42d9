"""The scenario form of distributions: the pydantic field type and its JSON Schema.

A distribution is written as a mapping with one key, the family (docs/scenario-language.md), e.g.
``{gamma: {mean: 4ms, cv: 0.5}}``. `DistributionField` parses it (one pydantic model per
family, unknown keys are errors) into a `models.distributions.Distribution`, writes it back
with `to_spec()`, and describes every family in the JSON Schema.

>>> work = parse_distribution({"gamma": {"mean": "4ms", "cv": 0.5}})
>>> work.mean, work.scv
(0.004, 0.25)
>>> parse_distribution({"erlang": {"k": 4, "mean": "2s"}}).to_spec()
{'erlang': {'k': 4, 'mean': 2.0}}
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    Tag,
    TypeAdapter,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

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
from models.errors import short_repr
from models.one_key import single_key
from models.units import duration_json_schema, parse_duration

__all__ = ["FAMILIES", "DistributionField", "parse_distribution"]


_Time = Annotated[float, BeforeValidator(parse_duration), WithJsonSchema(duration_json_schema())]
_PositiveTime = Annotated[
    float, BeforeValidator(parse_duration), WithJsonSchema(duration_json_schema(positive=True))
]
_Number = Annotated[float, Field(json_schema_extra={"exclusiveMinimum": 0})]
_Cv = Annotated[_Number, Field(description="coefficient of variation: standard deviation / mean")]


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MeanCv(_Params):
    """``{mean, cv}``: a mean time and a coefficient of variation."""

    mean: _PositiveTime
    cv: _Cv


class ErlangParams(_Params):
    """``{k, mean}``: k phases, mean time."""

    k: int = Field(json_schema_extra={"minimum": 1}, description="number of phases")
    mean: _PositiveTime


class LognormalParams(_Params):
    """``{mean, cv}`` or ``{median, p99}``."""

    model_config = ConfigDict(
        json_schema_extra={"oneOf": [{"required": ["mean", "cv"]}, {"required": ["median", "p99"]}]}
    )
    mean: _PositiveTime | None = None
    cv: _Cv | None = None
    median: _PositiveTime | None = None
    p99: _PositiveTime | None = Field(default=None, description="99th percentile, > median")


class ParetoParams(_Params):
    """``{mean, alpha}``: mean time and tail index alpha > 1."""

    mean: _PositiveTime
    alpha: float = Field(json_schema_extra={"exclusiveMinimum": 1}, description="tail index")


class EmpiricalFile(_Params):
    """``{file: path.csv}``: one column of times, relative to the scenario file."""

    file: str


class _Spec(BaseModel):
    """The scenario form of one family: a mapping with that one key."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    takes: ClassVar[tuple[type, ...]] = (dict,)
    """The YAML shapes the family's value may have (checked first, for a clear message)."""
    form: ClassVar[str]

    def build(self, base_dir: Path | None) -> Distribution:
        """The distribution; `base_dir` resolves relative file names."""
        raise NotImplementedError


_SCALAR = (int, float, str)


class ConstantSpec(_Spec):
    """``constant: T`` (T may be 0)."""

    takes, form = _SCALAR, "a time"
    constant: _Time

    def build(self, base_dir: Path | None) -> Distribution:
        return Constant(self.constant)


class ExponentialSpec(_Spec):
    """``exponential: MEAN``."""

    takes, form = _SCALAR, "a mean time"
    exponential: _PositiveTime

    def build(self, base_dir: Path | None) -> Distribution:
        return Exponential(self.exponential)


class UniformSpec(_Spec):
    """``uniform: [LOW, HIGH]``."""

    takes, form = (list, tuple), "[low, high]"
    uniform: tuple[_Time, _Time]

    def build(self, base_dir: Path | None) -> Distribution:
        return Uniform(*self.uniform)


class ErlangSpec(_Spec):
    """``erlang: {k, mean}``."""

    form = "{k, mean}"
    erlang: ErlangParams

    def build(self, base_dir: Path | None) -> Distribution:
        return Erlang(self.erlang.k, self.erlang.mean)


class GammaSpec(_Spec):
    """``gamma: {mean, cv}``."""

    form = "{mean, cv}"
    gamma: MeanCv

    def build(self, base_dir: Path | None) -> Distribution:
        return Gamma(self.gamma.mean, self.gamma.cv)


class LognormalSpec(_Spec):
    """``lognormal: {mean, cv}`` or ``lognormal: {median, p99}``."""

    form = "{mean, cv} or {median, p99}"
    lognormal: LognormalParams

    def build(self, base_dir: Path | None) -> Distribution:
        params = self.lognormal
        given = params.model_dump(exclude_none=True)
        if set(given) == {"mean", "cv"}:
            return Lognormal.from_mean_cv(given["mean"], given["cv"])
        if set(given) == {"median", "p99"}:
            return Lognormal.from_percentiles(given["median"], given["p99"])
        raise ValueError(f"lognormal takes {{mean, cv}} or {{median, p99}} (got {given})")


class WeibullSpec(_Spec):
    """``weibull: {mean, cv}``."""

    form = "{mean, cv}"
    weibull: MeanCv

    def build(self, base_dir: Path | None) -> Distribution:
        return Weibull(self.weibull.mean, self.weibull.cv)


class ParetoSpec(_Spec):
    """``pareto: {mean, alpha}``."""

    form = "{mean, alpha}"
    pareto: ParetoParams

    def build(self, base_dir: Path | None) -> Distribution:
        return Pareto(self.pareto.mean, self.pareto.alpha)


class HyperexponentialSpec(_Spec):
    """``hyperexponential: {mean, cv}`` with cv >= 1."""

    form = "{mean, cv} with cv >= 1"
    hyperexponential: MeanCv

    def build(self, base_dir: Path | None) -> Distribution:
        return Hyperexponential(self.hyperexponential.mean, self.hyperexponential.cv)


def _empirical_form(value: Any) -> str:
    return "file" if isinstance(value, dict | EmpiricalFile) else "samples"


class EmpiricalSpec(_Spec):
    """``empirical: [samples...]`` or ``empirical: {file: path.csv}``."""

    takes, form = (list, tuple, dict), "[samples...] or {file: path.csv}"
    empirical: Annotated[
        Annotated[list[_Time], Tag("samples")] | Annotated[EmpiricalFile, Tag("file")],
        Discriminator(_empirical_form),
    ]

    def build(self, base_dir: Path | None) -> Distribution:
        if isinstance(self.empirical, EmpiricalFile):
            path = Path(self.empirical.file)
            if base_dir is not None and not path.is_absolute():
                path = base_dir / path
            return Empirical.from_csv(path)
        return Empirical(tuple(self.empirical))


_SPECS: dict[str, type[_Spec]] = {
    "constant": ConstantSpec,
    "exponential": ExponentialSpec,
    "uniform": UniformSpec,
    "erlang": ErlangSpec,
    "gamma": GammaSpec,
    "lognormal": LognormalSpec,
    "weibull": WeibullSpec,
    "pareto": ParetoSpec,
    "hyperexponential": HyperexponentialSpec,
    "empirical": EmpiricalSpec,
}
FAMILIES: tuple[str, ...] = tuple(_SPECS)
"""Every family name, in the order of docs/scenario-language.md."""


_AnySpec = Annotated[
    Annotated[ConstantSpec, Tag("constant")]
    | Annotated[ExponentialSpec, Tag("exponential")]
    | Annotated[UniformSpec, Tag("uniform")]
    | Annotated[ErlangSpec, Tag("erlang")]
    | Annotated[GammaSpec, Tag("gamma")]
    | Annotated[LognormalSpec, Tag("lognormal")]
    | Annotated[WeibullSpec, Tag("weibull")]
    | Annotated[ParetoSpec, Tag("pareto")]
    | Annotated[HyperexponentialSpec, Tag("hyperexponential")]
    | Annotated[EmpiricalSpec, Tag("empirical")],
    Discriminator(single_key),
]


def _validate(
    value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
) -> Distribution:
    """Check the one-key shape and the family, parse its spec model, build the object."""
    if isinstance(value, Distribution):
        return value
    if not isinstance(value, dict) or len(value) != 1:
        raise PydanticCustomError(
            "distribution_shape",
            "a distribution is a mapping with exactly one key, the family (got {given})",
            {"given": short_repr(value)},
        )
    ((family, params),) = value.items()
    spec_type = _SPECS.get(family) if isinstance(family, str) else None
    if spec_type is None:
        raise PydanticCustomError(
            "distribution_family",
            "unknown distribution family {family} (expected one of: {families})",
            {"family": repr(family), "families": ", ".join(FAMILIES)},
        )
    if not isinstance(params, spec_type.takes):
        raise PydanticCustomError(
            "distribution_form",
            "{family} takes {form} (got {given})",
            {"family": family, "form": spec_type.form, "given": short_repr(params)},
        )
    spec: _Spec = handler(value)
    base_dir = (info.context or {}).get("base_dir")
    try:
        return spec.build(Path(base_dir) if base_dir is not None else None)
    except (OverflowError, ZeroDivisionError) as error:  # e.g. cv: 1e308 (cv² overflows)
        raise PydanticCustomError(
            "distribution_range",
            "{family} parameters out of the range a computer can work with (got {given}: {why})",
            {"family": family, "given": short_repr(params), "why": str(error)},
        ) from None


class _DistributionSchema:
    """Pydantic hooks of `DistributionField`: validate via the family models, dump `to_spec`."""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.with_info_wrap_validator_function(
            _validate,
            handler.generate_schema(_AnySpec),
            serialization=core_schema.plain_serializer_function_ser_schema(
                _to_spec, return_schema=core_schema.dict_schema()
            ),
        )

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        description = "a distribution: a mapping with one key, the family (times in seconds)"
        return {**json_schema, "description": description}


def _to_spec(dist: Distribution) -> dict[str, Any]:
    return dist.to_spec()


DistributionField = Annotated[Distribution, _DistributionSchema()]
"""Field type of a distribution in the scenario models (validates, dumps and documents)."""


@functools.cache
def _adapter() -> TypeAdapter[Distribution]:
    return TypeAdapter(DistributionField, config=ConfigDict(title="distribution"))


def parse_distribution(value: Any, base_dir: Path | str | None = None) -> Distribution:
    """A distribution from its scenario form; `base_dir` resolves relative CSV file names.

    Raises `pydantic.ValidationError` (a `ValueError`) naming the family, rule and value.
    """
    context = {"base_dir": Path(base_dir)} if base_dir is not None else None
    return _adapter().validate_python(value, context=context)
