"""OTLP/HTTP details the stock Python exporters don't exercise: JSON bodies, deflate, chunked bodies,
error statuses and keep-alive connections. Requests are hand-built with the stdlib."""

from __future__ import annotations

import gzip
import http.client
import json
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator, Mapping

import grpc
import pytest
from google.protobuf import json_format
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from llmtel.receiver import Fault, OTLPReceiver

TRACE_ID = "5b8efff798038103d269b633813fc60c"
SPAN_ID = "eee19b7ec3c1b174"
PARENT_ID = "eee19b7ec3c1b173"
LINK_TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
LINK_SPAN_ID = "b7ad6b7169203331"


def _json_traces() -> dict[str, object]:
    """An OTLP/JSON trace export as a collector or a JS/Go exporter would write it."""
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-svc"}}]},
                "scopeSpans": [
                    {
                        "scope": {"name": "json-scope", "version": "9"},
                        "spans": [
                            {
                                "traceId": TRACE_ID,
                                "spanId": SPAN_ID,
                                "parentSpanId": PARENT_ID,
                                "name": "chat gpt-x",
                                "kind": 3,
                                "startTimeUnixNano": "1700000000000000000",
                                "endTimeUnixNano": "1700000001500000000",
                                "attributes": [
                                    {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "42"}},
                                    {"key": "temperature", "value": {"doubleValue": 0.2}},
                                    {
                                        "key": "stop",
                                        "value": {"arrayValue": {"values": [{"stringValue": "\n"}]}},
                                    },
                                ],
                                "events": [{"name": "first-token", "timeUnixNano": "1700000000500000000"}],
                                "links": [{"traceId": LINK_TRACE_ID, "spanId": LINK_SPAN_ID}],
                                "status": {"code": 2, "message": "rate limited"},
                            }
                        ],
                    }
                ],
            }
        ]
    }


def _json_logs() -> dict[str, object]:
    return {
        "resourceLogs": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-svc"}}]},
                "scopeLogs": [
                    {
                        "scope": {"name": "json-logs"},
                        "logRecords": [
                            {
                                "timeUnixNano": "1700000000000000001",
                                "severityNumber": 17,
                                "severityText": "ERROR",
                                "body": {"stringValue": "upstream failed"},
                                "traceId": TRACE_ID,
                                "spanId": SPAN_ID,
                                "eventName": "llmtel.json.event",
                            }
                        ],
                    }
                ],
            }
        ]
    }


def _json_metrics() -> dict[str, object]:
    return {
        "resourceMetrics": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-svc"}}]},
                "scopeMetrics": [
                    {
                        "scope": {"name": "json-metrics"},
                        "metrics": [
                            {
                                "name": "json.requests",
                                "unit": "1",
                                "sum": {
                                    "aggregationTemporality": 1,
                                    "isMonotonic": True,
                                    "dataPoints": [
                                        {
                                            "asInt": "5",
                                            "timeUnixNano": "1700000000000000000",
                                            "exemplars": [
                                                {"asInt": "1", "traceId": TRACE_ID, "spanId": SPAN_ID}
                                            ],
                                        }
                                    ],
                                },
                            },
                            {
                                "name": "json.latency",
                                "unit": "ms",
                                "histogram": {
                                    "aggregationTemporality": 2,
                                    "dataPoints": [
                                        {
                                            "count": "3",
                                            "sum": 12.5,
                                            "bucketCounts": ["1", "2"],
                                            "explicitBounds": [5.0],
                                        }
                                    ],
                                },
                            },
                        ],
                    }
                ],
            }
        ]
    }


def _post(
    receiver: OTLPReceiver,
    path: str,
    body: bytes,
    headers: Mapping[str, str],
    method: str = "POST",
) -> tuple[int, bytes, http.client.HTTPMessage]:
    request = urllib.request.Request(
        f"{receiver.http_endpoint}{path}", data=body, headers=dict(headers), method=method
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers


def _traces_protobuf(name: str = "proto-span") -> bytes:
    span = Span(trace_id=bytes.fromhex(TRACE_ID), span_id=bytes.fromhex(SPAN_ID), name=name)
    span.attributes.append(KeyValue(key="k", value=AnyValue(string_value="v")))
    request = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[span])])]
    )
    return request.SerializeToString()


