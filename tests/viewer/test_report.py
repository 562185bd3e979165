"""``llmtel report`` on a store with known contents: every figure checked, JSON and table output."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from llmtel.cli import main
from llmtel.viewer import TraceStore
from llmtel.viewer._report import percentile
from tests.viewer.builders import META, request, span

DAY_MS = 86_400_000


def _chat(trace: int, span_id: int, model: str, start: float, ms: float, **attrs: object):
    return span(trace, span_id, f"chat {model}", start, start + ms, parent=1, gen_ai__operation__name="chat",
                gen_ai__request__model=model, **attrs)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "report.db"
    with TraceStore(path) as store:
        api = [span(1, 1, "answer", -5000, -4000)] + [
            _chat(1, 2 + i, "gpt-4o-mini", -4990 + i * 100, ms, gen_ai__usage__input_tokens=10,
                  gen_ai__usage__output_tokens=1, llmtel__cost__usd=0.125)
            for i, ms in enumerate([10.0, 20.0, 30.0, 40.0])
        ]
        store.accept("traces", request(*api, service="api"), META)
        worker = [
            span(2, 1, "batch", -3000, -2100),
            span(2, 2, "embeddings text-embedding-3-small", -2990, -2985, parent=1,
                 gen_ai__operation__name="embeddings", gen_ai__request__model="text-embedding-3-small",
                 gen_ai__usage__input_tokens=100, llmtel__cost__usd=0.25),
            _chat(2, 3, "gpt-4o", -2980, 200, error=True, error__type="RateLimitError"),
            span(2, 4, "db.query", -2700, -2690, parent=1, error=True),
        ]
        store.accept("traces", request(*worker, service="worker"), META)
        old = [span(3, 1, "old", -2 * DAY_MS, -2 * DAY_MS + 10),
               _chat(3, 2, "gpt-4o", -2 * DAY_MS + 1, 5, llmtel__cost__usd=5.0)]
        store.accept("traces", request(*old, service="api"), META)
    return path


def _report(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["report", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_json_report_figures(db, capsys):
    code, out, _ = _report(capsys, "--db", str(db), "--json", "--since", "24h")
    assert code == 0
    report = json.loads(out)
    assert report["totals"] == {
        "traces": 2, "spans": 9, "llm_calls": 6, "input_tokens": 140, "output_tokens": 4,
        "cost_usd": pytest.approx(0.75), "error_spans": 2,
    }
    assert report["cost_by_model"] == [
        {"model": "gpt-4o-mini", "calls": 4, "input_tokens": 40, "output_tokens": 4, "cost_usd": pytest.approx(0.5)},
        {"model": "text-embedding-3-small", "calls": 1, "input_tokens": 100, "output_tokens": 0,
         "cost_usd": pytest.approx(0.25)},
        {"model": "gpt-4o", "calls": 1, "input_tokens": 0, "output_tokens": 0, "cost_usd": None},
    ]
    assert [(r["service"], r["calls"], r["cost_usd"]) for r in report["cost_by_service"]] == [
        ("api", 4, pytest.approx(0.5)), ("worker", 2, pytest.approx(0.25))
    ]
    assert report["latency"] == [
        {"operation": "chat", "model": "gpt-4o", "calls": 1, "p50_ms": 200.0, "p95_ms": 200.0, "p99_ms": 200.0},
        {"operation": "chat", "model": "gpt-4o-mini", "calls": 4, "p50_ms": 20.0, "p95_ms": 40.0, "p99_ms": 40.0},
        {"operation": "embeddings", "model": "text-embedding-3-small", "calls": 1, "p50_ms": 5.0, "p95_ms": 5.0,
         "p99_ms": 5.0},
    ]
    assert report["errors_by_type"] == [{"error_type": "(unset)", "count": 1},
                                        {"error_type": "RateLimitError", "count": 1}]
    slowest = report["slowest_traces"]
    assert [(t["root_name"], t["duration_ms"], t["spans"]) for t in slowest] == [("answer", 1000.0, 5),
                                                                              ("batch", 900.0, 4)]
    assert [(t["root_name"], t["cost_usd"]) for t in report["most_expensive_traces"]] == [
        ("answer", pytest.approx(0.5)), ("batch", pytest.approx(0.25))
    ]
    assert report["most_expensive_traces"][0]["trace_id"] == f"{1:032x}"


def test_a_wider_window_includes_older_traces(db, capsys):
    report = json.loads(_report(capsys, "--db", str(db), "--json", "--since", "3d")[1])
    assert report["totals"]["traces"] == 3
    assert report["most_expensive_traces"][0]["cost_usd"] == pytest.approx(5.0)


def test_table_report(db, capsys):
    code, out, _ = _report(capsys, "--db", str(db), "--top", "1")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "llmtel report: last 1d"
    assert "2 traces, 9 spans, 6 LLM calls, 140 input / 4 output tokens, cost $0.750000, 2 error spans" in lines[1]
    section = lines.index("Cost by model")
    assert lines[section + 1].split() == ["model", "calls", "input", "tok", "output", "tok", "cost"]
    assert lines[section + 3].split() == ["gpt-4o-mini", "4", "40", "4", "$0.500000"]
    latency = lines.index("Latency (ms)")
    assert lines[latency + 4].split() == ["chat", "gpt-4o-mini", "4", "20.0", "40.0", "40.0"]
    slowest = lines.index("Slowest traces")
    assert len([line for line in lines[slowest + 3:] if line.startswith("  0000")]) >= 1
    assert "RateLimitError" in out


def _http_error_spans(path: Path) -> None:
    """Two HTTP 429 spans with ERROR status and no ``error.type`` (as the demo's retried request), one with it."""
    with TraceStore(path) as store:
        spans = [span(7, 1, "POST", -100, -90, error=True, http__response__status_code=429),
                 span(7, 2, "POST", -80, -70, error=True, http__response__status_code=429),
                 span(7, 3, "POST", -60, -50, error=True, http__response__status_code=503, error__type="503"),
                 span(7, 4, "work", -40, -30, error=True)]
        store.accept("traces", request(*spans), META)


def test_error_spans_without_error_type_are_labelled_by_http_status(tmp_path, capsys):
    db = tmp_path / "http.db"
    _http_error_spans(db)
    report = json.loads(_report(capsys, "--db", str(db), "--json")[1])
    assert report["errors_by_type"] == [{"error_type": "HTTP 429", "count": 2}, {"error_type": "(unset)", "count": 1},
                                        {"error_type": "503", "count": 1}]
    out = _report(capsys, "--db", str(db))[1]
    assert "HTTP 429" in out and "_ERROR" not in out


def test_a_database_holding_the_old_error_placeholder_reads_the_same(tmp_path, capsys):
    db = tmp_path / "old.db"
    _http_error_spans(db)
    with sqlite3.connect(db) as conn:  # what ingest stored before: "_ERROR" for an error span without error.type
        conn.execute("UPDATE spans SET error_type = '_ERROR' WHERE status_code = 2 AND error_type IS NULL")
    report = json.loads(_report(capsys, "--db", str(db), "--json")[1])
    assert [r["error_type"] for r in report["errors_by_type"]] == ["HTTP 429", "(unset)", "503"]


def test_report_without_a_database_says_so(tmp_path, capsys):
    code, _, err = _report(capsys, "--db", str(tmp_path / "missing.db"))
    assert code == 1 and "no database" in err


def test_report_rejects_a_bad_window(db, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["report", "--db", str(db), "--since", "yesterday"])
    assert exit_info.value.code == 2
    assert "--since" in capsys.readouterr().err


def test_percentile_is_nearest_rank():
    assert percentile([], 50) is None
    assert [percentile(list(range(1, 101)), p) for p in (50, 95, 99, 100)] == [50, 95, 99, 100]
    assert percentile([7], 99) == 7
