"""Chat Completions through the real client: exact span attributes, nesting, propagation, metrics, cost."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from llmtel import semconv as sc
from llmtel.testing import ChatReply, ErrorReply, RawReply, ResponsesReply, ToolCall, Usage
from tests.instrumentation.openai.conftest import API_KEY, HTTP_SCOPE

openai = pytest.importorskip("openai")

MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "what is otel?"}]


def expected_chat_attributes(fake, **extra):
    attrs = {
        sc.GEN_AI_OPERATION_NAME: "chat",
        sc.GEN_AI_PROVIDER_NAME: "openai",
        sc.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
        sc.SERVER_ADDRESS: "127.0.0.1",
        sc.SERVER_PORT: fake.port,
        sc.OPENAI_API_TYPE: "chat_completions",
        sc.GEN_AI_RESPONSE_ID: "chatcmpl-fake000001",
        sc.GEN_AI_RESPONSE_MODEL: "gpt-4o-mini-2024-07-18",
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
        sc.OPENAI_RESPONSE_SERVICE_TIER: "default",
        sc.OPENAI_RESPONSE_SYSTEM_FINGERPRINT: "fp_fake0001",
        sc.GEN_AI_USAGE_INPUT_TOKENS: 1000,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: 200,
        sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 600,
        sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: 50,
        sc.LLMTEL_USAGE_SOURCE: "response",
        sc.LLMTEL_COST_STATUS: "priced",
    }
    attrs.update(extra)
    return attrs


def priced_reply(**kwargs):
    return ChatReply(model="gpt-4o-mini-2024-07-18", usage=Usage(prompt=1000, completion=200, cached=600,
                                                                   reasoning=50), **kwargs)


def without_cost_values(attrs):
    return {k: v for k, v in attrs.items() if k not in (sc.LLMTEL_COST_USD, sc.LLMTEL_COST_PRICES)}


def test_chat_span_has_exactly_the_expected_attributes(instrument, telemetry, client, fake):
    instrument()
    fake.enqueue(priced_reply())
    # openai 1.26 predates max_completion_tokens; there it travels in extra_body, which the SDK sends too
    limit = ({"max_completion_tokens": 300} if "max_completion_tokens" in inspect.signature(
        client.chat.completions.create).parameters else {"extra_body": {"max_completion_tokens": 300}})
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, temperature=0.2, top_p=0.5,
                                           seed=3, stop=["END"], n=1, frequency_penalty=0.1,
                                           presence_penalty=0.2, **limit)
    assert isinstance(reply, openai.types.chat.ChatCompletion)
    span = telemetry.one_llm_span()
    assert span.name == "chat gpt-4o-mini"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    attrs = dict(span.attributes)
    assert without_cost_values(attrs) == expected_chat_attributes(
        fake,
        **{
            sc.GEN_AI_REQUEST_TEMPERATURE: 0.2,
            sc.GEN_AI_REQUEST_TOP_P: 0.5,
            sc.GEN_AI_REQUEST_MAX_TOKENS: 300,
            sc.GEN_AI_REQUEST_SEED: 3,
            sc.GEN_AI_REQUEST_STOP_SEQUENCES: ("END",),
            sc.GEN_AI_REQUEST_FREQUENCY_PENALTY: 0.1,
            sc.GEN_AI_REQUEST_PRESENCE_PENALTY: 0.2,
        },
    )
    # gpt-4o-mini: $0.15/M input, $0.075/M cached input, $0.60/M output (reasoning billed as output)
    assert attrs[sc.LLMTEL_COST_USD] == pytest.approx((400 * 0.15 + 600 * 0.075 + 200 * 0.60) / 1e6)
    assert attrs[sc.LLMTEL_COST_PRICES].startswith("genai-prices ")


def test_async_chat_is_traced_the_same_way(instrument, telemetry, aclient, fake):
    instrument()
    fake.enqueue(priced_reply())
    asyncio.run(aclient.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES))
    span = telemetry.one_llm_span()
    assert without_cost_values(dict(span.attributes)) == expected_chat_attributes(fake)


def test_http_span_nests_under_the_llm_span_and_traceparent_reaches_the_server(instrument, telemetry, client, fake):
    instrument()
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    llm = telemetry.one_llm_span()
    http = [s for s in telemetry.spans() if s.instrumentation_scope.name == HTTP_SCOPE]
    assert len(http) == 1
    assert http[0].parent.span_id == llm.context.span_id
    assert http[0].context.trace_id == llm.context.trace_id
    version, trace_id, parent_id, flags = fake.last_request.headers["traceparent"].split("-")
    assert (version, trace_id, parent_id) == ("00", f"{llm.context.trace_id:032x}", f"{http[0].context.span_id:016x}")
    assert int(flags, 16) & 1  # sampled


def test_the_default_runtime_context_is_used_directly():
    from opentelemetry import context as otel_context

    from llmtel.instrumentation.openai.wrappers import current_context_variable

    assert current_context_variable() is otel_context._RUNTIME_CONTEXT._current_context


def test_a_runtime_context_of_ones_own_is_used_through_the_api(instrument, telemetry, client, fake, monkeypatch):
    """Another runtime context (``OTEL_PYTHON_CONTEXT``) is set, reset and read through OpenTelemetry's API:
    the HTTP span still nests under the LLM span, and the context is restored after the call."""
    from opentelemetry import context as otel_context
    from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext

    class Counting(ContextVarsRuntimeContext):
        attached = detached = 0

        def attach(self, context):
            Counting.attached += 1
            return super().attach(context)

        def detach(self, token):
            Counting.detached += 1
            super().detach(token)

    monkeypatch.setattr(otel_context, "_RUNTIME_CONTEXT", Counting())
    before = otel_context.get_current()
    instrument()
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    llm = telemetry.one_llm_span()
    http = [s for s in telemetry.spans() if s.instrumentation_scope.name == HTTP_SCOPE]
    assert [s.parent.span_id for s in http] == [llm.context.span_id]
    assert Counting.attached >= 2 and Counting.attached == Counting.detached  # llmtel's and the HTTP span's
    assert otel_context.get_current() is before


def test_instrumenting_twice_gives_one_span(instrument, telemetry, client):
    instrumentor = instrument()
    instrumentor.instrument()  # already instrumented: a no-op
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert len(telemetry.llm_spans()) == 1


def _second_route(telemetry: object, fake: object) -> object:
    """A client whose own class's ``request`` runs a second llmtel hook around the instrumented SDK's."""
    from llmtel.genai.emit import GenAITelemetry
    from llmtel.instrumentation.openai.wrappers import OpenAIHooks

    hooks = OpenAIHooks(GenAITelemetry(tracer_provider=telemetry.tracer_provider,
                                       meter_provider=telemetry.meter_provider))

    class Rerouted(openai.OpenAI):
        def request(self, *args, **kwargs):
            return hooks.sync_request(openai.OpenAI.request, self, args, kwargs)

    return Rerouted(base_url=fake.base_url, api_key=API_KEY, max_retries=0)


@pytest.mark.parametrize("span_key", ["learned", "through the api"])
def test_a_request_made_inside_a_traced_request_passes_through(instrument, telemetry, fake, monkeypatch, span_key):
    """Two routes to the same request (a hook on the client's class over the instrumented SDK's): the outer one
    traces it, the inner one sees the call's mark in the current context and passes it through. The same when
    the request's context is built through the API (an API that keeps more than the span under its key)."""
    from opentelemetry import context as otel_context

    from llmtel.instrumentation.openai import wrappers

    if span_key == "through the api":
        monkeypatch.setattr(wrappers, "_SPAN_KEY", None)
    instrument()
    before = otel_context.get_current()
    _second_route(telemetry, fake).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    llm = telemetry.one_llm_span()
    http = [s for s in telemetry.spans() if s.instrumentation_scope.name == HTTP_SCOPE]
    assert [s.parent.span_id for s in http] == [llm.context.span_id]
    assert otel_context.get_current() is before
    assert otel_context.get_value(wrappers.IN_CALL) is None  # the mark is gone with the request's context


