"""The layered shapes of the regression set (a-i): small scenarios of one question each.

Each builder returns its scenario document's services and workload at nominal rates (the
generation scales the open flows to the loads). These builders have no docstring on
purpose: a builder's docstring goes into its files' header comments (`generate.header`),
and these files were generated without one; `SHAPES` (shapes.py) describes each.
"""

from __future__ import annotations

from typing import Any

from .blocks import (
    branch,
    call,
    exp,
    gamma,
    lognormal,
    open_flow,
    parallel,
    publish,
    service,
    store,
    work,
)


def three_tier_open() -> dict[str, Any]:
    return {
        "services": {
            "web": service(
                16, 2, handle=[work(exp(1.0)), call("app.page")], _balancing="round_robin"
            ),
            "app": service(
                6,
                2,
                page=[
                    work(lognormal(3.0, 1.5)),
                    branch(
                        (0.85, [call("db.read")]),
                        (0.15, [call("db.read"), call("db.write")]),
                    ),
                ],
                _balancing="random",
            ),
            "db": {
                "workers": 4,
                "balancing": "shared",
                "operations": {
                    "read": [work(exp(4.0))],
                    "write": [work(lognormal(10.0, 1.2))],
                },
            },
        },
        "workload": {"shoppers": open_flow("web.handle", 100.0)},
    }


def three_tier_closed() -> dict[str, Any]:
    return {
        "services": {
            "web": service(8, handle=[work(exp(0.5)), call("app.page")]),
            "app": service(
                3,
                2,
                page=[work(gamma(2.0, 0.7)), call("db.query"), work(exp(0.5))],
                _balancing="shared",
            ),
            "db": store(2, lognormal(6.0, 1.0)),
        },
        "workload": {
            "users": {
                "entry": "web.handle",
                "clients": 10,
                "think_time": {"exponential": "50ms"},
            }
        },
    }


def forwarding_chain() -> dict[str, Any]:
    return {
        "services": {
            "edge": service(32, forward=[work(exp(1.0)), call("auth.forward")]),
            "auth": service(16, forward=[work(lognormal(2.0, 1.2)), call("orders.forward")]),
            "orders": service(
                6, 2, forward=[work(exp(2.0)), call("pricing.forward")], _balancing="shared"
            ),
            "pricing": service(8, forward=[work(gamma(3.0, 0.5)), call("ledger.write")]),
            "ledger": store(2, exp(8.0), "write"),
        },
        "workload": {"requests": open_flow("edge.forward", 100.0)},
    }


def async_publish() -> dict[str, Any]:
    return {
        "services": {
            "front": service(
                4,
                accept=[work(exp(1.0)), publish("orders"), publish("events")],
                _balancing="shared",
            ),
            "fulfil": service(1, 2, handle=[work(exp(4.0)), call("stock-db")]),
            "stock-db": store(2, exp(2.0)),
            "analytics": service(1, 1, track=[work(gamma(4.0, 0.6))]),
            "audit": service(1, 3, record=[work(exp(6.0))]),
        },
        "topics": {
            "orders": {
                "type": "queue",
                "delivery_latency": {"constant": "1ms"},
                "subscribers": {"fulfil": {"operation": "handle", "concurrency": 3}},
            },
            "events": {
                "partitions": 6,
                "subscribers": {
                    "analytics": {"operation": "track", "concurrency": 4},
                    "audit": {"operation": "record", "concurrency": 2},
                },
            },
        },
        "workload": {"orders": open_flow("front.accept", 100.0)},
    }


def cache_branch() -> dict[str, Any]:
    return {
        "services": {
            "api": service(
                32,
                get=[
                    work(exp(1.0)),
                    call("cache.get"),
                    branch(
                        (0.8, []),
                        (0.2, [call("db.read"), call("cache.set")]),
                    ),
                ],
            ),
            "cache": {
                "workers": 2,
                "balancing": "shared",
                "operations": {"get": [work(exp(0.3))], "set": [work(exp(0.4))]},
            },
            "db": store(4, lognormal(15.0, 1.0), "read"),
        },
        "workload": {"reads": open_flow("api.get", 100.0)},
    }


def fork_join() -> dict[str, Any]:
    return {
        "services": {
            "api": service(
                48,
                page=[
                    work(exp(1.0)),
                    parallel([call("inventory")], [call("pricing")], [call("reviews")]),
                    work(exp(0.5)),
                ],
            ),
            "inventory": store(1, exp(4.0)),
            "pricing": store(2, lognormal(7.0, 1.0)),
            "reviews": store(1, gamma(3.0, 0.5)),
        },
        "workload": {"pages": open_flow("api.page", 100.0)},
    }


def two_classes() -> dict[str, Any]:
    return {
        "services": {
            "web": service(
                16,
                2,
                browse=[work(exp(1.0)), call("db.read")],
                checkout=[work(exp(2.0)), call("db.read"), call("db.write"), call("db.write")],
                _balancing="shared",
            ),
            "db": {
                "workers": 2,
                "balancing": "shared",
                "operations": {
                    "read": [work(exp(2.0))],
                    "write": [work(lognormal(6.0, 1.3))],
                },
            },
        },
        "workload": {
            "browse": open_flow("web.browse", 300.0),
            "checkout": open_flow("web.checkout", 60.0),
        },
    }


def async_io() -> dict[str, Any]:
    return {
        "services": {
            "gateway": service(
                2, get=[work(exp(1.0)), call("catalog.get"), work(exp(0.5))], _blocking=False
            ),
            "catalog": service(
                2,
                get=[work(gamma(1.5, 0.8)), call("db"), work(exp(1.0)), call("cache")],
                _blocking=False,
            ),
            "db": store(4, exp(6.0)),
            "cache": store(1, exp(0.5)),
        },
        "workload": {"gets": open_flow("gateway.get", 100.0)},
    }


def one_thread_caller() -> dict[str, Any]:
    return {
        "services": {
            "caller": service(1, run=[work(exp(2.0)), call("callee")]),
            "callee": store(1, lognormal(3.0, 1.0), "serve"),
        },
        "workload": {"jobs": open_flow("caller.run", 100.0)},
    }
