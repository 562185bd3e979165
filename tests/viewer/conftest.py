"""Fixtures for the viewer tests: a running in-memory `Viewer`, JSON GETs against its API, and tracer/logger
providers wired to it through the stock OTLP exporters."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any, ParamSpec, TypeVar

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from llmtel.viewer import Viewer


@pytest.fixture
def viewer() -> Iterator[Viewer]:
    with Viewer() as running:
        yield running


def get_json(viewer: Viewer, path: str) -> tuple[int, Any]:
    """GET `path` from the viewer's UI port; (status, parsed JSON body) for success and errors alike."""
    try:
        with urllib.request.urlopen(viewer.ui_url + path, timeout=10) as response:
            assert response.headers["Content-Type"] == "application/json"
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        assert error.headers["Content-Type"] == "application/json"
        return error.code, json.loads(error.read())


TracerFactory = Callable[..., TracerProvider]
P = ParamSpec("P")
Provider = TypeVar("Provider", TracerProvider, LoggerProvider)


def shut_down_after(build: Callable[P, Provider]) -> Iterator[Callable[P, Provider]]:
    """Fixture body: yield `build` remembering what it makes, then shut all of that down (exporters stop)."""
    made: list[Provider] = []

    def make(*args: P.args, **kwargs: P.kwargs) -> Provider:
        provider = build(*args, **kwargs)
        made.append(provider)
        return provider

    yield make
    for provider in made:
        provider.shutdown()


@pytest.fixture
def tracer_provider(viewer: Viewer) -> Iterator[TracerFactory]:
    """Make TracerProviders exporting synchronously to the viewer (HTTP/protobuf unless ``grpc=True``)."""

    def make(service: str = "svc", *, grpc: bool = False, gzip: bool = False, **resource: Any) -> TracerProvider:
        provider = TracerProvider(resource=Resource.create({"service.name": service, **resource}))
        if grpc:
            exporter: Any = GrpcSpanExporter(endpoint=viewer.otlp_grpc_endpoint, insecure=True, timeout=5)
        else:
            exporter = OTLPSpanExporter(
                endpoint=f"{viewer.otlp_http_endpoint}/v1/traces",
                timeout=5,
                compression=Compression.Gzip if gzip else Compression.NoCompression,
            )
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        return provider

    yield from shut_down_after(make)


@pytest.fixture
def logger_provider(viewer: Viewer) -> Iterator[Callable[[str], LoggerProvider]]:
    """Make LoggerProviders exporting synchronously to the viewer over HTTP/protobuf."""

    def make(service: str = "svc") -> LoggerProvider:
        provider = LoggerProvider(resource=Resource.create({"service.name": service}))
        exporter = OTLPLogExporter(endpoint=f"{viewer.otlp_http_endpoint}/v1/logs", timeout=5)
        provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
        return provider

    yield from shut_down_after(make)


def hex_trace_id(span: Any) -> str:
    return format(span.get_span_context().trace_id, "032x")


def hex_span_id(span: Any) -> str:
    return format(span.get_span_context().span_id, "016x")
