"""Agents SDK models reached other than through the openai client (LiteLLM, any-llm): their generation spans are
the model calls' GenAI spans. Real runs, with a model that does what the SDK's LiteLLM model does (its call inside
a generation span it fills in itself), sending its request through the real openai client to the fake server, as
LiteLLM does for an OpenAI-compatible provider."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import agents
import pytest
from agents.models.chatcmpl_converter import Converter
from agents.models.chatcmpl_stream_handler import ChatCmplStreamHandler
from agents.models.openai_chatcompletions import OpenAIChatCompletionsModel
from agents.tracing import generation_span
from opentelemetry.trace import SpanKind, StatusCode

from llmtel import semconv as sc
from llmtel.genai.content import CaptureMode, ContentPolicy
from llmtel.genai.record import GenAICall
from llmtel.instrumentation.openai_agents.generations import (
    apply_generation,
    generation_call,
    output_messages,
    provider_and_model,
)
from llmtel.testing import ChatReply, ErrorReply, ResponsesReply, ToolCall, Usage

from .conftest import MODEL, tree

GATEWAY_MODEL = f"openai/{MODEL}"  # as LiteLLM names it: provider/model
CHAT = f"chat {MODEL}"


class GatewayModel(agents.Model):
    """A model as the SDK's LiteLLM and any-llm models are made: a generation span whose model config names the
    implementation, filled in with the messages sent, the answer and the usage, around a request sent here through
    the openai client (the request itself is built by the SDK's own Chat Completions model)."""

    def __init__(self, client: Any, model: str = GATEWAY_MODEL, impl: str = "litellm", **config: Any) -> None:
        self.model = model
        self.config = {"model_impl": impl, **config}
        self.inner = OpenAIChatCompletionsModel(model=model.partition("/")[2] or model, openai_client=client)

    def _span(self, settings: agents.ModelSettings, tracing: Any) -> Any:
        return generation_span(model=self.model, model_config={**settings.to_traceable_dict(), **self.config},
                               disabled=tracing.is_disabled())

    async def get_response(self, system_instructions: Any, input: Any, model_settings: Any, tools: Any,
                           output_schema: Any, handoffs: Any, tracing: Any, **_: Any) -> Any:
        with self._span(model_settings, tracing) as span:
            completion = await self.inner._fetch_response(system_instructions, input, model_settings, tools,
                                                          output_schema, handoffs, span, tracing, stream=False)
            message = completion.choices[0].message
            usage = agents.Usage(requests=1, input_tokens=completion.usage.prompt_tokens,
                                 output_tokens=completion.usage.completion_tokens,
                                 total_tokens=completion.usage.total_tokens)
            if tracing.include_data():
                span.span_data.output = [message.model_dump()]
            span.span_data.usage = {"requests": 1, "input_tokens": usage.input_tokens,
                                    "output_tokens": usage.output_tokens, "total_tokens": usage.total_tokens,
                                    "input_tokens_details": {"cached_tokens": 0},
                                    "output_tokens_details": {"reasoning_tokens": 0}}
            return agents.ModelResponse(output=Converter.message_to_output_items(message), usage=usage,
                                        response_id=None)

    async def stream_response(self, system_instructions: Any, input: Any, model_settings: Any, tools: Any,
                              output_schema: Any, handoffs: Any, tracing: Any, **_: Any) -> AsyncIterator[Any]:
        with self._span(model_settings, tracing) as span:
            response, stream = await self.inner._fetch_response(
                system_instructions, input, model_settings, tools, output_schema, handoffs, span, tracing, stream=True)
            async for event in ChatCmplStreamHandler.handle_stream(response, stream, model=self.model):
                if event.type == "response.completed":
                    if tracing.include_data():
                        span.span_data.output = [event.response.model_dump()]
                    usage = event.response.usage
                    span.span_data.usage = {"requests": 1, "input_tokens": usage.input_tokens,
                                            "output_tokens": usage.output_tokens, "total_tokens": usage.total_tokens}
                yield event


@agents.function_tool
def lookup(order: int) -> str:
    """Look an order up."""
    return f"order {order} shipped"


@pytest.fixture
def gateway_agent(aclient: Any) -> Any:
    def build(name: str = "helpdesk", **options: Any) -> agents.Agent[Any]:
        model = GatewayModel(aclient, **options.pop("model_options", {}))
        return agents.Agent(name=name, instructions="Be brief.", model=model, **options)

    return build


def run(agent: Any, question: str, **options: Any) -> Any:
    return asyncio.run(agents.Runner.run(agent, question, **options))


def test_each_generation_is_one_llm_span_under_its_agent_with_the_request_nested_under_it(
        pipelines, fake, gateway_agent):
    fake.enqueue(ChatReply(tool_calls=[ToolCall("call_1", "lookup", '{"order": 7}')], usage=Usage(100, 10)))
    fake.enqueue(ChatReply("It shipped.", usage=Usage(120, 5)))
    result = run(gateway_agent(tools=[lookup], model_settings=agents.ModelSettings(temperature=0.2, max_tokens=50)),
                 "where is order 7?")
    assert result.final_output == "It shipped."
    assert tree(pipelines.spans()) == [
        ("Agent workflow", None), ("invoke_agent helpdesk", "Agent workflow"), (CHAT, "invoke_agent helpdesk"),
        ("execute_tool lookup", "invoke_agent helpdesk"), (CHAT, "invoke_agent helpdesk"),
    ]  # the request the model sent through the openai client is part of its call: no second LLM span
    first, second = pipelines.llm_spans()
    requests = [span for span in pipelines.spans() if span.name.startswith("POST")]
    assert [request.parent.span_id for request in requests] == [first.context.span_id, second.context.span_id]
    assert first.kind is SpanKind.CLIENT and first.status.status_code is StatusCode.UNSET
    attributes = first.attributes
    assert {key: attributes[key] for key in (sc.GEN_AI_OPERATION_NAME, sc.GEN_AI_PROVIDER_NAME,
                                             sc.GEN_AI_REQUEST_MODEL, sc.GEN_AI_REQUEST_TEMPERATURE,
                                             sc.GEN_AI_REQUEST_MAX_TOKENS, sc.GEN_AI_USAGE_INPUT_TOKENS,
                                             sc.GEN_AI_USAGE_OUTPUT_TOKENS, sc.LLMTEL_USAGE_SOURCE)} == {
        sc.GEN_AI_OPERATION_NAME: "chat", sc.GEN_AI_PROVIDER_NAME: "openai", sc.GEN_AI_REQUEST_MODEL: MODEL,
        sc.GEN_AI_REQUEST_TEMPERATURE: 0.2, sc.GEN_AI_REQUEST_MAX_TOKENS: 50, sc.GEN_AI_USAGE_INPUT_TOKENS: 100,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: 10, sc.LLMTEL_USAGE_SOURCE: "response"}
    assert attributes[sc.LLMTEL_COST_STATUS] == "priced" and attributes[sc.LLMTEL_COST_USD] > 0
    # what the generation data does not hold, the span does not claim
    assert not {sc.GEN_AI_RESPONSE_ID, sc.GEN_AI_RESPONSE_MODEL, sc.GEN_AI_RESPONSE_FINISH_REASONS,
                sc.GEN_AI_INPUT_MESSAGES} & set(attributes)
    agent = pipelines.span_named("invoke_agent helpdesk").attributes
    assert (agent[sc.LLMTEL_AGENT_LLM_CALLS], agent[sc.GEN_AI_USAGE_INPUT_TOKENS]) == (2, 220)
    assert agent[sc.GEN_AI_REQUEST_MODEL] == MODEL
    points = pipelines.metric_points(sc.METRIC_TOKEN_USAGE)
    assert sorted(point.sum for point in points) == [15, 220]  # input and output, two calls each, counted once


def test_with_content_captured_the_span_carries_what_was_sent_and_answered(pipelines, fake, gateway_agent,
                                                                           instrument):
    instrument().uninstrument()
    instrument(capture_content="SPAN_ONLY")
    fake.enqueue(ChatReply("It shipped.", usage=Usage(120, 5)))
    run(gateway_agent(), "where is order 7?")
    [call] = pipelines.llm_spans()
    assert call.attributes[sc.GEN_AI_INPUT_MESSAGES] == (
        '[{"role":"system","parts":[{"type":"text","content":"Be brief."}]},'
        '{"role":"user","parts":[{"type":"text","content":"where is order 7?"}]}]')
    assert call.attributes[sc.GEN_AI_OUTPUT_MESSAGES] == (
        '[{"role":"assistant","parts":[{"type":"text","content":"It shipped."}]}]')
    agent = pipelines.span_named("invoke_agent helpdesk").attributes
    assert agent[sc.GEN_AI_OUTPUT_MESSAGES] == call.attributes[sc.GEN_AI_OUTPUT_MESSAGES]


def test_a_streamed_generation_is_one_llm_span_with_its_usage_and_answer(pipelines, fake, gateway_agent,
                                                                         instrument):
    instrument().uninstrument()
    instrument(capture_content="SPAN_ONLY")
    fake.enqueue(ChatReply("It shipped.", usage=Usage(120, 5)))

    async def consume() -> list[Any]:
        agent = gateway_agent(model_settings=agents.ModelSettings(include_usage=True))
        result = agents.Runner.run_streamed(agent, "where is order 7?")
        return [event async for event in result.stream_events()]

    assert asyncio.run(consume())
    [call] = pipelines.llm_spans()
    assert call.name == CHAT
    assert (call.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS], call.attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS]) == (120, 5)
    assert call.attributes[sc.GEN_AI_OUTPUT_MESSAGES] == (
        '[{"role":"assistant","parts":[{"type":"text","content":"It shipped."}]}]')
    assert [span.parent.span_id for span in pipelines.spans() if span.name.startswith("POST")] == [
        call.context.span_id]


