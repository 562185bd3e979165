"""llmtel's own endpoints: the trace list with LLM summaries and its filters, a trace's logs, the models."""

from __future__ import annotations

import time

import pytest
from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.trace import Status, StatusCode

from tests.viewer.conftest import get_json, hex_span_id, hex_trace_id

MS = 1_000_000
BASE_NS = (time.time_ns() // 10**9 - 600) * 10**9

SUMMARY_KEYS = {
    "traceID", "rootName", "rootService", "startTime", "duration", "spanCount", "models", "inputTokens",
    "outputTokens", "costUsd", "errorCount", "runId", "sessionId",
}


def _llm_trace(tracer, start_ns: int, name: str, calls: list[dict], *, run: str, session: str | None = None,
               error: bool = False, duration_ms: int = 100):
    attrs = {"llmtel.run.id": run}
    if session:
        attrs["session.id"] = session
    root = tracer.start_span(name, start_time=start_ns, attributes=attrs)
    ctx = trace.set_span_in_context(root)
    for i, call in enumerate(calls):
        span = tracer.start_span(f"chat {call['model']}", context=ctx, start_time=start_ns + (i + 1) * MS,
                                 attributes={"llmtel.run.id": run, "gen_ai.request.model": call["model"],
                                             **call.get("extra", {})})
        if error and i == 0:
            span.set_status(Status(StatusCode.ERROR))
        span.end(end_time=start_ns + (i + 2) * MS)
    root.end(end_time=start_ns + duration_ms * MS)
    return hex_trace_id(root)


@pytest.fixture
def traces(viewer, tracer_provider):
    api = tracer_provider("api").get_tracer("t")
    worker = tracer_provider("worker").get_tracer("t")
    ids = {
        "a": _llm_trace(api, BASE_NS, "answer", [
            {"model": "gpt-4o-mini", "extra": {"gen_ai.response.model": "gpt-4o-mini-2024-07-18",
                                               "gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 10,
                                               "llmtel.cost.usd": 0.25}},
            {"model": "gpt-4o", "extra": {"gen_ai.usage.input_tokens": 50, "gen_ai.usage.output_tokens": 5,
                                          "llmtel.cost.usd": 0.5}},
        ], run="run-alpha", session="sess-1"),
        "b": _llm_trace(worker, BASE_NS + 1000 * MS, "summarize", [{"model": "o4-mini"}], run="run-beta",
                        error=True, duration_ms=900),
        "c": _llm_trace(api, BASE_NS + 2000 * MS, "answer", [], run="run-gamma", session="sess-2",
                        duration_ms=20),
    }
    viewer.flush()
    return ids


def _ids(body):
    return [row["traceID"] for row in body["data"]]


def test_list_rows_summarise_each_trace_newest_first(viewer, traces):
    status, body = get_json(viewer, "/api/llmtel/traces")
    assert status == 200
    assert set(body) == {"data", "total"} and body["total"] == 3
    assert _ids(body) == [traces["c"], traces["b"], traces["a"]]
    row = body["data"][2]
    assert set(row) == SUMMARY_KEYS
    assert row == {
        "traceID": traces["a"],
        "rootName": "answer",
        "rootService": "api",
        "startTime": BASE_NS // 1000,
        "duration": 100_000,
        "spanCount": 3,
        "models": ["gpt-4o", "gpt-4o-mini", "gpt-4o-mini-2024-07-18"],
        "inputTokens": 150,
        "outputTokens": 15,
        "costUsd": pytest.approx(0.75),
        "errorCount": 0,
        "runId": "run-alpha",
        "sessionId": "sess-1",
    }
    unpriced = body["data"][1]
    assert unpriced["costUsd"] is None and unpriced["errorCount"] == 1 and unpriced["models"] == ["o4-mini"]
    assert body["data"][0]["models"] == [] and body["data"][0]["inputTokens"] == 0


def test_list_filters(viewer, traces):
    def ids(query: str) -> list[str]:
        status, body = get_json(viewer, f"/api/llmtel/traces?{query}")
        assert status == 200, body
        return _ids(body)

    assert ids("service=worker") == [traces["b"]]
    assert ids("model=gpt-4o") == [traces["a"]]
    assert ids("model=gpt-4o-mini-2024-07-18") == [traces["a"]]  # response model
    assert ids("errors=true") == [traces["b"]]
    assert ids("errors=false") == [traces["c"], traces["b"], traces["a"]]
    assert ids("minDuration=50ms") == [traces["b"], traces["a"]]
    assert ids("q=BETA") == [traces["b"]]  # run id, case-insensitive substring
    assert ids("q=sess-") == [traces["c"], traces["a"]]  # session id
    assert ids("q=summ") == [traces["b"]]  # root name
    assert ids(f"q={traces['c']}") == [traces["c"]]
    assert ids("q=100%25") == []  # LIKE wildcards are literal
    assert ids(f"start={(BASE_NS + 500 * MS) // 1000}&end={(BASE_NS + 1500 * MS) // 1000}") == [traces["b"]]


def test_list_limit_keeps_the_total(viewer, traces):
    status, body = get_json(viewer, "/api/llmtel/traces?limit=2")
    assert _ids(body) == [traces["c"], traces["b"]] and body["total"] == 3


@pytest.mark.parametrize(
    ("query", "first", "total"),
    [
        ("service=api", "c", 2),
        ("service=api&minDuration=50ms", "a", 1),
        ("model=gpt-4o-mini&service=api", "a", 1),
        ("model=o4-mini&service=api", None, 0),
        ("service=api&q=run-", "c", 2),
        ("errors=true&service=worker", "b", 1),
        ("errors=true&service=api", None, 0),
    ],
)
def test_filtered_totals_count_every_match(viewer, traces, query, first, total):
    body = get_json(viewer, f"/api/llmtel/traces?{query}&limit=1")[1]
    assert _ids(body) == ([traces[first]] if first else [])
    assert body["total"] == total


@pytest.mark.parametrize(
    "query", ["errors=maybe", "minDuration=1parsec", "limit=-1", "end=soon", "start=" + "9" * 25,
              "lookback=" + "9" * 25 + "d"]
)
def test_list_rejects_bad_parameters(viewer, query):
    status, body = get_json(viewer, f"/api/llmtel/traces?{query}")
    assert status == 400 and body["errors"][0]["msg"].split(":")[0] in query


def test_a_cost_summing_beyond_float_range_is_null_not_infinity(viewer, tracer_provider):
    """Two costs of 1e308 sum to infinity, which JSON cannot carry: the row had ``"costUsd": Infinity``."""
    trace_id = _llm_trace(tracer_provider("rich").get_tracer("t"), BASE_NS, "pricey",
                          [{"model": "m", "extra": {"llmtel.cost.usd": 1e308}}] * 2, run="run-rich")
    viewer.flush()
    [row] = get_json(viewer, "/api/llmtel/traces?service=rich")[1]["data"]
    assert (row["traceID"], row["costUsd"]) == (trace_id, None)


def test_models_lists_request_and_response_models(viewer, traces):
    status, body = get_json(viewer, "/api/llmtel/models")
    assert status == 200
    assert body == {"data": ["gpt-4o", "gpt-4o-mini", "gpt-4o-mini-2024-07-18", "o4-mini"]}


def test_logs_of_a_trace_in_time_order(viewer, tracer_provider, logger_provider):
    tracer = tracer_provider("logsvc").get_tracer("t")
    otel_logger = logger_provider("logsvc").get_logger("tests.viewer.logs")
    with tracer.start_as_current_span("outer") as outer:
        otel_logger.emit(severity_number=SeverityNumber.INFO, severity_text="INFO", body="first",
                         attributes={"step": "a"})
        with tracer.start_as_current_span("inner") as inner:
            otel_logger.emit(severity_number=SeverityNumber.WARN, severity_text="WARN", body="second",
                             event_name="app.slow")
    otel_logger.emit(severity_number=SeverityNumber.ERROR, severity_text="ERROR", body="outside any trace")
    assert viewer.store.wait_for_logs(3)
    viewer.flush()
    status, body = get_json(viewer, f"/api/llmtel/traces/{hex_trace_id(outer)}/logs")
    assert status == 200
    first, second = body["data"]
    assert set(first) >= {"timestamp", "severityText", "severityNumber", "body", "traceID", "spanID", "attributes",
                          "resource"}
    assert (first["body"], first["severityText"], first["severityNumber"]) == ("first", "INFO", 9)
    assert (first["traceID"], first["spanID"]) == (hex_trace_id(outer), hex_span_id(outer))
    assert first["attributes"]["step"] == "a"
    assert first["resource"]["service.name"] == "logsvc"
    assert (second["body"], second["severityText"], second["spanID"]) == ("second", "WARN", hex_span_id(inner))
    assert second["eventName"] == "app.slow"
    assert first["timestamp"] <= second["timestamp"]
    assert isinstance(first["timestamp"], int) and first["timestamp"] > 1_600_000_000_000_000


def test_logs_of_an_unknown_trace_are_empty_and_bad_ids_400(viewer):
    assert get_json(viewer, "/api/llmtel/traces/" + "0" * 31 + "1/logs") == (200, {"data": []})
    assert get_json(viewer, "/api/llmtel/traces/zz/logs")[0] == 400
