"""The raw-response routes (``with_raw_response``, ``with_streaming_response``) record what the plain call
records: a reply ``parse`` refuses fails the call with its billed usage, a stream parsed from a raw response is
ended by the stream (not by the raw response's collection), and a body read as it streams in is the server's."""

from __future__ import annotations

import asyncio
import gc
import json
from typing import Any

import pytest
from opentelemetry.trace import StatusCode

from llmtel import semconv as sc
from llmtel.testing import ChatReply, Usage
from tests.instrumentation.openai import _stream_helpers
from tests.instrumentation.openai._stream_helpers import CHAT_MODEL, MESSAGES, check_stream_span, collect_garbage

# shared fixtures (see _stream_helpers)
aclient = _stream_helpers.aclient
client = _stream_helpers.client
frozen = _stream_helpers.frozen
frozen_heap = _stream_helpers.frozen_heap
guard = _stream_helpers.guard

openai = pytest.importorskip("openai")
pydantic = pytest.importorskip("pydantic")

pytestmark = pytest.mark.timeout(20)


class Answer(pydantic.BaseModel):
    city: str


def _cut_reply(fake: Any) -> None:
    fake.enqueue(ChatReply('{"city": "Par', model="gpt-4o-mini-2024-07-18", finish_reason="length",
                           usage=Usage(prompt=1_000_000, completion=1_000_000)))


def _check_refused(telemetry: Any) -> None:
    """The span of a reply ``parse`` refused for hitting the token limit: failed, with the usage billed."""
    span = telemetry.one_llm_span()
    attrs = span.attributes
    assert (span.status.status_code, attrs[sc.ERROR_TYPE]) == (StatusCode.ERROR, "LengthFinishReasonError")
    assert attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("length",)
    assert (attrs[sc.GEN_AI_USAGE_INPUT_TOKENS], attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS]) == (1_000_000, 1_000_000)
    assert attrs[sc.LLMTEL_COST_USD] == pytest.approx(0.15 + 0.60)  # gpt-4o-mini: $0.15/M in, $0.60/M out
    assert attrs[sc.HTTP_RESPONSE_STATUS_CODE] == 200


def _needs_parse(client: Any) -> None:
    if getattr(client.chat.completions, "parse", None) is None:
        pytest.skip("this openai release has no chat.completions.parse")


def test_with_raw_response_parse_refusing_a_billed_reply(instrument, telemetry, client, fake, guard):
    _needs_parse(client)
    instrument()
    _cut_reply(fake)
    raw = client.chat.completions.with_raw_response.parse(model=CHAT_MODEL, messages=MESSAGES, response_format=Answer)
    with pytest.raises(openai.LengthFinishReasonError):  # what the caller meets when they parse
        raw.parse()
    _check_refused(telemetry)
    guard.check()


def test_with_streaming_response_parse_refusing_a_billed_reply(instrument, telemetry, client, fake, guard):
    _needs_parse(client)
    instrument()
    _cut_reply(fake)
    with pytest.raises(openai.LengthFinishReasonError):
        with client.chat.completions.with_streaming_response.parse(
            model=CHAT_MODEL, messages=MESSAGES, response_format=Answer
        ) as response:
            response.parse()
    _check_refused(telemetry)
    guard.check()


def test_async_with_streaming_response_parse_refusing_a_billed_reply(instrument, telemetry, aclient, fake, guard):
    _needs_parse(aclient)
    instrument()
    _cut_reply(fake)

    async def main() -> None:
        async with aclient.chat.completions.with_streaming_response.parse(
            model=CHAT_MODEL, messages=MESSAGES, response_format=Answer
        ) as response:
            await response.parse()

    with pytest.raises(openai.LengthFinishReasonError):
        asyncio.run(main())
    _check_refused(telemetry)
    guard.check()


def _open_parsed_stream(client: Any) -> Any:
    """A stream parsed from a streaming response the caller then lets go of (as a helper returning
    ``response.parse()`` does): only the stream is left."""
    manager = client.chat.completions.with_streaming_response.create(model=CHAT_MODEL, messages=MESSAGES, stream=True)
    return manager.__enter__().parse()


def test_stream_parsed_from_a_streaming_response_outlives_it(instrument, telemetry, client, fake, guard):
    instrument()
    fake.enqueue(ChatReply("alpha beta gamma"))
    stream = _open_parsed_stream(client)
    assert type(stream) is openai.Stream
    chunks = iter(stream)
    first = next(chunks)
    collect_garbage()  # the raw response goes: the stream stands for the call now
    assert telemetry.llm_spans() == []
    rest = list(chunks)
    assert [first, *rest][-1].choices[0].finish_reason == "stop"
    check_stream_span(telemetry, end="completed", chunks=1 + len(rest), finish=["stop"])
    del stream, chunks, first, rest
    collect_garbage()
    assert len(telemetry.llm_spans()) == 1  # and nothing ends twice
    guard.check()


