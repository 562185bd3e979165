"""Every way a streamed call can end × sync/async × Chat Completions, Responses and legacy Completions.

Each case checks the one llmtel span of the call: ended exactly once with the right ``llmtel.stream.end``,
the number of chunks the caller was given, finish reasons ("error" for a choice cut short), time to first
chunk only when a chunk arrived, error status only on real failures; the SDK object the caller holds is
untouched (same type, ``.response`` usable); no span is left open and no context is detached out of order.

Sync streams hold a reference cycle of the SDK's own making (``Stream._iterator`` is a generator whose
frame holds the stream), so a dropped stream is only freed by the cycle collector: the abandonment cases
call ``gc.collect()`` for that reason, as a long-running application's collector eventually would, then wait
for llmtel's thread that ends the spans of abandoned streams (``collect_garbage``).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import weakref
from typing import Any

import pytest
from opentelemetry.trace import StatusCode

from llmtel import semconv as sc
from llmtel.testing import ChatReply, CompletionReply, ResponsesReply, StreamFault
from tests.instrumentation.openai._stream_helpers import (
    CHAT_MODEL,
    LEGACY_MODEL,
    MESSAGES,
    OpenSpans,
    check_stream_span,
    collect_garbage,
)

openai = pytest.importorskip("openai")

pytestmark = pytest.mark.timeout(20)

KINDS = ["chat", "responses", "legacy"]
TEXT = "alpha beta gamma"
# What the fake streams for TEXT: chat = role chunk + 3 content chunks + finish chunk; responses = created,
# in_progress, item added, part added, 3 deltas, text done, part done, item done, completed; legacy = 3
# text chunks + the finish chunk.
TOTAL = {"chat": 5, "responses": 11, "legacy": 4}
PARTIAL = 2  # items read before leaving early
# The pause before each later item where a test acts while the reader waits for the next one: only the
# first item comes at once, so those tests read one item; the pause is never waited out (the fake server
# stops pausing as soon as the client hangs up), it only has to be far longer than the test's own steps.
SLOW = 2.0


def needs(client: Any, kind: str) -> None:
    if kind == "responses" and not hasattr(client, "responses"):
        pytest.skip(f"openai {openai.__version__} has no Responses API")


def reply(kind: str, **kwargs: Any) -> Any:
    if kind == "chat":
        return ChatReply(TEXT, **kwargs)
    if kind == "responses":
        return ResponsesReply(TEXT, **kwargs)
    return CompletionReply(TEXT, **kwargs)


def resource(client: Any, kind: str) -> Any:
    return {"chat": lambda: client.chat.completions, "responses": lambda: client.responses,
            "legacy": lambda: client.completions}[kind]()


def arguments(kind: str) -> dict[str, Any]:
    if kind == "chat":
        return {"model": CHAT_MODEL, "messages": MESSAGES, "stream": True}
    if kind == "responses":
        return {"model": CHAT_MODEL, "input": "say three words", "stream": True}
    return {"model": LEGACY_MODEL, "prompt": "say three words", "stream": True}


def done_finish(kind: str) -> list[str]:
    return ["stop"]


def cut_finish(kind: str) -> list[str]:
    return ["error"]  # the choice (or response) never got its finish reason


def check_sdk_stream(stream: Any, async_: bool) -> None:
    expected = openai.AsyncStream if async_ else openai.Stream
    assert isinstance(stream, expected)
    assert type(stream) is expected
    assert stream.response.status_code == 200
    assert stream.response.headers["x-request-id"].startswith("req_")


def last_text(kind: str, items: list[Any]) -> str:
    """The text the caller assembled from what it was given."""
    if kind == "chat":
        return "".join(c.choices[0].delta.content or "" for c in items if c.choices)
    if kind == "responses":
        return "".join(e.delta for e in items if e.type == "response.output_text.delta")
    return "".join(c.choices[0].text for c in items if c.choices)


# --- sync ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_fully_consumed(instrument, telemetry, client, fake, guard, kind):
    needs(client, kind)
    instrument()
    fake.enqueue(reply(kind))
    stream = resource(client, kind).create(**arguments(kind))
    check_sdk_stream(stream, False)
    items = list(stream)
    assert len(items) == TOTAL[kind]
    assert last_text(kind, items) == TEXT
    check_stream_span(telemetry, end="completed", chunks=TOTAL[kind], finish=done_finish(kind))
    assert stream.response.is_closed
    guard.check()


@pytest.mark.parametrize("kind", KINDS)
def test_an_ended_stream_leaves_no_abandon_watch_behind(instrument, telemetry, client, fake, guard, kind):
    from llmtel.instrumentation.openai import streams

    needs(client, kind)
    instrument()
    before = len(streams._watched)
    fake.enqueue(reply(kind))
    fake.enqueue(reply(kind))
    read = resource(client, kind).create(**arguments(kind))
    assert len(streams._watched) == before + 1  # watched while it may still be abandoned
    assert weakref.getweakrefcount(read) == 1
    assert len(list(read)) == TOTAL[kind]
    assert len(streams._watched) == before  # ended: its collection has nothing left to end
    assert weakref.getweakrefcount(read) == 0  # the reference is gone, not just forgotten: no callback
    closed = resource(client, kind).create(**arguments(kind))
    next(iter(closed))
    closed.close()
    assert len(streams._watched) == before
    assert weakref.getweakrefcount(closed) == 0
    del read, closed
    collect_garbage()
    ends = sorted(span.attributes[sc.LLMTEL_STREAM_END] for span in telemetry.llm_spans())
    assert ends == ["closed", "completed"]  # collected afterwards: nothing ended twice, nothing as abandoned
    guard.check()


@pytest.mark.parametrize("kind", KINDS)
def test_break_then_dropped_is_abandoned(instrument, telemetry, client, fake, guard, kind):
    needs(client, kind)
    instrument()
    fake.enqueue(reply(kind))
    stream = resource(client, kind).create(**arguments(kind))
    received = []
    for item in stream:
        received.append(item)
        if len(received) == PARTIAL:
            break
    assert telemetry.llm_spans() == []  # still open: the caller may go on reading
    del stream, item
    collect_garbage()  # the SDK's stream is in a reference cycle (see the module docstring)
    check_stream_span(telemetry, end="abandoned", chunks=PARTIAL, finish=cut_finish(kind))
    guard.check()


@pytest.mark.parametrize("kind", KINDS)
def test_close_after_partial_read(instrument, telemetry, client, fake, guard, kind):
    needs(client, kind)
    instrument()
    fake.enqueue(reply(kind))
    stream = resource(client, kind).create(**arguments(kind))
    iterator = iter(stream)
    received = [next(iterator) for _ in range(PARTIAL)]
    stream.close()
    check_stream_span(telemetry, end="closed", chunks=len(received), finish=cut_finish(kind))
    check_sdk_stream(stream, False)  # still the SDK's stream, its response still there
    assert stream.response.is_closed
    stream.close()  # closing twice is harmless and ends nothing twice
    assert len(telemetry.llm_spans()) == 1
    guard.check()


@pytest.mark.parametrize("kind", KINDS)
def test_with_block_left_after_partial_read(instrument, telemetry, client, fake, guard, kind):
    needs(client, kind)
    instrument()
    fake.enqueue(reply(kind))
    received = []
    with resource(client, kind).create(**arguments(kind)) as stream:
        check_sdk_stream(stream, False)
        for item in stream:
            received.append(item)
            if len(received) == PARTIAL:
                break
    check_stream_span(telemetry, end="closed", chunks=PARTIAL, finish=cut_finish(kind))
    guard.check()


@pytest.mark.parametrize("kind", ["chat", "legacy"])
def test_server_error_chunk_mid_stream(instrument, telemetry, client, fake, guard, kind):
    instrument()
    fake.enqueue(reply(kind, fault=StreamFault(after=PARTIAL, kind="error")))
    stream = resource(client, kind).create(**arguments(kind))
    received = []
    with pytest.raises(openai.APIError) as raised:
        for item in stream:
            received.append(item)  # noqa: PERF402 - keeps what came before the error
    assert len(received) == PARTIAL
    assert type(raised.value) is openai.APIError
    check_stream_span(telemetry, end="error", chunks=PARTIAL, finish=cut_finish(kind), error_type="APIError")
    (span,) = telemetry.llm_spans()
    assert [e.name for e in span.events] == ["exception"]
    guard.check()


def test_responses_error_event_mid_stream(instrument, telemetry, client, fake, guard):
    """The Responses API reports a failure as an ``error`` event that the SDK hands to the caller."""
    needs(client, "responses")
    instrument()
    fake.enqueue(reply("responses", fault=StreamFault(after=PARTIAL, kind="error")))
    events = list(client.responses.create(**arguments("responses")))
    assert [e.type for e in events] == ["response.created", "response.in_progress", "error"]
    attrs = check_stream_span(telemetry, end="error", chunks=3, finish=cut_finish("responses"),
                              error_type="server_error")
    assert sc.GEN_AI_USAGE_INPUT_TOKENS not in attrs
    guard.check()


@pytest.mark.parametrize("kind", KINDS)
def test_server_disconnect_mid_stream(instrument, telemetry, client, fake, guard, kind):
    needs(client, kind)
    instrument()
    fake.enqueue(reply(kind, fault=StreamFault(after=PARTIAL, kind="disconnect")))
    stream = resource(client, kind).create(**arguments(kind))
    received = []
    with pytest.raises(Exception) as raised:
        for item in stream:
            received.append(item)  # noqa: PERF402 - keeps what came before the error
    assert len(received) == PARTIAL
    assert type(raised.value).__name__ in ("APIConnectionError", "RemoteProtocolError")
    check_stream_span(telemetry, end="error", chunks=PARTIAL, finish=cut_finish(kind),
                      error_type=type(raised.value).__qualname__)
    # The first chunk came: its time is recorded, without ``error.type`` (v1.41.0 gives it none).
    (first_chunk,) = telemetry.metric_points(sc.METRIC_TIME_TO_FIRST_CHUNK)
    assert sc.ERROR_TYPE not in first_chunk.attributes
    guard.check()


@pytest.mark.parametrize("kind", KINDS)
def test_truncated_stream_ends_without_error_but_with_cut_choices(instrument, telemetry, client, fake, guard,
                                                                    kind):
    """The body ends cleanly without the terminal event: iteration completes, the choice has no reason."""
    needs(client, kind)
    instrument()
    fake.enqueue(reply(kind, fault=StreamFault(after=PARTIAL, kind="truncate")))
    received = list(resource(client, kind).create(**arguments(kind)))
    assert len(received) == PARTIAL
    check_stream_span(telemetry, end="completed", chunks=PARTIAL, finish=cut_finish(kind))
    guard.check()


@pytest.mark.parametrize("kind", KINDS)
def test_abandoned_without_reading(instrument, telemetry, client, fake, guard, kind):
    needs(client, kind)
    instrument()
    fake.enqueue(reply(kind))
    stream = resource(client, kind).create(**arguments(kind))
    check_sdk_stream(stream, False)
    assert telemetry.llm_spans() == []
    response = stream.response
    del stream
    collect_garbage()
    check_stream_span(telemetry, end="abandoned", chunks=0, finish=cut_finish(kind))
    response.close()  # the caller's own clean-up of the HTTP response ends nothing twice
    assert len(telemetry.llm_spans()) == 1
    guard.check()


@pytest.mark.parametrize("kind", KINDS)
def test_with_raw_response_parse(instrument, telemetry, client, fake, guard, kind):
    needs(client, kind)
    instrument()
    fake.enqueue(reply(kind))
    raw = resource(client, kind).with_raw_response.create(**arguments(kind))
    assert type(raw).__name__ == "LegacyAPIResponse"
    assert raw.headers["x-request-id"].startswith("req_")
    stream = raw.parse()
    check_sdk_stream(stream, False)
    assert raw.parse() is stream
    items = list(stream)
    assert len(items) == TOTAL[kind]
    attrs = check_stream_span(telemetry, end="completed", chunks=TOTAL[kind], finish=done_finish(kind))
    assert attrs[sc.HTTP_RESPONSE_STATUS_CODE] == 200
    guard.check()


@pytest.mark.parametrize("kind", KINDS)
def test_with_streaming_response_parse(instrument, telemetry, client, fake, guard, kind):
    needs(client, kind)
    instrument()
    fake.enqueue(reply(kind))
    with resource(client, kind).with_streaming_response.create(**arguments(kind)) as response:
        assert type(response).__name__ == "APIResponse"
        stream = response.parse()
        check_sdk_stream(stream, False)
        assert response.parse() is stream  # parsed again: the SDK's cached stream, instrumented once
        items = list(stream)
    assert len(items) == TOTAL[kind]
    check_stream_span(telemetry, end="completed", chunks=TOTAL[kind], finish=done_finish(kind))
    guard.check()


@pytest.mark.parametrize("kind", KINDS)
def test_with_streaming_response_left_after_partial_read(instrument, telemetry, client, fake, guard, kind):
    needs(client, kind)
    instrument()
    fake.enqueue(reply(kind))
    received = []
    with resource(client, kind).with_streaming_response.create(**arguments(kind)) as response:
        for item in response.parse():
            received.append(item)
            if len(received) == PARTIAL:
                break
    check_stream_span(telemetry, end="closed", chunks=PARTIAL, finish=cut_finish(kind))
    guard.check()


@pytest.mark.parametrize("kind", KINDS)
def test_closed_from_another_thread_while_being_read(instrument, telemetry, client, fake, guard, kind):
    """A "stop generating" button: the caller closes the stream while a worker blocks on the next chunk.
    The worker then gets the SDK's connection error; for the span it is a close, not a failure."""
    needs(client, kind)
    instrument()
    fake.enqueue(reply(kind, chunk_delay=0.3))  # a blocked read only wakes when data comes
    stream = resource(client, kind).create(**arguments(kind))
    received: list[Any] = []
    got_some = threading.Event()
    outcome: list[BaseException | None] = []

    def read() -> None:
        try:
            for item in stream:
                received.append(item)
                if len(received) == 1:
                    got_some.set()
            outcome.append(None)
        except Exception as error:  # noqa: BLE001 - whatever the SDK raises to the reader
            outcome.append(error)

    worker = threading.Thread(target=read)
    worker.start()
    assert got_some.wait(5)
    time.sleep(0.02)  # the worker is now waiting for the next chunk, 0.3 s away
    stream.close()
    worker.join(5)
    assert not worker.is_alive()
    assert len(received) in (1, 2)  # 2 only if this machine stalled for the whole pause
    check_stream_span(telemetry, end="closed", chunks=len(received), finish=cut_finish(kind))
    guard.check()


