"""What a streamed chat call records of its output: tool-call deltas put back together into whole calls,
and one finish reason and one output message per choice (``n=2``), also when the stream is cut short."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from llmtel import semconv as sc
from llmtel.testing import ChatReply, RawReply, ToolCall
from tests.instrumentation.openai._stream_helpers import CHAT_MODEL, MESSAGES, check_stream_span

openai = pytest.importorskip("openai")

pytestmark = pytest.mark.timeout(20)

LOOKUP = ToolCall("call_lookup", "lookup", '{"city": "Paris", "days": [1, 2], "unit": "celsius"}')
CLOCK = ToolCall("call_clock", "clock", '{"tz": "Europe/Paris"}')
TOOLS = [{"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}
         for name in ("lookup", "clock")]


def tool_part(call: ToolCall) -> dict[str, Any]:
    return {"type": "tool_call", "id": call.id, "name": call.name, "arguments": json.loads(call.arguments)}


def outputs(attrs: dict[str, Any]) -> list[dict[str, Any]]:
    return json.loads(attrs[sc.GEN_AI_OUTPUT_MESSAGES])


def test_tool_call_deltas_become_whole_calls(instrument, telemetry, client, fake, guard):
    instrument(capture_content=True, redactor=None)
    fake.enqueue(ChatReply(tool_calls=[LOOKUP, CLOCK]))
    chunks = list(client.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES, tools=TOOLS, stream=True))
    # the arguments really arrive in pieces, and each call's header only once
    argument_pieces = [t.function.arguments for c in chunks for t in (c.choices[0].delta.tool_calls or ())]
    assert len(argument_pieces) > 10
    attrs = check_stream_span(telemetry, end="completed", chunks=len(chunks), finish=["tool_calls"])
    assert outputs(attrs) == [{"role": "assistant", "parts": [tool_part(LOOKUP), tool_part(CLOCK)],
                               "finish_reason": "tool_calls"}]
    assert json.loads(attrs[sc.GEN_AI_TOOL_DEFINITIONS]) == [
        {"type": "function", "name": "lookup", "parameters": {"type": "object"}},
        {"type": "function", "name": "clock", "parameters": {"type": "object"}}]
    guard.check()


def test_tool_call_with_text_before_it(instrument, telemetry, client, fake, guard):
    instrument(capture_content=True, redactor=None)
    fake.enqueue(RawReply.sse([
        chunk([{"index": 0, "delta": {"role": "assistant", "content": "Let me "}, "finish_reason": None}]),
        chunk([{"index": 0, "delta": {"content": "check."}, "finish_reason": None}]),
        chunk([{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "call_9", "type": "function",
                                                       "function": {"name": "lookup", "arguments": ""}}]},
                "finish_reason": None}]),
        chunk([{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '{"q": '}}]},
                "finish_reason": None}]),
        chunk([{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '"x"}'}}]},
                "finish_reason": None}]),
        chunk([{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]),
    ]))
    list(client.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES, stream=True))
    attrs = check_stream_span(telemetry, end="completed", chunks=6, finish=["tool_calls"])
    assert outputs(attrs) == [{"role": "assistant", "parts": [
        {"type": "text", "content": "Let me check."},
        {"type": "tool_call", "id": "call_9", "name": "lookup", "arguments": {"q": "x"}}],
        "finish_reason": "tool_calls"}]
    guard.check()


def test_tool_arguments_that_are_not_json_are_kept_as_text(instrument, telemetry, client, fake):
    instrument(capture_content=True, redactor=None)
    fake.enqueue(ChatReply(tool_calls=[ToolCall("call_1", "shell", "ls -la /tmp")]))
    list(client.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES, stream=True))
    attrs = dict(telemetry.one_llm_span().attributes)
    assert outputs(attrs)[0]["parts"] == [{"type": "tool_call", "id": "call_1", "name": "shell",
                                           "arguments": "ls -la /tmp"}]


def test_async_tool_call_deltas_become_whole_calls(instrument, telemetry, aclient, fake, guard):
    instrument(capture_content=True, redactor=None)
    fake.enqueue(ChatReply(tool_calls=[LOOKUP, CLOCK], n=2))

    async def main():
        stream = await aclient.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES, tools=TOOLS, n=2,
                                                       stream=True)
        return [c async for c in stream]

    chunks = asyncio.run(main())
    attrs = check_stream_span(telemetry, end="completed", chunks=len(chunks), finish=["tool_calls", "tool_calls"])
    message = {"role": "assistant", "parts": [tool_part(LOOKUP), tool_part(CLOCK)], "finish_reason": "tool_calls"}
    assert outputs(attrs) == [message, message]
    assert attrs[sc.GEN_AI_REQUEST_CHOICE_COUNT] == 2
    guard.check()


def chunk(choices: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": "chatcmpl-two", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini-2024-07-18",
            "system_fingerprint": "fp_1", "choices": choices}


def two_choices() -> RawReply:
    """Two choices interleaved, ending for different reasons (choice 1 runs out of tokens)."""
    def delta(index: int, content: str | None = None, finish: str | None = None, role: bool = False):
        body: dict[str, Any] = {} if content is None else {"content": content}
        if role:
            body = {"role": "assistant", **body}
        return chunk([{"index": index, "delta": body, "logprobs": None, "finish_reason": finish}])

    return RawReply.sse([
        delta(0, "", role=True), delta(1, "", role=True),
        delta(0, "Paris is"), delta(1, "The capital"),
        delta(0, " the capital."), delta(1, " of France is"),
        delta(0, finish="stop"), delta(1, finish="length"),
    ])


@pytest.mark.parametrize("capture", [True, False])
def test_n2_finish_reasons_per_choice(instrument, telemetry, client, fake, guard, capture):
    instrument(capture_content=capture, redactor=None)
    fake.enqueue(two_choices())
    chunks = list(client.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES, n=2, stream=True))
    assert len(chunks) == 8
    attrs = check_stream_span(telemetry, end="completed", chunks=8, finish=["stop", "length"])
    assert attrs[sc.GEN_AI_REQUEST_CHOICE_COUNT] == 2
    assert attrs[sc.GEN_AI_RESPONSE_MODEL] == "gpt-4o-mini-2024-07-18"
    if capture:
        assert outputs(attrs) == [
            {"role": "assistant", "parts": [{"type": "text", "content": "Paris is the capital."}],
             "finish_reason": "stop"},
            {"role": "assistant", "parts": [{"type": "text", "content": "The capital of France is"}],
             "finish_reason": "length"}]
    else:
        assert sc.GEN_AI_OUTPUT_MESSAGES not in attrs
    guard.check()


@pytest.mark.parametrize("capture", [True, False])
def test_n2_stream_closed_after_one_choice_finished(instrument, telemetry, client, fake, guard, capture):
    instrument(capture_content=capture, redactor=None)
    fake.enqueue(two_choices())
    stream = client.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES, n=2, stream=True)
    received = [c for _, c in zip(range(7), stream)]  # choice 0 finished, choice 1 not yet
    stream.close()
    assert received[-1].choices[0].finish_reason == "stop"
    attrs = check_stream_span(telemetry, end="closed", chunks=7, finish=["stop", "error"])
    if capture:
        assert [m["parts"][0]["content"] for m in outputs(attrs)] == ["Paris is the capital.",
                                                                       "The capital of France is"]
    guard.check()


def test_n2_closed_before_the_second_choice_said_anything(instrument, telemetry, client, fake, guard):
    instrument()
    fake.enqueue(two_choices())
    stream = client.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES, n=2, stream=True)
    next(iter(stream))  # only choice 0's role chunk
    stream.close()
    check_stream_span(telemetry, end="closed", chunks=1, finish=["error", "error"])  # n=2 was asked for
    guard.check()


def test_n2_from_the_fake_reply(instrument, telemetry, client, fake):
    instrument(capture_content=True, redactor=None)
    fake.enqueue(ChatReply(content=("one two", "three four")))
    list(client.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES, n=2, stream=True))
    attrs = dict(telemetry.one_llm_span().attributes)
    assert attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop", "stop")
    assert [m["parts"] for m in outputs(attrs)] == [[{"type": "text", "content": "one two"}],
                                                    [{"type": "text", "content": "three four"}]]


# --- long streams: every chunk is kept, whether the stream is read to its end or left at any point ------------

LONG_WORDS = [f"w{i}" for i in range(150)]  # 150 content chunks: two full batches and part of a third


def long_reply() -> RawReply:
    pieces = [chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])]
    pieces += [chunk([{"index": 0, "delta": {"content": f"{w} "}, "finish_reason": None}]) for w in LONG_WORDS]
    pieces.append(chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}]))
    usage = {"prompt_tokens": 9, "completion_tokens": 150, "total_tokens": 159}
    pieces.append({**chunk([]), "usage": usage})
    return RawReply.sse(pieces)


def test_a_long_stream_keeps_every_chunk(instrument, telemetry, client, fake, guard):
    instrument(capture_content=True, redactor=None)
    fake.enqueue(long_reply())
    chunks = list(client.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES, stream=True))
    assert len(chunks) == 153
    attrs = check_stream_span(telemetry, end="completed", chunks=153, finish=["stop"])
    assert outputs(attrs)[0]["parts"] == [{"type": "text", "content": "".join(f"{w} " for w in LONG_WORDS)}]
    assert (attrs[sc.GEN_AI_USAGE_INPUT_TOKENS], attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS]) == (9, 150)
    assert attrs[sc.GEN_AI_RESPONSE_ID] == "chatcmpl-two"
    guard.check()


@pytest.mark.parametrize("read", [1, 63, 64, 65, 100])
def test_a_long_stream_left_early_keeps_what_was_read(instrument, telemetry, client, fake, guard, read):
    instrument(capture_content=True, redactor=None)
    fake.enqueue(long_reply())
    with client.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES, stream=True) as stream:
        for index, _ in enumerate(stream, start=1):
            if index == read:
                break
    attrs = check_stream_span(telemetry, end="closed", chunks=read, finish=["error"])
    # the role chunk (empty text), then read - 1 content chunks: all of them, across batch boundaries
    text = "".join(f"{w} " for w in LONG_WORDS[: read - 1])
    assert outputs(attrs)[0]["parts"] == [{"type": "text", "content": text}]
    guard.check()


def test_a_long_async_stream_keeps_every_chunk(instrument, telemetry, aclient, fake, guard):
    instrument(capture_content=True, redactor=None)
    fake.enqueue(long_reply())

    async def consume() -> int:
        stream = await aclient.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES, stream=True)
        return len([c async for c in stream])

    assert asyncio.run(consume()) == 153
    attrs = check_stream_span(telemetry, end="completed", chunks=153, finish=["stop"])
    assert outputs(attrs)[0]["parts"] == [{"type": "text", "content": "".join(f"{w} " for w in LONG_WORDS)}]
    assert attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 150
    guard.check()


def test_an_emoji_split_across_chunks_is_captured_whole_and_every_signal_encodes(instrument, telemetry, client, fake,
                                                                               caplog):
    """A server that splits an emoji's UTF-16 pair across two chunks sends one lone surrogate in each (and a
    model name with one, for good measure): the caller gets them as sent; the captured text has the pair joined,
    what is left alone is U+FFFD, and the spans and metric points encode with the stock OTLP encoders."""
    from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    from llmtel.export.scrubbing import scrubbed_spans

    instrument(capture_content=True)
    fake.enqueue(RawReply.sse([
        {**chunk([{"index": 0, "delta": {"role": "assistant", "content": "smile "}, "finish_reason": None}]),
         "model": "gpt-4o-mini-\udcff"},
        chunk([{"index": 0, "delta": {"content": "\ud83d"}, "finish_reason": None}]),
        chunk([{"index": 0, "delta": {"content": "\ude00 and \ud83d"}, "finish_reason": None}]),
        chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}]),
    ]))
    chunks = list(client.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "smile \ud83d\ude00 and \ud83d"
    attrs = dict(telemetry.one_llm_span().attributes)
    assert outputs(attrs)[0]["parts"] == [{"type": "text", "content": "smile 😀 and \ufffd"}]
    assert attrs[sc.GEN_AI_RESPONSE_MODEL] == "gpt-4o-mini-\udcff"  # on the span as it came; repaired on export:
    encode_spans(scrubbed_spans(telemetry.spans())).SerializeToString()  # what llmtel's trace pipelines encode
    [point] = telemetry.metric_points(sc.METRIC_OPERATION_DURATION)  # metric attributes are repaired as made
    assert point.attributes[sc.GEN_AI_RESPONSE_MODEL] == "gpt-4o-mini-\ufffd"
    encode_metrics(telemetry.metric_reader.get_metrics_data()).SerializeToString()
    assert not [r for r in caplog.records if r.name.startswith("opentelemetry")], caplog.records
