"""The presentations of a comparison: the printed table and the JSON of every value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .compare import IMPRECISE, NEGLIGIBLE_WAIT, NULL_ERROR, ModelErrors
from .dataset import LOADS, git_description


def short(path: str) -> str:
    """A compact name for a value's path in the table."""
    parts = path.split(".")
    kind = {"flows": "flow", "services": "svc", "topics": "group"}[parts[0]]
    if kind == "group":
        name, statistic = f"{parts[1]}/{parts[3]}", parts[4]
    else:
        name, statistic = parts[1], parts[2]
    statistic = {"response_time": "R", "waiting_time": "W", "sojourn_time": "R"}[statistic]
    return f"{kind} {name} {statistic}"


def table(results: list[ModelErrors], title: str) -> str:
    """The printed table: one line per model, and the means of the model errors."""
    lines = [
        title,
        f"{'model':<26} {'load':>4} {'sim peak util':>22} {'n':>3} {'skip':>4} "
        f"{'mean|err|':>9} {'max|err|':>9}  {'where (analyze vs sim)':<48} {'sim hw':>6} "
        f"{'cpu s':>6}",
    ]
    for result in results:
        worst = result.worst
        where = ""
        if worst is not None:
            predicted = "null" if worst.predicted is None else f"{worst.predicted * 1e3:.4g}"
            where = f"{short(worst.path)} {predicted} vs {worst.simulated * 1e3:.4g} ms"
        peak = ""
        if result.bottleneck is not None:
            parts = result.bottleneck[0].split(".")
            where_peak = f"{parts[1]}/{parts[3]}" if parts[0] == "topics" else parts[1]
            peak = f"{where_peak[:17]} {result.bottleneck[1]:.2f}"
        cpu = "" if result.cpu_seconds is None else f"{result.cpu_seconds:6.2f}"
        skipped = len(result.values) - len(result.compared)
        lines.append(
            f"{result.model:<26} {result.load:4.2f} {peak:>22} {len(result.compared):3d} "
            f"{skipped:4d} {result.mean_error:9.1%} {(worst.magnitude if worst else 0):9.1%}  "
            f"{where:<48} {result.mean_half_width:6.1%} {cpu:>6}"
        )
    for load in LOADS:
        chosen = [result for result in results if abs(result.load - load) < 1e-9]
        if chosen:
            average = sum(result.mean_error for result in chosen) / len(chosen)
            analyze_cpu = sum(result.cpu_seconds or 0.0 for result in chosen)
            lines.append(
                f"load {load:.2f}: {len(chosen)} models, mean of their mean |error| "
                f"{average:.1%}, worst model {max(chosen, key=lambda r: r.mean_error).model}; "
                f"analyze CPU {analyze_cpu:.1f} s"
            )
    nulls = [(result.model, value.path) for result in results for value in result.nulls]
    if nulls:
        lines.append(
            "predicted null (unstable) where the simulation is stable, counted as "
            f"{NULL_ERROR:.0%}: " + ", ".join(f"{model}: {short(path)}" for model, path in nulls)
        )
    lines.append(
        f"n: means compared; skip: waiting times below {NEGLIGIBLE_WAIT:.0%} of the response "
        f"time, or 95% half-width above {IMPRECISE[0.6]:.0%} (60%) / {IMPRECISE[0.95]:.0%} (95%); "
        f"sim hw: mean relative 95% half-width "
        f"of the simulated means; cpu s: analyze's CPU time"
    )
    return "\n".join(lines)


def errors_document(results: list[ModelErrors], root: str) -> dict[str, Any]:
    """Every compared value of every model, and the checkout `root` of the analysis
    (`--json`)."""
    return {
        "analysis": git_description(Path(root)),
        "models": {
            result.model: {
                "load": result.load,
                "compared": len(result.compared),
                "mean_abs_error": result.mean_error,
                "max_abs_error": result.worst.magnitude if result.worst else None,
                "max_where": result.worst.path if result.worst else None,
                "analyze_cpu_seconds": result.cpu_seconds,
                "values": [
                    {
                        "path": value.path,
                        "predicted": value.predicted,
                        "simulated": value.simulated,
                        "half_width": value.half_width,
                        "relative_error": value.error,
                        "skipped": value.skipped,
                    }
                    for value in result.values
                ],
            }
            for result in results
        },
    }
