"""The `archsim` command: a thin layer that builds, calls, formats and returns an exit code.

This is the only code that touches argv, stdout and exit codes. Exit codes (docs/cli.md):
0 ok, 2 bad input (the message names the file, the YAML path and what is wrong), 1 internal
error. A bad scenario never produces a traceback.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from models.errors import ScenarioError

if TYPE_CHECKING:
    from rich.console import Console

    from models.schema import Scenario

# Each command imports what it needs inside its body (start-up time, see
# tests/unit/test_startup.py): `archsim --help` loads not even the scenario language, and
# `archsim validate` no engine, experiments, queueing theory, tables, plots or numpy.

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT = 0, 1, 2

app = typer.Typer(
    name="archsim",
    help="Simulate and predict event-driven microservice architectures.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

ScenarioPath = Annotated[Path, typer.Argument(help="scenario file (YAML or JSON)")]


def _stdout() -> Console:
    from rich.console import Console

    console = Console(soft_wrap=False)
    if not console.is_terminal:  # a file or a pipe: wide enough that no column is cut
        console.width = 200
    return console


JobsOption = Annotated[
    int | None,
    typer.Option(min=1, help="local worker processes (default: the number of cores)"),
]
SchedulerOption = Annotated[
    str | None,
    typer.Option(help="run on a Dask cluster instead: tcp://HOST:PORT"),
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")]
ReplicationsOption = Annotated[
    int | None, typer.Option("--replications", "-r", min=1, help="independent runs")
]
SeedOption = Annotated[int | None, typer.Option(min=0, help="base random seed")]
JsonOption = Annotated[bool, typer.Option("--json", help="print the results as JSON")]


@contextlib.contextmanager
def progress_bar(
    total: int, description: str, quiet: bool
) -> Iterator[Callable[[int], None] | None]:
    """A rich progress bar on a terminal's stderr (nothing when quiet or not a terminal)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True)
    if quiet or not console.is_terminal or total <= 1:
        yield None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(description, total=total)
        yield lambda done: progress.advance(task, done)


@app.command()
def run(
    scenario_path: ScenarioPath,
    replications: ReplicationsOption = None,
    seed: SeedOption = None,
    variant: Annotated[str | None, typer.Option(help="variant of the scenario to run")] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="folder for results.json, timeseries.csv, figures and the scenario"),
    ] = None,
    as_json: JsonOption = False,
    jobs: JobsOption = None,
    scheduler: SchedulerOption = None,
    quiet: QuietOption = False,
) -> None:
    """Simulate a scenario and report throughput, latency percentiles and backlog."""
    from models.analysis import analyze
    from models.loading import load_scenario
    from sim.experiments.executors import default_jobs, open_executor
    from sim.experiments.simulation import simulate
    from sim.presentation.files import write_files_atomically
    from sim.presentation.plots import png_bytes, run_figures
    from sim.presentation.tables import render_results
    from sim.presentation.theory_tables import comparisons, gap_warnings, theory_table

    scenario = load_scenario(scenario_path, variant=variant)
    count = replications or scenario.simulation.replications
    with (
        open_executor(min(jobs or default_jobs(), count), scheduler) as executor,
        progress_bar(count, f"simulating {scenario.name}", quiet or as_json) as advance,
    ):
        results = simulate(scenario, replications, seed, executor=executor, progress=advance)
    document = results.to_dict()
    if out is not None:
        files: dict[str, str | bytes] = {
            "results.json": json.dumps(document, indent=2),
            "timeseries.csv": results.timeseries().to_csv(index=False),
            "scenario.yaml": resolved_scenario_yaml(scenario),
        }
        files.update(
            {name: png_bytes(figure) for name, figure in run_figures(results, scenario).items()}
        )
        write_files_atomically(out, files)
    if as_json:
        typer.echo(json.dumps(document, indent=2))
    else:
        console = _stdout()
        render_results(results, console)
        rows = comparisons(results, analyze(scenario))
        if rows:
            console.print(theory_table(rows))
        for warning in gap_warnings(rows):
            console.print(f"[bold yellow]warning: {warning}[/]")
        if out is not None:
            typer.echo(f"results written to {out}")


@app.command()
def compare(
    scenario_paths: Annotated[
        list[Path], typer.Argument(help="scenario files: their variants and/or each other")
    ],
    replications: ReplicationsOption = None,
    seed: SeedOption = None,
    out: Annotated[Path | None, typer.Option(help="folder for comparison.json")] = None,
    as_json: JsonOption = False,
    jobs: JobsOption = None,
    scheduler: SchedulerOption = None,
    quiet: QuietOption = False,
) -> None:
    """Compare candidate topologies with common random numbers and paired differences."""
    from models.loading import load_scenario
    from sim.experiments.comparison import candidates_of
    from sim.experiments.comparison import compare as run_comparison
    from sim.experiments.executors import open_executor
    from sim.presentation.files import write_files_atomically
    from sim.presentation.plots import comparison_bars, png_bytes
    from sim.presentation.tables import render_comparison

    scenarios = [load_scenario(path) for path in scenario_paths]
    named = candidates_of(scenarios)
    if len(named) < 2:
        raise typer.BadParameter(
            "nothing to compare: give a file with variants or several files",
            param_hint="SCENARIO_PATHS",
        )
    count = replications or scenarios[0].simulation.replications
    with (
        open_executor(jobs, scheduler) as executor,
        progress_bar(count * len(named), "comparing", quiet or as_json) as advance,
    ):
        comparison = run_comparison(named, replications, seed, executor=executor, progress=advance)
    document = comparison.to_dict()
    if out is not None:
        files: dict[str, str | bytes] = {"comparison.json": json.dumps(document, indent=2)}
        for metric in ("p99", "mean"):
            figure = comparison_bars(comparison.candidates, metric=metric)
            files[f"comparison_{metric}.png"] = png_bytes(figure)
        write_files_atomically(out, files)
    if as_json:
        typer.echo(json.dumps(document, indent=2))
    else:
        render_comparison(comparison, _stdout())


