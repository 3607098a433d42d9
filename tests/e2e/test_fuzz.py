"""Fuzzing the command line: random scenario files, valid and broken, never crash or hang it.

The files come from a hypothesis strategy (`scenario_files`, tests/e2e/fuzz_files.py, of the
parts in fuzz_parts.py and the values in fuzz_values.py): random keys and values (negative,
zero, huge, of the wrong type, strings with units and garbage), references to unknown
services, operations and topics, random topologies (chains and cycles of calls, cycles of
topics with publish probability up to 1), steps nested up to 60 deep, sizes (replicas,
workers, partitions, counts, clients) up to huge, variants, faults, and now and then a file
that is not a scenario at all (text, other YAML, an alias bomb, deep nesting).

For every file, `archsim validate FILE` and
`archsim run FILE -r 1 --jobs 1 --json --max-events MAX_EVENTS` must:

- end within `TIMEOUT` seconds (and within `MEMORY_CAP` bytes of memory);
- exit with 0 or 2 (never 1, an internal error, nor a signal);
- print neither "Traceback" nor "internal error";
- agree: a file that does not validate does not run either (exit 2), and a file that
  validates runs (exit 0) or exits 2 only for what `validate` cannot know: its event budget
  (refused before it runs, its estimated events above `MAX_EVENTS`, or stopped there, its
  results partial), or work of zero time chained deeper than the engine can follow
  (`UnsimulatableError`);
- and, when the run prints results (it ended, or stopped at its budget), print a JSON
  document without NaN or infinities.

The work of a run is bounded by its event budget, not by the clock: `MAX_EVENTS` events take
a few seconds of CPU at most, so a valid scenario that is merely busy (a rate of a million
arrivals a second, say) ends at its budget, on an idle machine as on a loaded one. `TIMEOUT`
is only a hang detector, ten times and more what a run within its budget takes: a command
that reaches it is a finding (something that runs without processing events, or does not
count them).

Each command runs in-process (`sim.presentation.cli.main`, what the console script calls)
in a forked child: as isolated as a subprocess (a timeout kills it, a memory cap bounds it,
a crash cannot take pytest down) at a fraction of the cost, since the parent has imported
everything already and made the CLI's click command (`_click_command`). The default run is
deterministic (`derandomize=True`) and takes `EXAMPLES` examples without shrinking (a
failure is reported as generated, in bounded time); the `slow` variant takes
`SLOW_EXAMPLES`, nests steps up to 200 deep and shrinks a failure to a minimal file.
"""

from __future__ import annotations

import json
import os
import resource
import select
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml
from hypothesis import HealthCheck, Phase, given, settings

# Everything `run` and `validate` import lazily, imported once here so that a forked child
# starts at once (sim/presentation/cli.py imports inside the commands).
import models.analysis
import models.loading
import sim.experiments.executors
import sim.experiments.simulation
import sim.presentation.files
import sim.presentation.plots
import sim.presentation.tables
import sim.presentation.theory_tables
from models.recursion import RECURSION_LIMIT
from sim.presentation.cli import app, main
from tests.e2e.fuzz_files import (
    SAMPLES_CSV,
    TRACE_CSV,
    alias_bomb,
    scenario_documents,
    scenario_files,
)

PRELOADED = (
    models.analysis,
    models.loading,
    sim.experiments.executors,
    sim.experiments.simulation,
    sim.presentation.files,
    sim.presentation.plots,
    sim.presentation.tables,
    sim.presentation.theory_tables,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork"),
]

