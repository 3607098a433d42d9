"""Deterministic unit tests of the topology graph (`models.topology.topology_graph`)."""

from __future__ import annotations

import copy
from typing import Any

import networkx as nx

from models import load_scenario
from models.topology import flow_node, topology_graph

SHOP: dict[str, Any] = {
    "name": "shop",
    "simulation": {"duration": "1min"},
    "services": {
        "gateway": {
            "replicas": 2,
            "workers": 8,
            "operations": {"checkout": [{"work": {"exponential": "1ms"}}, {"call": "orders"}]},
        },
        "orders": {
            "operations": {
                "create": [
                    {"call": {"service": "db", "operation": "write"}},
                    {"call": {"service": "db", "operation": "read", "probability": 0.5}},
                    {"publish": "order-placed"},
                ]
            }
        },
        "db": {
            "workers": "unlimited",
            "operations": {
                "read": [{"work": {"constant": "1ms"}}],
                "write": [{"work": {"constant": "2ms"}}],
            },
        },
        "payment": {
            "replicas": 3,
            "operations": {
                "charge": [
                    {"work": {"exponential": "5ms"}},
                    {
                        "branch": [
                            {"probability": 0.9, "steps": [{"publish": "payment-done"}]},
                            {"probability": 0.1, "steps": []},
                        ]
                    },
                ]
            },
        },
        "inventory": {"operations": {"reserve": [{"work": {"constant": "3ms"}}]}},
        "mailer": {"operations": {"send": [{"work": {"constant": "1ms"}}]}},
    },
    "topics": {
        "order-placed": {
            "partitions": 6,
            "subscribers": {
                "payment": {"operation": "charge", "concurrency": 2},
                "inventory": "reserve",
            },
        },
        "payment-done": {"type": "queue", "subscribers": {"mailer": "send"}},
    },
    "workload": {
        "checkout": {"entry": "gateway.checkout", "arrivals": {"poisson": "50/s"}},
        "admin": {
            "steps": [{"call": "orders"}, {"publish": "payment-done"}],
            "clients": 2,
        },
    },
}


def graph_of(raw: dict[str, Any]) -> nx.DiGraph:
    return topology_graph(load_scenario(raw))


def test_nodes_have_their_kind() -> None:
    graph = graph_of(SHOP)
    assert dict(graph.nodes(data="kind")) == {
        "gateway": "service",
        "orders": "service",
        "db": "service",
        "payment": "service",
        "inventory": "service",
        "mailer": "service",
        "order-placed": "topic",
        "payment-done": "topic",
        "flow:checkout": "flow",
        "flow:admin": "flow",
    }
    assert graph.nodes["order-placed"]["topic_type"] == "log"
    assert graph.nodes["order-placed"]["partitions"] == 6
    assert graph.nodes["payment-done"]["topic_type"] == "queue"
    assert graph.nodes["payment-done"]["partitions"] is None
    assert graph.nodes["gateway"]["replicas"] == 2
    assert graph.nodes["db"]["workers"] == "unlimited"
    assert graph.nodes[flow_node("checkout")]["rate"] == 50.0
    assert graph.nodes[flow_node("admin")]["clients"] == 2


def test_edges_have_their_kind() -> None:
    graph = graph_of(SHOP)
    assert {(source, target): kind for source, target, kind in graph.edges(data="kind")} == {
        ("flow:checkout", "gateway"): "entry",
        ("flow:admin", "orders"): "entry",
        ("flow:admin", "payment-done"): "publish",
        ("gateway", "orders"): "call",
        ("orders", "db"): "call",
        ("orders", "order-placed"): "publish",
        ("payment", "payment-done"): "publish",  # inside a branch
        ("order-placed", "payment"): "deliver",
        ("order-placed", "inventory"): "deliver",
        ("payment-done", "mailer"): "deliver",
    }


