"""The Jaeger-compatible query API, fed by the stock OTLP exporters: exact JSON shapes, search filters and
errors."""

from __future__ import annotations

import json
import socket
import time
import urllib.parse
import urllib.request

import pytest
from opentelemetry import trace
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from tests.viewer import builders
from tests.viewer.conftest import get_json, hex_span_id, hex_trace_id

MS = 1_000_000  # nanoseconds
BASE_NS = (time.time_ns() // 10**9 - 3600) * 10**9  # an hour ago, whole second


def _q(tags: dict[str, str]) -> str:
    return urllib.parse.quote(json.dumps(tags))


@pytest.fixture
def one_trace(viewer, tracer_provider):
    """A root SERVER span with an LLM CLIENT child that fails, an event, a link and typed attributes."""
    provider = tracer_provider("chat-api", **{"deployment.environment.name": "test", "host.cores": 2})
    tracer = provider.get_tracer("app.scope", "1.2.3")
    root = tracer.start_span(
        "POST /answer", kind=SpanKind.SERVER, start_time=BASE_NS, attributes={"llmtel.run.id": "run-1"}
    )
    ctx = trace.set_span_in_context(root)
    other = tracer.start_span("elsewhere", start_time=BASE_NS)
    other.end(end_time=BASE_NS + MS)
    llm = tracer.start_span(
        "chat gpt-4o",
        context=ctx,
        kind=SpanKind.CLIENT,
        start_time=BASE_NS + 2 * MS,
        links=[Link(other.get_span_context())],
        attributes={
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 12,
            "gen_ai.request.temperature": 0.5,
            "gen_ai.request.stream": False,
            "gen_ai.response.finish_reasons": ("stop", "length"),
        },
    )
    llm.add_event("gen_ai.choice", {"index": 0, "finish_reason": "stop"}, timestamp=BASE_NS + 5 * MS)
    llm.set_status(Status(StatusCode.ERROR, "rate limited"))
    llm.end(end_time=BASE_NS + 152 * MS)
    root.set_status(Status(StatusCode.OK))
    root.end(end_time=BASE_NS + 160 * MS)
    viewer.flush()
    return root, llm, other


def test_trace_by_id_has_jaegers_exact_shape(viewer, one_trace):
    root, llm, _ = one_trace
    trace_id = hex_trace_id(root)
    status, body = get_json(viewer, f"/api/traces/{trace_id}")
    assert status == 200
    assert set(body) == {"data", "total", "limit", "offset", "errors"}
    assert (body["total"], body["limit"], body["offset"], body["errors"]) == (1, 0, 0, None)
    [got] = body["data"]
    assert set(got) == {"traceID", "spans", "processes", "warnings"}
    assert got["traceID"] == trace_id
    assert got["processes"] == {
        "p1": {
            "serviceName": "chat-api",
            "tags": got["processes"]["p1"]["tags"],
        }
    }
    process_tags = {t["key"]: t for t in got["processes"]["p1"]["tags"]}
    assert process_tags["deployment.environment.name"] == {
        "key": "deployment.environment.name", "type": "string", "value": "test"
    }
    assert process_tags["host.cores"] == {"key": "host.cores", "type": "int64", "value": 2}
    assert "service.name" not in process_tags
    assert process_tags["telemetry.sdk.language"]["value"] == "python"

    spans = {s["operationName"]: s for s in got["spans"]}
    assert set(spans) == {"POST /answer", "chat gpt-4o"}
    root_json, llm_json = spans["POST /answer"], spans["chat gpt-4o"]
    for span in (root_json, llm_json):
        assert set(span) == {
            "traceID", "spanID", "flags", "operationName", "references", "startTime", "duration", "tags", "logs",
            "processID", "warnings",
        }
        assert span["traceID"] == trace_id and span["processID"] == "p1" and span["warnings"] is None
        assert span["flags"] == 1
    assert root_json["spanID"] == hex_span_id(root)
    assert root_json["references"] == []
    assert (root_json["startTime"], root_json["duration"]) == (BASE_NS // 1000, 160_000)
    root_tags = {t["key"]: t for t in root_json["tags"]}
    assert root_tags["span.kind"] == {"key": "span.kind", "type": "string", "value": "server"}
    assert root_tags["otel.status_code"] == {"key": "otel.status_code", "type": "string", "value": "OK"}
    assert "error" not in root_tags

    assert llm_json["references"] == [
        {"refType": "CHILD_OF", "traceID": trace_id, "spanID": hex_span_id(root)},
        {"refType": "FOLLOWS_FROM", "traceID": hex_trace_id(one_trace[2]), "spanID": hex_span_id(one_trace[2])},
    ]
    assert (llm_json["startTime"], llm_json["duration"]) == ((BASE_NS + 2 * MS) // 1000, 150_000)
    tags = {t["key"]: t for t in llm_json["tags"]}
    assert tags["gen_ai.request.model"] == {"key": "gen_ai.request.model", "type": "string", "value": "gpt-4o"}
    assert tags["gen_ai.usage.input_tokens"] == {"key": "gen_ai.usage.input_tokens", "type": "int64", "value": 12}
    assert tags["gen_ai.request.temperature"] == {
        "key": "gen_ai.request.temperature", "type": "float64", "value": 0.5
    }
    assert tags["gen_ai.request.stream"] == {"key": "gen_ai.request.stream", "type": "bool", "value": False}
    assert tags["gen_ai.response.finish_reasons"]["type"] == "string"
    assert json.loads(tags["gen_ai.response.finish_reasons"]["value"]) == ["stop", "length"]
    assert tags["span.kind"]["value"] == "client"
    assert tags["otel.status_code"]["value"] == "ERROR"
    assert tags["otel.status_description"]["value"] == "rate limited"
    assert tags["error"] == {"key": "error", "type": "bool", "value": True}
    assert tags["otel.scope.name"]["value"] == "app.scope"
    assert tags["otel.scope.version"]["value"] == "1.2.3"
    assert llm_json["logs"] == [
        {
            "timestamp": (BASE_NS + 5 * MS) // 1000,
            "fields": [
                {"key": "event", "type": "string", "value": "gen_ai.choice"},
                {"key": "index", "type": "int64", "value": 0},
                {"key": "finish_reason", "type": "string", "value": "stop"},
            ],
        }
    ]


def test_trace_ids_are_matched_case_insensitively_and_zero_padded(viewer, one_trace):
    trace_id = hex_trace_id(one_trace[0])
    status, body = get_json(viewer, f"/api/traces/{trace_id.upper()}")
    assert status == 200 and body["data"][0]["traceID"] == trace_id


def test_unknown_trace_is_404_with_an_errors_entry(viewer, one_trace):
    status, body = get_json(viewer, "/api/traces/" + "ab" * 16)
    assert status == 404
    assert body["data"] is None
    assert body["errors"][0]["code"] == 404 and "trace not found" in body["errors"][0]["msg"]


def test_services_and_operations(viewer, one_trace, tracer_provider):
    tracer_provider("other-svc").get_tracer("t").start_span("work").end()
    viewer.flush()
    status, body = get_json(viewer, "/api/services")
    assert status == 200 and body["data"] == ["chat-api", "other-svc"] and body["total"] == 2
    status, body = get_json(viewer, "/api/services/chat-api/operations")
    assert body["data"] == ["POST /answer", "chat gpt-4o", "elsewhere"]
    status, body = get_json(viewer, "/api/operations?service=chat-api&spanKind=client")
    assert body["data"] == [{"name": "chat gpt-4o", "spanKind": "client"}]
    status, body = get_json(viewer, "/api/services/nobody/operations")
    assert status == 200 and body["data"] == []


def _ids(body: dict) -> list[str]:
    return [t["traceID"] for t in body["data"]]


@pytest.fixture
def many_traces(viewer, tracer_provider):
    """Five traces a second apart (t0 oldest): durations 10..50 ms, models alternating, t3 in error."""
    tracer = tracer_provider("search-svc", region="eu").get_tracer("t")
    ids = []
    for i in range(5):
        start = BASE_NS + i * 1000 * MS
        root = tracer.start_span("run", start_time=start)
        ctx = trace.set_span_in_context(root)
        child = tracer.start_span(
            f"chat m{i % 2}",
            context=ctx,
            start_time=start + MS,
            attributes={"gen_ai.request.model": f"m{i % 2}", "http.response.status_code": 200 + i},
        )
        if i == 3:
            child.set_status(Status(StatusCode.ERROR))
        child.end(end_time=start + (i + 1) * 10 * MS)
        root.end(end_time=start + (i + 1) * 10 * MS + MS)
        ids.append(hex_trace_id(root))
    viewer.flush()
    return ids


def test_search_by_service_returns_full_traces_newest_first(viewer, many_traces):
    status, body = get_json(viewer, "/api/traces?service=search-svc")
    assert status == 200
    assert _ids(body) == many_traces[::-1]
    assert all(len(t["spans"]) == 2 for t in body["data"])
    assert body["total"] == 5 and body["errors"] is None


def test_search_limit_operation_and_time_window(viewer, many_traces):
    assert _ids(get_json(viewer, "/api/traces?service=search-svc&limit=2")[1]) == many_traces[:2:-1][:2]
    got = get_json(viewer, "/api/traces?service=search-svc&operation=chat%20m1")[1]
    assert _ids(got) == [many_traces[3], many_traces[1]]
    start_us = (BASE_NS + 1000 * MS) // 1000
    end_us = (BASE_NS + 3000 * MS) // 1000
    got = get_json(viewer, f"/api/traces?service=search-svc&start={start_us}&end={end_us}")[1]
    assert _ids(got) == [many_traces[3], many_traces[2], many_traces[1]]


def test_search_by_duration(viewer, many_traces):
    got = get_json(viewer, "/api/traces?service=search-svc&minDuration=30ms")[1]
    assert _ids(got) == [many_traces[4], many_traces[3], many_traces[2]]
    got = get_json(viewer, "/api/traces?service=search-svc&operation=chat%20m0&minDuration=15ms&maxDuration=0.035s")[1]
    assert _ids(got) == [many_traces[2]]


def test_search_by_tags(viewer, many_traces):
    got = get_json(viewer, "/api/traces?service=search-svc&tags=" + _q({"gen_ai.request.model": "m1"}))[1]
    assert _ids(got) == [many_traces[3], many_traces[1]]
    # numbers compare as text, like Jaeger; resource attributes are tags too; tag=k:v works as well
    got = get_json(viewer, "/api/traces?service=search-svc&tags=" + _q({"http.response.status_code": "202"}))[1]
    assert _ids(got) == [many_traces[2]]
    got = get_json(viewer, "/api/traces?service=search-svc&tag=region:eu&tag=http.response.status_code:204")[1]
    assert _ids(got) == [many_traces[4]]
    got = get_json(viewer, "/api/traces?service=search-svc&tags=" + _q({"error": "true"}))[1]
    assert _ids(got) == [many_traces[3]]
    got = get_json(viewer, "/api/traces?service=search-svc&tags=" + _q({"region": "us"}))[1]
    assert got["data"] == [] and got["total"] == 0


def test_search_lookback(viewer, many_traces):
    assert get_json(viewer, "/api/traces?service=search-svc&lookback=1m")[1]["data"] == []
    assert len(get_json(viewer, "/api/traces?service=search-svc&lookback=2h")[1]["data"]) == 5


def test_search_by_trace_ids_needs_no_service(viewer, many_traces):
    got = get_json(viewer, f"/api/traces?traceID={many_traces[0]}&traceID={many_traces[2]}")[1]
    assert sorted(_ids(got)) == sorted([many_traces[0], many_traces[2]])


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "service"),
        ("service=s&minDuration=fast", "minDuration"),
        ("service=s&maxDuration=10", "maxDuration"),
        ("service=s&limit=lots", "limit"),
        ("service=s&limit=0", "limit"),
        ("service=s&start=yesterday", "start"),
        ("service=s&start=20&end=10", "start"),
        ("service=s&lookback=forever", "lookback"),
        ("service=s&tags=model%3Dgpt", "tags"),
        ("service=s&tags=%5B1%5D", "tags"),
        ("service=s&tag=nocolon", "tag"),
        ("traceID=xyz", "traceID"),
        # These were 500s: integers SQLite cannot hold, an infinite duration, a RecursionError, and SQL too big.
        ("service=s&start=" + "9" * 25, "start"),
        ("service=s&end=" + "9" * 25, "end"),
        ("service=s&lookback=" + "1" * 400 + "s", "lookback"),
        ("service=s&minDuration=" + "9" * 25 + "h", "minDuration"),
        ("service=s&tags=" + "%5B" * 3000 + "%5D" * 3000, "tags"),
        ("service=s&tags=" + _q({f"k{n}": "v" for n in range(1200)}), "tags"),
    ],
)
def test_bad_parameters_are_400_naming_the_parameter(viewer, query, message):
    status, body = get_json(viewer, f"/api/traces?{query}")
    assert status == 400
    assert body["data"] is None
    assert body["errors"][0]["code"] == 400
    assert body["errors"][0]["msg"].startswith(message), body