def chat_stream_helper(client: Any) -> Any:
    if hasattr(client.chat.completions, "stream"):
        return client.chat.completions.stream
    beta = getattr(getattr(getattr(client, "beta", None), "chat", None), "completions", None)
    if beta is not None and hasattr(beta, "stream"):
        return beta.stream
    pytest.skip(f"openai {openai.__version__} has no chat.completions.stream helper")


def test_chat_stream_helper_iterated(instrument, telemetry, client, fake, guard):
    stream_helper = chat_stream_helper(client)
    instrument()
    fake.enqueue(reply("chat"))
    with stream_helper(model=CHAT_MODEL, messages=MESSAGES) as stream:
        events = list(stream)
    chunk_events = [e for e in events if e.type == "chunk"]
    assert len(chunk_events) == TOTAL["chat"]
    assert [e.content for e in events if e.type == "content.done"] == [TEXT]
    check_stream_span(telemetry, end="completed", chunks=len(chunk_events), finish=["stop"])
    guard.check()


def test_chat_stream_helper_final_completion(instrument, telemetry, client, fake, guard):
    stream_helper = chat_stream_helper(client)
    instrument()
    fake.enqueue(reply("chat"))
    with stream_helper(model=CHAT_MODEL, messages=MESSAGES) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == TEXT
    attrs = check_stream_span(telemetry, end="completed", chunks=TOTAL["chat"], finish=["stop"])
    assert attrs[sc.GEN_AI_RESPONSE_ID] == final.id
    guard.check()


