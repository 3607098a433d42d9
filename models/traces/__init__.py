"""Distributed traces and architecture: the OpenTelemetry conventions archsim reads and writes
(`conventions`), reading OTLP / Jaeger / Zipkin JSON into one span model, building a scenario
from spans, and AsyncAPI documents (docs/traces.md)."""
