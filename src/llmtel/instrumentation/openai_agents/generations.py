"""The Agents SDK's model calls that do not go through the openai client (its LiteLLM and any-llm models): each
becomes a GenAI span, made with the OpenAI instrumentation's telemetry (its content policy, prices and metrics)
from the SDK's own span for the call.

- A LiteLLM or any-llm model's Chat Completions call is a generation span whose model config names the model's
  implementation: its data holds the model as named to LiteLLM or any-llm (``provider/model``), the request's
  settings, the endpoint, the usage, and, when the SDK includes data in its traces, the messages sent and the
  answer. It has no finish reason, response id or response model, so neither has the span.
- An any-llm model's Responses API call (any-llm's default where the provider has that API) is a response span,
  which names no model: it is recognised by the model's method that started it (``AnyLLMModel`` is on the
  stack), whose model, provider, endpoint and settings the span takes. Its data holds the usage and, when the SDK
  includes data, the whole response (id, model, status, output) and the input.

What the span data does not hold, the model's method was asked (``models`` hooks ``get_response`` and
``stream_response`` of the SDK's LiteLLM and any-llm models and notes the request here, ``ModelRequest``): whether
the call streams, and the tools and handoffs it offers the model (``gen_ai.tool.definitions``, converted as the
model converts them). A streamed call's first event is its first chunk (time to first chunk, on the span and its
metric), the events it yields its chunks (``llmtel.stream.chunks``).

Inside a run that keeps sensitive data out of its traces (``sensitive``), a call records no content whatever the
content policy: no messages, no system instructions, no tool definitions.

The SDK's own OpenAI models make such spans too, but their calls go through the openai client, whose
instrumentation traces them: those add nothing here. A request that a LiteLLM or any-llm model sends through the
openai client (to an OpenAI-compatible provider) runs inside the span made here, marked as part of a call
(``wrappers.IN_CALL``), so it is not traced a second time; its HTTP span nests under this one.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar, Token
from typing import Any, Final, NamedTuple
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span

from llmtel import semconv as sc
from llmtel.genai.content import ContentPolicy, json_ready
from llmtel.genai.emit import GenAITelemetry
from llmtel.genai.record import GenAICall
from llmtel.instrumentation.openai import OpenAIInstrumentor
from llmtel.instrumentation.openai.extract import (
    apply_error,
    apply_responses_object,
    chat_input_messages,
    client_tool_call_part,
    request_number,
    responses_input_messages,
    responses_usage,
    tool_arguments,
    tool_definitions,
)
from llmtel.instrumentation.openai.wrappers import IN_CALL
from llmtel.instrumentation.openai_agents import sensitive
from llmtel.pipeline import _Entry, warn_once

# ``model_config["model_impl"]`` of the SDK's models whose generation spans are the calls' only record.
FOREIGN_MODELS: Final = frozenset({"litellm", "any-llm"})

# The provider part of a LiteLLM or any-llm model name (``anthropic/claude-sonnet-4-5``) as ``gen_ai.provider.name``;
# a provider not listed keeps its own name (``openrouter``, ``ollama``).
PROVIDERS: Final[Mapping[str, str]] = {
    "openai": sc.PROVIDER_OPENAI,
    "azure": sc.PROVIDER_AZURE_OPENAI,
    "azure_ai": sc.PROVIDER_AZURE_AI_INFERENCE,
    "anthropic": sc.PROVIDER_ANTHROPIC,
    "bedrock": sc.PROVIDER_AWS_BEDROCK,
    "gemini": sc.PROVIDER_GCP_GEMINI,
    "vertex_ai": sc.PROVIDER_GCP_VERTEX_AI,
    "vertexai": sc.PROVIDER_GCP_VERTEX_AI,
    "mistral": sc.PROVIDER_MISTRAL_AI,
    "groq": sc.PROVIDER_GROQ,
    "deepseek": sc.PROVIDER_DEEPSEEK,
    "cohere": sc.PROVIDER_COHERE,
    "cohere_chat": sc.PROVIDER_COHERE,
    "perplexity": sc.PROVIDER_PERPLEXITY,
    "xai": sc.PROVIDER_X_AI,
    "watsonx": sc.PROVIDER_IBM_WATSONX_AI,
    "moonshot": sc.PROVIDER_MOONSHOT_AI,
}


def provider_and_model(model: Any, config: Mapping[str, Any]) -> tuple[str, str | None]:
    """The provider's name as the conventions have it and the model asked of it, from the model's name: LiteLLM's
    ``provider/model``, or any-llm's, whose provider the span data also names (``openai`` for a bare model name).
    A LiteLLM model named without its provider (LiteLLM guesses it) is ``litellm``'s."""
    name = model if isinstance(model, str) else ""
    prefix, slash, rest = name.partition("/")
    named = config.get("provider")
    if config.get("model_impl") == "any-llm" and isinstance(named, str) and named:
        return PROVIDERS.get(named, named), (rest if slash else name) or None
    if slash and prefix and rest:
        return PROVIDERS.get(prefix, prefix), rest
    return str(config.get("model_impl") or "litellm"), name or None


