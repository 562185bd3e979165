"""OTLP/JSON to protobuf. OTLP/JSON writes trace and span ids as hex while protobuf's JSON mapping wants
base64 for bytes fields, so ids are re-encoded before handing the payload to `json_format`."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

REQUEST_TYPES: Mapping[str, type[Message]] = {
    "traces": ExportTraceServiceRequest,
    "logs": ExportLogsServiceRequest,
    "metrics": ExportMetricsServiceRequest,
}

_TRACE_ID_BYTES = 16
_SPAN_ID_BYTES = 8
_METRIC_DATA_FIELDS = ("gauge", "sum", "histogram", "exponentialHistogram", "summary")

JsonObject = Mapping[str, Any]


def otlp_json_to_proto(signal: str, payload: JsonObject) -> Message:
    """Parse an OTLP/JSON export body (already `json.loads`-ed) into the signal's `Export*ServiceRequest`.

    Accepts lowerCamelCase or snake_case keys, enums as names or ints, 64-bit ints as strings or numbers;
    unknown fields and unknown enum names are ignored (forward compatibility). Raises `ValueError` on
    malformed input. The payload is not modified.
    """
    request_type = REQUEST_TYPES.get(signal)
    if request_type is None:
        raise ValueError(f"unknown signal {signal!r}")
    if not isinstance(payload, Mapping):
        raise ValueError("OTLP/JSON body must be a JSON object")
    if signal == "traces":
        payload = _map_path(payload, ("resourceSpans", "scopeSpans", "spans"), _fix_span)
    elif signal == "logs":
        payload = _map_path(payload, ("resourceLogs", "scopeLogs", "logRecords"), _fix_trace_and_span_id)
    else:
        payload = _map_path(payload, ("resourceMetrics", "scopeMetrics", "metrics"), _fix_metric)
    message = request_type()
    try:
        json_format.ParseDict(payload, message, ignore_unknown_fields=True)
    except json_format.ParseError as error:  # not a ValueError in every protobuf release
        raise ValueError(str(error)) from error
    except OverflowError as error:  # an enum given as a float too large for int(), such as Infinity
        raise ValueError(f"number out of range: {error}") from error
    return message


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _key(node: JsonObject, camel: str) -> str | None:
    """Which spelling of a field the node uses (both are valid OTLP/JSON input), or None."""
    if camel in node:
        return camel
    snake = _snake(camel)
    return snake if snake in node else None


def _map_path(node: Any, path: Sequence[str], leaf: Callable[[JsonObject], JsonObject]) -> Any:
    """Copy `node`, applying `leaf` to every object reached through `path` (through lists and objects).

    Anything not shaped as expected is returned untouched so that `json_format` reports it.
    """
    if not isinstance(node, Mapping):
        return node
    if not path:
        return leaf(node)
    key = _key(node, path[0])
    if key is None:
        return node
    child = node[key]
    copy = dict(node)
    if isinstance(child, list):
        copy[key] = [_map_path(item, path[1:], leaf) for item in child]
    else:
        copy[key] = _map_path(child, path[1:], leaf)
    return copy


def _hex_to_base64(field: str, value: Any, n_bytes: int) -> Any:
    if not isinstance(value, str) or value == "":
        return value
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raw = b""
    if len(raw) != n_bytes:
        raise ValueError(f"{field} must be {n_bytes * 2} hex digits, got {value[:40]!r}")
    return base64.b64encode(raw).decode("ascii")


def _fix_ids(node: JsonObject, fields: Mapping[str, int]) -> JsonObject:
    copy = dict(node)
    for camel, n_bytes in fields.items():
        key = _key(node, camel)
        if key is not None:
            copy[key] = _hex_to_base64(camel, node[key], n_bytes)
    return copy


def _fix_trace_and_span_id(node: JsonObject) -> JsonObject:
    return _fix_ids(node, {"traceId": _TRACE_ID_BYTES, "spanId": _SPAN_ID_BYTES})


def _fix_span(span: JsonObject) -> JsonObject:
    span = _fix_ids(
        span, {"traceId": _TRACE_ID_BYTES, "spanId": _SPAN_ID_BYTES, "parentSpanId": _SPAN_ID_BYTES}
    )
    return _map_path(span, ("links",), _fix_trace_and_span_id)


def _fix_metric(metric: JsonObject) -> JsonObject:
    for data_field in _METRIC_DATA_FIELDS:
        metric = _map_path(metric, (data_field, "dataPoints", "exemplars"), _fix_trace_and_span_id)
    return metric
