"""The usual figures of a run, written as PNG files (what `archsim run --out` saves)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

from models.faults import WindowFault
from sim.presentation.plots.architecture import topology
from sim.presentation.plots.series import (
    backlog_over_time,
    latency_over_time,
    shade_faults,
    throughput_over_time,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from models.schema import Scenario
    from sim.experiments.results import Results

DPI = 120


def png_bytes(figure: Figure) -> bytes:
    """The figure as a PNG file's content (for writing atomically with other results)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def save_run_figures(results: Results, scenario: Scenario, folder: str | Path) -> list[Path]:
    """Write the figures of `run_figures` into `folder` (created if needed); their paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, figure in run_figures(results, scenario).items():
        path = folder / name
        figure.savefig(path, dpi=DPI)
        paths.append(path)
    return paths


def run_figures(results: Results, scenario: Scenario) -> dict[str, Figure]:
    """The usual figures of a run, by file name.

    - ``topology.png``: the architecture;
    - ``backlog.png``: waiting requests and utilization per service over time;
    - ``lag.png`` (when the scenario has consumer groups): lag per group, and per partition
      when a log topic has several partitions (a hot partition shows there);
    - ``throughput.png``: throughput and p99 response time per flow over time (two panels);
    - ``replicas.png`` (when the time series has service replicas, with autoscaling):
      replicas per service over time.

    With two or more replications the time series are the mean across replications with a
    95% band. Fault windows (outages, slowdowns, error bursts) are shaded in them.
    """
    from matplotlib.figure import Figure

    frame = results.timeseries()
    warmup = results.settings.warmup
    figures: dict[str, Figure] = {"topology.png": topology(scenario)}

    backlog = Figure(figsize=(9.0, 7.5), layout="constrained")
    upper, lower = backlog.subplots(2, 1, sharex=True)
    backlog_over_time(frame, kind="service", metric="queue_length", warmup=warmup, ax=upper)
    backlog_over_time(frame, kind="service", metric="utilization", warmup=warmup, ax=lower)
    upper.set_xlabel("")
    figures["backlog.png"] = backlog

    if any(topic.subscribers for topic in scenario.topics.values()):
        partitioned = bool((frame["kind"] == "partition").any())
        lag = Figure(figsize=(9.0, 7.5 if partitioned else 4.5), layout="constrained")
        panels = lag.subplots(2 if partitioned else 1, 1, sharex=True, squeeze=False)[:, 0]
        backlog_over_time(frame, kind="group", warmup=warmup, ax=panels[0])
        if partitioned:
            backlog_over_time(frame, kind="partition", warmup=warmup, ax=panels[1])
            panels[0].set_xlabel("")
        figures["lag.png"] = lag

    throughput = Figure(figsize=(9.0, 7.5), layout="constrained")
    upper, lower = throughput.subplots(2, 1, sharex=True)
    throughput_over_time(frame, warmup=warmup, ax=upper)
    latency_over_time(frame, warmup=warmup, ax=lower)
    upper.set_xlabel("")
    figures["throughput.png"] = throughput

    if ((frame["kind"] == "service") & (frame["metric"] == "replicas")).any():
        replicas = Figure(figsize=(9.0, 4.5), layout="constrained")
        backlog_over_time(
            frame, kind="service", metric="replicas", warmup=warmup, ax=replicas.add_subplot()
        )
        figures["replicas.png"] = replicas

    windows = fault_windows(scenario)
    if windows:
        for name in ("backlog.png", "lag.png", "throughput.png", "replicas.png"):
            if name in figures:
                for ax in figures[name].axes:
                    shade_faults(ax, windows, frame)
    return figures


def fault_windows(scenario: Scenario) -> list[tuple[str, float, float]]:
    """(label, start, end) of every fault with a fixed window (random crashes have none)."""
    windows = []
    for fault in scenario.faults:
        if isinstance(fault, WindowFault):
            target = getattr(fault, "service", None) or getattr(fault, "topic", "")
            windows.append((f"{target} {fault.kind}", fault.at, fault.end))
    return windows
