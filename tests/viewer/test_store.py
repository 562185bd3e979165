"""`TraceStore` ingest and retention: summaries across batches, retried exports, OTLP/JSON, metrics, a file
database surviving a restart, and pruning by age, span count and size."""

from __future__ import annotations

import json
import logging
import sqlite3
import time
import urllib.request
from pathlib import Path

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    Gauge,
    Histogram,
    HistogramDataPoint,
    Metric,
    NumberDataPoint,
    Sum,
)

from llmtel.viewer import Retention, TraceStore, Viewer
from tests.viewer.builders import META, MS, NOW_NS, kv, request, span
from tests.viewer.conftest import get_json

def _summary(store: TraceStore, trace: int) -> dict:
    rows = store.execute(
        "SELECT root_name, span_count, start_us, end_us, input_tokens, cost_usd, error_count FROM traces"
        " WHERE trace_id = ?",
        (f"{trace:032x}",),
    )
    keys = ("root", "spans", "start_us", "end_us", "input_tokens", "cost", "errors")
    return dict(zip(keys, rows[0])) if rows else {}


@pytest.fixture
def store():
    s = TraceStore()
    yield s
    s.close()


@pytest.mark.parametrize("bad", [float("inf"), float("nan"), 1e308, 2**63 - 1, -5])
def test_a_span_with_counts_that_are_not_counts_loses_nothing_else(store, bad):
    """A token count of infinity, 1e308 or near 2**63 (or a NaN cost) in one span made the trace summary
    overflow, and the whole batch of spans was lost. Such values are now left out of the sums; every span is
    stored, with its attributes as sent."""
    store.accept("traces", request(
        span(2, 1, "root", 0, 10, gen_ai__usage__input_tokens=5, llmtel__cost__usd=0.25),
        span(2, 2, "odd", 1, 9, parent=1, gen_ai__usage__input_tokens=bad, gen_ai__usage__output_tokens=bad,
             llmtel__cost__usd=float("inf") if bad == float("inf") else float("nan")),
        span(2, 3, "call", 2, 8, parent=1, gen_ai__usage__input_tokens=7),
    ), META)
    store.flush()
    assert _summary(store, 2) == {"root": "root", "spans": 3, "start_us": NOW_NS // 1000,
                                  "end_us": (NOW_NS + 10 * MS) // 1000, "input_tokens": 12, "cost": 0.25,
                                  "errors": 0}
    (stored,) = store.execute("SELECT attributes FROM spans WHERE name = 'odd'")[0]
    assert "gen_ai.usage.input_tokens" in json.loads(stored)


def test_summary_accumulates_across_batches_and_prefers_the_parentless_root(store):
    store.accept("traces", request(span(1, 2, "child", 5, 10, parent=1, gen_ai__usage__input_tokens=7,
                                          llmtel__cost__usd=0.5)), META)
    store.flush()
    assert _summary(store, 1)["root"] == "child"  # best guess until the root arrives
    store.accept("traces", request(span(1, 3, "early-child", 1, 3, parent=1, error=True,
                                          gen_ai__usage__input_tokens=3)), META)
    store.accept("traces", request(span(1, 1, "root", 2, 20)), META)
    store.accept("traces", request(span(1, 4, "late-orphan", 0, 1, parent=9)), META)
    store.flush()
    assert _summary(store, 1) == {
        "root": "root",
        "spans": 4,
        "start_us": NOW_NS // 1000,
        "end_us": (NOW_NS + 20 * MS) // 1000,
        "input_tokens": 10,
        "cost": 0.5,
        "errors": 1,
    }


def test_an_agents_summed_usage_is_not_counted_again_in_the_trace_or_as_a_model_call(store):
    agent = span(6, 2, "invoke_agent helpdesk", 1, 30, parent=1, gen_ai__operation__name="invoke_agent",
                 gen_ai__request__model="gpt-4o-mini", gen_ai__usage__input_tokens=900,
                 gen_ai__usage__output_tokens=32, llmtel__agent__cost__usd=0.01)
    calls = [span(6, 3 + n, "chat gpt-4o-mini", 2 + n * 10, 9 + n * 10, parent=2, gen_ai__operation__name="chat",
                  gen_ai__request__model="gpt-4o-mini", gen_ai__usage__input_tokens=tokens,
                  gen_ai__usage__output_tokens=16, llmtel__cost__usd=0.005) for n, tokens in enumerate((400, 500))]
    store.accept("traces", request(span(6, 1, "support", 0, 40), agent, *calls), META)
    store.flush()
    assert _summary(store, 6)["input_tokens"] == 900 and _summary(store, 6)["cost"] == pytest.approx(0.01)
    assert store.execute("SELECT count(*) FROM spans WHERE model IS NOT NULL")[0][0] == 2  # the calls alone
    stored = store.execute("SELECT attributes FROM spans WHERE name = 'invoke_agent helpdesk'")[0][0]
    assert json.loads(stored)["gen_ai.usage.input_tokens"] == 900  # still shown on the agent's span