def generation_call(data: Any) -> GenAICall:
    """The record of the call a generation span stands for, as far as it is known when the span starts."""
    config = data.model_config if isinstance(data.model_config, Mapping) else {}
    return configured_call(data.model, config)


def configured_call(model: Any, config: Mapping[str, Any], api_type: str | None = None) -> GenAICall:
    """A chat call's record from the model's name and its config (the SDK's traceable model settings, the
    implementation, any-llm's provider, the endpoint)."""
    provider, request_model = provider_and_model(model, config)
    call = GenAICall(sc.OP_CHAT, provider, request_model=request_model, api_type=api_type)
    call.server_address, call.server_port = _server(config.get("base_url"))
    call.temperature = request_number(config.get("temperature"))
    call.top_p = request_number(config.get("top_p"))
    call.frequency_penalty = request_number(config.get("frequency_penalty"))
    call.presence_penalty = request_number(config.get("presence_penalty"))
    max_tokens = config.get("max_tokens")
    call.max_tokens = max_tokens if type(max_tokens) is int else None
    reasoning = config.get("reasoning")
    effort = reasoning.get("effort") if isinstance(reasoning, Mapping) else None
    call.reasoning_level = effort if isinstance(effort, str) and effort else None
    return call


def apply_generation(call: GenAICall, data: Any, policy: ContentPolicy) -> None:
    """What the generation span's data says once the call has ended: its usage, and (captured) its content."""
    _span_usage(call, data.usage)
    if policy.capture:
        call.input_messages = chat_input_messages(data.input, policy)  # the Chat Completions messages sent
        call.output_messages = output_messages(data.output, policy)


def apply_response(call: GenAICall, data: Any, policy: ContentPolicy) -> None:
    """What a response span's data says once the call has ended: the whole response when the SDK kept it (ids,
    model, finish reason, usage and, captured, the output), else only the usage; and (captured) the input."""
    response = data.response
    if response is not None:
        apply_responses_object(call, response, policy)
    else:
        _span_usage(call, data.usage)
    if policy.capture:
        call.input_messages = responses_input_messages(data.input, policy)


def _span_usage(call: GenAICall, usage: Any) -> None:
    """The usage the SDK wrote on its span. It writes zero counts when the provider reported none: no real call
    reads no tokens at all, so those are absent."""
    if isinstance(usage, Mapping) and (usage.get("input_tokens") or usage.get("output_tokens")):
        responses_usage(call, usage, "response")
    else:
        call.usage_source = "absent"


