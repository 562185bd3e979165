"""Send one serialized OTLP request, once, and say whether it arrived, may be retried, or never will.

No retry loop here: the delivery pipeline decides when to try again (with backoff, from the spool), so a
send never holds a thread longer than one attempt's timeout.
"""

from __future__ import annotations

import gzip
import logging
import math
import re
import urllib.parse
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from llmtel.config import Signal, SignalExport

_logger = logging.getLogger("llmtel.export")

DEFAULT_TIMEOUT = 10.0  # seconds; OTEL_EXPORTER_OTLP_TIMEOUT's default
RETRYABLE_HTTP = frozenset({429, 502, 503, 504})  # the OTLP specification's list
_GRPC_PATHS: dict[Signal, str] = {
    "traces": "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    "metrics": "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    "logs": "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
}
_USER_AGENT = "llmtel-otlp-exporter"
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")


def _split(endpoint: str) -> urllib.parse.SplitResult | None:
    """``endpoint`` split into its parts (a bare ``host:port`` is read as an authority); None if unparsable."""
    try:
        return urllib.parse.urlsplit(endpoint if "://" in endpoint else "//" + endpoint)
    except ValueError:  # an unbalanced IPv6 bracket
        return None


def _host_port(parts: urllib.parse.SplitResult) -> str:
    """The authority without its user info: ``host:port`` as written (IPv6 addresses keep their brackets)."""
    return parts.netloc.rpartition("@")[2]


def display_endpoint(endpoint: str) -> str:
    """``endpoint`` as it may be shown in a log line or message: without user info, query or fragment.

    A URL can carry credentials (``http://user:password@host``) or a token in its query; log lines end up
    in files, terminals and support tickets, so neither is ever shown.
    """
    parts = _split(endpoint)
    if parts is None:
        return "<unparsable endpoint>"
    scheme = f"{parts.scheme}://" if parts.scheme else ""
    return f"{scheme}{_host_port(parts)}{parts.path}"


def redact_endpoints(text: str) -> str:
    """``text`` with every URL in it shown as `display_endpoint` shows it (for error details from libraries)."""
    return _URL_IN_TEXT.sub(lambda match: display_endpoint(match.group()), text)


def _rejection_message(response: Any) -> str:
    """What a collector said when it rejected a request: the message of the ``google.rpc.Status`` body OTLP/HTTP
    answers with (protobuf or JSON, as the request was), else the body's text."""
    content_type = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    try:
        if content_type == "application/x-protobuf":
            from google.rpc import status_pb2

            status = status_pb2.Status()
            status.ParseFromString(response.content)
            return status.message or f"status code {status.code}"
        if content_type == "application/json":
            message = response.json().get("message")
            if isinstance(message, str) and message:
                return message
    except Exception:  # noqa: BLE001 - a body that is not the Status it claims: show its text
        pass
    return response.text


def grpc_target(endpoint: str) -> str:
    """The gRPC channel target for ``endpoint``: its ``host:port``, as the stock OTLP/gRPC exporter uses.

    gRPC addresses a server, not a URL: the scheme only decides TLS (settled in the configuration), and a
    path (``/v1/traces``, a trailing ``/``) is ignored, as the stock exporter ignores it; user info cannot
    be carried by a gRPC target and is dropped too.
    """
    parts = _split(endpoint)
    return _host_port(parts) if parts is not None and parts.netloc else endpoint


