"""A realistic call graph of the regression set after TrainTicket (FudanSELab): j4.

About 40 thread-pool services behind a gateway with a deep synchronous fan-out and a
notification queue, at nominal rates.

The builder's docstring is copied into the files' header comments by `--generate`
(`generate.header`): editing it changes the generated scenario files.
"""

from __future__ import annotations

from typing import Any

from .blocks import call, exp, lognormal, open_flow, parallel, publish, service, store, work


def train_ticket() -> dict[str, Any]:
    """TrainTicket (FudanSELab)-like: ~40 Spring Boot services with thread pools behind a
    gateway, MongoDB stores; travel queries dominate (query 60%, query2 12%, login 10%,
    preserve 8%, pay 5%, cancel 3%, route plan 2%) and fan out deeply (ticket info -> basic ->
    station, train, route, price; seats -> orders, config); notifications through a queue."""

    def java(workers: int, **operations: Any) -> dict[str, Any]:
        return service(workers, **operations)

    trip_detail = [call("ticketinfo.query"), call("seat.left")]
    services: dict[str, Any] = {
        "ui-dashboard": service(
            64,
            2,
            query=[work(exp(0.3)), call("travel.query")],
            query2=[work(exp(0.3)), call("travel2.query")],
            login=[work(exp(0.3)), call("auth.login")],
            preserve=[work(exp(0.3)), call("preserve.preserve")],
            pay=[work(exp(0.3)), call("inside-payment.pay")],
            cancel=[work(exp(0.3)), call("cancel.cancel")],
            plan=[work(exp(0.3)), call("route-plan.cheapest")],
        ),
        "auth": java(
            16,
            login=[work(lognormal(2.0, 1.0)), call("verification-code.verify"), call("user.get")],
        ),
        "verification-code": java(8, verify=[work(exp(0.5))]),
        "user": java(16, get=[work(exp(0.5)), call("user-mongo.find")]),
        "travel": java(
            32,
            query=[
                work(exp(1.0)),
                call("route.by-stations"),
                *trip_detail,
                call("travel-mongo.find"),
            ],
            detail=[work(exp(0.6)), *trip_detail],
        ),
        "travel2": java(
            16,
            query=[
                work(exp(1.0)),
                call("route.by-stations"),
                *trip_detail,
                call("travel-mongo.find"),
            ],
        ),
        "ticketinfo": java(32, query=[work(exp(0.3)), call("basic.query")]),
        "basic": java(
            32,
            query=[
                work(exp(0.5)),
                parallel(
                    [call("station.id"), call("station.id")],
                    [call("train.get")],
                    [call("route.get")],
                    [call("price.get")],
                ),
            ],
        ),
        "station": java(16, id=[work(exp(0.3)), call("station-mongo.find", 0.2)]),
        "train": java(8, get=[work(exp(0.4))]),
        "route": java(
            16,
            get=[work(exp(0.4)), call("route-mongo.find", 0.3)],
            **{"by-stations": [work(exp(0.8)), call("route-mongo.find")]},
        ),
        "price": java(8, get=[work(exp(0.4)), call("price-mongo.find", 0.3)]),
        "seat": java(
            32,
            left=[
                work(exp(0.6)),
                call("order.sold"),
                call("order-other.sold", 0.3),
                call("config.get"),
            ],
            distribute=[work(exp(0.8)), call("order.sold"), call("config.get")],
        ),
        "config": java(8, get=[work(exp(0.3))]),
        "order": java(
            32,
            sold=[work(exp(0.5)), call("order-mongo.find")],
            create=[work(exp(0.8)), call("order-mongo.insert")],
            get=[work(exp(0.4)), call("order-mongo.find")],
            modify=[work(exp(0.5)), call("order-mongo.insert")],
            security=[work(exp(0.4)), call("order-mongo.find")],
        ),
        "order-other": java(
            16,
            sold=[work(exp(0.5)), call("order-other-mongo.find")],
            security=[work(exp(0.4)), call("order-other-mongo.find")],
        ),
        "preserve": java(
            16,
            preserve=[
                work(lognormal(1.5, 1.0)),
                call("security.check"),
                call("contacts.get"),
                call("travel.detail"),
                call("seat.distribute"),
                call("order.create"),
                call("assurance.create", 0.5),
                call("food.create", 0.5),
                call("consign.create", 0.3),
                call("user.get"),
                publish("notifications"),
            ],
        ),
        "security": java(
            8,
            check=[
                work(exp(0.5)),
                parallel([call("order.security")], [call("order-other.security")]),
            ],
        ),
        "contacts": java(8, get=[work(exp(0.4)), call("contacts-mongo.find")]),
        "assurance": java(8, create=[work(exp(0.5)), call("assurance-mongo.insert")]),
        "food": java(8, create=[work(exp(0.6)), call("food-map.get"), call("food-mongo.insert")]),
        "food-map": java(8, get=[work(exp(0.5))]),
        "consign": java(
            8, create=[work(exp(0.5)), call("consign-price.get"), call("consign-mongo.insert")]
        ),
        "consign-price": java(4, get=[work(exp(0.3))]),
        "inside-payment": java(
            16,
            pay=[work(exp(0.6)), call("order.get"), call("payment.pay"), call("order.modify")],
            drawback=[work(exp(0.5)), call("payment.pay")],
        ),
        "payment": java(8, pay=[work(exp(0.5)), call("payment-mongo.insert")]),
        "cancel": java(
            8,
            cancel=[
                work(exp(0.6)),
                call("order.get"),
                call("inside-payment.drawback"),
                call("order.modify"),
                publish("notifications"),
            ],
        ),
        "route-plan": java(
            8, cheapest=[work(exp(1.0)), parallel([call("travel.query")], [call("travel2.query")])]
        ),
        "notification": service(1, send=[work(exp(1.0)), call("email-api.send")]),
        "email-api": {"workers": "unlimited", "operations": {"send": [{"delay": exp(30.0)}]}},
        "user-mongo": store(2, lognormal(2.0, 1.0), "find"),
        "travel-mongo": store(6, lognormal(2.5, 1.0), "find"),
        "route-mongo": store(6, lognormal(2.0, 1.0), "find"),
        "station-mongo": store(2, lognormal(1.5, 1.0), "find"),
        "price-mongo": store(2, lognormal(1.5, 1.0), "find"),
        "order-mongo": {
            "workers": 6,
            "balancing": "shared",
            "operations": {
                "find": [work(lognormal(2.0, 1.0))],
                "insert": [work(lognormal(3.5, 1.2))],
            },
        },
        "order-other-mongo": store(2, lognormal(2.0, 1.0), "find"),
        "contacts-mongo": store(1, lognormal(1.5, 1.0), "find"),
        "assurance-mongo": store(1, lognormal(2.0, 1.0), "insert"),
        "food-mongo": store(1, lognormal(2.0, 1.0), "insert"),
        "consign-mongo": store(1, lognormal(2.0, 1.0), "insert"),
        "payment-mongo": store(1, lognormal(2.5, 1.0), "insert"),
    }
    return {
        "services": services,
        "topics": {
            "notifications": {
                "type": "queue",
                "subscribers": {"notification": {"operation": "send", "concurrency": 12}},
            }
        },
        "workload": {
            "query": open_flow("ui-dashboard.query", 60.0),
            "query2": open_flow("ui-dashboard.query2", 12.0),
            "login": open_flow("ui-dashboard.login", 10.0),
            "preserve": open_flow("ui-dashboard.preserve", 8.0),
            "pay": open_flow("ui-dashboard.pay", 5.0),
            "cancel": open_flow("ui-dashboard.cancel", 3.0),
            "plan": open_flow("ui-dashboard.plan", 2.0),
        },
    }
