"""Runs of messages: from a sender whose pool is often full (`fan_out.pool_groups`), they
count in proportion to the SCV of the sender's stream into the topic; a callee's message
published before it replies joins its caller's run (`message_runs`)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from models import analyze, load_scenario
from models.analysis.fan_out import FanOut, arrival_groups, pool_groups
from models.analysis.graph import OpKey
from models.analysis.group_overlap import Stretch
from models.analysis.message_runs import publish_groups
from models.analysis.moments import Moments

API = OpKey("service", "api", "order", 0)
RUN = FanOut(API, ((2, 1.0),), paths=((), (Stretch(Moments(0.001, 0.0)),)), messages=True)
"""Two messages of one execution, the second 1 ms (constant) after the first."""


class _Bounds:
    """`CallerBounds.node` of an API of `threads` threads."""

    def __init__(self, threads: int) -> None:
        self.threads = threads

    def node(self, key: OpKey) -> tuple[int | None, int | None]:
        return self.threads, None


def _summaries(scv: float, holding: float) -> dict[OpKey, Any]:
    return {API: SimpleNamespace(scvs={"events": scv}, holding=Moments(holding, holding**2))}


def test_weights_scale_how_often_a_fans_groups_count_whole() -> None:
    fan = FanOut(API, ((2, 1.0),))
    rates = {API: 100.0}
    assert arrival_groups(250.0, [fan], rates) == ((1, 50.0), (2, 100.0))
    # half of the pairs whole: 50 pairs/s, the other 150 messages alone
    assert arrival_groups(250.0, [fan], rates, weights=[0.5]) == ((1, 150.0), (2, 50.0))


@pytest.mark.parametrize("scv", [0.0, 0.4, 1.0, 2.5])
def test_a_run_from_a_sender_often_full_counts_as_its_stream_is_variable(scv: float) -> None:
    """An API of 2 threads 60% busy (full far more often than `BOUND_REACHED`): its runs
    count with the probability a run's first message is still held (exp(-1 ms / 4 ms)),
    times its stream's SCV into the topic at most 1; none at 0."""
    rates = {API: 200.0}
    summaries = _summaries(scv, 0.006)
    found = pool_groups([RUN], 400.0, _Bounds(2), rates, summaries, holding=0.004, topic="events")
    together = 0.7788007830714049 * min(scv, 1.0)  # exp(-0.25)
    if scv == 0.0:
        assert found is None
        return
    assert found is not None
    sizes = dict(found)
    assert sizes[2] == pytest.approx(200.0 * together, rel=1e-12)
    assert sizes[1] == pytest.approx(400.0 - 2 * sizes[2], rel=1e-12)


def test_a_run_from_a_sender_seldom_full_counts_whole_whatever_its_scv() -> None:
    rates = {API: 1.0}  # (2 threads, 0.6% busy: Erlang B far below `BOUND_REACHED`)
    summaries = _summaries(0.3, 0.006)
    found = pool_groups([RUN], 2.0, _Bounds(2), rates, summaries, holding=0.004, topic="events")
    assert found is not None
    assert dict(found)[2] == pytest.approx(0.7788007830714049, rel=1e-12)


def _sender(work: dict[str, Any]) -> dict[str, Any]:
    """An API of 2 threads that publishes, works `work` and publishes again to one mailer."""
    steps = [{"work": work}, {"publish": "events"}, {"work": {"constant": 0.001}}]
    return {
        "name": "run",
        "simulation": {"duration": 10},
        "services": {
            "api": {"workers": 2, "operations": {"order": [*steps, {"publish": "events"}]}},
            "mailer": {"operations": {"send": [{"work": {"exponential": 0.002}}]}},
        },
        "topics": {"events": {"type": "queue", "subscribers": {"mailer": {"operation": "send"}}}},
        "workload": {"orders": {"entry": "api.order", "arrivals": {"poisson": 170}}},
    }


def test_a_steadier_sender_makes_its_runs_wait_less() -> None:
    """The same API with constant rather than exponential work leaves its pool more evenly
    (QNA's departures): the mailer, fed its runs, waits less."""
    waits = []
    for work in ({"exponential": 0.006}, {"constant": 0.006}):
        group = analyze(load_scenario(_sender(work)), capacity=False).topics["events"]
        mailer = group.groups["mailer"]
        assert mailer.method.endswith("+ arrivals in groups (M^X/M/c)")
        waits.append(mailer.waiting_time.mean)
    assert waits[1] < waits[0]


def _on_the_way(orders_tail: list[dict[str, Any]]) -> dict[str, Any]:
    """An API that calls `orders` (which publishes 1 ms in, then runs `orders_tail`) and
    publishes again to the same topic."""
    place = [{"work": {"exponential": 0.001}}, {"publish": "events"}, *orders_tail]
    return {
        "name": "on the way",
        "simulation": {"duration": 10},
        "services": {
            "api": {"operations": {"post": [{"call": "orders"}, {"publish": "events"}]}},
            "orders": {"operations": {"place": place}},
            "mailer": {"operations": {"send": [{"work": {"exponential": 0.003}}]}},
        },
        "topics": {"events": {"type": "queue", "subscribers": {"mailer": {"operation": "send"}}}},
        "workload": {"users": {"entry": "api.post", "arrivals": {"poisson": 100}}},
    }


def test_a_message_published_on_the_way_through_a_call_joins_the_callers_run() -> None:
    """The message `orders` publishes before replying and the API's after it are a run of
    the API's, the first on its path through `orders`' steps (1 ms of exponential work)."""
    scenario = load_scenario(_on_the_way([{"work": {"constant": 0.001}}]))
    keys = [OpKey("service", "api", "post", 0), OpKey("service", "orders", "place", 0)]
    (run,) = publish_groups(scenario, keys)["events"]
    assert run.source == keys[0] and run.sizes == ((2, 1.0),)
    first, second = run.paths
    assert first == (Stretch(Moments(0.001, 0.001**2)),)
    assert len(second) == 1 and second[0].callee == keys[1]


def test_a_callees_own_run_is_not_counted_again_in_its_callers() -> None:
    """`orders` publishes twice (a run of its own, counted at `orders`): the API's run does
    not take its messages again."""
    scenario = load_scenario(_on_the_way([{"publish": "events"}, {"work": {"constant": 0.001}}]))
    keys = [OpKey("service", "api", "post", 0), OpKey("service", "orders", "place", 0)]
    runs = publish_groups(scenario, keys)["events"]
    assert [run.source for run in runs] == [keys[1]]