def test_the_span_key_is_the_apis(telemetry):
    """The key llmtel builds a request's context with is where the API looks for the current span."""
    from opentelemetry import trace
    from opentelemetry.context import Context

    from llmtel.instrumentation.openai.wrappers import _SPAN_KEY

    span = telemetry.tracer_provider.get_tracer("t").start_span("s")
    assert _SPAN_KEY is not None
    assert trace.get_current_span(Context({_SPAN_KEY: span})) is span
    assert trace.set_span_in_context(span, Context()) == {_SPAN_KEY: span}


def test_uninstrument_stops_tracing(instrument, telemetry, client):
    instrument().uninstrument()
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert telemetry.llm_spans() == []


def test_uninstrument_puts_the_sdk_methods_back(instrument):
    from openai._base_client import AsyncAPIClient, SyncAPIClient

    originals = (SyncAPIClient.__dict__["request"], AsyncAPIClient.__dict__["request"])
    closes = (openai.Stream.__dict__["close"], openai.AsyncStream.__dict__["close"])
    try:
        from openai.lib.streaming.chat._completions import ChatCompletionStreamState as state
    except ImportError:  # an SDK without the chat ``.stream()`` helper
        state = None
    handle_chunk = state.__dict__["handle_chunk"] if state is not None else None
    instrumentor = instrument()
    if state is not None:  # the chat helper's refusals fail its stream's span
        assert state.handle_chunk.__wrapped__ is handle_chunk
    assert (SyncAPIClient.request.__wrapped__, AsyncAPIClient.request.__wrapped__) == originals
    assert inspect.iscoroutinefunction(AsyncAPIClient.request)
    assert (openai.Stream.close.__wrapped__, openai.AsyncStream.close.__wrapped__) == closes  # they end stream spans
    assert inspect.iscoroutinefunction(openai.AsyncStream.close)
    instrumentor.uninstrument()
    assert (SyncAPIClient.__dict__["request"], AsyncAPIClient.__dict__["request"]) == originals
    assert (openai.Stream.__dict__["close"], openai.AsyncStream.__dict__["close"]) == closes
    if state is not None:
        assert state.__dict__["handle_chunk"] is handle_chunk


