"""Responses API through the real client: create, parse, retrieve; exact attributes, usage, finish reasons,
failures, content; sync and async."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from llmtel import semconv as sc
from llmtel.genai.content import short_sha256
from llmtel.testing import RESPONSES_COMPACT, ErrorReply, ResponsesReply, ToolCall, Usage
from tests.instrumentation.openai import _stream_helpers
from tests.instrumentation.openai.conftest import HTTP_SCOPE

# shared fixtures (see _stream_helpers)
aclient = _stream_helpers.aclient
client = _stream_helpers.client
frozen = _stream_helpers.frozen
frozen_heap = _stream_helpers.frozen_heap

openai = pytest.importorskip("openai")
if not hasattr(openai.OpenAI, "responses"):
    pytest.skip(f"openai {openai.__version__} has no Responses API", allow_module_level=True)

from pydantic import BaseModel

pytestmark = pytest.mark.timeout(20)

USAGE = Usage(prompt=1000, completion=200, cached=600, reasoning=50, cache_write=100)
# gpt-4o-mini: $0.15/M input, $0.075/M cached input, $0.60/M output (reasoning is billed as output); no
# cache-write price: cache writes at the input price
COST = (400 * 0.15 + 600 * 0.075 + 200 * 0.60) / 1e6


def expected_attributes(fake: Any, response_id: str, **extra: Any) -> dict[str, Any]:
    attrs = {
        sc.GEN_AI_OPERATION_NAME: "chat",
        sc.GEN_AI_PROVIDER_NAME: "openai",
        sc.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
        sc.SERVER_ADDRESS: "127.0.0.1",
        sc.SERVER_PORT: fake.port,
        sc.OPENAI_API_TYPE: "responses",
        sc.GEN_AI_RESPONSE_ID: response_id,
        sc.GEN_AI_RESPONSE_MODEL: "gpt-4o-mini-2024-07-18",
        sc.OPENAI_RESPONSE_SERVICE_TIER: "default",
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
        sc.GEN_AI_USAGE_INPUT_TOKENS: 1000,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: 200,
        sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 600,
        sc.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: 100,
        sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: 50,
        sc.LLMTEL_USAGE_SOURCE: "response",
        sc.LLMTEL_COST_STATUS: "priced",
    }
    attrs.update(extra)
    return attrs


def without_cost_values(attrs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attrs.items() if k not in (sc.LLMTEL_COST_USD, sc.LLMTEL_COST_PRICES)}


def test_create_has_exactly_the_expected_attributes(instrument, telemetry, client, fake):
    instrument()
    fake.enqueue(ResponsesReply("Paris.", model="gpt-4o-mini-2024-07-18", usage=USAGE))
    response = client.responses.create(model="gpt-4o-mini", input="capital of France?", temperature=0.2, top_p=0.5,
                                       max_output_tokens=300, reasoning={"effort": "low"},
                                       previous_response_id="resp_earlier", service_tier="flex")
    assert type(response) is openai.types.responses.Response
    span = telemetry.one_llm_span()
    assert span.name == "chat gpt-4o-mini"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    attrs = dict(span.attributes)
    assert without_cost_values(attrs) == expected_attributes(
        fake, response.id,
        **{
            sc.GEN_AI_REQUEST_TEMPERATURE: 0.2,
            sc.GEN_AI_REQUEST_TOP_P: 0.5,
            sc.GEN_AI_REQUEST_MAX_TOKENS: 300,
            sc.GEN_AI_REQUEST_REASONING_LEVEL: "low",
            sc.GEN_AI_REQUEST_PREVIOUS_RESPONSE_ID: "resp_earlier",
            sc.OPENAI_REQUEST_SERVICE_TIER: "flex",
        },
    )
    assert attrs[sc.LLMTEL_COST_USD] == pytest.approx(COST)
    tokens = {p.attributes[sc.GEN_AI_TOKEN_TYPE]: p.sum for p in telemetry.metric_points(sc.METRIC_TOKEN_USAGE)}
    assert tokens == {"input": 1000, "output": 200}
    (duration,) = telemetry.metric_points(sc.METRIC_OPERATION_DURATION)
    assert duration.attributes[sc.GEN_AI_RESPONSE_MODEL] == "gpt-4o-mini-2024-07-18"


def test_conversation_id_is_recorded(instrument, telemetry, client, fake):
    instrument()
    client.responses.create(model="gpt-4o-mini", input="hi", extra_body={"conversation": {"id": "conv_123"}})
    assert telemetry.one_llm_span().attributes[sc.GEN_AI_CONVERSATION_ID] == "conv_123"


@pytest.mark.parametrize(
    ("reply", "finish"),
    [
        (ResponsesReply("done"), ("stop",)),
        (ResponsesReply(function_calls=[ToolCall("call_1", "lookup", '{"q": "x"}')]), ("tool_calls",)),
        (ResponsesReply("partial", status="incomplete"), ("length",)),
        (ResponsesReply("partial", status="incomplete", incomplete_reason="content_filter"), ("content_filter",)),
    ],
)
def test_finish_reasons(instrument, telemetry, client, fake, reply, finish):
    instrument()
    fake.enqueue(reply)
    client.responses.create(model="gpt-4o-mini", input="hi")
    span = telemetry.one_llm_span()
    assert span.attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] == finish
    assert span.status.status_code is StatusCode.UNSET
    assert sc.ERROR_TYPE not in span.attributes


@pytest.mark.parametrize("usage", [None, USAGE])
def test_failed_response_is_an_error_with_the_error_code(instrument, telemetry, client, fake, usage):
    instrument()
    fake.enqueue(ResponsesReply(status="failed", error_code="rate_limit_exceeded", error_message="slow down",
                                usage=usage))
    response = client.responses.create(model="gpt-4o-mini", input="hi")
    assert response.status == "failed"  # the SDK returns it; the span records the failure
    span = telemetry.one_llm_span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "slow down"
    attrs = span.attributes
    assert attrs[sc.ERROR_TYPE] == "rate_limit_exceeded"
    assert attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("error",)
    if usage is None:
        assert sc.LLMTEL_COST_STATUS not in attrs  # nothing reported, nothing billed: not priced
    else:  # the usage it reports is what was billed
        assert (attrs[sc.LLMTEL_COST_STATUS], attrs[sc.LLMTEL_COST_USD]) == ("priced", pytest.approx(COST))
    (duration,) = telemetry.metric_points(sc.METRIC_OPERATION_DURATION)
    assert duration.attributes[sc.ERROR_TYPE] == "rate_limit_exceeded"


@pytest.mark.parametrize(
    ("code", "mode", "retryable"),
    [("rate_limit_exceeded", "rate_limited", True), ("server_error", "server_error", True),
     ("vector_store_timeout", "timeout", True), ("invalid_prompt", "content_filter", False),
     ("invalid_image_url", "bad_request", False)],
)
@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
def test_failed_response_is_diagnosed(instrument, telemetry, client, fake, code, mode, retryable, streamed):
    """A ``failed`` response is no exception, yet a failure: its error code gets a mode and hint as an HTTP
    error would, and the failure log record in the span's context."""
    import logging

    from llmtel.logs import OTelLogHandler

    handler = OTelLogHandler(telemetry.logger_provider)
    logging.getLogger("llmtel.genai.diagnostics").addHandler(handler)
    try:
        instrument()
        fake.enqueue(ResponsesReply(status="failed", error_code=code, error_message="it went wrong"))
        if streamed:
            assert list(client.responses.create(model="gpt-4o-mini", input="hi", stream=True))[-1].type == (
                "response.failed")
        else:
            assert client.responses.create(model="gpt-4o-mini", input="hi").status == "failed"
    finally:
        logging.getLogger("llmtel.genai.diagnostics").removeHandler(handler)
    span = telemetry.one_llm_span()
    attrs = span.attributes
    assert (attrs[sc.ERROR_TYPE], attrs[sc.LLMTEL_ERROR_MODE]) == (code, mode)
    assert attrs[sc.LLMTEL_ERROR_RETRYABLE] is retryable and attrs[sc.LLMTEL_ERROR_HINT]
    assert attrs[sc.LLMTEL_ERROR_CODE] == code
    (record,) = [r for r in telemetry.events() if r.attributes.get("event") == "llm_call_failed"]
    assert record.span_id == span.context.span_id
    assert record.severity_text == ("WARNING" if retryable else "ERROR")


