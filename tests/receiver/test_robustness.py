"""Malformed, oversized and stalled requests: each gets a clear 4xx (or gRPC INVALID_ARGUMENT /
RESOURCE_EXHAUSTED), never a 500 or a logged traceback, and the receiver keeps serving. Requests are built by
hand and sent over loopback sockets."""

from __future__ import annotations

import gzip
import http.client
import json
import logging
import socket
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler

import grpc
import pytest
from google.protobuf import json_format
from google.protobuf.message import Message
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    Gauge,
    Metric,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

import llmtel.receiver as otlp
from llmtel._http_server import TrackingHTTPServer
from llmtel.receiver import OTLPReceiver

PROTOBUF = "application/x-protobuf"
TRACE_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


@pytest.fixture
def no_warnings(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fail the test if anything (the receiver, grpcio) logs a warning or error, such as a traceback."""
    caplog.set_level(logging.WARNING)
    yield
    assert [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING] == []


def _traces(*names: str) -> bytes:
    spans = [Span(trace_id=b"\x01" * 16, span_id=bytes([i + 1]) * 8, name=name) for i, name in enumerate(names)]
    request = ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])])
    return request.SerializeToString()


def _empty_spans(count: int) -> bytes:
    """An export request of `count` empty spans, written directly on the wire (fast for many)."""
    spans = b"\x12\x00" * count  # ScopeSpans.spans (field 2): `count` empty messages
    scope = b"\x12" + _varint(len(spans)) + spans  # ResourceSpans.scope_spans (field 2)
    return b"\x0a" + _varint(len(scope)) + scope  # ExportTraceServiceRequest.resource_spans (field 1)


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    return bytes(out) + bytes([value])


def _exchange(port: int, request: bytes, timeout: float = 5.0) -> tuple[int, bytes]:
    """Send raw request bytes; the response's status and body."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, response.read()


def _post_head(headers: str) -> bytes:
    return f"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: {PROTOBUF}\r\n{headers}\r\n".encode()


def _post(receiver: OTLPReceiver, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", receiver.http_port, timeout=10)
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


# -- HTTP framing ----------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("no_warnings")
@pytest.mark.parametrize("form", ["negative", "plus", "0x", "underscore"])
def test_chunk_size_must_be_plain_hex(otlp_receiver: OTLPReceiver, form: str) -> None:
    """`int(..., 16)` also takes these; ``-1`` made the receiver read until the client hung up, uncapped."""
    data = _traces("chunked")
    digits = f"{len(data):x}"  # two or more
    line = {"negative": "-1", "plus": f"+{digits}", "0x": f"0x{digits}", "underscore": f"{digits[0]}_{digits[1:]}"}
    request = _post_head("Transfer-Encoding: chunked\r\n") + f"{line[form]}\r\n".encode() + data + b"\r\n0\r\n\r\n"
    status, _ = _exchange(otlp_receiver.http_port, request)
    assert status == 400
    assert otlp_receiver.store.requests() == []


@pytest.mark.usefixtures("no_warnings")
def test_chunk_must_end_where_its_size_says(otlp_receiver: OTLPReceiver) -> None:
    data = _traces("chunked")
    request = _post_head("Transfer-Encoding: chunked\r\n") + b"%x\r\n" % len(data) + data + b"JUNK\r\n0\r\n\r\n"
    assert _exchange(otlp_receiver.http_port, request)[0] == 400
    assert otlp_receiver.store.requests() == []


@pytest.mark.usefixtures("no_warnings")
@pytest.mark.parametrize("form", ["underscore", "plus", "conflicting"])
def test_content_length_must_be_plain_digits(otlp_receiver: OTLPReceiver, form: str) -> None:
    """`int()` also takes ``1_23`` and ``+123``; two different lengths are ambiguous (RFC 9112, 6.3)."""
    data = _traces("sized")
    digits = str(len(data))
    header = {
        "underscore": f"Content-Length: {digits[:-1]}_{digits[-1]}\r\n",
        "plus": f"Content-Length: +{digits}\r\n",
        "conflicting": f"Content-Length: {digits}\r\nContent-Length: 3\r\n",
    }[form]
    assert _exchange(otlp_receiver.http_port, _post_head(header) + data)[0] == 400
    assert otlp_receiver.store.requests() == []


@pytest.mark.usefixtures("no_warnings")
def test_unparsable_request_target_is_400(otlp_receiver: OTLPReceiver) -> None:
    request = b"POST http://[/v1/traces HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
    assert _exchange(otlp_receiver.http_port, request)[0] == 400


@pytest.mark.usefixtures("no_warnings")
def test_stalled_body_is_answered_408() -> None:
    """A client that sends less than its Content-Length and waits is at fault: 408, not a 500 and a traceback."""
    with OTLPReceiver(grpc_port=None, http_timeout=0.3) as receiver:
        data = _traces("stalled")
        started = time.monotonic()
        status, _ = _exchange(receiver.http_port, _post_head(f"Content-Length: {len(data) + 10}\r\n") + data)
        assert status == 408
        assert time.monotonic() - started < 3
        assert _post(receiver, "/v1/traces", _traces("next"), {"Content-Type": PROTOBUF})[0] == 200
    assert [span.name for span in receiver.store.spans()] == ["next"]


def test_listen_backlog_takes_a_burst_of_connections() -> None:
    """socketserver's default backlog (5) left a burst of parallel clients hanging or reset; connect 100 to a
    server that accepts none of them yet."""
    server = TrackingHTTPServer("127.0.0.1", 0, BaseHTTPRequestHandler)
    connections: list[socket.socket] = []
    try:
        for _ in range(100):
            connections.append(socket.create_connection(("127.0.0.1", server.server_port), timeout=1))
    finally:
        for connection in connections:
            connection.close()
        server.server_close()
    assert len(connections) == 100


# -- compression -----------------------------------------------------------------------------------------------


def _post_gzip(receiver: OTLPReceiver, body: bytes) -> tuple[int, bytes]:
    return _post(receiver, "/v1/traces", body, {"Content-Type": PROTOBUF, "Content-Encoding": "gzip"})


@pytest.mark.usefixtures("no_warnings")
def test_every_gzip_member_is_decoded(otlp_receiver: OTLPReceiver) -> None:
    """RFC 1952 allows members back to back; the second one used to be dropped with a 200."""
    assert _post_gzip(otlp_receiver, gzip.compress(_traces("first")) + gzip.compress(_traces("second")))[0] == 200
    assert [span.name for span in otlp_receiver.store.spans()] == ["first", "second"]


_BAD_GZIP: dict[str, tuple[Callable[[], bytes], int]] = {
    "trailing-garbage": (lambda: gzip.compress(_traces("x")) + b"JUNKJUNK", 400),
    "too-many-members": (lambda: gzip.compress(b"") * 1000 + gzip.compress(_traces("x")), 413),
    # Each member fits the 64 MiB cap; together they don't.
    "members-over-size-cap": (lambda: gzip.compress(bytes(40 << 20), compresslevel=1) * 2, 413),
}


@pytest.mark.usefixtures("no_warnings")
@pytest.mark.parametrize("case", _BAD_GZIP)
def test_bad_gzip_bodies(otlp_receiver: OTLPReceiver, case: str) -> None:
    build, expected = _BAD_GZIP[case]
    assert _post_gzip(otlp_receiver, build())[0] == expected
    assert otlp_receiver.store.requests() == []


# -- OTLP/JSON -------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("no_warnings")
@pytest.mark.parametrize(
    "body",
    [
        b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":Infinity}]}]}]}',
        b"[" * 5000 + b"]" * 5000,
        # Nested through fields OTLP knows (a key-value list as an attribute's value, 5,000 deep): an unknown
        # field nested as deep is ignored, as OTLP/JSON asks, where Python's parser takes it (3.13 does).
        b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"s","attributes":[{"key":"a","value":'
        + b'{"kvlistValue":{"values":[{"key":"k","value":' * 5000 + b'{"stringValue":"x"}' + b"}]}}" * 5000
        + b"}]}]}]}]}",
    ],
    ids=["infinite-enum", "deep-arrays", "deep-objects"],
)
def test_malformed_json_is_400(otlp_receiver: OTLPReceiver, body: bytes) -> None:
    status, message = _post(otlp_receiver, "/v1/traces", body, {"Content-Type": "application/json"})
    assert status == 400
    status_json = json.loads(message)  # a google.rpc.Status in JSON, as the request was
    assert status_json["code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert status_json["message"].startswith("invalid OTLP/JSON")


# -- items per request -----------------------------------------------------------------------------------------


def _request(signal: str, count: int) -> Message:
    """An export request of `count` items, split over two resource groups (metrics: over a gauge and a sum)."""
    halves = (count // 2, count - count // 2)
    if signal == "traces":
        return ExportTraceServiceRequest(
            resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[Span(name="s")] * n)]) for n in halves]
        )
    if signal == "logs":
        return ExportLogsServiceRequest(
            resource_logs=[ResourceLogs(scope_logs=[ScopeLogs(log_records=[LogRecord()] * n)]) for n in halves]
        )
    points = [NumberDataPoint(as_int=1, time_unix_nano=1)]
    metrics = [
        Metric(name="g", gauge=Gauge(data_points=points * halves[0])),
        Metric(name="s", sum=Sum(data_points=points * halves[1], aggregation_temporality=2, is_monotonic=True)),
    ]
    scope = ScopeMetrics(metrics=metrics)
    return ExportMetricsServiceRequest(resource_metrics=[ResourceMetrics(scope_metrics=[scope])])


def _encode(request: Message, encoding: str) -> tuple[bytes, dict[str, str]]:
    if encoding == "json":
        return json.dumps(json_format.MessageToDict(request)).encode(), {"Content-Type": "application/json"}
    return request.SerializeToString(), {"Content-Type": PROTOBUF}


@pytest.mark.usefixtures("no_warnings")
@pytest.mark.parametrize("encoding", ["protobuf", "json"])
@pytest.mark.parametrize("signal", ["traces", "logs", "metrics"])
def test_item_cap_over_http(signal: str, encoding: str) -> None:
    with OTLPReceiver(grpc_port=None, max_request_items=3) as receiver:
        assert _post(receiver, f"/v1/{signal}", *_encode(_request(signal, 3), encoding))[0] == 200
        status, message = _post(receiver, f"/v1/{signal}", *_encode(_request(signal, 4), encoding))
    assert status == 413
    assert b"more than 3" in message
    assert len(receiver.store.requests()) == 1


@pytest.mark.usefixtures("no_warnings")
@pytest.mark.parametrize("encoding", ["protobuf", "json"])
def test_item_cap_counts_empty_groups(encoding: str) -> None:
    """Thousands of empty resource groups cost as much as items: refused too."""
    padded = ExportTraceServiceRequest(resource_spans=[ResourceSpans()] * 5000)
    with OTLPReceiver(grpc_port=None, max_request_items=3) as receiver:
        assert _post(receiver, "/v1/traces", *_encode(padded, encoding))[0] == 413
    assert receiver.store.requests() == []


@pytest.mark.usefixtures("no_warnings")
def test_default_item_cap_refuses_a_small_gzip_of_many_spans(otlp_receiver: OTLPReceiver) -> None:
    """A few hundred bytes of gzip unfolding into more empty spans than the cap is refused before parsing."""
    body = gzip.compress(_empty_spans(otlp.MAX_REQUEST_ITEMS + 1))
    assert len(body) < 2000
    status, message = _post_gzip(otlp_receiver, body)
    assert status == 413
    assert Status.FromString(message) == Status(
        code=grpc.StatusCode.RESOURCE_EXHAUSTED.value[0],
        message=f"llmtel receiver: more than {otlp.MAX_REQUEST_ITEMS} spans in one request",
    )
    assert _post_gzip(otlp_receiver, gzip.compress(_empty_spans(otlp.MAX_REQUEST_ITEMS)))[0] == 200


# -- gRPC ------------------------------------------------------------------------------------------------------


def _grpc_export(receiver: OTLPReceiver, body: bytes) -> grpc.StatusCode:
    """Call the trace service's Export with raw request bytes; the status code."""
    with grpc.insecure_channel(f"127.0.0.1:{receiver.grpc_port}") as channel:
        export = channel.unary_unary(TRACE_EXPORT, request_serializer=None, response_deserializer=None)
        try:
            export(body, timeout=10)
        except grpc.RpcError as error:
            return error.code()  # the error is also the grpc.Call
    return grpc.StatusCode.OK


@pytest.mark.usefixtures("no_warnings")
@pytest.mark.parametrize("body", [b"\xff\xff\xff", _traces("x")[:-3]], ids=["garbage", "truncated"])
def test_grpc_malformed_request_is_invalid_argument(otlp_receiver: OTLPReceiver, body: bytes) -> None:
    """grpcio's own deserializer logged a traceback and answered INTERNAL."""
    assert _grpc_export(otlp_receiver, body) is grpc.StatusCode.INVALID_ARGUMENT
    assert _grpc_export(otlp_receiver, _traces("valid")) is grpc.StatusCode.OK
    assert [span.name for span in otlp_receiver.store.spans()] == ["valid"]


@pytest.mark.usefixtures("no_warnings")
def test_grpc_item_cap() -> None:
    with OTLPReceiver(http_port=None, max_request_items=3) as receiver:
        assert _grpc_export(receiver, _traces("a", "b", "c")) is grpc.StatusCode.OK
        assert _grpc_export(receiver, _traces("a", "b", "c", "d")) is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert len(receiver.store.spans()) == 3
