"""The analysis against the pinned reference: predicted means, their relative errors.

`analyze_models` runs `analyze` on every file (with the `models` of another checkout in a
subprocess: `analyze_elsewhere`); `compare_model` pairs every predicted mean with its
simulated one, `(analyze - sim) / sim`, and skips those the simulation cannot say much
about (the rules: bench/analysis_regression.py's docstring, `NEGLIGIBLE_WAIT`,
`IMPRECISE`).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .dataset import SCRIPT, compared_paths, load_of, lookup, response_path, use_root

NEGLIGIBLE_WAIT = 0.01
"""A waiting time below this fraction of the entity's response time is not compared."""
IMPRECISE = {0.60: 0.05, 0.95: 0.10}
"""Per load: a simulated mean whose 95% half-width is above this fraction of it is not
compared (its error would be mostly noise)."""
NULL_ERROR = 1.0
"""The |relative error| counted for a mean that analyze leaves null (predicted unstable)."""


def analyze_models(files: list[Path], root: str | None = None) -> dict[str, dict[str, Any]]:
    """Analyze every file with the `models` of `root` (None: whatever `models` imports);
    {model: {"values": {path: predicted}, "cpu_seconds", "methods"}}."""
    use_root(root)
    from models import analyze, load_scenario

    warm = {
        "name": "warm-up",
        "simulation": {"duration": 10},
        "services": {"s": {"operations": {"o": [{"work": {"exponential": 0.01}}]}}},
        "workload": {"f": {"entry": "s", "arrivals": {"poisson": 10}}},
    }
    analyze(load_scenario(warm))  # imports and caches, not charged to the first model
    predictions: dict[str, dict[str, Any]] = {}
    for path in files:
        scenario = load_scenario(path)
        started = time.process_time()
        prediction = analyze(scenario)
        cpu = time.process_time() - started
        document = prediction.to_dict()
        values = {".".join(key): lookup(document, key) for key in compared_paths(document)}
        methods = {
            f"services.{name}": value.get("method") for name, value in document["services"].items()
        }
        for topic, value in document["topics"].items():
            for group, group_value in value["groups"].items():
                methods[f"topics.{topic}.groups.{group}"] = group_value.get("method")
        for name, value in document["flows"].items():
            methods[f"flows.{name}"] = value.get("method")
        predictions[path.stem] = {"values": values, "cpu_seconds": cpu, "methods": methods}
    return predictions


def analyze_elsewhere(files: list[Path], root: str) -> dict[str, dict[str, Any]]:
    """`analyze_models` run in a subprocess whose `models` comes from the checkout `root`."""
    command = [
        sys.executable,
        str(SCRIPT),
        "--analyze-worker",
        "--analysis-root",
        str(Path(root).resolve()),
        "--only",
        *[path.stem for path in files],
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd="/")
    if done.returncode != 0:
        raise SystemExit(f"the analysis of {root} failed:\n{done.stderr}")
    predictions: dict[str, dict[str, Any]] = json.loads(done.stdout)
    return predictions


@dataclass
class Compared:
    """One predicted mean against its simulated reference."""

    path: str
    predicted: float | None
    simulated: float
    half_width: float
    error: float | None
    """(predicted - simulated) / simulated; None when skipped."""
    skipped: str | None = None

    @property
    def magnitude(self) -> float:
        if self.error is None:
            return NULL_ERROR
        return abs(self.error)


@dataclass
class ModelErrors:
    """The comparison of one model."""

    model: str
    load: float
    values: list[Compared]
    cpu_seconds: float | None
    bottleneck: tuple[str, float] | None
    """The busiest station in the simulation and its utilization."""

    @property
    def compared(self) -> list[Compared]:
        return [value for value in self.values if value.skipped is None]

    @property
    def mean_error(self) -> float:
        compared = self.compared
        return sum(value.magnitude for value in compared) / len(compared) if compared else 0.0

    @property
    def worst(self) -> Compared | None:
        compared = self.compared
        return max(compared, key=lambda value: value.magnitude) if compared else None

    @property
    def mean_half_width(self) -> float:
        compared = self.compared
        if not compared:
            return 0.0
        return sum(value.half_width / abs(value.simulated) for value in compared) / len(compared)

    @property
    def nulls(self) -> list[Compared]:
        return [value for value in self.compared if value.predicted is None]


def compare_model(model: str, reference: dict[str, Any], predicted: dict[str, Any]) -> ModelErrors:
    """Every compared mean of one model (skip rules: bench/analysis_regression.py's
    docstring)."""
    simulated = reference["values"]
    values: list[Compared] = []
    for path, sim in simulated.items():
        if path.endswith(".utilization") or path not in predicted["values"]:
            continue
        mean, half = sim["mean"], sim["half_width"]
        prediction = predicted["values"][path]
        skipped = None
        owner = response_path(path)
        if mean == 0 or (
            owner and owner in simulated and mean < NEGLIGIBLE_WAIT * simulated[owner]["mean"]
        ):
            skipped = "negligible"
        elif half > IMPRECISE[load_of(model)] * abs(mean):
            skipped = "imprecise"
        error = None if prediction is None or mean == 0 else (prediction - mean) / mean
        values.append(Compared(path, prediction, mean, half, error, skipped))
    utilizations = [
        (path.rsplit(".utilization", 1)[0], sim["mean"])
        for path, sim in simulated.items()
        if path.endswith(".utilization") and sim["mean"] is not None
    ]
    bottleneck = max(utilizations, key=lambda item: item[1]) if utilizations else None
    return ModelErrors(model, load_of(model), values, predicted.get("cpu_seconds"), bottleneck)


def compare_all(
    reference: dict[str, Any], predictions: dict[str, dict[str, Any]]
) -> list[ModelErrors]:
    """The comparison of every predicted model that has reference values."""
    return [
        compare_model(model, reference["models"][model], predictions[model])
        for model in predictions
        if model in reference["models"]
    ]