def test_http_error_is_an_error(instrument, telemetry, client, fake):
    instrument()
    fake.enqueue(ErrorReply.rate_limited())
    with pytest.raises(openai.RateLimitError):
        client.responses.create(model="gpt-4o-mini", input="hi")
    span = telemetry.one_llm_span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[sc.ERROR_TYPE] == "RateLimitError"
    assert span.attributes[sc.OPENAI_API_TYPE] == "responses"


class Capital(BaseModel):
    city: str
    population: int


def test_parse_with_a_pydantic_model(instrument, telemetry, client, fake):
    instrument(capture_content=True, redactor=None)
    parsed = client.responses.parse(model="gpt-4o-mini", input="capital of France?", text_format=Capital)
    assert parsed.output_parsed == Capital(city="example", population=1)
    assert fake.last_request.json["text"]["format"]["type"] == "json_schema"
    span = telemetry.one_llm_span()
    attrs = span.attributes
    assert attrs[sc.GEN_AI_OUTPUT_TYPE] == "json"
    assert attrs[sc.GEN_AI_RESPONSE_ID] == parsed.id
    assert attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert json.loads(attrs[sc.GEN_AI_OUTPUT_MESSAGES]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": '{"city": "example", "population": 1}'}],
         "finish_reason": "stop"}]


