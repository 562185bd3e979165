"""`OTLPReceiver`: OTLP/gRPC and OTLP/HTTP servers on loopback feeding a `Sink`, with injectable faults so
tests can check what real exporters send and how they cope with a failing collector."""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Final, Literal
from urllib.parse import urlsplit

import grpc
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import DecodeError, Message
from google.rpc.error_details_pb2 import RetryInfo
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from llmtel._http_server import TrackingHTTPServer, send_reply
from llmtel.receiver._items import TooManyItems, check_json_items, check_protobuf_items
from llmtel.receiver._json import REQUEST_TYPES, otlp_json_to_proto
from llmtel.receiver._store import Compression, Encoding, MemoryStore, RequestMeta, Signal, Sink

_logger = logging.getLogger(__name__)

MAX_MESSAGE_BYTES: Final[int] = 64 * 1024 * 1024
"""Largest accepted request, compressed or not (the exporters' default request-size cap)."""

MAX_REQUEST_ITEMS: Final[int] = 100_000
"""Default cap on the spans, log records or metric data points of one request (``OTLPReceiver(max_request_items=)``).

Larger requests are refused (HTTP 413, gRPC RESOURCE_EXHAUSTED) before they are built: a few KiB of gzip can
otherwise unfold into millions of empty spans and gigabytes of memory. Exporters batch far fewer (the SDKs 512,
the collector's batch processor 8192 by default)."""

HTTP_TIMEOUT_S: Final[float] = 60.0
"""Default for ``OTLPReceiver(http_timeout=)``: how long an HTTP client may stay silent, idle between requests
or stalled mid-request, before its connection is closed."""

_RESPONSE_TYPES: Final[dict[Signal, type[Message]]] = {
    "traces": trace_service_pb2.ExportTraceServiceResponse,
    "logs": logs_service_pb2.ExportLogsServiceResponse,
    "metrics": metrics_service_pb2.ExportMetricsServiceResponse,
}
_HTTP_PATHS: Final[dict[str, Signal]] = {"/v1/traces": "traces", "/v1/logs": "logs", "/v1/metrics": "metrics"}
_PROTOBUF_TYPES: Final = frozenset({"application/x-protobuf", "application/protobuf"})
_JSON_TYPE: Final = "application/json"

_GRPC_SERVICES: Final[dict[Signal, str]] = {
    "traces": trace_service_pb2.DESCRIPTOR.services_by_name["TraceService"].full_name,
    "logs": logs_service_pb2.DESCRIPTOR.services_by_name["LogsService"].full_name,
    "metrics": metrics_service_pb2.DESCRIPTOR.services_by_name["MetricsService"].full_name,
}

_GRPC_CODE_FOR_HTTP: Final[dict[int, grpc.StatusCode]] = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.UNIMPLEMENTED,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    500: grpc.StatusCode.INTERNAL,
    501: grpc.StatusCode.UNIMPLEMENTED,
    502: grpc.StatusCode.UNAVAILABLE,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.UNAVAILABLE,
}


def grpc_code_for_http(http_status: int) -> grpc.StatusCode:
    """The gRPC code for an HTTP error status: gRPC's HTTP mapping, with 400 as INVALID_ARGUMENT and 429 as
    RESOURCE_EXHAUSTED as the OpenTelemetry Collector does; otherwise INTERNAL for 5xx, INVALID_ARGUMENT for 4xx.
    Faults use it for gRPC calls, and the HTTP server for the ``google.rpc.Status`` in its error bodies."""
    default = grpc.StatusCode.INTERNAL if http_status >= 500 else grpc.StatusCode.INVALID_ARGUMENT
    return _GRPC_CODE_FOR_HTTP.get(http_status, default)


def _status_body(http_status: int, message: str, encoding: Encoding, code: grpc.StatusCode | None = None) -> bytes:
    """An OTLP/HTTP error body: a ``google.rpc.Status`` (code, message) in protobuf or in protobuf's JSON
    mapping, as the OTLP/HTTP specification asks of every 4xx and 5xx reply."""
    number = (code or grpc_code_for_http(http_status)).value[0]
    if encoding == "json":
        return json.dumps({"code": number, "message": message}, ensure_ascii=False).encode()
    return Status(code=number, message=message).SerializeToString()


