"""Where received OTLP requests go: the `Sink` protocol and `MemoryStore`, which flattens requests into
small records (spans, log records, metric points) that tests can assert on without walking protobuf."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol, Union, cast, runtime_checkable

from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    ExponentialHistogramDataPoint,
    HistogramDataPoint,
    Metric,
    NumberDataPoint,
    SummaryDataPoint,
)

Signal = Literal["traces", "logs", "metrics"]
Transport = Literal["grpc", "http"]
Encoding = Literal["protobuf", "json"]
Compression = Literal["gzip", "deflate"]
MetricKind = Literal["sum", "gauge", "histogram", "exponential_histogram", "summary"]

PythonValue = Union[
    str, bool, int, float, bytes, None, tuple["PythonValue", ...], dict[str, "PythonValue"]
]
"""An OTLP `AnyValue` as plain Python: arrays become tuples, key-value lists become dicts."""

Attributes = dict[str, PythonValue]


@dataclass(frozen=True, slots=True)
class RequestMeta:
    """How one export request reached the receiver (transport, encoding, compression, headers)."""

    transport: Transport
    encoding: Encoding
    compression: Compression | None
    """HTTP ``Content-Encoding``; always None for gRPC, where grpcio hides the message compression."""
    headers: Mapping[str, str]
    """Lower-cased HTTP headers or gRPC metadata; binary (``-bin``) metadata is base64, as on the wire."""
    received_at: float
    """`time.time()` when the request was read."""


@runtime_checkable
class Sink(Protocol):
    """Consumer of decoded export requests; the receiver calls `accept` once per accepted request."""

    def accept(self, signal: Signal, request: Message, meta: RequestMeta) -> None:
        """Take one `Export*ServiceRequest`. Called from server threads, possibly concurrently."""
        ...


@dataclass(frozen=True, slots=True)
class ReceivedSpan:
    """One span as received, with ids as lower-case hex and attributes as plain Python values."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: int
    start_ns: int
    end_ns: int
    attributes: Attributes
    events: tuple[tuple[str, Attributes], ...]
    links: tuple[tuple[str, str, Attributes], ...]
    """(trace_id, span_id, attributes) per link."""
    status_code: int
    status_message: str
    resource: Attributes
    scope_name: str
    scope_version: str


@dataclass(frozen=True, slots=True)
class ReceivedLog:
    """One log record as received; `trace_id`/`span_id` are hex, or None when absent (all zero)."""

    body: PythonValue
    severity_number: int
    severity_text: str
    attributes: Attributes
    trace_id: str | None
    span_id: str | None
    event_name: str
    time_ns: int
    observed_time_ns: int
    resource: Attributes
    scope_name: str


@dataclass(frozen=True, slots=True)
class ReceivedMetricPoint:
    """One data point of one metric as received.

    `value` is set for sums and gauges; `count`/`sum` for histograms and summaries, plus
    `bucket_counts`/`explicit_bounds` for explicit-bucket histograms.
    """

    name: str
    description: str
    unit: str
    kind: MetricKind
    attributes: Attributes
    value: int | float | None
    count: int | None
    sum: float | None
    bucket_counts: tuple[int, ...]
    explicit_bounds: tuple[float, ...]
    temporality: int
    """`AggregationTemporality` as in the proto (1 delta, 2 cumulative); 0 for gauges and summaries."""
    is_monotonic: bool | None
    """Set for sums only."""
    resource: Attributes
    scope_name: str
    start_time_ns: int
    time_ns: int


def any_value_to_python(value: AnyValue) -> PythonValue:
    """Convert an OTLP `AnyValue` to str/bool/int/float/bytes, a tuple (array) or a dict (kvlist)."""
    which = value.WhichOneof("value")
    if which == "string_value":
        return value.string_value
    if which == "bool_value":
        return value.bool_value
    if which == "int_value":
        return value.int_value
    if which == "double_value":
        return value.double_value
    if which == "bytes_value":
        return value.bytes_value
    if which == "array_value":
        return tuple(any_value_to_python(item) for item in value.array_value.values)
    if which == "kvlist_value":
        return attributes_to_dict(value.kvlist_value.values)
    # Unset, or a dictionary index (profiles only) that cannot be resolved without the dictionary.
    return None


