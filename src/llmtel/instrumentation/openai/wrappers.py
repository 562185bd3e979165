"""The patched ``request`` methods of the OpenAI client: one span per GenAI call, whatever the entry point.

``create``, ``parse``, the ``.stream()`` helpers, ``with_raw_response``, ``with_streaming_response`` and
``retrieve`` all end in ``SyncAPIClient.request`` / ``AsyncAPIClient.request``, so wrapping those two covers
every route. Any failure inside llmtel is logged once and the call proceeds untouched.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import logging
import weakref
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from functools import partial
from typing import Any, NamedTuple

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext

from llmtel import semconv as sc
from llmtel.credentials import mask_secret
from llmtel.genai.emit import GenAITelemetry
from llmtel.genai.record import GenAICall
from llmtel.instrumentation.openai import extract
from llmtel.instrumentation.openai.streams import (
    AccumulatedStream,
    ChunkStream,
    StreamState,
    instrument_async_stream,
    instrument_stream,
    on_abandon,
)

_logger = logging.getLogger("llmtel.instrumentation.openai")
# Set in the context a traced request makes current, so a nested ``request`` (a second wrapper, a second
# instrumentation route) passes through instead of making a duplicate span. It lives where the span does, so
# it follows the same tasks and threads, and is gone when the request's context is reset. An Agents SDK
# generation span that llmtel traces as the call (a LiteLLM or any-llm model) sets it too: a request such a model
# makes through the openai client is part of that call, not a second one.
IN_CALL = otel_context.create_key("llmtel.openai.in_call")
_SUPPRESSED = otel_context._SUPPRESS_INSTRUMENTATION_KEY
_SUPPRESSED_PLAIN = "suppress_instrumentation"  # the older plain key, which ``suppress_instrumentation()`` sets too


def _span_key() -> str | None:
    """The key under which the OpenTelemetry API keeps a context's span, learned through the API itself (the one
    key of a context holding only a span), so a request's context is built in one copy instead of two; None
    when the API keeps anything else there, and the API builds it."""
    probe_span = trace.NonRecordingSpan(trace.SpanContext(1, 1, is_remote=False))
    probe = trace.set_span_in_context(probe_span, Context())
    if type(probe) is not Context or len(probe) != 1:
        return None
    key = next(iter(probe))
    return key if trace.get_current_span(Context({key: probe_span})) is probe_span else None


_SPAN_KEY = _span_key()
_logged: set[str] = set()


class _ContextThroughAPI:
    """Sets, resets and reads OpenTelemetry's current context through its API: ``ContextVar``'s three methods,
    for a runtime context other than the default one (see ``current_context_variable``)."""

    set = staticmethod(otel_context.attach)
    reset = staticmethod(otel_context.detach)
    get = staticmethod(otel_context.get_current)


def current_context_variable() -> ContextVar[Context] | _ContextThroughAPI:
    """What holds OpenTelemetry's current context: with the default runtime context, its ``ContextVar``, used
    directly (``attach``, ``detach`` and ``get_current`` each add two Python calls around it, and every traced
    call makes three); with any other runtime context (``OTEL_PYTHON_CONTEXT``), the API itself."""
    runtime = getattr(otel_context, "_RUNTIME_CONTEXT", None)
    variable = getattr(runtime, "_current_context", None)
    if type(runtime) is ContextVarsRuntimeContext and isinstance(variable, ContextVar):
        return variable
    return _ContextThroughAPI()


# The SDK's provider runtimes (``OpenAI(provider=openai.providers.bedrock(...))``, ``BedrockOpenAI``; openai 2.x
# and 3.x) as ``gen_ai.provider.name``; a runtime not listed here is named as the SDK names it.
_RAW_RESPONSE_HEADER = "X-Stainless-Raw-Response"  # how the SDK marks ``with_raw_response`` / ``with_streaming_response``
_RUNTIME_PROVIDERS = {"bedrock": sc.PROVIDER_AWS_BEDROCK, "vertex": sc.PROVIDER_GCP_VERTEX_AI}


class _Started(NamedTuple):
    """A traced call's span, the context it was made current in, and whether usage was asked for by llmtel."""

    span: Any
    context: Context
    injected: bool


