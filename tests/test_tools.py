"""``llmtel.tool``: execute_tool spans through the real SDK, and their content under each content policy."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind, StatusCode

import llmtel
from llmtel import semconv as sc
from llmtel.genai.content import CaptureMode, ContentPolicy, short_sha256, use_policy
from llmtel.tools import Tool, captured


def capture(**options: Any) -> None:
    use_policy(ContentPolicy(mode=CaptureMode.SPAN_ONLY, **options))


def test_a_tool_call_run_in_a_step_is_an_execute_tool_span_with_the_conventions_attributes(scope_spans):
    with llmtel.run("answer", run_id="r-1"), llmtel.step("act"):
        with llmtel.tool("word_count", call_id="call_abc", description="Counts words") as this:
            this.set_result(3)
    span = scope_spans.only("execute_tool word_count")
    step = scope_spans.only("step act")
    assert span.kind is SpanKind.INTERNAL
    assert span.parent.span_id == step.context.span_id
    assert dict(span.attributes) == {
        sc.GEN_AI_OPERATION_NAME: "execute_tool", sc.GEN_AI_TOOL_NAME: "word_count",
        sc.GEN_AI_TOOL_CALL_ID: "call_abc", sc.GEN_AI_TOOL_DESCRIPTION: "Counts words",
        sc.GEN_AI_TOOL_TYPE: "function", sc.LLMTEL_RUN_ID: "r-1", sc.LLMTEL_STEP: "act",
    }  # content is off by default: neither the arguments nor the result
    assert span.status.status_code is StatusCode.UNSET


def test_arguments_and_result_are_recorded_when_content_is_captured(scope_spans):
    capture()
    with llmtel.tool("lookup", call_id="c1", arguments='{"city": "Paris", "days": 2}') as this:
        this.set_result({"forecast": ["sun", "rain"]})
    attributes = scope_spans.only("execute_tool lookup").attributes
    assert json.loads(attributes[sc.GEN_AI_TOOL_CALL_ARGUMENTS]) == {"city": "Paris", "days": 2}  # decoded
    assert json.loads(attributes[sc.GEN_AI_TOOL_CALL_RESULT]) == {"forecast": ["sun", "rain"]}


def test_a_decorated_function_records_its_bound_arguments_and_return_value(scope_spans):
    capture()

    @dataclasses.dataclass
    class Hit:
        title: str
        score: float

    class Index:
        @llmtel.tool(description="Searches the index", type="datastore")
        def search(self, query: str, limit: int = 5) -> list[Hit]:
            return [Hit("Paris", 0.9)][:limit]

    assert Index().search("capital of France", limit=1) == [Hit("Paris", 0.9)]  # returned unchanged
    span = scope_spans.only("execute_tool search")
    assert span.attributes[sc.GEN_AI_TOOL_TYPE] == "datastore"
    assert json.loads(span.attributes[sc.GEN_AI_TOOL_CALL_ARGUMENTS]) == {"query": "capital of France", "limit": 1}
    assert json.loads(span.attributes[sc.GEN_AI_TOOL_CALL_RESULT]) == [{"title": "Paris", "score": 0.9}]


def test_bare_decorator_names_the_tool_after_the_function_and_each_call_is_its_own_span(scope_spans):
    @llmtel.tool
    def add(a: int, b: int) -> int:
        return a + b

    assert add(1, 2) == 3 and add(3, 4) == 7
    names = [span.name for span in scope_spans.get_finished_spans()]
    assert names == ["execute_tool add", "execute_tool add"]
    first, second = scope_spans.get_finished_spans()
    assert first.context.span_id != second.context.span_id


def test_async_tool_records_its_result(scope_spans):
    capture()

    @llmtel.tool("fetch")
    async def fetch(url: str) -> str:
        await asyncio.sleep(0)
        return "page"

    assert asyncio.run(fetch("https://example.invalid/a")) == "page"
    attributes = scope_spans.only("execute_tool fetch").attributes
    assert json.loads(attributes[sc.GEN_AI_TOOL_CALL_ARGUMENTS]) == {"url": "https://example.invalid/a"}
    assert json.loads(attributes[sc.GEN_AI_TOOL_CALL_RESULT]) == "page"


def test_a_generator_tool_spans_its_iteration(scope_spans):
    @llmtel.tool("pages")
    def pages(n: int):
        yield from range(n)

    assert list(pages(3)) == [0, 1, 2]
    assert scope_spans.only("execute_tool pages").attributes[sc.GEN_AI_TOOL_NAME] == "pages"


def test_a_failing_tool_records_its_error_masked_its_arguments_and_no_result(scope_spans):
    capture()

    @llmtel.tool("send_mail")
    def send_mail(to: str) -> str:
        raise ConnectionError(f"could not reach the server for {to}")

    with pytest.raises(ConnectionError, match="ann@example.com"):  # the app sees its own error, unchanged
        send_mail("ann@example.com")
    span = scope_spans.only("execute_tool send_mail")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[sc.ERROR_TYPE] == "ConnectionError"
    assert sc.GEN_AI_TOOL_CALL_RESULT not in span.attributes
    assert "ann@example.com" not in span.attributes[sc.GEN_AI_TOOL_CALL_ARGUMENTS]  # redacted like all content
    assert "ann@example.com" not in span.status.description
    assert all("ann@example.com" not in str(event.attributes) for event in span.events)


def test_content_is_redacted_and_bounded_by_the_policy(scope_spans):
    capture(max_length=20)
    secret = "sk-" + "a" * 40
    query = "SELECT * FROM t WHERE note = '" + "x" * 50 + "'"
    with llmtel.tool("run_sql", arguments={"query": query, "token": secret}):
        pass
    arguments = json.loads(scope_spans.only("execute_tool run_sql").attributes[sc.GEN_AI_TOOL_CALL_ARGUMENTS])
    assert secret not in json.dumps(arguments)
    assert arguments["query"] == {"preview": query[:20], "truncated": {"length": len(query),
                                                                       "sha256": short_sha256(query)}}


def test_fields_left_out_keep_only_a_length_and_hash(scope_spans):
    capture(fields=frozenset({"tool_calls"}))
    with llmtel.tool("lookup", arguments={"city": "Paris"}) as this:
        this.set_result("sunny")
    attributes = scope_spans.only("execute_tool lookup").attributes
    assert json.loads(attributes[sc.GEN_AI_TOOL_CALL_ARGUMENTS]) == {"city": "Paris"}
    assert json.loads(attributes[sc.GEN_AI_TOOL_CALL_RESULT]) == {
        "omitted": {"length": len("sunny"), "sha256": short_sha256("sunny")}}


@pytest.mark.parametrize("mode", [CaptureMode.NO_CONTENT, CaptureMode.EVENT_ONLY])
def test_no_content_on_the_span_unless_a_span_mode_is_on(scope_spans, mode):
    use_policy(ContentPolicy(mode=mode))
    with llmtel.tool("lookup", arguments={"city": "Paris"}) as this:
        this.set_result("sunny")
    attributes = scope_spans.only("execute_tool lookup").attributes
    assert sc.GEN_AI_TOOL_CALL_ARGUMENTS not in attributes and sc.GEN_AI_TOOL_CALL_RESULT not in attributes


def test_without_an_instrumentation_the_environment_decides(scope_spans, monkeypatch):
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "SPAN_AND_EVENT")
    use_policy(None)
    with llmtel.tool("lookup", arguments={"city": "Paris"}):
        pass
    assert sc.GEN_AI_TOOL_CALL_ARGUMENTS in scope_spans.only("execute_tool lookup").attributes


def test_a_bad_environment_value_captures_nothing_and_says_which_setting(scope_spans, monkeypatch, caplog):
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "sometimes")
    use_policy(None)
    with caplog.at_level(logging.WARNING, logger="llmtel.genai"):
        with llmtel.tool("lookup", arguments={"city": "Paris"}):
            pass
    assert sc.GEN_AI_TOOL_CALL_ARGUMENTS not in scope_spans.only("execute_tool lookup").attributes
    assert "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT" in caplog.text


def test_the_instrumentations_policy_is_the_one_in_force(scope_spans):
    from opentelemetry.sdk.metrics import MeterProvider

    from llmtel.instrumentation.openai import OpenAIInstrumentor

    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(capture_content=True, tracer_provider=TracerProvider(), meter_provider=MeterProvider())
    try:
        with llmtel.tool("lookup", arguments={"city": "Paris"}):
            pass
    finally:
        instrumentor.uninstrument()
    with llmtel.tool("lookup", arguments={"city": "Paris"}):  # uninstrumented: the environment's (off)
        pass
    first, second = scope_spans.get_finished_spans()
    assert sc.GEN_AI_TOOL_CALL_ARGUMENTS in first.attributes
    assert sc.GEN_AI_TOOL_CALL_ARGUMENTS not in second.attributes


def test_a_value_json_cannot_hold_is_recorded_as_text_and_the_tool_result_is_untouched(scope_spans):
    capture()
    looped: list[Any] = []
    looped.append(looped)
    with llmtel.tool("odd", arguments={"when": object}) as this:
        this.set_result(looped)
    attributes = scope_spans.only("execute_tool odd").attributes
    assert json.loads(attributes[sc.GEN_AI_TOOL_CALL_ARGUMENTS]) == {"when": str(object)}
    assert json.loads(attributes[sc.GEN_AI_TOOL_CALL_RESULT]) == "[[...]]"
    assert looped[0] is looped


def test_text_that_is_not_json_stays_text():
    policy = ContentPolicy(mode=CaptureMode.SPAN_ONLY)
    assert json.loads(captured("{not json", policy, "tool_calls")) == "{not json"
    assert json.loads(captured("plain words", policy, "tool_calls")) == "plain words"


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: llmtel.tool(""), ValueError, "name must not be empty"),
        (lambda: llmtel.tool("t", call_id=7), TypeError, "call_id must be a string"),
        (lambda: llmtel.tool("t", type=["function"]), TypeError, "type must be a string"),
        (lambda: llmtel.tool("t")(42), TypeError, "decorates a function"),
    ],
)
def test_bad_arguments_get_a_clear_error(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_a_nameless_tool_cannot_be_entered_and_set_result_needs_the_block(scope_spans):
    with pytest.raises(ValueError, match="needs a name"):
        with Tool(None):
            pass
    with pytest.raises(RuntimeError, match="inside the tool's `with` block"):
        llmtel.tool("t").set_result(1)
    assert scope_spans.get_finished_spans() == ()