def test_every_flow_entry_is_present() -> None:
    graph = graph_of(SHOP)
    for name, flow in load_scenario(SHOP).workload.items():
        entries = [
            target
            for _, target, kind in graph.out_edges(flow_node(name), data="kind")
            if kind == "entry"
        ]
        assert entries, f"flow {name} has no entry edge"
        if flow.entry is not None:
            assert entries == [flow.entry.partition(".")[0]]
    assert graph.edges["flow:checkout", "gateway"]["operations"] == ["checkout"]
    # a flow whose entry names only the service gets the service's single operation
    raw = copy.deepcopy(SHOP)
    raw["workload"]["checkout"]["entry"] = "orders"
    assert graph_of(raw).edges["flow:checkout", "orders"]["operations"] == ["create"]


def test_calls_between_two_services_are_one_edge_listing_the_operations() -> None:
    edge = graph_of(SHOP).edges["orders", "db"]
    assert edge["operations"] == ["write", "read"]
    assert edge["label"] == "write, read"


def test_a_log_topic_delivers_to_each_group_with_its_operation() -> None:
    graph = graph_of(SHOP)
    payment = graph.edges["order-placed", "payment"]
    assert (payment["operation"], payment["concurrency"], payment["consumers"]) == ("charge", 2, 6)
    inventory = graph.edges["order-placed", "inventory"]
    assert (inventory["operation"], inventory["concurrency"], inventory["consumers"]) == (
        "reserve",
        1,
        1,
    )
    assert graph.edges["payment-done", "mailer"]["label"] == "send"


def test_layers_run_left_to_right_along_the_longest_path() -> None:
    layers = dict(graph_of(SHOP).nodes(data="layer"))
    assert layers == {
        "flow:checkout": 0,
        "flow:admin": 0,
        "gateway": 1,
        "orders": 2,
        "db": 3,
        "order-placed": 3,
        "payment": 4,
        "inventory": 4,
        "payment-done": 5,
        "mailer": 6,
    }


def test_feedback_through_a_topic_and_mutual_calls_still_get_layers() -> None:
    """A handler that publishes back to its own topic and two services that call each
    other through different operations make cycles; every node still gets a layer and the
    flow stays leftmost."""
    raw: dict[str, Any] = {
        "name": "loops",
        "simulation": {"duration": 10},
        "services": {
            "a": {
                "operations": {
                    "x": [{"call": "b.y"}],
                    "w": [{"work": {"constant": 0.001}}],
                }
            },
            "b": {
                "operations": {
                    # (0.5 + 0.1 messages back per message: the feedback dies out)
                    "y": [
                        {"work": {"constant": 0.001}},
                        {"publish": {"topic": "retry", "probability": 0.5}},
                    ],
                    "z": [{"call": "a.w"}],
                }
            },
            "c": {
                "operations": {
                    "h": [{"publish": {"topic": "retry", "probability": 0.1}}, {"call": "a.x"}]
                }
            },
        },
        "topics": {"retry": {"subscribers": {"c": "h", "b": "z"}}},
        "workload": {"u": {"entry": "a.x", "arrivals": {"poisson": 5}}},
    }
    graph = graph_of(raw)
    layers = dict(graph.nodes(data="layer"))
    assert layers["flow:u"] == 0
    assert min(layer for node, layer in layers.items() if node != "flow:u") == 1
    assert graph.edges["c", "retry"]["kind"] == "publish"
    assert graph.edges["retry", "b"]["kind"] == "deliver"
    assert graph.edges["b", "a"]["kind"] == "call"
    assert graph.edges["a", "b"]["kind"] == "call"


def test_a_flow_may_share_its_name_with_a_service() -> None:
    raw = copy.deepcopy(SHOP)
    raw["workload"]["gateway"] = raw["workload"].pop("checkout")
    graph = graph_of(raw)
    assert graph.nodes["gateway"]["kind"] == "service"
    assert graph.nodes["flow:gateway"]["kind"] == "flow"
    assert graph.edges["flow:gateway", "gateway"]["kind"] == "entry"
