"""The receiver against the stock OTLP exporters (gRPC and HTTP/protobuf, with and without gzip), restarts
and fault injection. Everything runs on loopback."""

from __future__ import annotations

import logging
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Literal

import grpc
import pytest
from google.protobuf.message import Message
from google.rpc.error_details_pb2 import RetryInfo
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, Status, StatusCode

from llmtel.receiver import Fault, MemoryStore, OTLPReceiver, RequestMeta, Sink

Transport = Literal["grpc", "grpc+gzip", "http", "http+gzip"]
TRANSPORTS: list[Transport] = ["grpc", "grpc+gzip", "http", "http+gzip"]
SERVICE = "receiver-test-service"

# Proto enum values, written out so a mix-up in the flattening can't cancel out in the assertions.
PROTO_SPAN_KIND_CLIENT = 3
PROTO_STATUS_CODE_ERROR = 2
PROTO_TEMPORALITY_CUMULATIVE = 2


def _resource() -> Resource:
    return Resource.create({"service.name": SERVICE, "deployment.environment.name": "test"})


def _exporter(
    signal: Literal["traces", "logs", "metrics"],
    transport: Transport,
    receiver: OTLPReceiver,
    timeout: float = 5.0,
) -> SpanExporter | GrpcLogExporter | HttpLogExporter | GrpcMetricExporter | HttpMetricExporter:
    gzip = transport.endswith("+gzip")
    headers = {"x-llmtel-test": transport}
    if transport.startswith("grpc"):
        grpc_classes = {"traces": GrpcSpanExporter, "logs": GrpcLogExporter, "metrics": GrpcMetricExporter}
        return grpc_classes[signal](
            endpoint=receiver.grpc_endpoint,
            insecure=True,
            timeout=timeout,
            headers=headers,
            compression=grpc.Compression.Gzip if gzip else grpc.Compression.NoCompression,
        )
    http_classes = {"traces": HttpSpanExporter, "logs": HttpLogExporter, "metrics": HttpMetricExporter}
    return http_classes[signal](
        endpoint=f"{receiver.http_endpoint}/v1/{signal}",
        timeout=timeout,
        headers=headers,
        compression=HttpCompression.Gzip if gzip else HttpCompression.NoCompression,
    )


def _assert_meta(
    store: MemoryStore, signal: Literal["traces", "logs", "metrics"], transport: Transport
) -> None:
    requests = store.requests(signal)
    assert requests, f"no {signal} request stored"
    for stored_signal, request, meta in requests:
        assert stored_signal == signal
        assert isinstance(request, Message)
        assert meta.headers["x-llmtel-test"] == transport
        assert meta.encoding == "protobuf"
        assert "OTel-OTLP-Exporter-Python" in meta.headers["user-agent"]
        assert abs(meta.received_at - time.time()) < 60
        if transport.startswith("grpc"):
            assert meta.transport == "grpc"
            assert meta.compression is None  # grpcio does not expose it; see test_grpc_gzip_is_on_the_wire
        else:
            assert meta.transport == "http"
            assert meta.compression == ("gzip" if transport.endswith("+gzip") else None)
            assert meta.headers["content-type"] == "application/x-protobuf"


def _span(name: str = "one-span") -> ReadableSpan:
    """A finished SDK span, for calling `exporter.export([...])` directly."""
    provider = TracerProvider(resource=_resource())
    with provider.get_tracer("receiver-test").start_as_current_span(name) as span:
        pass
    assert isinstance(span, ReadableSpan)
    return span


# -- the stock exporters, per transport --------------------------------------------------------------------