def output_messages(output: Any, policy: ContentPolicy) -> list[dict[str, Any]] | None:
    """A generation's output as ``gen_ai.output.messages``: the assistant's Chat Completions message of a plain
    call, or the Responses-form result the SDK makes of a stream. No finish reason: the SDK does not keep it."""
    if not isinstance(output, (list, tuple)):
        return None
    messages: list[dict[str, Any]] = []
    for entry in output:
        if not isinstance(entry, Mapping):
            continue
        items = entry.get("output")
        if isinstance(items, (list, tuple)):
            messages.append({"role": "assistant", "parts": _response_parts(items, policy)})
        else:
            messages.extend(chat_input_messages([entry], policy) or ())
    return messages or None


def _response_parts(items: Any, policy: ContentPolicy) -> list[dict[str, Any]]:
    """The parts of a Responses-form output, as dumped to plain data: text, refusals, tool calls (of functions and
    of the tools the app runs), reasoning."""
    parts: list[dict[str, Any]] = []
    for item in items:
        if not isinstance(item, Mapping):
            continue
        kind = item.get("type")
        if kind == "message":
            for piece in item.get("content") or ():
                if isinstance(piece, Mapping) and isinstance(piece.get("text"), str):
                    parts.append(policy.text_part(piece["text"]))
                elif isinstance(piece, Mapping) and isinstance(piece.get("refusal"), str):
                    parts.append(policy.text_part(piece["refusal"], "refusal"))
        elif kind == "function_call":
            parts.append({"type": "tool_call", "id": item.get("call_id"), "name": item.get("name"),
                          "arguments": policy.value(tool_arguments(item.get("arguments")))})
        elif kind == "reasoning":
            for summary in item.get("summary") or ():
                if isinstance(summary, Mapping) and isinstance(summary.get("text"), str):
                    parts.append(policy.text_part(summary["text"], "reasoning"))
        else:  # a custom tool's call, computer use, a shell, a patch
            part = client_tool_call_part(item, policy)
            if part is not None:
                parts.append(part)
    return parts


class ModelRequest(NamedTuple):
    """What a LiteLLM or any-llm model's method was asked, beyond what its span data holds."""

    tools: Sequence[Any]  # the SDK's tools offered to the model
    handoffs: Sequence[Any]  # the handoffs, offered to it as tools
    streamed: bool  # ``stream_response`` rather than ``get_response``


# The request of the model call whose method is running in this Context (set by ``models``' hooks around it).
_request: ContextVar[ModelRequest | None] = ContextVar("llmtel_openai_agents_model_request", default=None)


def note_request(request: ModelRequest) -> Token[ModelRequest | None]:
    """``request`` as the one the span that starts next in this Context stands for; the token to forget it."""
    return _request.set(request)


def forget_request(token: Token[ModelRequest | None]) -> None:
    """The request noted with ``token`` forgotten, as the model's method returns (or its stream's first event)."""
    _request.reset(token)


def chat_tool_definitions(request: ModelRequest, policy: ContentPolicy) -> list[dict[str, Any]] | None:
    """The tools and handoffs of a Chat Completions call as ``gen_ai.tool.definitions``, converted by the SDK's
    converter as the LiteLLM and any-llm models convert them (a tool that API cannot take is left out, as it
    fails the call)."""
    from agents.models.chatcmpl_converter import Converter

    converted = []
    for convert, items in ((Converter.tool_to_openai, request.tools), (Converter.convert_handoff_tool,
                                                                         request.handoffs)):
        for item in items:
            try:
                converted.append(convert(item))
            except Exception:  # noqa: BLE001, S112 - a hosted tool: not sent, not defined
                continue
    return bounded_definitions(converted, policy)


def responses_tool_definitions(request: ModelRequest, policy: ContentPolicy) -> list[dict[str, Any]] | None:
    """The tools and handoffs of a Responses API call as ``gen_ai.tool.definitions``, converted by the SDK's
    Responses converter as the any-llm model converts them (none when it refuses them: the call fails too)."""
    from agents.models.openai_responses import Converter

    try:
        converted = Converter.convert_tools(list(request.tools), list(request.handoffs)).tools
    except Exception:  # noqa: BLE001 - a set of tools the API refuses: the call fails with it
        return None
    return bounded_definitions(json_ready(list(converted)), policy)


