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
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from llmtel._http_server import TrackingHTTPServer, send_reply
from llmtel.receiver._json import REQUEST_TYPES, otlp_json_to_proto
from llmtel.receiver._store import Compression, Encoding, MemoryStore, RequestMeta, Signal, Sink

_logger = logging.getLogger(__name__)

MAX_MESSAGE_BYTES: Final[int] = 64 * 1024 * 1024
"""Largest accepted request, compressed or not (the exporters' default request-size cap)."""

_RESPONSE_TYPES: Final[dict[Signal, type[Message]]] = {
    "traces": trace_service_pb2.ExportTraceServiceResponse,
    "logs": logs_service_pb2.ExportLogsServiceResponse,
    "metrics": metrics_service_pb2.ExportMetricsServiceResponse,
}
_HTTP_PATHS: Final[dict[str, Signal]] = {"/v1/traces": "traces", "/v1/logs": "logs", "/v1/metrics": "metrics"}
_PROTOBUF_TYPES: Final = frozenset({"application/x-protobuf", "application/protobuf"})
_JSON_TYPE: Final = "application/json"

_GRPC_CODE_FOR_HTTP: Final[dict[int, grpc.StatusCode]] = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    500: grpc.StatusCode.INTERNAL,
    501: grpc.StatusCode.UNIMPLEMENTED,
    502: grpc.StatusCode.UNAVAILABLE,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.UNAVAILABLE,
}


# Content-Encoding values we understand.
_COMPRESSIONS: Final[dict[str, Compression | None]] = {
    "": None,
    "identity": None,
    "gzip": "gzip",
    "x-gzip": "gzip",
    "deflate": "deflate",
}

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
            grpc_code = _GRPC_CODE_FOR_HTTP.get(
                http_status,
                grpc.StatusCode.INTERNAL if http_status >= 500 else grpc.StatusCode.INVALID_ARGUMENT,
            )
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


class _GrpcExportServicer:
    """The `Export` method of one OTLP gRPC service (traces, logs or metrics)."""

    def __init__(self, signal: Signal, gate: _FaultGate, sink: Sink) -> None:
        self._signal: Signal = signal
        self._gate = gate
        self._sink = sink
        self._response_type = _RESPONSE_TYPES[signal]

    def Export(self, request: Message, context: grpc.ServicerContext) -> Message:  # noqa: N802 (gRPC name)
        verdict = self._gate.check()
        if verdict is not None:
            fault, release = verdict
            if fault.kind == "blackhole":
                while not release.wait(_BLACKHOLE_POLL_S) and context.is_active():
                    pass
            elif fault.retry_after is not None:
                context.set_trailing_metadata(_retry_info_metadata(fault.retry_after))
            context.abort(fault.grpc_code, f"llmtel receiver: injected {fault.kind} fault")
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