# -- JSON ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_json_traces(otlp_receiver: OTLPReceiver, compress: bool) -> None:
    body = json.dumps(_json_traces()).encode()
    headers = {"Content-Type": "application/json"}
    if compress:
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    status, response_body, response_headers = _post(otlp_receiver, "/v1/traces", body, headers)
    assert (status, response_body) == (200, b"{}")
    assert response_headers["Content-Type"] == "application/json"

    [span] = otlp_receiver.store.spans()
    assert (span.trace_id, span.span_id, span.parent_span_id) == (TRACE_ID, SPAN_ID, PARENT_ID)
    assert span.links == ((LINK_TRACE_ID, LINK_SPAN_ID, {}),)
    assert span.name == "chat gpt-x"
    assert span.kind == 3
    assert (span.start_ns, span.end_ns) == (1_700_000_000_000_000_000, 1_700_000_001_500_000_000)
    assert span.attributes == {"gen_ai.usage.input_tokens": 42, "temperature": 0.2, "stop": ("\n",)}
    assert span.events == (("first-token", {}),)
    assert (span.status_code, span.status_message) == (2, "rate limited")
    assert span.resource == {"service.name": "json-svc"}
    assert (span.scope_name, span.scope_version) == ("json-scope", "9")
    [(_, _, meta)] = otlp_receiver.store.requests()
    assert (meta.transport, meta.encoding) == ("http", "json")
    assert meta.compression == ("gzip" if compress else None)


def test_json_logs(otlp_receiver: OTLPReceiver) -> None:
    status, body, _ = _post(
        otlp_receiver, "/v1/logs", json.dumps(_json_logs()).encode(), {"Content-Type": "application/json"}
    )
    assert (status, body) == (200, b"{}")
    [record] = otlp_receiver.store.logs()
    assert (record.body, record.severity_number, record.severity_text) == ("upstream failed", 17, "ERROR")
    assert (record.trace_id, record.span_id) == (TRACE_ID, SPAN_ID)
    assert record.event_name == "llmtel.json.event"
    assert record.time_ns == 1_700_000_000_000_000_001
    assert (record.resource, record.scope_name) == ({"service.name": "json-svc"}, "json-logs")


def test_json_metrics(otlp_receiver: OTLPReceiver) -> None:
    status, body, _ = _post(
        otlp_receiver,
        "/v1/metrics",
        json.dumps(_json_metrics()).encode(),
        {"Content-Type": "application/json; charset=utf-8"},
    )
    assert (status, body) == (200, b"{}")
    points = {p.name: p for p in otlp_receiver.store.metric_points()}
    requests_point, latency = points["json.requests"], points["json.latency"]
    assert (requests_point.kind, requests_point.value, requests_point.temporality) == ("sum", 5, 1)
    assert requests_point.is_monotonic is True
    assert (latency.kind, latency.count, latency.sum) == ("histogram", 3, 12.5)
    assert (latency.bucket_counts, latency.explicit_bounds) == ((1, 2), (5.0,))
    [(_, request, _)] = otlp_receiver.store.requests("metrics")
    exemplar = request.resource_metrics[0].scope_metrics[0].metrics[0].sum.data_points[0].exemplars[0]
    assert (exemplar.trace_id.hex(), exemplar.span_id.hex()) == (TRACE_ID, SPAN_ID)


# -- protobuf, compression, chunking ------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["deflate", "gzip"])
def test_compressed_protobuf(otlp_receiver: OTLPReceiver, encoding: str) -> None:
    raw = _traces_protobuf()
    body = zlib.compress(raw) if encoding == "deflate" else gzip.compress(raw)
    status, response_body, headers = _post(
        otlp_receiver,
        "/v1/traces",
        body,
        {"Content-Type": "application/x-protobuf", "Content-Encoding": encoding},
    )
    assert status == 200
    assert headers["Content-Type"] == "application/x-protobuf"
    assert ExportTraceServiceResponse.FromString(response_body) == ExportTraceServiceResponse()
    [span] = otlp_receiver.store.spans()
    assert (span.trace_id, span.span_id, span.attributes) == (TRACE_ID, SPAN_ID, {"k": "v"})
    assert otlp_receiver.store.requests()[0][2].compression == encoding