TIMEOUT = 60.0
"""Seconds a command may take before it counts as hung (a hang detector: a run within its
event budget takes a few seconds at most)."""
MEMORY_CAP = 3 * 2**30
"""Bytes of address space a command may add to the test process's own."""
MAX_EVENTS = 250_000
"""The event budget of every run (`--max-events`): 1-2 s of CPU (at 2-8 us an event)."""
BUDGET_EXCEEDED = f"the event budget of {MAX_EVENTS:,}"
"""What `run` says of a scenario refused for its estimated events, and of a run stopped at
its budget."""
TOO_DEEP = f"{RECURSION_LIMIT:,} Python frames"
"""What `run` says of a scenario whose zero-time work chains deeper than the engine (or the
analysis) can follow (`UnsimulatableError`, models/recursion.py)."""
EXAMPLES = 50
SLOW_EXAMPLES = 75
"""The files of each run: derandomized, so the same ones every run, two commands each
(about 0.25 s). Half of what they were (100 and 150, 30 s and 44 s of CPU); the two runs
still reach every outcome: of the default run's 50 files, 18 do not validate, 30 run to
their end and 2 stop at their event budget (of 100: 70, 29 and 1); of the slow run's 75,
54 do not validate and 21 run to their end (of 150: 96, 51 and 3 at their budget)."""


# --------------------------------------------------------------------------- running the CLI


@dataclass(frozen=True)
class Outcome:
    """How a command ended: its exit code (None if killed after `TIMEOUT`), its output."""

    argv: tuple[str, ...]
    code: int | None
    stdout: str
    stderr: str
    seconds: float

    @property
    def hung(self) -> bool:
        return self.code is None

    def problems(self) -> list[str]:
        """What is wrong with this outcome (empty: nothing)."""
        found = []
        if self.hung:
            found.append(f"did not end within {TIMEOUT:g} s")
        elif self.code not in (0, 2):
            found.append(f"exit code {self.code}")
        for marker in ("Traceback", "internal error"):
            if marker in self.stdout or marker in self.stderr:
                found.append(f"printed {marker!r}")
        return found

    def describe(self) -> str:
        head = "\n".join((self.stderr or self.stdout).strip().splitlines()[-12:])
        code = "killed (timeout)" if self.hung else f"exit {self.code}"
        return f"$ archsim {' '.join(self.argv)}  -> {code} after {self.seconds:.1f} s\n{head}"


def run_cli(argv: list[str], timeout: float = TIMEOUT) -> Outcome:
    """`archsim ARGV` in a forked child of this process, with a timeout and a memory cap."""
    command = _click_command()  # (built here, in the parent, once)

    def in_child() -> int:
        _use_command(command)
        return main(argv)

    return run_forked(in_child, tuple(argv), timeout)


@cache
def _click_command() -> Any:
    """The click command that typer makes of the CLI's `app`: the same for every argv, and
    about half of what a command on a small file costs (typer reads every command's
    signature and evaluates its annotations), so it is made once in the parent, as the
    modules are imported once (`PRELOADED`); each child runs its own copy of it."""
    return typer.main.get_command(app)


def _use_command(command: Any) -> None:
    """In a forked child only: `app()` (in `main`) runs `command` instead of rebuilding it."""
    build = typer.main.get_command

    def prebuilt(instance: Any) -> Any:
        return command if instance is app else build(instance)

    typer.main.get_command = prebuilt


def run_forked(function: Callable[[], int], argv: tuple[str, ...], timeout: float) -> Outcome:
    """`function()` in a forked child, its return value the exit code, its output captured."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        sys.stdout.flush()
        sys.stderr.flush()
        start = time.monotonic()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            _child(function, out.fileno(), err.fileno())
        code = _wait(pid, timeout)
        seconds = time.monotonic() - start
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
    return Outcome(argv, code, stdout, stderr, seconds)


def _child(function: Callable[[], int], out: int, err: int) -> None:
    code = 111
    try:
        os.dup2(out, 1)
        os.dup2(err, 2)
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
        for number in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM):
            signal.signal(number, signal.SIG_DFL)
        with open("/proc/self/statm") as statm:
            own = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        resource.setrlimit(resource.RLIMIT_AS, (own + MEMORY_CAP, own + MEMORY_CAP))
        code = function()
    except BaseException:  # anything that escapes main is a finding
        traceback.print_exc()
        code = 112
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _wait(pid: int, timeout: float) -> int | None:
    """The child's exit code, or None after killing it at `timeout` seconds."""
    deadline = time.monotonic() + timeout
    try:
        descriptor = os.pidfd_open(pid)
    except (AttributeError, OSError):  # not Linux >= 5.3: poll
        descriptor = None
    pause = 0.001
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status)
            left = deadline - time.monotonic()
            if left <= 0:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return None
            if descriptor is not None:
                select.select([descriptor], [], [], left)  # readable when the child ends
            else:
                time.sleep(min(pause, left))
                pause = min(pause * 1.5, 0.05)
    finally:
        if descriptor is not None:
            os.close(descriptor)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} in the results document")