def test_content_fields_leave_out_the_instructions_and_the_reply(instrument, telemetry, client, fake):
    instrument(capture_content=True, content_fields="input")
    fake.enqueue(ResponsesReply("Paris."))
    client.responses.create(model="gpt-4o-mini", instructions="Answer in one word.", input=[
        {"role": "developer", "content": "Never guess."}, {"role": "user", "content": "capital of France?"}])
    attrs = telemetry.one_llm_span().attributes
    assert json.loads(attrs[sc.GEN_AI_SYSTEM_INSTRUCTIONS]) == [
        {"type": "text", "omitted": {"length": 19, "sha256": short_sha256("Answer in one word.")}}]
    assert json.loads(attrs[sc.GEN_AI_INPUT_MESSAGES]) == [
        {"role": "developer", "parts": [
            {"type": "text", "omitted": {"length": 12, "sha256": short_sha256("Never guess.")}}]},
        {"role": "user", "parts": [{"type": "text", "content": "capital of France?"}]}]
    assert json.loads(attrs[sc.GEN_AI_OUTPUT_MESSAGES]) == [{"role": "assistant", "parts": [
        {"type": "text", "omitted": {"length": 6, "sha256": short_sha256("Paris.")}}], "finish_reason": "stop"}]


def test_retrieve_is_fetch_response_without_usage(instrument, telemetry, client, fake):
    instrument(capture_content=True)
    fake.enqueue(ResponsesReply("Paris.", usage=USAGE))
    created = client.responses.create(model="gpt-4o-mini", input="capital of France?")
    telemetry.span_exporter.clear()
    retrieved = client.responses.retrieve(created.id)
    assert retrieved.id == created.id and retrieved.usage.input_tokens == 1000  # the API does send usage
    span = telemetry.one_llm_span()
    assert span.name == "fetch_response"
    assert span.kind is SpanKind.CLIENT
    attrs = dict(span.attributes)
    assert without_cost_values(attrs) == {
        sc.GEN_AI_OPERATION_NAME: "fetch_response",
        sc.GEN_AI_PROVIDER_NAME: "openai",
        sc.SERVER_ADDRESS: "127.0.0.1",
        sc.SERVER_PORT: fake.port,
        sc.OPENAI_API_TYPE: "responses",
        sc.GEN_AI_RESPONSE_ID: created.id,
        sc.GEN_AI_RESPONSE_MODEL: "gpt-4o-mini",
        sc.OPENAI_RESPONSE_SERVICE_TIER: "default",
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
    }
    assert fake.last_request.method == "GET"
    tokens = [p for p in telemetry.metric_points(sc.METRIC_TOKEN_USAGE) if p.attributes[sc.GEN_AI_OPERATION_NAME]
              == "fetch_response"]
    assert tokens == []
    assert {p.attributes[sc.GEN_AI_OPERATION_NAME] for p in telemetry.metric_points(sc.METRIC_COST)} == {"chat"}
    durations = {p.attributes[sc.GEN_AI_OPERATION_NAME]: p.count
                 for p in telemetry.metric_points(sc.METRIC_OPERATION_DURATION)}
    assert durations == {"chat": 1, "fetch_response": 1}


def test_background_result_is_counted_once_where_it_is_fetched(instrument, telemetry, client, fake):
    """A background call returns at once (queued, no usage); its tokens and cost appear on the first fetch
    of its result, and a second fetch does not count them again."""
    instrument()
    fake.enqueue(ResponsesReply("Long report.", model="gpt-4o-mini-2024-07-18", usage=USAGE))
    queued = client.responses.create(model="gpt-4o-mini", input="research this", background=True)
    assert (queued.status, queued.usage) == ("queued", None)
    first = client.responses.retrieve(queued.id)
    again = client.responses.retrieve(queued.id)
    assert first.status == again.status == "completed"
    create, fetched, refetched = (dict(span.attributes) for span in telemetry.llm_spans())
    assert create[sc.LLMTEL_USAGE_SOURCE] == "absent" and create[sc.LLMTEL_COST_STATUS] == "no_usage"
    assert fetched[sc.GEN_AI_OPERATION_NAME] == "fetch_response"
    assert (fetched[sc.GEN_AI_USAGE_INPUT_TOKENS], fetched[sc.GEN_AI_USAGE_OUTPUT_TOKENS]) == (1000, 200)
    assert fetched[sc.LLMTEL_USAGE_SOURCE] == "background_result"
    assert (fetched[sc.LLMTEL_COST_STATUS], fetched[sc.LLMTEL_COST_USD]) == ("priced", pytest.approx(COST))
    assert sc.GEN_AI_USAGE_INPUT_TOKENS not in refetched and sc.LLMTEL_COST_STATUS not in refetched
    (cost,) = telemetry.metric_points(sc.METRIC_COST)
    assert (cost.attributes[sc.GEN_AI_OPERATION_NAME], cost.value) == ("fetch_response", pytest.approx(COST))
    tokens = {p.attributes[sc.GEN_AI_TOKEN_TYPE]: p.sum for p in telemetry.metric_points(sc.METRIC_TOKEN_USAGE)}
    assert tokens == {"input": 1000, "output": 200}


