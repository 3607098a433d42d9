"""The `archsim` command's options and tables (issue #14): units in `--vary`, help
without `<bool>`, and tables that fit 120 columns without noise or negative intervals,
with the predictions beside the simulated values and a warning where an exact one is
beyond chance.

Exit codes (docs/cli.md): 0 ok, 2 bad input with a message naming the file and the problem,
1 internal error, 130 interrupted; never a traceback for a user's mistake.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from rich.cells import cell_len

from sim.presentation.cli import main
from tests.e2e.cli_hardening_fixtures import ROOT, refuse_simulation, write_tiny

pytestmark = pytest.mark.e2e

SCENARIOS = ROOT / "scenarios"

tiny = pytest.fixture(write_tiny, name="tiny")
no_simulation = pytest.fixture(refuse_simulation, name="no_simulation")


# --- sweep with units --------------------------------------------------------------------


def test_sweep_values_take_units(tiny: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["sweep", str(tiny), "-r", "1", "--json", "--jobs", "1", "--vary"]
    assert main([*argv, "workload.users.arrivals.poisson=10/s..30/s:3"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [point["value"] for point in document["points"]] == [10.0, 20.0, 30.0]
    rates = [point["results"]["flows"]["users"]["throughput"] for point in document["points"]]
    assert rates[0] < rates[1] < rates[2]
    assert main([*argv, "services.db.operations.read.0.work.exponential=4ms..12ms:3"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [point["value"] for point in document["points"]] == [0.004, 0.008, 0.012]
    assert main([*argv, "workload.users.arrivals.poisson=1200/min,30/s"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [point["value"] for point in document["points"]] == [20.0, 30.0]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ("10/s..20ms:3", "START and STOP must both be times or both be rates"),
        ("fast..slow", "is not a number, a time"),
        ("10..20:one", "STEPS must be a whole number"),
    ],
)
def test_sweep_refuses_bad_values(
    values: str, message: str, tiny: Path, no_simulation: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sweep", str(tiny), "--vary", f"workload.users.arrivals.poisson={values}"]) == 2
    assert message in " ".join(capsys.readouterr().err.replace("│", " ").split())


# --- help --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [[], ["run"], ["compare"], ["sweep"], ["analyze"], ["graph"], ["validate"], ["schema"]],
)
def test_help_shows_flags_without_a_type(
    command: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "120")
    assert main([*command, "--help"]) == 0
    shown = capsys.readouterr().out
    assert "<bool>" not in shown
    assert re.search(r"--help\s+Show this message", shown)
    if command and command[0] in ("run", "compare", "sweep", "analyze"):
        assert re.search(r"--json\s+print the", shown)


# --- tables: 120 columns, no noise, no negative intervals ---------------------------------


def _lines(text: str) -> list[str]:
    return [re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", line) for line in text.splitlines()]


def _short_run(
    example: str, duration: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> str:
    """What `archsim run` prints for the example `example` shortened to `duration` after a
    short warm-up, 2 replications (set COLUMNS first)."""
    raw = yaml.safe_load((SCENARIOS / example).read_text())
    raw["simulation"].update({"duration": duration, "warmup": "2s", "replications": 2})
    short = tmp_path / example
    short.write_text(yaml.safe_dump(raw))
    assert main(["run", str(short), "--jobs", "1"]) == 0
    return capsys.readouterr().out


def test_run_tables_fit_120_columns_without_noise_or_negative_intervals(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The run of three_tier_shop (shortened, 2 replications: wide intervals, near-zero
    waiting at the web tier): every line fits 120 columns, nothing is cut, the theory
    table shows no 1e-38 and no interval below 0."""
    monkeypatch.setenv("COLUMNS", "120")
    lines = _lines(_short_run("three_tier_shop.yaml", "15s", tmp_path, capsys))
    assert max(cell_len(line) for line in lines) <= 120
    shown = "\n".join(lines)
    assert "…" not in shown  # no cut name, header or number
    assert not re.search(r"\de-\d", shown)  # no 1.172e-38
    theory = shown[shown.index("Theory beside the simulation") :]
    intervals = re.findall(r"(-?[\d,.]+) \.\. (-?[\d,.]+)", theory)
    assert intervals
    assert all(not low.startswith("-") for low, _ in intervals)
    for value, half_width in re.findall(r"(-?[\d,]+\.\d+) ±([\d,]+\.\d+)", shown):
        number, width = float(value.replace(",", "")), float(half_width.replace(",", ""))
        assert number - width >= -0.011, (value, half_width)  # rounding of each, at most
    for value, below in re.findall(r"([\d,]+\.\d+) \+[\d,]+\.\d+ -([\d,]+\.\d+)", shown):
        assert float(value.replace(",", "")) >= float(below.replace(",", "")) - 0.011
    assert "[1]" in theory  # methods listed once, numbered