def test_raw_deflate_is_accepted(otlp_receiver: OTLPReceiver) -> None:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    body = compressor.compress(_traces_protobuf()) + compressor.flush()
    status, _, _ = _post(
        otlp_receiver,
        "/v1/traces",
        body,
        {"Content-Type": "application/x-protobuf", "Content-Encoding": "deflate"},
    )
    assert status == 200
    assert otlp_receiver.store.wait_for_spans(1, timeout=0)


def test_chunked_body(otlp_receiver: OTLPReceiver) -> None:
    data = _traces_protobuf("chunked")

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(data), 7):
            yield data[i : i + 7]

    connection = http.client.HTTPConnection("127.0.0.1", otlp_receiver.http_port, timeout=5)
    try:
        connection.request(
            "POST", "/v1/traces", body=chunks(), headers={"Content-Type": "application/x-protobuf"},
            encode_chunked=True,
        )
        response = connection.getresponse()
        response.read()
        assert response.status == 200
    finally:
        connection.close()
    assert [s.name for s in otlp_receiver.store.spans()] == ["chunked"]


def test_keep_alive_connection_survives_errors(otlp_receiver: OTLPReceiver) -> None:
    """Error answers still consume the body, so the next request on the same connection works."""
    connection = http.client.HTTPConnection("127.0.0.1", otlp_receiver.http_port, timeout=5)
    protobuf = {"Content-Type": "application/x-protobuf"}
    try:
        sequence = [
            ("/v1/nope", _traces_protobuf("x"), protobuf, 404),
            ("/v1/traces", _traces_protobuf("first"), protobuf, 200),
            ("/v1/traces", b"x" * 100, {"Content-Type": "text/plain"}, 415),
            ("/v1/traces", b"\xff\xff\xff", protobuf, 400),
            ("/v1/traces", _traces_protobuf("second"), protobuf, 200),
        ]
        for path, body, headers, expected in sequence:
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            assert response.status == expected, path
            assert response.version == 11
            assert response.getheader("Connection") != "close"
        assert connection.sock is not None  # still the same, open connection
    finally:
        connection.close()
    assert [s.name for s in otlp_receiver.store.spans()] == ["first", "second"]


def test_stop_cuts_kept_alive_connections(otlp_receiver: OTLPReceiver) -> None:
    """A pooled connection must not outlive stop(): the "collector" is down for every client."""
    connection = http.client.HTTPConnection("127.0.0.1", otlp_receiver.http_port, timeout=5)
    headers = {"Content-Type": "application/x-protobuf"}
    try:
        connection.request("POST", "/v1/traces", body=_traces_protobuf("before"), headers=headers)
        assert connection.getresponse().read() == b""
        otlp_receiver.stop()
        with pytest.raises((http.client.HTTPException, OSError)):
            connection.request("POST", "/v1/traces", body=_traces_protobuf("while-down"), headers=headers)
            connection.getresponse()
    finally:
        connection.close()
    assert [s.name for s in otlp_receiver.store.spans()] == ["before"]


# -- error answers ------------------------------------------------------------------------------------------

_EXPECTED_GRPC_CODE = {
    400: grpc.StatusCode.INVALID_ARGUMENT.value[0],
    404: grpc.StatusCode.UNIMPLEMENTED.value[0],
    405: grpc.StatusCode.INVALID_ARGUMENT.value[0],
    413: grpc.StatusCode.RESOURCE_EXHAUSTED.value[0],
    415: grpc.StatusCode.INVALID_ARGUMENT.value[0],
    429: grpc.StatusCode.RESOURCE_EXHAUSTED.value[0],
    503: grpc.StatusCode.UNAVAILABLE.value[0],
}


