"""Turn OTLP export requests into the viewer's SQLite rows and per-trace summary deltas (pure functions)."""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from llmtel import semconv
from llmtel.encodable import INT64_MAX, INT64_MIN
from llmtel.genai.record import MAX_TOKEN_COUNT
from llmtel.receiver import ReceivedMetricPoint, any_value_to_python, attributes_to_dict
from llmtel.receiver._store import _flatten_metrics

STATUS_ERROR = 2
"""`Status.STATUS_CODE_ERROR` in the OTLP proto."""
UNKNOWN_SERVICE = "unknown_service"


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_json_default)
_NON_FINITE_TEXT = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def finite_json_value(value: Any) -> Any:
    """`value` with each NaN or infinite float (which standard JSON lacks, and SQLite's JSON functions and a
    browser's ``JSON.parse`` reject) replaced by its text: ``"NaN"``, ``"Infinity"`` or ``"-Infinity"``."""
    if isinstance(value, float):
        return value if math.isfinite(value) else _NON_FINITE_TEXT[repr(value)]
    if isinstance(value, dict):
        return {key: finite_json_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json_value(item) for item in value]
    return value


def to_json(value: Any) -> str:
    """Compact standard JSON of an attribute map or value; bytes become base64 text, tuples lists, and NaN or
    infinite floats (the OTel SDK allows them as attributes) text such as ``"NaN"``."""
    try:
        return _ENCODER.encode(value)
    except ValueError:  # a non-finite float: rare, so only then is the value walked and copied
        return _ENCODER.encode(finite_json_value(value))


def _number(value: Any) -> float | None:
    """A finite number, or None: an infinite or NaN cost must not poison a trace's sums."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not math.isfinite(value):  # an int is finite (and may be too big for a float)
        return None
    return value


def _count(value: Any) -> int | None:
    """A token count (a whole number from 0 to ``MAX_TOKEN_COUNT``; a float is truncated), or None. Another
    value, such as ``1e308`` or a count near 2**63, would overflow SQLite's integers when summed, and the whole
    batch of spans would be lost."""
    number = _number(value)
    return int(number) if number is not None and 0 <= number <= MAX_TOKEN_COUNT else None


def _int64(value: int | None) -> int | None:
    """`value` if SQLite's 64-bit INTEGER holds it, else None: a histogram's count is a uint64 in OTLP, and one
    at 2**63 or above would fail the insert of every point in its request."""
    return value if value is None or INT64_MIN <= value <= INT64_MAX else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


@dataclass(slots=True)
class TraceDelta:
    """What one batch of spans adds to a trace's summary row."""

    start_us: int
    end_us: int
    span_count: int = 0
    has_root: bool = False
    root_name: str = ""
    root_service: str = ""
    root_start_us: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    error_count: int = 0
    run_id: str | None = None
    session_id: str | None = None
    models: set[str] = field(default_factory=set)
    services: set[str] = field(default_factory=set)
    operations: set[tuple[str, str, int]] = field(default_factory=set)


SPAN_COLUMNS = (
    "trace_id, span_id, parent_id, name, kind, start_us, duration_us, status_code, status_message, service, "
    "resource_id, scope_name, scope_version, flags, attributes, events, links, model, response_model, "
    "operation, input_tokens, output_tokens, cost_usd, error_type, run_id, session_id"
)
SPAN_RESOURCE_INDEX = 10
"""Position of ``resource_id`` in a span row (the flatteners put the resource JSON there)."""

SpanRow = tuple[Any, ...]