def test_azure_provider_and_response_model(instrument, telemetry, fake):
    instrument()
    azure = openai.AzureOpenAI(azure_endpoint=fake.root_url, api_key=API_KEY, api_version="2024-10-21",
                               max_retries=0)
    azure.chat.completions.create(model="my-deployment", messages=MESSAGES)
    span = telemetry.one_llm_span()
    attrs = dict(span.attributes)
    assert attrs[sc.GEN_AI_PROVIDER_NAME] == "azure.ai.openai"
    assert attrs[sc.GEN_AI_REQUEST_MODEL] == "my-deployment"
    assert attrs[sc.GEN_AI_RESPONSE_MODEL] == "gpt-4o-2024-08-06"
    assert not [k for k in attrs if k.startswith("openai.")]  # openai.* only with provider openai
    assert attrs[sc.LLMTEL_COST_STATUS] == "priced"  # priced from the response model, not the deployment


def _module_level_azure_client(fake, monkeypatch):
    """The client behind ``openai.chat.completions`` when ``openai.api_type = "azure"``: an SDK class that is
    an ``AzureOpenAI`` without being called so."""
    for name, value in (("api_type", "azure"), ("api_key", API_KEY), ("azure_endpoint", fake.root_url),
                        ("api_version", "2024-10-21"), ("max_retries", 0), ("_client", None)):
        monkeypatch.setattr(openai, name, value)
    return openai


class _AppAzureClient(openai.AzureOpenAI):
    """An app's own subclass of the Azure client."""


@pytest.mark.parametrize("make", [
    _module_level_azure_client,
    lambda fake, _: _AppAzureClient(azure_endpoint=fake.root_url, api_key=API_KEY, api_version="2024-10-21",
                                    max_retries=0),
], ids=["module-level", "subclass"])
def test_azure_provider_for_every_kind_of_azure_client(instrument, telemetry, fake, monkeypatch, make):
    instrument()
    make(fake, monkeypatch).chat.completions.create(model="my-deployment", messages=MESSAGES)
    attrs = dict(telemetry.one_llm_span().attributes)
    assert attrs[sc.GEN_AI_PROVIDER_NAME] == "azure.ai.openai"
    assert not [k for k in attrs if k.startswith("openai.")]


def _routed_to(fake):
    """An HTTP client that sends every request to ``fake`` whatever host its URL names (the host still names
    the service: the SDK and llmtel read it from the client's base URL)."""
    import importlib
    from urllib.parse import urlsplit

    httpx = importlib.import_module(openai.DefaultHttpxClient.__mro__[1].__module__.split(".")[0])
    port = urlsplit(fake.base_url).port

    class ToFake(httpx.HTTPTransport):
        def handle_request(self, request):
            request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=port)
            return super().handle_request(request)

    return openai.DefaultHttpxClient(transport=ToFake())


@pytest.mark.parametrize("base_url", [
    "https://my-resource.openai.azure.com/openai/v1/",
    "https://my-resource.cognitiveservices.azure.com/openai/v1/",
    "https://my-project.services.ai.azure.com/openai/v1/",
])
def test_azure_openai_v1_api_through_the_plain_client(instrument, telemetry, fake, base_url):
    """Azure OpenAI's v1 API is used with the plain ``OpenAI`` client: its host says it is Azure's."""
    instrument()
    client = openai.OpenAI(base_url=base_url, api_key=API_KEY, max_retries=0, http_client=_routed_to(fake))
    client.chat.completions.create(model="my-deployment", messages=MESSAGES)
    attrs = dict(telemetry.one_llm_span().attributes)
    assert attrs[sc.GEN_AI_PROVIDER_NAME] == "azure.ai.openai"
    assert attrs[sc.SERVER_ADDRESS] == base_url.split("/")[2] and attrs[sc.SERVER_PORT] == 443
    assert attrs[sc.LLMTEL_COST_STATUS] == "priced"  # priced from the response model, not the deployment


def test_other_hosts_on_azure_are_not_azure_openai(instrument, telemetry, fake):
    """An Azure AI Foundry host outside its ``/openai`` path is not Azure OpenAI: the client's provider stands."""
    instrument()
    client = openai.OpenAI(base_url="https://my-project.services.ai.azure.com/v1/", api_key=API_KEY,
                           max_retries=0, http_client=_routed_to(fake))
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert telemetry.one_llm_span().attributes[sc.GEN_AI_PROVIDER_NAME] == "openai"


def _vertex(fake):
    return openai.OpenAI(provider=openai.providers.vertex(base_url=fake.base_url, token_provider=lambda: "ya29.t"),
                         max_retries=0)


def _bedrock(fake):
    return openai.OpenAI(provider=openai.providers.bedrock(region="us-east-1", base_url=fake.base_url, api_key="b-key"),
                         max_retries=0)


def _bedrock_client(fake):
    return openai.BedrockOpenAI(aws_region="us-east-1", base_url=fake.base_url, api_key="b-key", max_retries=0)


