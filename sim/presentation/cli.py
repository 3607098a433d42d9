"""The `archsim` command: a thin layer that builds, calls, formats and returns an exit code.

This is the only code that touches argv, stdout and exit codes. Exit codes (docs/cli.md):
0 ok, 2 bad input (the message names the file, the YAML path and what is wrong; also a bad
`--out` or `--scheduler`, checked before any work, and any file-system error), 1 internal
error, 130 interrupted (Ctrl-C). A user's mistake never produces a traceback.
"""

from __future__ import annotations

import contextlib
import gc
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

try:  # Ctrl-C while the command starts up: one line and exit code 130, no traceback
    import typer

    from models.errors import ScenarioError, UnsimulatableError
    from sim.presentation.cli_common import (
        EXIT_BAD_INPUT,
        EXIT_INTERNAL,
        EXIT_INTERRUPTED,
        EXIT_OK,
        BadInputError,
        InterruptedByUserError,
        JobsOption,
        JsonOption,
        MaxEventsOption,
        QuietOption,
        ReplicationsOption,
        ScenarioPath,
        SchedulerOption,
        SeedOption,
        TraceOutOption,
        TraceSampleOption,
        app,
        check_out,
        check_trace_out,
        executor_for,
        exit_if_partial,
        progress_bar,
        run_budget,
        stdout_console,
    )
except KeyboardInterrupt:
    sys.stderr.write("archsim: interrupted\n")
    raise SystemExit(130) from None

if TYPE_CHECKING:
    from models.schema import Scenario
    from sim.engine.spans import RecordedTrace