def test_a_failed_generation_fails_its_span_with_the_error_and_the_agent_with_it(pipelines, fake, gateway_agent):
    fake.enqueue(ErrorReply(429, "rate_limit_exceeded", None, "Rate limit reached."))
    with pytest.raises(Exception) as raised:
        run(gateway_agent(model_options={"model": f"groq/{MODEL}"}), "where is order 7?")
    [call] = pipelines.llm_spans()
    assert call.attributes[sc.GEN_AI_PROVIDER_NAME] == "groq"  # the generation's span, not the client's
    assert call.status.status_code is StatusCode.ERROR
    assert call.attributes[sc.ERROR_TYPE] == type(raised.value).__qualname__ == "RateLimitError"
    assert call.attributes[sc.HTTP_RESPONSE_STATUS_CODE] == 429
    assert call.attributes[sc.LLMTEL_ERROR_MODE] == "rate_limited"
    assert sc.LLMTEL_COST_USD not in call.attributes
    assert pipelines.span_named("invoke_agent helpdesk").status.status_code is StatusCode.ERROR


def test_with_the_sdks_tracing_disabled_the_call_is_traced_without_its_content(pipelines, fake, gateway_agent,
                                                                               instrument):
    instrument().uninstrument()
    instrument(capture_content="SPAN_ONLY")
    fake.enqueue(ChatReply("It shipped.", usage=Usage(120, 5)))
    run(gateway_agent(), "where is order 7?", run_config=agents.RunConfig(tracing_disabled=True))
    [call] = pipelines.llm_spans()
    assert call.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] == 120
    assert sc.GEN_AI_INPUT_MESSAGES not in call.attributes  # the SDK keeps no data in a disabled trace


