"""Token usage of streams: reported only when the API sent it, never invented; ``stream_usage="inject"``
asks for it on the caller's behalf and hides the extra usage-only chunk, without overriding the caller."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from llmtel import semconv as sc
from llmtel.testing import ChatReply, CompletionReply, ResponsesReply, Usage
from tests.instrumentation.openai._stream_helpers import CHAT_MODEL, LEGACY_MODEL, MESSAGES, check_stream_span

openai = pytest.importorskip("openai")

pytestmark = pytest.mark.timeout(20)

USAGE = Usage(prompt=1000, completion=200)
VISIBLE = {"chat": 5, "legacy": 4}  # chunks with choices for the replies below (see test_stream_lifecycle)
TOKEN_ATTRS = (sc.GEN_AI_USAGE_INPUT_TOKENS, sc.GEN_AI_USAGE_OUTPUT_TOKENS, sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
               sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS)


def reply(kind: str) -> Any:
    return ChatReply("alpha beta gamma", usage=USAGE) if kind == "chat" else CompletionReply("alpha beta gamma",
                                                                                              usage=USAGE)


def create(client: Any, kind: str, **kwargs: Any) -> Any:
    if kind == "chat":
        return client.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES, stream=True, **kwargs)
    return client.completions.create(model=LEGACY_MODEL, prompt="say three words", stream=True, **kwargs)


def tokens_by_type(telemetry: Any) -> dict[str, int]:
    return {p.attributes[sc.GEN_AI_TOKEN_TYPE]: p.sum for p in telemetry.metric_points(sc.METRIC_TOKEN_USAGE)}


def assert_usage(telemetry: Any, attrs: dict[str, Any], source: str) -> None:
    assert (attrs[sc.GEN_AI_USAGE_INPUT_TOKENS], attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS]) == (1000, 200)
    assert attrs[sc.LLMTEL_USAGE_SOURCE] == source
    assert attrs[sc.LLMTEL_COST_STATUS] == "priced"
    assert attrs[sc.LLMTEL_COST_USD] > 0
    assert tokens_by_type(telemetry) == {"input": 1000, "output": 200}


@pytest.mark.parametrize("kind", ["chat", "legacy"])
def test_without_include_usage_no_tokens_are_invented(instrument, telemetry, client, fake, guard, kind):
    instrument()
    fake.enqueue(reply(kind))
    chunks = list(create(client, kind))
    assert len(chunks) == VISIBLE[kind]
    assert "stream_options" not in fake.last_request.json
    attrs = check_stream_span(telemetry, end="completed", chunks=VISIBLE[kind], finish=["stop"])
    assert [a for a in TOKEN_ATTRS if a in attrs] == []
    assert attrs[sc.LLMTEL_USAGE_SOURCE] == "absent"
    assert attrs[sc.LLMTEL_COST_STATUS] == "no_usage"
    assert sc.LLMTEL_COST_USD not in attrs
    assert telemetry.metric_points(sc.METRIC_TOKEN_USAGE) == []
    assert telemetry.metric_points(sc.METRIC_COST) == []
    guard.check()


@pytest.mark.parametrize("kind", ["chat", "legacy"])
def test_callers_include_usage_is_recorded_and_the_caller_sees_the_usage_chunk(instrument, telemetry, client, fake,
                                                                                guard, kind):
    instrument()
    fake.enqueue(reply(kind))
    chunks = list(create(client, kind, stream_options={"include_usage": True}))
    assert len(chunks) == VISIBLE[kind] + 1
    assert chunks[-1].choices == [] and chunks[-1].usage.prompt_tokens == 1000
    attrs = check_stream_span(telemetry, end="completed", chunks=len(chunks), finish=["stop"])
    assert_usage(telemetry, attrs, "stream_usage_chunk")
    guard.check()


@pytest.mark.parametrize("kind", ["chat", "legacy"])
def test_inject_requests_usage_and_hides_the_usage_chunk(instrument, telemetry, client, fake, guard, kind):
    instrument(stream_usage="inject")
    fake.enqueue(reply(kind))
    stream = create(client, kind)
    assert type(stream) is openai.Stream
    chunks = list(stream)
    assert fake.last_request.json["stream_options"] == {"include_usage": True}
    assert len(chunks) == VISIBLE[kind]
    assert [c for c in chunks if not c.choices] == []
    attrs = check_stream_span(telemetry, end="completed", chunks=VISIBLE[kind], finish=["stop"])
    assert_usage(telemetry, attrs, "injected")
    guard.check()


@pytest.mark.parametrize("capture", [False, True], ids=["lean", "content"])
@pytest.mark.parametrize("kind", ["chat", "legacy"])
def test_inject_leaves_the_chunks_as_the_caller_would_see_them(instrument, telemetry, client, fake, guard, kind,
                                                               capture):
    """Once usage is asked for, the API sends ``usage: null`` in every other chunk: a chunk's ``to_dict()`` /
    ``to_json()`` (what apps forward to browsers and logs) would gain a ``usage`` key the caller never asked for."""
    fake.enqueue(reply(kind))
    plain = [chunk.to_dict() for chunk in create(client, kind)]
    instrument(stream_usage="inject", capture_content=capture)
    fake.enqueue(reply(kind))
    injected = [chunk.to_dict() for chunk in create(client, kind)]
    assert fake.last_request.json["stream_options"] == {"include_usage": True}
    assert [sorted(chunk) for chunk in injected] == [sorted(chunk) for chunk in plain]
    assert not [chunk for chunk in injected if "usage" in chunk]
    assert_usage(telemetry, dict(telemetry.one_llm_span().attributes), "injected")
    guard.check()


def test_inject_keeps_other_stream_options_of_the_caller(instrument, telemetry, client, fake):
    instrument(stream_usage="inject")
    fake.enqueue(reply("chat"))
    list(create(client, "chat", extra_body={"stream_options": {"include_obfuscation": False}}))
    assert fake.last_request.json["stream_options"] == {"include_obfuscation": False, "include_usage": True}
    assert telemetry.one_llm_span().attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] == 1000


def test_inject_respects_include_usage_given_through_extra_body(instrument, telemetry, client, fake, guard):
    instrument(stream_usage="inject")
    fake.enqueue(reply("chat"))
    chunks = list(create(client, "chat", extra_body={"stream_options": {"include_usage": True}}))
    assert fake.last_request.json["stream_options"] == {"include_usage": True}
    assert len(chunks) == VISIBLE["chat"] + 1 and chunks[-1].choices == []  # the caller asked: not hidden
    attrs = check_stream_span(telemetry, end="completed", chunks=len(chunks), finish=["stop"])
    assert_usage(telemetry, attrs, "stream_usage_chunk")
    guard.check()


def test_request_attributes_are_read_from_the_body_as_sent(instrument, telemetry, client, fake):
    """``extra_body`` is merged over the typed parameters by the SDK: the span records what was sent."""
    instrument()
    fake.enqueue(reply("chat"))
    list(create(client, "chat", temperature=0.1, extra_body={"temperature": 0.9, "seed": 11}))
    assert (fake.last_request.json["temperature"], fake.last_request.json["seed"]) == (0.9, 11)
    attrs = telemetry.one_llm_span().attributes
    assert (attrs[sc.GEN_AI_REQUEST_TEMPERATURE], attrs[sc.GEN_AI_REQUEST_SEED]) == (0.9, 11)


def test_inject_does_not_override_an_explicit_false(instrument, telemetry, client, fake, guard):
    instrument(stream_usage="inject")
    fake.enqueue(reply("chat"))
    chunks = list(create(client, "chat", stream_options={"include_usage": False}))
    assert fake.last_request.json["stream_options"] == {"include_usage": False}
    assert len(chunks) == VISIBLE["chat"]
    attrs = check_stream_span(telemetry, end="completed", chunks=VISIBLE["chat"], finish=["stop"])
    assert sc.GEN_AI_USAGE_INPUT_TOKENS not in attrs
    assert attrs[sc.LLMTEL_USAGE_SOURCE] == "absent"
    guard.check()


def test_inject_leaves_a_callers_own_request_visible(instrument, telemetry, client, fake, guard):
    instrument(stream_usage="inject")
    fake.enqueue(reply("chat"))
    chunks = list(create(client, "chat", stream_options={"include_usage": True}))
    assert len(chunks) == VISIBLE["chat"] + 1 and chunks[-1].choices == []
    attrs = check_stream_span(telemetry, end="completed", chunks=len(chunks), finish=["stop"])
    assert_usage(telemetry, attrs, "stream_usage_chunk")
    guard.check()


def test_inject_from_the_environment(instrument, telemetry, client, fake, monkeypatch, guard):
    monkeypatch.setenv("LLMTEL_STREAM_USAGE", "inject")
    instrument()
    fake.enqueue(reply("chat"))
    chunks = list(create(client, "chat"))
    assert fake.last_request.json["stream_options"] == {"include_usage": True}
    assert all(c.choices for c in chunks) and len(chunks) == VISIBLE["chat"]
    assert_usage(telemetry, dict(telemetry.one_llm_span().attributes), "injected")
    guard.check()


def test_environment_off_by_default(instrument, telemetry, client, fake, monkeypatch):
    monkeypatch.delenv("LLMTEL_STREAM_USAGE", raising=False)
    instrument()
    list(create(client, "chat"))
    assert "stream_options" not in fake.last_request.json


def test_inject_leaves_non_streamed_calls_and_the_responses_api_alone(instrument, telemetry, client, fake):
    instrument(stream_usage="inject")
    client.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES)
    assert "stream_options" not in fake.last_request.json
    if hasattr(client, "responses"):
        fake.enqueue(ResponsesReply("ok", usage=USAGE))
        events = list(client.responses.create(model=CHAT_MODEL, input="hi", stream=True))
        assert "stream_options" not in fake.last_request.json
        assert events[-1].type == "response.completed"
        attrs = telemetry.llm_spans()[-1].attributes
        assert attrs[sc.LLMTEL_USAGE_SOURCE] == "stream_usage_chunk"  # the Responses API always sends it
        assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] == 1000


def test_inject_through_with_raw_response(instrument, telemetry, client, fake, guard):
    instrument(stream_usage="inject")
    fake.enqueue(reply("chat"))
    raw = client.chat.completions.with_raw_response.create(model=CHAT_MODEL, messages=MESSAGES, stream=True)
    chunks = list(raw.parse())
    assert len(chunks) == VISIBLE["chat"] and all(c.choices for c in chunks)
    assert_usage(telemetry, dict(telemetry.one_llm_span().attributes), "injected")
    guard.check()


def test_inject_stream_closed_before_the_usage_chunk(instrument, telemetry, client, fake, guard):
    instrument(stream_usage="inject")
    fake.enqueue(reply("chat"))
    stream = create(client, "chat")
    next(iter(stream))
    stream.close()
    attrs = check_stream_span(telemetry, end="closed", chunks=1, finish=["error"])
    assert sc.GEN_AI_USAGE_INPUT_TOKENS not in attrs
    assert attrs[sc.LLMTEL_USAGE_SOURCE] == "absent"
    guard.check()


def test_async_inject(instrument, telemetry, aclient, fake, guard):
    instrument(stream_usage="inject")
    fake.enqueue(reply("chat"))

    async def main():
        stream = await aclient.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES, stream=True)
        assert type(stream) is openai.AsyncStream
        return [c async for c in stream]

    chunks = asyncio.run(main())
    assert fake.last_request.json["stream_options"] == {"include_usage": True}
    assert len(chunks) == VISIBLE["chat"] and all(c.choices for c in chunks)
    attrs = check_stream_span(telemetry, end="completed", chunks=VISIBLE["chat"], finish=["stop"])
    assert_usage(telemetry, attrs, "injected")
    guard.check()


def test_async_without_include_usage(instrument, telemetry, aclient, fake, guard):
    instrument()
    fake.enqueue(reply("legacy"))

    async def main():
        stream = await aclient.completions.create(model=LEGACY_MODEL, prompt="hi", stream=True)
        return [c async for c in stream]

    assert len(asyncio.run(main())) == VISIBLE["legacy"]
    attrs = check_stream_span(telemetry, end="completed", chunks=VISIBLE["legacy"], finish=["stop"])
    assert attrs[sc.LLMTEL_USAGE_SOURCE] == "absent"
    assert [a for a in TOKEN_ATTRS if a in attrs] == []
    guard.check()


DETAILED = Usage(prompt=1000, completion=200, cached=600, reasoning=50)


@pytest.mark.parametrize("stream", [False, True])
def test_cached_and_reasoning_tokens_whatever_the_sdk_generation(instrument, telemetry, client, fake, stream):
    """Older SDKs have no types for the usage details and keep them as plain dicts: they count all the same."""
    instrument()
    fake.enqueue(ChatReply("alpha beta gamma", usage=DETAILED))
    if stream:
        chunks = list(create(client, "chat", stream_options={"include_usage": True}))
        details = chunks[-1].usage.prompt_tokens_details
    else:
        details = client.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES).usage.prompt_tokens_details
    assert details is not None  # typed or not, the SDK keeps it
    attrs = telemetry.one_llm_span().attributes
    assert (attrs[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS], attrs[sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS]) == (600, 50)
    # gpt-4o-mini: $0.15/M input, $0.075/M cached input, $0.60/M output
    assert attrs[sc.LLMTEL_COST_USD] == pytest.approx((400 * 0.15 + 600 * 0.075 + 200 * 0.60) / 1e6)


def test_inject_hides_only_the_usage_chunk(instrument, telemetry, client, fake, guard):
    """Azure opens a stream with a chunk without choices (prompt filter results): the caller still gets it."""
    from llmtel.testing import RawReply

    def chunk(choices, **extra):
        return {"id": "chatcmpl-az", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
                "choices": choices, **extra}

    fake.enqueue(RawReply.sse([
        {"id": "", "object": "", "created": 0, "model": "", "choices": [],
         "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}]},
        chunk([{"index": 0, "delta": {"role": "assistant", "content": "hi"}, "finish_reason": None}]),
        chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}]),
        chunk([], usage={"prompt_tokens": 1000, "completion_tokens": 200, "total_tokens": 1200}),
    ]))
    instrument(stream_usage="inject")
    chunks = list(create(client, "chat"))
    assert [len(c.choices) for c in chunks] == [0, 1, 1]  # the first one is Azure's, the usage chunk is hidden
    assert chunks[0].usage is None
    attrs = check_stream_span(telemetry, end="completed", chunks=3, finish=["stop"])
    assert attrs[sc.GEN_AI_RESPONSE_ID] == "chatcmpl-az"
    assert_usage(telemetry, attrs, "injected")
    guard.check()


@pytest.mark.parametrize("stream_options", ["x", ["include_usage"], None], ids=["text", "list", "null"])
@pytest.mark.parametrize("where", ["argument", "extra_body"])
def test_inject_leaves_stream_options_the_caller_gave_that_are_not_a_mapping(
        instrument, telemetry, client, fake, guard, stream_options, where):
    """Sent as given (a server may refuse it, as it would without llmtel); the span ends with the stream."""
    instrument(stream_usage="inject")
    fake.enqueue(reply("chat"))
    given = {"stream_options": stream_options} if where == "argument" else {"extra_body": {"stream_options": stream_options}}
    chunks = list(create(client, "chat", **given))
    assert len(chunks) == VISIBLE["chat"]
    assert fake.last_request.json["stream_options"] == stream_options
    attrs = check_stream_span(telemetry, end="completed", chunks=VISIBLE["chat"], finish=["stop"])
    assert attrs[sc.LLMTEL_USAGE_SOURCE] == "absent"
    guard.check()


def test_inject_leaves_a_stream_asked_for_through_extra_body_alone(instrument, telemetry, client, fake):
    """``extra_body={"stream": True}``: the SDK does not read the reply as a stream, the caller gets its text; asking
    for usage would add a chunk to that text."""
    instrument(stream_usage="inject")
    fake.enqueue(reply("chat"))
    client.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES, extra_body={"stream": True})
    assert "stream_options" not in fake.last_request.json
