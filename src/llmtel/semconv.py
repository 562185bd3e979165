"""Every telemetry name llmtel emits, in one place.

Span attributes and events follow the OpenTelemetry GenAI semantic conventions as they stand in the
``semantic-conventions-genai`` repository (after v1.41.0; still "Development"). Metric names follow
v1.41.0 by default, which is what dashboards and the other implementations read; the newest ones
(semantic-conventions-genai v0.1.0) with ``OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental``.
Names with no convention (cost) live under ``llmtel.*``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

GENAI_SEMCONV_VERSION: Final = (
    "semantic-conventions-genai main (2026-08, after v1.41.0); metrics v1.41.0, or v0.1.0's when opted in"
)
SCHEMA_URL: Final = "https://opentelemetry.io/schemas/1.41.0"

# --- span: operation and provider -------------------------------------------------------------------
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_CONVERSATION_ID: Final = "gen_ai.conversation.id"
GEN_AI_CONVERSATION_COMPACTED: Final = "gen_ai.conversation.compacted"  # set only to true
GEN_AI_OUTPUT_TYPE: Final = "gen_ai.output.type"

# --- span: request -----------------------------------------------------------------------------------
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
GEN_AI_REQUEST_TOP_P: Final = "gen_ai.request.top_p"
GEN_AI_REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_SEED: Final = "gen_ai.request.seed"
GEN_AI_REQUEST_STOP_SEQUENCES: Final = "gen_ai.request.stop_sequences"
GEN_AI_REQUEST_FREQUENCY_PENALTY: Final = "gen_ai.request.frequency_penalty"
GEN_AI_REQUEST_PRESENCE_PENALTY: Final = "gen_ai.request.presence_penalty"
GEN_AI_REQUEST_CHOICE_COUNT: Final = "gen_ai.request.choice.count"
GEN_AI_REQUEST_STREAM: Final = "gen_ai.request.stream"
GEN_AI_REQUEST_REASONING_LEVEL: Final = "gen_ai.request.reasoning.level"
GEN_AI_REQUEST_ENCODING_FORMATS: Final = "gen_ai.request.encoding_formats"
GEN_AI_REQUEST_PREVIOUS_RESPONSE_ID: Final = "gen_ai.request.previous_response.id"
GEN_AI_EMBEDDINGS_DIMENSION_COUNT: Final = "gen_ai.embeddings.dimension.count"

# --- span: response ----------------------------------------------------------------------------------
GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: Final = "gen_ai.response.time_to_first_chunk"

# --- span: usage -------------------------------------------------------------------------------------
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: Final = "gen_ai.usage.cache_write.input_tokens"
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: Final = "gen_ai.usage.reasoning.output_tokens"
GEN_AI_USAGE_AUDIO_INPUT_TOKENS: Final = "gen_ai.usage.audio.input_tokens"
GEN_AI_USAGE_AUDIO_OUTPUT_TOKENS: Final = "gen_ai.usage.audio.output_tokens"
GEN_AI_USAGE_IMAGE_INPUT_TOKENS: Final = "gen_ai.usage.image.input_tokens"

# --- span: content (opt-in) --------------------------------------------------------------------------
GEN_AI_INPUT_MESSAGES: Final = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
GEN_AI_SYSTEM_INSTRUCTIONS: Final = "gen_ai.system_instructions"
GEN_AI_TOOL_DEFINITIONS: Final = "gen_ai.tool.definitions"

# execute_tool spans (``llmtel.tool``)
GEN_AI_TOOL_NAME: Final = "gen_ai.tool.name"
GEN_AI_TOOL_CALL_ID: Final = "gen_ai.tool.call.id"
GEN_AI_TOOL_DESCRIPTION: Final = "gen_ai.tool.description"
GEN_AI_TOOL_TYPE: Final = "gen_ai.tool.type"  # function | extension | datastore
GEN_AI_TOOL_CALL_ARGUMENTS: Final = "gen_ai.tool.call.arguments"  # opt-in content
GEN_AI_TOOL_CALL_RESULT: Final = "gen_ai.tool.call.result"  # opt-in content, only when the tool succeeded

# invoke_agent spans (``llmtel.agent``, in-process agents: INTERNAL, without gen_ai.agent.id / version / provider)
GEN_AI_AGENT_NAME: Final = "gen_ai.agent.name"
GEN_AI_AGENT_DESCRIPTION: Final = "gen_ai.agent.description"
GEN_AI_DATA_SOURCE_ID: Final = "gen_ai.data_source.id"

# the named, versioned prompt template a call was made from (``llmtel.prompt``, a Responses stored prompt)
GEN_AI_PROMPT_NAME: Final = "gen_ai.prompt.name"
GEN_AI_PROMPT_VERSION: Final = "gen_ai.prompt.version"

# invoke_workflow: a pipeline run (``llmtel.run``) started in this process
GEN_AI_WORKFLOW_NAME: Final = "gen_ai.workflow.name"

# --- OpenAI-specific ---------------------------------------------------------------------------------
OPENAI_API_TYPE: Final = "openai.api.type"
OPENAI_REQUEST_SERVICE_TIER: Final = "openai.request.service_tier"
OPENAI_RESPONSE_SERVICE_TIER: Final = "openai.response.service_tier"
OPENAI_RESPONSE_SYSTEM_FINGERPRINT: Final = "openai.response.system_fingerprint"

# --- general -----------------------------------------------------------------------------------------
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
ERROR_TYPE: Final = "error.type"
ERROR_TYPE_OTHER: Final = "_OTHER"
HTTP_RESPONSE_STATUS_CODE: Final = "http.response.status_code"

# --- llmtel's own (no convention exists) ---------------------------------------------------------------
LLMTEL_COST_USD: Final = "llmtel.cost.usd"
LLMTEL_COST_STATUS: Final = "llmtel.cost.status"  # priced | partially_priced | unknown_model | no_usage | invalid_usage
LLMTEL_COST_PRICES: Final = "llmtel.cost.prices"  # which price data produced the number
LLMTEL_USAGE_SOURCE: Final = "llmtel.usage.source"  # response | stream_usage_chunk | injected | absent | background_result
#   | invalid: the reply reported a count that is not one (negative, not a whole number, beyond 2**32 - 1)
USAGE_SOURCE_INVALID: Final = "invalid"
# Hosted tool calls billed beyond the tokens (``GenAICall.hosted_tool_calls``), by kind: the attribute counting
# each. Searches are billed per call; code interpreter sessions per container and time, which a reply does not
# tell; image generations apart from the tokens the reply reports.
HOSTED_TOOL_WEB_SEARCH: Final = "web_search"
HOSTED_TOOL_FILE_SEARCH: Final = "file_search"
HOSTED_TOOL_CODE_INTERPRETER: Final = "code_interpreter"
HOSTED_TOOL_IMAGE_GENERATION: Final = "image_generation"
LLMTEL_USAGE_TOOL_CALLS: Final[Mapping[str, str]] = {
    HOSTED_TOOL_WEB_SEARCH: "llmtel.usage.web_search_calls",
    HOSTED_TOOL_FILE_SEARCH: "llmtel.usage.file_search_calls",
    HOSTED_TOOL_CODE_INTERPRETER: "llmtel.usage.code_interpreter_calls",
    HOSTED_TOOL_IMAGE_GENERATION: "llmtel.usage.image_generation_calls",
}


def tool_calls_attribute(kind: str) -> str:
    """The attribute counting a call's hosted ``kind`` tool calls (``llmtel.usage.{kind}_calls``)."""
    return LLMTEL_USAGE_TOOL_CALLS.get(kind) or f"llmtel.usage.{kind}_calls"


