"""``llmtel.agent``: invoke_agent spans through the real SDK, their totals, and their content under each policy."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from typing import Any

import pytest
from opentelemetry import baggage
from opentelemetry import context as otel_context
from opentelemetry.trace import SpanKind, StatusCode

import llmtel
from llmtel import pipeline
from llmtel import semconv as sc
from llmtel.agents import Agent, messages
from llmtel.genai.content import CaptureMode, ContentPolicy, short_sha256, use_policy


def capture(**options: Any) -> None:
    use_policy(ContentPolicy(mode=CaptureMode.SPAN_ONLY, **options))


def test_an_agent_in_a_step_is_an_invoke_agent_span_with_the_conventions_attributes(scope_spans):
    with llmtel.run("support", run_id="r-1", conversation_id="conv-9"), llmtel.step("answer"):
        with llmtel.agent("helpdesk", description="Answers tickets", model="gpt-4o-mini", data_source_id="kb-1"):
            pass
    span = scope_spans.only("invoke_agent helpdesk")
    assert span.kind is SpanKind.INTERNAL
    assert span.parent.span_id == scope_spans.only("step answer").context.span_id
    assert dict(span.attributes) == {
        sc.GEN_AI_OPERATION_NAME: "invoke_agent", sc.GEN_AI_AGENT_NAME: "helpdesk",
        sc.GEN_AI_AGENT_DESCRIPTION: "Answers tickets", sc.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
        sc.GEN_AI_DATA_SOURCE_ID: "kb-1", sc.GEN_AI_CONVERSATION_ID: "conv-9", sc.LLMTEL_RUN_ID: "r-1",
        sc.LLMTEL_STEP: "answer",
    }  # no calls made inside: no totals; content is off by default


def test_an_agent_without_a_name_is_named_by_its_operation_alone(scope_spans):
    with llmtel.agent(conversation_id="c-1"):
        pass
    span = scope_spans.only("invoke_agent")
    assert dict(span.attributes) == {sc.GEN_AI_OPERATION_NAME: "invoke_agent", sc.GEN_AI_CONVERSATION_ID: "c-1"}


def test_spans_inside_nest_under_the_agent_and_its_tool_runs_are_counted_as_the_runs_are(scope_spans):
    with llmtel.run("support"):
        with llmtel.agent("helpdesk"):
            for name in ("search", "lookup"):
                with llmtel.tool(name):
                    pass
        with llmtel.tool("outside"):
            pass
    agent, run = scope_spans.only("invoke_agent helpdesk"), scope_spans.only("support")
    assert scope_spans.only("execute_tool search").parent.span_id == agent.context.span_id
    assert agent.attributes[sc.LLMTEL_AGENT_TOOL_CALLS] == 2
    assert run.attributes[sc.LLMTEL_RUN_TOOL_CALLS] == 3
    assert sc.LLMTEL_AGENT_LLM_CALLS not in agent.attributes and sc.GEN_AI_USAGE_INPUT_TOKENS not in agent.attributes


def test_nested_agents_each_count_what_they_hold(scope_spans):
    with llmtel.agent("orchestrator"):
        with llmtel.tool("plan"):
            pass
        with llmtel.agent("researcher"):
            with llmtel.tool("search"):
                pass
    assert scope_spans.only("invoke_agent orchestrator").attributes[sc.LLMTEL_AGENT_TOOL_CALLS] == 2
    assert scope_spans.only("invoke_agent researcher").attributes[sc.LLMTEL_AGENT_TOOL_CALLS] == 1
    assert (scope_spans.only("invoke_agent researcher").parent.span_id
            == scope_spans.only("invoke_agent orchestrator").context.span_id)


def test_an_agent_outside_a_run_keeps_the_run_values_a_service_receives_in_baggage(scope_spans):
    token = otel_context.attach(baggage.set_baggage(sc.LLMTEL_RUN_ID, "upstream-run"))
    try:
        with llmtel.agent("helpdesk"):
            assert pipeline.log_fields()[sc.LOG_RUN_ID] == "upstream-run"
            with llmtel.tool("search"):
                pass
    finally:
        otel_context.detach(token)
    assert scope_spans.only("execute_tool search").attributes[sc.LLMTEL_RUN_ID] == "upstream-run"
    assert scope_spans.only("invoke_agent helpdesk").attributes[sc.LLMTEL_AGENT_TOOL_CALLS] == 1


def test_the_bare_decorator_names_the_agent_after_the_function_and_each_call_is_an_invocation(scope_spans):
    @llmtel.agent
    def triage(ticket: str) -> str:
        with llmtel.tool("classify"):
            return "billing"

    assert triage("refund please") == "billing"
    assert triage("refund again") == "billing"
    found = [s for s in scope_spans.get_finished_spans() if s.name == "invoke_agent triage"]
    assert [s.attributes[sc.LLMTEL_AGENT_TOOL_CALLS] for s in found] == [1, 1]


def test_async_and_generator_agents_span_their_work(scope_spans):
    @llmtel.agent("writer", model="gpt-4o")
    async def write() -> str:
        with llmtel.tool("draft"):
            await asyncio.sleep(0)
        return "done"

    @llmtel.agent("streamer")
    def stream():
        with llmtel.tool("fetch"):
            yield 1
        yield 2

    assert asyncio.run(write()) == "done"
    assert list(stream()) == [1, 2]
    assert scope_spans.only("invoke_agent writer").attributes[sc.GEN_AI_REQUEST_MODEL] == "gpt-4o"
    assert scope_spans.only("invoke_agent streamer").attributes[sc.LLMTEL_AGENT_TOOL_CALLS] == 1


def test_a_failing_agent_records_its_error_masked_and_no_answer(scope_spans):
    capture()
    with pytest.raises(RuntimeError):
        with llmtel.agent("helpdesk", input="where is my order?") as this:
            this.set_output("it shipped")
            raise RuntimeError("token sk-proj-abcdefghijklmnopqrstuvwxyz012345 rejected")
    span = scope_spans.only("invoke_agent helpdesk")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[sc.ERROR_TYPE] == "RuntimeError"
    assert "sk-proj-abcdefghijklmnopqrstuvwxyz012345" not in span.status.description
    assert sc.GEN_AI_INPUT_MESSAGES in span.attributes  # what it was asked, still
    assert sc.GEN_AI_OUTPUT_MESSAGES not in span.attributes  # no answer from a failed invocation


def test_content_is_recorded_as_the_conventions_messages_when_captured(scope_spans):
    capture()
    with llmtel.agent("helpdesk", instructions="Be brief.", input="where is my order?") as this:
        this.set_output("It shipped on Monday.")
    attributes = scope_spans.only("invoke_agent helpdesk").attributes
    assert json.loads(attributes[sc.GEN_AI_SYSTEM_INSTRUCTIONS]) == [{"type": "text", "content": "Be brief."}]
    assert json.loads(attributes[sc.GEN_AI_INPUT_MESSAGES]) == [
        {"role": "user", "parts": [{"type": "text", "content": "where is my order?"}]}]
    assert json.loads(attributes[sc.GEN_AI_OUTPUT_MESSAGES]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "It shipped on Monday."}],
         "finish_reason": "stop"}]
    assert sc.LLMTEL_CONTENT_TRUNCATED not in attributes


@dataclasses.dataclass
class Message:
    role: str
    content: Any


def test_chat_style_messages_keep_their_roles_and_texts():
    policy = ContentPolicy(mode=CaptureMode.SPAN_ONLY)
    given = [{"role": "system", "content": "Be brief."},
             Message("user", [{"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url": "x"}}])]
    assert messages(given, "user", policy) == [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {"role": "user", "parts": [{"type": "text", "content": "hi"},
                                   {"type": "text", "content": '{"type": "image_url", "image_url": {"url": "x"}}'}]},
    ]
    assert messages({"content": "one"}, "assistant", policy) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "one"}]}]
    assert messages({"answer": 42}, "assistant", policy) == [
        {"role": "assistant", "parts": [{"type": "text", "content": '{"answer": 42}'}]}]


def test_content_is_redacted_and_bounded_by_the_policy(scope_spans):
    capture(max_length=10)
    with llmtel.agent("helpdesk", input="mail ann@example.com about the refund"):
        pass
    attributes = scope_spans.only("invoke_agent helpdesk").attributes
    part = json.loads(attributes[sc.GEN_AI_INPUT_MESSAGES])[0]["parts"][0]
    assert "ann@example.com" not in attributes[sc.GEN_AI_INPUT_MESSAGES]
    assert len(part["content"]) == 10 and part["truncated"]["length"] > 10
    assert attributes[sc.LLMTEL_CONTENT_TRUNCATED] is True


def test_fields_left_out_keep_only_a_length_and_hash(scope_spans):
    capture(fields=frozenset({"output"}))
    with llmtel.agent("helpdesk", input="where is my order?") as this:
        this.set_output("shipped")
    attributes = scope_spans.only("invoke_agent helpdesk").attributes
    assert json.loads(attributes[sc.GEN_AI_INPUT_MESSAGES]) == [{"role": "user", "parts": [
        {"type": "text", "omitted": {"length": len("where is my order?"),
                                     "sha256": short_sha256("where is my order?")}}]}]
    assert json.loads(attributes[sc.GEN_AI_OUTPUT_MESSAGES])[0]["parts"][0]["content"] == "shipped"


@pytest.mark.parametrize("mode", [CaptureMode.NO_CONTENT, CaptureMode.EVENT_ONLY])
def test_no_content_on_the_span_unless_a_span_mode_is_on(scope_spans, mode):
    use_policy(ContentPolicy(mode=mode))
    with llmtel.agent("helpdesk", instructions="Be brief.", input="hi") as this:
        this.set_output("hello")
    attributes = scope_spans.only("invoke_agent helpdesk").attributes
    assert not {sc.GEN_AI_INPUT_MESSAGES, sc.GEN_AI_OUTPUT_MESSAGES, sc.GEN_AI_SYSTEM_INSTRUCTIONS} & set(attributes)


def test_set_input_replaces_what_was_given_for_this_invocation_only(scope_spans):
    capture()
    helpdesk = llmtel.agent("helpdesk", input="first")
    with helpdesk as this:
        this.set_input("second")
    with helpdesk:
        pass
    first, second = (json.loads(s.attributes[sc.GEN_AI_INPUT_MESSAGES])[0]["parts"][0]["content"]
                     for s in scope_spans.get_finished_spans())
    assert (first, second) == ("second", "first")


@pytest.mark.parametrize(("make", "error", "message"), [
    (lambda: Agent(name=3), TypeError, "name must be a string"),  # type: ignore[arg-type]
    (lambda: Agent("a", model=["gpt"]), TypeError, "model must be a string"),  # type: ignore[arg-type]
    (lambda: Agent("  "), ValueError, "name must not be empty"),
    (lambda: Agent("a")(42), TypeError, "decorates a function"),  # type: ignore[arg-type]
])
def test_bad_arguments_get_a_clear_error(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_set_output_needs_the_block(scope_spans):
    with pytest.raises(RuntimeError, match="inside the agent's `with` block"):
        llmtel.agent("helpdesk").set_output("x")


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no text for this")


def test_content_that_cannot_be_read_is_logged_once_and_the_span_keeps_the_rest(scope_spans, caplog, monkeypatch):
    monkeypatch.setattr(pipeline, "_warned", set())  # what earlier tests warned of once stays out of this one
    capture()
    with caplog.at_level(logging.WARNING, logger="llmtel.pipeline"):
        for _ in range(2):
            with llmtel.agent("helpdesk") as this:
                with llmtel.tool("search"):
                    pass
                this.set_output(Unprintable())
    spans = [s for s in scope_spans.get_finished_spans() if s.name == "invoke_agent helpdesk"]
    assert [s.attributes[sc.LLMTEL_AGENT_TOOL_CALLS] for s in spans] == [1, 1]
    assert all(sc.GEN_AI_OUTPUT_MESSAGES not in s.attributes for s in spans)
    assert [r.getMessage() for r in caplog.records].count(
        "llmtel: could not sum up or record the content of an agent's run") == 1