def test_bad_trace_id_in_path_is_400(viewer):
    status, body = get_json(viewer, "/api/traces/not-hex")
    assert status == 400 and "traceID" in body["errors"][0]["msg"]


def test_unknown_api_path_is_404_json(viewer):
    status, body = get_json(viewer, "/api/spans")
    assert status == 404 and body["errors"][0]["code"] == 404


def test_a_request_target_urlsplit_rejects_is_400(viewer):
    """``http://[`` made `urlsplit` raise before the handler's try: the connection closed with no answer."""
    with socket.create_connection(("127.0.0.1", viewer.ui_port), timeout=5) as conn:
        conn.sendall(b"GET http://[/api/services HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        reply = b"".join(iter(lambda: conn.recv(4096), b""))
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ") and json.loads(body)["errors"][0]["code"] == 400


def _strict_json(viewer, path: str) -> tuple[int, dict]:
    """GET `path` and parse its body as standard JSON, which has no NaN or Infinity (a browser's ``JSON.parse``)."""
    def refuse(constant: str) -> None:
        raise ValueError(f"not standard JSON: {constant}")

    with urllib.request.urlopen(viewer.ui_url + path, timeout=10) as response:
        return response.status, json.loads(response.read(), parse_constant=refuse)


def test_nan_and_infinite_attributes_are_served_as_standard_json(viewer, tracer_provider):
    """The SDK accepts float NaN as an attribute. Stored as bare ``NaN`` in the JSON, it made the trace
    unreadable to the UI and every tag search over its rows a 500 (SQLite: malformed JSON)."""
    tracer = tracer_provider("nan-svc").get_tracer("t")
    odd = tracer.start_span("odd numbers", attributes={"gen_ai.request.model": "m", "x": float("nan"),
                                                        "y": float("-inf"), "z": (1.5, float("inf"))})
    odd.end()
    viewer.flush()
    status, body = _strict_json(viewer, f"/api/traces/{hex_trace_id(odd)}")
    tags = {t["key"]: t["value"] for t in body["data"][0]["spans"][0]["tags"]}
    assert (status, tags["x"], tags["y"], tags["z"]) == (200, "NaN", "-Infinity", '[1.5,"Infinity"]')
    for query in ("service=nan-svc", "service=nan-svc&tag=gen_ai.request.model:m", "service=nan-svc&tag=x:NaN"):
        status, body = _strict_json(viewer, f"/api/traces?{query}")
        assert (status, _ids(body)) == (200, [hex_trace_id(odd)]), query


def test_tags_with_quotes_backslashes_or_control_characters_in_the_key_match(viewer):
    """SQLite's JSON paths cannot name such keys, so these searches never matched."""
    keys = ['say "hi"', "C:\\temp", "tab\tkey", "plain"]
    odd = builders.span(1, 1, "odd keys", 0, 1, **dict.fromkeys(keys, "v"))
    viewer.store.accept("traces", builders.request(odd, service="keys-svc"), builders.META)
    viewer.flush()
    for key in keys:
        for value, found in (("v", [f"{1:032x}"]), ("w", [])):
            got = get_json(viewer, "/api/traces?service=keys-svc&tags=" + _q({key: value}))[1]
            assert _ids(got) == found, key


def test_grpc_and_gzip_exports_land_in_the_same_store(viewer, tracer_provider):
    for name, kwargs in (("grpc", {"grpc": True}), ("gzip", {"gzip": True})):
        tracer_provider(f"via-{name}", **kwargs).get_tracer("t").start_span(f"op-{name}").end()
    viewer.flush()
    assert get_json(viewer, "/api/services")[1]["data"] == ["via-grpc", "via-gzip"]
    assert len(get_json(viewer, "/api/traces?service=via-grpc")[1]["data"]) == 1