# ``_Started(...)`` without the NamedTuple's Python-level ``__new__``: built for every call.
_started: Callable[[tuple[Any, Any, bool]], _Started] = partial(tuple.__new__, _Started)
# A started call: its record, span and context, the token that resets the current context, and the (possibly
# changed) args.
_Begun = tuple[GenAICall, _Started, Any, tuple[Any, ...], dict[str, Any]]


def _unbound(instance: Any, name: str) -> Callable[..., Any]:
    """The function behind ``instance.name`` (its class's), to call with the instance; the attribute itself when
    it is not a method of the instance (something else wrapped it already)."""
    bound = getattr(instance, name)
    if getattr(bound, "__self__", None) is instance and hasattr(bound, "__func__"):
        return bound.__func__  # type: ignore[no-any-return]
    return lambda _instance, *args, **kwargs: bound(*args, **kwargs)


def _like(hook: Callable[..., Any], method: Any) -> Callable[..., Any]:
    """``hook`` named, documented and signed as the bound ``method`` it stands in for (``inspect.signature``,
    ``help``), without holding it: the method holds its instance."""
    for attribute in ("__name__", "__qualname__", "__doc__", "__module__"):
        try:
            setattr(hook, attribute, getattr(method, attribute))
        except (AttributeError, TypeError):
            pass
    try:
        hook.__signature__ = inspect.signature(method)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        pass
    return hook


def _log_once(key: str, message: str) -> None:
    if key not in _logged:
        _logged.add(key)
        _logger.warning(message, exc_info=True)