LLMTEL_STREAM_CHUNKS: Final = "llmtel.stream.chunks"
LLMTEL_STREAM_END: Final = "llmtel.stream.end"  # completed | closed | abandoned | error | cancelled
LLMTEL_CONTENT_TRUNCATED: Final = "llmtel.content.truncated"

# --- operation names and values ----------------------------------------------------------------------
OP_CHAT: Final = "chat"
OP_TEXT_COMPLETION: Final = "text_completion"
OP_EMBEDDINGS: Final = "embeddings"
OP_FETCH_RESPONSE: Final = "fetch_response"
OP_COMPACT: Final = "compact"  # the Responses API's compaction endpoint (no well-known name in the conventions)
OP_EXECUTE_TOOL: Final = "execute_tool"
OP_INVOKE_AGENT: Final = "invoke_agent"
OP_INVOKE_WORKFLOW: Final = "invoke_workflow"

TOOL_TYPES: Final = ("function", "extension", "datastore")  # ``gen_ai.tool.type``'s well-known values

PROVIDER_OPENAI: Final = "openai"
PROVIDER_AZURE_OPENAI: Final = "azure.ai.openai"
PROVIDER_AWS_BEDROCK: Final = "aws.bedrock"
PROVIDER_GCP_VERTEX_AI: Final = "gcp.vertex_ai"
PROVIDER_AZURE_AI_INFERENCE: Final = "azure.ai.inference"
PROVIDER_ANTHROPIC: Final = "anthropic"
PROVIDER_COHERE: Final = "cohere"
PROVIDER_DEEPSEEK: Final = "deepseek"
PROVIDER_GCP_GEMINI: Final = "gcp.gemini"
PROVIDER_GROQ: Final = "groq"
PROVIDER_IBM_WATSONX_AI: Final = "ibm.watsonx.ai"
PROVIDER_MISTRAL_AI: Final = "mistral_ai"
PROVIDER_MOONSHOT_AI: Final = "moonshot_ai"
PROVIDER_PERPLEXITY: Final = "perplexity"
PROVIDER_X_AI: Final = "x_ai"

