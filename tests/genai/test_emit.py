"""Emission's pure functions: names and attribute sets from a GenAICall alone."""

from __future__ import annotations

import json

from llmtel import semconv as sc
from llmtel.cost import Cost
from llmtel.genai.emit import content_attributes, end_attributes, metric_attributes, span_name, start_attributes
from llmtel.genai.record import GenAICall


def call(**fields) -> GenAICall:
    return GenAICall(operation="chat", provider="openai", **fields)


def test_span_name():
    assert span_name(call(request_model="gpt-4o")) == "chat gpt-4o"
    assert span_name(GenAICall(operation="fetch_response", provider="openai")) == "fetch_response"


def test_start_attributes_are_the_sampling_relevant_ones():
    c = call(request_model="m", server_address="api.openai.com", server_port=443, temperature=0.5)
    assert start_attributes(c) == {sc.GEN_AI_OPERATION_NAME: "chat", sc.GEN_AI_PROVIDER_NAME: "openai",
                                   sc.GEN_AI_REQUEST_MODEL: "m", sc.SERVER_ADDRESS: "api.openai.com",
                                   sc.SERVER_PORT: 443}


def test_end_attributes_skip_unknowns_and_keep_openai_flavour_to_openai():
    c = call(api_type="chat_completions", system_fingerprint="fp", input_tokens=0, finish_reasons=["stop"])
    attrs = end_attributes(c, None)
    assert attrs == {sc.OPENAI_API_TYPE: "chat_completions", sc.OPENAI_RESPONSE_SYSTEM_FINGERPRINT: "fp",
                     sc.GEN_AI_USAGE_INPUT_TOKENS: 0, sc.GEN_AI_RESPONSE_FINISH_REASONS: ["stop"]}
    azure = GenAICall(operation="chat", provider="azure.ai.openai", api_type="chat_completions", system_fingerprint="fp")
    assert end_attributes(azure, None) == {}


def test_stream_and_cost_attributes():
    c = call(stream=True, chunk_count=3, stream_end="completed", start_perf=1.0, first_chunk_perf=1.25)
    attrs = end_attributes(c, Cost(usd=0.5, status="priced", prices="genai-prices x"))
    assert attrs[sc.GEN_AI_REQUEST_STREAM] is True
    assert (attrs[sc.LLMTEL_STREAM_CHUNKS], attrs[sc.LLMTEL_STREAM_END]) == (3, "completed")
    assert attrs[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] == 0.25
    assert (attrs[sc.LLMTEL_COST_USD], attrs[sc.LLMTEL_COST_STATUS], attrs[sc.LLMTEL_COST_PRICES]) == (
        0.5, "priced", "genai-prices x")
    unknown = end_attributes(call(), Cost(usd=None, status="unknown_model", prices="genai-prices x"))
    assert sc.LLMTEL_COST_USD not in unknown and unknown[sc.LLMTEL_COST_STATUS] == "unknown_model"


def test_metric_attributes_carry_no_ids():
    c = call(request_model="m", response_model="m-1", response_id="chatcmpl-1", error_type="RateLimitError",
             conversation_id="conv", server_address="h", server_port=1)
    assert metric_attributes(c) == {sc.GEN_AI_OPERATION_NAME: "chat", sc.GEN_AI_PROVIDER_NAME: "openai",
                                    sc.GEN_AI_REQUEST_MODEL: "m", sc.GEN_AI_RESPONSE_MODEL: "m-1",
                                    sc.SERVER_ADDRESS: "h", sc.SERVER_PORT: 1, sc.ERROR_TYPE: "RateLimitError"}


def test_content_attributes_are_compact_json_and_flag_truncation():
    c = call(input_messages=[{"role": "user", "parts": [{"type": "text", "content": "é", "truncated": {}}]}])
    attrs = content_attributes(c)
    assert attrs[sc.GEN_AI_INPUT_MESSAGES] == '[{"role":"user","parts":[{"type":"text","content":"é","truncated":{}}]}]'
    assert attrs[sc.LLMTEL_CONTENT_TRUNCATED] is True
    assert json.loads(attrs[sc.GEN_AI_INPUT_MESSAGES])[0]["role"] == "user"
    assert content_attributes(call()) == {}


def test_a_call_finished_where_content_is_withheld_records_none_of_it():
    """``CONTENT_WITHHELD`` in the span's context (an Agents SDK run keeping sensitive data out): the record's
    content reaches neither the span, nor the event, nor the debug view, whatever the policy; the rest stays."""
    from opentelemetry import context as otel_context
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from llmtel.genai.content import CONTENT_WITHHELD, CaptureMode, ContentPolicy
    from llmtel.genai.emit import GenAITelemetry

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    seen: list[GenAICall] = []
    telemetry = GenAITelemetry(tracer_provider=provider, content=ContentPolicy(mode=CaptureMode.SPAN_AND_EVENT),
                               debug_view=lambda record, cost: seen.append(record))
    for withheld in (True, False):
        record = call(request_model="m", input_tokens=3,
                      input_messages=[{"role": "user", "parts": [{"type": "text", "content": "my secret"}]}])
        span = telemetry.start(record)
        context = otel_context.set_value(CONTENT_WITHHELD, True) if withheld else otel_context.Context()
        telemetry.finish(record, span, None, context)
    kept_out, kept = exporter.get_finished_spans()
    assert sc.GEN_AI_INPUT_MESSAGES not in kept_out.attributes and seen[0].input_messages is None
    assert kept_out.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] == 3
    assert "my secret" in kept.attributes[sc.GEN_AI_INPUT_MESSAGES] and seen[1].input_messages