def _reply_encoding(content_type: str | None) -> tuple[Encoding, str]:
    """The encoding and Content-Type of an error reply: the request's, if it is protobuf or JSON; protobuf
    (the OTLP default) for any other or none, such as an unsupported content type answered 415."""
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type == _JSON_TYPE:
        return "json", _JSON_TYPE
    if media_type in _PROTOBUF_TYPES:
        return "protobuf", media_type
    return "protobuf", "application/x-protobuf"


# Content-Encoding values we understand.
_COMPRESSIONS: Final[dict[str, Compression | None]] = {
    "": None,
    "identity": None,
    "gzip": "gzip",
    "x-gzip": "gzip",
    "deflate": "deflate",
}

# Most gzip members one body may chain (RFC 1952 allows any number; each costs a decompressor).
_MAX_GZIP_MEMBERS: Final = 1000
# Compressed input fed to zlib per call, so that what is left after a gzip member is only ever a small copy.
_INFLATE_STEP: Final = 64 * 1024
_HEX_DIGITS: Final = frozenset(b"0123456789abcdefABCDEF")

# How often a blackholed gRPC handler checks whether its client gave up, so it frees its pool thread.
_BLACKHOLE_POLL_S: Final = 0.05


@dataclass(frozen=True, slots=True)
class Fault:
    """A failure the receiver simulates for every request until cleared: an error status, or no answer.

    Build one with `Fault.status(...)` or `Fault.blackhole()` and pass it to `OTLPReceiver.set_fault`.
    """

    kind: Literal["status", "blackhole"]
    http_status: int
    grpc_code: grpc.StatusCode
    retry_after: float | None = None
    """Seconds; sent as HTTP ``Retry-After`` and as gRPC ``google.rpc.retryinfo-bin`` trailing metadata."""

    @classmethod
    def status(
        cls, http_status: int, retry_after: float | None = None, *, grpc_code: grpc.StatusCode | None = None
    ) -> Fault:
        """Answer HTTP requests with `http_status` and gRPC calls with the matching (or given) status code."""
        if not 400 <= http_status <= 599:
            raise ValueError(f"a fault needs an error status (4xx/5xx), got {http_status}")
        if retry_after is not None and retry_after < 0:
            raise ValueError("retry_after must be >= 0")
        if grpc_code is None:
            grpc_code = grpc_code_for_http(http_status)
        return cls("status", http_status, grpc_code, retry_after)

    @classmethod
    def blackhole(cls) -> Fault:
        """Read requests but never answer, until the fault is cleared or the receiver stops.

        Requests held this way are then answered 503 / UNAVAILABLE (their clients have usually given up).
        """
        return cls("blackhole", 503, grpc.StatusCode.UNAVAILABLE)


class _FaultGate:
    """The current fault, the event blackholed handlers wait on, and the count of faulted requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fault: Fault | None = None
        self._release = threading.Event()
        self._rejected = 0

    @property
    def fault(self) -> Fault | None:
        return self._fault

    @property
    def rejected(self) -> int:
        return self._rejected

    def set(self, fault: Fault | None) -> None:
        with self._lock:
            self._fault = fault
            if fault is None:
                self._release_locked()

    def release_waiters(self) -> None:
        """Let every blackholed handler answer now; later requests still meet the current fault."""
        with self._lock:
            self._release_locked()

    def _release_locked(self) -> None:
        self._release.set()
        self._release = threading.Event()

    def check(self) -> tuple[Fault, threading.Event] | None:
        """The fault to apply to a request (counting it as rejected), with its release event; or None."""
        with self._lock:
            if self._fault is None:
                return None
            self._rejected += 1
            return self._fault, self._release


def _format_host(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _retry_info_metadata(seconds: float) -> tuple[tuple[str, bytes], ...]:
    whole = int(seconds)
    delay = Duration(seconds=whole, nanos=int(round((seconds - whole) * 1e9)))
    return (("google.rpc.retryinfo-bin", RetryInfo(retry_delay=delay).SerializeToString()),)


def _parse_protobuf(signal: Signal, data: bytes, max_items: int) -> Message:
    """The signal's export request in `data`, its items counted first; raises `TooManyItems` or `DecodeError`."""
    check_protobuf_items(signal, data, max_items)
    return REQUEST_TYPES[signal].FromString(data)


