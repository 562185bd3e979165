"""The real ``llmtel.instrument()`` pipeline in a subprocess (openai client against FakeOpenAI) exporting to
the viewer over OTLP/HTTP: the trace, its LLM summary and its correlated logs come back from the API."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.harness import clean_env
from tests.viewer.conftest import get_json

pytestmark = pytest.mark.e2e

APP = Path(__file__).parent / "apps" / "llm_app.py"


@pytest.mark.timeout(90)
def test_an_instrumented_app_shows_up_in_the_viewer(viewer):
    # (gRPC into the viewer is covered with the stock exporter in test_jaeger_api.)
    endpoint, protocol = viewer.otlp_http_endpoint, "http/protobuf"
    proc = subprocess.run([sys.executable, str(APP), endpoint, protocol], env=clean_env(), capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    ran = json.loads(proc.stdout.strip().splitlines()[-1])
    viewer.flush()

    status, body = get_json(viewer, f"/api/llmtel/traces?model=gpt-4o-mini&q={ran['run_id']}")
    assert status == 200 and body["total"] == 1
    row = body["data"][0]
    assert row["traceID"] == ran["trace_id"]
    assert (row["rootName"], row["rootService"], row["runId"], row["sessionId"]) == (
        "answer-question", "viewer-e2e", ran["run_id"], "s-9")
    assert "gpt-4o-mini" in row["models"] and "gpt-4o-mini-2024-07-18" in row["models"]
    assert row["inputTokens"] > 0 and row["outputTokens"] > 0 and row["errorCount"] == 0
    assert row["spanCount"] >= 4  # run, step, chat, HTTP

    status, body = get_json(viewer, f"/api/traces/{ran['trace_id']}")
    spans = {s["operationName"]: s for s in body["data"][0]["spans"]}
    chat = spans["chat gpt-4o-mini"]
    tags = {t["key"]: t["value"] for t in chat["tags"]}
    assert tags["gen_ai.request.model"] == "gpt-4o-mini" and tags["span.kind"] == "client"
    assert tags["llmtel.run.id"] == ran["run_id"]
    assert chat["references"][0]["spanID"] == spans["step call_model"]["spanID"]
    assert body["data"][0]["processes"]["p1"]["serviceName"] == "viewer-e2e"

    found = get_json(viewer, "/api/traces?service=viewer-e2e&tags=" +
                     '{"gen_ai.request.model":"gpt-4o-mini"}'.replace('"', "%22").replace(" ", ""))[1]
    assert [t["traceID"] for t in found["data"]] == [ran["trace_id"]]

    assert viewer.store.wait_for_logs(1)
    viewer.flush()
    logs = get_json(viewer, f"/api/llmtel/traces/{ran['trace_id']}/logs")[1]["data"]
    asking = [rec for rec in logs if rec["body"] == "asking the model"]
    assert len(asking) == 1
    assert asking[0]["spanID"] == spans["step call_model"]["spanID"]
    assert asking[0]["attributes"]["llmtel.run.id"] == ran["run_id"]
