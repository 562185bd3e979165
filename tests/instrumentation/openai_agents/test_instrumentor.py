"""Switching the Agents SDK instrumentation on and off, with the SDK's own tracing off, and when tracing fails."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import agents
import pytest
from agents.mcp.util import MCPUtil
from agents.result import RunResultStreaming
from agents.tool_context import ToolContext
from agents.tracing.scope import Scope
from opentelemetry.trace import StatusCode

from llmtel import pipeline
from llmtel import semconv as sc
from llmtel.instrumentation import KNOWN, Instrumentation, instrument_libraries, uninstrument_libraries
from llmtel.instrumentation.patching import is_patched
from llmtel.testing import ResponsesReply, ToolCall

from .conftest import MODEL, tree
from .test_runs import ANSWERS, lookup, run

HOOKED = ("set_current_trace", "reset_current_trace", "set_current_span", "reset_current_span")


def test_uninstrument_puts_the_sdks_scope_back_and_runs_go_untraced(pipelines, fake, make_agent,
                                                                     agents_instrumented):
    assert all(is_patched(Scope, name) for name in HOOKED) and is_patched(ToolContext, "from_agent_context")
    assert is_patched(MCPUtil, "invoke_mcp_tool") and is_patched(RunResultStreaming, "__post_init__")
    agents_instrumented.uninstrument()
    try:
        assert not any(is_patched(Scope, name) for name in HOOKED)
        assert all(isinstance(Scope.__dict__[name], classmethod) for name in HOOKED)
        assert not is_patched(ToolContext, "from_agent_context")
        assert isinstance(ToolContext.__dict__["from_agent_context"], classmethod)
        assert not is_patched(MCPUtil, "invoke_mcp_tool") and not is_patched(RunResultStreaming, "__post_init__")
        assert isinstance(MCPUtil.__dict__["invoke_mcp_tool"], classmethod)
        fake.enqueue(ANSWERS)
        assert run(make_agent(), "where is order 7?").final_output == "It shipped."
        assert tree(pipelines.spans()) == [(f"chat {MODEL}", None)]  # the model call alone, as without agents
    finally:
        agents_instrumented.instrument()


def test_with_the_sdks_own_tracing_disabled_agents_and_tools_are_still_traced(pipelines, fake, make_agent):
    fake.enqueue(ResponsesReply(function_calls=[ToolCall("call_1", "lookup", '{"order": 8}')]))
    fake.enqueue(ANSWERS)
    agents.set_tracing_disabled(True)
    try:
        run(make_agent(tools=[lookup]), "where is order 8?")
    finally:
        agents.set_tracing_disabled(False)
    # the SDK's stand-in trace has no name: no workflow span, the agent is the root
    assert tree(pipelines.spans()) == [
        ("invoke_agent helpdesk", None), (f"chat {MODEL}", "invoke_agent helpdesk"),
        ("execute_tool lookup", "invoke_agent helpdesk"), (f"chat {MODEL}", "invoke_agent helpdesk"),
    ]
    tool = pipelines.span_named("execute_tool lookup")  # the stand-in span drops its error: llmtel keeps it
    assert (tool.status.status_code, tool.attributes[sc.ERROR_TYPE]) == (StatusCode.ERROR, "AgentsSpanError")


class BrokenTracer:
    """A tracer whose every span start fails: llmtel's own tracing broken, the app's untouched."""

    def start_span(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("tracer broke")


def test_when_tracing_an_agent_fails_it_runs_on_and_it_is_logged_once(pipelines, fake, make_agent, caplog,
                                                                      monkeypatch):
    monkeypatch.setattr(pipeline, "_tracer", BrokenTracer())
    monkeypatch.setattr(pipeline, "_warned", set())
    fake.enqueue(ResponsesReply(function_calls=[ToolCall("call_1", "lookup", '{"order": 7}')]))
    fake.enqueue(ANSWERS)
    with caplog.at_level(logging.WARNING, logger="llmtel.pipeline"):
        result = run(make_agent(tools=[lookup]), "where is order 7?")
    assert result.final_output == "It shipped."
    warnings = [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]
    assert warnings == ["llmtel: could not trace an OpenAI Agents SDK span"]
    assert tree(pipelines.spans()) == [(f"chat {MODEL}", None), (f"chat {MODEL}", None)]  # the model calls still
    assert agents.tracing.get_current_trace() is None and agents.tracing.get_current_span() is None


def test_a_span_reset_from_another_context_ends_ours_and_raises_as_the_sdk_does(pipelines):
    async def main() -> None:
        span = agents.custom_span("elsewhere")
        span.start(mark_as_current=True)
        token = span._prev_span_token

        async def other_task() -> None:
            with pytest.raises(ValueError):
                Scope.reset_current_span(token)

        await asyncio.create_task(other_task())

    asyncio.run(main())
    assert pipelines.span_named("step elsewhere").end_time is not None


def test_instrument_turns_it_on_by_name_only_with_the_sdk_installed():
    [item] = [item for item in KNOWN if item.name == "llmtel_openai_agents"]
    assert item.library_available()  # openai-agents is installed here
    missing = Instrumentation(item.name, "json", item.instrumentor, item.extra, distribution="no-such-distribution")
    assert not missing.library_available()  # an app's own module of that name is not the SDK
    uninstrument_libraries(["llmtel_openai_agents"])
    assert not is_patched(Scope, "set_current_span")
    assert instrument_libraries(disabled=["llmtel_openai", "httpx", "httpx2", "requests"]) == ["llmtel_openai_agents"]
    assert is_patched(Scope, "set_current_span")
