"""The Agents SDK's own privacy switch (``RunConfig(trace_include_sensitive_data=False)``, or its environment
variable): such a run's agents, tools and model calls (the openai client's, LiteLLM's, any-llm's) carry no content
on llmtel's spans either,
whatever llmtel's content capture says; their metadata stays. Real runs against the fake server."""

from __future__ import annotations

import asyncio
from typing import Any

import agents
import pytest
from agents.run import AgentRunner

from llmtel import semconv as sc
from llmtel.instrumentation.openai_agents import sensitive
from llmtel.instrumentation.patching import is_patched
from llmtel.testing import ChatReply, ResponsesReply, ToolCall, Usage

from .test_generations import ANY_LLM_MODEL, GatewayModel, any_llm_agent, lookup  # noqa: F401 - a fixture

CONTENT = (sc.GEN_AI_INPUT_MESSAGES, sc.GEN_AI_OUTPUT_MESSAGES, sc.GEN_AI_SYSTEM_INSTRUCTIONS,
           sc.GEN_AI_TOOL_DEFINITIONS, sc.GEN_AI_TOOL_CALL_ARGUMENTS, sc.GEN_AI_TOOL_CALL_RESULT)
KEEPS_DATA_OUT = agents.RunConfig(trace_include_sensitive_data=False)


def content_of(span: Any) -> dict[str, Any]:
    return {key: span.attributes[key] for key in CONTENT if key in span.attributes}


def enqueue_tool_round(fake: Any) -> None:
    fake.enqueue(ResponsesReply(function_calls=[ToolCall("call_1", "lookup", '{"order": 7}')], usage=Usage(100, 10)))
    fake.enqueue(ResponsesReply("It shipped.", usage=Usage(120, 5)))


def test_the_runners_entry_points_are_hooked_and_unhooked(agents_instrumented):
    assert is_patched(AgentRunner, "run") and is_patched(AgentRunner, "run_streamed")
    agents_instrumented.uninstrument()
    try:
        assert not is_patched(AgentRunner, "run") and not is_patched(AgentRunner, "run_streamed")
    finally:
        agents_instrumented.instrument()


@pytest.mark.parametrize("way", ["run", "run_streamed", "run_sync"])
def test_a_run_that_keeps_sensitive_data_out_has_no_content_on_its_agents_and_tools(
        pipelines, fake, make_agent, captured, way):
    enqueue_tool_round(fake)
    agent = make_agent(tools=[lookup])
    if way == "run_sync":
        agents.Runner.run_sync(agent, "where is order 7?", run_config=KEEPS_DATA_OUT)
    else:
        async def go() -> None:
            if way == "run":
                await agents.Runner.run(agent, "where is order 7?", run_config=KEEPS_DATA_OUT)
            else:
                result = agents.Runner.run_streamed(agent, "where is order 7?", run_config=KEEPS_DATA_OUT)
                assert [event async for event in result.stream_events()]
                assert not sensitive.withheld()  # the caller's context is left as it was

        asyncio.run(go())
    agent_span = pipelines.span_named("invoke_agent helpdesk")
    assert content_of(agent_span) == {}  # it used to take its model calls' content
    assert agent_span.attributes[sc.GEN_AI_REQUEST_MODEL] == "gpt-4o-mini"  # metadata stays
    assert (agent_span.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS], agent_span.attributes[sc.LLMTEL_AGENT_TOOL_CALLS]) \
        == (220, 1)
    tool = pipelines.span_named("execute_tool lookup")
    assert content_of(tool) == {}
    assert (tool.attributes[sc.GEN_AI_TOOL_NAME], tool.attributes[sc.GEN_AI_TOOL_CALL_ID]) == ("lookup", "call_1")
    model_calls = [span for span in pipelines.llm_spans() if span.name == "chat gpt-4o-mini"]
    assert len(model_calls) == 2  # the openai client's calls the SDK's OpenAI model made
    assert [content_of(span) for span in model_calls] == [{}, {}]
    assert [span.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] for span in model_calls] == [100, 120]


