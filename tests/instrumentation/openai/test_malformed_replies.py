"""Whatever a server sends, the caller gets what the SDK alone would give, and the telemetry stays exportable.

A seeded fuzz: well-formed replies of each kind (taken from the fake server) are mutated at random (fields
dropped, replaced by values of the wrong type, by huge or negative numbers; stream events dropped or cut short)
and each is answered once to the SDK alone and once to the instrumented SDK. The two outcomes (the object
returned, or the exception and its message) must be identical, each call must make exactly one ended span, and
the spans and metric points must still encode with the stock OTLP encoders. Then the cases this fuzz found: a
choice index of ``10**20``, token counts that are not counts, integers beyond 64 bits in a request."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import urllib.request
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

from llmtel import semconv as sc
from llmtel.instrumentation.openai import extract
from llmtel.testing import ChatReply, CompletionReply, EmbeddingsReply, ErrorReply, RawReply, ResponsesReply, ToolCall, Usage
from tests.instrumentation.openai import _stream_helpers
from tests.instrumentation.openai._stream_helpers import CHAT_MODEL, LEGACY_MODEL, MESSAGES

aclient = _stream_helpers.aclient
client = _stream_helpers.client
frozen = _stream_helpers.frozen
frozen_heap = _stream_helpers.frozen_heap

openai = pytest.importorskip("openai")

pytestmark = pytest.mark.timeout(120)

EMBEDDING_MODEL = "text-embedding-3-small"
CASES_PER_KIND = 12
# What a mutated field becomes: the wrong type, nothing, or a number no count can be.
ODD_VALUES: list[Any] = [None, 0, -1, 1.5, 10**20, 2**63, "", "x", [], [1], {}, {"a": 1}, True, [None], [{}]]
DROP = object()


def _helper_events(c: Any, **params: Any) -> Any:
    with c.chat.completions.stream(**params) as stream:
        return [event.type for event in stream], stream.get_final_completion()


async def _async_chunks(c: Any, **params: Any) -> list[Any]:
    return [chunk async for chunk in await c.chat.completions.create(**params)]


def calls(fake: Any, aclient: Any, loop: asyncio.AbstractEventLoop) -> dict[str, tuple[Any, Any]]:
    """Each kind of call under test: how it is made (given the sync client), and the well-formed data its
    replies are mutated from. Async calls run in ``loop``."""
    chat = {"model": CHAT_MODEL, "messages": MESSAGES}
    chat_stream = {**chat, "stream": True, "stream_options": {"include_usage": True}}
    legacy = {"model": LEGACY_MODEL, "prompt": "hi"}
    responses = {"model": CHAT_MODEL, "input": "hi"}
    weather = (ToolCall("get_weather", {"city": "Paris"}),)
    kinds = {
        "chat": (lambda c: c.chat.completions.create(**chat), well_formed(fake, ChatReply(tool_calls=weather), chat)),
        "chat stream": (lambda c: list(c.chat.completions.create(**chat_stream)),
                        well_formed(fake, ChatReply(tool_calls=weather), chat_stream)),
        "chat stream, two choices": (lambda c: list(c.chat.completions.create(**chat_stream, n=2)),
                                     well_formed(fake, ChatReply(n=2), {**chat_stream, "n": 2})),
        "chat .stream() helper": (lambda c: _helper_events(c, **chat),
                                  well_formed(fake, ChatReply(tool_calls=weather), chat_stream)),
        "async chat stream": (lambda c: loop.run_until_complete(_async_chunks(aclient, **chat_stream)),
                              well_formed(fake, ChatReply(), chat_stream)),
        "responses": (lambda c: c.responses.create(**responses),
                      well_formed(fake, ResponsesReply(function_calls=weather, reasoning="think"), responses)),
        "responses stream": (lambda c: list(c.responses.create(**responses, stream=True)),
                             well_formed(fake, ResponsesReply(reasoning="think"), {**responses, "stream": True})),
        "embeddings": (lambda c: c.embeddings.create(model=EMBEDDING_MODEL, input=["a", "b"]),
                       well_formed(fake, EmbeddingsReply(), {"model": EMBEDDING_MODEL, "input": ["a", "b"]})),
        "completion": (lambda c: c.completions.create(**legacy), well_formed(fake, CompletionReply(), legacy)),
        "completion stream": (lambda c: list(c.completions.create(**legacy, stream=True)),
                              well_formed(fake, CompletionReply(), {**legacy, "stream": True})),
    }
    for error in (ErrorReply.bad_request(), ErrorReply.rate_limited(), ErrorReply.server_error()):
        kinds[f"error {error.status}"] = (lambda c: c.chat.completions.create(**chat), error)
    return kinds


def well_formed(fake: Any, reply: Any, body: dict[str, Any]) -> Any:
    """The fake's reply to ``body`` as data: a JSON value, or a stream's list of events (``(name, data)`` or
    ``data``)."""
    fake.enqueue(reply)
    path = {ChatReply: "/chat/completions", ResponsesReply: "/responses", EmbeddingsReply: "/embeddings",
            CompletionReply: "/completions"}[type(reply)]
    request = urllib.request.Request(fake.base_url + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - the fake, on loopback
        text = answer.read().decode()
    if not body.get("stream"):
        return json.loads(text)
    events = []
    for block in text.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "data" in lines and lines["data"] != "[DONE]":
            data = json.loads(lines["data"])
            events.append((lines["event"], data) if "event" in lines else data)
    return events


def mutated(value: Any, rng: random.Random, rate: float) -> Any:
    if rng.random() < rate:
        return DROP if rng.random() < 0.2 else rng.choice(ODD_VALUES)
    if isinstance(value, dict):
        return {key: item for key, item in ((k, mutated(v, rng, rate)) for k, v in value.items()) if item is not DROP}
    if isinstance(value, list):
        return [item for item in (mutated(v, rng, rate) for v in value) if item is not DROP]
    return value


def malformed(data: Any, rng: random.Random) -> RawReply:
    rate = rng.choice([0.02, 0.05, 0.15])
    if isinstance(data, ErrorReply):  # its body, and a retry-after header that may not be a number
        body = mutated(data.body(), rng, 0.2)
        return RawReply.json(None if body is DROP else body, status=data.status,
                             headers={"retry-after": rng.choice(["0", "-1", "x", "1e400", "nan"])})
    if isinstance(data, dict):
        body = mutated(data, rng, rate)
        return RawReply.json(None if body is DROP else body)
    events = []
    for event in data:
        name, payload = event if isinstance(event, tuple) else (None, event)
        payload = mutated(payload, rng, rate)
        if payload is not DROP:
            events.append(payload if name is None else (name, payload))
    if events and rng.random() < 0.1:
        del events[rng.randrange(len(events))]
    return RawReply.sse(events, done=rng.random() > 0.1)


def outcome(fake: Any, client: Any, make: Any, reply: RawReply) -> tuple[Any, ...]:
    """What the caller gets: the reply object (by its ``repr``), or the exception's type and message."""
    fake.enqueue(reply)
    try:
        return ("returned", repr(make(client)))
    except Exception as error:  # noqa: BLE001
        return ("raised", type(error).__name__, str(error))