def test_chat_stream_helper_left_early(instrument, telemetry, client, fake, guard):
    stream_helper = chat_stream_helper(client)
    instrument()
    fake.enqueue(reply("chat"))
    chunks = 0
    with stream_helper(model=CHAT_MODEL, messages=MESSAGES) as stream:
        for event in stream:
            chunks += event.type == "chunk"
            if chunks == PARTIAL:
                break
    check_stream_span(telemetry, end="closed", chunks=PARTIAL, finish=["error"])
    guard.check()


REFUSALS = [("length", "LengthFinishReasonError"), ("content_filter", "ContentFilterFinishReasonError")]
MODES = {"length": "output_truncated", "content_filter": "content_filter"}


def refused_helper_call(client: Any, instrument: Any, fake: Any, finish: str) -> tuple[Any, type]:
    """The chat ``.stream()`` helper, instrumented, a format to parse into, and a reply cut with ``finish``."""
    pydantic = pytest.importorskip("pydantic")
    stream_helper = chat_stream_helper(client)

    class Answer(pydantic.BaseModel):
        city: str

    instrument()
    fake.enqueue(ChatReply('{"city": "Par', finish_reason=finish))
    return stream_helper, Answer


@pytest.mark.parametrize("caught", [False, True], ids=["raised", "caught-inside"])
@pytest.mark.parametrize(("finish", "error_class"), REFUSALS)
def test_chat_stream_helper_refusing_a_cut_reply_fails_the_span(instrument, telemetry, client, fake, guard, finish,
                                                                 error_class, caught):
    """With a response format to parse into, the helper raises on a reply cut by the token limit or filtered,
    from the chunk llmtel has just handed it: the call failed, as ``parse`` fails on the same reply, whether
    or not the app catches the error inside its ``with`` block."""
    stream_helper, answer = refused_helper_call(client, instrument, fake, finish)
    refusal = getattr(openai, error_class)
    seen = 0
    with contextlib.nullcontext() if caught else pytest.raises(refusal):  # the error leaves the ``with`` block
        with stream_helper(model=CHAT_MODEL, messages=MESSAGES, response_format=answer) as stream:
            with pytest.raises(refusal) if caught else contextlib.nullcontext():  # the app catches it inside
                for event in stream:
                    seen += event.type == "chunk"
    assert seen >= 2
    # The helper raised on the finish chunk before making its event: llmtel had counted it.
    attrs = check_stream_span(telemetry, end="error", chunks=seen + 1, finish=[finish], error_type=error_class)
    assert attrs[sc.LLMTEL_ERROR_MODE] == MODES[finish]
    guard.check()


