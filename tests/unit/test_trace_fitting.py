"""The family written for measured times is chosen by likelihood among those the
Kolmogorov-Smirnov goodness-of-fit test does not reject (`models.traces.fitting`), and an
import warns when it rejects them all."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from models.traces import fitting
from models.traces.fitting import FIT_LEVEL, fit_times
from sim.presentation.cli import main

EXAMPLE = Path(__file__).parents[2] / "scenarios" / "traces" / "shop_traces.otlp.json"


def _two_modes() -> list[float]:
    """2,000 times from two well-separated modes (1 ms and 40 ms, gamma of shape 25): no
    one-mode family fits; the Kolmogorov-Smirnov distance of the best is about 0.2, whose
    p-value at this size is below 1e-30, far from the level 0.01 whatever the draws."""
    rng = np.random.default_rng(5)
    short = rng.gamma(25.0, 0.001 / 25.0, 1000)
    long = rng.gamma(25.0, 0.040 / 25.0, 1000)
    return [float(value) for value in np.concatenate([short, long])]


def test_a_family_the_test_rejects_is_passed_over_for_the_next_likeliest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Lognormal data rank the lognormal first; if the test rejected it, the next family by
    likelihood that it does not reject is written, with its p-value."""
    samples = np.random.default_rng(7).lognormal(math.log(0.01), 0.8, 500)
    ranked = fitting._ranked(samples)
    assert ranked[0][0] == "lognormal"
    tested: list[str] = []

    def rejecting_the_first(values: Any, family: str, mean: float, cv: float) -> float:
        tested.append(family)
        return 0.001 if family == ranked[0][0] else 0.5

    monkeypatch.setattr(fitting, "_ks_p_value", rejecting_the_first)
    fit = fit_times(list(samples))
    assert tested == [ranked[0][0], ranked[1][0]]
    assert fit.family == ranked[1][0]
    assert not fit.rejected and fit.p_value == 0.5
    assert fit.warning("work", "a.b") is None


def test_when_every_family_is_rejected_the_likeliest_is_written_and_marked() -> None:
    samples = _two_modes()
    fit = fit_times(samples)
    assert fit.rejected
    assert fit.family == fitting._ranked(np.asarray(samples))[0][0]
    assert fit.p_value is not None and fit.p_value < FIT_LEVEL
    assert "try --empirical" in fit.describe()
    warning = fit.warning("work", "api.get")
    assert warning is not None and warning.startswith("work of api.get: no family passes")


def test_clear_data_pass_the_test_and_are_not_marked() -> None:
    """Exponential data: the exponential ranks first and passes (a rejection at level 0.01
    happens in 1 case of 100 at most, and the seeded draw is fixed)."""
    fit = fit_times(list(np.random.default_rng(11).exponential(0.01, 3000)))
    assert fit.family == "exponential" and not fit.rejected


def test_an_import_warns_of_an_operation_no_family_fits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The example's catalog spans made two-moded (every other one 1/100 as long): the
    import still writes a scenario, warns on stderr, and says so in the file's comment."""
    lines = []
    for line in EXAMPLE.read_text().splitlines():
        document = json.loads(line)
        for resource in document["resourceSpans"]:
            names = [a["value"].get("stringValue") for a in resource["resource"]["attributes"]]
            if "catalog" not in names:
                continue
            for scope in resource["scopeSpans"]:
                for index, span in enumerate(scope["spans"]):
                    start, end = int(span["startTimeUnixNano"]), int(span["endTimeUnixNano"])
                    if index % 2:
                        span["endTimeUnixNano"] = str(start + (end - start) // 100)
        lines.append(json.dumps(document))
    traces, out = tmp_path / "two_modes.json", tmp_path / "s.yaml"
    traces.write_text("\n".join(lines) + "\n")
    assert main(["import", "traces", str(traces), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "work of catalog.GET-products-id: no family passes the Kolmogorov-Smirnov" in err
    assert "try --empirical" in out.read_text()
    assert main(["validate", str(out)]) == 0