def bounded_definitions(tools: Any, policy: ContentPolicy) -> list[dict[str, Any]] | None:
    """Request tools as the conventions' definitions, their descriptions and schemas bounded and redacted as
    the openai client's are (a description or a schema's default may hold what any captured text may)."""
    definitions = tool_definitions(tools)
    if not definitions:
        return None
    return [{key: item if key in ("type", "name") else policy.value(item, by_name=False)
             for key, item in definition.items()} for definition in definitions]


def _server(base_url: Any) -> tuple[str | None, int | None]:
    """``server.address`` and ``server.port`` of the endpoint the span data names (the SDK strips its credentials
    and query); none when the model uses its provider's default endpoint."""
    if not isinstance(base_url, str) or not base_url:
        return None, None
    try:
        parts = urlsplit(base_url)
        port = parts.port
    except ValueError:
        return None, None
    if not parts.hostname:
        return None, None
    return parts.hostname, port or {"https": 443, "http": 80}.get(parts.scheme)


class ModelCallEntry(_Entry):
    """An SDK span that stands for a model call, made current: the call's span, ended from the SDK span's data as
    the SDK left it (``read``: ``apply_generation`` or ``apply_response``), with the content ``policy`` of the
    call (capturing nothing inside a run that keeps sensitive data out)."""

    __slots__ = ("telemetry", "policy", "call", "data", "read")

    def __init__(self, span: Span, context: Context, telemetry: GenAITelemetry, policy: ContentPolicy,
                 call: GenAICall, data: Any, read: Callable[[GenAICall, Any, ContentPolicy], None]) -> None:
        super().__init__(span, context)
        self.telemetry = telemetry
        self.policy = policy
        self.call = call
        self.data = data  # the SDK's span data, which it fills in while the call runs
        self.read = read

    def note_event(self) -> None:
        """A streamed call's event reached the run: the first one's arrival is the first chunk's."""
        call = self.call
        if call.first_chunk_perf is None:
            call.first_chunk_perf = time.perf_counter()
        call.chunk_count += 1

    def note_closed(self) -> None:
        """The run closed the call's stream before it ended (the span ends as it unwinds, with no error)."""
        if self.call.stream_end is None:
            self.call.stream_end = "closed"

    def finish(self, exc: BaseException | None) -> None:
        call = self.call
        try:
            self.read(call, self.data, self.policy)
            if call.stream and call.stream_end is None:
                call.stream_end = ("cancelled" if isinstance(exc, asyncio.CancelledError)
                                   else "error" if isinstance(exc, Exception) else "completed")
            if isinstance(exc, asyncio.CancelledError):  # the caller gave up: nothing failed, as for a request
                call.finish_reasons = ["error"]
                exc = None
            elif isinstance(exc, Exception):
                status = getattr(exc, "status_code", None)  # LiteLLM's errors are the openai client's kinds
                call.http_status = status if type(status) is int else None
                apply_error(call, exc)
        except Exception:  # noqa: BLE001 - the span ends with what is known
            warn_once("openai-agents-model-call", "llmtel: could not read an OpenAI Agents SDK model call's span")
        self.telemetry.finish(call, self.span, exc, self.context)


def begin_generation(data: Any) -> ModelCallEntry | None:
    """The entry for a generation span of a LiteLLM or any-llm model (see ``_begin``); None for any other."""
    config = getattr(data, "model_config", None)
    if not isinstance(config, Mapping) or config.get("model_impl") not in FOREIGN_MODELS:
        return None
    request = _request.get()

    def make_call(policy: ContentPolicy) -> GenAICall:
        call = generation_call(data)
        apply_request(call, request, policy, chat_tool_definitions)
        return call

    return _begin(make_call, data, apply_generation)


def apply_request(call: GenAICall, request: ModelRequest | None, policy: ContentPolicy,
                  definitions: Callable[[ModelRequest, ContentPolicy], list[dict[str, Any]] | None]) -> None:
    """What the model's method was asked (when its hooks noted it): whether it streams, and (captured) the tools
    it offers the model, as ``definitions`` converts them."""
    if request is None:
        return
    call.stream = request.streamed
    if policy.capture and (request.tools or request.handoffs):
        call.tool_definitions = definitions(request, policy)


