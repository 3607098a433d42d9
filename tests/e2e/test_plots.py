"""End-to-end tests of the figures (`sim.presentation.plots`) on short real simulations.

Each figure function must return a matplotlib Figure with labelled axes and something drawn
on them, draw into a given `ax` when asked, and `save_run_figures` must write PNG files.
The simulations are 20 s of simulated time so that the whole module runs in seconds.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import matplotlib
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from models import load_scenario
from models.schema import Scenario
from sim import Results, plots, simulate
from sim.engine import ReplicationRun
from sim.experiments.sweep import sweep
from sim.presentation.plots._common import place_legend

pytestmark = pytest.mark.e2e

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SMALL: dict[str, Any] = {
    "name": "small-pipeline",
    "simulation": {"duration": 20, "warmup": 2, "replications": 2, "seed": 11},
    "services": {
        "front": {
            "workers": 2,
            "operations": {
                "get": [{"work": {"exponential": "20ms"}}, {"call": "db"}, {"publish": "jobs"}]
            },
        },
        "db": {"operations": {"read": [{"work": {"exponential": "5ms"}}]}},
        "worker": {"operations": {"handle": [{"work": {"exponential": "40ms"}}]}},
        "audit": {"operations": {"log": [{"work": {"constant": "1ms"}}]}},
    },
    "topics": {
        "jobs": {"partitions": 2, "subscribers": {"worker": "handle", "audit": "log"}},
    },
    "workload": {"users": {"entry": "front.get", "arrivals": {"poisson": 15}}},
    "variants": {
        "faster-worker": {"services.worker.operations.handle": [{"work": {"exponential": "10ms"}}]}
    },
}


@pytest.fixture(autouse=True)
def agg_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    """No display: the figures never need one (no pyplot), but make sure of it."""
    monkeypatch.setenv("MPLBACKEND", "Agg")
    matplotlib.use("Agg")


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return load_scenario(SMALL)


@pytest.fixture(scope="module")
def results(scenario: Scenario) -> Results:
    return simulate(scenario)


def drawn_artists(ax: Axes) -> int:
    return len(ax.lines) + len(ax.patches) + len(ax.collections) + len(ax.texts)


def assert_readable(figure: Any, *, ylabel: bool = True) -> None:
    """A Figure whose first axes has a title, an x label (and a y label) and artists."""
    assert isinstance(figure, Figure)
    ax = figure.axes[0]
    assert ax.get_title(), "no title"
    assert ax.get_xlabel(), "no x label"
    if ylabel:
        assert ax.get_ylabel(), "no y label"
    assert drawn_artists(ax) > 0, "nothing drawn"


def test_latency_curve_of_a_sweep(scenario: Scenario) -> None:
    swept = sweep(scenario, "workload.users.arrivals.poisson", [5, 15, 25], replications=2)
    points = [(value, point) for value, point in zip(swept.values, swept.points, strict=True)]
    prediction = [(value, 0.03 + 0.001 * value) for value in swept.values]
    figure = plots.latency_curve(points, "users", prediction=prediction, knee=15, saturation=25)
    assert_readable(figure)
    ax = figure.axes[0]
    assert "ms" in ax.get_ylabel()
    labels = ax.get_legend_handles_labels()[1]
    assert {"p50", "p95", "p99", "analytic mean", "knee (15)", "saturation (25)"} <= set(labels)
    # a whole sweep gives its x label and landmarks
    from_document = plots.latency_curve(swept, "users")
    assert from_document.axes[0].get_xlabel() == "arrival rate of users (requests/s)"


def test_latency_cdf_and_ccdf(results: Results) -> None:
    cdf = plots.latency_cdf(Results.from_json(results.to_json()), "users", log_x=True)
    assert_readable(cdf)
    assert cdf.axes[0].get_xlabel() == "latency (ms)"
    ccdf = plots.latency_cdf(
        results, "users", ccdf=True, metric=["response_time", "completion_time"]
    )
    assert_readable(ccdf)
    assert ccdf.axes[0].get_yscale() == "log"


@pytest.mark.parametrize(
    ("kind", "metric"),
    [
        ("service", "queue_length"),
        ("service", "utilization"),
        ("group", "lag"),
        ("partition", "lag"),
    ],
)
def test_backlog_over_time(results: Results, kind: str, metric: str) -> None:
    figure = plots.backlog_over_time(results, kind=kind, metric=metric)
    assert_readable(figure)
    assert figure.axes[0].get_xlabel().startswith("time since start (s)")
    labels = figure.axes[0].get_legend_handles_labels()[1]
    assert "warm-up" in labels


def test_backlog_of_chosen_entities(results: Results) -> None:
    figure = plots.backlog_over_time(results, kind="partition", entities=["jobs/worker"])
    labels = figure.axes[0].get_legend_handles_labels()[1]
    assert sorted(label for label in labels if label != "warm-up") == [
        "jobs/worker/0",
        "jobs/worker/1",
    ]


def test_throughput_over_time_with_p99(results: Results) -> None:
    figure = plots.throughput_over_time(results, p99=True)
    assert_readable(figure)
    left, right = figure.axes
    assert "requests/s" in left.get_ylabel()
    assert "ms" in right.get_ylabel()
    assert_readable(plots.latency_over_time(results))


def band_tops(ax: Axes) -> list[float]:
    """The highest point of each band (filled area) drawn on `ax`."""
    tops = []
    for collection in ax.collections:
        vertices = [path.vertices[:, 1] for path in collection.get_paths() if len(path.vertices)]
        if vertices:
            tops.append(float(max(column.max() for column in vertices)))
    return tops


def test_time_series_draw_95_percent_bands(results: Results) -> None:
    aggregated = results.timeseries(aggregate=True)
    p99 = aggregated[(aggregated["metric"] == "p99") & (aggregated["entity"] == "users")]
    figure = plots.latency_over_time(results)
    ax = figure.axes[0]
    assert ax.get_title().endswith("mean of 2 replications; band: 95% interval")
    (top,) = band_tops(ax)  # one band, for the one flow
    assert top == pytest.approx(float(p99["ci_high"].max()) * 1000.0)
    # the mean curve is the aggregate's mean
    (line,) = [line for line in ax.lines if line.get_label() == "users"]
    assert list(line.get_ydata()) == pytest.approx(list(p99["mean"] * 1000.0), nan_ok=True)
    # the y axis follows the mean curve: a wide band of two replications may run off the top
    assert ax.get_ylim()[1] <= float(p99["mean"].max()) * 1000.0 * 1.6 + 1e-9
    for kind in ("service", "group"):
        backlog = plots.backlog_over_time(results, kind=kind).axes[0]
        assert "band: 95% interval" in backlog.get_title()
        assert band_tops(backlog)
    utilization = plots.backlog_over_time(results, metric="utilization").axes[0]
    assert max(band_tops(utilization)) <= 100.0  # a fraction: its band is cut at 100%


def test_one_replication_draws_no_band(scenario: Scenario) -> None:
    single = simulate(scenario, replications=1)
    ax = plots.latency_over_time(single).axes[0]
    assert ax.get_title() == "p99 response time per flow and interval"
    assert not ax.collections


def with_replicas(results: Results) -> Results:
    """`results` with a `replicas` series per service, as autoscaling records it: front
    scales from 1 to 3 at t = 10 (at t = 12 in replication 1)."""
    runs = []
    for index, (measurements, columns) in enumerate(
        zip(results.replications, results._series, strict=True)
    ):
        times = sorted({float(time) for time in columns["time"]})  # type: ignore[arg-type]
        extra: dict[str, list[object]] = {name: list(values) for name, values in columns.items()}
        for time in times:
            for service in ("front", "db"):
                scaled = service == "front" and time >= 10.0 + 2.0 * index
                for name, value in zip(
                    ("time", "kind", "entity", "metric", "value"),
                    (time, "service", service, "replicas", 3.0 if scaled else 1.0),
                    strict=True,
                ):
                    extra[name].append(value)
        runs.append(ReplicationRun(measurements, extra))
    return Results.of_runs(results.scenario, results.variant, results.settings, runs)


def test_replicas_over_time(scenario: Scenario, results: Results) -> None:
    scaled = with_replicas(results)
    figures = plots.run_figures(scaled, scenario)
    assert list(figures) == [
        "topology.png",
        "backlog.png",
        "lag.png",
        "throughput.png",
        "replicas.png",
    ]
    ax = figures["replicas.png"].axes[0]
    assert_readable(figures["replicas.png"])
    assert ax.get_title() == "Replicas per service\nmean of 2 replications; band: 95% interval"
    assert ax.get_ylabel() == "replicas"
    labels = ax.get_legend_handles_labels()[1]
    assert {"front", "db"} <= set(labels)
    front = next(line for line in ax.lines if line.get_label() == "front")
    assert max(front.get_ydata()) == 3.0
    assert min(front.get_ydata()) == 1.0
    assert band_tops(ax)  # the replications disagree between t = 10 and 12
    assert "replicas.png" not in plots.run_figures(results, scenario)


def test_topology(scenario: Scenario) -> None:
    figure = plots.topology(scenario)
    assert_readable(figure, ylabel=False)
    texts = {text.get_text().split("\n")[0] for text in figure.axes[0].texts}
    assert {"users", "front", "db", "worker", "audit", "jobs"} <= texts


def test_comparison_bars(scenario: Scenario, results: Results) -> None:
    faster = simulate(load_scenario(SMALL, variant="faster-worker"))
    figure = plots.comparison_bars({"base": results, "faster-worker": faster}, "p99")
    assert_readable(figure)
    assert figure.axes[0].get_ylabel() == "p99 response time (ms)"
    assert len(figure.axes[0].patches) == 2
    throughput = plots.comparison_bars({"base": results}, "throughput")
    assert "requests/s" in throughput.axes[0].get_ylabel()


def test_every_function_draws_into_a_given_axes(scenario: Scenario, results: Results) -> None:
    figure = Figure(figsize=(16, 12), layout="constrained")
    axes = figure.subplots(3, 2).flatten()
    saved = Results.from_json(results.to_json())
    drawn = [
        plots.latency_curve([(15.0, saved)], "users", ax=axes[0]),
        plots.latency_cdf(results, "users", ax=axes[1]),
        plots.backlog_over_time(results, ax=axes[2]),
        plots.throughput_over_time(results, ax=axes[3]),
        plots.topology(scenario, ax=axes[4]),
        plots.comparison_bars({"base": saved}, ax=axes[5]),
    ]
    assert all(returned is figure for returned in drawn)
    assert all(drawn_artists(ax) > 0 for ax in axes)


def test_save_run_figures_writes_pngs(scenario: Scenario, results: Results, tmp_path: Path) -> None:
    paths = plots.save_run_figures(results, scenario, tmp_path / "figures")
    assert [path.name for path in paths] == [
        "topology.png",
        "backlog.png",
        "lag.png",
        "throughput.png",
    ]
    for path in paths:
        assert path.parent == tmp_path / "figures"
        assert path.read_bytes()[:8] == PNG_SIGNATURE
        assert path.stat().st_size > 10_000


def test_importing_sim_and_plots_does_not_import_matplotlib() -> None:
    code = "import sys, sim, sim.presentation.plots; assert 'matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_legend_only_where_something_drawn_has_a_label() -> None:
    """`place_legend` on axes with no labelled series (a run stopped before any point)
    draws no legend, and matplotlib warns of nothing; with one, it draws it."""
    ax = Figure().subplots()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        place_legend(ax, 0)
    assert ax.get_legend() is None
    ax.plot([0, 1], [0, 1], label="p99")
    place_legend(ax, 1)
    assert ax.get_legend() is not None