# --- the SDK's any-llm model itself (any-llm's OpenAI-compatible DeepSeek provider, pointed at the fake server) ---

ANY_LLM_MODEL = "deepseek-chat"


@pytest.fixture
def any_llm_agent(fake: Any) -> Any:
    pytest.importorskip("any_llm", reason="the SDK's any-llm model needs any-llm-sdk (llmtel[agents-any-llm])")
    from agents.extensions.models.any_llm_model import AnyLLMModel

    def build(api: str, **options: Any) -> agents.Agent[Any]:
        model = AnyLLMModel(f"deepseek/{ANY_LLM_MODEL}", base_url=fake.base_url, api_key="sk-fake-any-llm", api=api)
        return agents.Agent(name="helpdesk", instructions="Be brief.", model=model, **options)

    return build


def test_an_any_llm_chat_completions_call_is_its_generation_span_named_by_any_llms_provider(
        pipelines, fake, any_llm_agent):
    fake.enqueue(ChatReply("It shipped.", usage=Usage(120, 5)))
    run(any_llm_agent("chat_completions"), "where is order 7?")
    [call] = pipelines.llm_spans()  # its request went through the openai client: part of this call, not a second
    assert call.name == f"chat {ANY_LLM_MODEL}"
    assert call.attributes[sc.GEN_AI_PROVIDER_NAME] == "deepseek"
    assert (call.attributes[sc.SERVER_ADDRESS], call.attributes[sc.SERVER_PORT]) == ("127.0.0.1", fake.port)
    assert (call.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS], call.attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS]) == (120, 5)