# Each command imports what it needs inside its body (start-up time, see
# tests/unit/test_startup.py): `archsim --help` loads not even the scenario language, and
# `archsim validate` no engine, experiments, queueing theory, tables, plots or numpy.


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
    max_events: MaxEventsOption = None,
    trace_out: TraceOutOption = None,
    trace_sample: TraceSampleOption = None,
) -> None:
    """Simulate a scenario and report throughput, latency percentiles and backlog."""
    check_out(out)  # before any work (and the imports of the engine, plots and theory)
    check_trace_out(trace_out, trace_sample)
    from models.analysis import analyze
    from models.loading import load_scenario
    from sim.experiments.executors import default_jobs
    from sim.experiments.simulation import simulate
    from sim.presentation.files import write_files_atomically
    from sim.presentation.plots import png_bytes, run_figures
    from sim.presentation.tables import render_results
    from sim.presentation.theory_tables import comparisons, gap_warnings, theory_table

    scenario = load_scenario(scenario_path, variant=variant)
    count = replications or scenario.simulation.replications
    tasks = count + (trace_out is not None)  # (the traced run of replication 0: one more)
    with (
        executor_for(min(jobs or default_jobs(), tasks), scheduler) as executor,
        progress_bar(tasks, f"simulating {scenario.name}", quiet or as_json) as advance,
    ):
        if trace_out is None:
            budget = run_budget(max_events)
            results = simulate(scenario, replications, seed, executor, advance, budget)
        else:
            from sim.experiments.tracing import simulate_traced

            results, recorded = simulate_traced(
                scenario,
                replications,
                seed,
                executor,
                advance,
                run_budget(max_events),
                sample=1.0 if trace_sample is None else trace_sample,
            )
    document = results.to_dict()
    if out is not None:
        files: dict[str, str | bytes] = {
            "results.json": json.dumps(document, indent=2),
            "timeseries.csv": results.timeseries().to_csv(index=False),
            "scenario.yaml": resolved_scenario_yaml(scenario, replications, seed),
        }
        files.update(
            {name: png_bytes(figure) for name, figure in run_figures(results, scenario).items()}
        )
        write_files_atomically(out, files)
    if trace_out is not None:
        write_trace(trace_out, recorded)
    if as_json:
        typer.echo(json.dumps(document, indent=2))
    else:
        console = stdout_console()
        render_results(results, console)
        rows = comparisons(results, analyze(scenario, capacity=False))
        if rows:
            console.print(theory_table(rows))
        for warning in gap_warnings(rows):
            console.print(f"[bold yellow]warning: {warning}[/]")
        if out is not None:
            typer.echo(f"results written to {out}")
        if trace_out is not None:
            typer.echo(
                f"trace written to {trace_out}: replication 0, {recorded.traces:,} requests, "
                f"{len(recorded.spans):,} spans"
            )
    exit_if_partial(scenario_path, [results])


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
    max_events: MaxEventsOption = None,
) -> None:
    """Compare candidate topologies with common random numbers and paired differences."""
    check_out(out)
    from models.loading import load_scenario
    from sim.experiments.comparison import candidates_of
    from sim.experiments.comparison import compare as run_comparison
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
        executor_for(jobs, scheduler) as executor,
        progress_bar(count * len(named), "comparing", quiet or as_json) as advance,
    ):
        comparison = run_comparison(
            named, replications, seed, executor, advance, budget=run_budget(max_events)
        )
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
        render_comparison(comparison, stdout_console())
    exit_if_partial(scenario_paths[0], list(comparison.candidates.values()))


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
    max_events: MaxEventsOption = None,
) -> None:
    """Latency-vs-load curves: simulate the scenario at a range of values of one parameter."""
    from models.loading import load_scenario
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
    check_out(out)
    scenario = load_scenario(scenario_path, variant=variant)
    count = replications or scenario.simulation.replications
    with (
        executor_for(jobs, scheduler) as executor,
        progress_bar(count * len(values), f"sweeping {parameter}", quiet or as_json) as advance,
    ):
        results = run_sweep(
            scenario,
            parameter.strip(),
            values,
            replications,
            seed,
            executor,
            advance,
            run_budget(max_events),
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
        render_sweep(results, stdout_console())
    exit_if_partial(scenario_path, results.points)


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
        render_prediction(prediction, stdout_console())


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

    if out.is_dir():
        raise BadInputError(f"--out {out}: is a folder, not a PNG file name")
    check_out(out.parent)
    scenario = load_scenario(scenario_path, variant=variant)
    write_files_atomically(out.parent, {out.name: png_bytes(topology(scenario))})
    typer.echo(f"topology written to {out}")


@app.command()
def validate(scenario_path: ScenarioPath) -> None:
    """Check a scenario's schema and references (and every variant); exit 0 or 2."""
    from models.budget import refuse_runaway_file
    from models.loading import load_scenario

    scenario = load_scenario(scenario_path)
    refuse_runaway_file(scenario, lambda name: load_scenario(scenario_path, variant=name))
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


# `archsim import traces` and `archsim import asyncapi` (sim/presentation/cli_import.py)
from sim.presentation.cli_import import import_app  # noqa: E402

app.add_typer(import_app, name="import")


def write_trace(path: Path, recorded: RecordedTrace) -> None:
    """Write the OTLP JSON trace file (docs/traces.md) atomically; warn on stderr when the
    span limit cut it short."""
    from sim.experiments.otlp_export import otlp_json
    from sim.experiments.tracing import limit_note
    from sim.presentation.files import write_files_atomically

    write_files_atomically(path.parent, {path.name: otlp_json(recorded)})
    note = limit_note(recorded)
    if note is not None:
        typer.echo(f"archsim: warning: --trace-out {path}: {note}", err=True)


def resolved_scenario_yaml(
    scenario: Scenario, replications: int | None = None, seed: int | None = None
) -> str:
    """The scenario as it was run (`sim.presentation.resolved`): running it again
    reproduces the run, its replications and seed (the command line's where given)."""
    from sim.presentation.resolved import resolved_scenario_yaml as resolved

    return resolved(scenario, replications, seed)


YOUNG_COLLECTION_THRESHOLD = 10_000
"""Allocations between two collections of the youngest generation (CPython's default is
700). A command allocates millions of short-lived objects that reference counting frees
and few cycles, so the default spends its time scanning live objects: `archsim analyze`
of 100 generated services took x 0.96 of the CPU with this (whole command, `farm-bench -n
7`, paired), for 1 MiB more at the peak."""


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code. Sets the process's
    garbage-collection threshold (`YOUNG_COLLECTION_THRESHOLD`) and its BLAS threads
    (`models.blas_threads.limit_blas_threads`): the console script owns its process (a
    library caller's is left alone). With `argv` None (the process's own command line:
    the console script, `python -m sim.presentation.cli`), the objects left are frozen
    once the command is done (`_exit_without_teardown`)."""
    from models.blas_threads import limit_blas_threads

    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, *gc.get_threshold()[1:])
    limit_blas_threads()
    with _interrupts_recorded() as interrupted:
        code = _run_app(argv, interrupted)
    if code == EXIT_INTERRUPTED:
        typer.echo("archsim: interrupted", err=True)
        _forget_unhandled_interrupt()
    if argv is None:
        _exit_without_teardown()
    return code


def _exit_without_teardown() -> None:
    """Leave the objects the command leaves to the operating system: the interpreter's
    last collection at exit would tear down every module's objects one by one (the cycles
    of functions and their modules' globals), which took 50 ms of CPU after `archsim
    analyze scenarios/mm1.yaml` and 85 ms after 100 generated services (`gc.freeze`: the
    collector ignores them from now on; whole commands, paired). The command is over: its
    files are written and closed, and the standard streams are flushed and `atexit`
    handlers run as before. Only for the process's own command line: a caller of `main`
    in its own process (the tests) keeps its collector as it was."""
    gc.freeze()


def _run_app(argv: list[str] | None, interrupted: Callable[[], bool]) -> int:
    """The exit code of `archsim ARGV`, with its message on stderr (but "interrupted")."""
    try:
        app(args=argv, prog_name="archsim")  # usage errors: message and exit 2 (click)
    except SystemExit as exit_request:
        code = exit_request.code
        if code not in (None, EXIT_OK) and interrupted():  # typer's answer to a Ctrl-C
            return EXIT_INTERRUPTED
        return code if isinstance(code, int) else (EXIT_OK if code is None else EXIT_INTERNAL)
    except (KeyboardInterrupt, InterruptedByUserError):
        return EXIT_INTERRUPTED
    except ScenarioError as error:
        typer.echo(error.render(), err=True)
        return EXIT_BAD_INPUT
    except (BadInputError, UnsimulatableError) as error:
        typer.echo(f"archsim: {error}", err=True)
        return EXIT_BAD_INPUT
    except Exception as error:
        if interrupted():  # e.g. "ImportError: initialization failed" of a C extension
            return EXIT_INTERRUPTED
        if isinstance(error, OSError):  # the file system said no (e.g. a full disk)
            where = f"{error.filename}: " if error.filename else ""
            typer.echo(f"archsim: {where}{error.strerror or error}", err=True)
            return EXIT_BAD_INPUT
        # an internal error: say so plainly, never a traceback
        typer.echo(f"archsim: internal error: {type(error).__name__}: {error}", err=True)
        return EXIT_INTERNAL
    return EXIT_OK


@contextlib.contextmanager
def _interrupts_recorded() -> Iterator[Callable[[], bool]]:
    """Within the block, Ctrl-C raises KeyboardInterrupt as usual and is also recorded, so
    that an error it caused on its way (a C extension's import turns it into an ImportError)
    is reported as an interruption. SIGINT left ignored by the parent stays ignored."""
    import signal
    import threading

    seen: list[int] = []
    in_hook: list[bool] = []

    def record(number: int, frame: object) -> None:
        seen.append(number)
        if in_hook:  # raised here, it would be printed and swallowed: raise it a bit later
            send_again()
            return
        raise KeyboardInterrupt

    def send_again() -> None:
        """SIGINT to the main thread again in a moment, from another thread: by then the
        main thread is back in code that can let a KeyboardInterrupt out (if not, this
        repeats), and a blocking wait there is interrupted as by the first one."""
        main_thread = threading.main_thread().ident
        assert main_thread is not None
        resend = threading.Timer(0.01, signal.pthread_kill, (main_thread, signal.SIGINT))
        resend.daemon = True
        resend.start()

    def raise_again(unraisable: Any) -> None:
        """A KeyboardInterrupt raised where Python cannot let it out (a destructor, a callback
        of the garbage collector) is raised again once that context is left, where it stops
        the command (an exception raised in this hook would itself be swallowed)."""
        if unraisable.exc_type is None or not issubclass(unraisable.exc_type, KeyboardInterrupt):
            previous_hook(unraisable)
            return
        in_hook.append(True)
        try:
            send_again()
        finally:
            in_hook.pop()

    own = (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    )
    previous_hook = sys.unraisablehook
    if own:
        signal.signal(signal.SIGINT, record)
        sys.unraisablehook = raise_again
    try:
        yield lambda: bool(seen)
    finally:
        if own:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            sys.unraisablehook = previous_hook


def _forget_unhandled_interrupt() -> None:
    """Let the process exit with code 130 after a Ctrl-C it handled: CPython (3.11) remembers
    a KeyboardInterrupt that crossed `PyRun_String` (which some C extensions call while
    they are imported) even when it was caught, and then ends `python -m` by killing
    itself with SIGINT (exit status -2 instead of 130)."""
    import ctypes

    with contextlib.suppress(Exception):
        ctypes.c_int.in_dll(ctypes.pythonapi, "_Py_UnhandledKeyboardInterrupt").value = 0


if __name__ == "__main__":
    sys.exit(main())
