"""The metric points of one finished GenAI call, under either naming the conventions have had.

``ReleasedMetrics`` (the default) uses the names of semantic conventions v1.41.0, which dashboards and the
other implementations read. ``LatestMetrics`` uses the newest GenAI conventions' (semantic-conventions-genai
v0.1.0), chosen with ``OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental``. Either creates its instruments
once, caches the attribute sets per shape of call, and records from the ``GenAICall`` alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opentelemetry.context import Context

from llmtel import semconv as sc
from llmtel.cost import Cost
from llmtel.encodable import encodable_attributes
from llmtel.genai.record import GenAICall

# The per-call caches are emptied when they reach this many entries: their keys hold names that come from
# callers (models, hosts), and a cache must not grow with a caller that sends a new one on every call.
MAX_CACHED = 512

AttributesOf = Callable[[GenAICall], dict[str, Any]]


def _seconds(meter: Any, name: str, description: str) -> Any:
    """A histogram of seconds with the conventions' duration buckets."""
    return meter.create_histogram(
        name, unit="s", description=description, explicit_bucket_boundaries_advisory=sc.DURATION_BUCKETS
    )


def _tokens(meter: Any, name: str, description: str) -> Any:
    """A histogram of tokens with the conventions' token buckets."""
    return meter.create_histogram(
        name, unit="{token}", description=description, explicit_bucket_boundaries_advisory=sc.TOKEN_BUCKETS
    )


class ReleasedMetrics:
    """v1.41.0: ``gen_ai.client.operation.duration``, ``gen_ai.client.token.usage`` by ``gen_ai.token.type``,
    ``gen_ai.client.operation.time_to_first_chunk`` / ``time_per_output_chunk``, and ``llmtel.client.cost``."""

    def __init__(self, meter: Any, attributes_of: AttributesOf) -> None:
        self._attributes_of = attributes_of
        self.duration = _seconds(meter, sc.METRIC_OPERATION_DURATION, "Duration of GenAI client operations")
        self.tokens = _tokens(meter, sc.METRIC_TOKEN_USAGE, "Tokens used by GenAI client operations")
        self.time_to_first_chunk = _seconds(
            meter, sc.METRIC_TIME_TO_FIRST_CHUNK, "Time from request to the first chunk of a streamed response"
        )
        self.time_per_output_chunk = _seconds(
            meter, sc.METRIC_TIME_PER_OUTPUT_CHUNK,
            "Time between consecutive chunks of a streamed response (recorded when chunk timing is on)",
        )
        self.cost = meter.create_counter(sc.METRIC_COST, unit="USD", description="Cost of GenAI client operations")
        # (operation, provider, request model, server address, server port, response model, error type) ->
        # (metric attributes, the same without ``error.type``, those for input tokens, for output tokens); shared,
        # never mutated
        self.sets: dict[tuple[Any, ...], tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]] = {}

    def _new_sets(self, key: tuple[Any, ...], call: GenAICall) -> tuple[dict[str, Any], ...]:
        """The attribute sets of a call's points. ``error.type`` is on the duration (and the cost) only: v1.41.0
        gives the token usage and the chunk timings no error attribute (a failure with usage, a stream broken
        after its first chunk, would split their series by it)."""
        if len(self.sets) >= MAX_CACHED:
            self.sets.clear()
        attrs = encodable_attributes(self._attributes_of(call))  # once per set: a server's model name may not be UTF-8
        plain = {key: value for key, value in attrs.items() if key != sc.ERROR_TYPE} if call.error_type else attrs
        sets = self.sets[key] = (
            attrs,
            plain,
            {**plain, sc.GEN_AI_TOKEN_TYPE: sc.TOKEN_TYPE_INPUT},
            {**plain, sc.GEN_AI_TOKEN_TYPE: sc.TOKEN_TYPE_OUTPUT},
        )
        return sets

    def record(self, call: GenAICall, context: Context, cost: Cost | None) -> None:
        key = (call.operation, call.provider, call.request_model, call.server_address, call.server_port,
               call.response_model, call.error_type)
        attrs, plain, input_attrs, output_attrs = self.sets.get(key) or self._new_sets(key, call)
        start = call.start_perf
        self.duration.record((call.end_perf or start) - start, attrs, context)
        if call.input_tokens is not None:  # a fetch has none, unless it is where they are counted
            self.tokens.record(call.input_tokens, input_attrs, context)
        if call.output_tokens is not None:
            self.tokens.record(call.output_tokens, output_attrs, context)
        if call.first_chunk_perf is not None:
            self.time_to_first_chunk.record(call.first_chunk_perf - start, plain, context)
        if call.chunk_times is not None:  # one point per chunk after the first: the gap since the one before
            record = self.time_per_output_chunk.record
            for earlier, later in zip(call.chunk_times, call.chunk_times[1:]):
                record(later - earlier, plain, context)
        if cost is not None and cost.usd is not None:
            self.cost.add(cost.usd, attrs, context)


