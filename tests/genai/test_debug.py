"""The debug view: the pure formatter, the consumer, and content collected for it without being exported."""

from __future__ import annotations

import io

from llmtel import semconv as sc
from llmtel.cost import Cost, PriceBook
from llmtel.genai.content import CaptureMode, ContentPolicy
from llmtel.genai.debug import DebugView, format_call
from llmtel.genai.diagnostics import diagnose
from llmtel.genai.record import GenAICall


def finished_call(**fields) -> GenAICall:
    call = GenAICall(operation="chat", provider="openai", request_model="gpt-4o-mini", start_perf=10.0, end_perf=10.25)
    for name, value in fields.items():
        setattr(call, name, value)
    return call


def test_format_call_shows_model_latency_tokens_cost_and_content():
    call = finished_call(
        response_model="gpt-4o-mini-2024-07-18",
        input_tokens=120,
        cache_read_tokens=100,
        output_tokens=7,
        finish_reasons=["stop"],
        response_id="chatcmpl-1",
        input_messages=[
            {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
            {"role": "user", "parts": [{"type": "text", "content": "line one\nline two"}]},
        ],
        output_messages=[
            {"role": "assistant", "parts": [
                {"type": "text", "content": "Sure."},
                {"type": "tool_call", "id": "call_1", "name": "lookup", "arguments": {"q": "x"}},
            ]}
        ],
    )
    text = format_call(call, Cost(usd=0.0000123, status="priced", prices="test"))
    lines = text.splitlines()
    assert lines[0] == "[llmtel] chat gpt-4o-mini -> gpt-4o-mini-2024-07-18 (openai) 250.0 ms"
    assert "tokens: 120 in (100 cached), 7 out" in lines[1]
    assert "cost: $0.000012" in lines[1] and "finish: stop" in lines[1] and "id: chatcmpl-1" in lines[1]
    assert "    > system: Be brief." in lines
    assert "    > user: line one" in lines and "      line two" in lines  # continuation lines indented
    assert '    < assistant: Sure. | tool call lookup({"q": "x"}) id=call_1' in lines


def test_format_call_shows_the_searches_and_a_partial_cost():
    call = GenAICall(operation="chat", provider="openai", request_model="agent", input_tokens=10, output_tokens=5,
                     hosted_tool_calls={"web_search": 2, "file_search": 1})
    text = format_call(call, Cost(usd=0.02, status="partially_priced", prices="test"))
    assert "tools: 2 web search, 1 file search  cost: $0.020000 (partially priced)" in text


def test_format_call_names_the_subsets_of_the_token_counts():
    call = GenAICall("chat", "openai", request_model="gpt-audio", input_tokens=900, output_tokens=300,
                     cache_read_tokens=100, cache_write_tokens=50, input_audio_tokens=600, input_image_tokens=20,
                     reasoning_tokens=40, output_audio_tokens=200, start_perf=1.0, end_perf=1.5)
    text = format_call(call, None)
    assert ("tokens: 900 in (100 cached, 50 written to the cache, 600 audio, 20 image), "
            "300 out (40 reasoning, 200 audio)") in text


def test_format_call_failure_and_stream_timing():
    call = finished_call(
        stream=True,
        first_chunk_perf=10.05,
        error_type="RateLimitError",
        error_message="Error code: 429",
        diagnosis=diagnose(status=429, headers={"retry-after": "2"}),
    )
    text = format_call(call)
    assert "first chunk 50.0 ms" in text.splitlines()[0]
    assert "tokens: not reported" in text
    assert "! error: RateLimitError: Error code: 429" in text
    assert "! rate_limited: rate limit reached" in text and "wait 2 s" in text


def test_debug_view_writes_the_cost_emission_computed_and_survives_a_broken_stream():
    out = io.StringIO()
    call = finished_call(input_tokens=1_000_000, output_tokens=0)
    cost = PriceBook({"gpt-4o-mini": {"input": 1.0, "output": 2.0}}).cost_of_counts(
        call.provider, call.request_model, call.input_tokens, call.output_tokens)
    DebugView(stream=out)(call, cost)
    assert "cost: $1.000000" in out.getvalue()

    class Broken(io.StringIO):
        def write(self, text):
            raise OSError("closed")

    broken = DebugView(stream=Broken())
    broken(call, cost)  # never raises
    broken(call, cost)  # and warns only once
    assert broken._warned


def test_collect_extracts_content_without_exporting_it():
    collect_only = ContentPolicy(collect=True)
    assert collect_only.capture and not collect_only.on_span and not collect_only.on_event
    assert not ContentPolicy().capture
    assert ContentPolicy(mode=CaptureMode.EVENT_ONLY).capture


def test_format_agent_names_an_unnamed_agent_and_a_cost_it_could_not_price():
    from llmtel.genai.debug import format_agent

    totals = {sc.LLMTEL_AGENT_LLM_CALLS: 1, sc.GEN_AI_USAGE_INPUT_TOKENS: 5, sc.LLMTEL_AGENT_COST_STATUS: "unpriced"}
    assert format_agent(None, 0.25, totals) == (
        "[llmtel] invoke_agent (unnamed) 250.0 ms\n    1 LLM call  0 tool runs  tokens: 5 in, 0 out  cost: unpriced"
    )
    partial = {sc.LLMTEL_AGENT_LLM_CALLS: 2, sc.LLMTEL_AGENT_COST_USD: 0.5,
               sc.LLMTEL_AGENT_COST_STATUS: "partially_priced"}
    assert format_agent("a", None, partial, "X: y").splitlines() == [
        "[llmtel] invoke_agent a ?",
        "    2 LLM calls  0 tool runs  cost: $0.500000 (partially priced)",
        "    ! error: X: y",
    ]


def test_format_tool_without_arguments_or_call_id():
    from llmtel.genai.debug import format_tool

    assert format_tool("noop", 0.001) == "[llmtel] execute_tool noop 1.0 ms"