class _GrpcExportServicer:
    """The `Export` method of one OTLP gRPC service (traces, logs or metrics).

    It takes the request as raw bytes and parses it itself, so a malformed one is answered INVALID_ARGUMENT
    instead of grpcio logging a deserialization traceback and answering INTERNAL.
    """

    def __init__(self, signal: Signal, gate: _FaultGate, sink: Sink, max_items: int) -> None:
        self._signal: Signal = signal
        self._gate = gate
        self._sink = sink
        self._max_items = max_items
        self._response_type = _RESPONSE_TYPES[signal]

    def handler(self) -> grpc.GenericRpcHandler:
        """The service's handler, for `grpc.Server.add_generic_rpc_handlers`."""
        export = grpc.unary_unary_rpc_method_handler(
            self.Export, request_deserializer=None, response_serializer=self._response_type.SerializeToString
        )
        return grpc.method_handlers_generic_handler(_GRPC_SERVICES[self._signal], {"Export": export})

    def Export(self, data: bytes, context: grpc.ServicerContext) -> Message:  # noqa: N802 (gRPC name)
        verdict = self._gate.check()
        if verdict is not None:
            fault, release = verdict
            if fault.kind == "blackhole":
                while not release.wait(_BLACKHOLE_POLL_S) and context.is_active():
                    pass
            elif fault.retry_after is not None:
                context.set_trailing_metadata(_retry_info_metadata(fault.retry_after))
            context.abort(fault.grpc_code, f"llmtel receiver: injected {fault.kind} fault")
        request = self._parse(data, context)
        headers: dict[str, str] = {}
        for key, value in context.invocation_metadata():
            text = value if isinstance(value, str) else base64.b64encode(value).decode("ascii")
            headers[key.lower()] = f"{headers[key.lower()]}, {text}" if key.lower() in headers else text
        meta = RequestMeta(
            transport="grpc",
            encoding="protobuf",
            # grpcio decompresses before the servicer runs and strips `grpc-encoding` from the metadata.
            compression=None,
            headers=headers,
            received_at=time.time(),
        )
        try:
            self._sink.accept(self._signal, request, meta)
        except Exception:
            _logger.exception("sink failed on a gRPC %s request", self._signal)
            context.abort(grpc.StatusCode.INTERNAL, "llmtel receiver: sink failed")
        return self._response_type()

    def _parse(self, data: bytes, context: grpc.ServicerContext) -> Message:
        try:
            return _parse_protobuf(self._signal, data, self._max_items)
        except TooManyItems as error:
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, f"llmtel receiver: {error}")
        except DecodeError as error:
            _logger.debug("invalid gRPC %s request: %s", self._signal, error)
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"llmtel receiver: invalid OTLP protobuf: {error}")


class _BadRequest(Exception):
    """A request the HTTP handler answers with an error status (and a ``google.rpc.Status`` saying why)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        close: bool = False,
        headers: tuple[tuple[str, str], ...] = (),
        grpc_code: grpc.StatusCode | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.grpc_code = grpc_code
        """The code for the reply's ``google.rpc.Status``; None: the one `grpc_code_for_http` gives."""
        self.headers = list(headers)
        if close:
            self.headers.append(("Connection", "close"))


def _decompress(body: bytes, compression: Compression | None) -> bytes:
    """The decoded body: every gzip member, or the zlib (else raw) deflate stream; at most MAX_MESSAGE_BYTES."""
    if compression is None:
        return body
    if compression == "gzip":
        attempts = (16 + zlib.MAX_WBITS,)
    else:  # HTTP "deflate" is the zlib format; some clients send raw deflate, so try that second.
        attempts = (zlib.MAX_WBITS, -zlib.MAX_WBITS)
    for wbits in attempts:
        try:
            return _inflate(body, wbits, compression)
        except zlib.error:
            continue
    raise _BadRequest(400, f"body is not valid {compression} data")


