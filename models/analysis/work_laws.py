"""The law of an operation's own work, where the station formulas can use more of it than
its mean and variance: one exponential step (`single_exponential`), a `hyperexponential`
step (M/H2/c is then exact), or a step whose law has E[S³] in closed form (M/H2/c fits
three moments)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from models.analysis.graph import OpKey, steps_of
from models.analysis.moments import Moments
from models.distributions import Distribution, Exponential, Hyperexponential
from models.schema import (
    BranchStep,
    DelayStep,
    FailStep,
    PublishStep,
    Scenario,
    Step,
    WorkStep,
)


def _own_work(scenario: Scenario, key: OpKey, delay_too: bool = False) -> Distribution | None:
    """The law of the operation's work when the operation is one `work` step (or, with
    `delay_too`, one `delay` step: it holds the worker as well)."""
    steps = steps_of(scenario, key)
    if len(steps) == 1 and isinstance(steps[0], WorkStep):
        return steps[0].work
    if delay_too and len(steps) == 1 and isinstance(steps[0], DelayStep):
        return steps[0].delay
    return None


def own_work_law(
    scenario: Scenario, key: OpKey, holding: Moments, delay_too: bool = False
) -> Distribution | None:
    """The law of the operation's holding time when the operation is one `work` step (or,
    with `delay_too`, one `delay` step) and its holding time is that step's (no slowdown)."""
    return _held(_own_work(scenario, key, delay_too), holding)


def _held(work: Distribution | None, holding: Moments) -> Distribution | None:
    """`work` if the holding time is that work (its mean: no slowdown), else None."""
    if work is None or not math.isclose(work.mean, holding.mean, rel_tol=1e-9):
        return None
    return work


def work_facts(
    scenario: Scenario, key: OpKey, holding: Moments
) -> tuple[tuple[float, float] | None, float | None, Distribution | None]:
    """What a station's formulas can use of the law of one operation's own work, when the
    operation is one `work` step: (mean, cv) of a hyperexponential law (M/H2/c is then
    exact); and, where its holding time is that work (no slowdown), E[S³] when the law has
    it in closed form (the three-moment H2 fit of M/H2/c) and the law itself
    (`own_work_law`). Found together: a station's classes ask for them every round."""
    work = _own_work(scenario, key)
    law = (work.mean_time, work.cv) if isinstance(work, Hyperexponential) else None
    held = _held(work, holding)
    return law, None if held is None else held.third_moment, held


def known_laws(
    parts: Iterable[tuple[float, Distribution | None]],
) -> tuple[tuple[float, Distribution], ...] | None:
    """The laws of a mixture's parts by weight (acquisitions per second), if every part
    that has weight has a known law; None otherwise (`ClassLoad.laws`)."""
    # (one loop: a station's classes ask every round)
    weighted: list[tuple[float, Distribution]] = []
    for weight, law in parts:
        if weight > 0:
            if law is None:
                return None
            weighted.append((weight, law))
    return tuple(weighted) if weighted else None


def mixed_third_moment(parts: Iterable[tuple[float, float | None]]) -> float | None:
    """E[S³] of a mixture by weight (acquisitions per second) of parts whose E[S³] is
    known; None if one that has weight is not (or nothing has weight)."""
    # (one loop for what the comprehensions did each, the same sums in the same order:
    # some 4,400 mixtures per analysis of the 100 generated services)
    weights: list[float] = []
    products: list[float] = []
    unknown = False
    for weight, third in parts:
        if weight > 0:
            weights.append(weight)
            products.append(weight * (third or 0.0))
            if third is None:
                unknown = True
    total = math.fsum(weights)
    if total <= 0 or unknown:
        return None
    return math.fsum(products) / total


def slowed(law: tuple[float, float] | None, up: float) -> tuple[float, float] | None:
    """A hyperexponential (mean, cv) with every server slowed by 1 / `up`."""
    return None if law is None else (law[0] / up, law[1])


def single_exponential(steps: Sequence[Step]) -> float | None:
    """The mean if the steps are one exponential `work`/`delay` plus publishes, else None.

    Publishes may sit inside `branch` options (a random choice of what to publish).

    >>> single_exponential([WorkStep(work=Exponential(0.01))])
    0.01
    """
    means: list[float] = []
    for step in steps:
        if isinstance(step, FailStep) and not means:
            return None  # (an execution may end before its time: not one exponential)
        if _timeless(step):
            continue
        if isinstance(step, WorkStep | DelayStep):
            dist = step.work if isinstance(step, WorkStep) else step.delay
            if isinstance(dist, Exponential):
                means.append(dist.mean)
                continue
        return None
    return means[0] if len(means) == 1 else None


def _timeless(step: Step) -> bool:
    """True for steps that take no time: publishes, `fail` steps, and branches of timeless
    options."""
    if isinstance(step, PublishStep | FailStep):
        return True
    if isinstance(step, BranchStep):
        return all(_timeless(inner) for option in step.branch for inner in option.steps)
    return False
