"""Start-up of the `archsim` command: which modules `--help` and `validate` load.

`archsim --help` must take under 0.3 s of CPU and `archsim validate FILE` under 0.6 s, the
whole process (issue #13). Timing is left to a person with `/usr/bin/time`; these tests pin
what makes it hold: each command imports what it needs inside its body, `models` and `sim`
export their names lazily (PEP 562), and numpy, scipy and networkx are imported inside the
few functions of `models` that use them. A module-level import of one of the modules below
puts it back on the path of every command, and these tests fail.

Each case runs the console script's entry point (`sim.presentation.cli:main`, see
pyproject.toml) with an argv in a fresh interpreter and lists `sys.modules` afterwards.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

HEAVY = (
    "scipy",
    "pandas",
    "matplotlib",
    "dask",
    "distributed",
    "networkx",
    "numpy",
    "simpy",
    "sim.engine",
    "sim.experiments",
    "sim.presentation.plots",
    "sim.presentation.tables",
    "sim.presentation.theory_tables",
    "models.analysis",
    "models.theory",
    "models.topology",
)
"""Never needed to check a scenario (nor to print help): libraries for numbers, figures,
graphs and clusters; the engine, experiments, figures and tables; the queueing theory."""

NOT_FOR_HELP = (*HEAVY, "pydantic", "yaml", "models.schema", "models.loading")
"""Help needs no scenario at all, so not even the scenario language is loaded."""

RUN_MAIN = """
import json, sys
from sim.presentation.cli import main
code = main(sys.argv[1:])
print()
print(json.dumps({"exit_code": code, "modules": sorted(sys.modules)}))
"""


def modules_after(*argv: str) -> tuple[int, list[str]]:
    """The exit code of `archsim ARGV` in a fresh interpreter, and the modules it loaded."""
    completed = subprocess.run(
        [sys.executable, "-c", RUN_MAIN, *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(completed.stdout.splitlines()[-1])
    return report["exit_code"], report["modules"]


def loaded(modules: list[str], forbidden: tuple[str, ...]) -> list[str]:
    """The packages of `forbidden` that were loaded (a package or any of its modules)."""
    return sorted(
        package
        for package in forbidden
        if any(name == package or name.startswith(f"{package}.") for name in modules)
    )


def test_help_loads_neither_the_scenario_language_nor_heavy_modules() -> None:
    exit_code, modules = modules_after("--help")
    assert exit_code == 0
    assert "typer" in modules  # (the check itself works)
    assert loaded(modules, NOT_FOR_HELP) == []


@pytest.mark.parametrize("scenario", ["mm1.yaml", "order_pipeline.yaml"])
def test_validate_loads_no_heavy_module(scenario: str) -> None:
    exit_code, modules = modules_after("validate", f"scenarios/{scenario}")
    assert exit_code == 0
    assert "models.loading" in modules  # (the check itself works)
    assert loaded(modules, HEAVY) == []


def test_a_bad_scenario_is_reported_without_heavy_modules(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\n")
    exit_code, modules = modules_after("validate", str(bad))
    assert exit_code == 2
    assert loaded(modules, HEAVY) == []


def test_lazy_exports_are_the_objects_of_their_modules() -> None:
    """`from models import analyze` and `from sim import simulate, plots` still work."""
    import models
    import models.analysis
    import models.loading
    import models.schema
    import sim
    import sim.experiments.comparison
    import sim.experiments.results
    import sim.experiments.simulation
    import sim.experiments.sweep
    import sim.presentation.plots

    homes = {
        models: {
            "Prediction": models.analysis,
            "analyze": models.analysis,
            "load_scenario": models.loading,
            "Scenario": models.schema,
        },
        sim: {
            "Comparison": sim.experiments.comparison,
            "compare": sim.experiments.comparison,
            "Results": sim.experiments.results,
            "simulate": sim.experiments.simulation,
            "SweepResults": sim.experiments.sweep,
            "sweep": sim.experiments.sweep,
        },
    }
    for package, names in homes.items():
        for name, home in names.items():
            assert getattr(package, name) is getattr(home, name), (package.__name__, name)
        assert set(package.__all__) <= set(dir(package))
    assert sim.plots is sim.presentation.plots
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = models.nothing


def test_loading_a_scenario_does_not_load_the_queueing_theory() -> None:
    code = (
        "import sys; from models import load_scenario; load_scenario('scenarios/mm1.yaml'); "
        "print(sorted(m for m in sys.modules if m.startswith('models.analysis')))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip() == "[]"