@app.command()
def sweep(
    scenario_path: ScenarioPath,
    vary: Annotated[
        str, typer.Option(help="PATH=START..STOP:STEPS or PATH=V1,V2,... (a dotted path)")
    ],
    replications: ReplicationsOption = None,
    seed: SeedOption = None,
    variant: Annotated[str | None, typer.Option(help="variant of the scenario to sweep")] = None,
    out: Annotated[Path | None, typer.Option(help="folder for sweep.json and sweep.csv")] = None,
    as_json: JsonOption = False,
    jobs: JobsOption = None,
    scheduler: SchedulerOption = None,
    quiet: QuietOption = False,
) -> None:
    """Latency-vs-load curves: simulate the scenario at a range of values of one parameter."""
    from models.loading import load_scenario
    from sim.experiments.executors import open_executor
    from sim.experiments.sweep import parse_values
    from sim.experiments.sweep import sweep as run_sweep
    from sim.presentation.files import write_files_atomically
    from sim.presentation.plots import latency_curve, png_bytes
    from sim.presentation.tables import render_sweep

    parameter, separator, values_text = vary.partition("=")
    if not separator or not parameter:
        raise typer.BadParameter("expected PATH=START..STOP:STEPS", param_hint="--vary")
    try:
        values = parse_values(values_text)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--vary") from None
    scenario = load_scenario(scenario_path, variant=variant)
    count = replications or scenario.simulation.replications
    with (
        open_executor(jobs, scheduler) as executor,
        progress_bar(count * len(values), f"sweeping {parameter}", quiet or as_json) as advance,
    ):
        results = run_sweep(
            scenario, parameter.strip(), values, replications, seed, executor, advance
        )
    document = results.to_dict()
    if out is not None:
        files: dict[str, str | bytes] = {
            "sweep.json": json.dumps(document, indent=2),
            "sweep.csv": results.to_dataframe().to_csv(index=False),
        }
        for flow in results.flows():
            figure = latency_curve(results, flow, prediction=results.predictions(flow))
            files[f"latency_{flow}.png"] = png_bytes(figure)
        write_files_atomically(out, files)
    if as_json:
        typer.echo(json.dumps(document, indent=2))
    else:
        render_sweep(results, _stdout())


@app.command(name="analyze")
def analyze_command(
    scenario_path: ScenarioPath,
    variant: Annotated[str | None, typer.Option(help="variant of the scenario")] = None,
    as_json: JsonOption = False,
) -> None:
    """Predict the scenario instantly with queueing theory (means, capacity, bottleneck)."""
    from models.analysis import analyze
    from models.loading import load_scenario
    from sim.presentation.theory_tables import render_prediction

    scenario = load_scenario(scenario_path, variant=variant)
    prediction = analyze(scenario)
    if as_json:
        typer.echo(json.dumps(prediction.to_dict(), indent=2))
    else:
        render_prediction(prediction, _stdout())


@app.command()
def graph(
    scenario_path: ScenarioPath,
    variant: Annotated[str | None, typer.Option(help="variant of the scenario to draw")] = None,
    out: Annotated[Path, typer.Option(help="PNG file to write")] = Path("topology.png"),
) -> None:
    """Draw the topology: clients, services, topics and groups; calls vs publishes."""
    from models.loading import load_scenario
    from sim.presentation.files import write_files_atomically
    from sim.presentation.plots import png_bytes, topology

    scenario = load_scenario(scenario_path, variant=variant)
    write_files_atomically(out.parent, {out.name: png_bytes(topology(scenario))})
    typer.echo(f"topology written to {out}")


@app.command()
def validate(scenario_path: ScenarioPath) -> None:
    """Check a scenario's schema and references (and every variant); exit 0 or 2."""
    from models.loading import load_scenario

    scenario = load_scenario(scenario_path)
    variants = f", {len(scenario.variants)} variant(s)" if scenario.variants else ""
    typer.echo(
        f"{scenario_path}: ok: '{scenario.name}' with {len(scenario.services)} service(s), "
        f"{len(scenario.topics)} topic(s), {len(scenario.workload)} flow(s){variants}"
    )


@app.command()
def schema() -> None:
    """Print the JSON Schema of the scenario language."""
    from models.schema import Scenario

    typer.echo(json.dumps(Scenario.model_json_schema(), indent=2))


def resolved_scenario_yaml(scenario: Scenario) -> str:
    """The scenario as it was run: defaults filled in, units normalised to seconds."""
    import yaml

    document = scenario.model_dump(mode="json", exclude_none=True)
    return yaml.safe_dump(document, sort_keys=False)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    try:
        app(args=argv, prog_name="archsim")  # usage errors: message and exit 2 (click)
    except SystemExit as exit_request:
        code = exit_request.code
        return code if isinstance(code, int) else (EXIT_OK if code is None else EXIT_INTERNAL)
    except ScenarioError as error:
        typer.echo(error.render(), err=True)
        return EXIT_BAD_INPUT
    except Exception as error:  # an internal error: say so plainly, never a traceback
        typer.echo(f"archsim: internal error: {type(error).__name__}: {error}", err=True)
        return EXIT_INTERNAL
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
