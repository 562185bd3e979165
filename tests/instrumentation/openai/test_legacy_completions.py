"""Legacy Completions (``client.completions``): non-streamed and streamed, sync and async."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from llmtel import semconv as sc
from llmtel.testing import CompletionReply, ErrorReply, Usage
from tests.instrumentation.openai import _stream_helpers
from tests.instrumentation.openai._stream_helpers import check_stream_span

# shared fixtures (see _stream_helpers)
aclient = _stream_helpers.aclient
client = _stream_helpers.client
frozen = _stream_helpers.frozen
frozen_heap = _stream_helpers.frozen_heap
guard = _stream_helpers.guard

openai = pytest.importorskip("openai")

pytestmark = pytest.mark.timeout(20)

MODEL = "gpt-3.5-turbo-instruct"
USAGE = Usage(prompt=100, completion=20)
COST = (100 * 1.5 + 20 * 2.0) / 1e6  # gpt-3.5-turbo-instruct: $1.50/M input, $2.00/M output


def expected(fake: Any, response_id: str, **extra: Any) -> dict[str, Any]:
    attrs = {
        sc.GEN_AI_OPERATION_NAME: "text_completion",
        sc.GEN_AI_PROVIDER_NAME: "openai",
        sc.GEN_AI_REQUEST_MODEL: MODEL,
        sc.SERVER_ADDRESS: "127.0.0.1",
        sc.SERVER_PORT: fake.port,
        sc.GEN_AI_RESPONSE_ID: response_id,
        sc.GEN_AI_RESPONSE_MODEL: MODEL,
        sc.GEN_AI_USAGE_INPUT_TOKENS: 100,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: 20,
        sc.LLMTEL_USAGE_SOURCE: "response",
        sc.OPENAI_RESPONSE_SYSTEM_FINGERPRINT: "fp_fake0001",
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
        sc.LLMTEL_COST_STATUS: "priced",
        sc.LLMTEL_COST_USD: pytest.approx(COST),
    }
    attrs.update(extra)
    return attrs


def without_prices(attrs: Any) -> dict[str, Any]:
    attrs = dict(attrs)
    assert attrs.pop(sc.LLMTEL_COST_PRICES).startswith("genai-prices ")
    return attrs


def test_completion_has_exactly_the_expected_attributes(instrument, telemetry, client, fake):
    instrument()
    fake.enqueue(CompletionReply("Hello there", usage=USAGE))
    result = client.completions.create(model=MODEL, prompt="hi", max_tokens=30, temperature=0.5, stop=["\n"],
                                       seed=4)
    assert type(result) is openai.types.Completion
    span = telemetry.one_llm_span()
    assert span.name == f"text_completion {MODEL}"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert without_prices(span.attributes) == expected(fake, result.id, **{
        sc.GEN_AI_REQUEST_MAX_TOKENS: 30, sc.GEN_AI_REQUEST_TEMPERATURE: 0.5,
        sc.GEN_AI_REQUEST_STOP_SEQUENCES: ("\n",), sc.GEN_AI_REQUEST_SEED: 4})
    assert not [k for k in span.attributes if k.startswith("openai.api")]  # no api.type for legacy completions
    tokens = {p.attributes[sc.GEN_AI_TOKEN_TYPE]: p.sum for p in telemetry.metric_points(sc.METRIC_TOKEN_USAGE)}
    assert tokens == {"input": 100, "output": 20}


def test_completion_content_and_choices(instrument, telemetry, client, fake):
    instrument(capture_content=True, redactor=None)
    fake.enqueue(CompletionReply(("first", "second"), finish_reason="length"))
    client.completions.create(model=MODEL, prompt="write", n=2)
    attrs = telemetry.one_llm_span().attributes
    assert attrs[sc.GEN_AI_REQUEST_CHOICE_COUNT] == 2
    assert attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("length", "length")
    assert json.loads(attrs[sc.GEN_AI_INPUT_MESSAGES]) == [{"role": "user", "parts": [
        {"type": "text", "content": "write"}]}]
    assert json.loads(attrs[sc.GEN_AI_OUTPUT_MESSAGES]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "first"}], "finish_reason": "length"},
        {"role": "assistant", "parts": [{"type": "text", "content": "second"}], "finish_reason": "length"}]


def test_completion_error(instrument, telemetry, client, fake):
    instrument()
    fake.enqueue(ErrorReply.server_error())
    with pytest.raises(openai.InternalServerError):
        client.completions.create(model=MODEL, prompt="hi")
    span = telemetry.one_llm_span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[sc.ERROR_TYPE] == "InternalServerError"


def test_async_completion(instrument, telemetry, aclient, fake):
    instrument()
    fake.enqueue(CompletionReply("Hello there", usage=USAGE))
    result = asyncio.run(aclient.completions.create(model=MODEL, prompt="hi"))
    assert without_prices(telemetry.one_llm_span().attributes) == expected(fake, result.id)


def test_stream_with_usage_and_content(instrument, telemetry, client, fake, guard):
    instrument(capture_content=True, redactor=None)
    fake.enqueue(CompletionReply("one two three", usage=USAGE))
    stream = client.completions.create(model=MODEL, prompt="count", stream=True,
                                       stream_options={"include_usage": True})
    assert type(stream) is openai.Stream
    chunks = list(stream)
    assert len(chunks) == 5  # three pieces, the finish chunk, the usage chunk
    attrs = check_stream_span(telemetry, end="completed", chunks=5, finish=["stop"])
    expected_attrs = expected(fake, chunks[0].id, **{sc.LLMTEL_USAGE_SOURCE: "stream_usage_chunk"})
    content = {k: attrs.pop(k) for k in (sc.GEN_AI_INPUT_MESSAGES, sc.GEN_AI_OUTPUT_MESSAGES)}
    stream_attrs = {k: attrs.pop(k) for k in (sc.GEN_AI_REQUEST_STREAM, sc.LLMTEL_STREAM_CHUNKS,
                                              sc.LLMTEL_STREAM_END, sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK)}
    assert stream_attrs[sc.LLMTEL_STREAM_END] == "completed"
    assert without_prices(attrs) == expected_attrs
    assert json.loads(content[sc.GEN_AI_OUTPUT_MESSAGES]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "one two three"}], "finish_reason": "stop"}]
    (ttfc,) = telemetry.metric_points(sc.METRIC_TIME_TO_FIRST_CHUNK)
    assert ttfc.count == 1
    guard.check()


def test_stream_n2_without_usage(instrument, telemetry, client, fake, guard):
    instrument(capture_content=True, redactor=None)
    fake.enqueue(CompletionReply(("a b", "c d"), finish_reason="length"))
    chunks = list(client.completions.create(model=MODEL, prompt="x", n=2, stream=True))
    assert len(chunks) == 6
    attrs = check_stream_span(telemetry, end="completed", chunks=6, finish=["length", "length"])
    assert attrs[sc.LLMTEL_USAGE_SOURCE] == "absent"
    assert [m["parts"][0]["content"] for m in json.loads(attrs[sc.GEN_AI_OUTPUT_MESSAGES])] == ["a b", "c d"]
    guard.check()


def test_async_stream(instrument, telemetry, aclient, fake, guard):
    instrument()
    fake.enqueue(CompletionReply("one two three", usage=USAGE))

    async def main():
        stream = await aclient.completions.create(model=MODEL, prompt="count", stream=True,
                                                  stream_options={"include_usage": True})
        assert type(stream) is openai.AsyncStream
        return [c async for c in stream]

    chunks = asyncio.run(main())
    attrs = check_stream_span(telemetry, end="completed", chunks=len(chunks), finish=["stop"])
    assert len(chunks) == 5
    assert (attrs[sc.GEN_AI_USAGE_INPUT_TOKENS], attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS]) == (100, 20)
    assert attrs[sc.LLMTEL_COST_USD] == pytest.approx(COST)
    guard.check()