def flatten_traces(request: ExportTraceServiceRequest) -> tuple[dict[str, str], list[SpanRow]]:
    """(resource JSON -> service name, span rows in `SPAN_COLUMNS` order) for one trace export request."""
    resources: dict[str, str] = {}
    rows: list[SpanRow] = []
    append = rows.append
    encode = to_json
    for resource_spans in request.resource_spans:
        resource = attributes_to_dict(resource_spans.resource.attributes)
        service = _text(resource.get("service.name")) or UNKNOWN_SERVICE
        resource_key = encode(resource)
        resources[resource_key] = service
        for scope_spans in resource_spans.scope_spans:
            scope_name, scope_version = scope_spans.scope.name or None, scope_spans.scope.version or None
            for span in scope_spans.spans:
                start_us = span.start_time_unix_nano // 1000
                end_us = max(span.end_time_unix_nano // 1000, start_us)
                attributes = attributes_to_dict(span.attributes)
                get = attributes.get
                operation = _text(get(_OPERATION))
                if operation in _SUMMING_OPERATIONS:  # its tokens sum its calls': counted once, on the calls
                    request_model = response_model = input_tokens = output_tokens = None
                else:
                    request_model = _text(get(_REQUEST_MODEL))
                    response_model = _text(get(_RESPONSE_MODEL))
                    input_tokens = _count(get(_INPUT_TOKENS))
                    output_tokens = _count(get(_OUTPUT_TOKENS))
                status = span.status
                status_code = status.code
                error_type = _text(get(_ERROR_TYPE))
                parent = span.parent_span_id
                events = span.events
                links = span.links
                append(
                    (
                        span.trace_id.hex(),
                        span.span_id.hex(),
                        parent.hex() if parent and any(parent) else None,
                        span.name,
                        span.kind,
                        start_us,
                        end_us - start_us,
                        status_code,
                        status.message or None,
                        service,
                        resource_key,
                        scope_name,
                        scope_version,
                        (span.flags & 0xFF) or 1,  # exported spans were sampled; senders often omit flags
                        encode(attributes),
                        encode(
                            [[e.time_unix_nano // 1000, e.name, attributes_to_dict(e.attributes)] for e in events]
                        ) if events else None,
                        encode(
                            [[k.trace_id.hex(), k.span_id.hex(), attributes_to_dict(k.attributes)] for k in links]
                        ) if links else None,
                        request_model or response_model,
                        response_model,
                        operation,
                        input_tokens,
                        output_tokens,
                        _number(get(_COST)),
                        error_type,  # the attribute only: the report labels error spans without one
                        _text(get(_RUN_ID)),
                        _text(get(_SESSION_ID)),
                    )
                )
    return resources, rows


_REQUEST_MODEL = semconv.GEN_AI_REQUEST_MODEL
_RESPONSE_MODEL = semconv.GEN_AI_RESPONSE_MODEL
_ERROR_TYPE = semconv.ERROR_TYPE
_OPERATION = semconv.GEN_AI_OPERATION_NAME
# Operations whose spans sum up the model calls made inside them (an agent's ``gen_ai.usage.*``): not model calls
# themselves, so neither their tokens nor their model count again in a trace's or a report's totals.
_SUMMING_OPERATIONS = frozenset({semconv.OP_INVOKE_AGENT, semconv.OP_INVOKE_WORKFLOW})
_INPUT_TOKENS = semconv.GEN_AI_USAGE_INPUT_TOKENS
_OUTPUT_TOKENS = semconv.GEN_AI_USAGE_OUTPUT_TOKENS
_COST = semconv.LLMTEL_COST_USD
_RUN_ID = semconv.LLMTEL_RUN_ID
_SESSION_ID = semconv.SESSION_ID


def summarize(rows: list[SpanRow]) -> dict[str, TraceDelta]:
    """Per-trace summary deltas of span rows (trace id -> delta)."""
    traces: dict[str, TraceDelta] = {}
    for row in rows:
        (trace_id, _, parent, name, kind, start_us, duration_us, status_code, _, service) = row[:10]
        model, response_model, _, input_tokens, output_tokens, cost = row[17:23]
        run_id, session_id = row[24], row[25]
        end_us = start_us + duration_us
        delta = traces.get(trace_id)
        if delta is None:
            delta = traces[trace_id] = TraceDelta(start_us=start_us, end_us=end_us)
        delta.start_us = min(delta.start_us, start_us)
        delta.end_us = max(delta.end_us, end_us)
        delta.span_count += 1
        if not delta.has_root and (parent is None or not delta.root_name or start_us < delta.root_start_us):
            delta.has_root = parent is None
            delta.root_name, delta.root_service, delta.root_start_us = name, service, start_us
        if input_tokens is not None:
            delta.input_tokens += int(input_tokens)
        if output_tokens is not None:
            delta.output_tokens += int(output_tokens)
        if cost is not None:
            delta.cost_usd = (delta.cost_usd or 0.0) + float(cost)
        if status_code == STATUS_ERROR:
            delta.error_count += 1
        if delta.run_id is None:
            delta.run_id = run_id
        if delta.session_id is None:
            delta.session_id = session_id
        if model:
            delta.models.add(model)
        if response_model:
            delta.models.add(response_model)
        delta.services.add(service)
        delta.operations.add((service, name, kind))
    return traces


LOG_COLUMNS = (
    "time_us, trace_id, span_id, severity_number, severity_text, body, attributes, resource_id, scope_name, "
    "event_name"
)
LOG_RESOURCE_INDEX = 7


def flatten_logs(request: ExportLogsServiceRequest) -> tuple[dict[str, str], list[tuple[Any, ...]]]:
    """(resource JSON -> service, log rows in `LOG_COLUMNS` order with the resource JSON as its id)."""
    resources: dict[str, str] = {}
    rows: list[tuple[Any, ...]] = []
    for resource_logs in request.resource_logs:
        resource = attributes_to_dict(resource_logs.resource.attributes)
        resource_key = to_json(resource)
        resources[resource_key] = _text(resource.get("service.name")) or UNKNOWN_SERVICE
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                time_ns = record.time_unix_nano or record.observed_time_unix_nano
                rows.append(
                    (
                        time_ns // 1000,
                        record.trace_id.hex() if any(record.trace_id) else None,
                        record.span_id.hex() if any(record.span_id) else None,
                        record.severity_number,
                        record.severity_text or None,
                        to_json(any_value_to_python(record.body)),
                        to_json(attributes_to_dict(record.attributes)),
                        resource_key,
                        scope_logs.scope.name or None,
                        getattr(record, "event_name", "") or None,
                    )
                )
    return resources, rows


METRIC_COLUMNS = "time_us, name, kind, unit, value, count, sum, attributes, resource_id, scope_name"
METRIC_RESOURCE_INDEX = 8


def flatten_metrics(request: ExportMetricsServiceRequest) -> tuple[dict[str, str], list[tuple[Any, ...]]]:
    """(resource JSON -> service, metric point rows in `METRIC_COLUMNS` order, resource JSON as its id)."""
    resources: dict[str, str] = {}
    rows: list[tuple[Any, ...]] = []
    point: ReceivedMetricPoint
    for point in _flatten_metrics(request):
        resource_key = to_json(point.resource)
        resources[resource_key] = _text(point.resource.get("service.name")) or UNKNOWN_SERVICE
        rows.append(
            (
                point.time_ns // 1000,
                point.name,
                point.kind,
                point.unit or None,
                point.value,
                _int64(point.count),
                point.sum,
                to_json(point.attributes),
                resource_key,
                point.scope_name or None,
            )
        )
    return resources, rows
