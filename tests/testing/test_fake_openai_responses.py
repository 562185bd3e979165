"""The fake's Responses API (``POST /responses``, ``GET /responses/{id}``), driven by the real client."""

from __future__ import annotations

import asyncio
import json

import openai
import pytest
from pydantic import BaseModel

from llmtel.testing import ResponsesReply, StreamFault, ToolCall, Usage
from tests.testing.clients import make_async_client, make_azure_client, post_raw, sse_payloads

pytest.importorskip("openai.resources.responses", reason="this openai SDK predates the Responses API (1.66)")


def test_default_response_object(client, fake):
    response = client.responses.create(model="gpt-4o-mini", input="Tell me a joke", instructions="Be brief.")
    assert (response.id, response.object, response.status) == ("resp_fake000001", "response", "completed")
    assert response.output_text == "Fake reply to: Tell me a joke"
    assert response.model == "gpt-4o-mini" and response.instructions == "Be brief."
    (message,) = response.output
    assert message.type == "message" and message.id == "msg_fake000001" and message.role == "assistant"
    assert response.usage is not None
    usage = response.usage
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (6, 7, 13)
    assert response.incomplete_details is None and response.error is None
    assert fake.last_request.path == "/v1/responses" and fake.last_request.json["input"] == "Tell me a joke"


def test_function_calls_reasoning_and_usage_details(client, fake):
    fake.enqueue(
        ResponsesReply(
            reasoning="Need the weather tool.",
            function_calls=[ToolCall("call_w1", "get_weather", '{"city": "Oslo"}')],
            usage=Usage(prompt=100, completion=40, cached=30, reasoning=25),
            model="gpt-5-2025-08-07",
        )
    )
    response = client.responses.create(
        model="gpt-5",
        input=[{"role": "user", "content": [{"type": "input_text", "text": "Weather in Oslo?"}]}],
    )
    assert [item.type for item in response.output] == ["reasoning", "function_call"]
    reasoning, call = response.output
    assert reasoning.summary[0].text == "Need the weather tool."
    assert (call.call_id, call.name) == ("call_w1", "get_weather")
    assert json.loads(call.arguments) == {"city": "Oslo"}
    assert response.output_text == "" and response.model == "gpt-5-2025-08-07"
    usage = response.usage
    assert usage is not None and usage.total_tokens == 140
    assert usage.input_tokens_details.cached_tokens == 30
    assert usage.output_tokens_details.reasoning_tokens == 25


def test_incomplete_and_failed_responses(client, fake):
    fake.enqueue(ResponsesReply("cut sh", status="incomplete"))
    fake.enqueue(ResponsesReply(status="failed", error_message="boom"))
    incomplete = client.responses.create(model="m", input="x")
    assert incomplete.status == "incomplete" and incomplete.incomplete_details.reason == "max_output_tokens"
    assert incomplete.output[0].status == "incomplete" and incomplete.output_text == "cut sh"
    failed = client.responses.create(model="m", input="x")
    assert failed.status == "failed" and failed.output_text == "Fake reply to: x"
    assert (failed.error.code, failed.error.message) == ("server_error", "boom")


def test_stream_events_in_api_order_with_usage_at_the_end(client, fake):
    fake.enqueue(ResponsesReply("Hello streaming world", usage=Usage(prompt=4, completion=3, cached=2)))
    events = list(client.responses.create(model="gpt-4o", input="hi", stream=True))

    kinds = [e.type for e in events]
    assert kinds == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[0].response.status == "in_progress" and events[0].response.usage is None
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert "".join(deltas) == "Hello streaming world"
    done = events[-1].response
    assert done.status == "completed" and done.output_text == "Hello streaming world"
    assert done.usage is not None and done.usage.input_tokens_details.cached_tokens == 2
    assert {e.response.id for e in events if hasattr(e, "response")} == {"resp_fake000001"}


def test_stream_wire_format_has_event_lines(fake):
    status, headers, text = post_raw(fake, "/v1/responses", {"model": "m", "input": "hi", "stream": True})
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    blocks = [block for block in text.split("\n\n") if block.strip()]
    for block in blocks:
        event_line, data_line = block.split("\n")
        assert event_line.startswith("event: ") and data_line.startswith("data: ")
        assert json.loads(data_line[6:])["type"] == event_line[7:]
    assert "[DONE]" not in text and sse_payloads(text)[-1].startswith('{"type":"response.completed"')