API_TYPE_CHAT_COMPLETIONS: Final = "chat_completions"
API_TYPE_RESPONSES: Final = "responses"

# --- events ------------------------------------------------------------------------------------------
EVENT_INFERENCE_DETAILS: Final = "gen_ai.client.inference.operation.details"
EVENT_OPERATION_EXCEPTION: Final = "gen_ai.client.operation.exception"  # v1.41: an operation raised
EXCEPTION_TYPE: Final = "exception.type"
EXCEPTION_MESSAGE: Final = "exception.message"
EXCEPTION_STACKTRACE: Final = "exception.stacktrace"
# --- log records: where they were written (the conventions' code and thread attributes) ------------------
CODE_FILE_PATH: Final = "code.file.path"
CODE_FUNCTION_NAME: Final = "code.function.name"
CODE_LINE_NUMBER: Final = "code.line.number"
CODE_STACKTRACE: Final = "code.stacktrace"  # ``log.info(..., stack_info=True)``: the stack where it was written
THREAD_NAME: Final = "thread.name"
LOGGER_NAME: Final = "logger.name"  # llmtel's: the stdlib logger's name (the scope's name too)

# --- metrics (v1.41.0 names) -------------------------------------------------------------------------
METRIC_OPERATION_DURATION: Final = "gen_ai.client.operation.duration"
METRIC_TOKEN_USAGE: Final = "gen_ai.client.token.usage"
METRIC_TIME_TO_FIRST_CHUNK: Final = "gen_ai.client.operation.time_to_first_chunk"
METRIC_TIME_PER_OUTPUT_CHUNK: Final = "gen_ai.client.operation.time_per_output_chunk"
METRIC_COST: Final = "llmtel.client.cost"
# one point per ``llmtel.run`` as it ends, by run name (and error.type): its duration, and its calls' cost
METRIC_RUN_DURATION: Final = "llmtel.run.duration"
METRIC_RUN_COST: Final = "llmtel.run.cost"
GEN_AI_TOKEN_TYPE: Final = "gen_ai.token.type"
TOKEN_TYPE_INPUT: Final = "input"
TOKEN_TYPE_OUTPUT: Final = "output"

# --- metrics, newest names (semantic-conventions-genai v0.1.0; OTEL_SEMCONV_STABILITY_OPT_IN) ---------------
SEMCONV_OPT_IN_GENAI_LATEST: Final = "gen_ai_latest_experimental"  # the opt-in's token for the GenAI conventions
METRIC_INFERENCE_DURATION: Final = "gen_ai.client.inference.duration"  # chat, text_completion (and compact)
METRIC_INFERENCE_TIME_TO_FIRST_CHUNK: Final = "gen_ai.client.inference.time_to_first_chunk"
METRIC_INFERENCE_TIME_PER_OUTPUT_CHUNK: Final = "gen_ai.client.inference.time_per_output_chunk"
# counters, by gen_ai.token.modality; the cache and reasoning ones count subsets of the input and output ones
METRIC_USAGE_INPUT_TOKENS: Final = "gen_ai.client.inference.usage.input_tokens"
METRIC_USAGE_OUTPUT_TOKENS: Final = "gen_ai.client.inference.usage.output_tokens"
METRIC_USAGE_CACHE_READ_TOKENS: Final = "gen_ai.client.inference.usage.cache_read.input_tokens"
METRIC_USAGE_CACHE_WRITE_TOKENS: Final = "gen_ai.client.inference.usage.cache_write.input_tokens"
METRIC_USAGE_REASONING_TOKENS: Final = "gen_ai.client.inference.usage.reasoning.output_tokens"
# histograms, one point per operation (not by modality: percentiles across modalities do not add up)
METRIC_OPERATION_INPUT_TOKENS: Final = "gen_ai.client.inference.operation.input_tokens"
METRIC_OPERATION_OUTPUT_TOKENS: Final = "gen_ai.client.inference.operation.output_tokens"
METRIC_EMBEDDINGS_DURATION: Final = "gen_ai.client.embeddings.duration"
METRIC_EMBEDDINGS_INPUT_TOKENS: Final = "gen_ai.client.embeddings.operation.input_tokens"
GEN_AI_TOKEN_MODALITY: Final = "gen_ai.token.modality"
MODALITY_IMAGE: Final = "image"
MODALITY_AUDIO: Final = "audio"
MODALITY_UNKNOWN: Final = "unknown"

