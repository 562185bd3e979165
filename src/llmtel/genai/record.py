"""The provider-neutral record of one GenAI call: what was asked, what came back, tokens, timing, errors.

Provider instrumentations fill it in (extraction); ``llmtel.genai.emit`` turns it into spans, metrics,
events and cost (emission). Neither side knows the other's details.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from llmtel.genai.diagnostics import Diagnosis

# The largest token count a record takes, and the viewer stores: far above any model's context, and small enough
# that no plausible sum of counts reaches the 64-bit integers OTLP and SQLite carry. A count above it, a negative
# one or one that is not a whole number is not a count.
MAX_TOKEN_COUNT: Final = 2**32 - 1


@dataclass(slots=True)
class GenAICall:
    """One call to a model API. ``None`` means "not known"; emission skips unknown values."""

    operation: str
    provider: str
    request_model: str | None = None
    api_type: str | None = None
    server_address: str | None = None
    server_port: int | None = None

    # request parameters
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    stop_sequences: tuple[str, ...] | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    choice_count: int | None = None
    stream: bool = False
    reasoning_level: str | None = None
    request_service_tier: str | None = None
    encoding_formats: tuple[str, ...] | None = None
    dimensions: int | None = None
    output_type: str | None = None
    previous_response_id: str | None = None
    conversation_id: str | None = None
    conversation_compacted: bool | None = None  # True when the call compacted the conversation, else unset
    prompt_name: str | None = None  # the prompt template the call was made from, and its version
    prompt_version: str | None = None

    # response
    response_id: str | None = None
    response_model: str | None = None
    finish_reasons: Sequence[str] = ()  # one per choice, in choice order
    response_service_tier: str | None = None
    system_fingerprint: str | None = None

    # usage; input/output are totals, the others subsets of them
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None
    # per-modality subsets, set only when the call had some (most calls are text alone)
    input_audio_tokens: int | None = None
    output_audio_tokens: int | None = None
    input_image_tokens: int | None = None
    usage_source: str | None = None  # response | stream_usage_chunk | injected | absent | background_result
    # hosted tools billed beyond the tokens (searches, code interpreter, image generation: ``semconv.HOSTED_TOOL_*``),
    # by kind; set only when the call made some, and only where its usage is counted
    hosted_tool_calls: dict[str, int] | None = None

    # timing: wall clock for the span, a monotonic clock for durations
    start_time_ns: int = 0
    start_perf: float = 0.0
    first_chunk_perf: float | None = None
    end_perf: float | None = None
    chunk_count: int = 0
    chunk_times: list[float] | None = None  # monotonic arrival of each chunk, kept only when chunk timing is on
    stream_end: str | None = None  # completed | closed | abandoned | error | cancelled

    # failure
    error_type: str | None = None
    error_message: str | None = None
    http_status: int | None = None
    diagnosis: Diagnosis | None = None  # failure mode and hint, filled by the provider's error extraction

    # content, filled only when the content policy captures it (structured, pre-serialisation)
    input_messages: list[dict[str, Any]] | None = None
    output_messages: list[dict[str, Any]] | None = None
    system_instructions: list[dict[str, Any]] | None = None
    tool_definitions: list[dict[str, Any]] | None = None

    @property
    def duration(self) -> float | None:
        """Seconds from the call's start to its end, once ended."""
        return None if self.end_perf is None else self.end_perf - self.start_perf

    @property
    def time_to_first_chunk(self) -> float | None:
        """Seconds from the call's start to the first streamed chunk, for streams that produced one."""
        return None if self.first_chunk_perf is None else self.first_chunk_perf - self.start_perf
