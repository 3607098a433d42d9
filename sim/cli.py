"""The `archsim` command: a thin layer that builds, calls, formats and returns an exit code.

This is the only code that touches argv, stdout and exit codes. Exit codes (DESIGN §4):
0 ok, 2 bad input (the message names the file, the YAML path and what is wrong), 1 internal
error. A bad scenario never produces a traceback.
"""

from __future__ import annotations

import json
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.console import Console

from models import ScenarioError, load_scenario
from models.schema import Scenario
from sim.experiment import simulate
from sim.output import write_files_atomically
from sim.report import render_results

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
    console = Console(soft_wrap=False)
    if not console.is_terminal:  # a file or a pipe: wide enough that no column is cut
        console.width = 200
    return console


@app.command()
def run(
    scenario_path: ScenarioPath,
    replications: Annotated[
        int | None, typer.Option("--replications", "-r", min=1, help="independent runs")
    ] = None,
    seed: Annotated[int | None, typer.Option(min=0, help="base random seed")] = None,
    variant: Annotated[str | None, typer.Option(help="variant of the scenario to run")] = None,
    out: Annotated[
        Path | None, typer.Option(help="folder for results.json and the resolved scenario")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the results as JSON")] = False,
    jobs: Annotated[int, typer.Option(min=1, help="replications run in parallel")] = 1,
) -> None:
    """Simulate a scenario and report throughput, latency percentiles and backlog."""
    scenario = load_scenario(scenario_path, variant=variant)
    if jobs > 1:
        with ProcessPoolExecutor(max_workers=jobs) as executor:
            results = simulate(scenario, replications, seed, executor=executor)
    else:
        results = simulate(scenario, replications, seed)
    document = results.to_dict()
    if out is not None:
        write_files_atomically(
            out,
            {
                "results.json": json.dumps(document, indent=2),
                "timeseries.csv": results.timeseries().to_csv(index=False),
                "scenario.yaml": resolved_scenario_yaml(scenario),
            },
        )
    if as_json:
        typer.echo(json.dumps(document, indent=2))
    else:
        render_results(document, _stdout())
        if out is not None:
            typer.echo(f"results written to {out}")


@app.command()
def validate(scenario_path: ScenarioPath) -> None:
    """Check a scenario's schema and references (and every variant); exit 0 or 2."""
    scenario = load_scenario(scenario_path)
    variants = f", {len(scenario.variants)} variant(s)" if scenario.variants else ""
    typer.echo(
        f"{scenario_path}: ok: '{scenario.name}' with {len(scenario.services)} service(s), "
        f"{len(scenario.topics)} topic(s), {len(scenario.workload)} flow(s){variants}"
    )


@app.command()
def schema() -> None:
    """Print the JSON Schema of the scenario language."""
    typer.echo(json.dumps(Scenario.model_json_schema(), indent=2))


def resolved_scenario_yaml(scenario: Scenario) -> str:
    """The scenario as it was run: defaults filled in, units normalised to seconds."""
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
