"""The pytest plugin (``fake_openai``, ``llmtel_spans``) as users get it: through the ``pytest11`` entry point,
in a separate pytest process running a user's test file against the real openai client."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest

pytest_plugins = ["pytester"]
pytest.importorskip("openai")

USER_TESTS = """
import openai
import pytest

import llmtel
from llmtel.instrumentation.openai import OpenAIInstrumentor
from llmtel.testing import ChatReply, SpanCapture


def test_chat_call_is_captured_with_its_run_and_step(fake_openai, llmtel_spans: SpanCapture):
    fake_openai.enqueue(ChatReply("hi there", model="gpt-4o-mini-2024-07-18"))
    client = openai.OpenAI(base_url=fake_openai.base_url, api_key="test", max_retries=0)
    with llmtel.run("unit-test") as run, llmtel.step("ask"):
        reply = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content == "hi there"
    chat = llmtel_spans.one("chat gpt-4o-mini")
    assert chat.attributes["gen_ai.response.model"] == "gpt-4o-mini-2024-07-18"
    assert chat.attributes["gen_ai.usage.output_tokens"] == 2
    assert chat.attributes["llmtel.run.id"] == run.run_id and chat.attributes["llmtel.step"] == "ask"
    assert chat.parent.span_id == llmtel_spans.one("step ask").context.span_id
    assert llmtel_spans.llm_spans() == [chat]
    assert set(llmtel_spans.names()) == {"POST", "chat gpt-4o-mini", "step ask", "unit-test"}
    assert fake_openai.last_request.headers["traceparent"].split("-")[1] == format(chat.context.trace_id, "032x")


def test_each_test_starts_with_no_spans(llmtel_spans):
    assert llmtel_spans.spans == []


def test_instrumentation_is_undone_after_a_test_that_used_the_fixture():
    assert not OpenAIInstrumentor().is_instrumented_by_opentelemetry


def test_one_lists_what_there_is_when_the_name_is_missing(llmtel_spans):
    with llmtel.step("only"):
        pass
    with pytest.raises(AssertionError, match=r"expected one span named 'missing', found 0 among \\['step only'\\]"):
        llmtel_spans.one("missing")
    llmtel_spans.clear()
    assert llmtel_spans.names() == []
"""

APP_ALREADY_INSTRUMENTED = """
import openai

import llmtel
from llmtel.instrumentation.openai import OpenAIInstrumentor

llmtel.instrument(traces_exporter="none", metrics_exporter="none", logs_exporter="none")


def test_capture_uses_the_apps_own_provider(fake_openai, llmtel_spans):
    client = openai.OpenAI(base_url=fake_openai.base_url, api_key="test", max_retries=0)
    with llmtel.run("app-run") as run:
        client.embeddings.create(model="text-embedding-3-small", input="hello")
    span = llmtel_spans.one("embeddings text-embedding-3-small")
    assert span.attributes["llmtel.run.id"] == run.run_id


def test_the_apps_instrumentation_is_left_in_place():
    assert OpenAIInstrumentor().is_instrumented_by_opentelemetry
"""


def test_plugin_is_registered_through_the_pytest11_entry_point():
    assert "llmtel.testing.pytest_plugin" in {ep.value for ep in entry_points(group="pytest11")}


def test_fixtures_capture_a_users_llm_calls(pytester):
    pytester.makepyfile(test_user_app=USER_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=4)


def test_fixtures_work_when_the_app_already_called_instrument(pytester):
    pytester.makepyfile(test_instrumented_app=APP_ALREADY_INSTRUMENTED)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=2)