@pytest.mark.timeout(30)
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_traces_from_stock_exporter(otlp_receiver: OTLPReceiver, transport: Transport) -> None:
    provider = TracerProvider(resource=_resource())
    provider.add_span_processor(SimpleSpanProcessor(_exporter("traces", transport, otlp_receiver)))
    tracer = provider.get_tracer("receiver-test-scope", "1.2.3")
    try:
        with tracer.start_as_current_span(
            "parent",
            attributes={"gen_ai.system": "openai", "n": 7, "ratio": 0.5, "ok": True, "tags": ["a", "b"]},
        ) as parent:
            parent.add_event("gen_ai.content.prompt", {"gen_ai.prompt": "hello", "index": 1})
            with tracer.start_as_current_span("child", kind=SpanKind.CLIENT) as child:
                child.set_status(Status(StatusCode.ERROR, "boom"))
    finally:
        provider.shutdown()

    store = otlp_receiver.store
    assert store.wait_for_spans(2, timeout=5)
    spans = {s.name: s for s in store.spans()}
    assert set(spans) == {"parent", "child"}
    got_parent, got_child = spans["parent"], spans["child"]
    parent_ctx, child_ctx = parent.get_span_context(), child.get_span_context()

    assert got_parent.trace_id == f"{parent_ctx.trace_id:032x}" == got_child.trace_id
    assert got_parent.span_id == f"{parent_ctx.span_id:016x}"
    assert got_child.span_id == f"{child_ctx.span_id:016x}"
    assert got_parent.parent_span_id is None
    assert got_child.parent_span_id == got_parent.span_id
    assert got_parent.attributes == {
        "gen_ai.system": "openai",
        "n": 7,
        "ratio": 0.5,
        "ok": True,
        "tags": ("a", "b"),
    }
    assert got_parent.events == (("gen_ai.content.prompt", {"gen_ai.prompt": "hello", "index": 1}),)
    assert got_child.kind == PROTO_SPAN_KIND_CLIENT
    assert (got_child.status_code, got_child.status_message) == (PROTO_STATUS_CODE_ERROR, "boom")
    assert got_parent.status_code == 0
    assert 0 < got_child.start_ns <= got_child.end_ns
    assert got_parent.start_ns <= got_child.start_ns
    for span in (got_parent, got_child):
        assert span.resource["service.name"] == SERVICE
        assert span.resource["deployment.environment.name"] == "test"
        assert (span.scope_name, span.scope_version) == ("receiver-test-scope", "1.2.3")
    _assert_meta(store, "traces", transport)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_logs_from_stock_exporter(otlp_receiver: OTLPReceiver, transport: Transport) -> None:
    logger_provider = LoggerProvider(resource=_resource())
    exporter = _exporter("logs", transport, otlp_receiver)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    otel_logger = logger_provider.get_logger("receiver-test-logs")
    tracer = TracerProvider(resource=_resource()).get_tracer("receiver-test")
    try:
        with tracer.start_as_current_span("around-the-log") as span:
            otel_logger.emit(
                severity_number=SeverityNumber.WARN,
                severity_text="WARN",
                body="model call was slow",
                attributes={"gen_ai.request.model": "gpt-x", "latency_ms": 1234},
                event_name="llmtel.test.slow_call",
            )
        otel_logger.emit(severity_number=SeverityNumber.INFO, body={"structured": ["body", 1]})
    finally:
        logger_provider.shutdown()

    store = otlp_receiver.store
    assert store.wait_for_logs(2, timeout=5)
    correlated, standalone = store.logs()
    ctx = span.get_span_context()
    assert correlated.body == "model call was slow"
    assert (correlated.severity_number, correlated.severity_text) == (SeverityNumber.WARN.value, "WARN")
    assert correlated.attributes == {"gen_ai.request.model": "gpt-x", "latency_ms": 1234}
    assert correlated.trace_id == f"{ctx.trace_id:032x}"
    assert correlated.span_id == f"{ctx.span_id:016x}"
    assert correlated.event_name == "llmtel.test.slow_call"
    assert correlated.observed_time_ns > 0
    assert standalone.body == {"structured": ("body", 1)}
    assert standalone.severity_number == SeverityNumber.INFO.value
    assert standalone.trace_id is None and standalone.span_id is None
    for record in (correlated, standalone):
        assert record.resource["service.name"] == SERVICE
        assert record.scope_name == "receiver-test-logs"
    _assert_meta(store, "logs", transport)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_metrics_from_stock_exporter(otlp_receiver: OTLPReceiver, transport: Transport) -> None:
    # A long interval: only force_flush() (and the final collection on shutdown) export.
    reader = PeriodicExportingMetricReader(
        _exporter("metrics", transport, otlp_receiver), export_interval_millis=3_600_000
    )
    meter_provider = MeterProvider(resource=_resource(), metric_readers=[reader])
    meter = meter_provider.get_meter("receiver-test-meter", "0.1")
    try:
        counter = meter.create_counter("llmtel.test.tokens", unit="{token}", description="tokens used")
        counter.add(3, {"gen_ai.token.type": "input"})
        counter.add(4, {"gen_ai.token.type": "input"})
        histogram = meter.create_histogram(
            "llmtel.test.duration", unit="s", explicit_bucket_boundaries_advisory=[1.0, 10.0, 100.0]
        )
        for value in (0.5, 5.0, 50.0, 500.0, 7.0):
            histogram.record(value, {"gen_ai.request.model": "gpt-x"})
        gauge = meter.create_gauge("llmtel.test.queue_depth")
        gauge.set(2.5)
        assert meter_provider.force_flush(timeout_millis=5_000)
    finally:
        meter_provider.shutdown(timeout_millis=5_000)

    store = otlp_receiver.store
    assert store.wait_for_metric("llmtel.test.duration", timeout=5)
    first_export = {}
    for point in store.metric_points():
        first_export.setdefault(point.name, point)  # shutdown exports the same cumulative data again

    tokens = first_export["llmtel.test.tokens"]
    assert (tokens.kind, tokens.value, tokens.unit) == ("sum", 7, "{token}")
    assert tokens.description == "tokens used"
    assert tokens.is_monotonic is True
    assert tokens.temporality == PROTO_TEMPORALITY_CUMULATIVE
    assert tokens.attributes == {"gen_ai.token.type": "input"}

    duration = first_export["llmtel.test.duration"]
    assert duration.kind == "histogram"
    assert duration.value is None
    assert duration.count == 5
    assert duration.sum == pytest.approx(562.5)
    assert duration.explicit_bounds == (1.0, 10.0, 100.0)
    assert duration.bucket_counts == (1, 2, 1, 1)
    assert duration.attributes == {"gen_ai.request.model": "gpt-x"}

    queue = first_export["llmtel.test.queue_depth"]
    assert (queue.kind, queue.value) == ("gauge", 2.5)

    for point in first_export.values():
        assert point.resource["service.name"] == SERVICE
        assert point.scope_name == "receiver-test-meter"
        assert point.time_ns > 0
    _assert_meta(store, "metrics", transport)


