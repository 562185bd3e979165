"""``llmtel.run`` / ``llmtel.step`` in a real process, checked at the real OTLP receiver."""

from __future__ import annotations

import pytest

from tests.e2e.harness import run_app

pytestmark = pytest.mark.e2e


def test_run_id_reaches_every_span_and_log_of_the_run(otlp_receiver, otlp_env):
    run = run_app(["pipeline_context_app.py", otlp_receiver.http_endpoint], otlp_env())
    assert run.returncode == 0, run.stderr
    report = run.result
    run_id = report["run_id"]
    assert len(run_id) == 32
    # the app's own handlers see the stamped fields on its records
    assert report["seen"] == [
        {"message": "fetched", "run_id": run_id, "step": "fetch"},
        {"message": "indexed 2 documents", "run_id": run_id, "step": "index"},
    ]

    store = otlp_receiver.store
    # run root + 2 steps + 1 HTTP client span; 2 app lines + 2 start/finish pairs
    assert store.wait_for(lambda s: len(s.spans()) >= 4 and len(s.logs()) >= 6)
    spans = store.spans()
    assert len({s.trace_id for s in spans}) == 1  # ONE trace
    by_name = {s.name: s for s in spans}
    root, fetch, index = by_name["ingest"], by_name["step fetch"], by_name["step index"]
    http = [s for s in spans if s.scope_name.startswith("opentelemetry.instrumentation.httpx")]
    assert len(http) == 1 and len(spans) == 4
    assert http[0].kind == 3 and http[0].parent_span_id == fetch.span_id
    assert fetch.parent_span_id == root.span_id == index.parent_span_id
    for span in spans:
        assert span.attributes["llmtel.run.id"] == run_id, span.name
        assert (span.attributes["session.id"], span.attributes["user.id"]) == ("s-1", "u-1"), span.name
    assert http[0].attributes["llmtel.step"] == "fetch"
    assert root.attributes["llmtel.run.name"] == "ingest"

    logs = store.logs()
    assert len(logs) == 6
    step_span = {"fetch": fetch, "index": index}
    for rec in logs:
        assert rec.attributes["llmtel.run.id"] == run_id, rec.body
        step = rec.attributes["llmtel.step"]
        assert (rec.trace_id, rec.span_id) == (root.trace_id, step_span[step].span_id), rec.body
        assert not {"trace_id", "span_id", "trace_flags"} & set(rec.attributes)
    fetched = [rec for rec in logs if rec.body == "fetched"]
    assert len(fetched) == 1 and fetched[0].attributes["status"] == report["status"]
    finished = [rec for rec in logs if rec.body == "step finished"]
    assert sorted(rec.attributes["llmtel.step"] for rec in finished) == ["fetch", "index"]
    assert all(rec.attributes["outcome"] == "ok" for rec in finished)
