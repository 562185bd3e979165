"""``time_per_output_chunk`` (opt-in): one point per streamed chunk after the first, the gap since the one
before, with the call's metric attributes; nothing is recorded, and no arrival times kept, when it is off."""

from __future__ import annotations

import asyncio

import pytest

from llmtel import semconv as sc
from llmtel.config import resolve_genai_settings
from llmtel.testing import ChatReply, ResponsesReply
from tests.instrumentation.openai._stream_helpers import CHAT_MODEL, MESSAGES

openai = pytest.importorskip("openai")

pytestmark = pytest.mark.timeout(20)
GAP = 0.03


def chunk_points(telemetry):
    return telemetry.metric_points(sc.METRIC_TIME_PER_OUTPUT_CHUNK)


def test_off_by_default(instrument, telemetry, client, fake):
    instrument()
    fake.enqueue(ChatReply("alpha beta gamma", chunk_delay=GAP))
    for _ in client.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES, stream=True):
        pass
    assert chunk_points(telemetry) == []
    assert telemetry.one_llm_span().attributes[sc.LLMTEL_STREAM_CHUNKS] >= 3


def test_one_point_per_chunk_after_the_first(instrument, telemetry, client, fake):
    instrument(chunk_timing=True)
    fake.enqueue(ChatReply("alpha beta gamma", chunk_delay=GAP))
    received = list(client.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES, stream=True))
    span = telemetry.one_llm_span()
    (point,) = chunk_points(telemetry)
    assert point.count == len(received) - 1 == span.attributes[sc.LLMTEL_STREAM_CHUNKS] - 1
    assert point.min >= GAP * 0.5  # each gap spans at least one of the server's pauses between events
    duration = (span.end_time - span.start_time) / 1e9
    ttfc = span.attributes[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK]
    assert point.sum <= duration - ttfc + 1e-6  # the gaps fit between the first chunk and the end
    assert dict(point.attributes) == {
        sc.GEN_AI_OPERATION_NAME: "chat",
        sc.GEN_AI_PROVIDER_NAME: "openai",
        sc.GEN_AI_REQUEST_MODEL: CHAT_MODEL,
        sc.GEN_AI_RESPONSE_MODEL: span.attributes[sc.GEN_AI_RESPONSE_MODEL],
        sc.SERVER_ADDRESS: "127.0.0.1",
        sc.SERVER_PORT: fake.port,
    }
    assert tuple(point.explicit_bounds) == tuple(sc.DURATION_BUCKETS)


def test_stream_left_early_records_the_chunks_read(instrument, telemetry, client, fake):
    instrument(chunk_timing=True)
    fake.enqueue(ChatReply("alpha beta gamma delta epsilon", chunk_delay=GAP))
    with client.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES, stream=True) as stream:
        for index, _ in enumerate(stream):
            if index == 2:
                break
    (point,) = chunk_points(telemetry)
    assert point.count == 2


def test_async_responses_stream_from_the_environment(monkeypatch, instrument, telemetry, aclient, fake):
    monkeypatch.setenv("LLMTEL_CHUNK_TIMING", "true")
    instrument()
    fake.enqueue(ResponsesReply("alpha beta", chunk_delay=GAP))

    async def main():
        events = []
        async for event in await aclient.responses.create(model=CHAT_MODEL, input="hi", stream=True):
            events.append(event)
        return events

    events = asyncio.run(main())
    (point,) = chunk_points(telemetry)
    assert point.count == len(events) - 1


def test_bad_setting_is_a_clear_error():
    with pytest.raises(ValueError, match="LLMTEL_CHUNK_TIMING"):
        resolve_genai_settings(environ={"LLMTEL_CHUNK_TIMING": "sometimes"})
    assert resolve_genai_settings(environ={"LLMTEL_CHUNK_TIMING": "on"}).chunk_timing is True
    assert resolve_genai_settings(environ={"LLMTEL_CHUNK_TIMING": "on"}, chunk_timing=False).chunk_timing is False