def run_file(suffix: str, text: str) -> tuple[Outcome, Outcome]:
    """How `archsim validate` and `archsim run` (within `MAX_EVENTS`) of one file end."""
    with tempfile.TemporaryDirectory(prefix="archsim-fuzz-") as folder:
        directory = Path(folder)
        (directory / "samples.csv").write_text(SAMPLES_CSV)
        (directory / "trace.csv").write_text(TRACE_CSV)
        path = directory / f"scenario{suffix}"
        path.write_text(text, encoding="utf-8", errors="surrogateescape")
        validated = run_cli(["validate", str(path)])
        budget = ["--max-events", str(MAX_EVENTS)]
        ran = run_cli(["run", str(path), "-r", "1", "--jobs", "1", "--json", "-q", *budget])
    return validated, ran


def file_problems(validated: Outcome, ran: Outcome) -> list[str]:
    """What is wrong with how the two commands ended (module docstring; empty: nothing)."""
    problems = [f"{o.describe()}\n  -> {p}" for o in (validated, ran) for p in o.problems()]
    if not problems and validated.code == 2 and ran.code != 2:
        problems.append(f"validate said 2 but run said {ran.code}:\n{ran.describe()}")
    at_budget = ran.code == 2 and BUDGET_EXCEEDED in ran.stderr
    unsimulatable = ran.code == 2 and TOO_DEEP in ran.stderr
    if not problems and validated.code == 0 and ran.code == 2 and not (at_budget or unsimulatable):
        problems.append(
            "validate said 0 but run said 2, neither at its event budget nor too deep to "
            f"simulate:\n{ran.describe()}"
        )
    stopped = at_budget and "results are partial" in ran.stderr
    if not problems and (ran.code == 0 or stopped):
        try:
            json.loads(ran.stdout, parse_constant=_no_constants)
        except ValueError as error:
            problems.append(f"run --json printed no valid JSON document ({error})")
    return problems


def check_file(suffix: str, text: str) -> list[str]:
    """Validate and run one scenario file; the problems found (empty: all good)."""
    return file_problems(*run_file(suffix, text))


# --------------------------------------------------------------------------- the tests


def _report(suffix: str, text: str, problems: list[str]) -> str:
    return f"scenario{suffix}:\n{text}\n" + "\n".join(problems)


FAST = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=list(HealthCheck),
    print_blob=False,
)


@FAST
@given(scenario_files())
def test_random_scenarios_never_crash_or_hang_the_cli(file: tuple[str, str]) -> None:
    suffix, text = file
    problems = check_file(suffix, text)
    assert not problems, _report(suffix, text, problems)


@pytest.mark.slow
@settings(FAST, max_examples=SLOW_EXAMPLES, phases=tuple(Phase))
@given(scenario_files(max_nesting=200))
def test_many_random_scenarios_never_crash_or_hang_the_cli(file: tuple[str, str]) -> None:
    suffix, text = file
    problems = check_file(suffix, text)
    assert not problems, _report(suffix, text, problems)


