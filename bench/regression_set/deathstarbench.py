"""Realistic call graphs of the regression set after DeathStarBench: j1, j2.

j1, the social network (Thrift thread pools, caches and stores, a fan-out queue); j2, the
hotel reservation (Go services with async I/O). Each builder returns the services, topics
and workload at nominal rates.

The builders' docstrings are copied into the files' header comments by `--generate`
(`generate.header`): editing one changes the generated scenario files.
"""

from __future__ import annotations

from typing import Any

from .blocks import branch, call, exp, lognormal, open_flow, parallel, publish, service, store, work


def social_network() -> dict[str, Any]:
    """DeathStarBench's social network: nginx, 12 logic services (Thrift thread pools),
    memcached/redis caches and MongoDB stores; home timeline 60%, user timeline 30%,
    compose 10%; the home-timeline fan-out on write goes through a queue (RabbitMQ)."""
    mc = exp(0.3)
    services: dict[str, Any] = {
        "nginx": service(
            32,
            2,
            read_home=[work(exp(0.5)), call("home-timeline.read")],
            read_user=[work(exp(0.5)), call("user-timeline.read")],
            compose=[work(exp(0.8)), call("compose-post.compose")],
        ),
        "compose-post": service(
            16,
            compose=[
                work(exp(1.0)),
                parallel(
                    [call("unique-id")],
                    [call("text.process")],
                    [call("media.process")],
                    [call("user.creator")],
                ),
                call("post-storage.store"),
                call("user-timeline.write"),
                publish("home-timeline-fanout"),
            ],
        ),
        "unique-id": service(4, id=[work(exp(0.3))]),
        "text": service(
            8,
            process=[
                work(lognormal(1.5, 1.0)),
                parallel([call("user-mention.mention")], [call("url-shorten.shorten")]),
            ],
        ),
        "user-mention": service(
            4,
            mention=[
                work(exp(0.5)),
                call("user-memcached.get"),
                branch((0.9, []), (0.1, [call("user-mongodb.find")])),
            ],
        ),
        "url-shorten": service(4, shorten=[work(exp(0.6)), call("url-shorten-mongodb.insert")]),
        "media": service(4, process=[work(exp(0.4)), call("media-mongodb.insert", 0.3)]),
        "user": service(
            8,
            creator=[
                work(exp(0.4)),
                call("user-memcached.get"),
                branch((0.95, []), (0.05, [call("user-mongodb.find")])),
            ],
        ),
        "post-storage": service(
            16,
            store=[work(exp(0.5)), call("post-storage-mongodb.insert")],
            read=[
                work(lognormal(0.8, 1.0)),
                call("post-storage-memcached.get"),
                branch(
                    (0.85, []),
                    (0.15, [call("post-storage-mongodb.find"), call("post-storage-memcached.set")]),
                ),
            ],
        ),
        "user-timeline": service(
            8,
            read=[
                work(exp(0.6)),
                call("user-timeline-redis.get"),
                branch((0.8, []), (0.2, [call("user-timeline-mongodb.find")])),
                call("post-storage.read"),
            ],
            write=[
                work(exp(0.4)),
                call("user-timeline-mongodb.insert"),
                call("user-timeline-redis.update"),
            ],
        ),
        "home-timeline": service(
            16,
            read=[work(exp(0.6)), call("home-timeline-redis.get"), call("post-storage.read")],
        ),
        "social-graph": service(
            8,
            followers=[
                work(exp(0.5)),
                call("social-graph-redis.get"),
                branch((0.9, []), (0.1, [call("social-graph-mongodb.find")])),
            ],
        ),
        "write-home-timeline": service(
            1,
            fanout=[
                work(exp(0.5)),
                call("social-graph.followers"),
                call("home-timeline-redis.update"),
            ],
        ),
        "user-memcached": {"workers": 4, "balancing": "shared", "operations": {"get": [work(mc)]}},
        "post-storage-memcached": {
            "workers": 4,
            "balancing": "shared",
            "operations": {"get": [work(exp(0.4))], "set": [work(exp(0.3))]},
        },
        "user-timeline-redis": {
            "workers": 2,
            "operations": {"get": [work(exp(0.4))], "update": [work(exp(0.3))]},
        },
        "home-timeline-redis": {
            "workers": 4,
            "balancing": "shared",
            "operations": {"get": [work(exp(0.5))], "update": [work(exp(0.3))]},
        },
        "social-graph-redis": {"workers": 2, "operations": {"get": [work(exp(0.4))]}},
        "user-mongodb": store(4, lognormal(3.0, 1.0), "find"),
        "url-shorten-mongodb": store(2, lognormal(2.0, 1.0), "insert"),
        "media-mongodb": store(2, lognormal(3.0, 1.0), "insert"),
        "post-storage-mongodb": {
            "workers": 8,
            "balancing": "shared",
            "operations": {
                "insert": [work(lognormal(3.0, 1.2))],
                "find": [work(lognormal(4.0, 1.2))],
            },
        },
        "user-timeline-mongodb": {
            "workers": 4,
            "balancing": "shared",
            "operations": {
                "insert": [work(lognormal(2.5, 1.0))],
                "find": [work(lognormal(4.0, 1.0))],
            },
        },
        "social-graph-mongodb": store(2, lognormal(3.0, 1.0), "find"),
    }
    return {
        "services": services,
        "topics": {
            "home-timeline-fanout": {
                "type": "queue",
                "subscribers": {"write-home-timeline": {"operation": "fanout", "concurrency": 4}},
            }
        },
        "workload": {
            "read-home-timeline": open_flow("nginx.read_home", 60.0),
            "read-user-timeline": open_flow("nginx.read_user", 30.0),
            "compose-post": open_flow("nginx.compose", 10.0),
        },
    }


