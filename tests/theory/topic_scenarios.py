"""The scenarios of the statistical tests of topics (tests/theory/test_topics_*.py):
`single_topic`, Poisson publications to one topic consumed by one group, and `run`, a
scenario document simulated with the test's seed.

Tolerance (`agrees`, see `tests/theory/conftest.py`, the same everywhere unless a docstring
says otherwise): |mean - theory| <= t SE (+ 0.5% of theory for a percentile, read from a
log histogram), SE = s / sqrt(n) over the n = 20 independent replications, t = t_{1 -
alpha/2, 19} = 4.90 for a false-alarm rate alpha = 1e-4 per check; each check also asserts
that its expected half-width is below 6% of theory (power). Checks of another kind (variance,
Gamma, binomial counts, contrasts) derive their bands from the same alpha (their
docstrings). Runs start empty; the 100 s warm-up is over 15 relaxation times
1 / (c mu (1 - sqrt(rho))^2) of the slowest station (Morse's approximation). Seeds: the
`seed` fixture (a function of the test's file and name, plus ARCHSIM_TEST_SEED_SHIFT), so
every run is reproducible.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from models import load_scenario
from sim import simulate
from sim.experiments.results import Results

REPLICATIONS = 20


def run(document: dict[str, Any], seed: int, replications: int = REPLICATIONS) -> Results:
    """Load and simulate a scenario document with the test's `seed` (fixture)."""
    return simulate(load_scenario(document), replications=replications, seed=seed)


def exponential_handler(mean_service_time: float) -> list[dict[str, Any]]:
    """An operation that works for an exponential time (rate 1 / mean)."""
    return [{"work": {"exponential": mean_service_time}}]


def single_topic(
    *,
    arrival_rate: float,
    mean_service_time: float,
    duration: float,
    warmup: float,
    topic: Mapping[str, Any] | None = None,
    replicas: int = 1,
    concurrency: int = 1,
    publish: Any = "events",
) -> dict[str, Any]:
    """Poisson publications (inline client steps) to topic `events`, consumed by `consumer`."""
    topic_spec: dict[str, Any] = dict(topic or {})
    topic_spec["subscribers"] = {"consumer": {"operation": "handle", "concurrency": concurrency}}
    return {
        "name": "single-topic",
        "simulation": {"duration": duration, "warmup": warmup},
        "services": {
            "consumer": {
                "replicas": replicas,
                "operations": {"handle": exponential_handler(mean_service_time)},
            }
        },
        "topics": {"events": topic_spec},
        "workload": {
            "load": {"steps": [{"publish": publish}], "arrivals": {"poisson": arrival_rate}}
        },
    }