def test_a_retried_export_is_stored_once(store):
    first = request(span(5, 1, "root", 0, 10), span(5, 2, "llm", 1, 9, parent=1, gen_ai__usage__input_tokens=4))
    store.accept("traces", first, META)
    store.accept("traces", first, META)  # the exporter timed out and sent the batch again
    overlapping = request(span(5, 2, "llm", 1, 9, parent=1, gen_ai__usage__input_tokens=4),
                           span(5, 3, "tool", 2, 3, parent=1))
    store.accept("traces", overlapping, META)
    store.flush()
    assert store.span_count() == 3
    summary = _summary(store, 5)
    assert (summary["spans"], summary["input_tokens"]) == (3, 4)
    assert store.received["spans"] == 3


def _metrics(*metrics: Metric) -> ExportMetricsServiceRequest:
    out = ExportMetricsServiceRequest()
    out.resource_metrics.add().scope_metrics.add().metrics.extend(metrics)
    return out


def _gauge(name: str, value: int = 1) -> Metric:
    return Metric(name=name, gauge=Gauge(data_points=[NumberDataPoint(as_int=value, time_unix_nano=NOW_NS)]))


def _histogram(name: str, count: int) -> Metric:
    return Metric(name=name, histogram=Histogram(data_points=[HistogramDataPoint(count=count, time_unix_nano=NOW_NS)]))


def test_a_histogram_count_beyond_sqlite_integers_loses_no_point(store):
    """A histogram's count is a uint64; one of 2**63 or more overflowed SQLite's INTEGER, and its whole request
    (a good gauge too) was lost. The count is now stored as unknown, the rest as sent."""
    store.accept("metrics", _metrics(_gauge("good.gauge", 7), _histogram("huge.histogram", 2**64 - 1),
                                     _histogram("big.histogram", 2**63 - 1)), META)
    store.flush()
    assert store.execute("SELECT name, kind, value, count FROM metric_points ORDER BY id") == [
        ("good.gauge", "gauge", 7.0, None), ("huge.histogram", "histogram", None, None),
        ("big.histogram", "histogram", None, 2**63 - 1),
    ]
    assert store.received["failed_requests"] == 0


def test_a_request_sqlite_refuses_loses_only_itself(tmp_path: Path, caplog):
    """The writer commits up to 64 queued requests in one transaction; one that SQLite refused rolled back all
    of them, other clients' spans included, though each had been answered 200. Now it loses only itself."""
    path = tmp_path / "t.db"
    with TraceStore(path) as store:
        with sqlite3.connect(path) as other:  # a refusal no input can cause any longer, from a trigger
            other.execute("CREATE TRIGGER refuse BEFORE INSERT ON metric_points WHEN NEW.name = 'refused'"
                          " BEGIN SELECT RAISE(ABORT, 'refused by the test'); END")
        busy = request(*(span(1, n, "busy", 0, 1) for n in range(1, 2001)))
        store.accept("traces", busy, META)  # keeps the writer busy while the next four queue up as one group
        store.accept("traces", request(span(2, 1, "before", 0, 1)), META)
        store.accept("metrics", _metrics(_gauge("lost.with.its.request"), _gauge("refused")), META)
        store.accept("traces", request(span(3, 1, "after", 0, 1), service="other-client"), META)
        store.accept("metrics", _metrics(_gauge("kept")), META)
        with caplog.at_level(logging.WARNING, logger="llmtel.viewer"):
            store.flush()
        assert store.span_count() == 2002
        assert store.services() == ["other-client", "svc"]
        assert store.execute("SELECT name FROM metric_points") == [("kept",)]
        assert store.received == {"spans": 2002, "logs": 0, "metric_points": 1, "failed_requests": 1}
    [record] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert "metrics request could not be stored" in record.getMessage() and not record.exc_info


def test_accept_rejects_a_mismatched_request(store):
    with pytest.raises(TypeError):
        store.accept("logs", ExportTraceServiceRequest(), META)


