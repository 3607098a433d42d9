"""What `analyze` says of autoscaled services and consumer groups that it does not predict
(models/analysis/autoscaling.py): under bursts (here an MMPP whose two phases have the same
rate: the bursts' path with the numbers of a steady load), a rule on a queue metric, a
consumer group scaled on lag. It predicts them at their starting count and warns,
naming the count a utilization rule asks for at the predicted load. Deterministic: the
expected counts are worked out here from the HPA rule, desired = ceil(busy workers /
(workers x target)). Under a steady load, a rate profile or a sinusoid a utilization rule is
predicted at the replicas it runs: tests/unit/test_fleet.py."""

from __future__ import annotations

from typing import Any

import pytest

from models import analyze, load_scenario


def _shop(replicas: int, rate: float, scaling: dict[str, Any]) -> Any:
    return load_scenario(
        {
            "name": "autoscaled",
            "simulation": {"duration": 60},
            "services": {
                "api": {
                    "replicas": replicas,
                    "workers": 4,
                    "autoscale": scaling,
                    "operations": {"get": [{"work": {"exponential": "20ms"}}]},
                }
            },
            "workload": {
                "users": {
                    "entry": "api.get",
                    "arrivals": {"mmpp": {"rates": [rate, rate], "switch_rates": [1, 1]}},
                }
            },
        }
    )


def _warning(prediction: Any, name: str) -> str:
    (found,) = [w for w in prediction.warnings if f"'{name}'" in w and "autoscales" in w]
    return str(found)


@pytest.mark.parametrize(
    ("rate", "low", "high", "asked"),
    [
        (400.0, 1, 10, 4),  # busy 8 workers / (4 x 0.6) = 3.33 -> 4
        (240.0, 1, 10, 2),  # busy 4.8 / 2.4 = 2 exactly -> 2 (no rounding up)
        (100.0, 3, 10, 3),  # busy 2 / 2.4 -> 1, raised to min 3
        (400.0, 1, 3, 3),  # 4, capped at max 3
    ],
)
def test_a_utilization_rule_is_named_with_the_count_it_asks_for(
    rate: float, low: int, high: int, asked: int
) -> None:
    rule = {"metric": "utilization", "target": 0.6, "min": low, "max": high}
    prediction = analyze(_shop(3, rate, rule))
    warning = _warning(prediction, "api")
    assert "predicted at its starting 3 replicas" in warning
    assert warning.endswith(f"at this load its rule asks for {asked}")
    # (the prediction itself stays at the starting count: 12 workers)
    utilization = prediction.services["api"].utilization
    assert utilization == pytest.approx(rate * 0.020 / 12, rel=1e-9)


def test_an_overloaded_start_says_the_rule_scales_up_to_its_max() -> None:
    rule = {"metric": "utilization", "target": 0.6, "min": 1, "max": 6}
    warning = _warning(analyze(_shop(1, 400.0, rule)), "api")  # 8 busy > 4 workers
    assert "predicted at its starting 1 replica " in warning
    assert warning.endswith("overloaded at that count, its rule would scale it up to 6")


def test_a_queue_rule_is_named_without_a_count() -> None:
    rule = {"metric": "queue_length", "target": 5, "min": 1, "max": 6}
    warning = _warning(analyze(_shop(3, 400.0, rule)), "api")
    assert "(queue_length, target 5, 1-6 replicas)" in warning
    assert "asks for" not in warning


def test_an_autoscaled_consumer_group_is_named_with_its_starting_threads() -> None:
    scenario = load_scenario(
        {
            "name": "lagging",
            "simulation": {"duration": 60},
            "services": {
                "shop": {"workers": 2, "operations": {"order": [{"publish": "orders"}]}},
                "fulfil": {
                    "replicas": 2,
                    "operations": {"handle": [{"work": {"exponential": "10ms"}}]},
                },
            },
            "topics": {
                "orders": {
                    "partitions": 6,
                    "subscribers": {
                        "fulfil": {
                            "operation": "handle",
                            "concurrency": 3,
                            "autoscale": {"metric": "lag", "target": 20, "min": 1, "max": 6},
                        }
                    },
                }
            },
            "workload": {"buyers": {"entry": "shop.order", "arrivals": {"poisson": 50}}},
        }
    )
    warning = _warning(analyze(scenario), "fulfil")
    assert warning.startswith("consumer group 'fulfil' on topic 'orders' autoscales (lag")
    assert "predicted at its starting 6 consumer threads" in warning


def test_no_autoscaling_no_warning() -> None:
    scenario = load_scenario(
        {
            "name": "fixed",
            "simulation": {"duration": 60},
            "services": {"api": {"operations": {"get": [{"work": {"exponential": "20ms"}}]}}},
            "workload": {"users": {"entry": "api.get", "arrivals": {"poisson": 10}}},
        }
    )
    assert not [w for w in analyze(scenario).warnings if "autoscale" in w]