def attributes_to_dict(attributes: Iterable[KeyValue]) -> Attributes:
    """Convert repeated OTLP `KeyValue`s to a dict; a repeated key keeps its last value."""
    return {kv.key: any_value_to_python(kv.value) for kv in attributes}


def _hex_id(raw: bytes) -> str | None:
    """Hex form of a trace or span id; None when unset or all zero (the OTLP "invalid id")."""
    if not raw or not any(raw):
        return None
    return raw.hex()


def _flatten_spans(request: ExportTraceServiceRequest) -> list[ReceivedSpan]:
    out: list[ReceivedSpan] = []
    for resource_spans in request.resource_spans:
        resource = attributes_to_dict(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            scope: InstrumentationScope = scope_spans.scope
            for span in scope_spans.spans:
                out.append(
                    ReceivedSpan(
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=_hex_id(span.parent_span_id),
                        name=span.name,
                        kind=span.kind,
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                        attributes=attributes_to_dict(span.attributes),
                        events=tuple((e.name, attributes_to_dict(e.attributes)) for e in span.events),
                        links=tuple(
                            (link.trace_id.hex(), link.span_id.hex(), attributes_to_dict(link.attributes))
                            for link in span.links
                        ),
                        status_code=span.status.code,
                        status_message=span.status.message,
                        resource=resource,
                        scope_name=scope.name,
                        scope_version=scope.version,
                    )
                )
    return out


def _flatten_logs(request: ExportLogsServiceRequest) -> list[ReceivedLog]:
    out: list[ReceivedLog] = []
    for resource_logs in request.resource_logs:
        resource = attributes_to_dict(resource_logs.resource.attributes)
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                out.append(
                    ReceivedLog(
                        body=any_value_to_python(record.body),
                        severity_number=record.severity_number,
                        severity_text=record.severity_text,
                        attributes=attributes_to_dict(record.attributes),
                        trace_id=_hex_id(record.trace_id),
                        span_id=_hex_id(record.span_id),
                        # `event_name` only exists in newer opentelemetry-proto releases.
                        event_name=getattr(record, "event_name", ""),
                        time_ns=record.time_unix_nano,
                        observed_time_ns=record.observed_time_unix_nano,
                        resource=resource,
                        scope_name=scope_logs.scope.name,
                    )
                )
    return out


def _flatten_metric(
    metric: Metric, resource: Attributes, scope_name: str
) -> list[ReceivedMetricPoint]:
    which = metric.WhichOneof("data")
    if which is None:
        return []
    kind = cast(MetricKind, which)  # the oneof's member names are exactly the MetricKind literals

    def point(
        dp: NumberDataPoint | HistogramDataPoint | ExponentialHistogramDataPoint | SummaryDataPoint,
        *,
        value: int | float | None = None,
        count: int | None = None,
        sum_: float | None = None,
        bucket_counts: tuple[int, ...] = (),
        explicit_bounds: tuple[float, ...] = (),
        temporality: int = 0,
        is_monotonic: bool | None = None,
    ) -> ReceivedMetricPoint:
        return ReceivedMetricPoint(
            name=metric.name,
            description=metric.description,
            unit=metric.unit,
            kind=kind,
            attributes=attributes_to_dict(dp.attributes),
            value=value,
            count=count,
            sum=sum_,
            bucket_counts=bucket_counts,
            explicit_bounds=explicit_bounds,
            temporality=temporality,
            is_monotonic=is_monotonic,
            resource=resource,
            scope_name=scope_name,
            start_time_ns=dp.start_time_unix_nano,
            time_ns=dp.time_unix_nano,
        )

    if kind in ("sum", "gauge"):
        data = metric.sum if kind == "sum" else metric.gauge
        temporality = metric.sum.aggregation_temporality if kind == "sum" else 0
        monotonic = metric.sum.is_monotonic if kind == "sum" else None
        return [
            point(
                dp,
                value=dp.as_int if dp.WhichOneof("value") == "as_int" else dp.as_double,
                temporality=temporality,
                is_monotonic=monotonic,
            )
            for dp in data.data_points
        ]
    if kind == "histogram":
        return [
            point(
                dp,
                count=dp.count,
                sum_=dp.sum if dp.HasField("sum") else None,
                bucket_counts=tuple(dp.bucket_counts),
                explicit_bounds=tuple(dp.explicit_bounds),
                temporality=metric.histogram.aggregation_temporality,
            )
            for dp in metric.histogram.data_points
        ]
    if kind == "exponential_histogram":
        return [
            point(
                dp,
                count=dp.count,
                sum_=dp.sum if dp.HasField("sum") else None,
                temporality=metric.exponential_histogram.aggregation_temporality,
            )
            for dp in metric.exponential_histogram.data_points
        ]
    return [point(dp, count=dp.count, sum_=dp.sum) for dp in metric.summary.data_points]


def _flatten_metrics(request: ExportMetricsServiceRequest) -> list[ReceivedMetricPoint]:
    out: list[ReceivedMetricPoint] = []
    for resource_metrics in request.resource_metrics:
        resource = attributes_to_dict(resource_metrics.resource.attributes)
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                out.extend(_flatten_metric(metric, resource, scope_metrics.scope.name))
    return out


class MemoryStore:
    """Thread-safe in-memory `Sink`: keeps every request and flattened views, and lets tests wait for data."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.RLock())
        self._requests: list[tuple[Signal, Message, RequestMeta]] = []
        self._spans: list[ReceivedSpan] = []
        self._logs: list[ReceivedLog] = []
        self._points: list[ReceivedMetricPoint] = []

    def accept(self, signal: Signal, request: Message, meta: RequestMeta) -> None:
        """Store one request (flattening it here, on the server thread) and wake up waiters."""
        spans: list[ReceivedSpan] = []
        logs: list[ReceivedLog] = []
        points: list[ReceivedMetricPoint] = []
        if signal == "traces" and isinstance(request, ExportTraceServiceRequest):
            spans = _flatten_spans(request)
        elif signal == "logs" and isinstance(request, ExportLogsServiceRequest):
            logs = _flatten_logs(request)
        elif signal == "metrics" and isinstance(request, ExportMetricsServiceRequest):
            points = _flatten_metrics(request)
        else:
            raise TypeError(f"{type(request).__name__} is not an export request for signal {signal!r}")
        with self._cond:
            self._requests.append((signal, request, meta))
            self._spans.extend(spans)
            self._logs.extend(logs)
            self._points.extend(points)
            self._cond.notify_all()

    def requests(self, signal: Signal | None = None) -> list[tuple[Signal, Message, RequestMeta]]:
        """Raw requests in arrival order, optionally only those of one signal."""
        with self._cond:
            return [r for r in self._requests if signal is None or r[0] == signal]

    def spans(self) -> list[ReceivedSpan]:
        with self._cond:
            return list(self._spans)

    def logs(self) -> list[ReceivedLog]:
        with self._cond:
            return list(self._logs)

    def metric_points(self) -> list[ReceivedMetricPoint]:
        with self._cond:
            return list(self._points)

    def clear(self) -> None:
        with self._cond:
            self._requests.clear()
            self._spans.clear()
            self._logs.clear()
            self._points.clear()

    def wait_for(self, predicate: Callable[[MemoryStore], bool], timeout: float = 10.0) -> bool:
        """Block until `predicate(self)` is true (re-checked on every accepted request) or `timeout` passes.

        Returns whether the predicate became true.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def wait_for_spans(self, n: int = 1, timeout: float = 10.0) -> bool:
        return self.wait_for(lambda s: len(s._spans) >= n, timeout)

    def wait_for_logs(self, n: int = 1, timeout: float = 10.0) -> bool:
        return self.wait_for(lambda s: len(s._logs) >= n, timeout)

    def wait_for_metric(self, name: str, timeout: float = 10.0) -> bool:
        return self.wait_for(lambda s: any(p.name == name for p in s._points), timeout)
