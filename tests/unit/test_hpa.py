"""The fluid replay of an HPA rule under a steady load (models/analysis/hpa.py): exact
timelines, each worked out by hand from the rule (desired = ceil(busy workers averaged
over the interval / (workers x target)), scale-up at once and serving after `startup`,
scale-down to the largest desired count of the last `stabilization`) and the fluid (a
part offered more than its workers piles the rest up and stays fully busy until it has
drained)."""

from __future__ import annotations

import math

import pytest

from models.analysis.hpa import Lengths, Stretch, replay
from models.autoscale import ServiceAutoscale


def _rule(**fields: float) -> ServiceAutoscale:
    settings = {"metric": "utilization", "target": 0.9, "min": 1, "max": 10}
    settings.update({"interval": 15.0, "stabilization": 120.0, "startup": 10.0})
    settings.update(fields)
    return ServiceAutoscale.model_validate(settings)


def _plain(stretches: list[Stretch]) -> list[tuple[float, float, int, int, bool]]:
    return [
        (pytest.approx(s.start), pytest.approx(s.end), s.serving, s.provisioned, s.backlog)
        for s in stretches
    ]


def test_a_fleet_above_its_need_comes_down_once_the_start_leaves_the_window() -> None:
    # 2.8 busy workers of 1 per replica at 0.9: ceil(3.11) = 4 from the first decision;
    # the starting 6 stays the window's largest until a decision more than 120 s after
    # time 0 (135 s: the entry at 0 is older than 135 - 120 = 15 s).
    stretches = replay(_rule(), 6, 1, 2.8, pooled=False, horizon=600.0, cuts=(30.0,))
    assert _plain(stretches) == [
        (0.0, 30.0, 6, 6, False),
        (30.0, 135.0, 6, 6, False),
        (135.0, 600.0, 4, 4, False),
    ]
    busy = sum(s.busy_area for s in stretches)
    assert busy == pytest.approx(2.8 * 600.0)
    workers = sum(s.worker_area for s in stretches)
    assert workers == pytest.approx(6 * 135.0 + 4 * 465.0)


def test_a_saturated_start_adds_replicas_overshoots_while_it_drains_and_comes_back() -> None:
    # One pool of 3 workers per replica, 4.5 busy workers demanded, target 0.6 (1.8 busy
    # workers per replica): n* = ceil(2.5) = 3. From 1 replica, saturated:
    #   30 s: 3 busy -> ceil(1.67) = 2, the second serves at 40 s; backlog 1.5 x 40 = 60
    #   60 s: (3 x 10 + 6 x 20) / 30 = 5 busy -> 3, serving at 70 s; backlog 60 - 30 = 30
    #   70 s: 9 workers drain 4.5 per second: empty at 70 + 15 / 4.5 = 73.33 s
    #   90 s: (6 x 10 + 9 x 3.33 + 4.5 x 16.67) / 30 = 5.5 busy -> ceil(3.06) = 4
    #   120 s, 150 s: 4.5 -> 3, but the window of 60 s holds the 4 of 90 s until 180 s.
    rule = _rule(target=0.6, interval=30.0, stabilization=60.0, startup=10.0)
    stretches = replay(rule, 1, 3, 4.5, pooled=True, horizon=660.0, cuts=(360.0,))
    assert _plain(stretches) == [
        (0.0, 30.0, 1, 1, True),
        (30.0, 40.0, 1, 2, True),
        (40.0, 60.0, 2, 2, True),
        (60.0, 70.0, 2, 3, True),
        (70.0, 73.3333333, 3, 3, True),
        (73.3333333, 90.0, 3, 3, False),
        (90.0, 100.0, 3, 4, False),
        (100.0, 180.0, 4, 4, False),
        (180.0, 360.0, 3, 3, False),
        (360.0, 660.0, 3, 3, False),
    ]
    # the backlog: a triangle-like area, 1.5/s up to 60 at 40 s, then down to 30 at 60,
    # flat to 70 (demand 4.5 < 6 drains 1.5/s: 30 -> 15), then 15 -> 0 in 3.33 s
    area = sum(s.backlog_area for s in stretches)
    expected = 60 * 40 / 2 + (60 + 30) / 2 * 20 + (30 + 15) / 2 * 10 + 15 / 2 * (10 / 3)
    assert area == pytest.approx(expected)


def test_round_robin_replicas_keep_their_own_backlog() -> None:
    # 1 worker per replica, 2 busy workers demanded, target 0.8: n* = ceil(2.5) = 3. The
    # first replica alone piles up 1 per second to 30 s (+10 s start-up): 40; with two, each
    # is offered 1 (= its worker), so the first neither drains nor grows; with three, each
    # is offered 2/3: the first drains 1/3 per second from 70 s: empty at 190 s. The
    # observed busy workers never exceed 2.33 (ceil(2.92) = 3): no overshoot.
    rule = _rule(target=0.8, interval=30.0, stabilization=60.0, startup=10.0)
    stretches = replay(rule, 1, 1, 2.0, pooled=False, horizon=400.0)
    assert _plain(stretches) == [
        (0.0, 30.0, 1, 1, True),
        (30.0, 40.0, 1, 2, True),
        (40.0, 60.0, 2, 2, True),
        (60.0, 70.0, 2, 3, True),
        (70.0, 190.0, 3, 3, True),
        (190.0, 400.0, 3, 3, False),
    ]
    during = next(s for s in stretches if s.start == pytest.approx(70.0))
    assert during.start_backlog == pytest.approx(40.0)
    assert during.start_backlog_workers == pytest.approx(1.0)  # (only the first holds it)