def test_stream_function_call_argument_events(client, fake):
    fake.enqueue(ResponsesReply(function_calls=[ToolCall("call_1", "search", '{"q": "otel genai"}')]))
    events = list(client.responses.create(model="m", input="x", stream=True))
    added = next(e for e in events if e.type == "response.output_item.added")
    assert added.item.type == "function_call" and added.item.arguments == "" and added.item.name == "search"
    deltas = [e.delta for e in events if e.type == "response.function_call_arguments.delta"]
    assert len(deltas) > 1 and "".join(deltas) == '{"q": "otel genai"}'
    done = next(e for e in events if e.type == "response.function_call_arguments.done")
    assert done.arguments == '{"q": "otel genai"}' and done.item_id == added.item.id
    assert events[-1].response.output[0].call_id == "call_1"


def test_stream_ends_with_incomplete_or_failed_event(client, fake):
    fake.enqueue(ResponsesReply("partial", status="incomplete", incomplete_reason="content_filter"))
    fake.enqueue(ResponsesReply("nope", status="failed"))
    incomplete = list(client.responses.create(model="m", input="x", stream=True))[-1]
    assert incomplete.type == "response.incomplete"
    assert incomplete.response.incomplete_details.reason == "content_filter"
    failed = list(client.responses.create(model="m", input="x", stream=True))[-1]
    assert failed.type == "response.failed" and failed.response.error.code == "server_error"


def test_stream_error_event_mid_way(client, fake):
    fake.enqueue(ResponsesReply("one two three", fault=StreamFault(after=4, kind="error")))
    events = list(client.responses.create(model="m", input="x", stream=True))
    assert len(events) == 5 and events[-1].type == "error"
    assert events[-1].code == "server_error" and "server had an error" in events[-1].message
    assert events[-1].sequence_number == 4


def test_responses_stream_helper_and_parse(client, fake):
    fake.enqueue(ResponsesReply("helper text", usage=Usage(prompt=2, completion=2)))
    with client.responses.stream(model="gpt-4o", input="hi") as stream:
        deltas = [event.delta for event in stream if event.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == "helper text" == final.output_text
    assert final.usage is not None and final.usage.total_tokens == 4

    fake.enqueue(ResponsesReply("one two", fault=StreamFault(after=5, kind="truncate")))
    with client.responses.stream(model="gpt-4o", input="hi") as stream:
        for _ in stream:
            pass
        with pytest.raises(RuntimeError, match="response.completed"):
            stream.get_final_response()

    if not hasattr(client.responses, "parse"):
        return

    class Answer(BaseModel):
        answer: str
        confidence: float

    parsed = client.responses.parse(model="gpt-4o", input="hi", text_format=Answer)
    assert parsed.output_parsed == Answer(answer="example", confidence=1.5)


def test_retrieve_stored_responses(client, fake):
    created = client.responses.create(model="m", input="remember me")
    retrieved = client.responses.retrieve(created.id)
    assert retrieved.id == created.id and retrieved.output_text == created.output_text
    assert fake.last_request.method == "GET" and fake.last_request.path == f"/v1/responses/{created.id}"
    streamed = list(client.responses.create(model="m", input="streamed", stream=True))[-1].response
    assert client.responses.retrieve(streamed.id).output_text == "Fake reply to: streamed"
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve("resp_missing")
    unstored = client.responses.create(model="m", input="x", store=False)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(unstored.id)


def test_async_responses_stream(fake):
    async def run() -> list[str]:
        async with make_async_client(fake) as client:
            stream = await client.responses.create(model="m", input="async", stream=True)
            return [event.type async for event in stream]

    kinds = asyncio.run(run())
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"


def test_azure_responses_report_the_underlying_model(fake):
    with make_azure_client(fake) as azure:
        response = azure.responses.create(model="my-deployment", input="hi")
    assert response.model == "gpt-4o-2024-08-06"
    assert fake.last_request.path.startswith("/openai/") and fake.last_request.path.endswith("/responses")
    assert fake.last_request.query["api-version"] == "2024-10-21"