@pytest.mark.parametrize("streamed", [False, True], ids=["run", "run_streamed"])
def test_an_any_llm_responses_call_is_its_response_span_with_the_whole_response(
        pipelines, fake, any_llm_agent, instrument, streamed):
    instrument().uninstrument()
    instrument(capture_content="SPAN_ONLY")
    fake.enqueue(ResponsesReply(function_calls=[ToolCall("call_1", "lookup", '{"order": 7}')], usage=Usage(100, 10)))
    fake.enqueue(ResponsesReply("It shipped.", usage=Usage(120, 5, cached=64)))

    async def consume() -> None:
        result = agents.Runner.run_streamed(any_llm_agent("responses", tools=[lookup]), "where is order 7?")
        assert [event async for event in result.stream_events()]

    if streamed:
        asyncio.run(consume())
    else:
        run(any_llm_agent("responses", tools=[lookup]), "where is order 7?")
    assert tree(pipelines.spans()) == [
        ("Agent workflow", None), ("invoke_agent helpdesk", "Agent workflow"),
        (f"chat {ANY_LLM_MODEL}", "invoke_agent helpdesk"), ("execute_tool lookup", "invoke_agent helpdesk"),
        (f"chat {ANY_LLM_MODEL}", "invoke_agent helpdesk"),
    ]
    first, second = pipelines.llm_spans()
    requests = [span for span in pipelines.spans() if span.name.startswith("POST")]
    assert [request.parent.span_id for request in requests] == [first.context.span_id, second.context.span_id]
    attributes = second.attributes
    assert attributes[sc.GEN_AI_PROVIDER_NAME] == "deepseek"  # the client alone would have said openai
    assert attributes[sc.GEN_AI_RESPONSE_ID].startswith("resp_")
    assert attributes[sc.GEN_AI_RESPONSE_MODEL] == ANY_LLM_MODEL
    assert list(first.attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS]) == ["tool_calls"]
    assert list(attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS]) == ["stop"]
    assert (attributes[sc.GEN_AI_USAGE_INPUT_TOKENS], attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS],
            attributes[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS]) == (120, 5, 64)
    assert attributes[sc.LLMTEL_COST_STATUS] == "priced"  # DeepSeek's own prices
    assert '"where is order 7?"' in attributes[sc.GEN_AI_INPUT_MESSAGES]
    assert attributes[sc.GEN_AI_SYSTEM_INSTRUCTIONS] == '[{"type":"text","content":"Be brief."}]'
    assert attributes[sc.GEN_AI_OUTPUT_MESSAGES] == (
        '[{"role":"assistant","parts":[{"type":"text","content":"It shipped."}],"finish_reason":"stop"}]')
    agent = pipelines.span_named("invoke_agent helpdesk").attributes
    assert (agent[sc.LLMTEL_AGENT_LLM_CALLS], agent[sc.GEN_AI_USAGE_INPUT_TOKENS]) == (2, 220)
    assert agent[sc.GEN_AI_SYSTEM_INSTRUCTIONS] == attributes[sc.GEN_AI_SYSTEM_INSTRUCTIONS]  # from its own calls


def test_an_any_llm_responses_call_without_the_sdks_data_keeps_its_usage(pipelines, fake, any_llm_agent):
    fake.enqueue(ResponsesReply("It shipped.", usage=Usage(120, 5)))
    run(any_llm_agent("responses"), "where is order 7?", run_config=agents.RunConfig(trace_include_sensitive_data=False))
    [call] = pipelines.llm_spans()
    assert call.attributes[sc.GEN_AI_PROVIDER_NAME] == "deepseek"
    assert (call.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS], call.attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS]) == (120, 5)
    assert sc.GEN_AI_RESPONSE_ID not in call.attributes  # the SDK keeps the response only with its data


def test_the_sdks_own_chat_completions_model_is_traced_once_by_the_client(pipelines, fake, aclient):
    fake.enqueue(ChatReply("It shipped.", usage=Usage(120, 5)))
    agent = agents.Agent(name="helpdesk", model=OpenAIChatCompletionsModel(model=MODEL, openai_client=aclient))
    run(agent, "where is order 7?")
    [call] = pipelines.llm_spans()
    assert call.attributes[sc.GEN_AI_RESPONSE_ID].startswith("chatcmpl-")  # the client's span, not the generation's


# --- reading the span data (plain stand-ins) -------------------------------------------------------------------


class Data:
    """The generation span data's fields, as the SDK's LiteLLM and any-llm models fill them in."""

    def __init__(self, model: Any = GATEWAY_MODEL, model_config: Any = None, **fields: Any) -> None:
        self.model = model
        self.model_config = {"model_impl": "litellm"} if model_config is None else model_config
        self.input = fields.get("input")
        self.output = fields.get("output")
        self.usage = fields.get("usage")