@pytest.mark.parametrize(("make", "needs", "provider"), [
    (_vertex, "providers.vertex", "gcp.vertex_ai"),
    (_bedrock, "providers.bedrock", "aws.bedrock"),
    (_bedrock_client, "BedrockOpenAI", "aws.bedrock"),
], ids=["vertex", "bedrock", "BedrockOpenAI"])
def test_provider_runtimes_name_their_cloud(instrument, telemetry, fake, make, needs, provider):
    """``OpenAI(provider=openai.providers.bedrock(...))`` sends the same requests to another cloud: the span
    names that cloud (and the price is looked up in its list). Newer SDKs only, each runtime since its own
    release."""
    owner = openai
    for name in needs.split("."):
        owner = getattr(owner, name, None)
    if owner is None:
        pytest.skip(f"openai {openai.__version__} has no {needs}")
    instrument()
    make(fake).chat.completions.create(model="openai.gpt-oss-120b-1:0", messages=MESSAGES)
    attrs = dict(telemetry.one_llm_span().attributes)
    assert attrs[sc.GEN_AI_PROVIDER_NAME] == provider
    assert attrs[sc.GEN_AI_REQUEST_MODEL] == "openai.gpt-oss-120b-1:0"
    assert not [k for k in attrs if k.startswith("openai.")]


def test_content_is_not_captured_by_default(instrument, telemetry, client):
    instrument()
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    attrs = dict(telemetry.one_llm_span().attributes)
    assert not [k for k in attrs if k in (sc.GEN_AI_INPUT_MESSAGES, sc.GEN_AI_OUTPUT_MESSAGES,
                                          sc.GEN_AI_TOOL_DEFINITIONS, sc.GEN_AI_SYSTEM_INSTRUCTIONS)]
    assert telemetry.events() == []


def test_captured_content_with_tools_is_redacted_and_bounded(instrument, telemetry, client, fake):
    instrument(capture_content=True, content_max_length=40)
    fake.enqueue(ChatReply(tool_calls=[ToolCall("call_1", "lookup", '{"email": "ann@example.com"}')],
                           finish_reason="tool_calls"))
    long_question = "my key is sk-abcdefghijklmnopqrstuvwxyz0123 and " + "x" * 100
    client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": long_question}],
        tools=[{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}],
    )
    attrs = dict(telemetry.one_llm_span().attributes)
    inputs = json.loads(attrs[sc.GEN_AI_INPUT_MESSAGES])
    part = inputs[0]["parts"][0]
    assert part["content"] == "my key is [REDACTED:api_key] and xxxxxxx"  # redacted, then cut to 40 chars
    assert part["truncated"]["length"] == len("my key is [REDACTED:api_key] and ") + 100
    assert len(part["truncated"]["sha256"]) == 16
    assert attrs[sc.LLMTEL_CONTENT_TRUNCATED] is True
    outputs = json.loads(attrs[sc.GEN_AI_OUTPUT_MESSAGES])
    assert outputs == [{"role": "assistant", "parts": [
        {"type": "tool_call", "id": "call_1", "name": "lookup", "arguments": {"email": "[REDACTED:email]"}}],
        "finish_reason": "tool_calls"}]
    assert json.loads(attrs[sc.GEN_AI_TOOL_DEFINITIONS]) == [
        {"type": "function", "name": "lookup", "parameters": {"type": "object"}}]
    assert attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_calls",)
    assert API_KEY not in json.dumps(attrs)


def test_tool_definitions_are_cleaned_as_captured_text_is(instrument, telemetry, client, fake):
    """A tool's description and its schema's defaults and examples are app-written text like any prompt."""
    instrument(capture_content=True)
    fake.enqueue(ChatReply("ok"))
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, tools=[{"type": "function", "function": {
        "name": "pay", "description": "pays; default key sk-proj-abcdefghijklmnop1234, help: alice@example.com",
        "parameters": {"type": "object", "properties": {
            "password": {"type": "string", "description": "the account's"},
            "card": {"type": "string", "default": "4111111111111111"}}}}}])
    definitions = json.loads(telemetry.one_llm_span().attributes[sc.GEN_AI_TOOL_DEFINITIONS])
    assert definitions == [{"type": "function", "name": "pay",
                            "description": "pays; default key [REDACTED:api_key], help: [REDACTED:email]",
                            "parameters": {"type": "object", "properties": {
                                "password": {"type": "string", "description": "the account's"},  # a field's name
                                "card": {"type": "string", "default": "[REDACTED:card_number]"}}}}]


def test_a_redactor_of_the_apps_own_runs_after_the_secrets_are_masked(instrument, telemetry, client):
    seen = []

    def mask_names(text):
        seen.append(text)
        return text.replace("Alice", "[name]")

    instrument(capture_content=True, redactor=mask_names)
    question = "I am Alice, key sk-abcdefghijklmnopqrstuvwxyz0123, mail alice@example.org"
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": question}])
    inputs = json.loads(dict(telemetry.one_llm_span().attributes)[sc.GEN_AI_INPUT_MESSAGES])
    # The app's rules replace ours for personal data (the address stays); the key never reaches its hook.
    assert inputs[0]["parts"][0]["content"] == "I am [name], key [REDACTED:api_key], mail alice@example.org"
    assert seen and not [text for text in seen if "sk-" in text]


def _length_and_hash(value):
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
    return {"length": len(text), "sha256": hashlib.sha256(text.encode()).hexdigest()[:16]}


