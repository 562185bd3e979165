"""Emission: a finished ``GenAICall`` becomes span attributes, metric points, cost and (opt-in) an event.

Everything here works from the record alone, so any provider's extraction can use it. Attribute building is
in pure functions; ``GenAITelemetry`` holds what is created once (tracer, instruments, prices, policy).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from llmtel import semconv as sc
from llmtel._version import __version__
from llmtel.cost import Cost, PriceBook
from llmtel.genai.content import ALL_CONTENT_FIELDS, CONTENT_WITHHELD, ContentPolicy, content_json, omit_fields
from llmtel.genai.diagnostics import report_failure
from llmtel.genai.metrics import MAX_CACHED, LatestMetrics, ReleasedMetrics
from llmtel.genai.record import GenAICall
from llmtel.logs.handler import exception_attributes as log_exception_attributes
from llmtel.logs.handler import exception_text
from llmtel.pipeline import _STATE_KEY as _PIPELINE_STATE
from llmtel.pipeline import note_llm_call

_logger = logging.getLogger("llmtel.genai")
_SCOPE = "llmtel"


def span_name(call: GenAICall) -> str:
    """``{operation} {request model}``, or the operation alone when the model is unknown."""
    return f"{call.operation} {call.request_model}" if call.request_model else call.operation


def start_attributes(call: GenAICall) -> dict[str, Any]:
    """Attributes known when the call starts (the ones samplers may look at)."""
    attrs: dict[str, Any] = {sc.GEN_AI_OPERATION_NAME: call.operation, sc.GEN_AI_PROVIDER_NAME: call.provider}
    if call.request_model is not None:
        attrs[sc.GEN_AI_REQUEST_MODEL] = call.request_model
    if call.server_address is not None:
        attrs[sc.SERVER_ADDRESS] = call.server_address
        if call.server_port is not None:
            attrs[sc.SERVER_PORT] = call.server_port
    return attrs


# (attribute name, record field) pairs set only when the field is known.
_REQUEST_FIELDS: tuple[tuple[str, str], ...] = (
    (sc.GEN_AI_REQUEST_TEMPERATURE, "temperature"),
    (sc.GEN_AI_REQUEST_TOP_P, "top_p"),
    (sc.GEN_AI_REQUEST_MAX_TOKENS, "max_tokens"),
    (sc.GEN_AI_REQUEST_SEED, "seed"),
    (sc.GEN_AI_REQUEST_STOP_SEQUENCES, "stop_sequences"),
    (sc.GEN_AI_REQUEST_FREQUENCY_PENALTY, "frequency_penalty"),
    (sc.GEN_AI_REQUEST_PRESENCE_PENALTY, "presence_penalty"),
    (sc.GEN_AI_REQUEST_CHOICE_COUNT, "choice_count"),
    (sc.GEN_AI_REQUEST_REASONING_LEVEL, "reasoning_level"),
    (sc.GEN_AI_REQUEST_ENCODING_FORMATS, "encoding_formats"),
    (sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT, "dimensions"),
    (sc.GEN_AI_OUTPUT_TYPE, "output_type"),
    (sc.GEN_AI_REQUEST_PREVIOUS_RESPONSE_ID, "previous_response_id"),
    (sc.GEN_AI_CONVERSATION_ID, "conversation_id"),
    (sc.GEN_AI_CONVERSATION_COMPACTED, "conversation_compacted"),
    (sc.GEN_AI_PROMPT_NAME, "prompt_name"),
    (sc.GEN_AI_PROMPT_VERSION, "prompt_version"),
    (sc.GEN_AI_RESPONSE_ID, "response_id"),
    (sc.GEN_AI_RESPONSE_MODEL, "response_model"),
    (sc.GEN_AI_USAGE_INPUT_TOKENS, "input_tokens"),
    (sc.GEN_AI_USAGE_OUTPUT_TOKENS, "output_tokens"),
    (sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, "cache_read_tokens"),
    (sc.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS, "cache_write_tokens"),
    (sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, "reasoning_tokens"),
    (sc.GEN_AI_USAGE_AUDIO_INPUT_TOKENS, "input_audio_tokens"),
    (sc.GEN_AI_USAGE_AUDIO_OUTPUT_TOKENS, "output_audio_tokens"),
    (sc.GEN_AI_USAGE_IMAGE_INPUT_TOKENS, "input_image_tokens"),
    (sc.LLMTEL_USAGE_SOURCE, "usage_source"),
    (sc.ERROR_TYPE, "error_type"),
    (sc.HTTP_RESPONSE_STATUS_CODE, "http_status"),
)
# OpenAI-specific attributes are only set when the provider is OpenAI (the conventions' flavour rule).
_OPENAI_FIELDS: tuple[tuple[str, str], ...] = (
    (sc.OPENAI_API_TYPE, "api_type"),
    (sc.OPENAI_REQUEST_SERVICE_TIER, "request_service_tier"),
    (sc.OPENAI_RESPONSE_SERVICE_TIER, "response_service_tier"),
    (sc.OPENAI_RESPONSE_SYSTEM_FINGERPRINT, "system_fingerprint"),
)


def _known_fields(table: tuple[tuple[str, str], ...]) -> Callable[[GenAICall], dict[str, Any]]:
    """A reader of ``table``'s fields that are known (not None), as ``{attribute name: value}``.

    Generated once per table as straight-line code (``if call.temperature is not None: attrs[...] =
    call.temperature`` for each field), the way ``dataclasses`` writes ``__init__``: plain attribute reads
    specialise to slot loads, an unknown field costs three bytecodes, and only the known ones touch their
    attribute names. It runs for every call, over a couple of dozen fields of which a handful are set; inside
    a real call (caches cold) this form costs under half of an ``attrgetter`` with ``compress``, and a third
    of it in a tight loop."""
    lines = ["def known(call):", "    attrs = {}"]
    for attribute, field_name in table:
        if not field_name.isidentifier() or field_name not in GenAICall.__slots__:
            raise ValueError(f"not a GenAICall field: {field_name!r}")
        lines += [f"    if call.{field_name} is not None:", f"        attrs[{attribute!r}] = call.{field_name}"]
    lines.append("    return attrs")
    namespace: dict[str, Any] = {}
    exec("\n".join(lines), namespace)  # noqa: S102 - built from our own constant names, checked above
    known: Callable[[GenAICall], dict[str, Any]] = namespace["known"]
    return known


_known_request_fields = _known_fields(_REQUEST_FIELDS)
_known_openai_request_fields = _known_fields(_REQUEST_FIELDS + _OPENAI_FIELDS)


def end_attributes(call: GenAICall, cost: Cost | None) -> dict[str, Any]:
    """Attributes known once the call has ended: request parameters, response, usage, cost, timing."""
    if call.provider == sc.PROVIDER_OPENAI:
        attrs = _known_openai_request_fields(call)
    else:
        attrs = _known_request_fields(call)
    if call.stream:
        attrs[sc.GEN_AI_REQUEST_STREAM] = True
        attrs[sc.LLMTEL_STREAM_CHUNKS] = call.chunk_count
        if call.stream_end is not None:
            attrs[sc.LLMTEL_STREAM_END] = call.stream_end
        if call.first_chunk_perf is not None:
            attrs[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = call.first_chunk_perf - call.start_perf
    if call.finish_reasons:
        attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] = list(call.finish_reasons)
    if call.hosted_tool_calls:
        for kind, count in call.hosted_tool_calls.items():
            attrs[sc.tool_calls_attribute(kind)] = count
    if cost is not None:
        attrs[sc.LLMTEL_COST_STATUS] = cost.status
        attrs[sc.LLMTEL_COST_PRICES] = cost.prices
        if cost.usd is not None:
            attrs[sc.LLMTEL_COST_USD] = cost.usd
    return attrs


def _has_truncation(messages: list[dict[str, Any]] | None) -> bool:
    return bool(messages) and any("truncated" in part for m in messages for part in m.get("parts", ()))


def captured_content(call: GenAICall, fields: frozenset[str] = ALL_CONTENT_FIELDS) -> dict[str, list[dict[str, Any]]]:
    """The captured content the record holds, by attribute name, still structured; of the fields not in
    ``fields`` (``LLMTEL_CONTENT_FIELDS``), only their place, length and hash."""
    captured = (
        (sc.GEN_AI_INPUT_MESSAGES, call.input_messages),
        (sc.GEN_AI_OUTPUT_MESSAGES, call.output_messages),
        (sc.GEN_AI_SYSTEM_INSTRUCTIONS, call.system_instructions),
        (sc.GEN_AI_TOOL_DEFINITIONS, call.tool_definitions),
    )
    return omit_fields({name: value for name, value in captured if value is not None}, fields)


def content_attributes(call: GenAICall, fields: frozenset[str] = ALL_CONTENT_FIELDS) -> dict[str, Any]:
    """Captured content as the conventions' JSON-string attributes (only what the record holds, of ``fields``),
    and ``llmtel.content.truncated`` when a text recorded was cut."""
    content = captured_content(call, fields)
    attrs: dict[str, Any] = {name: content_json(value) for name, value in content.items()}
    messages = (content.get(sc.GEN_AI_INPUT_MESSAGES), content.get(sc.GEN_AI_OUTPUT_MESSAGES))
    if _has_truncation(messages[0]) or _has_truncation(messages[1]):
        attrs[sc.LLMTEL_CONTENT_TRUNCATED] = True
    elif any("truncated" in p for p in content.get(sc.GEN_AI_SYSTEM_INSTRUCTIONS, ())):
        attrs[sc.LLMTEL_CONTENT_TRUNCATED] = True
    return attrs


def metric_attributes(call: GenAICall) -> dict[str, Any]:
    """Low-cardinality attributes shared by every metric point of the call (no ids)."""
    attrs = start_attributes(call)
    if call.response_model is not None:
        attrs[sc.GEN_AI_RESPONSE_MODEL] = call.response_model
    if call.error_type is not None:
        attrs[sc.ERROR_TYPE] = call.error_type
    return attrs


def _end_time_ns(call: GenAICall) -> int:
    """Wall-clock end of the call: its wall-clock start plus the monotonic duration."""
    return call.start_time_ns + int(((call.end_perf or call.start_perf) - call.start_perf) * 1e9)


def error_type_of(error: BaseException) -> str:
    """A low-cardinality error type: the exception's class name (``RateLimitError``, ``TimeoutError``…)."""
    return type(error).__qualname__ or sc.ERROR_TYPE_OTHER