def _failure_reason(error: BaseException) -> str:
    """Name a failed request for a log line: its class, and the OS error underneath when there is one.

    ``requests`` wraps a refused connection three levels deep; the URL in its text is already in the
    message, so only the class and the system's reason (``Connection refused``) are kept.
    """
    seen: set[int] = set()
    pending: list[object] = [error]
    while pending:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and current.strerror:
            return f"{type(error).__name__}: {current.strerror}"
        pending.extend((current.__cause__, current.__context__, getattr(current, "reason", None), *current.args))
    return type(error).__name__


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt achieved."""

    kind: Literal["delivered", "retry", "rejected"]
    detail: str = ""
    retry_after: float | None = None  # seconds the collector asked us to wait

    @property
    def delivered(self) -> bool:
        return self.kind == "delivered"


DELIVERED = Outcome("delivered")


class Sender(Protocol):
    """Delivers serialized ``Export*ServiceRequest`` bytes of one signal to one collector endpoint."""

    # Where requests go, without credentials (``grpc://host:port``, or the HTTP URL): what spooled requests
    # are kept apart by, so that they are only ever sent where they were meant to go.
    destination: str

    def send(self, payload: bytes, timeout: float) -> Outcome: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class TransportOptions:
    """The OTEL_EXPORTER_OTLP_* settings the stock exporters read themselves: timeout and TLS files."""

    timeout: float = DEFAULT_TIMEOUT
    certificate: str | None = None
    client_key: str | None = None
    client_certificate: str | None = None
    # (field, variable) for each TLS file set: the variable an error about the file names
    origins: tuple[tuple[str, str], ...] = ()


def transport_options(signal: Signal, environ: Mapping[str, str]) -> TransportOptions:
    """Resolve timeout and TLS files for ``signal`` (per-signal variable first); ``ValueError`` names it."""
    upper = signal.upper()

    def pick(name: str) -> tuple[str | None, str]:
        for key in (f"OTEL_EXPORTER_OTLP_{upper}_{name}", f"OTEL_EXPORTER_OTLP_{name}"):
            value = (environ.get(key) or "").strip()
            if value:
                return value, key
        return None, ""

    raw, key = pick("TIMEOUT")
    timeout = DEFAULT_TIMEOUT
    if raw is not None:
        try:
            timeout = float(raw)
        except ValueError:
            raise ValueError(f"{key}: {raw!r} is not a number (seconds)") from None
        if not math.isfinite(timeout) or timeout <= 0:
            raise ValueError(f"{key}: must be a positive number of seconds, got {raw!r}")
    files = {name: pick(name.upper()) for name in ("certificate", "client_key", "client_certificate")}
    return TransportOptions(
        timeout=timeout,
        certificate=files["certificate"][0],
        client_key=files["client_key"][0],
        client_certificate=files["client_certificate"][0],
        origins=tuple((name, key) for name, (value, key) in files.items() if value is not None),
    )


def _retry_after_header(value: str | None) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # an HTTP date: ignore it, our backoff applies
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


class HttpSender:
    """OTLP/HTTP: POST ``application/x-protobuf`` to the signal's URL, with the configured headers and compression."""

    def __init__(self, export: SignalExport, options: TransportOptions) -> None:
        import requests

        self._url = export.endpoint
        self.destination = _without_user_info(export.endpoint)
        self._compression = export.compression
        self._session = requests.Session()
        self._session.headers.update({"Content-Type": "application/x-protobuf", "User-Agent": _USER_AGENT})
        self._session.headers.update(dict(export.headers))
        if export.compression:
            self._session.headers["Content-Encoding"] = export.compression
        if options.certificate:
            self._session.verify = options.certificate
        if options.client_certificate:
            self._session.cert = (
                (options.client_certificate, options.client_key) if options.client_key else options.client_certificate
            )
        self._requests = requests

    def _body(self, payload: bytes) -> bytes:
        if self._compression == "gzip":
            return gzip.compress(payload, compresslevel=6)
        if self._compression == "deflate":
            return zlib.compress(payload)
        return payload

    def send(self, payload: bytes, timeout: float) -> Outcome:
        timeout = max(0.05, timeout)
        try:
            response = self._session.post(self._url, data=self._body(payload), timeout=(timeout, timeout))
        except self._requests.RequestException as error:  # refused, reset, timed out, TLS...
            return Outcome("retry", _failure_reason(error))
        status = response.status_code
        if 200 <= status < 300:
            return DELIVERED
        detail = f"HTTP {status}"
        if status in RETRYABLE_HTTP:
            return Outcome("retry", detail, _retry_after_header(response.headers.get("Retry-After")))
        return Outcome("rejected", f"{detail}: {_rejection_message(response)[:200]}")

    def close(self) -> None:
        self._session.close()