def test_run_puts_the_predicted_calls_beside_the_simulated_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`run` on calls with a timeout (timeout_tail, shortened): the theory table has the
    call's attempts and timed-out attempts per second, simulated (its counts over the
    measured period) beside predicted."""
    monkeypatch.setenv("COLUMNS", "120")
    shown = _short_run("timeout_tail.yaml", "60s", tmp_path, capsys)
    theory = shown[shown.index("Theory beside the simulation") :]
    call = theory[theory.index("call api->backend.work") :]
    attempts, timeouts = call.splitlines()[:2]
    assert "attempts/s" in attempts and "120" in attempts  # (predicted: every call once)
    assert "timeout/s" in timeouts and "1.626" in timeouts  # (120/s x 1.355%)


def test_run_puts_the_predicted_replicas_beside_the_simulated_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`run` on autoscaled_api (shortened to 60 s after 2 s): the checkout API starts with
    2 replicas, its rule asks for 3 at the first decision (15 s): (2 x 13 + 3 x 47) / 60 =
    2.783 replicas over the measured period, predicted and simulated (no noise crosses a
    step: 6.0 busy workers, 2.4 per replica)."""
    monkeypatch.setenv("COLUMNS", "120")
    shown = _short_run("autoscaled_api.yaml", "60s", tmp_path, capsys)
    theory = shown[shown.index("Theory beside the simulation") :]
    (row,) = [line for line in theory.splitlines() if "replicas mean" in line]
    cells = [cell.strip() for cell in row.split("│")]
    assert cells[3] == cells[5] == "2.783", row  # (simulated, predicted)


def test_run_puts_a_saturated_services_throughput_beside_the_simulated_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`run` on launch_day (shortened to 30 s): the saturated API's throughput, its capacity
    X(4) = 4 / 20 ms = 200/s, beside the simulated one; the database behind it, not
    saturated, has no such row (its throughput is its arrival rate), and no exact
    prediction is flagged (the database is predicted at the API's 200/s)."""
    monkeypatch.setenv("COLUMNS", "120")
    shown = _short_run("launch_day.yaml", "30s", tmp_path, capsys)
    theory = shown[shown.index("Theory beside the simulation") :]
    rows = [line for line in theory.splitlines() if "throughput (/s)" in line]
    assert len(rows) == 1, rows
    cells = [cell.strip() for cell in rows[0].split("│")]
    assert cells[5] == "200", rows[0]
    assert abs(float(cells[3]) - 200) < 10, rows[0]  # (about 9 standard errors)
    assert "differs from the exact prediction" not in shown


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.yaml")), ids=lambda p: p.stem)
def test_analyze_fits_120_columns(
    path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "120")
    assert main(["analyze", str(path)]) == 0
    lines = _lines(capsys.readouterr().out)
    assert max(cell_len(line) for line in lines) <= 120
    shown = "\n".join(lines)
    assert "…" not in shown
    assert not re.search(r"\de-\d", shown)


def test_run_warns_where_an_exact_prediction_is_beyond_chance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """M/M/1 at 80% (mm1.yaml, 8 x 60 s): with the server's utilization predicted at 0.84
    instead of 0.8, `run` warns and marks the row (the 99.9% interval of 8 replications is
    about ±0.015 around the simulated mean, 2.3 times the 95% one); with the true
    prediction it does neither (a false alarm there has probability about 1e-3 per exact
    mean)."""
    import models.analysis
    from models.analysis.prediction import Prediction
    from models.schema import Scenario

    true_analyze = models.analysis.analyze

    def wrong_by(shift: float) -> Callable[..., Prediction]:
        def analyze(scenario: Scenario, capacity: bool = True) -> Prediction:
            prediction = true_analyze(scenario, capacity=capacity)
            prediction.services["server"].utilization += shift
            return prediction

        return analyze

    raw = yaml.safe_load((SCENARIOS / "mm1.yaml").read_text())
    raw["simulation"].update({"duration": "60s", "warmup": "5s", "replications": 8})
    short = tmp_path / "mm1.yaml"
    short.write_text(yaml.safe_dump(raw))
    monkeypatch.setenv("COLUMNS", "160")
    shown = {}
    for shift in (0.0, 0.04):
        monkeypatch.setattr(models.analysis, "analyze", wrong_by(shift))
        assert main(["run", str(short), "--jobs", "1"]) == 0
        shown[shift] = capsys.readouterr().out
    assert "differs from the exact prediction" not in shown[0.0]
    warned = [line for line in shown[0.04].splitlines() if "differs from the exact" in line]
    assert len(warned) == 1 and "utilization" in warned[0], warned
    assert "chance" in warned[0]
    marked = [line for line in shown[0.04].splitlines() if "utilization" in line and " !" in line]
    assert len(marked) == 1, marked