def test_streamed_background_response_is_counted_by_its_stream_only(instrument, telemetry, client, fake):
    instrument()
    fake.enqueue(ResponsesReply("Long report.", usage=USAGE))
    events = list(client.responses.create(model="gpt-4o-mini", input="research", background=True, stream=True))
    client.responses.retrieve(events[-1].response.id)
    streamed, fetched = (dict(span.attributes) for span in telemetry.llm_spans())
    assert (streamed[sc.GEN_AI_USAGE_INPUT_TOKENS], streamed[sc.LLMTEL_COST_STATUS]) == (1000, "priced")
    assert sc.GEN_AI_USAGE_INPUT_TOKENS not in fetched and sc.LLMTEL_COST_STATUS not in fetched
    (cost,) = telemetry.metric_points(sc.METRIC_COST)
    assert cost.value == pytest.approx(COST)


# gpt-4o-mini's searches: $10 per 1,000 web searches, $2.50 per 1,000 file searches
SEARCH_FEES = 2 * 10 / 1_000 + 1 * 2.5 / 1_000


@pytest.mark.parametrize("mode", ["whole", "streamed", "async", "helper"])
def test_hosted_searches_are_counted_and_priced(instrument, telemetry, client, aclient, fake, mode):
    """Each web or file search the model ran is billed per call: counted on the span, in the cost and in the
    cost metric."""
    instrument()
    fake.enqueue(ResponsesReply("Rain.", model="gpt-4o-mini-2024-07-18", usage=USAGE, web_searches=2,
                                file_searches=1))
    request = {"model": "gpt-4o-mini", "input": "weather in Oslo?",
               "tools": [{"type": "web_search"}, {"type": "file_search", "vector_store_ids": ["vs_1"]}]}
    if mode == "whole":
        output = client.responses.create(**request).output
    elif mode == "streamed":
        output = [e for e in client.responses.create(**request, stream=True)][-1].response.output
    elif mode == "helper":
        with client.responses.stream(**request) as stream:
            output = stream.get_final_response().output
    else:
        output = asyncio.run(aclient.responses.create(**request)).output
    assert [item.type for item in output] == ["web_search_call", "web_search_call", "file_search_call", "message"]
    attrs = dict(telemetry.one_llm_span().attributes)
    assert (attrs[sc.tool_calls_attribute("web_search")], attrs[sc.tool_calls_attribute("file_search")]) == (2, 1)
    assert sc.tool_calls_attribute("web_search") == "llmtel.usage.web_search_calls"
    assert (attrs[sc.LLMTEL_COST_STATUS], attrs[sc.LLMTEL_COST_USD]) == ("priced", pytest.approx(COST + SEARCH_FEES))
    (cost,) = telemetry.metric_points(sc.METRIC_COST)
    assert cost.value == pytest.approx(COST + SEARCH_FEES)


@pytest.mark.parametrize("streamed", [False, True])
def test_code_interpreter_and_image_generation_calls_are_counted_and_leave_the_cost_partial(
    instrument, telemetry, client, fake, streamed
):
    """A code interpreter's container is billed per session and minute, an image generation apart from the
    tokens the reply reports: neither has a price in the data. Each call is counted, and the cost (the tokens
    and the searches) is marked as a lower bound."""
    instrument()
    fake.enqueue(ResponsesReply("Done.", usage=USAGE, web_searches=2, file_searches=1, code_interpreter_calls=2,
                                image_generations=1))
    request = {"model": "gpt-4o-mini", "input": "plot it",
               "tools": [{"type": "code_interpreter", "container": {"type": "auto"}}, {"type": "image_generation"}]}
    if streamed:
        output = list(client.responses.create(**request, stream=True))[-1].response.output
    else:
        output = client.responses.create(**request).output
    assert [item.type for item in output][3:5] == ["code_interpreter_call", "code_interpreter_call"]
    assert output[5].type == "image_generation_call" and output[5].result
    attrs = dict(telemetry.one_llm_span().attributes)
    assert {kind: attrs[sc.tool_calls_attribute(kind)] for kind in sc.LLMTEL_USAGE_TOOL_CALLS} == {
        "web_search": 2, "file_search": 1, "code_interpreter": 2, "image_generation": 1}
    assert sc.tool_calls_attribute("code_interpreter") == "llmtel.usage.code_interpreter_calls"
    assert sc.tool_calls_attribute("image_generation") == "llmtel.usage.image_generation_calls"
    assert (attrs[sc.LLMTEL_COST_STATUS], attrs[sc.LLMTEL_COST_USD]) == (
        "partially_priced", pytest.approx(COST + SEARCH_FEES))
    (cost,) = telemetry.metric_points(sc.METRIC_COST)
    assert cost.value == pytest.approx(COST + SEARCH_FEES)