@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings")  # the SDK's, dumping what it was sent
def test_malformed_replies_change_nothing_for_the_caller(instrument, telemetry, client, aclient, fake, caplog):
    cases = []
    rng = random.Random(20261124)
    loop = asyncio.new_event_loop()  # one for every async call: the async client's connections belong to it
    for kind, (make, data) in calls(fake, aclient, loop).items():
        cases += [(kind, make, malformed(data, rng)) for _ in range(CASES_PER_KIND)]
    alone = [outcome(fake, client, make, reply) for _, make, reply in cases]  # before instrumenting
    assert {result[0] for result in alone} == {"returned", "raised"}  # the fuzz reaches both

    instrument(capture_message_content="SPAN_AND_EVENT")
    caplog.set_level(logging.WARNING)
    for (kind, make, reply), expected in zip(cases, alone):
        telemetry.span_exporter.clear()
        got = outcome(fake, client, make, reply)
        assert got == expected, (kind, reply.body)
        spans = telemetry.llm_spans()
        assert len(spans) == 1 and spans[0].end_time is not None, (kind, reply.body)
        failed = dict(spans[0].attributes).get(sc.ERROR_TYPE) is not None
        if kind == "chat .stream() helper":
            # What the helper raises on a chunk it cannot read fails the span (its chunk handler is hooked); what
            # it raises outside that handler (on a chunk that is not an object at all) leaves the span closed.
            assert not failed or got[0] == "raised", (kind, got)
        else:
            assert failed == (got[0] == "raised"), (kind, got)
        encode_spans(telemetry.spans())
    loop.run_until_complete(loop.shutdown_asyncgens())  # the streams left unread, closed as the app's would be
    loop.close()
    encode_metrics(telemetry.metric_reader.get_metrics_data())  # raises on a value OTLP cannot carry
    # The SDK's own complaints (an attribute of a wrong type, a negative histogram value, a value OTLP cannot
    # encode): none. llmtel's own warnings name what it could not read, once each.
    sdk = [r.getMessage() for r in caplog.records if r.name.startswith("opentelemetry")]
    assert sdk == []


