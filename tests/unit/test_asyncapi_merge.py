"""Deterministic unit tests of the AsyncAPI import merged with a traces import (issue #16
item 4, `models.traces.merge`): what the traces measured kept, what the AsyncAPI documents
declare added, a service named otherwise matched by its consumer group, clashes renamed, and
the YAML written of the result read back to the same document. The examples are
scenarios/asyncapi/*.asyncapi.yaml; the import on its own is in test_asyncapi.py."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from models import load_scenario
from models.traces.asyncapi import read_asyncapi, read_asyncapis
from models.traces.imported import ImportedScenario
from models.traces.merge import merge_imports
from tests.unit.asyncapi_fixtures import (
    ORDERS,
    PAYMENTS,
    SHIPPING,
    assert_comment_paths_exist,
    write,
)


def traced() -> ImportedScenario:
    """What `archsim import traces` could have made of the shop: measured work and rates,
    order-placed seen with 4 partitions and consumed by payments (group payments-v1)."""
    return ImportedScenario(
        document={
            "name": "shop-from-traces",
            "simulation": {"duration": "5min", "seed": 3},
            "services": {
                "orders": {
                    "replicas": 2,
                    "workers": 8,
                    "operations": {
                        "place": [
                            {"work": {"lognormal": {"mean": "4ms", "cv": 1.1}}},
                            {"publish": "order-placed"},
                        ]
                    },
                },
                "payments": {"operations": {"charge": [{"work": {"exponential": "12ms"}}]}},
            },
            "topics": {"order-placed": {"partitions": 4, "subscribers": {"payments": "charge"}}},
            "workload": {"checkout": {"entry": "orders.place", "arrivals": {"poisson": "40/s"}}},
        },
        comments={
            ("topics", "order-placed", "partitions"): "highest partition id seen + 1",
            ("topics", "order-placed", "subscribers", "payments"): "consumer group 'payments-v1'",
            ("workload", "checkout", "arrivals"): "measured: 12000 requests in 300 s",
        },
        header=["Imported from traces: spans.json"],
    )


def test_merge_keeps_what_was_measured_and_adds_what_is_declared() -> None:
    traces = traced()
    before = copy.deepcopy(traces.document)
    asyncapi = read_asyncapis([ORDERS, PAYMENTS, SHIPPING])
    merged = merge_imports(traces, asyncapi)
    document = merged.document
    assert traces.document == before  # inputs unchanged
    assert document["name"] == "shop-from-traces"
    assert document["workload"]["checkout"] == before["workload"]["checkout"]
    assert document["topics"]["order-placed"] == {
        "type": "log",
        "partitions": 6,  # declared configuration over the traces' lower bound
        "subscribers": {"payments": "charge", "shipping": "on-order-placed"},
    }
    assert document["topics"]["payment-completed"] == {"type": "log", "partitions": 3}
    assert list(document["services"]) == ["orders", "payments", "shipping"]
    assert list(document["services"]["orders"]["operations"]) == ["place"]  # seen publishing
    assert list(document["workload"]) == ["checkout", "payments-publish-payment-completed"]
    assert "bindings.kafka.partitions" in merged.comments[("topics", "order-placed", "partitions")]
    assert merged.header[0] == "Imported from traces: spans.json"
    warnings = "\n".join(merged.warnings)
    assert (
        "topics.order-placed.partitions: 6 in the AsyncAPI documents, 4 in the traces" in warnings
    )
    assert "consumer group 'payments' in the AsyncAPI documents, 'payments-v1' in the traces" in (
        warnings
    )
    assert "topics.order-placed.subscribers.shipping: declared in the AsyncAPI" in warnings
    assert "services.shipping: in the AsyncAPI documents, not seen in the traces" in warnings
    load_scenario(document)
    assert_comment_paths_exist(merged)


def test_merge_matches_a_service_named_otherwise_by_its_consumer_group() -> None:
    """The traces name the consumer `payment`, its group `payments`; the Payments document
    names the service `payments` and its group (`groupId`) `payments`: one consumer group,
    so one subscriber (the traced one) and the document's producer joins `payment`, not a
    second, placeholder group that would handle every message again."""
    traces = traced()
    services = traces.document["services"]
    services["payment"] = services.pop("payments")
    traces.document["topics"]["order-placed"]["subscribers"] = {"payment": "charge"}
    place = ("topics", "order-placed", "subscribers")
    traces.comments[(*place, "payment")] = "consumer group 'payments': 900 messages handled"
    del traces.comments[(*place, "payments")]
    merged = merge_imports(traces, read_asyncapis([ORDERS, PAYMENTS, SHIPPING]))
    document = merged.document
    assert document["topics"]["order-placed"]["subscribers"] == {
        "payment": "charge",
        "shipping": "on-order-placed",
    }
    assert list(document["services"]) == ["orders", "payment", "shipping"]
    assert list(document["services"]["payment"]["operations"]) == [
        "charge",
        "publish-payment-completed",
    ]
    flow = document["workload"]["payments-publish-payment-completed"]
    assert flow["entry"] == "payment.publish-payment-completed"
    warnings = "\n".join(merged.warnings)
    assert (
        "services.payments: the AsyncAPI service 'payments' consumes in the consumer group "
        "'payments', as the traced service 'payment' does: taken as 'payment'"
    ) in warnings
    assert "subscribers.payments: declared in the AsyncAPI" not in warnings
    load_scenario(document)
    assert_comment_paths_exist(merged)
    # A group the document does not name (no groupId: the service's name) matches nothing.
    traces.comments[(*place, "payment")] = "consumer group 'shipping': 900 messages handled"
    merged = merge_imports(traces, read_asyncapis([ORDERS, PAYMENTS, SHIPPING]))
    assert set(merged.document["topics"]["order-placed"]["subscribers"]) == {
        "payment",
        "payments",
        "shipping",
    }


def test_merge_renames_clashes_and_a_queue_loses_its_partitions(tmp_path: Path) -> None:
    traces = traced()
    traces.document["services"]["invoices"] = {
        "operations": {"get": [{"work": {"constant": 0.001}}]}
    }
    traces.document["workload"]["lookups"] = {"entry": "invoices.get", "arrivals": {"poisson": 5}}
    declared = {
        "asyncapi": "3.0.0",
        "info": {"title": "Payments", "version": "1"},
        "servers": {"mq": {"host": "mq", "protocol": "amqp"}},
        "channels": {"invoices": {}, "order-placed": {}},
        "operations": {
            "sendInvoice": {"action": "send", "channel": {"$ref": "#/channels/invoices"}},
            "charge": {"action": "receive", "channel": {"$ref": "#/channels/order-placed"}},
        },
    }
    merged = merge_imports(traces, read_asyncapi(write(tmp_path, declared)))
    topics = merged.document["topics"]
    assert topics["order-placed"] == {"type": "queue", "subscribers": {"payments": "charge"}}
    assert topics["invoices-topic"] == {"type": "queue"}
    steps = merged.document["services"]["payments"]["operations"]["publish-invoices"]
    assert steps[-1] == {"publish": "invoices-topic"}
    assert any("named like a traced service" in warning for warning in merged.warnings)
    load_scenario(merged.document)
    assert_comment_paths_exist(merged)


def test_the_written_yaml_reads_back_to_the_same_document() -> None:
    """models.traces.yaml_out writes an ImportedScenario with its comments; the YAML must
    load back to the very document (comments are only comments)."""
    yaml_out = pytest.importorskip("models.traces.yaml_out")
    for imported in (
        read_asyncapis([ORDERS, PAYMENTS, SHIPPING]),
        merge_imports(traced(), read_asyncapis([ORDERS, PAYMENTS, SHIPPING])),
    ):
        text = yaml_out.scenario_yaml(imported)
        assert yaml.safe_load(text) == imported.document
        assert "placeholder work" in text
