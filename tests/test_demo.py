"""`llmtel demo` (the README's main job) in a fresh process: it must show a whole, correlated LLM trace, read
back from a trace viewer — its own when none is running, else the running one — and fail when it did not
arrive."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from llmtel.receiver import OTLPReceiver
from llmtel.testing import FakeOpenAI
from llmtel.viewer import TraceStore, Viewer
from tests.e2e.harness import clean_env, free_port

LLMTEL = Path(sys.executable).parent / "llmtel"
pytestmark = pytest.mark.e2e


def _demo(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in clean_env().items() if not k.startswith("OPENAI_")}  # never the real API
    environment.update(env)
    return subprocess.run([str(LLMTEL), "demo", *args], env=environment, capture_output=True, text=True,
                          timeout=120)


def _trace_id(out: str) -> str:
    match = re.search(r"^trace ([0-9a-f]{32}): ", out, re.MULTILINE)
    assert match, out
    return match.group(1)


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_demo_starts_its_own_viewer_and_reports_a_correlated_llm_trace(protocol, tmp_path):
    db = tmp_path / "traces.db"
    nobody = f"http://127.0.0.1:{free_port()}"  # no viewer there: the demo starts its own
    run = _demo("--protocol", protocol, "--viewer", nobody, "--db", str(db))
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    assert f"to the demo's own viewer (database {db})" in out
    assert "14 of 14 spans arrived, 3 of them LLM calls" in out
    assert re.search(r"chat gpt-4o-mini .*420 in, 18 out, finish=tool_calls, \$0\.0000\d+", out)
    assert re.search(r"chat gpt-4o-mini .*finish=stop, .*first chunk", out)
    assert re.search(r"embeddings text-embedding-3-small .*\[43 in", out)
    assert re.search(r"POST .*\[HTTP 429\]\n\s+POST .*\[HTTP 200\]\n\s+execute_tool word_count", out)  # the retry
    assert "tokens: 975 in, 42 out" in out
    total = re.search(r"tokens: 975 in, 42 out; cost (\$0\.\d{6})", out)
    assert total, out  # the run's own span says the same, summed as its calls ended
    assert re.search(r"demo-pipeline .*\[3 LLM calls, 1 tool run, 975 in, 42 out, " + re.escape(total.group(1))
                     + r"\]", out)
    # the agent's span sums the two chat calls and the tool run made inside it, which nest under it
    assert re.search(r"\n    invoke_agent answerer .*\[2 LLM calls, 1 tool run, 932 in, 42 out, \$0\.\d{6}\]\n"
                     r"      step call_model", out)
    assert "logs: 12 written in this trace, 12 stored with its trace id" in out
    assert "W3C traceparent reached the model server: yes" in out
    assert "INCOMPLETE" not in out
    assert "sk-demo" not in out + run.stderr
    trace_id = _trace_id(out)
    assert f"`llmtel serve --db {db}`, then open http://127.0.0.1:16686/trace/{trace_id}" in out
    # the trace stays in the database for `llmtel serve` to show
    store = TraceStore(db)
    try:
        spans = store.spans_of([trace_id])[trace_id]
        assert len(spans) == 14 and {s.name for s in spans} >= {"demo-pipeline", "step parse"}
        assert len(store.logs_of(trace_id)) == 12
    finally:
        store.close()


def test_demo_with_an_in_memory_database_does_not_promise_a_later_browse():
    nobody = f"http://127.0.0.1:{free_port()}"
    run = _demo("--viewer", nobody, "--db", ":memory:")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "14 of 14 spans arrived" in run.stdout
    assert "browse it later" not in run.stdout and "--db :memory:" not in run.stdout  # no process can open it
    assert run.stdout.rstrip().endswith("the trace was stored in memory only and is gone when the demo exits: "
                                        "run with --keep-serving to browse it, or with --db FILE to keep it")


def test_demo_sends_to_a_viewer_already_running():
    with Viewer() as viewer:
        run = _demo("--viewer", viewer.ui_url, "--otlp-endpoint", viewer.otlp_http_endpoint)
        assert run.returncode == 0, run.stdout + run.stderr
        trace_id = _trace_id(run.stdout)
        assert f"to the viewer running at {viewer.ui_url}" in run.stdout
        assert f"open it: {viewer.ui_url}/trace/{trace_id}" in run.stdout
        assert viewer.flush()
        assert len(viewer.store.spans_of([trace_id])[trace_id]) == 14


def test_demo_exits_nonzero_when_the_trace_does_not_arrive():
    # a viewer answers its query API, but the OTLP endpoint given is another receiver: nothing reaches the viewer
    with Viewer(grpc_port=None, http_port=None) as viewer, OTLPReceiver() as elsewhere:
        run = _demo("--viewer", viewer.ui_url, "--otlp-endpoint", elsewhere.http_endpoint, "--timeout", "0.5")
        assert run.returncode == 1, run.stdout + run.stderr
        assert "0 of 14 spans arrived" in run.stdout
        assert "INCOMPLETE" in run.stdout
        assert elsewhere.store.wait_for_spans(14)  # they were sent, just not to the viewer that was asked


def test_demo_real_calls_the_api_from_the_environment(tmp_path):
    # --real uses openai.OpenAI() as configured by the environment; here that points at a fake, unscripted
    with FakeOpenAI(api_key="sk-test-real-mode") as api:
        run = _demo("--real", "--viewer", f"http://127.0.0.1:{free_port()}", "--db", str(tmp_path / "t.db"),
                    OPENAI_API_KEY="sk-test-real-mode", OPENAI_BASE_URL=api.base_url)
        assert run.returncode == 0, run.stdout + run.stderr
        assert "(model: the real OpenAI API)" in run.stdout
        assert "13 of 13 spans arrived, 3 of them LLM calls" in run.stdout  # no scripted 429 this time
        assert "W3C traceparent" not in run.stdout  # nothing to inspect on a real server
        paths = [r.path for r in api.requests]
        assert paths == ["/v1/embeddings", "/v1/chat/completions", "/v1/chat/completions"]
        assert api.requests[1].json["tool_choice"]["function"]["name"] == "word_count"


def test_demo_real_without_a_key_says_what_is_missing():
    run = _demo("--real")
    assert run.returncode == 2
    assert "needs OPENAI_API_KEY" in run.stderr and run.stdout == ""