@pytest.mark.parametrize("caught", [False, True], ids=["raised", "caught-inside"])
def test_responses_stream_helper_failing_to_parse_the_answer_fails_the_span(instrument, telemetry, client, fake,
                                                                            guard, caught):
    """Given a ``text_format``, the Responses helper raises when the answer's text is done and does not fit it,
    on an event llmtel has just handed it: the call failed, as ``responses.parse`` fails on the same reply."""
    needs(client, "responses")
    pydantic = pytest.importorskip("pydantic")

    class Answer(pydantic.BaseModel):
        city: str

    instrument()
    fake.enqueue(ResponsesReply('{"town": 1}'))
    with contextlib.nullcontext() if caught else pytest.raises(pydantic.ValidationError):
        with client.responses.stream(model=CHAT_MODEL, input="where?", text_format=Answer) as stream:
            with pytest.raises(pydantic.ValidationError) if caught else contextlib.nullcontext():
                for _ in stream:
                    pass
    attrs = dict(telemetry.one_llm_span().attributes)
    assert 0 < attrs[sc.LLMTEL_STREAM_CHUNKS] < TOTAL["responses"]  # the events up to the answer's text
    check_stream_span(telemetry, end="error", chunks=attrs[sc.LLMTEL_STREAM_CHUNKS], finish=["error"],
                      error_type="ValidationError")
    guard.check()


