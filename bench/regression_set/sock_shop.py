"""A realistic call graph of the regression set after Weaveworks' Sock Shop: j3.

An edge router, a Node.js front end (async I/O), Java and Go services with their stores, a
queue topic (RabbitMQ) and a log topic (Zipkin spans), at nominal rates.

The builder's docstring is copied into the files' header comments by `--generate`
(`generate.header`): editing it changes the generated scenario files.
"""

from __future__ import annotations

from typing import Any

from .blocks import call, exp, lognormal, open_flow, parallel, publish, service, store, work


def sock_shop() -> dict[str, Any]:
    """Weaveworks' Sock Shop: an edge router, a Node.js front end (async I/O), Java (thread
    pools) and Go services, MySQL/MongoDB/Redis stores, RabbitMQ (a queue topic) to the
    queue master and trace spans to Zipkin (a log topic); browse 50%, item 25%, cart 15%,
    login 6%, checkout 4%."""
    services: dict[str, Any] = {
        "edge-router": service(
            64,
            route=[work(exp(0.2)), call("front-end.page")],
            item=[work(exp(0.2)), call("front-end.item")],
            cart=[work(exp(0.2)), call("front-end.cart")],
            login=[work(exp(0.2)), call("front-end.login")],
            checkout=[work(exp(0.2)), call("front-end.checkout")],
        ),
        "front-end": service(
            2,
            2,
            page=[
                work(exp(0.8)),
                call("session-db.get"),
                call("catalogue.list"),
                call("image-store.get"),
                publish("spans"),
            ],
            item=[work(exp(0.6)), call("session-db.get"), call("catalogue.get"), publish("spans")],
            cart=[
                work(exp(0.6)),
                call("session-db.get"),
                call("carts.add"),
                call("carts.get"),
                publish("spans"),
            ],
            login=[
                work(exp(0.8)),
                call("user.login"),
                call("session-db.set"),
                publish("spans"),
            ],
            checkout=[
                work(exp(1.0)),
                call("session-db.get"),
                call("orders.create"),
                publish("spans"),
            ],
            _blocking=False,
            _balancing="shared",
        ),
        "session-db": {
            "workers": 2,
            "balancing": "shared",
            "operations": {"get": [work(exp(0.2))], "set": [work(exp(0.25))]},
        },
        "catalogue": service(
            4,
            list=[work(exp(0.8)), call("catalogue-db.select")],
            get=[work(exp(0.5)), call("catalogue-db.get")],
            _blocking=False,
        ),
        "catalogue-db": {
            "workers": 4,
            "balancing": "shared",
            "operations": {
                "select": [work(lognormal(3.0, 0.8))],
                "get": [work(lognormal(1.5, 0.8))],
            },
        },
        "image-store": {"workers": "unlimited", "operations": {"get": [{"delay": exp(2.0)}]}},
        "carts": service(
            20,
            add=[work(lognormal(2.0, 1.0)), call("catalogue.get"), call("carts-db.write")],
            get=[work(exp(1.0)), call("carts-db.read")],
            delete=[work(exp(0.8)), call("carts-db.write")],
        ),
        "carts-db": {
            "workers": 4,
            "balancing": "shared",
            "operations": {
                "read": [work(lognormal(2.0, 1.0))],
                "write": [work(lognormal(3.5, 1.0))],
            },
        },
        "user": service(
            4,
            login=[work(exp(1.5)), call("user-db.find")],
            customer=[work(exp(0.5)), call("user-db.find")],
            address=[work(exp(0.5)), call("user-db.find")],
            card=[work(exp(0.5)), call("user-db.find")],
            _blocking=False,
        ),
        "user-db": store(4, lognormal(2.0, 1.0), "find"),
        "orders": service(
            20,
            create=[
                work(lognormal(2.0, 1.0)),
                parallel(
                    [call("user.customer")],
                    [call("user.address")],
                    [call("user.card")],
                    [call("carts.get")],
                ),
                call("payment.authorise"),
                call("shipping.create"),
                call("orders-db.save"),
                call("carts.delete"),
            ],
        ),
        "orders-db": store(2, lognormal(4.0, 1.0), "save"),
        "payment": service(
            4, authorise=[work(exp(0.5)), call("payment-gateway.charge")], _blocking=False
        ),
        "payment-gateway": {
            "workers": "unlimited",
            "operations": {"charge": [{"delay": lognormal(40.0, 0.5)}]},
        },
        "shipping": service(
            10, create=[work(exp(1.0)), call("shipping-db.save"), publish("shipping-task")]
        ),
        "shipping-db": store(2, lognormal(2.0, 1.0), "save"),
        "queue-master": service(1, ship=[work(exp(2.0)), call("warehouse-api.pick")]),
        "warehouse-api": {
            "workers": "unlimited",
            "operations": {"pick": [{"delay": exp(20.0)}]},
        },
        "zipkin": service(1, 2, collect=[work(exp(0.3)), call("zipkin-db.write", 0.25)]),
        "zipkin-db": store(2, exp(1.0), "write"),
    }
    return {
        "services": services,
        "topics": {
            "shipping-task": {
                "type": "queue",
                "subscribers": {"queue-master": {"operation": "ship", "concurrency": 4}},
            },
            "spans": {
                "partitions": 4,
                "subscribers": {"zipkin": {"operation": "collect", "concurrency": 2}},
            },
        },
        "workload": {
            "browse": open_flow("edge-router.route", 50.0),
            "item": open_flow("edge-router.item", 25.0),
            "cart": open_flow("edge-router.cart", 15.0),
            "login": open_flow("edge-router.login", 6.0),
            "checkout": open_flow("edge-router.checkout", 4.0),
        },
    }