def stream_chunk(index: Any, finish: str | None, **extra: Any) -> dict[str, Any]:
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": CHAT_MODEL,
            "choices": [{"index": index, "delta": {"content": "hi"}, "finish_reason": finish}], **extra}


def test_a_huge_choice_index_reports_a_bounded_list_of_finish_reasons(instrument, telemetry, client, fake):
    """A finish reason at choice index ``10**20`` once made a list of that many reasons (the process ran out of
    memory); now at most ``MAX_CHOICES`` are reported."""
    instrument()
    fake.enqueue(RawReply.sse([stream_chunk(0, None), stream_chunk(10**20, "stop")]))
    chunks = list(client.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES, stream=True))
    assert len(chunks) == 2
    attrs = dict(telemetry.one_llm_span().attributes)
    reasons = attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS]
    assert len(reasons) == extract.MAX_CHOICES == 128
    assert set(reasons) == {"error"}  # index 0 never finished; the reason at 10**20 is beyond what is reported
    assert attrs[sc.LLMTEL_STREAM_CHUNKS] == 2


def test_a_fractional_choice_index_does_not_cost_the_stream_its_summary(instrument, telemetry, client, fake):
    instrument()
    fake.enqueue(RawReply.sse([stream_chunk(0.5, "stop")]))
    list(client.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES, stream=True))
    attrs = dict(telemetry.one_llm_span().attributes)
    assert (attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS], attrs[sc.LLMTEL_STREAM_CHUNKS]) == (("error",), 1)


def test_a_chunk_the_stream_helper_cannot_read_fails_the_span(instrument, telemetry, client, fake):
    """The chat ``.stream()`` helper raising on a chunk fails the span with that error, as ``parse()`` does on a
    reply it cannot read (before, only its two refusals did; any other error left the span closed)."""
    instrument()
    broken = {**stream_chunk(0, None), "choices": [{"index": 0, "delta": 5, "finish_reason": None}]}
    fake.enqueue(RawReply.sse([stream_chunk(0, None), broken]))
    with pytest.raises(AttributeError):
        with client.chat.completions.stream(model=CHAT_MODEL, messages=MESSAGES) as stream:
            for _ in stream:
                pass
    attrs = dict(telemetry.one_llm_span().attributes)
    assert (attrs[sc.ERROR_TYPE], attrs[sc.LLMTEL_STREAM_END]) == ("AttributeError", "error")


@pytest.mark.parametrize("reason", [10**20, 7, ["stop"], ""])
def test_a_finish_reason_that_is_not_a_string_is_reported_as_error(reason, instrument, telemetry, client, fake):
    """A stream's finish reasons were reported as they came: an integer one made the attribute an integer array,
    and one beyond 64 bits failed its export."""
    instrument()
    fake.enqueue(RawReply.sse([stream_chunk(0, None), stream_chunk(0, reason)]))
    list(client.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES, stream=True))
    fake.enqueue(RawReply.sse([stream_chunk(0, "stop"), stream_chunk(1, reason)]))  # two choices
    list(client.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES, stream=True))
    one, two = telemetry.llm_spans()
    assert one.attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("error",)
    assert two.attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop", "error")
    encode_spans(telemetry.spans())