def test_responses_stream_helper(instrument, telemetry, client, fake, guard):
    needs(client, "responses")
    instrument()
    fake.enqueue(reply("responses"))
    with client.responses.stream(model=CHAT_MODEL, input="say three words") as stream:
        events = list(stream)
        final = stream.get_final_response()
    assert events[-1].type == "response.completed"
    assert final.output_text == TEXT
    attrs = check_stream_span(telemetry, end="completed", chunks=TOTAL["responses"], finish=["stop"])
    assert attrs[sc.GEN_AI_RESPONSE_ID] == final.id
    guard.check()


# --- async -----------------------------------------------------------------------------------------------


async def take(stream: Any, count: int | None = None) -> list[Any]:
    received = []
    async for item in stream:
        received.append(item)
        if count is not None and len(received) == count:
            break
    return received


@pytest.mark.parametrize("kind", KINDS)
def test_async_fully_consumed(instrument, telemetry, aclient, fake, guard, kind):
    needs(aclient, kind)
    instrument()
    fake.enqueue(reply(kind))

    async def main():
        stream = await resource(aclient, kind).create(**arguments(kind))
        check_sdk_stream(stream, True)
        return await take(stream)

    items = asyncio.run(main())
    assert len(items) == TOTAL[kind]
    assert last_text(kind, items) == TEXT
    check_stream_span(telemetry, end="completed", chunks=TOTAL[kind], finish=done_finish(kind))
    guard.check()