@pytest.mark.parametrize(("model", "config", "expected"), [
    ("anthropic/claude-sonnet-4-5", {"model_impl": "litellm"}, ("anthropic", "claude-sonnet-4-5")),
    ("gemini/gemini-2.5-pro", {"model_impl": "litellm"}, ("gcp.gemini", "gemini-2.5-pro")),
    ("vertex_ai/gemini-2.5-pro", {"model_impl": "litellm"}, ("gcp.vertex_ai", "gemini-2.5-pro")),
    ("openrouter/openai/gpt-5", {"model_impl": "litellm"}, ("openrouter", "openai/gpt-5")),
    ("xai/grok-4", {"model_impl": "litellm"}, ("x_ai", "grok-4")),
    ("claude-sonnet-4-5", {"model_impl": "litellm"}, ("litellm", "claude-sonnet-4-5")),  # LiteLLM guesses; not us
    ("gpt-5", {"model_impl": "any-llm", "provider": "openai"}, ("openai", "gpt-5")),
    ("mistral/mistral-large", {"model_impl": "any-llm", "provider": "mistral"}, ("mistral_ai", "mistral-large")),
    ("", {"model_impl": "litellm"}, ("litellm", None)),
    (None, {"model_impl": "any-llm"}, ("any-llm", None)),
])
def test_the_provider_and_model_come_from_the_models_name(model, config, expected):
    assert provider_and_model(model, config) == expected


def test_the_requests_settings_and_endpoint_come_from_the_model_config():
    config = {"model_impl": "litellm", "temperature": 0.5, "top_p": 1, "max_tokens": 100, "presence_penalty": 0.1,
              "frequency_penalty": "high", "reasoning": {"effort": "low"}, "base_url": "https://gateway.example/v1"}
    call = generation_call(Data("anthropic/claude-sonnet-4-5", config))
    assert (call.operation, call.provider, call.request_model) == ("chat", "anthropic", "claude-sonnet-4-5")
    assert (call.temperature, call.top_p, call.max_tokens, call.presence_penalty) == (0.5, 1, 100, 0.1)
    assert call.frequency_penalty is None  # not a number: left out
    assert call.reasoning_level == "low"
    assert (call.server_address, call.server_port) == ("gateway.example", 443)
    assert generation_call(Data(model_config={"model_impl": "litellm", "base_url": ""})).server_address is None


def test_usage_the_provider_did_not_report_is_absent_not_zero():
    call = GenAICall("chat", "anthropic")
    apply_generation(call, Data(usage={"requests": 1, "input_tokens": 0, "output_tokens": 0, "total_tokens": 0}),
                     ContentPolicy())
    assert (call.input_tokens, call.output_tokens, call.usage_source) == (None, None, "absent")
    usage = {"requests": 1, "input_tokens": 90, "output_tokens": 30, "input_tokens_details": {"cached_tokens": 40},
             "output_tokens_details": {"reasoning_tokens": 20}}
    apply_generation(call, Data(usage=usage), ContentPolicy())
    assert (call.input_tokens, call.output_tokens, call.cache_read_tokens, call.reasoning_tokens) == (90, 30, 40, 20)
    assert call.input_messages is None  # content capture is off


def test_a_streams_responses_form_result_becomes_one_assistant_message():
    policy = ContentPolicy(mode=CaptureMode.SPAN_ONLY)
    result = {"id": "__fake_id__", "output": [
        {"type": "reasoning", "summary": [{"type": "summary_text", "text": "Look it up."}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Checking."}]},
        {"type": "function_call", "call_id": "call_1", "name": "lookup", "arguments": '{"order": 7}'},
        {"type": "custom_tool_call", "call_id": "call_3", "name": "run_sql", "input": "SELECT 1"},
        {"type": "apply_patch_call", "call_id": "call_4", "id": "apc_1", "status": "completed",
         "operation": {"type": "delete_file", "path": "a.txt"}},
        {"type": "web_search_call", "id": "ws_1", "status": "completed"},  # the server's: no part here
    ]}
    assert output_messages([result], policy) == [{"role": "assistant", "parts": [
        {"type": "reasoning", "content": "Look it up."}, {"type": "text", "content": "Checking."},
        {"type": "tool_call", "id": "call_1", "name": "lookup", "arguments": {"order": 7}},
        {"type": "tool_call", "id": "call_3", "name": "run_sql", "arguments": "SELECT 1"},
        {"type": "tool_call", "id": "call_4", "name": "apply_patch", "arguments": {"type": "delete_file",
                                                                                  "path": "a.txt"}},
    ]}]
    message = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_2", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}]}
    assert output_messages([message], policy) == [{"role": "assistant", "parts": [
        {"type": "tool_call", "id": "call_2", "name": "lookup", "arguments": {}}]}]
    assert output_messages(None, policy) is None and output_messages(["not a message"], policy) is None