class OpenAIHooks:
    """Holds the emitter and options; its two ``*_request`` methods are the hooks patched onto the client classes'
    ``request`` (``llmtel.instrumentation.patching``): each gets the original function, the client and the
    call's arguments."""

    def __init__(
        self, telemetry: GenAITelemetry, *, inject_stream_usage: bool = False, chunk_timing: bool = False
    ) -> None:
        self.telemetry = telemetry
        self.inject_stream_usage = inject_stream_usage
        self.chunk_timing = chunk_timing
        # Chat chunks need only the lean fold unless their content is captured or their arrival timed.
        self._lean_chunks = not (telemetry.content.capture or chunk_timing)
        import openai  # instrumenting means openai is there

        self._stream_types: tuple[type, type] = (openai.Stream, openai.AsyncStream)
        # Azure clients: the SDK's two classes, their subclasses, and the module-level client ``openai.api_type =
        # "azure"`` makes. The provider is found once per client class.
        self._azure_types = tuple(
            cls for cls in (getattr(openai, "AzureOpenAI", None), getattr(openai, "AsyncAzureOpenAI", None))
            if isinstance(cls, type)
        )
        self._providers: dict[type, str] = {}
        self._model_type: type = getattr(openai, "BaseModel", _Never)  # what every parsed reply is an instance of
        # (base_url, host, port, whether it is Azure OpenAI's)
        self._server: tuple[Any, str | None, int | None, bool] = (object(), None, None, False)
        self._current = current_context_variable()  # read when instrumenting: OpenTelemetry picks it at import

    # --- preparing a call ---------------------------------------------------------------------------------

    def _prepare(self, client: Any, options: Any, kwargs: dict[str, Any]) -> tuple[GenAICall, bool] | None:
        """The call record for this request, and whether llmtel must ask for its stream's usage; None when it
        is not a GenAI call we trace. Reads what every supported SDK has (a missing one raises)."""
        method, url = options.method, options.url
        found = extract.ROUTES.get((method, url)) or extract.route(method, url)
        if found is None:
            return None
        operation, api_type = found
        base_url = client._base_url  # not ``base_url``: newer clients' property runs an import statement per read
        server = self._server
        if server[0] is not base_url:  # the client's URL object is immutable: read it once per URL seen
            host = getattr(base_url, "host", None) or None
            server = self._server = (base_url, host, _port(base_url), _azure_openai_url(host, base_url))
        runtime = getattr(client, "_provider_runtime", None)  # the SDK's ``provider=``: Bedrock, Vertex AI
        if runtime is None:
            if server[3]:  # Azure OpenAI's v1 API, reached with the plain client
                provider = sc.PROVIDER_AZURE_OPENAI
            else:
                provider = self._providers.get(type(client)) or self._provider_of(type(client))
        else:
            provider = _RUNTIME_PROVIDERS.get(runtime.name) or str(runtime.name)
        call = GenAICall(operation, provider, api_type=api_type, server_address=server[1], server_port=server[2])
        if operation == sc.OP_FETCH_RESPONSE:  # a GET: no body; ``retrieve(stream=True)`` replays the events
            call.stream = kwargs.get("stream") is True
            return call, False
        body = options.json_data if options.extra_json is None else _request_body(options)
        if type(body) is not dict:
            return call, False
        extract.apply_request(call, body, self.telemetry.content)
        return call, self.inject_stream_usage and self._wants_injected_usage(call, body, options, kwargs)

    def _provider_of(self, client_type: type) -> str:
        provider = sc.PROVIDER_AZURE_OPENAI if issubclass(client_type, self._azure_types) else sc.PROVIDER_OPENAI
        self._providers[client_type] = provider
        return provider

    def _wants_injected_usage(self, call: GenAICall, body: dict[str, Any], options: Any, kwargs: dict[str, Any]) -> bool:
        """A Chat Completions or legacy stream that the SDK itself reads as one (``request(..., stream=True)``; not a
        body asking for a stream through ``extra_body``, whose reply the caller gets as text), whose caller said
        nothing about usage (no ``stream_options``, or a mapping without ``include_usage``; any other value is sent
        as given), and who did not ask for the body as it streams in (``with_streaming_response``: read as lines or
        bytes, the usual use, it would show the usage chunk llmtel cannot hide there). ``with_raw_response`` is
        injected into: its ``parse()`` gives the stream, hidden chunk and all."""
        if not (call.stream and call.api_type != sc.API_TYPE_RESPONSES and kwargs.get("stream") is True):
            return False
        if "stream_options" in body:
            stream_options = body["stream_options"]
            if not isinstance(stream_options, Mapping) or "include_usage" in stream_options:
                return False
        headers = getattr(options, "headers", None)
        return not (isinstance(headers, Mapping) and headers.get(_RAW_RESPONSE_HEADER) == "stream")

    @staticmethod
    def _with_usage_requested(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The same request with ``stream_options.include_usage`` set, on a copy of the options."""
        options = copy.copy(args[1] if len(args) > 1 else kwargs["options"])
        # ``extra_body`` replaces the body's keys when the SDK merges them: set it where it will be sent.
        extra = getattr(options, "extra_json", None)
        in_extra = isinstance(extra, Mapping) and (
            "stream_options" in extra or not isinstance(options.json_data, Mapping)
        )
        field = "extra_json" if in_extra else "json_data"
        body = dict(getattr(options, field))
        body["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
        setattr(options, field, body)
        if len(args) > 1:
            return (args[0], options, *args[2:]), kwargs
        return args, {**kwargs, "options": options}

    # --- the wrappers -------------------------------------------------------------------------------------

    def _begin(self, client: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Begun | None:
        """Start the span of a GenAI request (made current, so the HTTP span nests under it), or return None
        for a request that passes through untraced."""
        parent = self._current.get()  # the caller's context: the span's parent, passed on explicitly
        if parent.get(IN_CALL) or parent.get(_SUPPRESSED) or parent.get(_SUPPRESSED_PLAIN):
            return None
        try:
            prepared = self._prepare(client, args[1] if len(args) > 1 else kwargs["options"], kwargs)
        except Exception:  # noqa: BLE001
            _log_once("prepare", "llmtel: could not read an OpenAI request; it is sent untraced")
            return None
        if prepared is None:
            return None
        call, injected = prepared
        try:
            span = self.telemetry.start(call, parent)
        except Exception:  # noqa: BLE001 - the tracing pipeline itself failed (a span processor raising on start)
            _log_once("start", "llmtel: could not start the span of an OpenAI request; it is sent untraced")
            return None
        if injected:
            try:
                args, kwargs = self._with_usage_requested(args, kwargs)
            except Exception:  # noqa: BLE001 - the request goes as the caller made it, its usage unknown
                _log_once("inject", "llmtel: could not ask for an OpenAI stream's usage; it is sent as asked")
                injected = False
        if _SPAN_KEY is not None:  # ``set_span_in_context`` and ``set_value``, in one copy of the parent
            context = Context({**parent, _SPAN_KEY: span, IN_CALL: True})
        else:
            context = otel_context.set_value(IN_CALL, True, trace.set_span_in_context(span, parent))
        token = self._current.set(context)  # made current: ``otel_context.attach``
        return call, _started((span, context, injected)), token, args, kwargs

    def _failed(self, call: GenAICall, started: _Started, error: BaseException, client: Any) -> None:
        status = getattr(error, "status_code", None)  # openai.APIStatusError: the HTTP status of the reply
        if isinstance(status, int):
            call.http_status = status
            _mask_client_keys(client)  # before the error's text is read: a server may echo the key back
        if isinstance(error, asyncio.CancelledError):
            # The caller gave up (as when a stream is cancelled mid-way): no reply came, but nothing failed.
            call.finish_reasons = ["error"]
            call.stream_end = "cancelled" if call.stream else None
            self.telemetry.finish(call, started.span, None, started.context)
        else:
            self._refused_reply(call, error)
            try:
                extract.apply_error(call, error)  # failure mode + hint for the span, the log line and debug view
            except Exception:  # noqa: BLE001
                _log_once("diagnose", "llmtel: could not diagnose an OpenAI error; the span keeps its type")
            self.telemetry.finish(call, started.span, error, started.context)

    def _refused_reply(self, call: GenAICall, error: BaseException) -> None:
        """The reply ``error`` carries, when ``parse`` refused one that came (cut by the token limit, or filtered):
        its usage was billed, its ids and finish reason are known."""
        completion = getattr(error, "completion", None)
        if isinstance(completion, self._model_type):
            try:
                extract.apply_response(call, completion, self.telemetry.content)
            except Exception:  # noqa: BLE001
                _log_once("completion", "llmtel: could not read the reply an OpenAI error carries")

    def sync_request(self, request: Any, client: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        begun = self._begin(client, args, kwargs)
        if begun is None:
            return request(client, *args, **kwargs)
        call, started, token, args, kwargs = begun
        try:
            result = request(client, *args, **kwargs)
        except BaseException as error:
            self._failed(call, started, error, client)
            raise
        finally:  # what ``_begin`` made current, undone in the context it was set in
            self._current.reset(token)
        return self._observe(result, call, started)

    async def async_request(self, request: Any, client: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        begun = self._begin(client, args, kwargs)
        if begun is None:
            return await request(client, *args, **kwargs)
        call, started, token, args, kwargs = begun
        try:
            result = await request(client, *args, **kwargs)
        except BaseException as error:
            self._failed(call, started, error, client)
            raise
        finally:  # what ``_begin`` made current, undone in the context it was set in
            self._current.reset(token)
        return self._observe(result, call, started)

    # --- what came back -----------------------------------------------------------------------------------

    def _observe(self, result: Any, call: GenAICall, started: _Started) -> Any:
        """Record ``result`` (or arrange for it to be recorded) and return it unchanged. One method for every
        kind of result, most usual first: a call to dispatch would cost more than the checks it saves."""
        try:
            if isinstance(result, self._model_type):  # the usual reply, parsed whole
                extract.apply_response(call, result, self.telemetry.content)
                self.telemetry.finish(call, started.span, None, started.context)
            elif isinstance(result, self._stream_types[0]):
                if not instrument_stream(result, self._state(call, started)):  # internals we don't know: end it now
                    self.telemetry.finish(call, started.span, None, started.context)
            elif isinstance(result, self._stream_types[1]):
                if not instrument_async_stream(result, self._state(call, started)):
                    self.telemetry.finish(call, started.span, None, started.context)
            elif type(result).__name__ == "LegacyAPIResponse":
                self._observe_legacy_response(result, call, started)
            elif type(result).__name__ in ("APIResponse", "AsyncAPIResponse"):
                self._observe_api_response(result, call, started)
            else:
                extract.apply_response(call, result, self.telemetry.content)
                self.telemetry.finish(call, started.span, None, started.context)
        except Exception:  # noqa: BLE001
            _log_once("observe", "llmtel: could not read an OpenAI response; the span keeps what is known")
            self.telemetry.finish(call, started.span, None, started.context)
        return result

    def _state(self, call: GenAICall, started: _Started) -> ChunkStream | AccumulatedStream:
        if call.api_type == sc.API_TYPE_RESPONSES:
            accumulator: Any = extract.EventAccumulator(call, self.telemetry.content, chunk_timing=self.chunk_timing)
        elif self._lean_chunks:
            return ChunkStream(self.telemetry, call, started.span, started.context, started.injected)
        else:
            accumulator = extract.DetailedChunkAccumulator(
                call, self.telemetry.content, hide_usage_chunk=started.injected, chunk_timing=self.chunk_timing
            )
        return AccumulatedStream(self.telemetry, call, started.span, accumulator, started.context)

    def _observe_legacy_response(self, raw: Any, call: GenAICall, started: _Started) -> None:
        """``with_raw_response``: parse now (the SDK caches it, so the caller's ``parse()`` gets the same object).
        A reply ``parse`` refuses fails the call, as it would without the raw response: the caller meets the same
        error when they parse."""
        call.http_status = getattr(getattr(raw, "http_response", None), "status_code", None)
        try:
            parsed = raw.parse()
        except Exception as error:  # noqa: BLE001
            self._refused_reply(call, error)
            try:
                extract.apply_error(call, error)
            except Exception:  # noqa: BLE001
                _log_once("diagnose", "llmtel: could not diagnose an OpenAI error; the span keeps its type")
            self.telemetry.finish(call, started.span, error, started.context)
            return
        self._observe(parsed, call, started)

    def _observe_api_response(self, raw: Any, call: GenAICall, started: _Started) -> None:
        """``with_streaming_response``: the caller reads the body; record when they parse or close it.

        Closing the raw response ends the span (a stream made from it cannot go on after that). A reply read
        whole some other way (``json()``, ``text()``, ``read()``) is parsed then, for its usage and ids. A stream
        read as bytes or lines is the caller's to read: its span has no chunks and no finish reason."""
        state = StreamState(self.telemetry, call, started.span, started.context)
        # The hooks below go on the instance and must not hold it (a cycle would keep an unclosed response, and its
        # span, until the cyclic collector runs): they reach it through a weak reference, the methods through its
        # class.
        raw_ref = weakref.ref(raw)
        parse_of, close_of = _unbound(raw, "parse"), _unbound(raw, "close")

        def original_parse(*args: Any, **kwargs: Any) -> Any:
            return parse_of(raw_ref(), *args, **kwargs)

        def original_close() -> Any:
            return close_of(raw_ref())

        hooks = self

        def record_parsed(parsed: Any) -> Any:
            nonlocal state
            try:
                stream_types = hooks._stream_types
                if isinstance(parsed, stream_types):
                    if state is raw_state:  # the stream stands for the call now, not the raw response
                        state.unwatch()
                        claimed = state._open  # the chunk state takes over the span, still open
                        state = hooks._state(call, started)
                        state._open = claimed
                    instrumented = (instrument_stream if isinstance(parsed, stream_types[0])
                                    else instrument_async_stream)(parsed, state)
                    if not instrumented:
                        state.finish("closed")
                else:
                    extract.apply_response(call, parsed, hooks.telemetry.content)
                    state.finish("completed")
            except Exception:  # noqa: BLE001
                _log_once("raw-parse", "llmtel: could not read a parsed OpenAI response")
                state.finish("closed")
            return parsed

        def refused(error: Exception) -> None:
            try:
                hooks._refused_reply(call, error)
            finally:
                state.finish("error", error)

        def read_whole() -> bool:
            """Whether the body was read whole, unparsed, by a reply not streamed (its content is kept)."""
            if call.stream or not state._open:
                return False
            try:
                raw_ref().http_response.content  # type: ignore[union-attr]  # noqa: B018 - raises when not read whole
            except Exception:  # noqa: BLE001
                return False
            return True

        if type(raw).__name__ == "AsyncAPIResponse":

            async def parse(*args: Any, **kwargs: Any) -> Any:
                try:
                    parsed = await original_parse(*args, **kwargs)
                except Exception as error:
                    refused(error)
                    raise
                return record_parsed(parsed)

            async def close() -> Any:
                try:
                    return await original_close()
                finally:
                    if read_whole():
                        try:
                            record_parsed(await original_parse())
                        except Exception:  # noqa: BLE001 - the caller read it as they chose; we only record it
                            pass
                    state.finish("closed")

        else:

            def parse(*args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
                try:
                    parsed = original_parse(*args, **kwargs)
                except Exception as error:
                    refused(error)
                    raise
                return record_parsed(parsed)

            def close() -> Any:  # type: ignore[misc]
                try:
                    return original_close()
                finally:
                    if read_whole():
                        try:
                            record_parsed(original_parse())
                        except Exception:  # noqa: BLE001 - the caller read it as they chose; we only record it
                            pass
                    state.finish("closed")

        raw.parse = _like(parse, raw.parse)
        raw.close = _like(close, raw.close)
        call.http_status = getattr(getattr(raw, "http_response", None), "status_code", None)
        on_abandon(state, raw)
        # Not the weak reference itself: held here, it would outlive its unwatching, and call back as the raw
        # response goes while the stream parsed from it still stands for the call.
        raw_state = state


def _mask_client_keys(client: Any) -> None:
    """Mask the keys ``client`` holds by value from now on (``credentials.mask_secret``), whatever their shape:
    the failed call's error text is read next, and the app may log the error."""
    try:
        for attribute in ("api_key", "admin_api_key"):
            value = getattr(client, attribute, None)
            if isinstance(value, str):
                mask_secret(value)
    except Exception:  # noqa: BLE001
        _log_once("keys", "llmtel: could not read an OpenAI client's keys; their shapes are still masked")


def _request_body(options: Any) -> Any:
    """The JSON body as the SDK will send it: ``json_data``, the caller's ``extra_body`` merged over it."""
    body = getattr(options, "json_data", None)
    extra = getattr(options, "extra_json", None)
    if not extra or not isinstance(extra, Mapping):  # usually None: skip the ABC check
        return body
    if body is None:
        return dict(extra)
    return {**body, **extra} if isinstance(body, Mapping) else body


class _Never:
    """A class no reply is an instance of (an SDK without ``openai.BaseModel`` takes the general route)."""


# Azure OpenAI's hosts: a resource's own, and an AI Foundry resource's (whose ``/openai`` path is Azure OpenAI's).
_AZURE_OPENAI_HOSTS = (".openai.azure.com", ".cognitiveservices.azure.com")
_AZURE_FOUNDRY_HOST = ".services.ai.azure.com"


def _azure_openai_url(host: str | None, base_url: Any) -> bool:
    """Whether ``base_url`` is Azure OpenAI's, as with its v1 API through the plain ``OpenAI`` client
    (``base_url="https://{resource}.openai.azure.com/openai/v1/"``)."""
    if not isinstance(host, str):
        return False
    host = host.lower()
    if host.endswith(_AZURE_OPENAI_HOSTS):
        return True
    return host.endswith(_AZURE_FOUNDRY_HOST) and str(getattr(base_url, "path", "")).startswith("/openai")


def _port(base_url: Any) -> int | None:
    if base_url is None:
        return None
    port = getattr(base_url, "port", None)
    if port is not None:
        return port
    scheme = getattr(base_url, "scheme", "")
    return 443 if scheme == "https" else 80 if scheme == "http" else None