def test_the_openai_clients_calls_in_a_run_that_includes_data_keep_their_content(
        pipelines, fake, make_agent, captured):
    enqueue_tool_round(fake)
    asyncio.run(agents.Runner.run(make_agent(tools=[lookup]), "where is order 7?"))
    model_calls = [span for span in pipelines.llm_spans() if span.name == "chat gpt-4o-mini"]
    assert len(model_calls) == 2
    assert all(sc.GEN_AI_INPUT_MESSAGES in span.attributes for span in model_calls)


@pytest.mark.parametrize(("value", "kept_out"), [("false", True), ("0", True), ("off", True), (" TRUE ", False),
                                                 ("yes", False)])
def test_the_sdks_environment_default_is_honoured_when_the_run_config_does_not_say(
        pipelines, fake, make_agent, captured, monkeypatch, value, kept_out):
    monkeypatch.setenv(sensitive.ENV_VAR, value)
    fake.enqueue(ResponsesReply("It shipped.", usage=Usage(120, 5)))
    asyncio.run(agents.Runner.run(make_agent(), "where is order 7?"))
    agent_span = pipelines.span_named("invoke_agent helpdesk")
    assert (sc.GEN_AI_INPUT_MESSAGES not in agent_span.attributes) is kept_out


def test_a_run_config_given_as_a_dict_is_read_as_the_sdk_reads_it(pipelines, fake, make_agent, captured):
    fake.enqueue(ResponsesReply("It shipped.", usage=Usage(120, 5)))
    asyncio.run(agents.Runner.run(make_agent(), "where is order 7?",
                                  run_config={"trace_include_sensitive_data": False}))
    assert content_of(pipelines.span_named("invoke_agent helpdesk")) == {}


def test_concurrent_runs_each_keep_their_own_setting(pipelines, fake, make_agent, captured):
    fake.enqueue(ResponsesReply("It shipped.", usage=Usage(120, 5)))
    fake.enqueue(ResponsesReply("It shipped.", usage=Usage(120, 5)))

    async def both() -> None:
        await asyncio.gather(agents.Runner.run(make_agent("private"), "where is order 7?", run_config=KEEPS_DATA_OUT),
                             agents.Runner.run(make_agent("open"), "where is order 8?"))
        assert not sensitive.withheld()

    asyncio.run(both())
    assert content_of(pipelines.span_named("invoke_agent private")) == {}
    assert '"where is order 8?"' in pipelines.span_named("invoke_agent open").attributes[sc.GEN_AI_INPUT_MESSAGES]


def test_a_run_inside_one_that_keeps_data_out_keeps_it_out_too(pipelines, fake, make_agent, captured):
    inner = make_agent("inner")
    outer = make_agent("outer", tools=[inner.as_tool("ask_inner", "Ask the inner agent.")])
    fake.enqueue(ResponsesReply(function_calls=[ToolCall("call_1", "ask_inner", '{"input": "secret"}')],
                                usage=Usage(100, 10)))
    fake.enqueue(ResponsesReply("Inner answer.", usage=Usage(50, 5)))
    fake.enqueue(ResponsesReply("Done.", usage=Usage(120, 5)))

    async def go() -> None:
        await agents.Runner.run(outer, "ask it", run_config=KEEPS_DATA_OUT)

    asyncio.run(go())
    assert content_of(pipelines.span_named("invoke_agent inner")) == {}
    assert content_of(pipelines.span_named("execute_tool ask_inner")) == {}


@pytest.mark.parametrize("keeps_out", [True, False])
def test_the_mark_reaches_where_the_runs_tools_and_model_requests_run(pipelines, fake, captured, keeps_out):
    """What the openai client's instrumentation would read to keep a request's content out: the run's context."""
    import httpx
    import openai
    from agents.models.openai_responses import OpenAIResponsesModel

    seen: list[tuple[str, bool]] = []

    async def on_request(request: Any) -> None:
        seen.append(("request", sensitive.withheld()))

    @agents.function_tool
    def probe() -> str:
        """Probe."""
        seen.append(("tool", sensitive.withheld()))
        return "ok"

    fake.enqueue(ResponsesReply(function_calls=[ToolCall("call_1", "probe", "{}")], usage=Usage(100, 10)))
    fake.enqueue(ResponsesReply("Done.", usage=Usage(120, 5)))

    async def go() -> None:
        async with httpx.AsyncClient(event_hooks={"request": [on_request]}) as http:
            client = openai.AsyncOpenAI(base_url=fake.base_url, api_key="sk-test", http_client=http, max_retries=0)
            agent = agents.Agent(name="helpdesk", model=OpenAIResponsesModel(model="gpt-4o-mini",
                                                                             openai_client=client), tools=[probe])
            await agents.Runner.run(agent, "go", run_config=agents.RunConfig(trace_include_sensitive_data=not keeps_out))

    asyncio.run(go())
    assert seen == [("request", keeps_out), ("tool", keeps_out), ("request", keeps_out)]


