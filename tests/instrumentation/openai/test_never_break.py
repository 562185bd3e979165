"""llmtel never changes what the caller gets: when its own code fails the call or stream goes on and returns
exactly what the SDK made, one warning is logged per kind of failure, and the span still ends. Also the raw
and streaming-response routes: the caller's objects are the SDK's, and spans end when they should."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from opentelemetry.trace import StatusCode

from llmtel import semconv as sc
from llmtel.genai import emit
from llmtel.instrumentation.openai import extract, streams, wrappers
from llmtel.testing import ChatReply, RawReply, ResponsesReply, ToolCall
from tests.instrumentation.openai import _stream_helpers
from tests.instrumentation.openai._stream_helpers import CHAT_MODEL, MESSAGES

# shared fixtures (see _stream_helpers)
aclient = _stream_helpers.aclient
client = _stream_helpers.client
frozen = _stream_helpers.frozen
frozen_heap = _stream_helpers.frozen_heap
guard = _stream_helpers.guard

openai = pytest.importorskip("openai")

pytestmark = pytest.mark.timeout(20)

BODY = {
    "id": "chatcmpl-fixed", "object": "chat.completion", "created": 1700000000, "model": "gpt-4o-mini-2024-07-18",
    "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                 "message": {"role": "assistant", "content": "fixed answer", "refusal": None}}],
    "usage": {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9},
    "system_fingerprint": "fp_x",
}
CHUNKS = [
    {"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
     "choices": [{"index": 0, "delta": {"role": "assistant", "content": piece}, "finish_reason": finish}]}
    for piece, finish in (("fixed", None), (" stream", None), ("", "stop"))
]


class Boom(RuntimeError):
    pass


def boom(*args: Any, **kwargs: Any) -> Any:
    raise Boom("llmtel bug")


@pytest.fixture(autouse=True)
def fresh_log_once(monkeypatch):
    """The once-only warnings are per process: start each test with none issued yet."""
    monkeypatch.setattr(wrappers, "_logged", set())
    monkeypatch.setattr(streams, "_logged", set())


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith("llmtel") and r.levelno >= logging.WARNING]


def uninstrumented(client: Any, fake: Any, reply: Any, call: Any) -> Any:
    """What the SDK alone returns for ``reply``."""
    fake.enqueue(reply)
    return call(client)


def chat(client: Any) -> Any:
    return client.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES)


def chat_stream(client: Any) -> list[Any]:
    return list(client.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES, stream=True))


def test_response_extraction_failing(instrument, telemetry, client, fake, monkeypatch, caplog, guard):
    baseline = uninstrumented(client, fake, RawReply.json(BODY), chat)
    instrument()
    monkeypatch.setattr(extract, "apply_response", boom)
    results = []
    for _ in range(3):
        fake.enqueue(RawReply.json(BODY))
        results.append(chat(client))
    assert all(type(r) is type(baseline) and r.model_dump() == baseline.model_dump() for r in results)
    assert warnings(caplog) == ["llmtel: could not read an OpenAI response; the span keeps what is known"]
    spans = telemetry.llm_spans()
    assert len(spans) == 3
    assert all(s.status.status_code is StatusCode.UNSET for s in spans)  # our failure is not the call's
    assert spans[0].attributes[sc.GEN_AI_REQUEST_MODEL] == CHAT_MODEL
    guard.check()


@pytest.mark.parametrize(("target", "warning"), [
    ((extract, "apply_request"), "llmtel: could not read an OpenAI request; it is sent untraced"),
    # as when a span processor raises on start
    ((emit.GenAITelemetry, "start"), "llmtel: could not start the span of an OpenAI request; it is sent untraced"),
], ids=["request extraction", "span start"])
def test_failing_before_the_request_sends_the_call_untraced(target, warning, instrument, telemetry, client, fake,
                                                            monkeypatch, caplog, guard):
    baseline = uninstrumented(client, fake, RawReply.json(BODY), chat)
    instrument()
    monkeypatch.setattr(*target, boom)
    for _ in range(2):
        fake.enqueue(RawReply.json(BODY))
        assert chat(client).model_dump() == baseline.model_dump()
    assert warnings(caplog) == [warning]
    assert telemetry.llm_spans() == []
    assert len(fake.requests) == 3
    guard.check()


def test_chunk_folding_failing(instrument, telemetry, client, fake, monkeypatch, caplog, guard):
    baseline = uninstrumented(client, fake, RawReply.sse(CHUNKS), chat_stream)
    instrument()
    monkeypatch.setattr(streams, "chunk_ids", boom)
    for _ in range(2):
        fake.enqueue(RawReply.sse(CHUNKS))
        chunks = chat_stream(client)
        assert [c.model_dump() for c in chunks] == [c.model_dump() for c in baseline]
    assert warnings(caplog) == ["llmtel: could not read a stream chunk; the span keeps what was read before"]
    spans = telemetry.llm_spans()
    assert [s.attributes[sc.LLMTEL_STREAM_END] for s in spans] == ["completed", "completed"]
    assert [s.attributes[sc.LLMTEL_STREAM_CHUNKS] for s in spans] == [3, 3]
    guard.check()


def test_stream_summary_failing(instrument, telemetry, client, fake, monkeypatch, caplog, guard):
    instrument()
    monkeypatch.setattr(streams.ChunkStream, "summarise", boom)
    for _ in range(2):
        fake.enqueue(RawReply.sse(CHUNKS))
        assert len(chat_stream(client)) == 3
    assert warnings(caplog) == ["llmtel: could not summarise a stream"]
    spans = telemetry.llm_spans()
    assert [s.attributes[sc.LLMTEL_STREAM_END] for s in spans] == ["completed", "completed"]
    guard.check()


def test_emission_failing_still_ends_the_span(instrument, telemetry, client, fake, monkeypatch, caplog, guard):
    baseline = uninstrumented(client, fake, RawReply.json(BODY), chat)
    instrument()
    monkeypatch.setattr(emit, "end_attributes", boom)
    for _ in range(2):
        fake.enqueue(RawReply.json(BODY))
        assert chat(client).model_dump() == baseline.model_dump()
    fake.enqueue(RawReply.sse(CHUNKS))
    assert len(chat_stream(client)) == 3
    assert len(warnings(caplog)) == 1 and "recording a GenAI call failed" in warnings(caplog)[0]
    assert len(telemetry.llm_spans()) == 3
    guard.check()


def test_responses_event_folding_failing(instrument, telemetry, client, fake, monkeypatch, caplog, guard):
    if not hasattr(client, "responses"):
        pytest.skip(f"openai {openai.__version__} has no Responses API")
    instrument()
    monkeypatch.setattr(extract.EventAccumulator, "add", boom)
    fake.enqueue(ResponsesReply("one two"))
    events = list(client.responses.create(model=CHAT_MODEL, input="hi", stream=True))
    assert events[-1].type == "response.completed" and events[-1].response.output_text == "one two"
    assert warnings(caplog) == ["llmtel: could not read a stream chunk; the span keeps what was read before"]
    span = telemetry.one_llm_span()
    assert span.attributes[sc.LLMTEL_STREAM_CHUNKS] == len(events)
    guard.check()


def test_async_extraction_failing(instrument, telemetry, aclient, fake, monkeypatch, caplog, guard):
    instrument()
    monkeypatch.setattr(extract, "apply_response", boom)
    monkeypatch.setattr(streams, "chunk_ids", boom)
    fake.enqueue(RawReply.json(BODY))
    fake.enqueue(RawReply.sse(CHUNKS))

    async def main():
        reply = await aclient.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES)
        stream = await aclient.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES, stream=True)
        return reply, [c async for c in stream]

    reply, chunks = asyncio.run(main())
    assert reply.id == "chatcmpl-fixed" and reply.choices[0].message.content == "fixed answer"
    assert "".join(c.choices[0].delta.content for c in chunks) == "fixed stream"
    assert len(warnings(caplog)) == 2
    assert len(telemetry.llm_spans()) == 2
    guard.check()


# --- with_raw_response / with_streaming_response --------------------------------------------------------------


def test_with_raw_response_gives_the_sdk_object_and_the_parsed_one_we_read(instrument, telemetry, client, fake,
                                                                            monkeypatch, guard):
    instrument()
    seen = []
    real = extract.apply_response

    def spy(call, response, policy):
        seen.append(response)
        return real(call, response, policy)

    monkeypatch.setattr(extract, "apply_response", spy)
    fake.enqueue(ChatReply("hello", headers={"x-custom": "yes"}))
    raw = client.chat.completions.with_raw_response.create(model=CHAT_MODEL, messages=MESSAGES)
    assert type(raw).__name__ == "LegacyAPIResponse"
    assert raw.headers["x-custom"] == "yes" and raw.http_response.status_code == 200
    span = telemetry.one_llm_span()  # ended already: parsed eagerly
    parsed = raw.parse()
    assert seen == [parsed] and seen[0] is parsed
    assert parsed.choices[0].message.content == "hello"
    attrs = span.attributes
    assert attrs[sc.GEN_AI_RESPONSE_ID] == parsed.id
    assert attrs[sc.HTTP_RESPONSE_STATUS_CODE] == 200
    assert attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    guard.check()


def test_with_raw_response_unparseable_body(instrument, telemetry, client, fake, guard):
    instrument()
    fake.enqueue(RawReply(body=b"not json", content_type="application/json"))
    raw = client.chat.completions.with_raw_response.create(model=CHAT_MODEL, messages=MESSAGES)
    with pytest.raises(Exception):  # noqa: B017 - the caller meets the SDK's own error, unchanged
        raw.parse()
    assert telemetry.one_llm_span().attributes[sc.HTTP_RESPONSE_STATUS_CODE] == 200
    guard.check()


def test_with_streaming_response_never_parsed_ends_at_close(instrument, telemetry, client, fake, guard):
    instrument()
    fake.enqueue(ChatReply("hello"))
    with client.chat.completions.with_streaming_response.create(model=CHAT_MODEL, messages=MESSAGES) as response:
        assert type(response).__name__ == "APIResponse"
        body = json.loads("".join(response.iter_lines()))  # read as it streams in: nothing kept to parse
        assert body["choices"][0]["message"]["content"] == "hello"
        assert telemetry.llm_spans() == []  # the caller may still parse
    span = telemetry.one_llm_span()
    attrs = dict(span.attributes)
    assert span.status.status_code is StatusCode.UNSET
    assert attrs[sc.HTTP_RESPONSE_STATUS_CODE] == 200
    # nothing was parsed, so nothing about the response is known: in particular no invented finish reason
    assert [k for k in attrs if k.startswith(("gen_ai.response.", "gen_ai.usage.", "llmtel.stream."))] == []
    guard.check()


@pytest.mark.parametrize("read", ["json", "text", "read"])
def test_with_streaming_response_read_whole_is_recorded_at_close(instrument, telemetry, client, fake, guard, read):
    instrument()
    fake.enqueue(ChatReply("hello"))
    with client.chat.completions.with_streaming_response.create(model=CHAT_MODEL, messages=MESSAGES) as response:
        body = getattr(response, read)()
        assert "hello" in (body.decode() if isinstance(body, bytes) else body if isinstance(body, str)
                           else json.dumps(body))
        assert telemetry.llm_spans() == []  # the caller may still parse
    attrs = dict(telemetry.one_llm_span().attributes)
    assert attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)  # the body it read, parsed when it closed
    assert attrs[sc.GEN_AI_RESPONSE_ID].startswith("chatcmpl-")
    assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] > 0 and attrs[sc.LLMTEL_COST_STATUS] == "priced"
    guard.check()


def test_with_streaming_response_parsed(instrument, telemetry, client, fake, guard):
    instrument(capture_content=True, redactor=None)
    fake.enqueue(ChatReply(tool_calls=[ToolCall("call_1", "lookup", '{"q": 1}')]))
    with client.chat.completions.with_streaming_response.create(model=CHAT_MODEL, messages=MESSAGES) as response:
        parsed = response.parse()
        assert response.parse() is parsed
    attrs = telemetry.one_llm_span().attributes
    assert attrs[sc.GEN_AI_RESPONSE_ID] == parsed.id
    assert attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_calls",)
    assert attrs[sc.LLMTEL_USAGE_SOURCE] == "response"
    assert json.loads(attrs[sc.GEN_AI_OUTPUT_MESSAGES]) == [{"role": "assistant", "parts": [
        {"type": "tool_call", "id": "call_1", "name": "lookup", "arguments": {"q": 1}}], "finish_reason": "tool_calls"}]
    assert sc.LLMTEL_STREAM_END not in attrs
    guard.check()


def test_with_streaming_response_responses_api_parsed(instrument, telemetry, client, fake, guard):
    if not hasattr(client, "responses"):
        pytest.skip(f"openai {openai.__version__} has no Responses API")
    instrument()
    fake.enqueue(ResponsesReply("fine", status="incomplete"))
    with client.responses.with_streaming_response.create(model=CHAT_MODEL, input="hi") as response:
        parsed = response.parse()
    attrs = telemetry.one_llm_span().attributes
    assert attrs[sc.GEN_AI_RESPONSE_ID] == parsed.id
    assert attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("length",)
    guard.check()


def test_async_with_streaming_response(instrument, telemetry, aclient, fake, guard):
    instrument()
    fake.enqueue(ChatReply("hello"))
    fake.enqueue(ChatReply("again"))

    async def main():
        async with aclient.chat.completions.with_streaming_response.create(model=CHAT_MODEL,
                                                                           messages=MESSAGES) as response:
            parsed = await response.parse()
        async with aclient.chat.completions.with_streaming_response.create(model=CHAT_MODEL,
                                                                           messages=MESSAGES) as response:
            body = await response.json()
        return parsed, body

    parsed, body = asyncio.run(main())
    assert body["choices"][0]["message"]["content"] == "again"
    first, second = telemetry.llm_spans()
    assert first.attributes[sc.GEN_AI_RESPONSE_ID] == parsed.id
    assert first.attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert second.attributes[sc.GEN_AI_RESPONSE_ID] == body["id"]  # read whole as JSON: parsed at its close
    assert second.attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert second.attributes[sc.HTTP_RESPONSE_STATUS_CODE] == 200
    guard.check()


def test_with_streaming_response_abandoned_unread(instrument, telemetry, client, fake, guard):
    from tests.instrumentation.openai._stream_helpers import collect_garbage

    instrument()
    fake.enqueue(ChatReply("hello"))
    manager = client.chat.completions.with_streaming_response.create(model=CHAT_MODEL, messages=MESSAGES)
    response = manager.__enter__()
    http = response.http_response
    del response, manager
    collect_garbage()
    span = telemetry.one_llm_span()
    assert span.status.status_code is StatusCode.UNSET
    assert sc.GEN_AI_RESPONSE_FINISH_REASONS not in span.attributes
    http.close()
    guard.check()