def test_min_and_max_bound_the_count() -> None:
    low = replay(_rule(min=3), 1, 1, 0.5, pooled=True, horizon=100.0)
    assert [s.provisioned for s in low] == [1, 3, 3]  # asks for 1, raised to 3 at 15 s
    assert [s.serving for s in low] == [1, 1, 3]  # (serving after the 10 s start-up)
    assert [s.end for s in low] == pytest.approx([15.0, 25.0, 100.0])
    high = replay(_rule(max=2), 1, 1, 5.0, pooled=True, horizon=100.0)
    assert max(s.provisioned for s in high) == 2
    assert all(s.backlog for s in high)  # 5 busy workers demanded, 2 at most: it piles up


def test_without_a_start_up_a_new_replica_serves_at_once() -> None:
    # 1.5 busy workers on one worker per replica, target 0.9: saturated for 15 s, then
    # ceil(1 / 0.9) = 2 serving at once; the 0.5 x 15 = 7.5 piled up drain at 0.5 per
    # second, so both stay busy until 30 s, when the rule sees 2 busy workers and asks for
    # ceil(2.22) = 3 (the overshoot, held by the window to the end).
    stretches = replay(_rule(startup=0.0), 1, 1, 1.5, pooled=True, horizon=60.0)
    assert _plain(stretches) == [
        (0.0, 15.0, 1, 1, True),
        (15.0, 30.0, 2, 2, True),
        (30.0, 60.0, 3, 3, False),
    ]


def test_a_spike_saturates_the_fleet_until_the_rule_catches_up() -> None:
    # One pool of 4 workers per replica at 0.6 (2.4 busy workers per replica), 2 to 10
    # replicas, a start-up of 20 s, a window of 60 s. 2 busy workers (asks for 1: min 2)
    # until 120 s, then 9 (> 8 workers: 1 per second piles up), then 2 again from 240 s:
    #   135 s: 8 busy -> ceil(3.33) = 4, serving at 155 s: 16 workers drain 7 per second the
    #          35 piled up by then: empty at 160 s
    #   165 s: (8 x 5 + 16 x 5 + 9 x 5) / 15 = 11 busy -> ceil(4.58) = 5, serving at 185 s
    #   180-240 s: 9 busy -> 4; at 240 s the 5 of 165 s has left the window: down to 4
    #   255-315 s: 2 busy -> 2; at 315 s the 4 of 240 s has left it: down to 2
    rule = _rule(target=0.6, min=2, interval=15.0, stabilization=60.0, startup=20.0)
    demand = [(0.0, 2.0), (120.0, 9.0), (240.0, 2.0)]
    stretches = replay(rule, 2, 4, demand, pooled=True, horizon=600.0, cuts=(60.0,))
    assert _plain(stretches) == [
        (0.0, 60.0, 2, 2, False),
        (60.0, 120.0, 2, 2, False),
        (120.0, 135.0, 2, 2, True),
        (135.0, 155.0, 2, 4, True),
        (155.0, 160.0, 4, 4, True),
        (160.0, 165.0, 4, 4, False),
        (165.0, 185.0, 4, 5, False),
        (185.0, 240.0, 5, 5, False),
        (240.0, 315.0, 4, 4, False),
        (315.0, 600.0, 2, 2, False),
    ]
    area = sum(s.backlog_area for s in stretches)
    assert area == pytest.approx(15 * 15 / 2 + (15 + 35) / 2 * 20 + 35 / 2 * 5)


def test_a_rule_on_requests_in_system_counts_the_backlog_as_requests() -> None:
    # One pool of 4 workers per replica, 10 busy workers demanded, in_system target 3,
    # requests of 20 ms; the steady queue 0.1 at any count of 3 or more. From 2 replicas:
    #   15 s: 8 busy; the backlog grew at 2 a second to 30 worker-seconds, its integral
    #         225 worker-seconds x s, 11,250 request-seconds at 20 ms: (120 + 11,250) / 15
    #         = 758 requests -> ceil(252.7), the max of 8, serving at 25 s
    #   25 s: the backlog (50) drains at 32 - 10 = 22 a second: gone at 27.27 s
    #   45 s on: 10.1 requests -> ceil(3.37) = 4; the window keeps 8 (asked at 15 s and
    #         30 s) until the decision at 165 s.
    rule = _rule(metric="in_system", target=3.0, max=8)
    lengths = Lengths(lambda _, n: 0.1 if n >= 3 else math.inf, lambda _: 0.020)
    stretches = replay(rule, 2, 4, 10.0, True, 300.0, (), None, lengths)
    assert _plain(stretches) == [
        (0.0, 15.0, 2, 2, True),
        (15.0, 25.0, 2, 8, True),
        (25.0, 25.0 + 50.0 / 22.0, 8, 8, True),
        (25.0 + 50.0 / 22.0, 165.0, 8, 8, False),
        (165.0, 300.0, 4, 4, False),
    ]
    assert stretches[0].backlog_area == pytest.approx(225.0)
    queue_rule = _rule(metric="queue_length", target=3.0)
    with pytest.raises(ValueError, match="queue_length needs the lengths"):
        replay(queue_rule, 2, 4, 10.0, True, 300.0)
