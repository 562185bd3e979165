"""`otlp_json_to_proto` on its own: hex ids, enums as ints, int64 as strings, key spellings, bad input."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from llmtel.receiver import otlp_json_to_proto

TRACE_ID = "5b8efff798038103d269b633813fc60c"
SPAN_ID = "eee19b7ec3c1b174"
PARENT_ID = "00f067aa0ba902b7"


def _traces(span: dict[str, Any]) -> dict[str, Any]:
    return {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}


def test_span_ids_enums_and_int64() -> None:
    payload = _traces(
        {
            "traceId": TRACE_ID,
            "spanId": SPAN_ID,
            "parentSpanId": PARENT_ID,
            "name": "s",
            "kind": 2,
            "startTimeUnixNano": "1700000000000000000",
            "endTimeUnixNano": 1700000000000000009,
            "links": [{"traceId": TRACE_ID, "spanId": PARENT_ID, "droppedAttributesCount": 1}],
            "status": {"code": 1},
            "attributes": [{"key": "n", "value": {"intValue": "-9007199254740993"}}],
        }
    )
    request = otlp_json_to_proto("traces", payload)
    assert isinstance(request, ExportTraceServiceRequest)
    span = request.resource_spans[0].scope_spans[0].spans[0]
    assert span.trace_id == bytes.fromhex(TRACE_ID)
    assert span.span_id == bytes.fromhex(SPAN_ID)
    assert span.parent_span_id == bytes.fromhex(PARENT_ID)
    assert span.kind == Span.SPAN_KIND_SERVER
    assert span.start_time_unix_nano == 1_700_000_000_000_000_000
    assert span.end_time_unix_nano == 1_700_000_000_000_000_009
    assert (span.links[0].trace_id.hex(), span.links[0].span_id.hex()) == (TRACE_ID, PARENT_ID)
    assert span.links[0].dropped_attributes_count == 1
    assert span.status.code == Status.STATUS_CODE_OK
    assert span.attributes[0].value.int_value == -9_007_199_254_740_993


def test_enum_names_and_uppercase_hex_and_snake_case_keys() -> None:
    payload = {
        "resource_spans": [
            {
                "scope_spans": [
                    {
                        "spans": [
                            {
                                "trace_id": TRACE_ID.upper(),
                                "span_id": SPAN_ID,
                                "parent_span_id": "",
                                "kind": "SPAN_KIND_CONSUMER",
                            }
                        ]
                    }
                ]
            }
        ]
    }
    span = otlp_json_to_proto("traces", payload).resource_spans[0].scope_spans[0].spans[0]
    assert span.trace_id.hex() == TRACE_ID
    assert span.span_id.hex() == SPAN_ID
    assert span.parent_span_id == b""
    assert span.kind == Span.SPAN_KIND_CONSUMER


def test_log_record_ids() -> None:
    payload = {
        "resourceLogs": [
            {
                "scopeLogs": [
                    {
                        "logRecords": [
                            {
                                "traceId": TRACE_ID,
                                "spanId": SPAN_ID,
                                "severityNumber": 9,
                                "observedTimeUnixNano": "12",
                                "body": {
                                    "kvlistValue": {"values": [{"key": "a", "value": {"boolValue": True}}]}
                                },
                            }
                        ]
                    }
                ]
            }
        ]
    }
    request = otlp_json_to_proto("logs", payload)
    assert isinstance(request, ExportLogsServiceRequest)
    record = request.resource_logs[0].scope_logs[0].log_records[0]
    assert (record.trace_id.hex(), record.span_id.hex()) == (TRACE_ID, SPAN_ID)
    assert record.severity_number == 9
    assert record.observed_time_unix_nano == 12
    assert record.body.kvlist_value.values[0].value.bool_value is True


@pytest.mark.parametrize("kind", ["gauge", "sum", "histogram", "exponentialHistogram", "summary"])
def test_exemplar_ids_in_every_metric_kind(kind: str) -> None:
    point: dict[str, Any] = {"timeUnixNano": "5", "exemplars": [{"traceId": TRACE_ID, "spanId": SPAN_ID}]}
    if kind == "summary":
        point = {"timeUnixNano": "5", "count": "2"}  # summaries have no exemplars
    metric = {"name": "m", kind: {"dataPoints": [point]}}
    payload = {"resourceMetrics": [{"scopeMetrics": [{"metrics": [metric]}]}]}
    request = otlp_json_to_proto("metrics", payload)
    assert isinstance(request, ExportMetricsServiceRequest)
    metric = request.resource_metrics[0].scope_metrics[0].metrics[0]
    proto_field = "exponential_histogram" if kind == "exponentialHistogram" else kind
    assert metric.WhichOneof("data") == proto_field
    data_point = getattr(metric, proto_field).data_points[0]
    assert data_point.time_unix_nano == 5
    if kind != "summary":
        exemplar = data_point.exemplars[0]
        assert (exemplar.trace_id.hex(), exemplar.span_id.hex()) == (TRACE_ID, SPAN_ID)


def test_payload_is_not_modified_and_unknown_fields_are_ignored() -> None:
    payload = _traces({"traceId": TRACE_ID, "spanId": SPAN_ID, "futureField": {"x": 1}})
    payload["somethingNew"] = True
    before = copy.deepcopy(payload)
    span = otlp_json_to_proto("traces", payload).resource_spans[0].scope_spans[0].spans[0]
    assert span.trace_id.hex() == TRACE_ID
    assert payload == before


def test_unknown_enum_name_is_ignored() -> None:
    """json_format's ignore_unknown_fields also covers enum names a newer sender may use."""
    span = otlp_json_to_proto("traces", _traces({"kind": "SPAN_KIND_FROM_THE_FUTURE", "name": "n"}))
    parsed = span.resource_spans[0].scope_spans[0].spans[0]
    assert (parsed.kind, parsed.name) == (Span.SPAN_KIND_UNSPECIFIED, "n")


def test_attribute_named_like_an_id_is_left_alone() -> None:
    payload = _traces({"attributes": [{"key": "traceId", "value": {"stringValue": "not-hex"}}]})
    span = otlp_json_to_proto("traces", payload).resource_spans[0].scope_spans[0].spans[0]
    assert span.attributes[0].value.string_value == "not-hex"


@pytest.mark.parametrize(
    ("signal", "payload"),
    [
        ("traces", _traces({"traceId": "zz" * 16})),
        ("traces", _traces({"traceId": TRACE_ID[:-2]})),  # 15 bytes
        ("traces", _traces({"spanId": TRACE_ID})),  # a trace id where a span id belongs
        ("traces", _traces({"links": [{"spanId": "123"}]})),  # odd length
        ("traces", {"resourceSpans": "nope"}),
        ("logs", {"resourceLogs": [{"scopeLogs": [{"logRecords": [{"spanId": "xyz"}]}]}]}),
        ("profiles", {}),
    ],
    ids=["non-hex", "short-trace-id", "long-span-id", "odd-link-id", "wrong-shape", "log-id", "signal"],
)
def test_bad_input_raises_value_error(signal: str, payload: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        otlp_json_to_proto(signal, payload)


def test_non_object_payload_raises_value_error() -> None:
    with pytest.raises(ValueError):
        otlp_json_to_proto("traces", [])  # type: ignore[arg-type]
