"""Construct the stock OpenTelemetry exporters from resolved settings, passing every value explicitly.

Passing values (rather than letting each exporter re-read the environment) makes keyword arguments win over
environment variables, and means what was validated is exactly what is used.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from llmtel.config import Signal, SignalExport
from llmtel.export.senders import grpc_target, read_tls_files, transport_options

# signal -> (console, OTLP/gRPC, OTLP/HTTP) exporter classes, imported only when chosen.
_CLASSES: dict[Signal, tuple[str, str, str]] = {
    "traces": (
        "opentelemetry.sdk.trace.export:ConsoleSpanExporter",
        "opentelemetry.exporter.otlp.proto.grpc.trace_exporter:OTLPSpanExporter",
        "opentelemetry.exporter.otlp.proto.http.trace_exporter:OTLPSpanExporter",
    ),
    "metrics": (
        "opentelemetry.sdk.metrics.export:ConsoleMetricExporter",
        "opentelemetry.exporter.otlp.proto.grpc.metric_exporter:OTLPMetricExporter",
        "opentelemetry.exporter.otlp.proto.http.metric_exporter:OTLPMetricExporter",
    ),
    "logs": (
        "opentelemetry.sdk._logs.export:ConsoleLogRecordExporter",
        "opentelemetry.exporter.otlp.proto.grpc._log_exporter:OTLPLogExporter",
        "opentelemetry.exporter.otlp.proto.http._log_exporter:OTLPLogExporter",
    ),
}


def _load(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def _grpc_kwargs(signal: Signal, export: SignalExport) -> dict[str, Any]:
    """The stock gRPC exporter's arguments: ``host:port`` (a path is ignored, as the stock exporter does).

    The exporter reads its TLS files from the environment itself, and on a missing one only logs and falls
    back to the system's roots; they are read here first, so that a missing file is a ``ValueError`` naming
    its variable, as with the spool on.
    """
    import grpc

    if not export.insecure:
        read_tls_files(transport_options(signal, os.environ))
    return {
        "endpoint": grpc_target(export.endpoint),
        "insecure": export.insecure,
        "headers": dict(export.headers) or None,
        "compression": grpc.Compression.Gzip if export.compression == "gzip" else grpc.Compression.NoCompression,
    }


def _http_kwargs(export: SignalExport) -> dict[str, Any]:
    from opentelemetry.exporter.otlp.proto.http import Compression

    compression = {"gzip": Compression.Gzip, "deflate": Compression.Deflate}.get(
        export.compression or "", Compression.NoCompression
    )
    return {"endpoint": export.endpoint, "headers": dict(export.headers) or None, "compression": compression}


def build_exporter(signal: Signal, export: SignalExport) -> Any | None:
    """The exporter ``export`` asks for (a SpanExporter, MetricExporter or LogRecordExporter), or ``None``."""
    console, grpc_cls, http_cls = _CLASSES[signal]
    if export.exporter == "none":
        return None
    if export.exporter == "console":
        return _load(console)()
    if export.protocol == "grpc":
        return _load(grpc_cls)(**_grpc_kwargs(signal, export))
    return _load(http_cls)(**_http_kwargs(export))
