"""The reference simulations of the set (`--simulate`), also the pilot's short runs.

Each scenario file is simulated in a worker process (`simulate_model`) with its simulation
section, by the simulator of `--sim-root` (this checkout by default); every compared value
is summarised across the independent replications (mean, 95% Student-t half-width).
`simulate_all` writes reference.json.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from .dataset import (
    REFERENCE,
    ROOT,
    compared_paths,
    git_description,
    lookup,
    model_files,
    read_scenario,
    scenario_digest,
    use_root,
)


def summary(values: list[float | None]) -> dict[str, Any] | None:
    """Mean and 95% Student-t half-width across replications (None without values)."""
    from scipy import stats

    finite = [v for v in values if v is not None and math.isfinite(v)]
    if len(finite) < 2 or len(finite) < len(values):
        return None
    mean = sum(finite) / len(finite)
    variance = sum((v - mean) ** 2 for v in finite) / (len(finite) - 1)
    half = float(stats.t.ppf(0.975, len(finite) - 1)) * math.sqrt(variance / len(finite))
    return {"mean": mean, "half_width": half, "n": len(finite)}


def simulate_model(
    path: str, root: str | None, settings: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Simulate one scenario file (its simulation section, or `settings` over it) and
    summarise every compared value across replications; runs in a worker process."""
    use_root(root)
    import models
    from models import load_scenario
    from sim import simulate
    from sim.engine.budget import RunBudget

    document = read_scenario(Path(path))[1]
    if settings:
        document["simulation"] = {**document["simulation"], **settings}
    scenario = load_scenario(document)
    simulation = document["simulation"]
    started = time.process_time()
    results = simulate(
        scenario,
        replications=simulation["replications"],
        seed=simulation["seed"],
        budget=RunBudget(max_events=None),
    )
    cpu = time.process_time() - started
    if results.settings.partial:
        raise RuntimeError(f"{path}: a replication stopped early: {results.settings.stopped}")
    replications = [run.model_dump(by_alias=True) for run in results.replications]
    values: dict[str, Any] = {}
    for key in compared_paths(replications[0]):
        stat = summary([lookup(run, key) for run in replications])
        if stat is not None:
            values[".".join(key)] = stat
    arrived = sum(run["flows"][flow]["arrived"] for run in replications for flow in run["flows"])
    return {
        "file": Path(path).name,
        "scenario_sha256": scenario_digest(Path(path)),
        "models_file": models.__file__,
        "seed": simulation["seed"],
        "replications": simulation["replications"],
        "duration": simulation["duration"],
        "warmup": simulation.get("warmup", 0),
        "requests": arrived,
        "cpu_seconds": round(cpu, 2),
        "values": values,
    }


def run_simulations(
    files: list[Path],
    root: str | None,
    jobs: int,
    settings: dict[str, dict[str, Any]] | None = None,
) -> dict[str, dict[str, Any]]:
    """Simulate `files` (with `settings[model]` over their simulation sections, if given) on
    `jobs` worker processes, longest first; {model: summary}."""
    from concurrent.futures import ProcessPoolExecutor, as_completed

    settings = settings or {}

    def cost(path: Path) -> float:
        simulation = {**read_scenario(path)[1]["simulation"], **settings.get(path.stem, {})}
        simulated_seconds: float = simulation["duration"] * simulation["replications"]
        return simulated_seconds

    ordered = sorted(files, key=cost, reverse=True)
    done: dict[str, dict[str, Any]] = {}
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = {
            pool.submit(simulate_model, str(path), root, settings.get(path.stem)): path
            for path in ordered
        }
        for future in as_completed(futures):
            path = futures[future]
            done[path.stem] = future.result()
            print(
                f"  {path.stem}: {done[path.stem]['cpu_seconds']:.1f} s CPU, "
                f"{done[path.stem]['requests']:.0f} requests",
                flush=True,
            )
    return {name: done[name] for name in sorted(done)}


def simulate_all(only: list[str], root: str | None, jobs: int) -> None:
    """Simulate the models (those named in `only`, or all) with the simulator of `root` (None:
    this checkout) and write reference.json (with `only`, over the models already in it)."""
    files = model_files(only)
    sim_root = Path(root).resolve() if root else ROOT
    print(f"simulating {len(files)} models with the simulator of {sim_root} on {jobs} processes")
    started = time.time()
    simulated = run_simulations(files, str(sim_root), jobs)
    reference: dict[str, Any] = {}
    if REFERENCE.exists() and only:
        reference = json.loads(REFERENCE.read_text())
    models = reference.get("models", {})
    models.update(simulated)
    total_cpu = sum(model["cpu_seconds"] for model in models.values())
    reference = {
        "description": (
            "Pinned reference values of the analysis regression set (issue #15): the "
            "simulated means of every scenario in this folder, with the 95% Student-t "
            "half-width across independent replications (`half_width`, n replications). "
            "Made by `nice -n 10 python3 bench/analysis_regression.py --simulate` with the "
            "simulator named in `simulator`, each file's simulation section (seed, "
            "replications, duration and warm-up per replication, recorded per model). Do "
            "not edit; re-simulate when a scenario file or the simulator's semantics change."
        ),
        "simulator": git_description(sim_root),
        "created": time.strftime("%Y-%m-%d"),
        "total_cpu_seconds": round(total_cpu, 1),
        "models": models,
    }
    REFERENCE.write_text(json.dumps(reference, indent=1) + "\n")
    print(
        f"wrote {REFERENCE.relative_to(ROOT)}: {len(models)} models, "
        f"{total_cpu:.0f} s of simulation CPU ({time.time() - started:.0f} s wall)"
    )
