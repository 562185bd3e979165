"""What the SDK's LiteLLM and any-llm models' methods were asked, which their span data does not hold: whether the
call streams (its time to first chunk, on the span and its metric) and the tools it offers the model
(``gen_ai.tool.definitions``). Real runs: the SDK's ``AnyLLMModel`` on both APIs against the fake server, and a
model that does what ``LitellmModel`` does, in the module LiteLLM's model lives in."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import types
from collections.abc import AsyncIterator
from typing import Any

import agents
import pytest

from llmtel import semconv as sc
from llmtel.instrumentation.patching import is_patched
from llmtel.testing import ChatReply, ResponsesReply, ToolCall, Usage

from .test_generations import ANY_LLM_MODEL, GatewayModel, any_llm_agent, lookup  # noqa: F401 - a fixture

LITELLM_MODULE = "agents.extensions.models.litellm_model"


def streamed(agent: Any, question: str = "where is order 7?") -> None:
    async def consume() -> None:
        result = agents.Runner.run_streamed(agent, question)
        assert [event async for event in result.stream_events()]

    asyncio.run(consume())


def reply_for(api: str) -> Any:
    return ResponsesReply if api == "responses" else ChatReply


@pytest.mark.parametrize("api", ["chat_completions", "responses"])
def test_a_streamed_any_llm_call_records_its_time_to_first_chunk(pipelines, fake, any_llm_agent, api):  # noqa: F811
    fake.enqueue(reply_for(api)("It shipped, as it said it would.", usage=Usage(120, 5), chunk_delay=0.01))
    streamed(any_llm_agent(api, model_settings=agents.ModelSettings(include_usage=True)))
    [call] = pipelines.llm_spans()
    attributes = call.attributes
    assert attributes[sc.GEN_AI_REQUEST_STREAM] is True
    first_chunk = attributes[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK]
    assert 0 < first_chunk <= (call.end_time - call.start_time) / 1e9
    assert attributes[sc.LLMTEL_STREAM_CHUNKS] > 1  # the events the model yielded
    assert attributes[sc.LLMTEL_STREAM_END] == "completed"
    [point] = pipelines.metric_points(sc.METRIC_TIME_TO_FIRST_CHUNK)
    assert point.count == 1 and point.sum == pytest.approx(first_chunk)
    assert point.attributes[sc.GEN_AI_PROVIDER_NAME] == "deepseek"


@pytest.mark.parametrize("api", ["chat_completions", "responses"])
def test_a_plain_any_llm_call_is_no_stream(pipelines, fake, any_llm_agent, api):  # noqa: F811
    fake.enqueue(reply_for(api)("It shipped.", usage=Usage(120, 5)))
    asyncio.run(agents.Runner.run(any_llm_agent(api), "where is order 7?"))
    [call] = pipelines.llm_spans()
    assert not {sc.GEN_AI_REQUEST_STREAM, sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK} & set(call.attributes)
    assert pipelines.metric_points(sc.METRIC_TIME_TO_FIRST_CHUNK) == []


@pytest.mark.parametrize("is_streamed", [False, True], ids=["run", "run_streamed"])
@pytest.mark.parametrize("api", ["chat_completions", "responses"])
def test_an_any_llm_calls_tool_definitions_are_its_tools_and_handoffs(pipelines, fake, any_llm_agent,  # noqa: F811
                                                                    captured, api, is_streamed):
    fake.enqueue(reply_for(api)("It shipped.", usage=Usage(120, 5)))
    billing = agents.Agent(name="billing", instructions="Bill.")
    agent = any_llm_agent(api, tools=[lookup], handoffs=[billing])
    if is_streamed:
        streamed(agent)
    else:
        asyncio.run(agents.Runner.run(agent, "where is order 7?"))
    [call] = pipelines.llm_spans()
    definitions = call.attributes[sc.GEN_AI_TOOL_DEFINITIONS]
    assert definitions.startswith(
        '[{"type":"function","name":"lookup","description":"Look an order up.","parameters":{"properties":'
        '{"order":{"title":"Order","type":"integer"}}')
    assert '"name":"transfer_to_billing"' in definitions  # a handoff is offered to the model as a tool
    agent_span = pipelines.span_named("invoke_agent helpdesk")
    assert agent_span.attributes[sc.GEN_AI_TOOL_DEFINITIONS] == definitions  # from its own calls, as for the client's


def test_without_content_capture_no_tool_definitions(pipelines, fake, any_llm_agent):  # noqa: F811
    fake.enqueue(ChatReply("It shipped.", usage=Usage(120, 5)))
    asyncio.run(agents.Runner.run(any_llm_agent("chat_completions", tools=[lookup]), "where is order 7?"))
    [call] = pipelines.llm_spans()
    assert sc.GEN_AI_TOOL_DEFINITIONS not in call.attributes


@pytest.fixture
def litellm_module(monkeypatch: pytest.MonkeyPatch, agents_instrumented: Any) -> type:
    """LiteLLM's model module, imported (a stand-in: LiteLLM is no test dependency), its ``LitellmModel`` a model
    that does what LiteLLM's does; the instrumentation switched on after it was imported."""

    class LitellmModel(GatewayModel):
        pass

    module = types.ModuleType(LITELLM_MODULE)
    module.LitellmModel = LitellmModel  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, LITELLM_MODULE, module)
    agents_instrumented.uninstrument()
    agents_instrumented.instrument()
    return LitellmModel


