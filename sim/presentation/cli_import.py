"""`archsim import traces` and `archsim import asyncapi`: scenarios from what a running system
shows (OTLP, Jaeger, Zipkin traces) and what its teams declare (AsyncAPI documents);
docs/traces.md.

Without ``-o`` the scenario goes to stdout and the report (a table, or ``--json``) and the
warnings to stderr, so that ``archsim import traces t.json > s.yaml`` works; with ``-o`` the
scenario (and any arrival CSV files it replays, next to it) are written all or nothing and the
report goes to stdout. Before anything is written the scenario is loaded as `archsim
validate` would: a scenario that does not load is an internal error (exit 1), never a file.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sim.presentation.cli_common import (
    EXIT_BAD_INPUT,
    EXIT_INTERNAL,
    ArchsimGroup,
    ArchsimTyper,
    BadInputError,
    check_output_file,
)

if TYPE_CHECKING:
    from models.traces.building import TraceImport
    from models.traces.imported import ImportedScenario

import_app = ArchsimTyper(
    cls=ArchsimGroup,
    name="import",
    help="Build a scenario from traces (OTLP, Jaeger, Zipkin JSON) or AsyncAPI documents.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

OutOption = Annotated[
    Path | None,
    typer.Option(
        "--out", "-o", help="scenario file to write (default: print the scenario on stdout)"
    ),
]
EmpiricalOption = Annotated[
    bool,
    typer.Option("--empirical", help="write measured times as empirical samples, not fits"),
]
ReportJsonOption = Annotated[
    bool, typer.Option("--json", help="print the import report as JSON instead of tables")
]


@import_app.command()
def traces(
    trace_paths: Annotated[
        list[Path],
        typer.Argument(
            metavar="FILE...",
            help="trace files: OTLP, Jaeger or Zipkin JSON (told apart by content)",
        ),
    ],
    out: OutOption = None,
    empirical: EmpiricalOption = False,
    trace_arrivals: Annotated[
        bool,
        typer.Option(
            "--trace-arrivals",
            help="replay the measured arrival times (CSV files next to -o) instead of Poisson",
        ),
    ] = False,
    asyncapi: Annotated[
        list[Path] | None,
        typer.Option(
            "--asyncapi", help="AsyncAPI documents adding what the traces lack (repeatable)"
        ),
    ] = None,
    sample_rate: Annotated[
        float | None,
        typer.Option(
            "--sample-rate",
            help="fraction of the requests the traces hold (head sampling), > 0 and <= 1; "
            "rates are divided by it (default 1)",
        ),
    ] = None,
    as_json: ReportJsonOption = False,
) -> None:
    """Build a scenario from distributed traces; each number is commented with its source."""
    if sample_rate is not None and not 0.0 < sample_rate <= 1.0:  # (`nan` fails too)
        raise typer.BadParameter(
            f"must be > 0 and <= 1 (got {sample_rate:g})", param_hint="'--sample-rate'"
        )
    _check_out(out)
    if trace_arrivals and out is None:
        raise BadInputError(
            "--trace-arrivals writes the arrival times to CSV files next to the scenario: "
            "give the scenario file with -o"
        )
    rate = 1.0 if sample_rate is None else sample_rate
    result = _import_traces(trace_paths, out, empirical, trace_arrivals, rate)
    imported = result.scenario
    if asyncapi:
        from models.traces.asyncapi import read_asyncapis
        from models.traces.merge import merge_imports

        imported = merge_imports(imported, read_asyncapis(asyncapi))
    _emit(imported, result, out, as_json)


@import_app.command()
def asyncapi(
    asyncapi_paths: Annotated[
        list[Path],
        typer.Argument(
            metavar="FILE...", help="AsyncAPI documents (YAML or JSON), one per service"
        ),
    ],
    trace_paths: Annotated[
        list[Path] | None,
        typer.Option("--traces", help="trace files whose numbers replace the placeholders"),
    ] = None,
    out: OutOption = None,
    empirical: EmpiricalOption = False,
    as_json: ReportJsonOption = False,
) -> None:
    """Build a scenario from AsyncAPI documents (placeholder numbers, or those of --traces)."""
    from models.traces.asyncapi import read_asyncapis

    _check_out(out)
    declared = read_asyncapis(asyncapi_paths)
    if not trace_paths:
        _emit(declared, None, out, as_json)
        return
    from models.traces.merge import merge_imports

    result = _import_traces(trace_paths, out, empirical, trace_arrivals=False)
    _emit(merge_imports(result.scenario, declared), result, out, as_json)


def _check_out(out: Path | None) -> None:
    """Exit 2 before any work when `-o` cannot receive the scenario file."""
    if out is not None:
        check_output_file(out, "-o", "a scenario file name")


def _import_traces(
    paths: list[Path],
    out: Path | None,
    empirical: bool,
    trace_arrivals: bool,
    sample_rate: float = 1.0,
) -> TraceImport:
    """`import_traces`, with a bad trace file reported (exit 2) instead of raised."""
    from models.traces.building import import_traces
    from models.traces.errors import TraceInputError

    name = out.stem.split(".")[0] if out is not None else "imported-from-traces"
    try:
        return import_traces(
            paths,
            empirical=empirical,
            trace_arrivals=trace_arrivals,
            name=name,
            sample_rate=sample_rate,
        )
    except TraceInputError as error:
        typer.echo(error.render(), err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None


def _emit(
    imported: ImportedScenario, result: TraceImport | None, out: Path | None, as_json: bool
) -> None:
    """Check that the scenario loads, then write or print it, the report and warnings."""
    from models.traces.yaml_out import scenario_yaml
    from sim.presentation.cli_common import stdout_console

    text = scenario_yaml(imported)
    files = {} if result is None else dict(result.files)
    _check_loads(text, files)
    for warning in imported.warnings:
        typer.echo(f"warning: {warning}", err=True)
    if out is not None:
        from sim.presentation.files import write_files_atomically

        write_files_atomically(out.parent, {out.name: text, **files})
    else:
        typer.echo(text, nl=False)
    report_to_stderr = out is None
    if as_json:
        report = result.to_dict() if result is not None else {"warnings": imported.warnings}
        report["warnings"] = list(imported.warnings)
        typer.echo(json.dumps(report, indent=2), err=report_to_stderr)
    elif result is not None:
        from rich.console import Console

        from sim.presentation.import_tables import render_import

        render_import(result, Console(stderr=True) if report_to_stderr else stdout_console())
    if out is not None and not as_json:
        extra = f" (and {', '.join(sorted(files))})" if files else ""
        typer.echo(f"scenario written to {out}{extra}")


def _check_loads(text: str, files: dict[str, str]) -> None:
    """Load the scenario as `archsim validate` would (in a temporary folder, with its
    arrival files); a scenario that does not load is archsim's fault: exit 1."""
    from models.errors import ScenarioError
    from models.loading import load_scenario

    with tempfile.TemporaryDirectory(prefix="archsim-import-") as folder:
        for name, content in {"scenario.yaml": text, **files}.items():
            (Path(folder) / name).write_text(content, encoding="utf-8")
        try:
            load_scenario(Path(folder) / "scenario.yaml")
        except ScenarioError as error:
            typer.echo(
                "archsim: internal error: the imported scenario does not load (please report "
                f"it with the trace files):\n{error.render()}",
                err=True,
            )
            raise typer.Exit(EXIT_INTERNAL) from None