class _BadRequest(Exception):
    """A request the HTTP handler answers with an error status (and a short text message)."""

    def __init__(
        self, status: int, message: str, *, close: bool = False, headers: tuple[tuple[str, str], ...] = ()
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = list(headers)
        if close:
            self.headers.append(("Connection", "close"))


def _decompress(body: bytes, compression: Compression | None) -> bytes:
    if compression is None:
        return body
    if compression == "gzip":
        attempts = (16 + zlib.MAX_WBITS,)
    else:  # HTTP "deflate" is the zlib format; some clients send raw deflate, so try that second.
        attempts = (zlib.MAX_WBITS, -zlib.MAX_WBITS)
    for wbits in attempts:
        decompressor = zlib.decompressobj(wbits=wbits)
        try:
            out = decompressor.decompress(body, MAX_MESSAGE_BYTES + 1)
        except zlib.error:
            continue
        if len(out) > MAX_MESSAGE_BYTES:
            raise _BadRequest(413, "decompressed body too large")
        if not decompressor.eof:
            raise _BadRequest(400, f"truncated {compression} body")
        return out
    raise _BadRequest(400, f"body is not valid {compression} data")


class _HTTPServer(TrackingHTTPServer):
    """The OTLP/HTTP server: carries the fault gate and sink its handlers use."""

    def __init__(self, host: str, port: int, gate: _FaultGate, sink: Sink) -> None:
        self.gate = gate
        self.sink = sink
        super().__init__(host, port, _OTLPHTTPHandler)


class _OTLPHTTPHandler(BaseHTTPRequestHandler):
    """OTLP/HTTP: POST /v1/{traces,logs,metrics}, protobuf or JSON, optionally gzip/deflate compressed."""

    protocol_version = "HTTP/1.1"
    server: _HTTPServer
    # Idle keep-alive connections are dropped after this long, so handler threads don't pile up.
    timeout = 60

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib signature)
        _logger.debug("%s - " + format, self.address_string(), *args)

    def do_POST(self) -> None:  # noqa: N802 (stdlib naming)
        self._handle()

    do_GET = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = do_POST

    def _handle(self) -> None:
        try:
            status, body, content_type, headers = self._process()
        except _BadRequest as error:
            status, body, content_type = error.status, error.message.encode(), "text/plain; charset=utf-8"
            headers = error.headers
        except Exception:
            _logger.exception("OTLP/HTTP receiver failed on %s %s", self.command, self.path[:200])
            status, body, content_type = 500, b"llmtel receiver: internal error", "text/plain; charset=utf-8"
            headers = [("Connection", "close")]
        send_reply(self, status, body, content_type, headers)  # a client gone (after a blackhole, say) is fine

    def _process(self) -> tuple[int, bytes, str, list[tuple[str, str]]]:
        body = self._read_body()
        signal = _HTTP_PATHS.get(urlsplit(self.path).path.rstrip("/"))
        if signal is None:
            raise _BadRequest(404, f"unknown path {self.path[:200]!r}; use /v1/{{traces,logs,metrics}}")
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
                raise _BadRequest(fault.http_status, "llmtel receiver: released from blackhole", close=True)
            extra = [] if fault.retry_after is None else [("Retry-After", f"{fault.retry_after:g}")]
            return fault.http_status, b"llmtel receiver: injected fault", "text/plain; charset=utf-8", extra

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
        """Read the whole body (also for requests we reject, so the kept-alive connection stays usable)."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        raw_length = self.headers.get("Content-Length")
        if raw_length is None:
            return b""
        try:
            length = int(raw_length)
        except ValueError:
            raise _BadRequest(400, "invalid Content-Length", close=True) from None
        if length < 0:
            raise _BadRequest(400, "invalid Content-Length", close=True)
        if length > MAX_MESSAGE_BYTES:
            raise _BadRequest(413, "body too large", close=True)
        body = self.rfile.read(length)
        if len(body) != length:
            raise _BadRequest(400, "body shorter than Content-Length", close=True)
        return body

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                raise _BadRequest(400, "malformed chunked body", close=True) from None
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
            self.rfile.readline(1024)  # CRLF after each chunk

    @staticmethod
    def _decode(signal: Signal, data: bytes, encoding: Encoding) -> Message:
        if encoding == "json":
            try:
                payload = json.loads(data)
                return otlp_json_to_proto(signal, payload)
            except ValueError as error:  # json.JSONDecodeError is one, and otlp_json_to_proto raises it
                raise _BadRequest(400, f"invalid OTLP/JSON: {str(error)[:300]}") from None
        try:
            return REQUEST_TYPES[signal].FromString(data)
        except DecodeError as error:
            raise _BadRequest(400, f"invalid OTLP protobuf: {str(error)[:300]}") from None

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
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        grpc_port: int | None = 0,
        http_port: int | None = 0,
        sink: Sink | None = None,
        *,
        max_workers: int = 4,
    ) -> None:
        self._host = host
        self._grpc_port = grpc_port
        self._http_port = http_port
        self._sink: Sink = sink if sink is not None else MemoryStore()
        self._max_workers = max_workers
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
        gate, sink = self._gate, self._sink
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(
            _GrpcExportServicer("traces", gate, sink), server
        )
        logs_service_pb2_grpc.add_LogsServiceServicer_to_server(
            _GrpcExportServicer("logs", gate, sink), server
        )
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(
            _GrpcExportServicer("metrics", gate, sink), server
        )
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
        server = _HTTPServer(self._host, port, self._gate, self._sink)
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