def _inflate(body: bytes, wbits: int, compression: Compression) -> bytes:
    """Decompress `body`, which must be whole streams back to back (one unless gzip), with a running cap on
    the output. Raises `zlib.error` on corrupt data and `_BadRequest` on a truncated body or trailing bytes."""
    view = memoryview(body)
    parts: list[bytes] = []
    size = pos = 0
    for _ in range(_MAX_GZIP_MEMBERS):
        decompressor = zlib.decompressobj(wbits=wbits)
        while not decompressor.eof:
            if pos == len(body):
                raise _BadRequest(400, f"truncated {compression} body")
            piece = view[pos : pos + _INFLATE_STEP]
            pos += len(piece)
            parts.append(decompressor.decompress(piece, MAX_MESSAGE_BYTES - size + 1))
            size += len(parts[-1])
            if size > MAX_MESSAGE_BYTES:
                raise _BadRequest(413, "decompressed body too large")
        pos -= len(decompressor.unused_data)
        if pos == len(body):
            return b"".join(parts)
        if compression != "gzip" or not body.startswith(b"\x1f\x8b", pos):
            raise _BadRequest(400, f"unexpected bytes after the {compression} data")
    raise _BadRequest(413, f"more than {_MAX_GZIP_MEMBERS} gzip members")


def _signal_for(target: str) -> Signal:
    """The signal a request target (``/v1/traces``, or an absolute URL) posts; raises `_BadRequest` if none."""
    try:
        path = urlsplit(target).path
    except ValueError:  # an unparsable URL, such as ``http://[/v1/traces``
        raise _BadRequest(400, f"invalid request target {target[:200]!r}") from None
    signal = _HTTP_PATHS.get(path.rstrip("/"))
    if signal is None:
        raise _BadRequest(404, f"unknown path {target[:200]!r}; use /v1/{{traces,logs,metrics}}")
    return signal


def _content_length(values: list[str]) -> int:
    """The body length from the ``Content-Length`` header(s): ASCII digits only (`int` would also take
    ``+1``, ``1_0`` or other scripts' digits), and several headers must agree."""
    texts = {value.strip() for value in values}
    if len(texts) != 1:
        raise _BadRequest(400, "conflicting Content-Length headers", close=True)
    [text] = texts
    if not (text.isascii() and text.isdigit()):
        raise _BadRequest(400, "invalid Content-Length", close=True)
    length = int(text) if len(text) <= 18 else MAX_MESSAGE_BYTES + 1  # int() refuses over 4300 digits
    if length > MAX_MESSAGE_BYTES:
        raise _BadRequest(413, "body too large", close=True)
    return length


def _chunk_size(line: bytes) -> int:
    """The size on a chunk-size line: hex digits, then optional ``;extensions``, then the line end."""
    digits = line.split(b";", 1)[0].strip()
    if not line.endswith(b"\n") or not digits or len(digits) > 16 or not _HEX_DIGITS.issuperset(digits):
        raise _BadRequest(400, "malformed chunked body", close=True)
    return int(digits, 16)


class _HTTPServer(TrackingHTTPServer):
    """The OTLP/HTTP server: carries the fault gate, sink and limits its handlers use."""

    def __init__(
        self, host: str, port: int, gate: _FaultGate, sink: Sink, *, max_items: int, client_timeout: float
    ) -> None:
        self.gate = gate
        self.sink = sink
        self.max_items = max_items
        self.client_timeout = client_timeout
        super().__init__(host, port, _OTLPHTTPHandler)