class CarelessGateway(GatewayModel):
    """A LiteLLM-style model that fills its span data with the messages and answer whatever the run says."""

    async def get_response(self, system_instructions: Any, input: Any, model_settings: Any, tools: Any,
                           output_schema: Any, handoffs: Any, tracing: Any, **options: Any) -> Any:
        response = await super().get_response(system_instructions, input, model_settings, tools, output_schema,
                                              handoffs, agents.ModelTracing.ENABLED, **options)
        return response


def test_a_model_calls_span_keeps_no_content_even_when_the_model_put_it_in_its_span_data(
        pipelines, fake, aclient, captured):
    fake.enqueue(ChatReply("It shipped.", usage=Usage(120, 5)))
    agent = agents.Agent(name="helpdesk", instructions="Be brief.", model=CarelessGateway(aclient))
    asyncio.run(agents.Runner.run(agent, "where is order 7?", run_config=KEEPS_DATA_OUT))
    [call] = pipelines.llm_spans()
    assert content_of(call) == {}
    assert (call.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS], call.attributes[sc.GEN_AI_PROVIDER_NAME]) == (120, "openai")
    assert call.attributes[sc.LLMTEL_COST_STATUS] == "priced"


@pytest.mark.parametrize("api", ["responses", "chat_completions"])
def test_an_any_llm_call_in_such_a_run_keeps_its_instructions_and_tools_out(pipelines, fake, any_llm_agent,  # noqa: F811
                                                                           captured, api):
    reply = ResponsesReply if api == "responses" else ChatReply
    fake.enqueue(reply("It shipped.", usage=Usage(120, 5)))
    asyncio.run(agents.Runner.run(any_llm_agent(api, tools=[lookup]), "where is order 7?",
                                  run_config=KEEPS_DATA_OUT))
    [call] = pipelines.llm_spans()
    assert content_of(call) == {}  # the Responses call's instructions were read off the model's method
    assert call.name == f"chat {ANY_LLM_MODEL}"
    assert (call.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS], call.attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS]) == (120, 5)


# --- reading the setting ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("run_config", "expected"), [
    (agents.RunConfig(trace_include_sensitive_data=False), False),
    (agents.RunConfig(trace_include_sensitive_data=True), True),
    ({"trace_include_sensitive_data": False}, False),
    ({"trace_include_sensitive_data": 0}, False),  # the SDK tests it as a truth
    ({"workflow_name": "w"}, True),  # not said: the SDK's default
    (None, True),
])
def test_a_runs_setting_is_its_configs_else_the_sdks_default(monkeypatch, run_config, expected):
    monkeypatch.delenv(sensitive.ENV_VAR, raising=False)
    assert sensitive.includes_sensitive_data(run_config) is expected


@pytest.mark.parametrize(("value", "expected"), [("1", True), ("on", True), (" Yes", True), ("false", False),
                                                 ("", False), ("nope", False)])
def test_the_default_is_the_sdks_reading_of_its_environment_variable(monkeypatch, value, expected):
    monkeypatch.setenv(sensitive.ENV_VAR, value)
    assert sensitive.includes_sensitive_data(None) is expected
    assert sensitive.includes_sensitive_data(agents.RunConfig()) is expected  # the SDK's own default agrees


def test_a_withheld_policy_captures_nothing_and_keeps_its_redactor():
    from llmtel.genai.content import CaptureMode, ContentPolicy

    policy = ContentPolicy(mode=CaptureMode.SPAN_AND_EVENT, collect=True, max_length=10)
    withheld = sensitive.withheld_policy(policy)
    assert (withheld.capture, withheld.on_span, withheld.on_event) == (False, False, False)
    assert (withheld.redactor, withheld.max_length) == (policy.redactor, 10)