def split_by_modality(total: int | None, audio: int | None, image: int | None) -> list[tuple[str, int]]:
    """``(gen_ai.token.modality, tokens)`` pairs adding up to ``total``: the audio and image tokens the reply
    reported, and the rest as ``unknown`` (OpenAI does not say how much of the rest is text and how much images
    it did not count apart). No count at all is one ``unknown`` 0, as the conventions ask."""
    if total is None:
        return [(sc.MODALITY_UNKNOWN, 0)]
    parts: list[tuple[str, int]] = []
    rest = total
    if audio:
        parts.append((sc.MODALITY_AUDIO, audio))
        rest -= audio
    if image:
        parts.append((sc.MODALITY_IMAGE, image))
        rest -= image
    if rest < 0:  # the details do not fit in the total: keep only the total
        return [(sc.MODALITY_UNKNOWN, total)]
    if rest or not parts:
        parts.append((sc.MODALITY_UNKNOWN, rest))
    return parts


_INFERENCE = "inference"
_EMBEDDINGS = "embeddings"
_OTHER = "other"
# Operations recorded as inference: they run the model on a conversation and bill what it read and wrote.
_INFERENCE_OPERATIONS = frozenset({sc.OP_CHAT, sc.OP_TEXT_COMPLETION, sc.OP_COMPACT})


class _Shape:
    """The attribute sets of one shape of call, built once: with ``error.type`` (durations, per-operation
    token histograms), without it (chunk timings and token counters), and by token modality (counters)."""

    __slots__ = ("kind", "attrs", "plain", "by_modality")

    def __init__(self, kind: str, attrs: dict[str, Any]) -> None:
        self.kind = kind
        self.attrs = attrs
        self.plain = {key: value for key, value in attrs.items() if key != sc.ERROR_TYPE}
        self.by_modality: dict[str, dict[str, Any]] = {}

    def modality(self, modality: str) -> dict[str, Any]:
        attrs = self.by_modality.get(modality)
        if attrs is None:
            attrs = self.by_modality[modality] = {**self.plain, sc.GEN_AI_TOKEN_MODALITY: modality}
        return attrs