DURATION_BUCKETS: Final = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
# a run holds many calls: the calls' boundaries, doubling on to about 22 minutes
RUN_DURATION_BUCKETS: Final = (*DURATION_BUCKETS, 163.84, 327.68, 655.36, 1310.72)
# USD per run: from a thousandth of a cent to a hundred dollars
RUN_COST_BUCKETS: Final = (0.00001, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 50.0, 100.0)
TOKEN_BUCKETS: Final = (
    1,
    4,
    16,
    64,
    256,
    1024,
    4096,
    16384,
    65536,
    262144,
    1048576,
    4194304,
    16777216,
    67108864,
)

# --- workflow, agent and tool metrics (the GenAI conventions' newest; no older names exist, so always on) -----
# One point per run, agent invocation and tool run as it ends, with the span as its context (exemplars).
METRIC_INVOKE_WORKFLOW_DURATION: Final = "gen_ai.invoke_workflow.duration"  # by gen_ai.workflow.name, error.type
METRIC_INVOKE_AGENT_DURATION: Final = "gen_ai.invoke_agent.duration"  # by gen_ai.agent.name, request model, error
# the model calls and tool runs one agent invocation made itself (a sub-agent's are its own), failed ones included
METRIC_INVOKE_AGENT_INFERENCE_CALLS: Final = "gen_ai.invoke_agent.inference_calls"  # unit {inference_call}
METRIC_INVOKE_AGENT_TOOL_CALLS: Final = "gen_ai.invoke_agent.tool_calls"  # unit {tool_call}
METRIC_EXECUTE_TOOL_DURATION: Final = "gen_ai.execute_tool.duration"  # by tool name and type, agent name, error
WORKFLOW_DURATION_BUCKETS: Final = (1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200)
AGENT_DURATION_BUCKETS: Final = (0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 51.2, 102.4, 204.8, 409.6)
CALL_COUNT_BUCKETS: Final = (1, 2, 4, 8, 16, 32, 64, 128)

# --- resilient export: the export pipeline's own counters (observable, unit {item}) -------------------------
METRIC_EXPORT_EXPORTED: Final = "llmtel.export.exported"  # delivered on the first attempt
METRIC_EXPORT_SPOOLED: Final = "llmtel.export.spooled"  # written to the disk spool
METRIC_EXPORT_REPLAYED: Final = "llmtel.export.replayed"  # delivered from the spool
METRIC_EXPORT_DROPPED: Final = "llmtel.export.dropped"  # lost for good
METRIC_EXPORT_SPOOL_SIZE: Final = "llmtel.export.spool.size"  # bytes on disk now (observable gauge, By)
LLMTEL_EXPORT_SIGNAL: Final = "llmtel.export.signal"  # traces | logs | metrics
LLMTEL_EXPORT_DROP_REASON: Final = "llmtel.export.drop.reason"  # queue_full | spool_full | rejected | damaged | ...