class _OTLPHTTPHandler(BaseHTTPRequestHandler):
    """OTLP/HTTP: POST /v1/{traces,logs,metrics}, protobuf or JSON, optionally gzip/deflate compressed."""

    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def setup(self) -> None:
        # Silent clients (idle keep-alive, or stalled mid-request) are dropped, so handler threads don't pile up.
        self.timeout = self.server.client_timeout
        super().setup()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib signature)
        _logger.debug("%s - " + format, self.address_string(), *args)

    def do_POST(self) -> None:  # noqa: N802 (stdlib naming)
        self._handle()

    do_GET = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = do_POST

    def _handle(self) -> None:
        try:
            status, body, content_type, headers = self._process()
        except _BadRequest as error:
            _logger.debug("OTLP/HTTP %s %s: %d %s", self.command, self.path[:200], error.status, error.message)
            status, headers = error.status, error.headers
            body, content_type = self._error_body(status, error.message, error.grpc_code)
        except Exception:
            _logger.exception("OTLP/HTTP receiver failed on %s %s", self.command, self.path[:200])
            status, headers = 500, [("Connection", "close")]
            body, content_type = self._error_body(status, "llmtel receiver: internal error")
        send_reply(self, status, body, content_type, headers)  # a client gone (after a blackhole, say) is fine

    def _error_body(
        self, status: int, message: str, code: grpc.StatusCode | None = None
    ) -> tuple[bytes, str]:
        """The body and Content-Type of an error reply: a ``google.rpc.Status`` encoded as the request was."""
        encoding, content_type = _reply_encoding(self.headers.get("Content-Type"))
        return _status_body(status, message, encoding, code), content_type

    def _process(self) -> tuple[int, bytes, str, list[tuple[str, str]]]:
        body = self._read_body()
        signal = _signal_for(self.path)
        if self.command != "POST":
            raise _BadRequest(405, f"{self.command} not allowed; use POST", headers=(("Allow", "POST"),))
        media_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        encoding: Encoding
        if media_type in _PROTOBUF_TYPES:
            encoding = "protobuf"
        elif media_type == _JSON_TYPE:
            encoding = "json"
        else:
            raise _BadRequest(415, f"unsupported content type {media_type!r}; use protobuf or JSON")
        content_encoding = (self.headers.get("Content-Encoding") or "").strip().lower()
        if content_encoding not in _COMPRESSIONS:
            raise _BadRequest(415, f"unsupported content encoding {content_encoding!r}")
        compression = _COMPRESSIONS[content_encoding]

        verdict = self.server.gate.check()
        if verdict is not None:
            fault, release = verdict
            if fault.kind == "blackhole":
                release.wait()
                raise _BadRequest(
                    fault.http_status, "llmtel receiver: released from blackhole", close=True, grpc_code=fault.grpc_code
                )
            extra = [] if fault.retry_after is None else [("Retry-After", f"{fault.retry_after:g}")]
            raise _BadRequest(fault.http_status, "llmtel receiver: injected fault", headers=tuple(extra),
                              grpc_code=fault.grpc_code)

        request = self._decode(signal, _decompress(body, compression), encoding)
        meta = RequestMeta(
            transport="http",
            encoding=encoding,
            compression=compression,
            headers=self._lowercased_headers(),
            received_at=time.time(),
        )
        try:
            self.server.sink.accept(signal, request, meta)
        except Exception:
            _logger.exception("sink failed on an HTTP %s request", signal)
            raise _BadRequest(500, "llmtel receiver: sink failed") from None
        if encoding == "json":
            return 200, b"{}", _JSON_TYPE, []
        return 200, _RESPONSE_TYPES[signal]().SerializeToString(), media_type, []

    def _read_body(self) -> bytes:
        """Read the whole body (also for requests we reject, so the kept-alive connection stays usable).

        A client that stalls past the timeout is answered 408 and one that breaks the connection 400, both
        with the connection closed: their fault, not the receiver's.
        """
        try:
            return self._read_sized_or_chunked()
        except TimeoutError:
            raise _BadRequest(408, "timed out reading the request body", close=True) from None
        except OSError as error:
            raise _BadRequest(400, f"connection failed while reading the body: {error}", close=True) from None

    def _read_sized_or_chunked(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        lengths = self.headers.get_all("Content-Length")
        if not lengths:
            return b""
        length = _content_length(lengths)
        body = self.rfile.read(length)
        if len(body) != length:
            raise _BadRequest(400, "body shorter than Content-Length", close=True)
        return body

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            size = _chunk_size(self.rfile.readline(1024))
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            total += size
            if total > MAX_MESSAGE_BYTES:
                raise _BadRequest(413, "body too large", close=True)
            chunk = self.rfile.read(size)
            if len(chunk) != size:
                raise _BadRequest(400, "truncated chunked body", close=True)
            chunks.append(chunk)
            if self.rfile.readline(3) not in (b"\r\n", b"\n"):
                raise _BadRequest(400, "malformed chunked body: no line end after a chunk", close=True)

    def _decode(self, signal: Signal, data: bytes, encoding: Encoding) -> Message:
        try:
            if encoding == "json":
                return self._decode_json(signal, data)
            return _parse_protobuf(signal, data, self.server.max_items)
        except TooManyItems as error:
            raise _BadRequest(413, f"llmtel receiver: {error}") from None
        except DecodeError as error:
            raise _BadRequest(400, f"invalid OTLP protobuf: {str(error)[:300]}") from None

    def _decode_json(self, signal: Signal, data: bytes) -> Message:
        try:
            payload = json.loads(data)
        except RecursionError:
            raise _BadRequest(400, "invalid OTLP/JSON: nested too deeply") from None
        except ValueError as error:  # json.JSONDecodeError, UnicodeDecodeError, too many digits in a number
            raise _BadRequest(400, f"invalid OTLP/JSON: {str(error)[:300]}") from None
        check_json_items(signal, payload, self.server.max_items)
        try:
            return otlp_json_to_proto(signal, payload)
        except ValueError as error:
            raise _BadRequest(400, f"invalid OTLP/JSON: {str(error)[:300]}") from None

    def _lowercased_headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        return headers


class OTLPReceiver:
    """A real OTLP endpoint (gRPC and HTTP) on local ports that hands every request to a `Sink`.

    Port 0 picks a free port; after `stop()`, `start()` binds the same ports again, so a test can take the
    "collector" down and bring it back. Pass None as a port to disable that transport.

    ``max_request_items`` caps the spans, log records or metric data points of one request (see
    `MAX_REQUEST_ITEMS`); ``http_timeout`` is how many seconds an HTTP client may stay silent, idle or
    mid-request, before its connection is closed (a stalled body is answered 408).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        grpc_port: int | None = 0,
        http_port: int | None = 0,
        sink: Sink | None = None,
        *,
        max_workers: int = 4,
        max_request_items: int = MAX_REQUEST_ITEMS,
        http_timeout: float = HTTP_TIMEOUT_S,
    ) -> None:
        if max_request_items < 1:
            raise ValueError("max_request_items must be >= 1")
        if not http_timeout > 0:
            raise ValueError("http_timeout must be > 0")
        for name, port in (("grpc_port", grpc_port), ("http_port", http_port)):
            if port is not None and not 0 <= port <= 65535:  # gRPC would bind port % 65536, HTTP overflow
                raise ValueError(f"{name}: {port} is not a port number (0-65535)")
        self._host = host
        self._grpc_port = grpc_port
        self._http_port = http_port
        self._sink: Sink = sink if sink is not None else MemoryStore()
        self._max_workers = max_workers
        self._max_items = max_request_items
        self._http_timeout = http_timeout
        self._gate = _FaultGate()
        self._lifecycle_lock = threading.Lock()
        self._running = False
        self._grpc_server: grpc.Server | None = None
        self._grpc_executor: ThreadPoolExecutor | None = None
        self._http_server: _HTTPServer | None = None

    def __repr__(self) -> str:
        state = "running" if self._running else "stopped"
        return f"<OTLPReceiver {state} grpc={self._grpc_port} http={self._http_port}>"

    # -- lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> OTLPReceiver:
        """Bind and serve (no-op if running). Returns self."""
        with self._lifecycle_lock:
            if self._running:
                return self
            try:
                if self._grpc_port is not None:
                    self._start_grpc(self._grpc_port)
                if self._http_port is not None:
                    self._start_http(self._http_port)
            except BaseException:
                self._stop_servers()
                raise
            self._running = True
        return self

    def stop(self) -> None:
        """Stop serving and close client connections; blackholed requests are released. Idempotent."""
        with self._lifecycle_lock:
            self._stop_servers()
            self._running = False

    def __enter__(self) -> OTLPReceiver:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _start_grpc(self, port: int) -> None:
        executor = ThreadPoolExecutor(max_workers=self._max_workers, thread_name_prefix="otlp-receiver-grpc")
        server = grpc.server(
            executor,
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                # Fail loudly instead of silently sharing a port with another server.
                ("grpc.so_reuseport", 0),
            ],
        )
        # Keep strong references: the server must outlive this call, and stop() needs both.
        self._grpc_server, self._grpc_executor = server, executor
        servicers = [_GrpcExportServicer(signal, self._gate, self._sink, self._max_items) for signal in _GRPC_SERVICES]
        server.add_generic_rpc_handlers([servicer.handler() for servicer in servicers])
        address = _format_host(self._host, port)
        try:
            bound = server.add_insecure_port(address)
        except RuntimeError as error:
            raise OSError(f"cannot bind gRPC receiver to {address}: {error}") from error
        if bound == 0:
            raise OSError(f"cannot bind gRPC receiver to {address}")
        self._grpc_port = bound
        server.start()

    def _start_http(self, port: int) -> None:
        server = _HTTPServer(
            self._host, port, self._gate, self._sink, max_items=self._max_items, client_timeout=self._http_timeout
        )
        self._http_server = server
        self._http_port = server.server_port
        server.serve_in_thread("otlp-receiver-http")

    def _stop_servers(self) -> None:
        self._gate.release_waiters()
        http_server, self._http_server = self._http_server, None
        if http_server is not None:
            http_server.stop()
        grpc_server, executor = self._grpc_server, self._grpc_executor
        self._grpc_server = self._grpc_executor = None
        if grpc_server is not None:
            # A short grace lets in-flight exports finish; anything still running after it is cancelled.
            grpc_server.stop(grace=0.2).wait(timeout=2.0)
        if executor is not None:
            executor.shutdown(wait=False)

    # -- endpoints ---------------------------------------------------------------------------------------

    @property
    def host(self) -> str:
        return self._host

    @property
    def grpc_port(self) -> int:
        """The bound gRPC port (the requested one before the first start)."""
        return self._port("gRPC", self._grpc_port)

    @property
    def http_port(self) -> int:
        """The bound HTTP port (the requested one before the first start)."""
        return self._port("HTTP", self._http_port)

    @property
    def grpc_endpoint(self) -> str:
        """``http://host:port``, as the OTLP gRPC exporters take it (with ``insecure=True``)."""
        return f"http://{_format_host(self._host, self.grpc_port)}"

    @property
    def http_endpoint(self) -> str:
        """``http://host:port``; the HTTP exporters need the signal path appended (``/v1/traces``...)."""
        return f"http://{_format_host(self._host, self.http_port)}"

    @staticmethod
    def _port(transport: str, port: int | None) -> int:
        if port is None:
            raise RuntimeError(f"the {transport} server is disabled")
        if port == 0:
            raise RuntimeError(f"the {transport} port is chosen on start(); start the receiver first")
        return port

    @property
    def running(self) -> bool:
        return self._running

    # -- data --------------------------------------------------------------------------------------------

    @property
    def sink(self) -> Sink:
        return self._sink

    @property
    def store(self) -> MemoryStore:
        """The `MemoryStore` receiving the data (raises if a custom, non-MemoryStore sink was given)."""
        if not isinstance(self._sink, MemoryStore):
            raise RuntimeError(f"this receiver feeds a custom sink ({type(self._sink).__name__}), no store")
        return self._sink

    # -- faults ------------------------------------------------------------------------------------------

    @property
    def fault(self) -> Fault | None:
        return self._gate.fault

    def set_fault(self, fault: Fault | None) -> None:
        """Apply `fault` to every following request on both transports (None clears it)."""
        self._gate.set(fault)

    def clear_fault(self) -> None:
        """Serve normally again; requests held by a blackhole are answered 503 / UNAVAILABLE now."""
        self._gate.set(None)

    @property
    def rejected_count(self) -> int:
        """How many requests were answered with (or held by) a fault; they are not passed to the sink."""
        return self._gate.rejected
