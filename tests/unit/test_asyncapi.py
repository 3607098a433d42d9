"""Deterministic unit tests of the AsyncAPI import (issue #16 item 4): AsyncAPI 2.6 and 3.0
documents mapped to topics, partitions, consumer groups, services and flows; the result a
valid scenario that runs; bad documents refused with the file and the place in the document.
The examples are scenarios/asyncapi/*.asyncapi.yaml; the merge with a traces import is in
test_asyncapi_merge.py."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from models import ScenarioError, load_scenario
from models.traces.asyncapi import read_asyncapi, read_asyncapis
from models.traces.merge import group_of
from tests.unit.asyncapi_fixtures import (
    ORDERS,
    PAYMENTS,
    SHIPPING,
    assert_comment_paths_exist,
    write,
)


def problems(error: pytest.ExceptionInfo[ScenarioError]) -> dict[str, str]:
    return {problem.path: problem.message for problem in error.value.problems}


def kafka_3(partitions: Any = 6, **operation: Any) -> dict[str, Any]:
    """A small AsyncAPI 3.0 document: one Kafka channel, one operation on it."""
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "Billing", "version": "1.0.0"},
        "channels": {
            "orderPlaced": {
                "address": "orders.placed.v1",
                "bindings": {"kafka": {"partitions": partitions}},
            }
        },
        "operations": {
            "onOrderPlaced": {
                "action": "receive",
                "channel": {"$ref": "#/channels/orderPlaced"},
                **operation,
            }
        },
    }


# ------------------------------------------------------------------------ the examples


def test_version_3_send_is_a_producer_with_a_placeholder_flow() -> None:
    imported = read_asyncapi(ORDERS)
    document = imported.document
    assert document["topics"] == {"order-placed": {"type": "log", "partitions": 6}}
    assert document["services"] == {
        "orders": {
            "operations": {
                "publish-order-placed": [
                    {"work": {"exponential": "1ms"}},
                    {"publish": "order-placed"},
                ]
            }
        }
    }
    assert document["workload"] == {
        "orders-publish-order-placed": {
            "entry": "orders.publish-order-placed",
            "arrivals": {"poisson": "1/s"},
        }
    }
    comments = imported.comments
    assert (
        "placeholder" in comments[("services", "orders", "operations", "publish-order-placed", 0)]
    )
    assert "placeholder" in comments[("workload", "orders-publish-order-placed", "arrivals")]
    assert "bindings.kafka.partitions" in comments[("topics", "order-placed", "partitions")]
    assert "x-service-name" in comments[("services", "orders")]
    assert imported.warnings == []
    assert imported.header[0].startswith("Imported from AsyncAPI 3.0.0: ")
    load_scenario(document)
    assert_comment_paths_exist(imported)


def test_version_2_publish_means_the_application_receives() -> None:
    """AsyncAPI 2.x: `publish` = others publish, the application consumes; `subscribe` = the
    application sends. Payments consumes order-placed and produces payment-completed."""
    imported = read_asyncapi(PAYMENTS)
    topics, services = imported.document["topics"], imported.document["services"]
    assert topics["order-placed"] == {
        "type": "log",
        "partitions": 6,
        "subscribers": {"payments": "on-order-placed"},
    }
    assert topics["payment-completed"] == {"type": "log", "partitions": 3}
    assert list(services) == ["payments"]
    assert services["payments"]["operations"]["publish-payment-completed"][-1] == {
        "publish": "payment-completed"
    }
    group = imported.comments[("topics", "order-placed", "subscribers", "payments")]
    assert group_of(group) == "payments"
    assert "groupId.enum" in group and "client 'payments-consumer'" in group
    assert (
        "'publish'" in imported.comments[("services", "payments", "operations", "on-order-placed")]
    )
    # nobody described sends order-placed: a client outside publishes it
    assert imported.document["workload"]["external-order-placed"]["steps"] == [
        {"publish": "order-placed"}
    ]
    load_scenario(imported.document)
    assert_comment_paths_exist(imported)


def test_a_group_set_by_an_operation_trait() -> None:
    imported = read_asyncapi(SHIPPING)
    comment = imported.comments[("topics", "order-placed", "subscribers", "shipping")]
    assert group_of(comment) == "shipping-service"
    assert "components.operationTraits.shippingConsumer.bindings.kafka.groupId.const" in comment


def test_the_three_documents_make_the_pipeline_which_runs() -> None:
    import sim

    imported = read_asyncapis([ORDERS, PAYMENTS, SHIPPING])
    document = imported.document
    assert list(document["services"]) == ["orders", "payments", "shipping"]
    assert document["topics"]["order-placed"] == {
        "type": "log",
        "partitions": 6,
        "subscribers": {"payments": "on-order-placed", "shipping": "on-order-placed"},
    }
    assert sorted(document["workload"]) == [
        "orders-publish-order-placed",
        "payments-publish-payment-completed",
    ]
    assert group_of(imported.comments[("topics", "order-placed", "subscribers", "payments")]) == (
        "payments"
    )
    assert len(imported.header) == 6
    assert imported.warnings == []
    assert_comment_paths_exist(imported)
    short = copy.deepcopy(document)
    short["simulation"]["duration"] = "1min"
    results = json.loads(sim.simulate(load_scenario(short)).to_json())
    order_placed = results["topics"]["order-placed"]
    assert order_placed["published"] > 0
    assert set(order_placed["groups"]) == {"payments", "shipping"}


# ------------------------------------------------------------------------ mapping rules


def test_names_groups_and_kinds_from_small_documents(tmp_path: Path) -> None:
    document = kafka_3(
        bindings={"kafka": {"groupId": "billing-v2"}},
        **{"x-archsim-service": "ledger"},
    )
    document["servers"] = {"rabbit": {"host": "mq:5672", "protocol": "amqp"}}
    document["channels"]["invoices"] = {"address": "billing/{tenant}/invoices"}
    document["operations"]["sendInvoice"] = {
        "action": "send",
        "channel": {"$ref": "#/channels/invoices"},
        "reply": {"channel": {"$ref": "#/channels/orderPlaced"}},
    }
    imported = read_asyncapi(write(tmp_path, document))
    topics = imported.document["topics"]
    # a Kafka binding wins over the servers' protocol; the address is made a name
    assert topics["orders-placed-v1"]["type"] == "log"
    assert topics["orders-placed-v1"]["subscribers"] == {"ledger": "on-orders-placed-v1"}
    # only the server (AMQP) says what the channel is: competing consumers
    assert topics["billing-tenant-invoices"] == {"type": "queue"}
    assert (
        "publish-billing-tenant-invoices" in imported.document["services"]["billing"]["operations"]
    )
    comment = imported.comments[("topics", "orders-placed-v1", "subscribers", "ledger")]
    assert group_of(comment) == "billing-v2"
    assert any("has parameters" in warning for warning in imported.warnings)
    assert any("operations.sendInvoice.reply: request/reply" in w for w in imported.warnings)
    load_scenario(imported.document)
    assert_comment_paths_exist(imported)


def test_trait_precedence_differs_between_versions(tmp_path: Path) -> None:
    """2.x: a trait patches the operation (the trait wins); 3.x: the operation wins."""
    own = {"kafka": {"groupId": {"const": "own"}}}
    trait = {"bindings": {"kafka": {"groupId": {"const": "trait"}}}}
    version_3 = kafka_3(bindings=own, traits=[trait])
    version_2 = {
        "asyncapi": "2.6.0",
        "info": {"title": "Billing", "version": "1"},
        "channels": {"orders": {"publish": {"bindings": own, "traits": [trait]}}},
    }
    groups = []
    for name, document in (("v3.yaml", version_3), ("v2.yaml", version_2)):
        imported = read_asyncapi(write(tmp_path, document, name))
        (topic,) = imported.document["topics"].values()
        path = ("topics", *imported.document["topics"], "subscribers", "billing")
        assert topic["subscribers"] == {"billing": topic["subscribers"]["billing"]}
        groups.append(group_of(imported.comments[path]))
    assert groups == ["own", "trait"]


def test_defaults_when_nothing_is_said_and_name_clashes(tmp_path: Path) -> None:
    document: dict[str, Any] = {
        "asyncapi": "2.6.0",
        "info": {"title": "Stock Keeper", "version": "1"},
        "channels": {
            "stock-keeper": {"publish": {"operationId": "onStock"}},  # named like the service
            "audit": {},  # declared, unused
        },
    }
    document["components"] = {"channels": {"stock": document["channels"]["stock-keeper"]}}
    document["channels"]["stock-keeper"] = {"$ref": "#/components/channels/stock"}
    path = tmp_path / "stock.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    imported = read_asyncapi(path)
    topics = imported.document["topics"]
    assert topics["stock-keeper-topic"] == {
        "subscribers": {"stock-keeper": "on-stock-keeper-topic"}
    }
    assert topics["audit"] == {}
    assert "no operation" in imported.comments[("topics", "audit")]
    assert (
        "no bindings.kafka.groupId"
        in imported.comments[("topics", "stock-keeper-topic", "subscribers", "stock-keeper")]
    )
    assert any("'stock-keeper-topic'" in warning for warning in imported.warnings)
    load_scenario(imported.document)
    assert_comment_paths_exist(imported)


def test_a_2x_operation_id_that_contradicts_its_direction_is_a_warning(tmp_path: Path) -> None:
    """Many 2.x documents read `subscribe` as "the application subscribes"; the specification
    says the application sends. The import follows the specification and says so."""
    document = {
        "asyncapi": "2.6.0",
        "info": {"title": "Lights", "version": "1"},
        "servers": {"main": {"$ref": "#/components/servers/kafka"}},
        "components": {"servers": {"kafka": {"url": "k:9092", "protocol": "kafka"}}},
        "channels": {"light.measured": {"subscribe": {"operationId": "receiveLightMeasurement"}}},
    }
    imported = read_asyncapi(write(tmp_path, document))
    assert imported.document["topics"] == {"light-measured": {"type": "log"}}  # server by $ref
    assert "publish-light-measured" in imported.document["services"]["lights"]["operations"]
    (warning,) = imported.warnings
    assert "channels.light.measured.subscribe: operationId 'receiveLightMeasurement' sounds" in (
        warning
    )


def test_several_group_ids_warn_and_the_first_is_used(tmp_path: Path) -> None:
    document = kafka_3(bindings={"kafka": {"groupId": {"type": "string", "enum": ["a", "b"]}}})
    document["components"] = {"channels": {"refunds": {"address": "refunds"}}}
    document["operations"]["onRefund"] = {
        "action": "receive",
        "channel": {"$ref": "#/components/channels/refunds"},
    }
    imported = read_asyncapi(write(tmp_path, document))
    path = ("topics", "orders-placed-v1", "subscribers", "billing")
    assert group_of(imported.comments[path]) == "a"
    assert imported.document["topics"]["refunds"] == {"subscribers": {"billing": "on-refunds"}}
    assert any("groupId.enum: several values" in warning for warning in imported.warnings)


# ------------------------------------------------------------------------ bad documents


def test_a_file_that_is_not_asyncapi(tmp_path: Path) -> None:
    path = write(tmp_path, {"openapi": "3.1.0", "info": {"title": "x"}, "paths": {}})
    with pytest.raises(ScenarioError) as error:
        read_asyncapi(path)
    assert error.value.source == str(path)
    assert "OpenAPI" in problems(error)[""]
    assert "not an AsyncAPI document" in str(error.value)


def test_an_unsupported_version(tmp_path: Path) -> None:
    path = write(tmp_path, {"asyncapi": "1.2.0", "info": {"title": "x"}, "topics": {}})
    with pytest.raises(ScenarioError) as error:
        read_asyncapi(path)
    assert problems(error) == {
        "asyncapi": "unsupported AsyncAPI version: archsim reads 2.0.0 to 2.6.0, 3.0.0 and "
        "3.1.0 (got '1.2.0')"
    }
    assert f"{path}: asyncapi: unsupported" in str(error.value)


def test_a_channel_reference_that_does_not_resolve(tmp_path: Path) -> None:
    document = kafka_3()
    document["operations"]["onOrderPlaced"]["channel"] = {"$ref": "#/channels/orderPlacd"}
    path = write(tmp_path, document)
    with pytest.raises(ScenarioError) as error:
        read_asyncapi(path)
    assert problems(error) == {
        "operations.onOrderPlaced.channel.$ref": "reference '#/channels/orderPlacd' does not "
        "resolve: nothing named 'orderPlacd' under 'channels', which has: orderPlaced (did you "
        "mean 'orderPlaced'?)"
    }


def test_negative_partitions(tmp_path: Path) -> None:
    path = write(tmp_path, kafka_3(partitions=-1))
    with pytest.raises(ScenarioError) as error:
        read_asyncapi(path)
    assert problems(error) == {
        "channels.orderPlaced.bindings.kafka.partitions": "must be an integer >= 1 (got -1)"
    }
    assert f"{path}: channels.orderPlaced.bindings.kafka.partitions: must be" in str(error.value)


def test_every_problem_of_a_file_at_once(tmp_path: Path) -> None:
    document = kafka_3(partitions="six", action="consume")
    document["info"] = {"version": "1"}
    document["channels"]["orderPlaced"]["bindings"]["kafka"]["topic"] = 42
    document["operations"]["other"] = {"action": "send", "channel": "orderPlaced"}
    document["operations"]["external"] = {
        "action": "send",
        "channel": {"$ref": "common.yaml#/channels/audit"},
    }
    with pytest.raises(ScenarioError) as error:
        read_asyncapi(write(tmp_path, document))
    assert list(problems(error)) == [
        "channels.orderPlaced.bindings.kafka.partitions",
        "channels.orderPlaced.bindings.kafka.topic",
        "info.title",
        "operations.external.channel.$ref",
        "operations.onOrderPlaced.action",
        "operations.other.channel",
    ]
    assert "bundle the document" in problems(error)["operations.external.channel.$ref"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "not an AsyncAPI document: expected a mapping"),
        ("asyncapi: [", "not valid YAML or JSON: line 1, column 12"),
        ("- 1\n- 2\n", "(got a list)"),
    ],
)
def test_files_that_cannot_be_read(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"broken\.yaml") as error:
        read_asyncapi(path)
    assert expected in str(error.value)


def test_a_missing_file_and_a_document_without_operations(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read the file"):
        read_asyncapi(tmp_path / "missing.yaml")
    catalogue = {"asyncapi": "3.0.0", "info": {"title": "Topics", "version": "1"}, "channels": {}}
    with pytest.raises(ScenarioError, match="nothing to simulate"):
        read_asyncapi(write(tmp_path, catalogue))