def hotel_reservation() -> dict[str, Any]:
    """DeathStarBench's hotel reservation: Go gRPC services (async I/O: `blocking_calls:
    false`, a few cores each), memcached and MongoDB; search 60%, recommend 35%, login 3%,
    reserve 2%."""

    def go(cores: int, **operations: Any) -> dict[str, Any]:
        return service(cores, _blocking=False, _balancing="shared", **operations)

    services: dict[str, Any] = {
        "frontend": service(
            4,
            2,
            search=[
                work(exp(0.4)),
                call("search.nearby"),
                call("reservation.check"),
                call("profile.get"),
                call("attractions.near", 0.3),
                work(exp(0.3)),
            ],
            recommend=[work(exp(0.4)), call("recommendation.get"), call("profile.get")],
            login=[work(exp(0.3)), call("user.check")],
            reserve=[work(exp(0.4)), call("user.check"), call("reservation.make")],
            _blocking=False,
            _balancing="shared",
        ),
        "search": go(2, nearby=[work(exp(0.5)), call("geo.near"), call("rate.get")]),
        "geo": go(2, near=[work(exp(0.8)), call("mongodb-geo.find", 0.05)]),
        "rate": go(
            2,
            get=[
                work(exp(0.5)),
                call("memcached-rate.get"),
                branch((0.9, []), (0.1, [call("mongodb-rate.find"), call("memcached-rate.set")])),
            ],
        ),
        "profile": go(
            2,
            get=[
                work(exp(0.6)),
                call("memcached-profile.get"),
                branch(
                    (0.85, []),
                    (0.15, [call("mongodb-profile.find"), call("memcached-profile.set")]),
                ),
            ],
        ),
        "recommendation": go(
            2, get=[work(lognormal(1.2, 1.0)), call("mongodb-recommendation.find", 0.1)]
        ),
        "user": go(1, check=[work(exp(0.5)), call("mongodb-user.find")]),
        "reservation": go(
            2,
            check=[
                work(exp(0.5)),
                call("memcached-reserve.get"),
                branch((0.8, []), (0.2, [call("mongodb-reservation.find")])),
            ],
            make=[
                work(exp(0.8)),
                call("mongodb-reservation.find"),
                call("mongodb-reservation.insert"),
                call("memcached-reserve.set"),
            ],
        ),
        "attractions": go(1, near=[work(exp(0.6)), call("mongodb-attractions.find")]),
        "review": go(
            1, get=[work(exp(0.5)), call("memcached-review.get"), call("mongodb-review.find", 0.2)]
        ),
        "memcached-rate": {
            "workers": 2,
            "balancing": "shared",
            "operations": {"get": [work(exp(0.3))], "set": [work(exp(0.3))]},
        },
        "memcached-profile": {
            "workers": 2,
            "balancing": "shared",
            "operations": {"get": [work(exp(0.35))], "set": [work(exp(0.3))]},
        },
        "memcached-reserve": {
            "workers": 2,
            "balancing": "shared",
            "operations": {"get": [work(exp(0.3))], "set": [work(exp(0.3))]},
        },
        "memcached-review": store(1, exp(0.3), "get"),
        "mongodb-geo": store(2, lognormal(3.0, 1.0), "find"),
        "mongodb-rate": store(2, lognormal(3.0, 1.0), "find"),
        "mongodb-profile": store(4, lognormal(3.5, 1.0), "find"),
        "mongodb-recommendation": store(2, lognormal(4.0, 1.0), "find"),
        "mongodb-user": store(2, lognormal(2.0, 1.0), "find"),
        "mongodb-reservation": {
            "workers": 4,
            "balancing": "shared",
            "operations": {
                "find": [work(lognormal(3.0, 1.0))],
                "insert": [work(lognormal(5.0, 1.2))],
            },
        },
        "mongodb-attractions": store(3, lognormal(3.0, 1.0), "find"),
        "mongodb-review": store(1, lognormal(3.0, 1.0), "find"),
    }
    services["frontend"]["operations"]["recommend"].append(call("review.get", 0.5))
    return {
        "services": services,
        "workload": {
            "search": open_flow("frontend.search", 60.0),
            "recommend": open_flow("frontend.recommend", 35.0),
            "login": open_flow("frontend.login", 3.0),
            "reserve": open_flow("frontend.reserve", 2.0),
        },
    }
