"""A run that crosses a service boundary: process A calls process B over HTTP (httpx2 and requests); B
continues A's run with ``llmtel.continue_run``. Both export to one OTLP receiver."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx2
import pytest

from tests.e2e.harness import APPS, run_app

pytestmark = pytest.mark.e2e


@pytest.fixture
def service_b(otlp_env):
    """Service B running in its own process; its base URL. Asked to shut down (flushing) afterwards."""
    proc = subprocess.Popen(
        [sys.executable, "service_b.py"], env={**otlp_env(), "OTEL_SERVICE_NAME": "service-b"}, cwd=APPS,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    url = None
    try:
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
        url = f"http://127.0.0.1:{json.loads(line)['port']}"
        yield url
    finally:
        try:
            if url is not None:
                httpx2.post(url + "/shutdown", timeout=5)
            proc.wait(timeout=20)
        except Exception:  # noqa: BLE001 - make sure the process goes away
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_b_continues_a_run_in_the_same_trace(otlp_receiver, otlp_env, service_b):
    run = run_app(["service_a.py", service_b], {**otlp_env(), "OTEL_SERVICE_NAME": "service-a"})
    assert run.returncode == 0, run.stderr
    report = run.result
    run_id = report["run_id"]
    # B saw A's run id and (propagated on request) A's session id
    assert report["answers"] == [{"run_id": run_id, "session_id": "s-9"}] * 2

    store = otlp_receiver.store

    def b_done(s):
        b_spans = [x for x in s.spans() if x.resource.get("service.name") == "service-b"]
        b_logs = [x for x in s.logs() if x.resource.get("service.name") == "service-b" and x.body == "b handled"]
        return len(b_spans) >= 6 and len(b_logs) >= 2 and any(x.name == "service_a.request" for x in s.spans())

    assert store.wait_for(b_done, timeout=20)
    spans = store.spans()
    assert len({s.trace_id for s in spans}) == 1  # ONE trace across both processes
    a_spans = [s for s in spans if s.resource["service.name"] == "service-a"]
    b_spans = [s for s in spans if s.resource["service.name"] == "service-b"]
    clients = [s for s in a_spans if s.kind == 3]  # SPAN_KIND_CLIENT
    assert {s.scope_name for s in clients} == {
        "opentelemetry.instrumentation.httpx", "opentelemetry.instrumentation.requests"
    }
    handles = [s for s in b_spans if s.name == "service_b.handle"]
    assert len(handles) == 2 and all(h.kind == 2 for h in handles)  # SPAN_KIND_SERVER
    # each B request is a child of the A client span that sent it
    assert sorted(h.parent_span_id for h in handles) == sorted(c.span_id for c in clients)
    by_id = {s.span_id: s for s in spans}
    for span in b_spans:
        assert span.attributes["llmtel.run.id"] == run_id, span.name
        assert span.attributes["session.id"] == "s-9", span.name
        assert span.attributes["component"] == "b", span.name
    work = [s for s in b_spans if s.name == "b.work"]
    assert len(work) == 2 and all(by_id[w.parent_span_id].name == "step lookup" for w in work)
    assert all(w.attributes["llmtel.step"] == "lookup" for w in work)

    b_logs = [r for r in store.logs() if r.resource["service.name"] == "service-b" and r.body == "b handled"]
    assert len(b_logs) == 2
    for record, span in zip(sorted(b_logs, key=lambda r: r.span_id), sorted(work, key=lambda s: s.span_id)):
        assert (record.trace_id, record.span_id) == (span.trace_id, span.span_id)
        assert record.attributes["llmtel.run.id"] == run_id
        assert record.attributes["llmtel.step"] == "lookup"
        assert record.attributes["session.id"] == "s-9"