def test_otlp_json_and_metrics_over_http():
    with Viewer(grpc_port=None, ui_port=0) as viewer:
        payload = {
            "resourceSpans": [{
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-svc"}}]},
                "scopeSpans": [{"spans": [{
                    "traceId": "5b8efff798038103d269b633813fc60c",
                    "spanId": "eee19b7ec3c1b174",
                    "name": "json-span",
                    "kind": 3,
                    "startTimeUnixNano": str(NOW_NS),
                    "endTimeUnixNano": str(NOW_NS + 5 * MS),
                    "attributes": [{"key": "gen_ai.usage.input_tokens", "value": {"intValue": "42"}}],
                }]}],
            }]
        }
        request = urllib.request.Request(
            f"{viewer.otlp_http_endpoint}/v1/traces", data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200
        metrics = ExportMetricsServiceRequest()
        rm = metrics.resource_metrics.add()
        rm.resource.attributes.append(kv("service.name", "json-svc"))
        rm.scope_metrics.add().metrics.append(Metric(
            name="gen_ai.client.token.usage", unit="{token}",
            sum=Sum(data_points=[NumberDataPoint(as_int=12, time_unix_nano=NOW_NS)], is_monotonic=True),
        ))
        request = urllib.request.Request(
            f"{viewer.otlp_http_endpoint}/v1/metrics", data=metrics.SerializeToString(),
            headers={"Content-Type": "application/x-protobuf"},
        )
        urllib.request.urlopen(request, timeout=5).close()
        viewer.flush()
        status, body = get_json(viewer, "/api/traces/5b8efff798038103d269b633813fc60c")
        [span] = body["data"][0]["spans"]
        assert span["operationName"] == "json-span" and span["duration"] == 5000
        assert {"key": "gen_ai.usage.input_tokens", "type": "int64", "value": 42} in span["tags"]
        assert viewer.store.execute("SELECT name, kind, value FROM metric_points") == [
            ("gen_ai.client.token.usage", "sum", 12.0)
        ]


def test_a_file_database_survives_a_restart(tmp_path: Path):
    path = tmp_path / "nested" / "traces.db"
    with TraceStore(path) as store:
        store.accept("traces", request(span(7, 1, "persisted", 0, 1)), META)
    with TraceStore(path) as store:
        assert store.span_count() == 1
        assert _summary(store, 7)["root"] == "persisted"
        assert store.execute("PRAGMA journal_mode") == [("wal",)]


def _fill(store: TraceStore, traces: int, spans_per_trace: int = 2, gap_ms: float = 1000) -> None:
    for t in range(1, traces + 1):
        start = -(traces - t) * gap_ms  # trace 1 oldest, the last one now
        spans = [span(t, 1, "root", start, start + 5, gen_ai__request__model=f"model-{t}")]
        spans += [span(t, s, "child", start + 1, start + 2, parent=1) for s in range(2, spans_per_trace + 1)]
        store.accept("traces", request(*spans, service=f"svc-{t}"), META)
    store.flush()


def _trace_numbers(store: TraceStore) -> list[int]:
    return sorted(int(r[0], 16) for r in store.execute("SELECT trace_id FROM traces"))


def test_retention_by_age_deletes_old_traces_with_their_spans_logs_models_and_services():
    with TraceStore(":memory:", retention=Retention(max_age_us=3_500_000), prune_interval=3600) as store:
        _fill(store, 5)
        assert store.span_count() == 10
        deleted = store.prune(now_us=NOW_NS // 1000)
        assert deleted == 2  # trace 1's two spans: started 4 s ago and ended before the 3.5 s cut-off
        assert _trace_numbers(store) == [2, 3, 4, 5]
        assert store.span_count() == 8
        assert store.models() == ["model-2", "model-3", "model-4", "model-5"]
        assert store.services() == ["svc-2", "svc-3", "svc-4", "svc-5"]
        assert store.operations("svc-1") == []
        assert store.prune(now_us=NOW_NS // 1000 + 10**9) == 8  # everything, 1000 s later


def test_retention_by_span_count_runs_on_ingest():
    with TraceStore(":memory:", retention=Retention(max_spans=7), prune_interval=3600) as store:
        _fill(store, 5)
        assert store.span_count() <= 7
        assert _trace_numbers(store) == [3, 4, 5]  # the oldest traces went first


def test_retention_by_database_size(tmp_path: Path):
    with TraceStore(tmp_path / "t.db", prune_interval=3600) as store:
        _fill(store, 300, spans_per_trace=10, gap_ms=10)
        used = store.execute("PRAGMA page_count")[0][0] * store.execute("PRAGMA page_size")[0][0]
    limit = used // 2
    with TraceStore(tmp_path / "t.db", retention=Retention(max_db_bytes=limit), prune_interval=3600) as store:
        store.flush()  # opening a store that is over its limits prunes it at once
        pages, free, size = (store.execute(f"PRAGMA {p}")[0][0] for p in ("page_count", "freelist_count", "page_size"))
        assert (pages - free) * size <= limit
        remaining = _trace_numbers(store)
        assert remaining and remaining == list(range(301 - len(remaining), 301))  # newest kept
        assert store.span_count() == 10 * len(remaining) and store.prune() == 0


def test_age_retention_also_runs_while_no_data_arrives():
    with TraceStore(":memory:", retention=Retention(max_age_us=1_500_000), prune_interval=0.05) as store:
        now_ms = (time.time_ns() - NOW_NS) / MS
        store.accept("traces", request(span(9, 1, "recent", now_ms - 100, now_ms)), META)
        store.flush()
        assert store.span_count() == 1  # younger than 1.5 s when it arrived
        deadline = time.monotonic() + 10
        while store.span_count() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert store.span_count() == 0


def test_retention_settings_are_validated():
    with pytest.raises(ValueError, match="max_spans"):
        Retention(max_spans=0)
    with pytest.raises(ValueError, match="prune_interval"):
        TraceStore(prune_interval=0)
