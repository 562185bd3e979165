"""OpenAI spans through both set-up routes, in real processes, delivered to the real receiver."""

from __future__ import annotations

import pytest

from llmtel import semconv as sc
from llmtel.testing import ChatReply, FakeOpenAI, Usage
from tests.e2e.harness import BIN, run_app

pytestmark = pytest.mark.e2e
pytest.importorskip("openai")


@pytest.fixture
def fake():
    with FakeOpenAI() as server:
        server.enqueue(ChatReply("hello there", model="gpt-4o-mini-2024-07-18", usage=Usage(prompt=10, completion=2)))
        yield server


def run(route, fake, env):
    app = ["openai_app.py", fake.base_url]
    if route in ("opentelemetry-instrument", "both"):
        app = [str(BIN / "opentelemetry-instrument"), str(BIN / "python"), *app]
    if route in ("instrument()", "both"):
        app.append("--setup")
    result = run_app(app, env)
    assert result.returncode == 0, result.stderr
    assert result.result == {"content": "hello there"}
    return result


@pytest.mark.parametrize("route", ["instrument()", "opentelemetry-instrument", "both"])
def test_openai_span_reaches_the_collector(otlp_receiver, otlp_env, fake, route):
    run(route, fake, otlp_env())
    store = otlp_receiver.store
    assert store.wait_for(lambda s: any(x.scope_name == "llmtel" for x in s.spans()))
    (span,) = [s for s in store.spans() if s.scope_name == "llmtel"]
    assert span.name == "chat gpt-4o-mini"
    assert span.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] == 10
    assert span.attributes[sc.LLMTEL_COST_STATUS] == "priced"
    assert span.resource["service.name"] == "e2e-app"
    (http,) = [s for s in store.spans() if s.scope_name == "opentelemetry.instrumentation.httpx"]
    assert http.parent_span_id == span.span_id
    assert store.wait_for(lambda s: any(p.name == sc.METRIC_TOKEN_USAGE for p in s.metric_points()))


@pytest.mark.parametrize("route", ["instrument()", "opentelemetry-instrument"])
def test_llmtel_openai_can_be_disabled_by_name(otlp_receiver, otlp_env, fake, route):
    run(route, fake, otlp_env(OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="llmtel_openai"))
    store = otlp_receiver.store
    assert store.wait_for(lambda s: any(x.scope_name == "opentelemetry.instrumentation.httpx" for x in s.spans()))
    assert [s for s in store.spans() if s.scope_name == "llmtel"] == []