def test_image_generations_are_priced_by_an_override(instrument, telemetry, client, fake):
    instrument(prices={"gpt-4o-mini": {"input": 0.15, "output": 0.6, "image_generation": 42}})
    fake.enqueue(ResponsesReply("Here.", usage=Usage(prompt=1_000, completion=100), image_generations=2))
    client.responses.create(model="gpt-4o-mini", input="draw", tools=[{"type": "image_generation"}])
    attrs = telemetry.one_llm_span().attributes
    assert (attrs[sc.LLMTEL_COST_STATUS], attrs[sc.LLMTEL_COST_USD]) == (
        "priced", pytest.approx((1_000 * 0.15 + 100 * 0.6) / 1e6 + 2 * 42 / 1_000))


def test_searches_are_counted_where_the_usage_is(instrument, telemetry, client, fake):
    """A fetch of a response does not bill its searches again; the first fetch of a background result does."""
    instrument()
    fake.enqueue(ResponsesReply("Rain.", usage=USAGE, web_searches=2, file_searches=1))
    created = client.responses.create(model="gpt-4o-mini", input="weather?", tools=[{"type": "web_search"}])
    client.responses.retrieve(created.id)
    fake.enqueue(ResponsesReply("Rain.", usage=USAGE, web_searches=1))
    queued = client.responses.create(model="gpt-4o-mini", input="weather?", background=True)
    client.responses.retrieve(queued.id)
    made, fetched, background, result = (dict(span.attributes) for span in telemetry.llm_spans())
    assert made[sc.tool_calls_attribute("web_search")] == 2
    assert not [key for key in (*fetched, *background) if key.startswith("llmtel.usage.") and key.endswith("_calls")]
    assert result[sc.tool_calls_attribute("web_search")] == 1
    assert result[sc.LLMTEL_COST_USD] == pytest.approx(COST + 10 / 1_000)
    costs = sorted(p.value for p in telemetry.metric_points(sc.METRIC_COST))
    assert costs == [pytest.approx(COST + 10 / 1_000), pytest.approx(COST + SEARCH_FEES)]


def test_searches_without_a_price_leave_the_cost_partial(instrument, telemetry, client, fake):
    instrument(prices={"my-agent": {"input": 0.15, "output": 0.6, "cache_read": 0.075}})  # no search prices
    fake.enqueue(ResponsesReply("Rain.", model="my-agent", usage=USAGE, web_searches=1))
    client.responses.create(model="my-agent", input="weather?", tools=[{"type": "web_search"}])
    attrs = dict(telemetry.one_llm_span().attributes)
    assert (attrs[sc.LLMTEL_COST_STATUS], attrs[sc.LLMTEL_COST_USD]) == ("partially_priced", pytest.approx(COST))
    assert attrs[sc.tool_calls_attribute("web_search")] == 1


def _retrieve_streams() -> bool:
    import inspect

    from openai.resources.responses import Responses

    return "stream" in inspect.signature(Responses.retrieve).parameters


@pytest.mark.skipif(not _retrieve_streams(), reason="this openai has no responses.retrieve(stream=True)")
def test_retrieve_streamed_is_a_stream_span(instrument, telemetry, client, fake):
    instrument()
    fake.enqueue(ResponsesReply("Paris.", usage=USAGE))
    created = client.responses.create(model="gpt-4o-mini", input="capital of France?")
    telemetry.span_exporter.clear()
    stream = client.responses.retrieve(created.id, stream=True)
    assert isinstance(stream, openai.Stream)
    kinds = [event.type for event in stream]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert dict(fake.last_request.query) == {"stream": "true"}
    span = telemetry.one_llm_span()
    attrs = dict(span.attributes)
    ttfc = attrs.pop(sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK)
    assert 0 < ttfc <= (span.end_time - span.start_time) / 1e9
    assert attrs == {
        sc.GEN_AI_OPERATION_NAME: "fetch_response",
        sc.GEN_AI_PROVIDER_NAME: "openai",
        sc.SERVER_ADDRESS: "127.0.0.1",
        sc.SERVER_PORT: fake.port,
        sc.OPENAI_API_TYPE: "responses",
        sc.GEN_AI_REQUEST_STREAM: True,
        sc.LLMTEL_STREAM_CHUNKS: len(kinds),
        sc.LLMTEL_STREAM_END: "completed",
        sc.GEN_AI_RESPONSE_ID: created.id,
        sc.GEN_AI_RESPONSE_MODEL: "gpt-4o-mini",
        sc.OPENAI_RESPONSE_SERVICE_TIER: "default",
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
    }
    assert [p.count for p in telemetry.metric_points(sc.METRIC_TIME_TO_FIRST_CHUNK)] == [1]
    fetch_tokens = [p for p in telemetry.metric_points(sc.METRIC_TOKEN_USAGE)
                    if p.attributes[sc.GEN_AI_OPERATION_NAME] == "fetch_response"]
    assert fetch_tokens == []  # a fetch uses no tokens


