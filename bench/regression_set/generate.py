"""The scenario files of the set at 60% and 95% of capacity (`--generate`).

Open shapes: every open flow scaled by a common factor to the load times the capacity the
analysis predicts (`capacity_factor`, bisection on `saturates`), times the shape's
`capacity_scale`; closed shapes: the clients set by simulation, or the number whose
predicted peak utilization is nearest the load. Each file gets a header comment
(`header`) saying what it is and how its load was set; a file that exists keeps its
simulation section (chosen by `--pilot`).
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

from .blocks import Shape, model_name, scenario_document
from .dataset import DATA, LOADS, read_scenario, write_scenario
from .probe import solve_spec
from .shapes import SHAPES


def scaled(spec: dict[str, Any], factor: float) -> dict[str, Any]:
    """`spec` with every open flow's Poisson rate multiplied by `factor`."""
    result = copy.deepcopy(spec)
    for flow in result["workload"].values():
        if "arrivals" in flow:
            flow["arrivals"]["poisson"] = flow["arrivals"]["poisson"] * factor
    return result


def saturates(spec: dict[str, Any], factor: float) -> bool:
    """Whether the analysis finds a station saturated with the open rates times `factor`.

    Uses the analysis' network solver (`models.analysis.network.solve_network`, an internal
    of the analysis: only `--generate` needs it), which is what `analyze` uses for capacity,
    without `analyze`'s per-flow capacity searches."""
    solution = solve_spec(scaled(spec, factor), max_iterations=150, stop_when_saturated=True)
    return bool(solution.saturated()) or not solution.converged


def capacity_factor(spec: dict[str, Any]) -> float:
    """The factor on every open rate at which the first station saturates (analysis)."""
    low, high = 1.0, 1.0
    if saturates(spec, 1.0):
        while saturates(spec, low):
            low /= 2
        high = low * 2
    else:
        while not saturates(spec, high):
            high *= 2
        low = high / 2
    while high - low > 1e-3 * high:
        middle = (low + high) / 2
        if saturates(spec, middle):
            high = middle
        else:
            low = middle
    return low


def peak_utilization(document: dict[str, Any]) -> tuple[float, str]:
    """The largest predicted utilization of a service or a consumer (group) and its name."""
    from models import analyze, load_scenario

    prediction = analyze(load_scenario(document))
    best = (0.0, "")
    for name, predicted in prediction.services.items():
        if predicted.utilization is not None and predicted.utilization > best[0]:
            best = (predicted.utilization, name)
    for topic, predicted_topic in prediction.topics.items():
        for group, predicted_group in predicted_topic.groups.items():
            value = predicted_group.max_partition_utilization or predicted_group.utilization
            if value is not None and value > best[0]:
                best = (value, f"{topic}/{group}")
    return best


def round_rate(rate: float) -> float:
    """A rate to 4 significant digits."""
    return float(f"{rate:.4g}")


def loaded(shape: Shape, load: float) -> tuple[dict[str, Any], str]:
    """The scenario document of `shape` at `load` and a sentence saying how it was set."""
    spec = shape.build()
    if shape.closed and shape.clients:
        flow = next(iter(spec["workload"].values()))
        flow["clients"] = shape.clients[LOADS.index(load)]
        note = f"{flow['clients']} clients, set by simulation: {shape.calibration}"
        return scenario_document(shape, spec, model_name(shape, load)), note
    if shape.closed:
        flow = next(iter(spec["workload"].values()))
        best: tuple[float, int, float, str] | None = None
        for clients in range(1, 400):
            flow["clients"] = clients
            utilization, where = peak_utilization(scenario_document(shape, spec))
            gap = abs(utilization - load)
            if best is None or gap < best[0]:
                best = (gap, clients, utilization, where)
            if utilization > load:
                break
        assert best is not None
        flow["clients"] = best[1]
        note = (
            f"{best[1]} clients: predicted utilization of the busiest station ({best[3]}) "
            f"{best[2]:.3f}, target {load:.2f}"
        )
        return scenario_document(shape, spec, model_name(shape, load)), note
    factor = capacity_factor(spec)
    capacity = factor * sum(flow["arrivals"]["poisson"] for flow in spec["workload"].values())
    document = scenario_document(
        shape, scaled(spec, factor * shape.capacity_scale * load), model_name(shape, load)
    )
    for flow in document["workload"].values():
        flow["arrivals"]["poisson"] = round_rate(flow["arrivals"]["poisson"])
    total = sum(flow["arrivals"]["poisson"] for flow in document["workload"].values())
    if shape.capacity_scale != 1.0:
        note = (
            f"open flows at {load:.0%} of the capacity found by simulation, "
            f"{shape.capacity_scale:g} x the {capacity:.5g}/s that the analysis predicted when "
            f"generated ({shape.calibration}); every flow in proportion: {total:.5g}/s"
        )
    else:
        note = (
            f"open flows at {load:.0%} of the capacity predicted by the analysis when "
            f"generated ({capacity:.5g}/s in all, every flow in proportion): {total:.5g}/s"
        )
    return document, note


def header(shape: Shape, load: float, note: str, document: dict[str, Any]) -> str:
    """The comment on top of a scenario file: what it is, its load, how it was made."""
    size = (
        f"{len(document['services'])} services, {len(document.get('topics', {}))} topics, "
        f"{len(document['workload'])} flows"
    )
    lines = [
        f"Analysis regression set (issue #15): {shape.name} at {load:.0%} load.",
        f"Shape: {shape.description} ({size}).",
        f"Load: {note}.",
        "Generated by `python3 bench/analysis_regression.py --generate` (the simulation",
        "section by `--pilot --write`); the simulated means of this file are pinned in",
        "reference.json: change the file and they must be simulated again (`--simulate`).",
    ]
    if shape.build.__doc__:
        lines.insert(2, "About: " + " ".join(shape.build.__doc__.split()))
    wrapped: list[str] = []
    for line in lines:
        words, current = line.split(), ""
        for word in words:
            if current and len(current) + 1 + len(word) > 92:
                wrapped.append(current)
                current = "  " + word
            else:
                current = f"{current} {word}" if current else word
        wrapped.append(current)
    return "".join(f"# {line}\n" for line in wrapped)


def generate(force: bool, only: list[str], out_dir: Path = DATA) -> None:
    """Write the scenario files of the shapes (those named in `only`, by shape or model, or
    all) into `out_dir`; a file that exists is kept (rewritten with `force`, keeping its
    simulation section)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for shape in SHAPES:
        for load in LOADS:
            name = model_name(shape, load)
            if only and name not in only and shape.name not in only:
                continue
            path = out_dir / f"{name}.yaml"
            if path.exists() and not force:
                print(f"{path.name}: exists (use --force to rewrite it)")
                continue
            started = time.process_time()
            document, note = loaded(shape, load)
            if path.exists():  # keep the simulation section chosen by the pilot
                document["simulation"] = read_scenario(path)[1]["simulation"]
            write_scenario(path, header(shape, load, note, document), document)
            print(f"{path.name}: {note} ({time.process_time() - started:.1f} s)")
