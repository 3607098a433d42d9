"""The OpenTelemetry conventions archsim reads (`archsim import traces`) and writes
(`archsim run --trace-out`), in one place so that a simulation's traces import back.

Sources: OpenTelemetry protocol (OTLP) JSON encoding, `opentelemetry-proto`
(`trace/v1/trace.proto`: resourceSpans / scopeSpans / spans, `kind` as the `SpanKind` enum
number, ids as lowercase hex, times as decimal strings of Unix nanoseconds); semantic
conventions for resources (`service.name`, `service.instance.id`) and messaging spans
(`messaging.system`, `messaging.destination.name`, `messaging.operation.type`,
`messaging.consumer.group.name`; the Kafka-specific `messaging.kafka.consumer.group` of older
versions is read too). W3C Trace Context: a trace id is 16 bytes (32 hex digits), a span id
8 bytes (16 hex digits), neither all zeros.
"""

from __future__ import annotations

from enum import IntEnum


class SpanKind(IntEnum):
    """OTLP `Span.SpanKind` numbers."""

    UNSPECIFIED = 0
    INTERNAL = 1
    SERVER = 2
    CLIENT = 3
    PRODUCER = 4
    CONSUMER = 5


SERVICE_NAME = "service.name"
SERVICE_INSTANCE_ID = "service.instance.id"

MESSAGING_SYSTEM = "messaging.system"
MESSAGING_DESTINATION = "messaging.destination.name"
MESSAGING_OPERATION_TYPE = "messaging.operation.type"  # "publish", "process", ...
MESSAGING_CONSUMER_GROUP = "messaging.consumer.group.name"
MESSAGING_KAFKA_CONSUMER_GROUP = "messaging.kafka.consumer.group"  # older conventions
MESSAGING_PARTITION = "messaging.destination.partition.id"

ARCHSIM_FLOW = "archsim.flow"
"""archsim's own attribute on a root span: the flow a simulated request belongs to."""
ARCHSIM_OPERATION = "archsim.operation"
"""archsim's own attribute on SERVER/CONSUMER spans: the operation (or handler) name."""
ARCHSIM_OUTCOME = "archsim.outcome"
"""archsim's own attribute on a failed span: why (timeout, error, dropped, ...)."""
ARCHSIM_WAIT = "archsim.wait"
"""archsim's own attribute on a SERVER span: seconds the request waited in the service's
waiting room before a worker took it (the gap between the CLIENT span's start and the
SERVER span's start; archsim's calls take no network time)."""
ARCHSIM_ATTEMPT = "archsim.attempt"
"""archsim's own attribute: the attempt number (1, 2, ...) of a CLIENT span of a call with a
timeout, retries or a resilience pattern, and of every CONSUMER span (message retries)."""
ARCHSIM_UNFINISHED = "archsim.unfinished"
"""archsim's own attribute (true) on a span still running when the simulation ended (its end
is the end of the run, not of the work), and on the root span of every request whose work had
not all finished then: a trace is complete when its root span does not have it."""
ARCHSIM_SAMPLE = "archsim.sample"
"""archsim's own attribute on a root span: the probability with which requests were traced
(`--trace-sample`); the traced requests stand for 1 / sample requests each (rates and counts
read from the trace are that many times too small)."""
ARCHSIM_CLIENT_PREFIX = "client:"
"""The service of archsim's root span of a request: ``client:FLOW``, the flow's client
(outside the architecture; a scenario name cannot hold a colon)."""
ARCHSIM_MESSAGING_SYSTEMS = {"log": "kafka", "queue": "rabbitmq"}
"""The `messaging.system` archsim writes for a topic of each type (`QUEUE_SYSTEMS` reads
"rabbitmq" back as a queue topic, "kafka" as a log)."""

TRACE_ID_HEX_DIGITS = 32
SPAN_ID_HEX_DIGITS = 16

# Read by `archsim import traces` besides the names above (older conventions, other tracers).
MESSAGING_DESTINATION_OLD = "messaging.destination"
"""The destination attribute of semantic conventions before 1.17 (a name, as the new one)."""
KAFKA_TOPIC_TAG = "kafka.topic"
"""Brave's (Zipkin) and OpenTracing's tag for the topic of a Kafka span."""
PEER_SERVICE = "peer.service"
"""The logical name of the remote service of a CLIENT span (an uninstrumented dependency)."""
SERVER_ADDRESS = "server.address"
DB_SYSTEM = "db.system"
QUEUE_SYSTEMS = frozenset({"rabbitmq", "activemq", "aws_sqs", "aws.sqs", "jms", "servicebus"})
"""`messaging.system` values of brokers with competing consumers: imported as `type: queue`
topics (others, Kafka, Pulsar, Kinesis, are partitioned logs)."""
JAEGER_SPAN_KIND = "span.kind"
"""Jaeger's and OpenTracing's tag holding the span kind ("server", "client", ...)."""
OTEL_STATUS_CODE_TAG = "otel.status_code"
"""The tag OTLP-to-Jaeger/Zipkin exporters write for a span's status ("OK", "ERROR")."""
INSTANCE_TAGS = ("service.instance.id", "host.name", "hostname", "ip")
"""Jaeger process tags naming a service's instance, in order of preference."""
