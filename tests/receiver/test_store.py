"""`MemoryStore` and the value helpers, fed hand-built protobuf requests (no servers involved)."""

from __future__ import annotations

import threading
import time

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    ExponentialHistogram,
    ExponentialHistogramDataPoint,
    Gauge,
    Metric,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Summary,
    SummaryDataPoint,
)
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from llmtel.receiver import MemoryStore, RequestMeta, Sink, any_value_to_python, attributes_to_dict

META = RequestMeta(transport="http", encoding="protobuf", compression=None, headers={}, received_at=0.0)


STR_2 = AnyValue(string_value="2")


def _kv(key: str, value: AnyValue) -> KeyValue:
    return KeyValue(key=key, value=value)


def _traces(span: Span) -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[span])])])


def test_any_value_to_python_all_kinds() -> None:
    nested = AnyValue(
        kvlist_value=KeyValueList(
            values=[
                _kv("s", AnyValue(string_value="x")),
                _kv("b", AnyValue(bool_value=False)),
                _kv("i", AnyValue(int_value=-3)),
                _kv("d", AnyValue(double_value=2.5)),
                _kv("raw", AnyValue(bytes_value=b"\x00\x01")),
                _kv("arr", AnyValue(array_value=ArrayValue(values=[AnyValue(int_value=1), STR_2]))),
                _kv("empty", AnyValue()),
            ]
        )
    )
    assert any_value_to_python(nested) == {
        "s": "x",
        "b": False,
        "i": -3,
        "d": 2.5,
        "raw": b"\x00\x01",
        "arr": (1, "2"),
        "empty": None,
    }
    assert any_value_to_python(AnyValue(bool_value=False)) is False
    zero = any_value_to_python(AnyValue(int_value=0))
    assert zero == 0 and isinstance(zero, int) and not isinstance(zero, bool)


def test_attributes_to_dict_last_key_wins() -> None:
    attrs = [
        _kv("a", AnyValue(int_value=1)),
        _kv("a", AnyValue(int_value=2)),
        _kv("b", AnyValue(string_value="")),
    ]
    assert attributes_to_dict(attrs) == {"a": 2, "b": ""}


def test_memory_store_is_a_sink_and_keeps_requests() -> None:
    store = MemoryStore()
    assert isinstance(store, Sink)
    span = Span(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, parent_span_id=b"\x00" * 8, name="s")
    traces = _traces(span)
    logs = ExportLogsServiceRequest(
        resource_logs=[ResourceLogs(scope_logs=[ScopeLogs(log_records=[LogRecord(trace_id=b"\x00" * 16)])])]
    )
    store.accept("traces", traces, META)
    store.accept("logs", logs, META)
    assert [signal for signal, _, _ in store.requests()] == ["traces", "logs"]
    assert store.requests("logs") == [("logs", logs, META)]
    [received] = store.spans()
    assert (received.trace_id, received.span_id) == ("01" * 16, "02" * 8)
    assert received.parent_span_id is None  # all-zero parent id means "no parent"
    [record] = store.logs()
    assert record.trace_id is None and record.span_id is None and record.body is None

    store.clear()
    assert store.requests() == [] and store.spans() == [] and store.logs() == []


def test_accept_rejects_mismatched_signal() -> None:
    with pytest.raises(TypeError):
        MemoryStore().accept("logs", ExportTraceServiceRequest(), META)


def test_gauge_summary_and_exponential_histogram_points() -> None:
    metrics = [
        Metric(
            name="g", gauge=Gauge(data_points=[NumberDataPoint(as_double=1.5), NumberDataPoint(as_int=0)])
        ),
        Metric(name="s", summary=Summary(data_points=[SummaryDataPoint(count=4, sum=10.0)])),
        Metric(
            name="e",
            exponential_histogram=ExponentialHistogram(
                aggregation_temporality=1, data_points=[ExponentialHistogramDataPoint(count=3, sum=6.0)]
            ),
        ),
        Metric(name="nothing"),
    ]
    request = ExportMetricsServiceRequest(
        resource_metrics=[ResourceMetrics(scope_metrics=[ScopeMetrics(metrics=metrics)])]
    )
    store = MemoryStore()
    store.accept("metrics", request, META)
    points = store.metric_points()
    assert [(p.name, p.kind, p.value) for p in points] == [
        ("g", "gauge", 1.5),
        ("g", "gauge", 0),
        ("s", "summary", None),
        ("e", "exponential_histogram", None),
    ]
    assert isinstance(points[1].value, int)
    assert (points[2].count, points[2].sum) == (4, 10.0)
    assert (points[3].count, points[3].sum, points[3].temporality) == (3, 6.0, 1)
    assert points[0].is_monotonic is None


@pytest.mark.timeout(10)
def test_wait_for_wakes_on_accept_and_times_out() -> None:
    store = MemoryStore()
    start = time.monotonic()
    assert store.wait_for_spans(1, timeout=0.2) is False
    assert 0.15 <= time.monotonic() - start < 2

    span = Span(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, name="late")
    request = _traces(span)
    timer = threading.Timer(0.1, store.accept, args=("traces", request, META))
    timer.start()
    start = time.monotonic()
    assert store.wait_for(lambda s: [x.name for x in s.spans()] == ["late"], timeout=5) is True
    assert time.monotonic() - start < 2  # woken by the accept, not by the timeout
    timer.join()
    assert store.wait_for_logs(1, timeout=0) is False
    assert store.wait_for_metric("x", timeout=0) is False