# -- gzip on gRPC ------------------------------------------------------------------------------------------


class _CountingProxy:
    """TCP forwarder that counts the bytes clients send, to see what is really on the wire."""

    def __init__(self, upstream_port: int) -> None:
        self._upstream = ("127.0.0.1", upstream_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.sent_upstream = 0
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = [self._listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._upstream)
            self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, count: bool) -> None:
        try:
            while data := src.recv(65536):
                if count:
                    with self._lock:
                        self.sent_upstream += len(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        for s in self._sockets:
            s.close()


@pytest.mark.timeout(30)
@pytest.mark.parametrize("gzip", [True, False], ids=["gzip", "identity"])
def test_grpc_gzip_is_on_the_wire(otlp_receiver: OTLPReceiver, gzip: bool) -> None:
    """grpcio hides the request compression from servicers, so measure the bytes instead."""
    proxy = _CountingProxy(otlp_receiver.grpc_port)
    payload = "x" * 200_000
    exporter = GrpcSpanExporter(
        endpoint=f"http://127.0.0.1:{proxy.port}",
        insecure=True,
        timeout=5,
        compression=grpc.Compression.Gzip if gzip else grpc.Compression.NoCompression,
    )
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        with provider.get_tracer("t").start_as_current_span("big", attributes={"payload": payload}):
            pass
    finally:
        provider.shutdown()
        proxy.close()
    assert otlp_receiver.store.wait_for_spans(1, timeout=5)
    assert otlp_receiver.store.spans()[0].attributes["payload"] == payload
    if gzip:
        assert proxy.sent_upstream < 20_000
    else:
        assert proxy.sent_upstream > 200_000


# -- lifecycle ---------------------------------------------------------------------------------------------


def _port_is_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.mark.timeout(40)
def test_stop_then_start_rebinds_same_ports(otlp_receiver: OTLPReceiver) -> None:
    grpc_port, http_port = otlp_receiver.grpc_port, otlp_receiver.http_port
    http_exporter = _exporter("traces", "http", otlp_receiver)
    grpc_exporter = _exporter("traces", "grpc", otlp_receiver)
    assert isinstance(http_exporter, HttpSpanExporter) and isinstance(grpc_exporter, GrpcSpanExporter)
    try:
        assert http_exporter.export([_span("before-http")]) is SpanExportResult.SUCCESS
        assert grpc_exporter.export([_span("before-grpc")]) is SpanExportResult.SUCCESS

        otlp_receiver.stop()
        assert not otlp_receiver.running
        assert not _port_is_open(grpc_port) and not _port_is_open(http_port)

        assert otlp_receiver.start() is otlp_receiver
        assert (otlp_receiver.grpc_port, otlp_receiver.http_port) == (grpc_port, http_port)
        # The same exporters (pooled HTTP connection cut by stop(), gRPC channel that saw the server go away)
        # get through again.
        assert http_exporter.export([_span("after-http")]) is SpanExportResult.SUCCESS
        assert grpc_exporter.export([_span("after-grpc")]) is SpanExportResult.SUCCESS
    finally:
        http_exporter.shutdown()
        grpc_exporter.shutdown()
    names = [s.name for s in otlp_receiver.store.spans()]
    assert names == ["before-http", "before-grpc", "after-http", "after-grpc"]


def test_transports_can_be_disabled() -> None:
    with OTLPReceiver(grpc_port=None) as receiver:
        with pytest.raises(RuntimeError):
            _ = receiver.grpc_endpoint
        assert receiver.http_endpoint == f"http://127.0.0.1:{receiver.http_port}"
        assert _port_is_open(receiver.http_port)
    with OTLPReceiver(http_port=None) as receiver:
        with pytest.raises(RuntimeError):
            _ = receiver.http_port
        assert receiver.grpc_endpoint == f"http://127.0.0.1:{receiver.grpc_port}"
        assert _port_is_open(receiver.grpc_port)


def test_ports_before_start_and_busy_port() -> None:
    with pytest.raises(RuntimeError):
        _ = OTLPReceiver().http_port
    with socket.create_server(("127.0.0.1", 0)) as holder:
        taken = holder.getsockname()[1]
        with pytest.raises(OSError), OTLPReceiver(grpc_port=None, http_port=taken):
            pass
        with pytest.raises(OSError), OTLPReceiver(grpc_port=taken, http_port=None):
            pass


class _ListSink:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Message, RequestMeta]] = []

    def accept(self, signal: str, request: Message, meta: RequestMeta) -> None:
        self.calls.append((signal, request, meta))