def test_litellms_model_is_hooked_once_imported_and_unhooked(litellm_module, agents_instrumented):
    assert is_patched(litellm_module, "get_response") and is_patched(litellm_module, "stream_response")
    agents_instrumented.uninstrument()
    try:
        assert "get_response" not in litellm_module.__dict__ and "stream_response" not in litellm_module.__dict__
    finally:
        agents_instrumented.instrument()


def test_a_streamed_litellm_call_has_its_time_to_first_chunk_and_tool_definitions(pipelines, fake, aclient,
                                                                                  litellm_module, captured):
    fake.enqueue(ChatReply(tool_calls=[ToolCall("call_1", "lookup", '{"order": 7}')], usage=Usage(100, 10)))
    fake.enqueue(ChatReply("It shipped.", usage=Usage(120, 5)))
    model = litellm_module(aclient)
    streamed(agents.Agent(name="helpdesk", instructions="Be brief.", model=model, tools=[lookup],
                          model_settings=agents.ModelSettings(include_usage=True)))
    first, second = pipelines.llm_spans()
    for call in (first, second):
        assert call.attributes[sc.GEN_AI_REQUEST_STREAM] is True
        assert call.attributes[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] > 0
        assert '"name":"lookup"' in call.attributes[sc.GEN_AI_TOOL_DEFINITIONS]
    [point] = pipelines.metric_points(sc.METRIC_TIME_TO_FIRST_CHUNK)
    assert point.count == 2


def test_any_llms_model_is_hooked_as_the_app_first_imports_it_not_before() -> None:
    pytest.importorskip("any_llm", reason="the SDK's any-llm model needs any-llm-sdk (llmtel[agents-any-llm])")
    code = """
        import sys
        from llmtel.instrumentation.openai_agents import OpenAIAgentsInstrumentor
        OpenAIAgentsInstrumentor().instrument()
        print("agents.extensions.models.any_llm_model" in sys.modules)
        from agents.extensions.models.any_llm_model import AnyLLMModel
        from llmtel.instrumentation.patching import is_patched
        print(is_patched(AnyLLMModel, "get_response"), is_patched(AnyLLMModel, "stream_response"))
    """
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True", "True"]


# --- the hooks' pieces -----------------------------------------------------------------------------------------


def test_a_model_methods_request_is_read_by_position_or_by_name():
    from llmtel.instrumentation.openai_agents.models import request_of

    tools, handoffs = [object()], [object()]
    by_position = request_of(("instructions", "input", "settings", tools, None, handoffs, "tracing"), {}, True)
    assert by_position == (tuple(tools), tuple(handoffs), True)
    by_name = request_of((), {"tools": tools, "handoffs": None}, False)
    assert by_name == (tuple(tools), (), False)


def test_a_chat_completions_call_defines_only_the_tools_that_api_takes():
    from llmtel.genai.content import CaptureMode, ContentPolicy
    from llmtel.instrumentation.openai_agents.generations import ModelRequest, chat_tool_definitions

    request = ModelRequest((agents.WebSearchTool(), lookup), (), False)
    [definition] = chat_tool_definitions(request, ContentPolicy(mode=CaptureMode.SPAN_ONLY, max_length=10))
    assert (definition["type"], definition["name"]) == ("function", "lookup")
    assert definition["description"] == {"preview": "Look an or", "truncated": {
        "length": 17, "sha256": definition["description"]["truncated"]["sha256"]}}  # bounded as any content


class Entry:
    """Stands in for the call's entry: what the stream's hook tells it."""

    def __init__(self) -> None:
        self.events = 0
        self.closed = False

    def note_event(self) -> None:
        self.events += 1

    def note_closed(self) -> None:
        self.closed = True


def test_a_stream_closed_early_is_noted_closed_and_its_model_stream_closed(monkeypatch):
    from llmtel.instrumentation.openai_agents import generations, models

    entry, seen, finished = Entry(), [], []
    monkeypatch.setattr(models, "_current_call", lambda: entry)
    request = generations.ModelRequest((), (), True)

    async def events() -> AsyncIterator[int]:
        try:
            for number in range(5):
                seen.append(generations._request.get())
                yield number
        finally:
            finished.append(True)

    async def take_two() -> list[int]:
        stream = models.timed_events(events(), request)
        taken = [await stream.__anext__(), await stream.__anext__()]
        await stream.aclose()  # as the run does when it stops reading
        return taken

    assert asyncio.run(take_two()) == [0, 1]
    assert seen == [request, None]  # noted while the first event (the span's start) is awaited, only
    assert (entry.events, entry.closed, finished) == (2, True, [True])