# Minimal files of the failures the fuzzer found: a regression test each, xfail while it is
# not fixed. All are valid scenarios or a YAML file of a few lines; each must give exit 0 or
# 2 without an internal error, in bounded time.
RETRIES_AT_ONCE = """
name: retries-at-once      # a callee that fails at once, retried at once 100 times
simulation: {duration: 1}
services:
  a: {operations: {get: [{call: {service: b, retries: 100}}]}}
  b: {operations: {get: [{fail: 1}]}}
workload:
  users: {entry: a, arrivals: {poisson: 10}}
"""
DROPS_RETRIED_AT_ONCE = """
name: drops-retried        # a busy loss station drops at once; retried at once 200 times
simulation: {duration: 5}
services:
  a: {workers: unlimited, operations: {get: [{call: {service: b, retries: 200}}]}}
  b: {queue_capacity: 0, operations: {get: [{work: {constant: 1}}]}}
workload:
  users: {entry: a, arrivals: {poisson: 10}}
"""
ZERO_TIME_TOPIC_LOOP = """
name: zero-time-loop       # each message republished at once with probability 0.99
simulation: {duration: 1}
services:
  worker: {operations: {handle: [{publish: {topic: events, probability: 0.99}}]}}
topics:
  events: {subscribers: {worker: handle}}
workload:
  users: {entry: worker, arrivals: {poisson: 10}}
"""
# Valid but busy: each ends at its event budget (exit 2), in seconds on any machine.
A_MILLION_A_SECOND = """
name: a-million-a-second   # 5.5 million requests: refused for its estimated events
simulation: {duration: 5, warmup: 0.5}
services:
  api: {operations: {get: [{work: {exponential: 0.0001}}]}}
workload:
  batch: {steps: [{fail: 0.1}], arrivals: {constant: 1000000/s}}
"""
RETRIED_PAST_THE_BUDGET = """
name: retried-with-backoff # 2,000 requests, each retried 999 times 1 ms apart: stopped
simulation: {duration: 5}
services:
  a:
    workers: unlimited
    operations:
      get: [{call: {service: b, retries: 999, backoff: {initial: 1ms, multiplier: 1, max: 1ms}}}]
  b: {operations: {get: [{fail: 1}]}}
workload:
  users: {entry: a, arrivals: {poisson: 400}}
"""


def _fallbacks(depth: int) -> str:
    """A call whose fallback is a call whose fallback is ... `depth` deep, all failing."""
    body: list[Any] = [{"fail": 1}]
    for _ in range(depth):
        body = [{"call": {"service": "b", "fallback": body}}]
    document = {
        "name": "nested-fallbacks",
        "simulation": {"duration": 1},
        "services": {
            "a": {"operations": {"get": body}},
            "b": {"operations": {"get": [{"fail": 1}]}},
        },
        "workload": {"users": {"entry": "a", "arrivals": {"poisson": 10}}},
    }
    return yaml.safe_dump(document)


def _call_chain(length: int) -> str:
    """`length` services, each calling the next as its first step."""
    services = {
        f"s{index}": {
            "operations": {
                "get": [{"call": f"s{index + 1}"}] * (index + 1 < length)
                + [{"work": {"exponential": 0.001}}]
            }
        }
        for index in range(length)
    }
    document = {
        "name": "call-chain",
        "simulation": {"duration": 1},
        "services": services,
        "workload": {"users": {"entry": "s0", "arrivals": {"poisson": 5}}},
    }
    return yaml.safe_dump(document)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(RETRIES_AT_ONCE, id="retries-at-once"),
        pytest.param(DROPS_RETRIED_AT_ONCE, id="drops-retried-at-once"),
        pytest.param(ZERO_TIME_TOPIC_LOOP, id="zero-time-topic-loop"),
        pytest.param(_fallbacks(40), id="40-nested-fallbacks"),
        pytest.param(_call_chain(200), id="chain-of-200-calls"),
        pytest.param(alias_bomb(9), id="alias-bomb"),  # 10**9 values: refused at once
    ],
)
def test_what_the_fuzzer_found(text: str) -> None:
    problems = check_file(".yaml", text)
    assert not problems, _report(".yaml", text, problems)