def test_custom_sink_receives_requests() -> None:
    sink = _ListSink()
    assert isinstance(sink, Sink)
    with OTLPReceiver(sink=sink) as receiver:
        with pytest.raises(RuntimeError):
            _ = receiver.store
        assert receiver.sink is sink
        exporter = _exporter("traces", "http", receiver)
        assert exporter.export([_span("to-custom-sink")]) is SpanExportResult.SUCCESS
        exporter.shutdown()
    [(signal, request, meta)] = sink.calls
    assert signal == "traces"
    assert isinstance(request, ExportTraceServiceRequest)
    assert request.resource_spans[0].scope_spans[0].spans[0].name == "to-custom-sink"
    assert meta.transport == "http"


# -- fault injection ---------------------------------------------------------------------------------------


@pytest.fixture
def quiet_exporter_logs() -> Iterator[None]:
    """The exporters log every retry and failure at WARNING/ERROR; expected here, so keep the output clean."""
    names = ["opentelemetry.exporter.otlp.proto.http", "opentelemetry.exporter.otlp.proto.grpc"]
    loggers = [logging.getLogger(name) for name in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    yield
    for lg, level in zip(loggers, levels):
        lg.setLevel(level)


def _timed(fn: Callable[[], object]) -> tuple[object, float]:
    start = time.monotonic()
    result = fn()
    return result, time.monotonic() - start


@pytest.mark.timeout(30)
@pytest.mark.usefixtures("quiet_exporter_logs")
def test_http_503_fault_with_retry_after(otlp_receiver: OTLPReceiver) -> None:
    exporter = _exporter("traces", "http", otlp_receiver, timeout=2)
    try:
        otlp_receiver.set_fault(Fault.status(503, retry_after=1))
        result, elapsed = _timed(lambda: exporter.export([_span("refused")]))
        assert result is SpanExportResult.FAILURE
        # It honoured Retry-After once (1 s), then gave up: a second 1 s wait would overrun the 2 s timeout.
        assert otlp_receiver.rejected_count == 2
        assert 0.9 <= elapsed < 2.5
        assert otlp_receiver.store.requests() == []

        otlp_receiver.clear_fault()
        assert exporter.export([_span("accepted")]) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    assert [s.name for s in otlp_receiver.store.spans()] == ["accepted"]
    assert otlp_receiver.rejected_count == 2


@pytest.mark.timeout(30)
@pytest.mark.usefixtures("quiet_exporter_logs")
def test_grpc_unavailable_fault_with_retry_info(otlp_receiver: OTLPReceiver) -> None:
    exporter = _exporter("traces", "grpc", otlp_receiver, timeout=2)
    try:
        otlp_receiver.set_fault(Fault.status(503, retry_after=1))
        result, elapsed = _timed(lambda: exporter.export([_span("refused")]))
        assert result is SpanExportResult.FAILURE
        assert otlp_receiver.rejected_count == 2  # the RetryInfo delay (1 s) was honoured once
        assert 0.9 <= elapsed < 2.5
        assert otlp_receiver.store.requests() == []
        otlp_receiver.clear_fault()
        assert exporter.export([_span("accepted")]) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    assert [s.name for s in otlp_receiver.store.spans()] == ["accepted"]


@pytest.mark.parametrize(
    ("http_status", "grpc_code"),
    [
        (503, grpc.StatusCode.UNAVAILABLE),
        (429, grpc.StatusCode.RESOURCE_EXHAUSTED),
        (500, grpc.StatusCode.INTERNAL),
        (400, grpc.StatusCode.INVALID_ARGUMENT),
    ],
)
def test_status_fault_codes_on_both_transports(
    otlp_receiver: OTLPReceiver, http_status: int, grpc_code: grpc.StatusCode
) -> None:
    otlp_receiver.set_fault(Fault.status(http_status, retry_after=2.5))

    request = urllib.request.Request(
        f"{otlp_receiver.http_endpoint}/v1/traces",
        data=ExportTraceServiceRequest().SerializeToString(),
        headers={"Content-Type": "application/x-protobuf"},
    )
    with pytest.raises(urllib.error.HTTPError) as http_error:
        urllib.request.urlopen(request, timeout=5)
    assert http_error.value.code == http_status
    assert http_error.value.headers["Retry-After"] == "2.5"

    with grpc.insecure_channel(f"127.0.0.1:{otlp_receiver.grpc_port}") as channel:
        with pytest.raises(grpc.RpcError) as rpc_error:
            TraceServiceStub(channel).Export(ExportTraceServiceRequest(), timeout=5)
    error = rpc_error.value
    assert isinstance(error, grpc.Call)
    assert error.code() == grpc_code
    retry_info = RetryInfo.FromString(dict(error.trailing_metadata())["google.rpc.retryinfo-bin"])
    assert (retry_info.retry_delay.seconds, retry_info.retry_delay.nanos) == (2, 500_000_000)

    assert otlp_receiver.rejected_count == 2
    assert otlp_receiver.store.requests() == []


@pytest.mark.timeout(30)
@pytest.mark.usefixtures("quiet_exporter_logs")
@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_blackhole_makes_exporter_time_out(otlp_receiver: OTLPReceiver, transport: Transport) -> None:
    exporter = _exporter("traces", transport, otlp_receiver, timeout=1)
    try:
        otlp_receiver.set_fault(Fault.blackhole())
        result, elapsed = _timed(lambda: exporter.export([_span("lost")]))
        assert result is SpanExportResult.FAILURE
        assert elapsed < 3
        assert otlp_receiver.rejected_count >= 1
        assert otlp_receiver.store.requests() == []
        otlp_receiver.clear_fault()
        assert exporter.export([_span("found")]) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    assert [s.name for s in otlp_receiver.store.spans()] == ["found"]


def _wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _blocked_clients(receiver: OTLPReceiver) -> tuple[list[threading.Thread], dict[str, object]]:
    """One raw HTTP POST and one raw gRPC call, each in its own thread, with generous client timeouts."""
    outcomes: dict[str, object] = {}

    def post_http() -> None:
        request = urllib.request.Request(
            f"{receiver.http_endpoint}/v1/traces",
            data=ExportTraceServiceRequest().SerializeToString(),
            headers={"Content-Type": "application/x-protobuf"},
        )
        try:
            with urllib.request.urlopen(request, timeout=20) as response:
                outcomes["http"] = response.status
        except urllib.error.HTTPError as error:
            outcomes["http"] = error.code
        except OSError as error:
            outcomes["http"] = error

    def call_grpc() -> None:
        with grpc.insecure_channel(f"127.0.0.1:{receiver.grpc_port}") as channel:
            try:
                TraceServiceStub(channel).Export(ExportTraceServiceRequest(), timeout=20)
                outcomes["grpc"] = "OK"
            except grpc.RpcError as error:
                outcomes["grpc"] = error.code()  # type: ignore[attr-defined]

    threads = [threading.Thread(target=fn, daemon=True) for fn in (post_http, call_grpc)]
    for thread in threads:
        thread.start()
    return threads, outcomes


@pytest.mark.timeout(30)
def test_stop_returns_promptly_while_handlers_are_blackholed(otlp_receiver: OTLPReceiver) -> None:
    otlp_receiver.set_fault(Fault.blackhole())
    threads, outcomes = _blocked_clients(otlp_receiver)
    assert _wait_until(lambda: otlp_receiver.rejected_count == 2), "both requests should be held"
    time.sleep(0.1)
    assert outcomes == {}  # nobody was answered

    _, elapsed = _timed(otlp_receiver.stop)
    assert elapsed < 2
    for thread in threads:
        thread.join(timeout=3)
        assert not thread.is_alive()
    assert set(outcomes) == {"http", "grpc"}
    assert outcomes["http"] != 200 and outcomes["grpc"] != "OK"
    assert otlp_receiver.store.requests() == []
    # No server thread is left behind, blocked or idle.
    assert _wait_until(lambda: not _server_threads(), timeout=3), _server_threads()


def _server_threads() -> list[str]:
    return [
        t.name
        for t in threading.enumerate()
        if "process_request_thread" in t.name or t.name.startswith("otlp-receiver-")
    ]


@pytest.mark.timeout(30)
def test_clear_fault_releases_blackholed_requests(otlp_receiver: OTLPReceiver) -> None:
    otlp_receiver.set_fault(Fault.blackhole())
    threads, outcomes = _blocked_clients(otlp_receiver)
    assert _wait_until(lambda: otlp_receiver.rejected_count == 2)
    otlp_receiver.clear_fault()
    for thread in threads:
        thread.join(timeout=3)
        assert not thread.is_alive()
    assert outcomes == {"http": 503, "grpc": grpc.StatusCode.UNAVAILABLE}
    assert otlp_receiver.store.requests() == []

    # Served normally again, on both transports.
    threads, outcomes = _blocked_clients(otlp_receiver)
    for thread in threads:
        thread.join(timeout=5)
    assert outcomes == {"http": 200, "grpc": "OK"}
    assert [signal for signal, _, _ in otlp_receiver.store.requests()] == ["traces", "traces"]


def test_fault_validation() -> None:
    with pytest.raises(ValueError):
        Fault.status(200)
    with pytest.raises(ValueError):
        Fault.status(503, retry_after=-1)
    assert Fault.status(502).grpc_code == grpc.StatusCode.UNAVAILABLE
    assert Fault.status(418).grpc_code == grpc.StatusCode.INVALID_ARGUMENT
    assert Fault.status(503, grpc_code=grpc.StatusCode.ABORTED).grpc_code == grpc.StatusCode.ABORTED