@pytest.mark.parametrize(
    ("path", "method", "headers", "body", "expected"),
    [
        ("/v1/spans", "POST", {"Content-Type": "application/x-protobuf"}, b"", 404),
        ("/", "GET", {}, None, 404),
        ("/v1/traces", "GET", {}, None, 405),
        ("/v1/logs", "PUT", {"Content-Type": "application/x-protobuf"}, b"", 405),
        ("/v1/traces", "POST", {"Content-Type": "text/plain"}, b"hi", 415),
        ("/v1/traces", "POST", {}, b"", 415),
        ("/v1/traces", "POST", {"Content-Type": "application/protobuf", "Content-Encoding": "br"}, b"x", 415),
        ("/v1/traces", "POST", {"Content-Type": "application/x-protobuf"}, b"\xff\xff\xff\xff", 400),
        ("/v1/traces", "POST", {"Content-Type": "application/json"}, b"{not json", 400),
        ("/v1/traces", "POST", {"Content-Type": "application/json"}, b"[1, 2]", 400),
        ("/v1/traces", "POST", {"Content-Type": "application/json"}, b'{"resourceSpans": 3}', 400),
        (
            "/v1/traces",
            "POST",
            {"Content-Type": "application/json"},
            json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "xyz"}]}]}]}).encode(),
            400,
        ),
        (
            "/v1/traces",
            "POST",
            {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"},
            b"not gzip at all",
            400,
        ),
        (
            "/v1/traces",
            "POST",
            {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"},
            gzip.compress(b"\x0a\x02\x12\x00" * 50)[:-12],
            400,
        ),
    ],
    ids=[
        "unknown-path",
        "root-get",
        "get",
        "put",
        "text-plain",
        "no-content-type",
        "brotli",
        "bad-protobuf",
        "bad-json",
        "json-not-object",
        "json-wrong-shape",
        "json-bad-hex-id",
        "bad-gzip",
        "truncated-gzip",
    ],
)
def test_error_answers(
    otlp_receiver: OTLPReceiver,
    path: str,
    method: str,
    headers: dict[str, str],
    body: bytes | None,
    expected: int,
) -> None:
    status, response_body, response_headers = _post(otlp_receiver, path, body or b"", headers, method=method)
    assert status == expected
    # The OTLP/HTTP specification: a google.rpc.Status, encoded as the request was (JSON for JSON, else protobuf).
    if headers.get("Content-Type") == "application/json":
        assert response_headers["Content-Type"] == "application/json"
        reply = json_format.Parse(response_body, Status())
    else:
        expected_type = headers.get("Content-Type", "")
        if expected_type not in ("application/x-protobuf", "application/protobuf"):
            expected_type = "application/x-protobuf"
        assert response_headers["Content-Type"] == expected_type
        reply = Status.FromString(response_body)
    assert reply.code == _EXPECTED_GRPC_CODE[expected]
    assert reply.message  # a short explanation
    if expected == 405:
        assert response_headers["Allow"] == "POST"
    assert otlp_receiver.store.requests() == []
    assert otlp_receiver.rejected_count == 0


def test_empty_protobuf_request_is_valid(otlp_receiver: OTLPReceiver) -> None:
    status, body, headers = _post(otlp_receiver, "/v1/logs", b"", {"Content-Type": "application/x-protobuf"})
    assert status == 200
    assert ExportLogsServiceResponse.FromString(body) == ExportLogsServiceResponse()
    assert [signal for signal, _, _ in otlp_receiver.store.requests()] == ["logs"]
    assert otlp_receiver.store.logs() == []


@pytest.mark.parametrize(
    ("content_type", "http_status", "retry_after"),
    [("application/json", 429, 2.5), ("application/x-protobuf", 503, None), ("application/protobuf", 400, None)],
)
def test_an_injected_fault_answers_with_a_status_in_the_request_encoding(
    otlp_receiver: OTLPReceiver, content_type: str, http_status: int, retry_after: float | None
) -> None:
    otlp_receiver.set_fault(Fault.status(http_status, retry_after=retry_after))
    body = json.dumps(_json_traces()).encode() if content_type == "application/json" else _traces_protobuf()
    status, response_body, headers = _post(otlp_receiver, "/v1/traces", body, {"Content-Type": content_type})
    assert status == http_status
    assert headers["Content-Type"] == content_type
    if content_type == "application/json":
        assert json.loads(response_body) == {"code": _EXPECTED_GRPC_CODE[http_status],
                                             "message": "llmtel receiver: injected fault"}
    else:
        assert Status.FromString(response_body) == Status(code=_EXPECTED_GRPC_CODE[http_status],
                                                          message="llmtel receiver: injected fault")
    assert headers.get("Retry-After") == (None if retry_after is None else f"{retry_after:g}")