@pytest.mark.skipif(not _retrieve_streams(), reason="this openai has no responses.retrieve(stream=True)")
def test_retrieve_streamed_async_left_early(instrument, telemetry, aclient, fake):
    instrument()
    fake.enqueue(ResponsesReply("Paris.", usage=USAGE))

    async def main():
        created = await aclient.responses.create(model="gpt-4o-mini", input="capital of France?")
        stream = await aclient.responses.retrieve(created.id, stream=True)
        assert isinstance(stream, openai.AsyncStream)
        async with stream:
            async for event in stream:
                assert event.type == "response.created"
                break
        return created

    created = asyncio.run(main())
    span = telemetry.llm_spans()[-1]
    assert span.name == "fetch_response"
    assert span.attributes[sc.LLMTEL_STREAM_END] == "closed"
    assert span.attributes[sc.LLMTEL_STREAM_CHUNKS] == 1
    assert span.attributes[sc.GEN_AI_RESPONSE_ID] == created.id
    assert span.attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("error",)  # no terminal event was read


def test_retrieve_unknown_id_is_an_error(instrument, telemetry, client, fake):
    instrument()
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve("resp_missing")
    span = telemetry.one_llm_span()
    assert span.name == "fetch_response"
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[sc.ERROR_TYPE] == "NotFoundError"


def test_content_when_captured(instrument, telemetry, client, fake):
    instrument(capture_content=True, redactor=None)
    fake.enqueue(ResponsesReply("It is sunny.", reasoning="weather tool answered",
                                function_calls=[ToolCall("call_2", "notify", '{"to": "ann"}')]))
    client.responses.create(
        model="gpt-4o-mini",
        instructions="You are terse.",
        input=[
            {"role": "user", "content": [{"type": "input_text", "text": "weather?"}]},
            {"type": "function_call", "call_id": "call_1", "name": "weather", "arguments": '{"city": "Paris"}'},
            {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
        ],
        tools=[{"type": "function", "name": "notify", "description": "send", "parameters": {"type": "object"},
                "strict": False}],
    )
    attrs = telemetry.one_llm_span().attributes
    assert json.loads(attrs[sc.GEN_AI_SYSTEM_INSTRUCTIONS]) == [{"type": "text", "content": "You are terse."}]
    assert json.loads(attrs[sc.GEN_AI_INPUT_MESSAGES]) == [
        {"role": "user", "parts": [{"type": "text", "content": "weather?"}]},
        {"role": "assistant", "parts": [{"type": "tool_call", "id": "call_1", "name": "weather",
                                         "arguments": {"city": "Paris"}}]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1", "response": "sunny"}]},
    ]
    assert json.loads(attrs[sc.GEN_AI_OUTPUT_MESSAGES]) == [{"role": "assistant", "parts": [
        {"type": "reasoning", "content": "weather tool answered"},
        {"type": "text", "content": "It is sunny."},
        {"type": "tool_call", "id": "call_2", "name": "notify", "arguments": {"to": "ann"}},
    ], "finish_reason": "tool_calls"}]
    assert json.loads(attrs[sc.GEN_AI_TOOL_DEFINITIONS]) == [
        {"type": "function", "name": "notify", "description": "send", "parameters": {"type": "object"}}]
    assert attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_calls",)


def test_content_not_captured_by_default(instrument, telemetry, client, fake):
    instrument()
    client.responses.create(model="gpt-4o-mini", instructions="You are terse.", input="hi")
    attrs = telemetry.one_llm_span().attributes
    assert [k for k in attrs if k in (sc.GEN_AI_SYSTEM_INSTRUCTIONS, sc.GEN_AI_INPUT_MESSAGES,
                                      sc.GEN_AI_OUTPUT_MESSAGES, sc.GEN_AI_TOOL_DEFINITIONS)] == []


def test_async_create_parse_and_retrieve(instrument, telemetry, aclient, fake):
    instrument(capture_content=True, redactor=None)
    fake.enqueue(ResponsesReply("Paris.", model="gpt-4o-mini-2024-07-18", usage=USAGE))

    async def main():
        created = await aclient.responses.create(model="gpt-4o-mini", input="capital of France?",
                                                 instructions="be brief")
        parsed = await aclient.responses.parse(model="gpt-4o-mini", input="and Spain?", text_format=Capital)
        retrieved = await aclient.responses.retrieve(created.id)
        return created, parsed, retrieved

    created, parsed, retrieved = asyncio.run(main())
    assert parsed.output_parsed.city == "example" and retrieved.id == created.id
    first, second, third = telemetry.llm_spans()
    attrs = dict(first.attributes)
    content = {sc.GEN_AI_SYSTEM_INSTRUCTIONS, sc.GEN_AI_INPUT_MESSAGES, sc.GEN_AI_OUTPUT_MESSAGES}
    assert without_cost_values({k: v for k, v in attrs.items() if k not in content}) == expected_attributes(
        fake, created.id)
    assert json.loads(attrs[sc.GEN_AI_OUTPUT_MESSAGES]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "Paris."}], "finish_reason": "stop"}]
    assert (second.attributes[sc.GEN_AI_OUTPUT_TYPE], second.attributes[sc.GEN_AI_RESPONSE_ID]) == ("json",
                                                                                                   parsed.id)
    assert third.name == "fetch_response"
    assert sc.GEN_AI_USAGE_INPUT_TOKENS not in third.attributes
    assert sc.GEN_AI_OUTPUT_MESSAGES not in third.attributes  # a fetch is not a generation