def test_async_stream_parsed_from_a_streaming_response_outlives_it(instrument, telemetry, aclient, fake, guard):
    instrument()
    fake.enqueue(ChatReply("alpha beta gamma"))

    async def main() -> int:
        manager = aclient.chat.completions.with_streaming_response.create(model=CHAT_MODEL, messages=MESSAGES,
                                                                          stream=True)
        stream = await (await manager.__aenter__()).parse()
        del manager
        first = await stream.__anext__()
        collect_garbage()
        assert telemetry.llm_spans() == []
        return 1 + len([chunk async for chunk in stream]) if first else 0

    received = asyncio.run(main())
    check_stream_span(telemetry, end="completed", chunks=received, finish=["stop"])
    guard.check()


def test_streaming_response_parsed_twice_is_watched_once(instrument, telemetry, client, fake, guard):
    instrument()
    fake.enqueue(ChatReply("alpha beta gamma"))
    with client.chat.completions.with_streaming_response.create(model=CHAT_MODEL, messages=MESSAGES,
                                                                stream=True) as response:
        stream = response.parse()
        assert response.parse() is stream  # the SDK's cached stream: still watched, still traced once
        received = len(list(stream))
    check_stream_span(telemetry, end="completed", chunks=received, finish=["stop"])
    guard.check()


def _data_lines(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line[len("data: "):]) for line in lines if line.startswith("data: {")]


def test_streaming_response_read_as_lines_gets_the_servers_bytes_with_inject(instrument, telemetry, client, fake,
                                                                              guard):
    """With usage injection on, a streamed body read line by line is still exactly what the server would send
    for the caller's request: llmtel cannot hide a usage chunk there, so it asks for none."""
    instrument(stream_usage="inject")
    fake.enqueue(ChatReply("alpha beta gamma"))
    with client.chat.completions.with_streaming_response.create(model=CHAT_MODEL, messages=MESSAGES,
                                                                stream=True) as response:
        events = _data_lines(list(response.iter_lines()))
    assert events and all(event["choices"] for event in events)  # no usage-only chunk
    assert all("usage" not in event or event["usage"] is None for event in events)
    assert "stream_options" not in fake.requests[-1].json
    attrs = dict(telemetry.one_llm_span().attributes)
    assert attrs[sc.GEN_AI_REQUEST_STREAM] is True
    assert sc.GEN_AI_RESPONSE_FINISH_REASONS not in attrs  # read as bytes: llmtel saw no chunk, invents none
    guard.check()


def test_abandoned_stream_ends_off_the_collectors_thread(instrument, telemetry, client, fake, guard):
    """A stream collected while the collecting thread holds a lock that ending its span takes (here, the
    SDK's span processor's) does not wait on itself: the span ends on llmtel's own thread once the lock is free."""
    import threading

    instrument()
    fake.enqueue(ChatReply("alpha beta gamma"))
    stream = client.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES, stream=True)
    next(iter(stream))
    held = threading.Lock()
    exporter = telemetry.span_exporter
    original_export = exporter.export

    def export(spans: Any) -> Any:
        with held:  # the collecting thread holds this below: ending the span inline would hang here
            return original_export(spans)

    exporter.export = export
    try:
        with held:
            del stream
            gc.collect()
            assert telemetry.llm_spans() == []  # claimed, but not ended in the collector
        collect_garbage()
    finally:
        exporter.export = original_export
    check_stream_span(telemetry, end="abandoned", chunks=1, finish=["error"])
    guard.check()


def test_a_streaming_response_let_go_unclosed_ends_its_span_as_it_goes_not_at_the_next_collection(
        instrument, telemetry, client, fake):
    """llmtel's hooks on the response do not hold it: dropped, it goes at once (no reference cycle for the cyclic
    collector to find later), and its span ends as abandoned then."""
    from llmtel.instrumentation.openai import streams

    instrument()
    fake.enqueue(ChatReply("alpha beta gamma"))
    manager = client.chat.completions.with_streaming_response.create(model=CHAT_MODEL, messages=MESSAGES, stream=True)
    response = manager.__enter__()
    gc.disable()  # only reference counting now
    try:
        del manager, response
        streams.settle_abandoned()
        (span,) = telemetry.llm_spans()
    finally:
        gc.enable()
    assert span.attributes[sc.LLMTEL_STREAM_END] == "abandoned"


def test_a_streaming_responses_hooked_methods_look_like_its_own(instrument, client, fake):
    import inspect

    fake.enqueue(ChatReply("alpha beta gamma"))
    with client.chat.completions.with_streaming_response.create(model=CHAT_MODEL, messages=MESSAGES) as plain:
        expected = {name: (inspect.signature(getattr(plain, name)), getattr(plain, name).__doc__)
                    for name in ("parse", "close")}
        plain.parse()
    instrument()
    fake.enqueue(ChatReply("alpha beta gamma"))
    with client.chat.completions.with_streaming_response.create(model=CHAT_MODEL, messages=MESSAGES) as hooked:
        assert {name: (inspect.signature(getattr(hooked, name)), getattr(hooked, name).__doc__)
                for name in ("parse", "close")} == expected
        assert (hooked.parse.__name__, hooked.close.__name__) == ("parse", "close")
        hooked.parse()