@pytest.mark.parametrize("kind", KINDS)
def test_async_break_then_dropped_is_abandoned(instrument, telemetry, aclient, fake, guard, kind):
    needs(aclient, kind)
    instrument()
    fake.enqueue(reply(kind))

    async def main():
        stream = await resource(aclient, kind).create(**arguments(kind))
        received = await take(stream, PARTIAL)
        assert telemetry.llm_spans() == []
        del stream
        # The SDK's ``__aiter__`` generator, left by ``break``, holds the stream until the loop has run its
        # ``aclose()`` (two loop turns); then the cycle collector frees the stream. This happens inside the
        # loop: the span must end at collection, not at the loop's shutdown.
        for _ in range(20):
            await asyncio.sleep(0)
            collect_garbage()
            if telemetry.llm_spans():
                break
        return received

    assert len(asyncio.run(main())) == PARTIAL
    check_stream_span(telemetry, end="abandoned", chunks=PARTIAL, finish=cut_finish(kind))
    guard.check()


@pytest.mark.parametrize("kind", KINDS)
def test_async_close_after_partial_read(instrument, telemetry, aclient, fake, guard, kind):
    needs(aclient, kind)
    instrument()
    fake.enqueue(reply(kind))

    async def main():
        stream = await resource(aclient, kind).create(**arguments(kind))
        received = [await stream.__anext__() for _ in range(PARTIAL)]
        await stream.close()
        check_sdk_stream(stream, True)
        assert stream.response.is_closed
        return received

    assert len(asyncio.run(main())) == PARTIAL
    check_stream_span(telemetry, end="closed", chunks=PARTIAL, finish=cut_finish(kind))
    guard.check()


@pytest.mark.parametrize("kind", KINDS)
def test_async_with_block_left_after_partial_read(instrument, telemetry, aclient, fake, guard, kind):
    needs(aclient, kind)
    instrument()
    fake.enqueue(reply(kind))

    async def main():
        async with await resource(aclient, kind).create(**arguments(kind)) as stream:
            check_sdk_stream(stream, True)
            return await take(stream, PARTIAL)

    assert len(asyncio.run(main())) == PARTIAL
    check_stream_span(telemetry, end="closed", chunks=PARTIAL, finish=cut_finish(kind))
    guard.check()


@pytest.mark.parametrize("kind", ["chat", "legacy"])
def test_async_server_error_chunk_mid_stream(instrument, telemetry, aclient, fake, guard, kind):
    instrument()
    fake.enqueue(reply(kind, fault=StreamFault(after=PARTIAL, kind="error")))
    received: list[Any] = []

    async def main():
        stream = await resource(aclient, kind).create(**arguments(kind))
        async for item in stream:
            received.append(item)

    with pytest.raises(openai.APIError) as raised:
        asyncio.run(main())
    assert type(raised.value) is openai.APIError
    assert len(received) == PARTIAL
    check_stream_span(telemetry, end="error", chunks=PARTIAL, finish=cut_finish(kind), error_type="APIError")
    guard.check()


def test_async_responses_error_event_mid_stream(instrument, telemetry, aclient, fake, guard):
    needs(aclient, "responses")
    instrument()
    fake.enqueue(reply("responses", fault=StreamFault(after=PARTIAL, kind="error")))

    async def main():
        return await take(await aclient.responses.create(**arguments("responses")))

    events = asyncio.run(main())
    assert [e.type for e in events] == ["response.created", "response.in_progress", "error"]
    check_stream_span(telemetry, end="error", chunks=3, finish=cut_finish("responses"), error_type="server_error")
    guard.check()


@pytest.mark.parametrize("kind", KINDS)
def test_async_server_disconnect_mid_stream(instrument, telemetry, aclient, fake, guard, kind):
    needs(aclient, kind)
    instrument()
    fake.enqueue(reply(kind, fault=StreamFault(after=PARTIAL, kind="disconnect")))
    received: list[Any] = []

    async def main():
        stream = await resource(aclient, kind).create(**arguments(kind))
        async for item in stream:
            received.append(item)

    with pytest.raises(Exception) as raised:
        asyncio.run(main())
    assert type(raised.value).__name__ in ("APIConnectionError", "RemoteProtocolError")
    assert len(received) == PARTIAL
    check_stream_span(telemetry, end="error", chunks=PARTIAL, finish=cut_finish(kind),
                      error_type=type(raised.value).__qualname__)
    guard.check()


