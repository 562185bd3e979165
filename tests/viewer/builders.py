"""Hand-built OTLP export requests for store and report tests (exact times, ids and attributes)."""

from __future__ import annotations

import time

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from llmtel.receiver import RequestMeta

META = RequestMeta(transport="http", encoding="protobuf", compression=None, headers={}, received_at=0.0)
NOW_NS = time.time_ns()
MS = 1_000_000


def kv(key: str, value: object) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


def span(trace: int, span_id: int, name: str, start_ms: float, end_ms: float, parent: int | None = None,
         error: bool = False, **attrs: object) -> Span:
    """A span of trace number `trace`, times in ms from NOW_NS; ``a__b=1`` becomes attribute ``a.b``."""
    return Span(
        trace_id=trace.to_bytes(16, "big"),
        span_id=span_id.to_bytes(8, "big"),
        parent_span_id=parent.to_bytes(8, "big") if parent else b"",
        name=name,
        start_time_unix_nano=NOW_NS + int(start_ms * MS),
        end_time_unix_nano=NOW_NS + int(end_ms * MS),
        attributes=[kv(k.replace("__", "."), v) for k, v in attrs.items()],
        status=Status(code=2 if error else 0),
    )


def request(*spans: Span, service: str = "svc") -> ExportTraceServiceRequest:
    out = ExportTraceServiceRequest()
    resource_spans = out.resource_spans.add()
    resource_spans.resource.attributes.append(kv("service.name", service))
    resource_spans.scope_spans.add().spans.extend(spans)
    return out