def test_async_failed_response(instrument, telemetry, aclient, fake):
    instrument()
    fake.enqueue(ResponsesReply(status="failed", error_code="server_error"))
    asyncio.run(aclient.responses.create(model="gpt-4o-mini", input="hi"))
    span = telemetry.one_llm_span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[sc.ERROR_TYPE] == "server_error"


@pytest.mark.parametrize(
    ("reply", "finish", "error_type"),
    [
        (ResponsesReply("done", usage=USAGE), ("stop",), None),
        (ResponsesReply("cut", status="incomplete", usage=USAGE), ("length",), None),
        (ResponsesReply(status="failed", error_code="server_error", usage=USAGE), ("error",), "server_error"),
    ],
)
def test_streamed_terminal_events(instrument, telemetry, client, fake, reply, finish, error_type):
    instrument()
    fake.enqueue(reply)
    events = list(client.responses.create(model="gpt-4o-mini", input="hi", stream=True))
    assert events[-1].type == f"response.{reply.status}"
    span = telemetry.one_llm_span()
    attrs = span.attributes
    assert attrs[sc.LLMTEL_STREAM_END] == "completed"  # the stream itself ran to its terminal event
    assert attrs[sc.LLMTEL_STREAM_CHUNKS] == len(events)
    assert attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] == finish
    assert attrs[sc.GEN_AI_RESPONSE_ID] == events[-1].response.id
    assert (attrs[sc.GEN_AI_USAGE_INPUT_TOKENS], attrs[sc.LLMTEL_USAGE_SOURCE]) == (1000, "stream_usage_chunk")
    assert attrs.get(sc.ERROR_TYPE) == error_type
    assert span.status.status_code is (StatusCode.ERROR if error_type else StatusCode.UNSET)


def test_async_streamed_failure(instrument, telemetry, aclient, fake):
    instrument()
    fake.enqueue(ResponsesReply(status="failed", error_code="invalid_prompt", error_message="no"))

    async def main():
        stream = await aclient.responses.create(model="gpt-4o-mini", input="hi", stream=True)
        return [e async for e in stream]

    assert asyncio.run(main())[-1].type == "response.failed"
    span = telemetry.one_llm_span()
    assert span.status.status_code is StatusCode.ERROR and span.status.description == "no"
    assert span.attributes[sc.ERROR_TYPE] == "invalid_prompt"


# --- compaction ------------------------------------------------------------------------------------------

needs_compact = pytest.mark.skipif(not hasattr(openai.resources.responses.Responses, "compact"),
                                   reason=f"openai {openai.__version__} has no responses.compact")
COMPACT_USAGE = Usage(prompt=40_000, completion=3_000, cached=10_000, reasoning=1_000)
CONVERSATION = [{"role": "user", "content": "plan the trip"}, {"role": "assistant", "content": "Day 1: Paris."}]