class GrpcSender:
    """OTLP/gRPC: the ``Export`` method of the signal's service, called with the already-serialized request."""

    # Retryable per the OTLP specification; RESOURCE_EXHAUSTED only with the server's RetryInfo, which says it can
    # recover (throttling). Without it, retrying cannot help: a message over the server's size limit, say.
    _RETRYABLE = (
        "CANCELLED",
        "DEADLINE_EXCEEDED",
        "RESOURCE_EXHAUSTED",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNAVAILABLE",
        "DATA_LOSS",
    )

    def __init__(self, signal: Signal, export: SignalExport, options: TransportOptions) -> None:
        import grpc

        self._grpc = grpc
        target = grpc_target(export.endpoint)
        self.destination = f"grpc://{target}"
        channel_options = [("grpc.primary_user_agent", _USER_AGENT)]
        if export.insecure:
            self._channel = grpc.insecure_channel(target, options=channel_options)
        else:
            self._channel = grpc.secure_channel(target, grpc_credentials(options), options=channel_options)
        # No serializer: the request is already bytes, exactly as spooled.
        self._call = self._channel.unary_unary(_GRPC_PATHS[signal])
        self._metadata = tuple((k.lower(), v) for k, v in export.headers.items()) or None
        self._compression = grpc.Compression.Gzip if export.compression == "gzip" else grpc.Compression.NoCompression
        self._retryable = frozenset(getattr(grpc.StatusCode, name) for name in self._RETRYABLE)

    def send(self, payload: bytes, timeout: float) -> Outcome:
        try:
            self._call(payload, timeout=max(0.05, timeout), metadata=self._metadata, compression=self._compression)
        except self._grpc.RpcError as error:
            code = error.code() if hasattr(error, "code") else None
            detail = f"gRPC {getattr(code, 'name', code)}"
            retry_after = _retry_info(error)
            throttled = code != self._grpc.StatusCode.RESOURCE_EXHAUSTED or retry_after is not None
            if code in self._retryable and throttled:
                return Outcome("retry", detail, retry_after)
            return Outcome("rejected", f"{detail}: {error.details() if hasattr(error, 'details') else ''}")
        except ValueError as error:  # e.g. the channel was closed by shutdown
            return Outcome("retry", f"gRPC {error}")
        return DELIVERED

    def close(self) -> None:
        self._channel.close()


def _retry_info(error: Any) -> float | None:
    try:
        from google.rpc.error_details_pb2 import RetryInfo

        for key, value in error.trailing_metadata() or ():
            if key == "google.rpc.retryinfo-bin":
                delay = RetryInfo.FromString(value).retry_delay
                return delay.seconds + delay.nanos / 1e9
    except Exception:  # noqa: BLE001 - a malformed hint is no reason to fail
        return None
    return None


def _without_user_info(endpoint: str) -> str:
    """``endpoint`` minus user info and fragment: where requests go, whatever credentials they carry."""
    parts = _split(endpoint)
    if parts is None:
        return endpoint
    return urllib.parse.urlunsplit(parts._replace(netloc=_host_port(parts), fragment=""))


def read_tls_files(options: TransportOptions) -> dict[str, bytes | None]:
    """The contents of the configured TLS files, by field name; ``ValueError`` names the variable of one that
    cannot be read (rather than an ``OSError`` that says which path but not which setting)."""
    contents: dict[str, bytes | None] = {}
    for name in ("certificate", "client_key", "client_certificate"):
        path = getattr(options, name)
        if not path:
            contents[name] = None
            continue
        origin = dict(options.origins).get(name) or f"OTEL_EXPORTER_OTLP_{name.upper()}"
        try:
            with open(path, "rb") as file:
                contents[name] = file.read()
        except OSError as error:
            raise ValueError(f"{origin}: cannot read {path!r} ({error.strerror or error})") from None
    return contents


def grpc_credentials(options: TransportOptions) -> Any:
    """TLS channel credentials from the configured files (the system's roots when none is set)."""
    import grpc

    files = read_tls_files(options)
    return grpc.ssl_channel_credentials(
        root_certificates=files["certificate"],
        private_key=files["client_key"],
        certificate_chain=files["client_certificate"],
    )


def build_sender(signal: Signal, export: SignalExport, options: TransportOptions) -> Sender:
    """The sender for ``export``'s protocol (an ``otlp`` exporter)."""
    if export.protocol == "grpc":
        return GrpcSender(signal, export, options)
    return HttpSender(export, options)