# --- pipeline context (llmtel.run / llmtel.step) ----------------------------------------------------------
LLMTEL_RUN_ID: Final = "llmtel.run.id"
LLMTEL_RUN_NAME: Final = "llmtel.run.name"
# the run's LLM calls summed, on the run's span alone (set as it ends; calls made in this process)
LLMTEL_RUN_LLM_CALLS: Final = "llmtel.run.llm_calls"
LLMTEL_RUN_TOOL_CALLS: Final = "llmtel.run.tool_calls"  # tool runs (``llmtel.tool``) started inside
LLMTEL_RUN_INPUT_TOKENS: Final = "llmtel.run.usage.input_tokens"
LLMTEL_RUN_OUTPUT_TOKENS: Final = "llmtel.run.usage.output_tokens"
LLMTEL_RUN_COST_USD: Final = "llmtel.run.cost.usd"
LLMTEL_RUN_COST_STATUS: Final = "llmtel.run.cost.status"  # priced | partially_priced | unpriced
LLMTEL_STEP: Final = "llmtel.step"
# an agent's LLM calls and tool runs summed, on its invoke_agent span (its tokens go in gen_ai.usage.*)
LLMTEL_AGENT_LLM_CALLS: Final = "llmtel.agent.llm_calls"
LLMTEL_AGENT_TOOL_CALLS: Final = "llmtel.agent.tool_calls"
LLMTEL_AGENT_COST_USD: Final = "llmtel.agent.cost.usd"
LLMTEL_AGENT_COST_STATUS: Final = "llmtel.agent.cost.status"  # priced | partially_priced | unpriced
# the OpenAI Agents SDK's own steps that have no GenAI convention (``llmtel.instrumentation.openai_agents``)
LLMTEL_GUARDRAIL_NAME: Final = "llmtel.guardrail.name"
LLMTEL_GUARDRAIL_TRIGGERED: Final = "llmtel.guardrail.triggered"  # the guardrail's tripwire fired
LLMTEL_HANDOFF_FROM_AGENT: Final = "llmtel.handoff.from_agent"
LLMTEL_HANDOFF_TO_AGENT: Final = "llmtel.handoff.to_agent"
LLMTEL_OPENAI_AGENTS_TRACE_ID: Final = "llmtel.openai_agents.trace_id"  # the SDK's trace id (trace_...)
# the trace's metadata (``agents.trace(metadata=...)``, ``RunConfig(trace_metadata=...)``), one attribute per key
LLMTEL_OPENAI_AGENTS_METADATA_PREFIX: Final = "llmtel.openai_agents.metadata."
OP_GUARDRAIL: Final = "guardrail"  # span names: ``guardrail {name}``, ``handoff {to agent}``
OP_HANDOFF: Final = "handoff"
SESSION_ID: Final = "session.id"
USER_ID: Final = "user.id"
# W3C baggage keys that carry a run across service boundaries (same names as the span attributes)
BAGGAGE_KEYS: Final = (LLMTEL_RUN_ID, SESSION_ID, USER_ID)
# fields stamped on every stdlib LogRecord (for the app's own formatters: ``%(run_id)s``)
LOG_TRACE_ID: Final = "trace_id"
LOG_SPAN_ID: Final = "span_id"
LOG_TRACE_FLAGS: Final = "trace_flags"
LOG_RUN_ID: Final = "run_id"
LOG_STEP: Final = "step"
LOG_SESSION_ID: Final = "session_id"
LOG_USER_ID: Final = "user_id"
LOG_STAMP_FIELDS: Final = (LOG_TRACE_ID, LOG_SPAN_ID, LOG_TRACE_FLAGS, LOG_RUN_ID, LOG_STEP, LOG_SESSION_ID, LOG_USER_ID)
# payload of the step's own log records
LOG_DURATION_MS: Final = "duration_ms"
LOG_OUTCOME: Final = "outcome"  # ok | error
LOG_EVENT: Final = "event"
# attributes of a shipped log record whose message could not be made from its template and arguments
LLMTEL_LOG_FORMAT_ERROR: Final = "llmtel.log.format_error"
LLMTEL_LOG_ARGS: Final = "llmtel.log.args"  # the arguments, masked, as their repr
LLMTEL_SESSION_TURN: Final = "llmtel.session.turn"  # 1-based turn of a multi-turn conversation (no convention yet)

# --- error diagnostics (llmtel's own) ---------------------------------------------------------------------
LLMTEL_ERROR_MODE: Final = "llmtel.error.mode"  # rate_limited | context_length_exceeded | authentication | ...
LLMTEL_ERROR_HINT: Final = "llmtel.error.hint"  # one actionable line
LLMTEL_ERROR_RETRY_AFTER: Final = "llmtel.error.retry_after"  # seconds the provider asked to wait
LLMTEL_ERROR_CODE: Final = "llmtel.error.code"  # the provider's own error code (rate_limit_exceeded, ...)
LLMTEL_ERROR_RETRYABLE: Final = "llmtel.error.retryable"
LOG_EVENT_LLM_CALL_FAILED: Final = "llm_call_failed"

# --- evaluation / user feedback (gen_ai.evaluation.result event, since v1.38) -----------------------------
EVENT_EVALUATION_RESULT: Final = "gen_ai.evaluation.result"
GEN_AI_EVALUATION_NAME: Final = "gen_ai.evaluation.name"
GEN_AI_EVALUATION_SCORE_VALUE: Final = "gen_ai.evaluation.score.value"
GEN_AI_EVALUATION_SCORE_LABEL: Final = "gen_ai.evaluation.score.label"
GEN_AI_EVALUATION_EXPLANATION: Final = "gen_ai.evaluation.explanation"
