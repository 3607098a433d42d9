"""Writes shop_traces.otlp.json: a small, realistic trace file for `archsim import traces`.

A web shop, as an OpenTelemetry collector's file exporter would have written it (OTLP JSON
lines, one batch per service instance): 120 checkout requests over about a minute reach the
`frontend` (2 instances), which reads the product from `catalog`, asks `pricing` and `stock`
at the same time, and places an order with `orders` in 30% of the requests; `orders` writes
to its database (not traced: a CLIENT span only) and publishes `order-placed` to Kafka
(3 partitions), which `payment` consumes in the consumer group `payments`.

Deterministic (seeded): running it again writes the same file.

    python3 scenarios/traces/make_shop_traces.py
    archsim import traces scenarios/traces/shop_traces.otlp.json -o shop.yaml
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

EPOCH = 1_767_225_600.0  # 2026-01-01T00:00:00Z
REQUESTS = 120
RATE = 2.0  # checkouts per second
SERVER, CLIENT, PRODUCER, CONSUMER = 2, 3, 4, 5
Where = tuple[str, str]  # (service, instance)


class Traces:
    """Spans grouped by (service, instance), written as OTLP JSON lines."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.batches: dict[Where, list[dict[str, Any]]] = defaultdict(list)

    def new_id(self, digits: int = 16) -> str:
        return self.rng.bytes(digits // 2).hex()

    def span(
        self,
        where: Where,
        ids: tuple[str, str, str | None],
        name: str,
        kind: int,
        times: tuple[float, float],
        attributes: dict[str, Any] | None = None,
        links: list[tuple[str, str]] | None = None,
    ) -> None:
        """Add a span: `ids` = (trace id, span id, parent span id)."""
        trace, span_id, parent = ids
        span: dict[str, Any] = {"traceId": trace, "spanId": span_id, "name": name, "kind": kind}
        if parent:
            span["parentSpanId"] = parent
        span["startTimeUnixNano"] = str(round(times[0] * 1e9))
        span["endTimeUnixNano"] = str(round(times[1] * 1e9))
        if attributes:
            span["attributes"] = [
                {"key": key, "value": {"intValue" if isinstance(v, int) else "stringValue": str(v)}}
                for key, v in attributes.items()
            ]
        if links:
            span["links"] = [{"traceId": t, "spanId": s} for t, s in links]
        self.batches[where].append(span)

    def lognormal(self, mean: float, cv: float) -> float:
        sigma = np.sqrt(np.log1p(cv**2))
        return float(self.rng.lognormal(np.log(mean) - sigma**2 / 2, sigma))

    def hop(self) -> float:
        """One way on the network."""
        return 0.0002 + float(self.rng.exponential(0.0001))

    def call(
        self,
        caller: Where,
        parent: tuple[str, str],
        start: float,
        callee: Where,
        name: str,
        work: float,
    ) -> float:
        """A CLIENT span and its SERVER child (a leaf); returns the end of the call."""
        trace, parent_id = parent
        there, back = self.hop(), self.hop()
        end = start + there + work + back
        client = self.new_id()
        self.span(caller, (trace, client, parent_id), name, CLIENT, (start, end))
        server_times = (start + there, start + there + work)
        self.span(callee, (trace, self.new_id(), client), name, SERVER, server_times)
        return end

    def lines(self) -> str:
        documents = []
        for (service, instance), spans in sorted(self.batches.items()):
            resource = [
                {"key": "service.name", "value": {"stringValue": service}},
                {"key": "service.instance.id", "value": {"stringValue": instance}},
            ]
            scope = {"scope": {"name": "shop"}, "spans": spans}
            documents.append(
                {"resourceSpans": [{"resource": {"attributes": resource}, "scopeSpans": [scope]}]}
            )
        return "".join(json.dumps(document, separators=(",", ":")) + "\n" for document in documents)


def checkout(traces: Traces, start: float) -> None:
    """One checkout: frontend -> catalog, then pricing || stock, then orders (30%)."""
    rng = traces.rng
    trace, root = traces.new_id(32), traces.new_id()
    front = ("frontend", f"frontend-{rng.integers(2)}")
    own = traces.lognormal(0.002, 0.8)
    t = start + own / 2
    parent = (trace, root)
    t = traces.call(
        front,
        parent,
        t,
        ("catalog", "catalog-0"),
        "GET /products/{id}",
        traces.lognormal(0.006, 0.6),
    )
    pricing = traces.call(
        front, parent, t, ("pricing", "pricing-0"), "quote", traces.lognormal(0.004, 0.5)
    )
    stock = traces.call(
        front,
        parent,
        t + 0.0001,
        ("stock", f"stock-{rng.integers(2)}"),
        "check",
        traces.lognormal(0.003, 0.5),
    )
    t = max(pricing, stock)
    if rng.random() < 0.3:
        t = place_order(traces, front, parent, t)
    traces.span(
        front,
        (trace, root, None),
        "GET /checkout",
        SERVER,
        (start, t + own / 2),
        {"http.route": "/checkout"},
    )


def place_order(traces: Traces, front: Where, parent: tuple[str, str], start: float) -> float:
    """frontend -> orders: its own work, a database write (not traced), a publish."""
    rng = traces.rng
    trace, parent_id = parent
    orders = ("orders", "orders-0")
    client, server = traces.new_id(), traces.new_id()
    begin = start + traces.hop()
    own = float(rng.gamma(4, 0.004 / 4))
    t = begin + own / 2
    db = traces.lognormal(0.003, 0.4)
    traces.span(
        orders,
        (trace, traces.new_id(), server),
        "INSERT orders",
        CLIENT,
        (t, t + db),
        {"db.system": "postgresql"},
    )
    t += db
    partition = int(rng.integers(3))
    topic = {
        "messaging.system": "kafka",
        "messaging.destination.name": "order-placed",
        "messaging.destination.partition.id": partition,
    }
    producer = traces.new_id()
    traces.span(
        orders, (trace, producer, server), "order-placed publish", PRODUCER, (t, t + 0.0002), topic
    )
    consume(traces, (trace, producer), t + 0.002 + float(rng.exponential(0.001)), topic)
    end = t + 0.0002 + own / 2
    traces.span(orders, (trace, server, client), "POST /orders", SERVER, (begin, end))
    back = end + traces.hop()
    traces.span(front, (trace, client, parent_id), "POST /orders", CLIENT, (start, back))
    return back


def consume(traces: Traces, producer: tuple[str, str], start: float, topic: dict[str, Any]) -> None:
    """payment handles the message in a trace of its own, linked to the producer span."""
    work = float(traces.rng.exponential(0.008))
    attributes = {**topic, "messaging.consumer.group.name": "payments"}
    ids = (traces.new_id(32), traces.new_id(), None)
    traces.span(
        ("payment", "payment-0"),
        ids,
        "order-placed process",
        CONSUMER,
        (start, start + work),
        attributes,
        links=[producer],
    )


def main() -> None:
    traces = Traces(seed=16)
    arrivals = EPOCH + np.cumsum(traces.rng.exponential(1 / RATE, REQUESTS))
    for start in arrivals:
        checkout(traces, float(start))
    path = Path(__file__).with_name("shop_traces.otlp.json")
    path.write_text(traces.lines())
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
