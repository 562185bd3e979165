"""Every example in examples/ runs as a real process against the fake OpenAI server (no API key) and its
telemetry reaches a real OTLP receiver: the spans, attributes and logs each example is meant to show.

The selected examples are all started at once (each with its own receiver) when the first test needs one,
so the suite waits for the slowest example rather than for their sum.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from llmtel.receiver import OTLPReceiver, ReceivedSpan
from tests.e2e.harness import BIN, clean_env

pytestmark = pytest.mark.e2e

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
COST_PRICED = sys.version_info >= (3, 11)  # genai-prices needs Python 3.11
SERVER, CLIENT = 2, 3  # OTLP span kinds

# example -> (command prefix before the script, extra environment)
LAUNCH: dict[str, tuple[list[str], dict[str, str]]] = {
    "quickstart": ([], {}),
    "streaming": ([], {}),
    "tool_calling": ([], {}),
    "responses_api": ([], {}),
    "web_service": ([], {}),
    "unmodified_app": ([str(BIN / "opentelemetry-instrument")], {"OTEL_SERVICE_NAME": "unmodified-app"}),
    "rag_pipeline": ([], {}),
    "feedback": ([], {}),
}


@dataclass
class ExampleRun:
    """One example process and the receiver it exports to."""

    name: str
    receiver: OTLPReceiver
    process: subprocess.Popen[str]
    output: tuple[str, str] | None = field(default=None)

    def finish(self) -> tuple[int, str, str]:
        """Wait for the process; (exit code, stdout, stderr)."""
        if self.output is None:
            try:
                self.output = self.process.communicate(timeout=90)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.output = self.process.communicate()
        return self.process.returncode, *self.output

    def spans(self, until: Callable[[list[ReceivedSpan]], bool], timeout: float = 10.0) -> list[ReceivedSpan]:
        """The received spans once ``until(spans)`` holds (or what arrived by ``timeout``)."""
        store = self.receiver.store
        store.wait_for(lambda s: until(s.spans()), timeout=timeout)
        return store.spans()


def _start(name: str) -> ExampleRun:
    prefix, extra = LAUNCH[name]
    receiver = OTLPReceiver().start()
    env = clean_env(
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.http_endpoint,
        OTEL_METRIC_EXPORT_INTERVAL="600000",  # metrics leave once, at exit
        LLMTEL_SHUTDOWN_TIMEOUT="10",
        **extra,
    )
    for key in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):
        env.pop(key, None)  # never the real API from the test suite
    command = [*prefix, sys.executable, str(EXAMPLES / f"{name}.py")]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               stdin=subprocess.DEVNULL, cwd=EXAMPLES.parent)
    return ExampleRun(name, receiver, process)


@pytest.fixture(scope="module")
def started(request: pytest.FixtureRequest) -> Iterator[dict[str, ExampleRun]]:
    """Every example selected in this session, started concurrently."""
    wanted = {
        getattr(item, "originalname", item.name).removeprefix("test_")
        for item in request.session.items
        if item.module is request.module
    } & set(LAUNCH)
    runs = {name: _start(name) for name in wanted}
    yield runs
    for run in runs.values():
        if run.process.poll() is None:
            run.process.kill()
        run.finish()
        run.receiver.stop()


@pytest.fixture
def example(request: pytest.FixtureRequest, started: dict[str, ExampleRun]) -> ExampleRun:
    """The run of the example the test is named after; it must have exited 0 against the fake server."""
    name = request.node.originalname.removeprefix("test_")
    run = started[name]
    code, out, err = run.finish()
    assert code == 0, f"{name} exited {code}\nstdout:\n{out}\nstderr:\n{err}"
    assert "using the fake OpenAI server" in err, err
    return run


def _one(spans: list[ReceivedSpan], name: str) -> ReceivedSpan:
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, (name, [s.name for s in spans])
    return found[0]


def _children(spans: list[ReceivedSpan], parent: ReceivedSpan) -> list[ReceivedSpan]:
    return [s for s in spans if s.parent_span_id == parent.span_id and s.trace_id == parent.trace_id]


def _assert_priced(span: ReceivedSpan) -> None:
    attrs = span.attributes
    assert attrs["gen_ai.usage.input_tokens"] > 0 and attrs["gen_ai.usage.output_tokens"] > 0, attrs
    if COST_PRICED:
        assert attrs["llmtel.cost.status"] == "priced" and attrs["llmtel.cost.usd"] > 0, attrs


def test_quickstart(example):
    assert "Every call I answer becomes a span." in example.finish()[1]
    spans = example.spans(lambda spans: len(spans) >= 2)
    chat = _one(spans, "chat gpt-4o-mini")
    assert chat.resource["service.name"] == "quickstart"
    assert chat.kind == CLIENT and chat.attributes["gen_ai.provider.name"] == "openai"
    assert chat.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    _assert_priced(chat)
    [http] = _children(spans, chat)
    status = http.attributes.get("http.status_code", http.attributes.get("http.response.status_code"))
    assert http.kind == CLIENT and status == 200


def test_streaming(example):
    assert "span ends when its last chunk arrives" in example.finish()[1]
    spans = example.spans(lambda spans: any(s.name.startswith("chat") for s in spans))
    chat = _one(spans, "chat gpt-4o-mini")
    attrs = chat.attributes
    assert attrs["gen_ai.request.stream"] is True
    assert attrs["llmtel.stream.end"] == "completed"
    assert attrs["llmtel.usage.source"] == "stream_usage_chunk"
    assert attrs["gen_ai.response.time_to_first_chunk"] > 0
    assert attrs["llmtel.stream.chunks"] > 3
    _assert_priced(chat)


def test_tool_calling(example):
    assert "sunny in Paris" in example.finish()[1]
    spans = example.spans(lambda spans: any(s.name == "weather-agent" for s in spans))
    root = _one(spans, "weather-agent")
    tool = _one(spans, "execute_tool get_weather")
    chats = sorted((s for s in spans if s.name == "chat gpt-4o-mini"), key=lambda s: s.start_ns)
    assert [c.attributes["gen_ai.response.finish_reasons"] for c in chats] == [("tool_calls",), ("stop",)]
    assert chats[0].end_ns <= tool.start_ns and tool.end_ns <= chats[1].start_ns  # the loop's order
    assert tool.attributes["gen_ai.tool.call.id"] == "call_weather_1"
    assert tool.attributes["gen_ai.tool.type"] == "function"
    assert json.loads(tool.attributes["gen_ai.tool.call.arguments"]) == {"city": "Paris"}  # captured: opted in
    assert json.loads(tool.attributes["gen_ai.tool.call.result"]) == {"city": "Paris", "forecast": "sunny",
                                                                      "celsius": 21}
    agent = _one(spans, "invoke_agent weather")
    assert agent.parent_span_id == root.span_id
    assert (agent.attributes["llmtel.agent.llm_calls"], agent.attributes["llmtel.agent.tool_calls"]) == (2, 1)
    assert agent.attributes["gen_ai.usage.input_tokens"] == sum(c.attributes["gen_ai.usage.input_tokens"]
                                                                for c in chats)
    assert json.loads(agent.attributes["gen_ai.output.messages"])[0]["parts"][0]["content"] == (
        "It is sunny in Paris today, 21 °C.")
    run_id = root.attributes["llmtel.run.id"]
    for span in (tool, *chats):
        assert span.parent_span_id == agent.span_id and span.attributes["llmtel.run.id"] == run_id, span.name


def test_responses_api(example):
    out = example.finish()[1]
    assert "A trace is a tree of spans." in out and "A span is one timed operation." in out
    spans = example.spans(lambda spans: sum(s.name.startswith("chat") for s in spans) >= 2)
    calls = sorted((s for s in spans if s.name == "chat gpt-4o-mini"), key=lambda s: s.start_ns)
    assert len(calls) == 2
    for call in calls:
        assert call.attributes["openai.api.type"] == "responses"
        assert call.attributes["gen_ai.response.id"].startswith("resp_")
        _assert_priced(call)
    assert "llmtel.stream.end" not in calls[0].attributes
    assert calls[1].attributes["llmtel.stream.end"] == "completed"


def test_web_service(example):
    assert '"approved":true' in example.finish()[1]
    spans = example.spans(lambda spans: {s.resource.get("service.name") for s in spans}
                          >= {"answer-service", "review-service"} and len(spans) >= 5)
    run, review = _one(spans, "answer-question"), _one(spans, "review-answer")
    assert (run.resource["service.name"], review.resource["service.name"]) == ("answer-service", "review-service")
    assert run.parent_span_id is None and review.kind == SERVER
    # the reviewer's span continues the caller's trace, under the caller's HTTP client span
    [post] = [s for s in spans if s.kind == CLIENT and s.span_id == review.parent_span_id]
    assert review.trace_id == run.trace_id and post.parent_span_id == run.span_id
    assert post.resource["service.name"] == "answer-service"
    assert "/review" in post.attributes.get("http.url", post.attributes.get("url.full", ""))
    # baggage carried the run id into the other process
    assert review.attributes["llmtel.run.id"] == run.attributes["llmtel.run.id"]
    assert review.attributes["review.approved"] is True
    chat = _one(spans, "chat gpt-4o-mini")
    assert chat.parent_span_id == run.span_id
    store = example.receiver.store
    assert store.wait_for(lambda s: any("reviewed an answer" in str(r.body) for r in s.logs()))
    [reviewed] = [r for r in store.logs() if "reviewed an answer" in str(r.body)]
    assert reviewed.resource["service.name"] == "review-service"
    assert reviewed.trace_id == run.trace_id and reviewed.span_id == review.span_id
    assert reviewed.attributes["llmtel.run.id"] == run.attributes["llmtel.run.id"]


def test_unmodified_app(example):
    spans = example.spans(lambda spans: any(s.name.startswith("chat") for s in spans))
    chat = _one(spans, "chat gpt-4o-mini")
    assert chat.resource["service.name"] == "unmodified-app"
    assert chat.resource["telemetry.distro.name"] == "llmtel"
    _assert_priced(chat)
    store = example.receiver.store
    assert store.wait_for(lambda s: any("the model answered" in str(r.body) for r in s.logs()))


def test_rag_pipeline(example):
    out = example.finish()[1]
    assert "On the span of the model call." in out
    spans = example.spans(lambda spans: any(s.name == "answer-question" for s in spans))
    root = _one(spans, "answer-question")
    steps = {name: _one(spans, f"step {name}") for name in ("index", "retrieve", "answer")}
    assert all(step.parent_span_id == root.span_id for step in steps.values())
    embeddings = [s for s in spans if s.name == "embeddings text-embedding-3-small"]
    assert sorted(s.parent_span_id for s in embeddings) == sorted([steps["index"].span_id, steps["retrieve"].span_id])
    assert _one(spans, "chat gpt-4o-mini").parent_span_id == steps["answer"].span_id
    run_id = root.attributes["llmtel.run.id"]
    assert {s.attributes.get("llmtel.run.id") for s in spans} == {run_id}
    assert {s.attributes.get("session.id") for s in spans} == {"docs-session"}
    # structlog events: exported as log records of their step's span, and printed as JSON with the ids
    store = example.receiver.store
    events = ("indexed documents", "retrieved context", "answered")
    assert store.wait_for(lambda s: {r.body for r in s.logs()} >= set(events))
    for event, step in zip(events, ("index", "retrieve", "answer")):
        [record] = [r for r in store.logs() if r.body == event]
        assert (record.trace_id, record.span_id) == (root.trace_id, steps[step].span_id), event
        assert record.attributes["llmtel.run.id"] == run_id and record.attributes["llmtel.step"] == step
    assert [r.attributes["documents"] for r in store.logs() if r.body == "indexed documents"] == [3]
    printed = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert [p["event"] for p in printed] == list(events)
    assert all(p["trace_id"] == root.trace_id and p["run_id"] == run_id for p in printed)


def test_feedback(example):
    assert "Reset password" in example.finish()[1]
    spans = example.spans(lambda spans: any(s.name == "support-chat" for s in spans))
    chat = _one(spans, "chat gpt-4o-mini")
    store = example.receiver.store
    assert store.wait_for(lambda s: any(r.event_name == "gen_ai.evaluation.result" for r in s.logs()))
    [feedback] = [r for r in store.logs() if r.event_name == "gen_ai.evaluation.result"]
    # recorded after the run had ended, yet attached to the LLM call that produced the answer
    assert (feedback.trace_id, feedback.span_id) == (chat.trace_id, chat.span_id)
    assert feedback.time_ns > _one(spans, "support-chat").end_ns
    attrs = feedback.attributes
    assert attrs["gen_ai.evaluation.name"] == "user_feedback"
    assert attrs["gen_ai.evaluation.score.value"] == 1.0
    assert attrs["gen_ai.evaluation.score.label"] == "thumbs_up"
    assert attrs["gen_ai.evaluation.explanation"] == "Clear and quick."
    assert attrs["gen_ai.response.id"] == chat.attributes["gen_ai.response.id"]