@pytest.mark.parametrize(
    ("text", "partial"),
    [
        pytest.param(A_MILLION_A_SECOND, False, id="refused-before-it-runs"),
        pytest.param(RETRIED_PAST_THE_BUDGET, True, id="stopped-with-partial-results"),
    ],
)
def test_a_busy_valid_scenario_ends_at_its_event_budget(text: str, partial: bool) -> None:
    """A valid scenario that is merely busy validates (within the default budget of
    200,000,000 events), and its run ends at `MAX_EVENTS` with exit 2: refused for its
    estimated events, or stopped there with its partial results printed as JSON."""
    validated, ran = run_file(".yaml", text)
    assert validated.code == 0 and ran.code == 2, (validated.describe(), ran.describe())
    assert BUDGET_EXCEEDED in ran.stderr
    assert ("results are partial" in ran.stderr) == partial
    assert bool(ran.stdout.strip()) == partial
    assert not file_problems(validated, ran)


def test_a_valid_file_may_exit_2_only_at_its_event_budget_or_too_deep() -> None:
    """Exit 2 of a file that validates is a finding unless the run says it reached its event
    budget or chained zero-time work too deep; a run stopped at its budget must still print
    its partial results as JSON."""

    def ended(argv: str, code: int, stdout: str = "", stderr: str = "") -> Outcome:
        return Outcome((argv,), code, stdout, stderr, 0.1)

    valid = ended("validate", 0)
    refused = f"s.yaml: the run would take ... more than {BUDGET_EXCEEDED}: ..."
    stopped = f"s.yaml: ... results are partial (settings.partial): ... {BUDGET_EXCEEDED} ..."
    assert not file_problems(valid, ended("run", 2, stderr=refused))
    assert not file_problems(valid, ended("run", 2, "{}", stopped))
    deep = f"archsim: x: at t = 0.01 s, work that takes no time chained deeper than {TOO_DEEP}"
    assert not file_problems(valid, ended("run", 2, stderr=deep))
    assert file_problems(valid, ended("run", 2, "", stopped)) == [
        "run --json printed no valid JSON document (Expecting value: line 1 column 1 (char 0))"
    ]
    other = ended("run", 2, stderr="s.yaml: the memory budget of 1 GB was exceeded")
    (problem,) = file_problems(valid, other)
    assert problem.startswith("validate said 0 but run said 2, neither at its event budget")
    other_budget = ended("run", 2, stderr=refused.replace(f"{MAX_EVENTS:,}", "200,000,000"))
    assert file_problems(valid, other_budget)


def test_the_harness_sees_a_hang_a_crash_and_a_traceback() -> None:
    """A child that outlives its timeout is a hang; one killed by a signal, or whose
    exception escapes, is not an exit code 0 or 2; the output is captured."""

    def sleep() -> int:
        time.sleep(30)
        return 0

    def crash() -> int:
        os.kill(os.getpid(), signal.SIGSEGV)
        return 0

    hung = run_forked(sleep, ("sleep",), timeout=0.5)
    assert hung.hung and hung.seconds < 10 and hung.problems() == ["did not end within 60 s"]
    crashed = run_forked(crash, ("segv",), 10)
    assert crashed.code == -signal.SIGSEGV and crashed.problems() == ["exit code -11"]
    escaped = run_forked(lambda: int("x"), ("raise",), 10)
    assert "Traceback" in escaped.stderr and len(escaped.problems()) == 2
    helped = run_cli(["--help"])
    assert helped.code == 0 and "validate" in helped.stdout and not helped.problems()


def test_the_generator_makes_valid_scenarios_too() -> None:
    """A fuzzer that only makes broken files never reaches the engine: a fair share of the
    generated documents validate."""
    from models.errors import ScenarioError
    from models.loading import load_scenario

    valid = 0
    total = 0

    @settings(max_examples=60, derandomize=True, database=None, deadline=None)
    @given(scenario_documents())
    def count(document: Any) -> None:
        nonlocal valid, total
        total += 1
        with tempfile.TemporaryDirectory() as folder:
            (Path(folder) / "samples.csv").write_text(SAMPLES_CSV)
            (Path(folder) / "trace.csv").write_text(TRACE_CSV)
            path = Path(folder) / "s.yaml"
            path.write_text(yaml.safe_dump(document))
            try:
                load_scenario(path)
            except ScenarioError:
                return
            valid += 1

    count()
    assert valid >= total // 5, (valid, total)