def test_content_fields_left_out_keep_their_place_length_and_hash(instrument, telemetry, client, fake):
    instrument(capture_content="SPAN_AND_EVENT", content_fields="output,tool_calls")
    fake.enqueue(ChatReply("It is sunny in Paris."))
    tool = {"type": "function", "function": {"name": "weather", "description": "the weather in a city",
                                             "parameters": {"type": "object"}}}
    client.chat.completions.create(model="gpt-4o-mini", tools=[tool], messages=[
        {"role": "system", "content": "You are the weather desk."},
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "tool_calls": [{"id": "call_1", "type": "function",
                                             "function": {"name": "weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 21 C"},
    ])
    attrs = dict(telemetry.one_llm_span().attributes)
    assert json.loads(attrs[sc.GEN_AI_INPUT_MESSAGES]) == [
        {"role": "system", "parts": [{"type": "text", "omitted": _length_and_hash("You are the weather desk.")}]},
        {"role": "user", "parts": [{"type": "text", "omitted": _length_and_hash("Weather in Paris?")}]},
        {"role": "assistant", "parts": [  # tool calls are recorded
            {"type": "tool_call", "id": "call_1", "name": "weather", "arguments": {"city": "Paris"}}]},
        {"role": "tool", "parts": [
            {"type": "tool_call_response", "id": "call_1", "omitted": _length_and_hash("sunny, 21 C")}]},
    ]
    assert json.loads(attrs[sc.GEN_AI_OUTPUT_MESSAGES]) == [{"role": "assistant", "parts": [
        {"type": "text", "content": "It is sunny in Paris."}], "finish_reason": "stop"}]
    definition = {"type": "function", "name": "weather", "description": "the weather in a city",
                  "parameters": {"type": "object"}}
    assert json.loads(attrs[sc.GEN_AI_TOOL_DEFINITIONS]) == [
        {"type": "function", "name": "weather", "omitted": _length_and_hash(definition)}]
    (event,) = telemetry.events()  # the inference-details event leaves out the same
    assert event.attributes[sc.GEN_AI_INPUT_MESSAGES][1]["parts"][0]["omitted"] == _length_and_hash("Weather in Paris?")
    assert "You are the weather desk." not in json.dumps(attrs) + str(event.attributes)


def test_event_only_mode_emits_the_details_event_and_keeps_the_span_clean(instrument, telemetry, client):
    instrument(capture_content="EVENT_ONLY")
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    span = telemetry.one_llm_span()
    assert sc.GEN_AI_INPUT_MESSAGES not in span.attributes
    (event,) = telemetry.events()
    assert event.event_name == sc.EVENT_INFERENCE_DETAILS
    assert event.span_id == span.context.span_id
    messages = event.attributes[sc.GEN_AI_INPUT_MESSAGES]
    assert messages[1]["parts"][0]["content"] == "what is otel?"


@pytest.mark.parametrize(
    ("reply", "exception", "error_type", "status"),
    [
        (ErrorReply.rate_limited(), "RateLimitError", "RateLimitError", 429),
        (ErrorReply.invalid_api_key(), "AuthenticationError", "AuthenticationError", 401),
        (ErrorReply.context_length_exceeded(), "BadRequestError", "BadRequestError", 400),
        (ErrorReply.model_not_found(), "NotFoundError", "NotFoundError", 404),
        (ErrorReply.server_error(), "InternalServerError", "InternalServerError", 500),
    ],
)
def test_api_errors_end_the_span_with_error_status(instrument, telemetry, client, fake, reply, exception, error_type,
                                                   status):
    instrument()
    fake.enqueue(reply)
    with pytest.raises(getattr(openai, exception)):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    span = telemetry.one_llm_span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[sc.ERROR_TYPE] == error_type
    assert sc.LLMTEL_COST_STATUS not in span.attributes  # a failed call is not priced
    assert [e.name for e in span.events] == ["exception"]
    assert span.attributes[sc.HTTP_RESPONSE_STATUS_CODE] == status
    (point,) = telemetry.metric_points(sc.METRIC_OPERATION_DURATION)
    assert point.attributes[sc.ERROR_TYPE] == error_type


def test_connection_error_is_recorded(instrument, telemetry):
    instrument()
    dead = openai.OpenAI(base_url="http://127.0.0.1:9/v1", api_key=API_KEY, max_retries=0)
    with pytest.raises(openai.APIConnectionError):
        dead.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert telemetry.one_llm_span().attributes[sc.ERROR_TYPE] == "APIConnectionError"


def test_retries_are_inside_one_span(instrument, telemetry, fake):
    instrument()
    fake.enqueue(ErrorReply.rate_limited(retry_after=0))
    retrying = openai.OpenAI(base_url=fake.base_url, api_key=API_KEY, max_retries=1)
    retrying.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert len(fake.requests) == 2
    span = telemetry.one_llm_span()
    assert span.status.status_code is StatusCode.UNSET
    http = [s for s in telemetry.spans() if s.instrumentation_scope.name == HTTP_SCOPE]
    assert len(http) == 2 and all(s.parent.span_id == span.context.span_id for s in http)


def test_metrics_use_the_convention_buckets_and_low_cardinality_attributes(instrument, telemetry, client, fake):
    instrument()
    fake.enqueue(priced_reply())
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    (duration,) = telemetry.metric_points(sc.METRIC_OPERATION_DURATION)
    assert tuple(duration.explicit_bounds) == sc.DURATION_BUCKETS
    assert duration.count == 1
    expected = {sc.GEN_AI_OPERATION_NAME: "chat", sc.GEN_AI_PROVIDER_NAME: "openai",
                sc.GEN_AI_REQUEST_MODEL: "gpt-4o-mini", sc.GEN_AI_RESPONSE_MODEL: "gpt-4o-mini-2024-07-18",
                sc.SERVER_ADDRESS: "127.0.0.1", sc.SERVER_PORT: fake.port}
    assert dict(duration.attributes) == expected
    tokens = {p.attributes[sc.GEN_AI_TOKEN_TYPE]: p for p in telemetry.metric_points(sc.METRIC_TOKEN_USAGE)}
    assert (tokens["input"].sum, tokens["output"].sum) == (1000, 200)
    assert tuple(tokens["input"].explicit_bounds) == sc.TOKEN_BUCKETS
    (cost,) = telemetry.metric_points(sc.METRIC_COST)
    assert cost.value == pytest.approx(telemetry.one_llm_span().attributes[sc.LLMTEL_COST_USD])
    # the exemplar links the metric point to the LLM span
    assert duration.exemplars[0].span_id == telemetry.one_llm_span().context.span_id


def test_unknown_model_gets_a_marker_not_a_zero_cost(instrument, telemetry, client, fake):
    instrument()
    fake.enqueue(ChatReply(model="my-private-finetune-v7"))
    client.chat.completions.create(model="my-private-finetune-v7", messages=MESSAGES)
    attrs = telemetry.one_llm_span().attributes
    assert attrs[sc.LLMTEL_COST_STATUS] == "unknown_model"
    assert sc.LLMTEL_COST_USD not in attrs
    assert telemetry.metric_points(sc.METRIC_COST) == []


def test_price_overrides_apply(instrument, telemetry, client, fake):
    instrument(prices={"my-private-finetune-v7": {"input": 1.0, "output": 2.0}})
    fake.enqueue(ChatReply(model="my-private-finetune-v7", usage=Usage(prompt=1_000_000, completion=500_000)))
    client.chat.completions.create(model="my-private-finetune-v7", messages=MESSAGES)
    attrs = telemetry.one_llm_span().attributes
    assert (attrs[sc.LLMTEL_COST_USD], attrs[sc.LLMTEL_COST_PRICES]) == (2.0, "override")


@pytest.mark.parametrize(("model", "search_priced"), [
    ("gpt-4o-search-preview", False), ("gpt-5-search-api", False),
    ("gpt-4o-mini-search-preview-2025-03-11", True),  # the data matches it to gpt-4o-mini, which prices searches
])
@pytest.mark.parametrize("streamed", [False, True])
def test_a_search_models_reply_counts_its_search(instrument, telemetry, client, fake, model, search_priced, streamed):
    """OpenAI's Chat Completions search models search the web on every request, billed per search: one search
    is counted and priced as the price data has it; where it has no price, the cost is the tokens' alone,
    marked partial (a lower bound)."""
    instrument()
    fake.enqueue(ChatReply("Sunny.", model=model, usage=Usage(prompt=1_000, completion=100)))
    request = {"model": model, "messages": MESSAGES, "web_search_options": {"search_context_size": "low"}}
    if streamed:
        list(client.chat.completions.create(**request, stream=True, stream_options={"include_usage": True}))
    else:
        client.chat.completions.create(**request)
    attrs = telemetry.one_llm_span().attributes
    assert attrs[sc.tool_calls_attribute("web_search")] == 1
    searches = {"web_searches": 1} if search_priced else {}
    expected = _oracle_usd(model.removesuffix("-2025-03-11"), input_tokens=1_000, output_tokens=100, **searches)
    assert (attrs[sc.LLMTEL_COST_STATUS], attrs[sc.LLMTEL_COST_USD]) == (
        "priced" if search_priced else "partially_priced", pytest.approx(expected))
    if search_priced:  # the search is in the cost: more than the tokens
        assert expected > _oracle_usd(model, input_tokens=1_000, output_tokens=100)


def test_a_search_models_search_is_priced_by_an_override_and_other_models_count_none(instrument, telemetry, client,
                                                                                      fake):
    instrument(prices={"gpt-4o-search-preview": {"input": 2.5, "output": 10, "web_search": 25}})
    for model in ("gpt-4o-search-preview", "gpt-4o-mini"):
        fake.enqueue(ChatReply("Sunny.", model=model, usage=Usage(prompt=1_000, completion=100)))
        client.chat.completions.create(model=model, messages=MESSAGES)
    searched, plain = (span.attributes for span in telemetry.llm_spans())
    assert (searched[sc.LLMTEL_COST_STATUS], searched[sc.LLMTEL_COST_USD]) == (
        "priced", pytest.approx((1_000 * 2.5 + 100 * 10) / 1e6 + 25 / 1_000))
    assert sc.tool_calls_attribute("web_search") not in plain and plain[sc.LLMTEL_COST_STATUS] == "priced"


def _responses_call(client, tier):
    return client.responses.create(model="gpt-5", input="hi", **({"service_tier": tier} if tier else {}))


def _chat_call(client, tier):
    return client.chat.completions.create(model="gpt-5", messages=MESSAGES,
                                          **({"service_tier": tier} if tier else {}))


def _streamed_chat_call(client, tier):
    stream = client.chat.completions.create(model="gpt-5", messages=MESSAGES, stream=True,
                                            stream_options={"include_usage": True},
                                            **({"service_tier": tier} if tier else {}))
    return list(stream)


def _oracle_usd(model, service_tier=None, **usage):
    """genai-prices' own total for the call (cached tokens counted as text, as llmtel prices them)."""
    genai_prices = pytest.importorskip("genai_prices")
    context = {"service_tier": service_tier} if service_tier else None
    calc = genai_prices.calc_price(genai_prices.Usage(**usage, cache_audio_read_tokens=0), model, provider_id="openai",
                                   price_context=context)
    return float(calc.total_price)


@pytest.mark.parametrize("api", ["chat", "stream", "responses"])
def test_cache_writes_are_recorded_and_priced(instrument, telemetry, client, fake, api):
    """Models that charge for writing the prompt cache report the tokens written; they cost more than input."""
    instrument()
    usage = Usage(prompt=100_000, completion=2_000, cached=30_000, cache_write=50_000, reasoning=500)
    reply = ResponsesReply if api == "responses" else ChatReply
    fake.enqueue(reply("ok", model="gpt-6-sol", usage=usage))
    {"chat": _chat_call, "stream": _streamed_chat_call, "responses": _responses_call}[api](client, None)
    attrs = telemetry.one_llm_span().attributes
    assert (attrs[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS], attrs[sc.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS]) == (
        30_000, 50_000)
    expected = _oracle_usd("gpt-6-sol", input_tokens=100_000, cache_read_tokens=30_000, cache_write_tokens=50_000,
                           output_tokens=2_000, output_reasoning_tokens=500)
    at_input_price = _oracle_usd("gpt-6-sol", input_tokens=100_000, cache_read_tokens=30_000, output_tokens=2_000)
    assert expected > at_input_price  # the write rate is above the input rate: missing the writes under-prices
    assert attrs[sc.LLMTEL_COST_USD] == pytest.approx(expected)


@pytest.mark.parametrize("api", ["chat", "stream"])
def test_audio_and_image_tokens_are_recorded_and_priced(instrument, telemetry, client, fake, api):
    """An audio model's audio tokens cost many times its text tokens; image tokens are reported apart."""
    instrument()
    usage = Usage(prompt=5_000, completion=3_000, input_audio=4_000, output_audio=2_500, input_image=600)
    fake.enqueue(ChatReply("ok", model="gpt-audio", usage=usage))
    {"chat": _chat_call, "stream": _streamed_chat_call}[api](client, None)
    attrs = telemetry.one_llm_span().attributes
    assert (attrs[sc.GEN_AI_USAGE_AUDIO_INPUT_TOKENS], attrs[sc.GEN_AI_USAGE_AUDIO_OUTPUT_TOKENS],
            attrs[sc.GEN_AI_USAGE_IMAGE_INPUT_TOKENS]) == (4_000, 2_500, 600)
    expected = _oracle_usd("gpt-audio", input_tokens=5_000, output_tokens=3_000, input_audio_tokens=4_000,
                           output_audio_tokens=2_500, input_image_tokens=600)
    assert expected > 5 * _oracle_usd("gpt-audio", input_tokens=5_000, output_tokens=3_000)
    assert attrs[sc.LLMTEL_COST_USD] == pytest.approx(expected)
    (cost,) = telemetry.metric_points(sc.METRIC_COST)
    assert cost.value == pytest.approx(expected)


def test_text_calls_carry_no_modality_attributes(instrument, telemetry, client, fake):
    """The API reports zero audio tokens on every text call: a modality with no tokens is not recorded."""
    instrument()
    fake.enqueue(ChatReply("ok", usage=Usage(prompt=10, completion=5)))
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    attrs = telemetry.one_llm_span().attributes
    assert {sc.GEN_AI_USAGE_AUDIO_INPUT_TOKENS, sc.GEN_AI_USAGE_AUDIO_OUTPUT_TOKENS,
            sc.GEN_AI_USAGE_IMAGE_INPUT_TOKENS, sc.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS}.isdisjoint(attrs)
    assert attrs[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 0


@pytest.mark.parametrize("api", ["chat", "stream", "responses"])
@pytest.mark.parametrize(("replied", "requested", "priced_as"), [
    ("priority", None, "priority"),
    ("flex", "flex", "flex"),
    (None, "flex", "flex"),  # the reply does not say: the tier asked for
    ("default", "priority", "default"),  # the reply says what served it
])
def test_cost_follows_the_service_tier_that_served_the_call(
    instrument, telemetry, client, fake, api, replied, requested, priced_as
):
    instrument()
    usage = Usage(prompt=1_000_000, completion=1_000_000)
    if api == "responses":
        fake.enqueue(ResponsesReply("ok", model="gpt-5", usage=usage, service_tier=replied))
    else:
        fake.enqueue(ChatReply("ok", model="gpt-5", usage=usage, service_tier=replied))
    {"chat": _chat_call, "stream": _streamed_chat_call, "responses": _responses_call}[api](client, requested)

    def price(tier):
        return _oracle_usd("gpt-5", tier, input_tokens=1_000_000, output_tokens=1_000_000)

    assert price("flex") < price("default") < price("priority")  # the tiers differ in the price data
    attrs = telemetry.one_llm_span().attributes
    assert attrs[sc.LLMTEL_COST_USD] == pytest.approx(price(priced_as))
    (cost,) = telemetry.metric_points(sc.METRIC_COST)
    assert cost.value == pytest.approx(price(priced_as))


@pytest.mark.parametrize(
    ("body", "check"),
    [
        ({"id": "x", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini", "choices": []},
         lambda a: sc.GEN_AI_USAGE_INPUT_TOKENS not in a and a[sc.LLMTEL_COST_STATUS] == "no_usage"
         and a[sc.LLMTEL_USAGE_SOURCE] == "absent"),
        ({"id": "x", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
          "choices": [{"index": 0, "finish_reason": "brand_new_reason", "message": {"role": "assistant",
                                                                                    "content": None}}]},
         lambda a: a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("brand_new_reason",)),
        ({"id": "x", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
          "choices": [{"index": 0, "finish_reason": None, "message": {"role": "assistant", "content": "hi"}}],
          "usage": {"prompt_tokens": 3}},
         lambda a: a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("error",) and a[sc.GEN_AI_USAGE_INPUT_TOKENS] == 3),
    ],
)
def test_malformed_responses_give_a_span_with_what_is_known(instrument, telemetry, client, fake, body, check):
    instrument(capture_content=True)
    fake.enqueue(RawReply.json(body))
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert reply.id == "x"  # the caller gets exactly what the SDK made of it
    attrs = dict(telemetry.one_llm_span().attributes)
    assert check(attrs), attrs


def test_non_json_error_body_is_still_an_error_span(instrument, telemetry, client, fake):
    instrument()
    fake.enqueue(RawReply(status=502, body=b"<html>bad gateway</html>", content_type="text/html"))
    with pytest.raises(openai.APIStatusError):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert telemetry.one_llm_span().attributes[sc.ERROR_TYPE] == "InternalServerError"


def test_structured_output_parse_is_traced(instrument, telemetry, client):
    pydantic = pytest.importorskip("pydantic")
    parse = getattr(client.chat.completions, "parse", None)  # stable since late 1.x; under `beta` before
    if parse is None:
        parse = getattr(getattr(getattr(client, "beta", None), "chat", None), "completions", None)
        parse = getattr(parse, "parse", None)
    if parse is None:
        pytest.skip("this openai release has no chat.completions.parse")

    class Answer(pydantic.BaseModel):
        city: str
        population: int

    instrument()
    reply = parse(model="gpt-4o-mini", messages=MESSAGES, response_format=Answer)
    assert isinstance(reply.choices[0].message.parsed, Answer)
    attrs = telemetry.one_llm_span().attributes
    assert attrs[sc.GEN_AI_OUTPUT_TYPE] == "json"
    assert attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] > 0


@pytest.mark.parametrize(("finish", "error_class"), [("length", "LengthFinishReasonError"),
                                                      ("content_filter", "ContentFilterFinishReasonError")])
def test_parse_refusing_a_billed_reply_keeps_its_usage_and_cost(instrument, telemetry, client, fake, finish,
                                                                error_class):
    """``parse`` raises when the reply was cut by the token limit or filtered; the tokens were billed all
    the same, and the reply the error carries says how many (openai 1.x's content-filter error carries none)."""
    pydantic = pytest.importorskip("pydantic")
    parse = getattr(client.chat.completions, "parse", None)
    if parse is None:
        pytest.skip("this openai release has no chat.completions.parse")

    class Answer(pydantic.BaseModel):
        city: str

    instrument()
    fake.enqueue(ChatReply('{"city": "Par', model="gpt-4o-mini-2024-07-18", finish_reason=finish,
                           usage=Usage(prompt=1_000_000, completion=1_000_000)))
    with pytest.raises(getattr(openai, error_class)) as raised:
        parse(model="gpt-4o-mini", messages=MESSAGES, response_format=Answer)
    span = telemetry.one_llm_span()
    attrs = span.attributes
    assert (span.status.status_code, attrs[sc.ERROR_TYPE]) == (StatusCode.ERROR, error_class)
    if getattr(raised.value, "completion", None) is None:
        assert sc.GEN_AI_USAGE_INPUT_TOKENS not in attrs and sc.LLMTEL_COST_STATUS not in attrs
        return
    assert attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] == (finish,)
    assert attrs[sc.GEN_AI_RESPONSE_MODEL] == "gpt-4o-mini-2024-07-18"
    assert attrs[sc.GEN_AI_RESPONSE_ID] == raised.value.completion.id
    assert (attrs[sc.GEN_AI_USAGE_INPUT_TOKENS], attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS]) == (1_000_000, 1_000_000)
    assert attrs[sc.LLMTEL_COST_USD] == pytest.approx(0.15 + 0.60)  # gpt-4o-mini: $0.15/M in, $0.60/M out
    (cost,) = telemetry.metric_points(sc.METRIC_COST)
    assert cost.value == pytest.approx(0.75)
    # The token usage has no ``error.type`` in v1.41.0 (the duration has, and the cost is llmtel's own).
    tokens = telemetry.metric_points(sc.METRIC_TOKEN_USAGE)
    assert len(tokens) == 2 and all(sc.ERROR_TYPE not in point.attributes for point in tokens)
    (duration,) = telemetry.metric_points(sc.METRIC_OPERATION_DURATION)
    assert duration.attributes[sc.ERROR_TYPE] == error_class