@pytest.mark.parametrize("kind", KINDS)
def test_async_truncated_stream(instrument, telemetry, aclient, fake, guard, kind):
    needs(aclient, kind)
    instrument()
    fake.enqueue(reply(kind, fault=StreamFault(after=PARTIAL, kind="truncate")))

    async def main():
        return await take(await resource(aclient, kind).create(**arguments(kind)))

    assert len(asyncio.run(main())) == PARTIAL
    check_stream_span(telemetry, end="completed", chunks=PARTIAL, finish=cut_finish(kind))
    guard.check()


@pytest.mark.parametrize("kind", KINDS)
def test_async_task_cancelled_while_awaiting_a_chunk(instrument, telemetry, aclient, fake, guard, kind):
    needs(aclient, kind)
    instrument()
    fake.enqueue(reply(kind, chunk_delay=SLOW))
    received: list[Any] = []

    async def consume(got_some: asyncio.Event):
        stream = await resource(aclient, kind).create(**arguments(kind))
        async for item in stream:
            received.append(item)
            if len(received) == 1:
                got_some.set()

    async def main():
        got_some = asyncio.Event()
        task = asyncio.create_task(consume(got_some))
        await got_some.wait()
        await asyncio.sleep(0.02)  # the consumer is now awaiting the next chunk (SLOW s away)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        check_stream_span(telemetry, end="cancelled", chunks=1, finish=cut_finish(kind))

    asyncio.run(main())
    assert len(received) == 1
    guard.check()


@pytest.mark.parametrize("kind", KINDS)
def test_async_closed_by_another_task_while_being_read(instrument, telemetry, aclient, fake, guard, kind):
    needs(aclient, kind)
    instrument()
    fake.enqueue(reply(kind, chunk_delay=SLOW))
    received: list[Any] = []

    async def main():
        stream = await resource(aclient, kind).create(**arguments(kind))
        got_some = asyncio.Event()

        async def read():
            async for item in stream:
                received.append(item)
                if len(received) == 1:
                    got_some.set()

        reader = asyncio.create_task(read())
        await got_some.wait()
        await asyncio.sleep(0.02)  # the reader now awaits the next chunk, SLOW s away
        await stream.close()
        await asyncio.wait([reader], timeout=5)
        assert reader.done()
        reader.exception() if not reader.cancelled() else None  # the SDK's error to the reader: retrieved
        check_stream_span(telemetry, end="closed", chunks=1, finish=cut_finish(kind))

    asyncio.run(main())
    assert len(received) == 1
    guard.check()


@pytest.mark.parametrize("kind", KINDS)
def test_async_abandoned_without_reading(instrument, telemetry, aclient, fake, guard, kind):
    needs(aclient, kind)
    instrument()
    fake.enqueue(reply(kind))

    async def main():
        stream = await resource(aclient, kind).create(**arguments(kind))
        check_sdk_stream(stream, True)
        response = stream.response
        del stream
        collect_garbage()
        check_stream_span(telemetry, end="abandoned", chunks=0, finish=cut_finish(kind))
        await response.aclose()

    asyncio.run(main())
    assert len(telemetry.llm_spans()) == 1
    guard.check()


@pytest.mark.parametrize("kind", KINDS)
def test_async_with_raw_response_parse(instrument, telemetry, aclient, fake, guard, kind):
    needs(aclient, kind)
    instrument()
    fake.enqueue(reply(kind))

    async def main():
        raw = await resource(aclient, kind).with_raw_response.create(**arguments(kind))
        assert type(raw).__name__ == "LegacyAPIResponse"
        stream = raw.parse()
        check_sdk_stream(stream, True)
        assert raw.parse() is stream
        return await take(stream)

    assert len(asyncio.run(main())) == TOTAL[kind]
    check_stream_span(telemetry, end="completed", chunks=TOTAL[kind], finish=done_finish(kind))
    guard.check()