@needs_compact
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_compact_is_a_priced_span_of_its_own(instrument, telemetry, client, aclient, fake, mode):
    """``responses.compact`` runs the model over the conversation: a billed call, traced like the others."""
    from llmtel.testing import CompactionReply

    instrument()
    fake.enqueue(CompactionReply(usage=COMPACT_USAGE))
    if mode == "sync":
        compacted = client.responses.compact(model="gpt-6-sol", input=CONVERSATION, instructions="keep dates")
    else:
        compacted = asyncio.run(aclient.responses.compact(model="gpt-6-sol", input=CONVERSATION))
    assert type(compacted).__name__ == "CompactedResponse"
    span = telemetry.one_llm_span()
    assert (span.name, span.kind, span.status.status_code) == ("compact gpt-6-sol", SpanKind.CLIENT, StatusCode.UNSET)
    attrs = dict(span.attributes)
    cost = attrs.pop(sc.LLMTEL_COST_USD)
    assert without_cost_values(attrs) == {
        sc.GEN_AI_OPERATION_NAME: "compact",
        sc.GEN_AI_PROVIDER_NAME: "openai",
        sc.GEN_AI_REQUEST_MODEL: "gpt-6-sol",
        sc.SERVER_ADDRESS: "127.0.0.1",
        sc.SERVER_PORT: fake.port,
        sc.OPENAI_API_TYPE: "responses",
        sc.GEN_AI_RESPONSE_ID: compacted.id,
        sc.GEN_AI_CONVERSATION_COMPACTED: True,
        sc.GEN_AI_USAGE_INPUT_TOKENS: 40_000,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: 3_000,
        sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 10_000,
        sc.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: 0,
        sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: 1_000,
        sc.LLMTEL_USAGE_SOURCE: "response",
        sc.LLMTEL_COST_STATUS: "priced",
    }  # no response model (the reply has none: priced as the request's model) and no finish reason
    genai_prices = pytest.importorskip("genai_prices")
    expected = genai_prices.calc_price(
        genai_prices.Usage(input_tokens=40_000, cache_read_tokens=10_000, output_tokens=3_000,
                           output_reasoning_tokens=1_000), "gpt-6-sol", provider_id="openai").total_price
    assert cost == pytest.approx(float(expected))
    (duration,) = telemetry.metric_points(sc.METRIC_OPERATION_DURATION)
    assert duration.attributes[sc.GEN_AI_OPERATION_NAME] == "compact"
    (http,) = [s for s in telemetry.spans() if s.instrumentation_scope.name == HTTP_SCOPE]
    assert http.parent.span_id == span.context.span_id


@needs_compact
def test_failed_compact_is_an_error_and_not_compacted(instrument, telemetry, client, fake):
    instrument()
    fake.enqueue(ErrorReply.rate_limited(), endpoint=RESPONSES_COMPACT)
    with pytest.raises(openai.RateLimitError):
        client.responses.compact(model="gpt-6-sol", input=CONVERSATION)
    attrs = telemetry.one_llm_span().attributes
    assert attrs[sc.ERROR_TYPE] == "RateLimitError"
    assert sc.GEN_AI_CONVERSATION_COMPACTED not in attrs


@needs_compact
def test_compact_content_is_the_compaction_not_the_repeated_messages(instrument, telemetry, client, fake):
    instrument(capture_content=True, redactor=None)
    compacted = client.responses.compact(model="gpt-6-sol", input=CONVERSATION)
    item = compacted.output[-1]
    attrs = telemetry.one_llm_span().attributes
    assert json.loads(attrs[sc.GEN_AI_OUTPUT_MESSAGES]) == [
        {"role": "assistant", "parts": [{"type": "compaction", "id": item.id}], "finish_reason": "stop"}]
    assert item.encrypted_content not in json.dumps(dict(attrs))  # opaque: only the API can read it
    # the compaction passed back on the next call stands for the earlier conversation
    client.responses.create(model="gpt-6-sol", input=[item.model_dump(exclude_none=True),
                                                      {"role": "user", "content": "and day 2?"}])
    later = telemetry.llm_spans()[-1].attributes
    assert json.loads(later[sc.GEN_AI_INPUT_MESSAGES]) == [
        {"role": "assistant", "parts": [{"type": "compaction", "id": item.id}]},
        {"role": "user", "parts": [{"type": "text", "content": "and day 2?"}]},
    ]
    assert sc.GEN_AI_CONVERSATION_COMPACTED not in later  # a compaction passed in is not one made


@pytest.mark.parametrize("how", ["create", "stream", "stream left early"])
def test_server_side_compaction_marks_the_call(instrument, telemetry, client, fake, how):
    """``context_management`` lets the API compact the conversation inside a call: the call says so."""
    instrument()
    fake.enqueue(ResponsesReply("Day 2: Lyon.", compacted=True))
    fake.enqueue(ResponsesReply("Day 3: Nice."))
    for _ in range(2):
        if how == "create":
            client.responses.create(model="gpt-5", input=CONVERSATION)
        else:
            stream = client.responses.create(model="gpt-5", input=CONVERSATION, stream=True)
            for event in stream:
                if how == "stream left early" and event.type == "response.compaction.compacting":
                    break
            stream.close()
    first, second = (span.attributes for span in telemetry.llm_spans())
    assert first[sc.GEN_AI_CONVERSATION_COMPACTED] is True
    assert sc.GEN_AI_CONVERSATION_COMPACTED not in second  # set only when true
