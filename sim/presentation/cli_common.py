"""What every `archsim` command shares: the typer application, exit codes, the errors a
command raises for a user's mistake, the common options and the helpers that check `--out`
and `--scheduler`, show progress and stop a partial run (the commands are in `cli.py`)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from sim.engine.budget import RunBudget
    from sim.experiments.results import Results

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


class BadInputError(Exception):
    """A user's mistake found by a command (a bad `--out`, a bad `--scheduler`): one line
    ``archsim: MESSAGE`` on stderr and exit code 2 (a path in it is never wrapped)."""


class InterruptedByUserError(Exception):
    """Ctrl-C during a command (typer would turn a KeyboardInterrupt into a silent exit)."""


def _flags_without_type(params: list[Any]) -> list[Any]:
    """Help shows a flag as ``--json``, not ``--json <bool>``: typer's rich help gives every
    option a type, flags (and ``--help``) included, unless it has a metavar."""
    for param in params:
        if getattr(param, "is_flag", False) and getattr(param, "metavar", "") is None:
            param.metavar = ""
    return params


_Function = TypeVar("_Function", bound=Callable[..., Any])


class ArchsimCommand(typer.core.TyperCommand):
    """A command whose help shows flags without a type."""

    def get_params(self, ctx: Any) -> Any:
        return _flags_without_type(super().get_params(ctx))


class ArchsimGroup(typer.core.TyperGroup):
    """A group of commands whose help shows flags without a type and that reports Ctrl-C."""

    def get_params(self, ctx: Any) -> Any:
        return _flags_without_type(super().get_params(ctx))

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise InterruptedByUserError from None


class ArchsimTyper(typer.Typer):
    """A typer application whose commands are `ArchsimCommand`s."""

    def command(self, *args: Any, **kwargs: Any) -> Callable[[_Function], _Function]:
        kwargs.setdefault("cls", ArchsimCommand)
        decorator: Callable[[_Function], _Function] = super().command(*args, **kwargs)
        return decorator


app = ArchsimTyper(
    cls=ArchsimGroup,
    name="archsim",
    help="Simulate and predict event-driven microservice architectures.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

ScenarioPath = Annotated[Path, typer.Argument(help="scenario file (YAML or JSON)")]


def stdout_console() -> Console:
    from rich.console import Console

    console = Console(soft_wrap=False)
    if not console.is_terminal and not os.environ.get("COLUMNS", "").strip().isdigit():
        console.width = 200  # a file or a pipe: wide enough that no column is cut
    return console


def check_out(out: Path | None) -> None:
    """Exit 2 (`BadInputError`) before any work when `--out` cannot receive the files."""
    from sim.presentation.files import OutputFolderError, check_output_folder

    if out is None:
        return
    try:
        check_output_folder(out)
    except OutputFolderError as error:
        raise BadInputError(f"--out {error}") from None


def check_trace_out(trace_out: Path | None, trace_sample: float | None) -> None:
    """Exit 2 (`BadInputError`, or typer's usage error) before any work when `--trace-out`
    cannot receive the trace file or `--trace-sample` is out of range or alone."""
    if trace_sample is not None:
        if trace_out is None:
            raise typer.BadParameter("needs --trace-out", param_hint="'--trace-sample'")
        if not 0.0 < trace_sample <= 1.0:  # (`nan` fails too)
            raise typer.BadParameter(
                f"must be > 0 and <= 1 (got {trace_sample:g})", param_hint="'--trace-sample'"
            )
    if trace_out is not None:
        check_output_file(trace_out, "--trace-out", "a file name")


def check_output_file(path: Path, option: str, what: str) -> None:
    """Exit 2 (`BadInputError`) before any work when `option`'s file `path` cannot be
    written: a folder, or a place where nothing can be written."""
    from sim.presentation.files import OutputFolderError, check_output_folder

    if path.is_dir():
        raise BadInputError(f"{option} {path}: is a folder, not {what}")
    try:
        check_output_folder(path.parent)
    except OutputFolderError as error:
        raise BadInputError(f"{option} {path}: cannot write the file: {error}") from None


@contextlib.contextmanager
def executor_for(jobs: int | None, scheduler: str | None) -> Iterator[Any]:
    """`open_executor`, with a malformed or unreachable `--scheduler` reported as a user's
    mistake (`BadInputError`, exit 2) before any work."""
    from sim.experiments.executors import SchedulerError, open_executor

    with contextlib.ExitStack() as stack:
        try:
            executor = stack.enter_context(open_executor(jobs, scheduler))
        except SchedulerError as error:
            raise BadInputError(f"--scheduler: {error}") from None
        yield executor


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
MaxEventsOption = Annotated[
    int | None,
    typer.Option(
        min=0,
        help="simulation events a replication may take (default 200,000,000; 0: no limit)",
    ),
]

TraceOutOption = Annotated[
    Path | None,
    typer.Option(
        help="also write the requests of replication 0 as OpenTelemetry spans (OTLP JSON) "
        "to this file"
    ),
]
TraceSampleOption = Annotated[
    float | None,
    typer.Option(help="fraction of the requests traced, > 0 and <= 1 (default 1)"),
]


def run_budget(max_events: int | None) -> RunBudget:
    """The limits of a run with `--max-events` (docs/cli.md)."""
    from sim.engine.budget import RunBudget

    return RunBudget() if max_events is None else RunBudget(max_events=max_events or None)


def exit_if_partial(source: object, results: list[Results]) -> None:
    """Exit 2 when a replication stopped at a run-time limit (its results, already printed
    or written, are marked partial)."""
    stopped = [item.settings.stopped for item in results if item.settings.partial]
    if stopped:
        typer.echo(
            f"{source}: the run stopped before its end, so its results are partial "
            f"(settings.partial): {'; '.join(str(reason) for reason in stopped)}",
            err=True,
        )
        raise typer.Exit(EXIT_BAD_INPUT)


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