@pytest.mark.parametrize("kind", KINDS)
def test_async_with_streaming_response_parse(instrument, telemetry, aclient, fake, guard, kind):
    needs(aclient, kind)
    instrument()
    fake.enqueue(reply(kind))

    async def main():
        async with resource(aclient, kind).with_streaming_response.create(**arguments(kind)) as response:
            assert type(response).__name__ == "AsyncAPIResponse"
            stream = await response.parse()
            check_sdk_stream(stream, True)
            assert await response.parse() is stream
            return await take(stream)

    assert len(asyncio.run(main())) == TOTAL[kind]
    check_stream_span(telemetry, end="completed", chunks=TOTAL[kind], finish=done_finish(kind))
    guard.check()


def test_async_chat_stream_helper(instrument, telemetry, aclient, fake, guard):
    stream_helper = chat_stream_helper(aclient)
    instrument()
    fake.enqueue(reply("chat"))
    fake.enqueue(reply("chat"))

    async def main():
        async with stream_helper(model=CHAT_MODEL, messages=MESSAGES) as stream:
            events = [e async for e in stream]
        async with stream_helper(model=CHAT_MODEL, messages=MESSAGES) as stream:
            final = await stream.get_final_completion()
        return events, final

    events, final = asyncio.run(main())
    assert len([e for e in events if e.type == "chunk"]) == TOTAL["chat"]
    assert final.choices[0].message.content == TEXT
    spans = telemetry.llm_spans()
    assert len(spans) == 2
    for span in spans:
        assert span.attributes[sc.LLMTEL_STREAM_END] == "completed"
        assert span.attributes[sc.LLMTEL_STREAM_CHUNKS] == TOTAL["chat"]
        assert span.attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    guard.check()


@pytest.mark.parametrize(("finish", "error_class"), REFUSALS)
def test_async_chat_stream_helper_refusing_a_cut_reply_fails_the_span(instrument, telemetry, aclient, fake, guard,
                                                                       finish, error_class):
    stream_helper, answer = refused_helper_call(aclient, instrument, fake, finish)
    seen = 0

    async def main():
        nonlocal seen
        async with stream_helper(model=CHAT_MODEL, messages=MESSAGES, response_format=answer) as stream:
            async for event in stream:
                seen += event.type == "chunk"

    with pytest.raises(getattr(openai, error_class)):
        asyncio.run(main())
    check_stream_span(telemetry, end="error", chunks=seen + 1, finish=[finish], error_type=error_class)
    guard.check()


def test_async_responses_stream_helper(instrument, telemetry, aclient, fake, guard):
    needs(aclient, "responses")
    instrument()
    fake.enqueue(reply("responses"))

    async def main():
        async with aclient.responses.stream(model=CHAT_MODEL, input="say three words") as stream:
            events = [e async for e in stream]
            return events, await stream.get_final_response()

    events, final = asyncio.run(main())
    assert events[-1].type == "response.completed"
    assert final.output_text == TEXT
    check_stream_span(telemetry, end="completed", chunks=TOTAL["responses"], finish=["stop"])
    guard.check()


# --- the checks themselves can fail ------------------------------------------------------------------------


def test_open_span_tracker_sees_an_unended_span(telemetry, caplog):
    spans = OpenSpans()
    telemetry.tracer_provider.add_span_processor(spans)
    span = telemetry.tracer_provider.get_tracer("t").start_span("left open")
    assert list(spans.open.values()) == ["left open"]
    span.end()
    assert spans.open == {} and spans.started == 1


def test_detach_failures_are_seen_by_the_guard(telemetry, guard):
    from opentelemetry import context

    telemetry.tracer_provider.get_tracer("t").start_span("x").end()
    token = context.attach(context.set_value("k", 1))
    asyncio.run(asyncio.to_thread(context.detach, token))  # detached in another context: logged
    context.detach(token)
    with pytest.raises(AssertionError):
        guard.check()


def test_async_call_cancelled_before_the_reply_is_not_an_error(instrument, telemetry, aclient, fake, guard):
    """A caller cancelling while waiting for the reply (a "stop" button) is recorded like a mid-stream cancel."""
    from llmtel.testing import Delay

    instrument()
    fake.enqueue(Delay(5.0))

    async def scenario():
        task = asyncio.create_task(aclient.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    span = telemetry.one_llm_span()
    assert span.status.status_code is StatusCode.UNSET
    assert sc.ERROR_TYPE not in span.attributes
    assert span.attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("error",)