class LatestMetrics:
    """The newest GenAI conventions: inference calls on ``gen_ai.client.inference.duration``, token counters by
    modality (``gen_ai.client.inference.usage.*``) and per-operation token histograms
    (``gen_ai.client.inference.operation.*``), streams' ``gen_ai.client.inference.time_to_first_chunk`` /
    ``time_per_output_chunk``; embeddings on ``gen_ai.client.embeddings.*``; other operations (``fetch_response``)
    on ``gen_ai.client.operation.duration``; and ``llmtel.client.cost`` as in the default."""

    def __init__(self, meter: Any, attributes_of: AttributesOf) -> None:
        self._attributes_of = attributes_of
        self.inference_duration = _seconds(meter, sc.METRIC_INFERENCE_DURATION, "GenAI client inference duration")
        self.embeddings_duration = _seconds(meter, sc.METRIC_EMBEDDINGS_DURATION, "GenAI client embeddings duration")
        self.operation_duration = _seconds(meter, sc.METRIC_OPERATION_DURATION, "Duration of other GenAI operations")
        self.time_to_first_chunk = _seconds(
            meter, sc.METRIC_INFERENCE_TIME_TO_FIRST_CHUNK, "Time from request to the first chunk of a streamed response"
        )
        self.time_per_output_chunk = _seconds(
            meter, sc.METRIC_INFERENCE_TIME_PER_OUTPUT_CHUNK, "Time between consecutive chunks of a streamed response"
        )
        counter = meter.create_counter
        self.input_tokens = counter(sc.METRIC_USAGE_INPUT_TOKENS, "{token}", "Input tokens used, cached ones included")
        self.output_tokens = counter(sc.METRIC_USAGE_OUTPUT_TOKENS, "{token}", "Output tokens, reasoning ones included")
        self.cache_read_tokens = counter(sc.METRIC_USAGE_CACHE_READ_TOKENS, "{token}", "Input tokens read from a cache")
        self.cache_write_tokens = counter(sc.METRIC_USAGE_CACHE_WRITE_TOKENS, "{token}", "Input tokens cached")
        self.reasoning_tokens = counter(sc.METRIC_USAGE_REASONING_TOKENS, "{token}", "Output tokens spent reasoning")
        self.operation_input_tokens = _tokens(meter, sc.METRIC_OPERATION_INPUT_TOKENS, "Input tokens per inference")
        self.operation_output_tokens = _tokens(meter, sc.METRIC_OPERATION_OUTPUT_TOKENS, "Output tokens per inference")
        self.embeddings_input_tokens = _tokens(meter, sc.METRIC_EMBEDDINGS_INPUT_TOKENS, "Input tokens per embeddings")
        self.cost = meter.create_counter(sc.METRIC_COST, unit="USD", description="Cost of GenAI client operations")
        self.shapes: dict[tuple[Any, ...], _Shape] = {}

    def _new_shape(self, key: tuple[Any, ...], call: GenAICall) -> _Shape:
        if len(self.shapes) >= MAX_CACHED:
            self.shapes.clear()
        operation = call.operation
        kind = _INFERENCE if operation in _INFERENCE_OPERATIONS else _EMBEDDINGS if operation == sc.OP_EMBEDDINGS else _OTHER
        shape = self.shapes[key] = _Shape(kind, encodable_attributes(self._attributes_of(call)))
        return shape

    def record(self, call: GenAICall, context: Context, cost: Cost | None) -> None:
        key = (call.operation, call.provider, call.request_model, call.server_address, call.server_port,
               call.response_model, call.error_type)
        shape = self.shapes.get(key) or self._new_shape(key, call)
        start = call.start_perf
        duration = (call.end_perf or start) - start
        if shape.kind is _INFERENCE:
            self.inference_duration.record(duration, shape.attrs, context)
            self._usage(call, shape, context)
            if call.first_chunk_perf is not None:
                self.time_to_first_chunk.record(call.first_chunk_perf - start, shape.plain, context)
            if call.chunk_times is not None:
                record = self.time_per_output_chunk.record
                for earlier, later in zip(call.chunk_times, call.chunk_times[1:]):
                    record(later - earlier, shape.plain, context)
        elif shape.kind is _EMBEDDINGS:
            self.embeddings_duration.record(duration, shape.attrs, context)
            if call.input_tokens is not None:
                self.embeddings_input_tokens.record(call.input_tokens, shape.plain, context)
        else:
            self.operation_duration.record(duration, shape.attrs, context)
            # A fetch reports no usage, except the first fetch of a background call's result: where its
            # inference's tokens are counted, as on the span.
            if call.input_tokens is not None or call.output_tokens is not None:
                self._usage(call, shape, context)
        if cost is not None and cost.usd is not None:
            self.cost.add(cost.usd, shape.attrs, context)

    def _usage(self, call: GenAICall, shape: _Shape, context: Context) -> None:
        """Token counters by modality and per-operation histograms. A call with no usage (failed, a stream
        without its usage chunk) counts 0 tokens of unknown modality, as the conventions ask."""
        for modality, count in split_by_modality(call.input_tokens, call.input_audio_tokens, call.input_image_tokens):
            self.input_tokens.add(count, shape.modality(modality), context)
        for modality, count in split_by_modality(call.output_tokens, call.output_audio_tokens, None):
            self.output_tokens.add(count, shape.modality(modality), context)
        unknown = shape.modality(sc.MODALITY_UNKNOWN)
        if call.cache_read_tokens is not None:
            self.cache_read_tokens.add(call.cache_read_tokens, unknown, context)
        if call.cache_write_tokens is not None:
            self.cache_write_tokens.add(call.cache_write_tokens, unknown, context)
        if call.reasoning_tokens is not None:
            self.reasoning_tokens.add(call.reasoning_tokens, unknown, context)
        self.operation_input_tokens.record(call.input_tokens or 0, shape.attrs, context)
        self.operation_output_tokens.record(call.output_tokens or 0, shape.attrs, context)
