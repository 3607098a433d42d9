"""A request that calls one server twice in a row, against the simulator
(`models.analysis.streams.StreamTracker.called`).

An API of unlimited workers works 4 ms (exponential), then calls a database of one worker
twice, nothing between the calls, 70.28 requests/s (the database 70% busy). The second
call re-enters the queue as the request leaves it: it finds what a departure leaves behind
and no service under way. By mean values the wait per call is W = ρ ((1 − φ) R + φ S) /
(1 − ρ) with φ = 1/2 the re-entries' share, R = E[S²] / 2 E[S] (M/M/1 for exponential
work, as BCMP has it); in the two-moment formulas a stream of c² = 2 − c_s² for the
re-entries. Simulated in 4 x 200 s:

| database work | predicted | simulated | before (the departures' c²) |
|---|---|---|---|
| constant 4.98 ms | 8.715 ms | 7.91 ms (7.36-8.45) | 4.99 ms |
| lognormal, cv 1.5 | 15.98 ms | 16.19 ms (15.18-17.21) | 19.90 ms |

The same with the second call under a `branch` (made by 4 requests in 5, the others working
0.5 ms), or the first under it and the second after it, 78.1 requests/s (70% busy again),
constant work; simulated in 4 x 200 s:

| where | predicted | simulated | before (re-entries not followed into a branch) |
|---|---|---|---|
| second call in the branch | 8.40 ms | 7.59 ms (7.31-7.87) | 5.01 ms |
| first call in the branch | 8.33 ms | 7.68 ms (7.30-8.06) | 5.19 ms |

Tolerance (`agrees`, tests/theory/conftest.py): 4.90 SE over 20 replications of 120 s
(lognormal work: 400 s, its waits vary more; false-alarm rate 1e-4 per check), each
check's expected half-width under 6% of theory (power), plus each case's slack for the
approximation measured above (`SLACK`).
"""

from __future__ import annotations

from typing import Any

import pytest

from models import analyze, load_scenario
from models.theory import mm1

pytestmark = pytest.mark.theory

RATE = 70.28
MEAN = 0.00498
LAWS: dict[str, dict[str, Any]] = {
    "constant": {"constant": MEAN},
    "lognormal": {"lognormal": {"mean": MEAN, "cv": 1.5}},
}
SLACK = {"constant": 0.13, "lognormal": 0.05}
"""Measured: +10.2% (constant: the mean-value argument takes what a re-entry finds as the
time average), -1.3% (lognormal)."""
BEFORE = {"constant": 0.004994, "lognormal": 0.019901}
DURATION = {"constant": 120, "lognormal": 400}


def _scenario(law: str) -> dict[str, Any]:
    return {
        "name": f"twice-in-a-row-{law}",
        "simulation": {"duration": DURATION[law], "warmup": 5, "replications": 20},
        "services": {
            "api": {
                "workers": "unlimited",
                "operations": {
                    "op": [{"work": {"exponential": 0.004}}, {"call": "db"}, {"call": "db"}]
                },
            },
            "db": {"workers": 1, "operations": {"read": [{"work": LAWS[law]}]}},
        },
        "workload": {"users": {"entry": "api.op", "arrivals": {"poisson": RATE}}},
    }


def test_the_mean_value_wait_of_re_entries() -> None:
    """Constant work (c_s² = 0): the stream into the database is the flow's (c² = 1) and
    the re-entries' (2), merged as one stream: c² = 1.5, and W = M/M/1's x 3/4."""
    db = analyze(load_scenario(_scenario("constant")), capacity=False).services["db"]
    assert db.waiting_time.mean is not None
    expected = mm1(2 * RATE, 1 / MEAN).mean_waiting_time * 0.75
    assert db.waiting_time.mean == pytest.approx(expected, rel=1e-9)


def test_work_between_the_calls_makes_no_re_entry() -> None:
    """0.5 ms of work between the calls: the second arrives after the request has left,
    as the database's replies (the departures' c²), not as a re-entry."""
    document = _scenario("constant")
    steps = document["services"]["api"]["operations"]["op"]
    steps.insert(2, {"work": {"constant": 0.0005}})
    db = analyze(load_scenario(document), capacity=False).services["db"]
    assert db.waiting_time.mean is not None
    assert db.waiting_time.mean == pytest.approx(BEFORE["constant"], rel=0.02)


@pytest.mark.parametrize("law", ["constant", "lognormal"])
def test_a_call_right_after_a_call_waits_as_a_re_entry(
    law: str, agrees: Any, replications_of: Any, stat: Any
) -> None:
    document = _scenario(law)
    db = analyze(load_scenario(document), capacity=False).services["db"]
    wait = db.waiting_time.mean
    assert wait is not None
    assert abs(BEFORE[law] - wait) > (SLACK[law] + 0.1) * wait  # (told apart)
    runs = replications_of(document)
    waits = stat(runs, "services", "db", "waiting_time", "mean")
    agrees(waits, wait, f"db W ({law}, twice in a row)", slack=SLACK[law])


BRANCH_RATE = 78.1
BRANCH_BEFORE = {"second": 0.005008, "first": 0.005187}


def _branched(where: str) -> dict[str, Any]:
    """The constant-work model with one of its two calls under a branch taken 4 times in 5
    (the other option works 0.5 ms: no re-entry there)."""
    document = _scenario("constant")
    document["name"] = f"re-entry-{where}-call-in-a-branch"
    document["workload"]["users"]["arrivals"] = {"poisson": BRANCH_RATE}
    work, call, _ = document["services"]["api"]["operations"]["op"]
    branch = {
        "branch": [
            {"probability": 0.8, "steps": [{"call": "db"}]},
            {"probability": 0.2, "steps": [{"work": {"constant": 0.0005}}]},
        ]
    }
    steps = [work, call, branch] if where == "second" else [work, branch, call]
    document["services"]["api"]["operations"]["op"] = steps
    return document


@pytest.mark.parametrize("where", ["second", "first"])
def test_a_re_entry_through_a_branch(
    where: str, agrees: Any, replications_of: Any, stat: Any
) -> None:
    """A call right after a call to the same server where one of them is a branch's:
    the branch's option starts where the step before the branch ended, and a call after
    the branch follows the options' last calls, with the share of executions that made
    them (`StreamTracker.after_options`)."""
    document = _branched(where)
    db = analyze(load_scenario(document), capacity=False).services["db"]
    wait = db.waiting_time.mean
    assert wait is not None
    assert abs(BRANCH_BEFORE[where] - wait) > (SLACK["constant"] + 0.1) * wait  # (told apart)
    runs = replications_of(document)
    waits = stat(runs, "services", "db", "waiting_time", "mean")
    agrees(waits, wait, f"db W (re-entry, {where} call in a branch)", slack=SLACK["constant"])
