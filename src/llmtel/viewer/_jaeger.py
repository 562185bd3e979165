"""Shaping stored rows into the JSON of Jaeger's HTTP query API and of llmtel's own endpoints (pure)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from llmtel.viewer._ingest import STATUS_ERROR, to_json
from llmtel.viewer._store import StoredLog, StoredSpan, TraceSummary

_SPAN_KIND_NAMES = {1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
_STATUS_NAMES = {1: "OK", 2: "ERROR"}


def envelope(data: Any, *, total: int | None = None, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Jaeger's response envelope."""
    return {
        "data": data,
        "total": total if total is not None else (len(data) if isinstance(data, list) else 0),
        "limit": 0,
        "offset": 0,
        "errors": errors,
    }


def error_envelope(status: int, message: str) -> dict[str, Any]:
    return {"data": None, "total": 0, "limit": 0, "offset": 0, "errors": [{"code": status, "msg": message}]}


def tag(key: str, value: Any) -> dict[str, Any]:
    """One Jaeger tag with its type; arrays and maps become JSON strings, as Jaeger's OTLP translation does."""
    if isinstance(value, bool):
        return {"key": key, "type": "bool", "value": value}
    if isinstance(value, int):
        return {"key": key, "type": "int64", "value": value}
    if isinstance(value, float):
        return {"key": key, "type": "float64", "value": value}
    if isinstance(value, str):
        return {"key": key, "type": "string", "value": value}
    return {"key": key, "type": "string", "value": to_json(value)}


def tags(attributes: dict[str, Any]) -> list[dict[str, Any]]:
    return [tag(key, value) for key, value in attributes.items()]


def _span_tags(span: StoredSpan) -> list[dict[str, Any]]:
    out = tags(json.loads(span.attributes))
    if span.scope_name:
        out.append(tag("otel.scope.name", span.scope_name))
    if span.scope_version:
        out.append(tag("otel.scope.version", span.scope_version))
    kind = _SPAN_KIND_NAMES.get(span.kind)
    if kind is not None:
        out.append(tag("span.kind", kind))
    status = _STATUS_NAMES.get(span.status_code)
    if status is not None:
        out.append(tag("otel.status_code", status))
    if span.status_message:
        out.append(tag("otel.status_description", span.status_message))
    if span.status_code == STATUS_ERROR:
        out.append(tag("error", True))
    return out


def _span_logs(events_json: str | None) -> list[dict[str, Any]]:
    if not events_json:
        return []
    return [
        {"timestamp": time_us, "fields": [tag("event", name), *tags(attributes)]}
        for time_us, name, attributes in json.loads(events_json)
    ]


def _references(span: StoredSpan) -> list[dict[str, Any]]:
    refs = []
    if span.parent_id:
        refs.append({"refType": "CHILD_OF", "traceID": span.trace_id, "spanID": span.parent_id})
    if span.links:
        refs.extend(
            {"refType": "FOLLOWS_FROM", "traceID": trace_id, "spanID": span_id}
            for trace_id, span_id, _ in json.loads(span.links)
        )
    return refs


def jaeger_trace(trace_id: str, spans: Sequence[StoredSpan]) -> dict[str, Any]:
    """One trace in Jaeger's JSON shape; each distinct resource becomes a process (p1, p2, ...)."""
    process_ids: dict[int, str] = {}
    processes: dict[str, Any] = {}
    out_spans = []
    for span in spans:
        process_id = process_ids.get(span.resource_id)
        if process_id is None:
            process_id = process_ids[span.resource_id] = f"p{len(process_ids) + 1}"
            resource = json.loads(span.resource)
            resource.pop("service.name", None)
            processes[process_id] = {"serviceName": span.service, "tags": tags(resource)}
        out_spans.append(
            {
                "traceID": span.trace_id,
                "spanID": span.span_id,
                "flags": span.flags if span.flags is not None else 1,
                "operationName": span.name,
                "references": _references(span),
                "startTime": span.start_us,
                "duration": span.duration_us,
                "tags": _span_tags(span),
                "logs": _span_logs(span.events),
                "processID": process_id,
                "warnings": None,
            }
        )
    return {"traceID": trace_id, "spans": out_spans, "processes": processes, "warnings": None}


def summary_json(summary: TraceSummary) -> dict[str, Any]:
    """One row of ``/api/llmtel/traces``."""
    cost = summary.cost_usd
    return {
        "traceID": summary.trace_id,
        "rootName": summary.root_name,
        "rootService": summary.root_service,
        "startTime": summary.start_us,
        "duration": summary.end_us - summary.start_us,
        "spanCount": summary.span_count,
        "models": list(summary.models),
        "inputTokens": summary.input_tokens,
        "outputTokens": summary.output_tokens,
        "costUsd": cost if cost is not None and math.isfinite(cost) else None,  # huge costs may sum to infinity
        "errorCount": summary.error_count,
        "runId": summary.run_id,
        "sessionId": summary.session_id,
    }


def log_json(log: StoredLog) -> dict[str, Any]:
    """One row of ``/api/llmtel/traces/{id}/logs``."""
    out = {
        "timestamp": log.time_us,
        "severityText": log.severity_text or "",
        "severityNumber": log.severity_number or 0,
        "body": json.loads(log.body) if log.body is not None else None,
        "traceID": log.trace_id,
        "spanID": log.span_id,
        "attributes": json.loads(log.attributes),
        "resource": json.loads(log.resource),
    }
    if log.event_name:
        out["eventName"] = log.event_name
    return out