def exception_attributes(
    call: GenAICall, error: BaseException, clean: Callable[[str], str] = str
) -> dict[str, Any]:
    """The ``gen_ai.client.operation.exception`` event's attributes: the exception (message and stack trace
    passed through ``clean``, the redaction hook), plus the call's low-cardinality attributes so the event
    can be filtered like the metrics."""
    attributes: dict[str, Any] = {**metric_attributes(call), **log_exception_attributes(error, clean)}
    if call.error_message is not None:  # already cleaned, from the error body where there was one
        attributes[sc.EXCEPTION_MESSAGE] = call.error_message
    return attributes


_MAX_CACHED = MAX_CACHED  # the span-start cache is bounded as the metric attribute caches are


def _withhold(call: GenAICall) -> None:
    """Drop the content a call's record holds: the call ran where none may be recorded (``CONTENT_WITHHELD``), and
    nothing emitted from the record (span, events, debug view, the enclosing agent's content) then has any."""
    call.input_messages = call.output_messages = call.system_instructions = call.tool_definitions = None


class GenAITelemetry:
    """Creates the tracer, instruments and event logger once; starts and finishes spans for calls."""

    def __init__(
        self,
        *,
        tracer_provider: Any = None,
        meter_provider: Any = None,
        logger_provider: Any = None,
        content: ContentPolicy | None = None,
        prices: PriceBook | None = None,
        on_finish: Callable[[GenAICall], None] | None = None,
        debug_view: Callable[[GenAICall, Cost | None], None] | None = None,
        latest_metrics: bool = False,
    ) -> None:
        from opentelemetry import _logs, metrics

        self._warned = False
        self.content = content or ContentPolicy()
        self._content_on_span = self.content.on_span  # the policy is immutable: read its flags once
        self._content_on_event = self.content.on_event
        self._capturing = self.content.capture  # whether records can hold content at all (``_withhold``)
        self.prices = prices
        self.on_finish = on_finish
        self.debug_view = debug_view  # sees the cost emission computed, so the call is priced once
        # Whether anything beyond the span and the metrics is recorded after a call (``_after``): usually not.
        self._after_call = bool(self._content_on_event or debug_view is not None or on_finish is not None)
        self.tracer = trace.get_tracer(_SCOPE, __version__, tracer_provider, schema_url=sc.SCHEMA_URL)
        meter = metrics.get_meter(_SCOPE, __version__, meter_provider, schema_url=sc.SCHEMA_URL)
        # the metric points of each call, named as v1.41.0 has them or (opted in) as the newest conventions do
        metrics_type = LatestMetrics if latest_metrics else ReleasedMetrics
        self.metrics = metrics_type(meter, metric_attributes)
        self._record_metrics = self.metrics.record
        self.events = _logs.get_logger(_SCOPE, __version__, logger_provider, schema_url=sc.SCHEMA_URL)
        # Built once per shape of call, shared between calls and never mutated: (operation, provider, request
        # model, server address, server port) -> (span name, start attributes).
        self._starts: dict[tuple[Any, ...], tuple[str, dict[str, Any]]] = {}

    def start(self, call: GenAICall, parent: Context | None = None) -> Span:
        """Start the CLIENT span of ``call`` (not made current: the caller decides that), as a child of the span in
        ``parent`` (the current context when None; a caller that has read it already saves reading it again)."""
        key = (call.operation, call.provider, call.request_model, call.server_address, call.server_port)
        name_and_attributes = self._starts.get(key)
        if name_and_attributes is None:
            if len(self._starts) >= _MAX_CACHED:
                self._starts.clear()
            name_and_attributes = self._starts[key] = (span_name(call), start_attributes(call))
        call.start_time_ns = start = time.time_ns()
        call.start_perf = time.perf_counter()
        return self.tracer.start_span(
            name_and_attributes[0],
            context=parent,
            kind=SpanKind.CLIENT,
            attributes=name_and_attributes[1],
            start_time=start,
        )

    def finish(
        self, call: GenAICall, span: Span, error: BaseException | None = None, context: Context | None = None
    ) -> None:
        """Record everything about the ended ``call`` and end its span. Never raises. ``context`` is the span's
        (as made current for the call), reused for the metric points' exemplars when the caller has it."""
        try:
            end = call.end_perf
            if end is None:
                end = call.end_perf = time.perf_counter()
            if self._capturing and context is not None and context.get(CONTENT_WITHHELD):
                _withhold(call)
            exception = None
            if error is not None or call.error_type is not None:
                exception = self._failure(call, span, error)
            # The cost: none for fetches and failures that carry no usage (counted elsewhere, or not billed), or
            # without a price book (the debug view is given the same). A failure with usage (a reply ``parse``
            # refused, a failed Responses call that reports it) was billed, and is priced; so is the first
            # fetch of a background response's result.
            prices = self.prices
            if prices is None or (
                (call.error_type is not None or call.operation == sc.OP_FETCH_RESPONSE)
                and call.input_tokens is None and call.output_tokens is None
            ):
                cost = None
            elif call.usage_source == sc.USAGE_SOURCE_INVALID:  # the reply's counts are not counts: not priced
                cost = prices.cost_of_counts(
                    call.provider, call.response_model or call.request_model, None, None, usage_invalid=True
                )
            else:
                cost = prices.cost_of_counts(
                    call.provider,
                    call.response_model or call.request_model,
                    call.input_tokens,
                    call.output_tokens,
                    call.cache_read_tokens,  # None counts as 0 there
                    call.cache_write_tokens,
                    call.reasoning_tokens,
                    call.input_audio_tokens,
                    call.output_audio_tokens,
                    call.input_image_tokens,
                    # The tier the reply says served it (``flex`` costs half, ``priority`` up to twice as much);
                    # the one asked for when the reply does not say.
                    service_tier=call.response_service_tier or call.request_service_tier,
                    tool_calls=call.hosted_tool_calls,
                )
            state = None if context is None else context.get(_PIPELINE_STATE)
            if state is not None and state.prompt is not None and call.prompt_name is None:
                call.prompt_name, call.prompt_version = state.prompt  # ``llmtel.prompt``; the request's wins
            if span.is_recording():
                span.set_attributes(end_attributes(call, cost))
                if self._content_on_span:
                    span.set_attributes(content_attributes(call, self.content.fields))
                if call.error_type is not None:
                    span.set_status(Status(StatusCode.ERROR, call.error_message or call.error_type))
                    if error is not None and exception is not None:
                        redacted = {key: exception[key] for key in (sc.EXCEPTION_MESSAGE, sc.EXCEPTION_STACKTRACE)}
                        span.record_exception(error, attributes=redacted, escaped=True)
            if context is None:
                context = trace.set_span_in_context(span)
            elif state is not None and state.tallies:  # inside ``llmtel.run`` or ``llmtel.agent``: counted there
                note_llm_call(state.tallies, call.input_tokens, call.output_tokens, cost, call.request_model,
                              call if self._content_on_span else None)
            self._record_metrics(call, context, cost)
            if exception is not None:
                self._emit_exception(call, span, exception)
            if self._after_call:
                self._after(call, span, cost)
            span.end(end_time=call.start_time_ns + int((end - call.start_perf) * 1e9))  # as ``_end_time_ns``
        except Exception:  # noqa: BLE001 - emission must never break the application
            if not self._warned:
                self._warned = True
                _logger.warning("llmtel: recording a GenAI call failed (logged once)", exc_info=True)
            if span.is_recording():
                span.end()

    def _after(self, call: GenAICall, span: Span, cost: Cost | None) -> None:
        """What is recorded after a call besides its span and metrics, when configured: the inference-details
        event, the debug view, the ``on_finish`` hook."""
        if self._content_on_event:
            self._emit_event(call, span, cost)
        if self.debug_view is not None:
            self.debug_view(call, cost)
        if self.on_finish is not None:
            self.on_finish(call)

    def _failure(self, call: GenAICall, span: Span, error: BaseException | None) -> dict[str, Any] | None:
        """The failure path (nothing here runs for a successful call): error type and message, the failure
        report, and the exception event's attributes when an exception was raised."""
        if error is None:  # failed without an exception (a Responses ``failed`` status, an error event)
            if call.diagnosis is not None:
                report_failure(call, span)
            return None
        if call.error_type is None:
            call.error_type = error_type_of(error)
            call.error_message = self.content.clean_error(exception_text(error))  # error bodies may echo what was sent
            if call.diagnosis is not None:
                report_failure(call, span)  # mode/hint on the span, a WARNING/ERROR log
        return exception_attributes(call, error, self.content.clean_error)

    def _emit_exception(self, call: GenAICall, span: Span, attributes: dict[str, Any]) -> None:
        """The conventions' exception event (severity WARN), in the span's context; failure path only."""
        self.events.emit(
            event_name=sc.EVENT_OPERATION_EXCEPTION,
            timestamp=_end_time_ns(call),
            severity_number=SeverityNumber.WARN,
            severity_text="WARN",
            attributes=attributes,
            context=trace.set_span_in_context(span),
        )

    def _emit_event(self, call: GenAICall, span: Span, cost: Cost | None) -> None:
        attributes = {**start_attributes(call), **end_attributes(call, cost),
                      **captured_content(call, self.content.fields)}
        self.events.emit(
            event_name=sc.EVENT_INFERENCE_DETAILS,
            timestamp=_end_time_ns(call),  # when the call ended, not when the exporter saw the record
            attributes=attributes,
            context=trace.set_span_in_context(span),
        )