# AnyLLMModel's methods that make a response span for a Responses API call, by name; their code objects are
# found once per class.
_ANY_LLM_RESPONSES_METHODS: Final = ("_get_response_via_responses", "_stream_response_via_responses")
_any_llm_codes: dict[type, frozenset[Any]] = {}
_MAX_FRAMES: Final = 12  # from the SDK's ``Scope`` up to the model's method: under ten frames


def begin_response(data: Any) -> ModelCallEntry | None:
    """The entry for a response span that an any-llm model's Responses API call starts (see ``_begin``); None for
    any other (the SDK's own OpenAI models', whose calls the openai client's instrumentation traces)."""
    caller = any_llm_responses_caller()
    if caller is None:
        return None
    model, settings, instructions = caller
    config = dict(settings.to_traceable_dict()) if callable(getattr(settings, "to_traceable_dict", None)) else {}
    config.update(model_impl="any-llm", provider=getattr(model, "_provider_name", None),
                  base_url=getattr(model, "base_url", None))
    request = _request.get()

    def make_call(policy: ContentPolicy) -> GenAICall:
        call = configured_call(getattr(model, "model", None), config, sc.API_TYPE_RESPONSES)
        if policy.capture and isinstance(instructions, str) and instructions:  # sent apart from the input
            call.system_instructions = [policy.text_part(instructions)]
        apply_request(call, request, policy, responses_tool_definitions)
        return call

    return _begin(make_call, data, apply_response)


def any_llm_responses_caller() -> tuple[Any, Any, Any] | None:
    """The any-llm model whose Responses API method is starting the span that starts now, with that call's model
    settings and system instructions, found on the stack; None when no such method is, or the SDK's any-llm model
    was never imported."""
    module = sys.modules.get("agents.extensions.models.any_llm_model")
    model_class = getattr(module, "AnyLLMModel", None)
    if not isinstance(model_class, type):
        return None
    codes = _any_llm_codes.get(model_class)
    if codes is None:
        codes = _any_llm_codes[model_class] = frozenset(
            code for code in (getattr(getattr(model_class, name, None), "__code__", None)
                              for name in _ANY_LLM_RESPONSES_METHODS) if code is not None)
    frame = sys._getframe(1)
    for _ in range(_MAX_FRAMES):
        if frame is None:
            return None
        if frame.f_code in codes:
            local = frame.f_locals
            model = local.get("self")
            if not isinstance(model, model_class):
                return None
            return model, local.get("model_settings"), local.get("system_instructions")
        frame = frame.f_back
    return None


def _begin(make_call: Callable[[ContentPolicy], GenAICall], data: Any,
           read: Callable[[GenAICall, Any, ContentPolicy], None]) -> ModelCallEntry | None:
    """A model call's span, started with the OpenAI instrumentation's telemetry and made current as part of a call.
    None when the OpenAI instrumentation is off (its settings are what the call is recorded with), or inside a
    call already traced. Its content policy is the instrumentation's, capturing nothing inside a run that keeps
    sensitive data out of its traces."""
    hooks = OpenAIInstrumentor.hooks
    if hooks is None:
        return None
    parent = otel_context.get_current()
    if parent.get(IN_CALL) or parent.get(otel_context._SUPPRESS_INSTRUMENTATION_KEY) \
            or parent.get("suppress_instrumentation"):  # the older plain key, set with the other
        return None
    policy = hooks.telemetry.content
    if sensitive.withheld(parent):
        policy = sensitive.withheld_policy(policy)
    call = make_call(policy)
    span = hooks.telemetry.start(call, parent)
    context = otel_context.set_value(IN_CALL, True, trace.set_span_in_context(span, parent))
    return ModelCallEntry(span, context, hooks.telemetry, policy, call, data, read)