CHAT_BODY = {
    "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini-2024-07-18",
    "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "hi"}}],
}


@pytest.mark.parametrize("bad", [-5, 10**20, 2**32, 1.5, [3]])
def test_a_token_count_that_is_not_a_count_marks_the_usage_invalid(
        bad, instrument, telemetry, client, fake, monkeypatch, caplog):
    """Counts outside 0 to 2**32 - 1 were recorded as they came: a negative one made the SDK warn on every
    metric point, one beyond 64 bits failed the export of its span attribute and, added to a cumulative counter
    (the newest metric names), of that metric on every export after. Now the count is left unset, the other
    counts are kept, the call is not priced and says why, and the export works."""
    monkeypatch.setattr(extract, "_warned", set())
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "gen_ai_latest_experimental")
    instrument()
    caplog.set_level(logging.WARNING)
    usage = {"prompt_tokens": bad, "completion_tokens": 7, "total_tokens": 7,
             "prompt_tokens_details": {"cached_tokens": bad}}
    for _ in range(2):
        fake.enqueue(RawReply.json({**CHAT_BODY, "usage": usage}))
        client.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES)
    attrs = dict(telemetry.llm_spans()[-1].attributes)
    assert sc.GEN_AI_USAGE_INPUT_TOKENS not in attrs and sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS not in attrs
    assert attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 7
    assert attrs[sc.LLMTEL_USAGE_SOURCE] == "invalid"
    assert attrs[sc.LLMTEL_COST_STATUS] == "invalid_usage" and sc.LLMTEL_COST_USD not in attrs
    (output,) = telemetry.metric_points(sc.METRIC_USAGE_OUTPUT_TOKENS)
    assert output.value == 14
    assert telemetry.metric_points(sc.METRIC_COST) == []
    encode_spans(telemetry.spans())
    encode_metrics(telemetry.metric_reader.get_metrics_data())
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warned == [f"llmtel: chat {CHAT_MODEL}: the reply reported prompt_tokens={bad!r}, which is not a token"
                      " count; the call's usage is marked invalid (llmtel.usage.source=invalid) and the call is"
                      " not priced"]


def test_a_responses_count_that_is_not_a_count_marks_the_usage_invalid(instrument, telemetry, client, fake):
    instrument()
    fake.enqueue(ResponsesReply(usage=Usage(prompt=10, completion=4, reasoning=3)))
    body = client.responses.with_raw_response.create(model=CHAT_MODEL, input="hi").http_response.json()
    body["usage"]["output_tokens_details"]["reasoning_tokens"] = -3
    fake.enqueue(RawReply.json(body))
    client.responses.create(model=CHAT_MODEL, input="hi")
    attrs = dict(telemetry.llm_spans()[-1].attributes)
    assert (attrs[sc.GEN_AI_USAGE_INPUT_TOKENS], attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS]) == (10, 4)
    assert sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS not in attrs
    assert (attrs[sc.LLMTEL_USAGE_SOURCE], attrs[sc.LLMTEL_COST_STATUS]) == ("invalid", "invalid_usage")


def test_request_integers_beyond_64_bits_are_left_out(instrument, telemetry, client, fake):
    instrument()
    fake.enqueue(RawReply.json(CHAT_BODY))
    client.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES, seed=10**20, max_completion_tokens=2**63,
                                   n=-(2**64))
    attrs = dict(telemetry.one_llm_span().attributes)
    assert not {sc.GEN_AI_REQUEST_SEED, sc.GEN_AI_REQUEST_MAX_TOKENS, sc.GEN_AI_REQUEST_CHOICE_COUNT} & set(attrs)
    encode_spans(telemetry.spans())
