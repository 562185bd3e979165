"""The viewer's HTTP server on the UI port: Jaeger's query API, llmtel's own endpoints and the static UI.

Contract (every response is JSON unless noted; times are microseconds since the epoch, durations
microseconds; durations in parameters are Go-style strings such as ``100ms``, ``1.5s``, ``2h``, ``7d``):

Jaeger-compatible (envelope ``{"data", "total", "limit": 0, "offset": 0, "errors": null}``):

- ``GET /api/services`` -> ``data: ["svc", ...]``
- ``GET /api/services/{service}/operations`` -> ``data: ["op", ...]``
- ``GET /api/operations?service=&spanKind=`` -> ``data: [{"name", "spanKind"}]``
- ``GET /api/traces?service=&operation=&tags={json}&tag=k:v&minDuration=&maxDuration=&limit=&start=&end=&lookback=``
  (``service`` required unless ``traceID=`` is given; ``limit`` defaults to 100) -> ``data: [trace, ...]``,
  newest matching span first. A trace matches when one of its spans matches every criterion; tags match span
  attributes, resource attributes, and ``error``, ``span.kind``, ``otel.status_code``, ``otel.scope.name``.
- ``GET /api/traces/{traceID}`` -> ``data: [trace]``; 404 with ``errors: [{"code": 404, "msg"}]`` if unknown.
- trace: ``{"traceID", "spans": [span], "processes": {"p1": {"serviceName", "tags": [tag]}}, "warnings"}``;
  span: ``{"traceID", "spanID", "flags", "operationName", "references": [{"refType": "CHILD_OF" (parent) |
  "FOLLOWS_FROM" (links), "traceID", "spanID"}], "startTime", "duration", "tags": [tag], "logs":
  [{"timestamp", "fields": [tag]}], "processID", "warnings"}``; tag: ``{"key", "type": "string" | "bool" |
  "int64" | "float64", "value"}``. Span tags are the span's attributes plus ``otel.scope.name``/``version``,
  ``span.kind`` (client, server, internal, producer, consumer), ``otel.status_code`` (OK/ERROR, when set),
  ``otel.status_description`` and ``error: true`` on ERROR. Span events are logs whose fields start with
  ``event`` = the event's name. Resource attributes other than ``service.name`` are the process tags.

llmtel's own:

- ``GET /api/llmtel/traces?service=&model=&errors=true&minDuration=&maxDuration=&q=&operation=&limit=&start=&end=``
  ``&lookback=&traceID=``
  -> ``{"data": [{"traceID", "rootName", "rootService", "startTime", "duration", "spanCount", "models": [..],
  "inputTokens", "outputTokens", "costUsd" (number or null), "errorCount", "runId", "sessionId"}],
  "total": n}``, newest first (by trace start). ``service`` matches any span's service, ``model`` a request or
  response model, ``q`` a case-insensitive substring of the run id, session id or root span name (or the whole
  trace id), ``operation`` the root span's name; ``start``/``end`` bound the trace's start; ``limit`` defaults
  to 100 (at most 10,000); ``total`` counts every match.
- ``GET /api/llmtel/traces/{traceID}/logs`` -> ``{"data": [{"timestamp", "severityText", "severityNumber",
  "body", "traceID", "spanID", "attributes": {..}, "resource": {..}}]}`` in time order (plus ``eventName``
  when the record has one).
- ``GET /api/llmtel/models`` -> ``{"data": ["gpt-4o-mini", ...]}`` (request and response models seen).

Errors: unknown ``/api/`` paths answer 404, bad parameters 400, both as ``{"data": null, "errors": [{"code",
"msg"}], ...}`` with a message naming the parameter.

Static UI (files under the package directory ``llmtel/viewer/static/``): ``GET /`` and ``GET /trace/{id}``
serve ``index.html``; ``GET /static/{path}`` serves other files with their content type.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from llmtel._http_server import TrackingHTTPServer, send_reply
from llmtel.viewer._ingest import to_json
from llmtel.viewer._jaeger import envelope, error_envelope, jaeger_trace, log_json, summary_json
from llmtel.viewer._params import parse_trace_id, parse_trace_query
from llmtel.viewer._store import TraceStore

_logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
    ".map": "application/json",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
}
_SPAN_KINDS = {"unspecified": 0, "internal": 1, "server": 2, "client": 3, "producer": 4, "consumer": 5}
_SPAN_KIND_NAMES = {v: k for k, v in _SPAN_KINDS.items()}


class _ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ViewerHTTPServer(TrackingHTTPServer):
    """The UI-port server: holds the store its handlers query and where the static files are."""

    def __init__(self, host: str, port: int, store: TraceStore, static_dir: Path = STATIC_DIR) -> None:
        self.store = store
        self.static_dir = static_dir
        super().__init__(host, port, _ViewerHandler)


Params = dict[str, list[str]]


class _ViewerHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ViewerHTTPServer
    timeout = 60
    # Headers and body go out in separate writes; without TCP_NODELAY the body waits for a delayed ACK (~40 ms).
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib signature)
        _logger.debug("%s - " + format, self.address_string(), *args)

    def do_GET(self) -> None:  # noqa: N802 (stdlib naming)
        self._handle()

    def do_HEAD(self) -> None:  # noqa: N802
        self._handle()

    def _handle(self) -> None:
        headers: list[tuple[str, str]] = []
        try:
            path, params = _split_target(self.path)
            if path.startswith("/api/"):
                status, payload = self._api(path, params)
                body = to_json(payload).encode()
                content_type = "application/json"
            else:
                status, body, content_type = self._static(path)
                headers.append(("Cache-Control", "no-cache"))
        except _ApiError as error:
            status, content_type = error.status, "application/json"
            body = json.dumps(error_envelope(error.status, error.message)).encode()
        except Exception:
            _logger.exception("llmtel viewer failed on GET %s", self.path[:200])
            status, content_type = 500, "application/json"
            body = json.dumps(error_envelope(500, "internal error in the llmtel viewer")).encode()
        send_reply(self, status, body, content_type, headers)

    # -- API ---------------------------------------------------------------------------------------------

    def _api(self, path: str, params: Params) -> tuple[int, Any]:
        parts = [unquote(p) for p in path.split("/")[2:]]
        if parts and parts[-1] == "":
            parts.pop()
        route = _route(parts)
        if route is None:
            raise _ApiError(404, f"no such API endpoint: {path[:200]}")
        handler, args = route
        try:
            return handler(self.server.store, params, *args)
        except ValueError as error:
            raise _ApiError(400, str(error)) from None

    def _static(self, path: str) -> tuple[int, bytes, str]:
        return _static_route(self.server.static_dir, path)


def _split_target(target: str) -> tuple[str, Params]:
    """The path and query parameters of a request target; 400 for one `urlsplit` rejects (``http://[/api``)."""
    try:
        split = urlsplit(target)
    except ValueError:
        raise _ApiError(400, f"not a valid request target: {target[:200]!r}") from None
    return split.path, parse_qs(split.query, keep_blank_values=True)


def _route(parts: list[str]) -> tuple[Callable[..., tuple[int, Any]], list[str]] | None:
    match parts:
        case ["services"]:
            return _services, []
        case ["services", service, "operations"]:
            return _service_operations, [service]
        case ["operations"]:
            return _operations, []
        case ["traces"]:
            return _find_traces, []
        case ["traces", trace_id]:
            return _get_trace, [trace_id]
        case ["llmtel", "traces"]:
            return _llmtel_traces, []
        case ["llmtel", "traces", trace_id, "logs"]:
            return _llmtel_logs, [trace_id]
        case ["llmtel", "models"]:
            return _llmtel_models, []
    return None


def _now_us() -> int:
    return time.time_ns() // 1000


def _services(store: TraceStore, params: Params) -> tuple[int, Any]:
    return 200, envelope(store.services())


def _service_operations(store: TraceStore, params: Params, service: str) -> tuple[int, Any]:
    names = sorted({name for name, _ in store.operations(service)})
    return 200, envelope(names)


def _operations(store: TraceStore, params: Params) -> tuple[int, Any]:
    service = (params.get("service") or [""])[-1]
    if not service:
        raise ValueError("service: parameter 'service' is required")
    kind_name = (params.get("spanKind") or [""])[-1].strip().lower()
    kind = None
    if kind_name:
        if kind_name not in _SPAN_KINDS:
            raise ValueError(f"spanKind: {kind_name!r} is not one of {', '.join(_SPAN_KINDS)}")
        kind = _SPAN_KINDS[kind_name]
    data = [{"name": name, "spanKind": _SPAN_KIND_NAMES.get(k, "")} for name, k in store.operations(service, kind)]
    return 200, envelope(data)


def _find_traces(store: TraceStore, params: Params) -> tuple[int, Any]:
    query = parse_trace_query(params, now_us=_now_us(), jaeger=True)
    trace_ids = store.find_trace_ids(query)
    spans = store.spans_of(trace_ids)
    data = [jaeger_trace(trace_id, trace_spans) for trace_id, trace_spans in spans.items()]
    return 200, envelope(data)


def _get_trace(store: TraceStore, params: Params, raw_id: str) -> tuple[int, Any]:
    trace_id = parse_trace_id(raw_id)
    spans = store.spans_of([trace_id]).get(trace_id)
    if not spans:
        return 404, error_envelope(404, f"trace not found: {trace_id}")
    return 200, envelope([jaeger_trace(trace_id, spans)])


def _llmtel_traces(store: TraceStore, params: Params) -> tuple[int, Any]:
    query = parse_trace_query(params, now_us=_now_us(), jaeger=False)
    summaries, total = store.trace_summaries(query)
    return 200, {"data": [summary_json(s) for s in summaries], "total": total}


def _llmtel_logs(store: TraceStore, params: Params, raw_id: str) -> tuple[int, Any]:
    trace_id = parse_trace_id(raw_id)
    return 200, {"data": [log_json(log) for log in store.logs_of(trace_id)]}


def _llmtel_models(store: TraceStore, params: Params) -> tuple[int, Any]:
    return 200, {"data": store.models()}


# -- static files ------------------------------------------------------------------------------------------


def _content_type(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in _CONTENT_TYPES:
        return _CONTENT_TYPES[suffix]
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or "application/octet-stream"


_NOT_FOUND_PAGE = b"llmtel viewer: not found\n"


def _read_static(static_dir: Path, relative: str) -> tuple[int, bytes, str]:
    """A file under `static_dir`, or 404: also for a name the OS refuses (a NUL byte, too long) or cannot read."""
    root = static_dir.resolve()
    try:
        target = (root / relative).resolve()
        if root in target.parents and target.is_file():
            return 200, target.read_bytes(), _content_type(target)
    except (ValueError, OSError) as error:
        _logger.debug("llmtel viewer: no static file %r: %s", relative[:200], error)
    return 404, _NOT_FOUND_PAGE, "text/plain; charset=utf-8"


def _static_route(static_dir: Path, path: str) -> tuple[int, bytes, str]:
    if path in ("/", "/index.html") or path.startswith(("/trace/", "/search")):
        status, body, content_type = _read_static(static_dir, "index.html")
        if status == 404:
            return 404, b"llmtel viewer: the UI files are missing (no static/index.html)\n", "text/plain; charset=utf-8"
        return status, body, content_type
    if path.startswith("/static/"):
        return _read_static(static_dir, unquote(path[len("/static/") :]))
    if path == "/favicon.ico":
        return _read_static(static_dir, "favicon.ico")
    return 404, _NOT_FOUND_PAGE, "text/plain; charset=utf-8"

