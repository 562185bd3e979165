"""The fake OpenAI server, driven by the real openai client: chat, embeddings, legacy completions, errors,
Azure, malformed replies and server lifecycle. Responses API tests are in test_fake_openai_responses.py."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
import threading
import time
from typing import Any

import openai
import pytest
from pydantic import BaseModel

from llmtel.testing import (
    CHAT_COMPLETIONS,
    EMBEDDINGS,
    ChatReply,
    CompletionReply,
    Delay,
    Disconnect,
    EmbeddingsReply,
    ErrorReply,
    FakeOpenAI,
    RawReply,
    StreamFault,
    ToolCall,
    Usage,
)
from tests.testing.clients import (
    SDK_MAJOR,
    make_async_client,
    make_azure_client,
    make_client,
    post_raw,
    sse_payloads,
)

USER = [{"role": "user", "content": "What is the weather in Paris?"}]
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def ask(client: openai.OpenAI, **kwargs: Any) -> Any:
    """``chat.completions.create`` with a fixed model and question."""
    return client.chat.completions.create(model="m", messages=USER, **kwargs)


def text_of(completion: Any) -> str:
    return completion.choices[0].message.content or ""


def detail(details: Any, name: str) -> Any:
    """A usage-details field: a model attribute on newer SDKs, a plain dict on SDKs predating the field."""
    return details.get(name) if isinstance(details, dict) else getattr(details, name)


def wait_for_disconnects(fake: FakeOpenAI, count: int) -> int:
    deadline = time.monotonic() + 2
    while fake.client_disconnects < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return fake.client_disconnects


def has_chat_helpers(client: openai.OpenAI) -> bool:
    return hasattr(client.chat.completions, "parse") and hasattr(client.chat.completions, "stream")


# -- chat completions ---------------------------------------------------------------------------------------


def test_default_chat_reply_is_deterministic_and_the_request_is_recorded(fake, client):
    first = client.chat.completions.create(
        model="gpt-4o-mini", messages=USER, extra_headers={"traceparent": TRACEPARENT}
    )
    second = client.chat.completions.create(model="gpt-4o-mini", messages=USER)

    assert text_of(first) == "Fake reply to: What is the weather in Paris?" == text_of(second)
    assert (first.id, second.id) == ("chatcmpl-fake000001", "chatcmpl-fake000002")
    assert first.object == "chat.completion" and first.model == "gpt-4o-mini"
    assert first.choices[0].finish_reason == "stop" and first.choices[0].message.role == "assistant"
    assert second.created > first.created
    assert first.usage is not None
    assert (first.usage.prompt_tokens, first.usage.completion_tokens, first.usage.total_tokens) == (6, 9, 15)

    recorded = fake.requests[0]
    assert (recorded.method, recorded.path) == ("POST", "/v1/chat/completions")
    assert recorded.endpoint == CHAT_COMPLETIONS
    assert recorded.json["messages"] == USER and recorded.json["model"] == "gpt-4o-mini"
    assert recorded.headers["traceparent"] == TRACEPARENT
    assert recorded.headers["authorization"] == "Bearer test"
    assert "Bearer" not in repr(recorded) and "traceparent" not in repr(recorded)
    assert len(fake.requests) == 2 and fake.last_request.json["messages"] == USER


def test_chat_tool_calls_usage_details_and_response_metadata(client, fake):
    fake.enqueue(
        ChatReply(
            tool_calls=[ToolCall("call_abc", "get_weather", '{"city": "Paris"}')],
            model="gpt-4o-mini-2024-07-18",
            usage=Usage(prompt=120, completion=30, cached=64, reasoning=12),
            system_fingerprint="fp_44709d6fcb",
            service_tier="default",
        )
    )
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=USER)

    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    (call,) = choice.message.tool_calls or []
    assert (call.id, call.type, call.function.name) == ("call_abc", "function", "get_weather")
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    assert completion.model == "gpt-4o-mini-2024-07-18"
    assert completion.system_fingerprint == "fp_44709d6fcb" and completion.service_tier == "default"
    usage = completion.usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (120, 30, 150)
    assert detail(usage.prompt_tokens_details, "cached_tokens") == 64
    assert detail(usage.completion_tokens_details, "reasoning_tokens") == 12


def test_chat_refusal(client, fake):
    fake.enqueue(ChatReply(refusal="I can't help with that."))
    message = ask(client).choices[0].message
    assert message.content is None and message.refusal == "I can't help with that."


@pytest.mark.parametrize("include_usage", [False, True])
def test_chat_stream_usage_chunk_only_when_asked(client, fake, include_usage):
    fake.enqueue(ChatReply("Sunny and warm today", usage=Usage(prompt=7, completion=4), chunks=4))
    options = {"stream_options": {"include_usage": True}} if include_usage else {}
    chunks = list(ask(client, stream=True, **options))

    assert {c.id for c in chunks} == {"chatcmpl-fake000001"}
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    content_chunks = [c for c in chunks if c.choices]
    assert content_chunks[0].choices[0].delta.role == "assistant"
    assert content_chunks[0].choices[0].delta.content == ""
    assert "".join(c.choices[0].delta.content or "" for c in content_chunks) == "Sunny and warm today"
    assert len([c for c in content_chunks if c.choices[0].delta.content]) == 4
    assert [c.choices[0].finish_reason for c in content_chunks][-1] == "stop"
    assert all(c.choices[0].finish_reason is None for c in content_chunks[:-1])
    usage_chunks = [c for c in chunks if not c.choices]
    if include_usage:
        assert chunks[-1] is usage_chunks[0] and len(usage_chunks) == 1
        assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 11
        assert all(c.usage is None for c in content_chunks)
    else:
        assert usage_chunks == [] and all(c.usage is None for c in chunks)


def test_chat_stream_wire_format(fake):
    body = {"model": "m", "messages": USER, "stream": True, "stream_options": {"include_usage": True}}
    status, headers, text = post_raw(fake, "/v1/chat/completions", body)
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    assert headers["transfer-encoding"] == "chunked" and headers["x-request-id"].startswith("req_")
    payloads = sse_payloads(text)
    assert payloads[-1] == "[DONE]" and "event:" not in text  # chat streams carry no `event:` lines
    chunks = [json.loads(p) for p in payloads[:-1]]
    assert all("usage" in c for c in chunks) and all(c["usage"] is None for c in chunks[:-1])
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["prompt_tokens"] == 6
    assert chunks[0]["choices"][0] == {
        "index": 0,
        "delta": {"role": "assistant", "content": "", "refusal": None},
        "logprobs": None,
        "finish_reason": None,
    }
    assert chunks[-2]["choices"][0]["delta"] == {} and chunks[-2]["choices"][0]["finish_reason"] == "stop"
    # Without include_usage the key is absent, as in the real API.
    _, _, plain = post_raw(fake, "/v1/chat/completions", {"model": "m", "messages": USER, "stream": True})
    assert all("usage" not in json.loads(p) for p in sse_payloads(plain)[:-1])


def test_chat_stream_tool_call_deltas_reassemble(client, fake):
    calls = [
        ToolCall("call_1", "get_weather", '{"city": "Paris", "unit": "c"}'),
        ToolCall("call_2", "now", "{}"),
    ]
    fake.enqueue(ChatReply(tool_calls=calls))
    chunks = list(ask(client, stream=True))

    deltas = [tc for c in chunks for tc in (c.choices[0].delta.tool_calls or [])]
    assembled: dict[int, dict[str, str]] = {}
    for delta in deltas:
        entry = assembled.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
        if delta.id is not None:
            assert entry["id"] == "", "only the first delta of a call carries its id"
            assert delta.type == "function" and delta.function is not None and delta.function.name
            assert delta.function.arguments == ""
            entry["id"], entry["name"] = delta.id, delta.function.name
        else:
            assert delta.type is None and delta.function is not None and delta.function.name is None
            entry["arguments"] += delta.function.arguments or ""
    assert assembled == {
        0: {"id": "call_1", "name": "get_weather", "arguments": '{"city": "Paris", "unit": "c"}'},
        1: {"id": "call_2", "name": "now", "arguments": "{}"},
    }
    assert len(deltas) > 4  # arguments really arrive in fragments
    assert chunks[0].choices[0].delta.role == "assistant" and chunks[0].choices[0].delta.tool_calls
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_chat_n2_non_stream_and_interleaved_stream(client, fake):
    fake.enqueue(ChatReply(["alpha beta", "gamma delta"]), times=2)
    completion = ask(client, n=2)
    assert [(c.index, c.message.content) for c in completion.choices] == [
        (0, "alpha beta"),
        (1, "gamma delta"),
    ]

    chunks = list(ask(client, n=2, stream=True))
    assert [c.choices[0].index for c in chunks][:4] == [0, 1, 0, 1]
    texts = {0: "", 1: ""}
    finishes = {}
    for chunk in chunks:
        choice = chunk.choices[0]
        texts[choice.index] += choice.delta.content or ""
        if choice.finish_reason:
            finishes[choice.index] = choice.finish_reason
    assert texts == {0: "alpha beta", 1: "gamma delta"} and finishes == {0: "stop", 1: "stop"}
    assert fake.last_request.json["n"] == 2


def test_chat_parse_with_pydantic_response_format(client, fake):
    if not has_chat_helpers(client):
        pytest.skip(f"openai {openai.__version__} has no chat.completions.parse")

    class Weather(BaseModel):
        city: str
        temperature: float
        sunny: bool

    # Unscripted, the fake answers with an instance of the requested JSON schema.
    parsed = client.chat.completions.parse(model="gpt-4o", messages=USER, response_format=Weather)
    assert parsed.choices[0].message.parsed == Weather(city="example", temperature=1.5, sunny=True)
    assert fake.last_request.json["response_format"]["type"] == "json_schema"

    fake.enqueue(ChatReply('{"city": "Paris", "temperature": 21.5, "sunny": false}'))
    parsed = client.chat.completions.parse(model="gpt-4o", messages=USER, response_format=Weather)
    assert parsed.choices[0].message.parsed == Weather(city="Paris", temperature=21.5, sunny=False)


def test_chat_stream_helper_final_completion(client, fake):
    if not has_chat_helpers(client):
        pytest.skip(f"openai {openai.__version__} has no chat.completions.stream helper")
    fake.enqueue(ChatReply("Streaming via the helper", usage=Usage(prompt=3, completion=4)))
    with client.chat.completions.stream(
        model="gpt-4o", messages=USER, stream_options={"include_usage": True}
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_completion()
    assert "content.delta" in kinds and "content.done" in kinds
    assert text_of(final) == "Streaming via the helper"
    assert final.usage is not None and final.usage.completion_tokens == 4
    assert fake.last_request.json["stream"] is True


def test_forced_tool_choice_default_reply_calls_the_tool(client):
    parameters = {
        "type": "object",
        "properties": {"query": {"type": "string"}, "limit": {"type": "integer"}},
        "required": ["query", "limit"],
    }
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": parameters}}]
    completion = ask(client, tools=tools, tool_choice="required")
    (call,) = completion.choices[0].message.tool_calls or []
    assert call.function.name == "lookup"
    assert json.loads(call.function.arguments) == {"query": "example", "limit": 1}
    assert completion.choices[0].finish_reason == "tool_calls"
    assert ask(client, tools=tools).choices[0].message.tool_calls is None  # tool_choice "auto": plain text


def test_with_raw_response_exposes_headers(client, fake):
    raw = client.chat.completions.with_raw_response.create(model="m", messages=USER)
    assert raw.status_code == 200 and raw.headers["x-request-id"] == "req_fake000001"
    assert raw.headers["openai-version"] == "2020-10-01"
    completion = raw.parse()
    assert text_of(completion).startswith("Fake reply to:")
    if hasattr(completion, "_request_id"):  # openai >= 1.44
        assert completion._request_id == "req_fake000001"


def test_with_streaming_response_reads_body_lazily(client, fake):
    fake.enqueue(ChatReply("one two three"))
    create = client.chat.completions.with_streaming_response.create
    with create(model="m", messages=USER, stream=True) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    deltas = [json.loads(line[len("data: ") :])["choices"][0]["delta"] for line in lines[:-1]]
    assert "".join(delta.get("content") or "" for delta in deltas) == "one two three"
    with create(model="m", messages=USER) as response:
        assert text_of(response.parse()).startswith("Fake reply")


def test_async_chat_and_stream(fake):
    fake.enqueue(ChatReply("async hello world", chunks=3))

    async def run() -> tuple[str, str]:
        async with make_async_client(fake) as client:
            stream = await client.chat.completions.create(model="m", messages=USER, stream=True)
            streamed = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
            completion = await client.chat.completions.create(model="m", messages=USER)
            return streamed, text_of(completion)

    streamed, plain = asyncio.run(run())
    assert streamed == "async hello world"
    assert plain == "Fake reply to: What is the weather in Paris?"
    assert fake.last_request.headers["x-stainless-async"].startswith("async:")


# -- embeddings and legacy completions -----------------------------------------------------------------------


def test_embeddings_float_base64_and_sdk_default_agree(client, fake):
    texts = ["first text", "second"]
    create = client.embeddings.create
    floats = create(model="text-embedding-3-small", input=texts, encoding_format="float")
    encoded = create(model="text-embedding-3-small", input=texts, encoding_format="base64")
    default = create(model="text-embedding-3-small", input=texts)

    assert [d.index for d in floats.data] == [0, 1] and len(floats.data[0].embedding) == 1536
    assert floats.data[0].embedding != floats.data[1].embedding
    assert abs(sum(x * x for x in floats.data[0].embedding) - 1.0) < 1e-5
    raw = encoded.data[0].embedding
    assert isinstance(raw, str)  # the user asked for base64, so the SDK leaves it encoded
    packed = base64.b64decode(raw)
    assert list(struct.unpack(f"<{len(packed) // 4}f", packed)) == floats.data[0].embedding
    assert [d.embedding for d in default.data] == [d.embedding for d in floats.data]
    assert (floats.usage.prompt_tokens, floats.usage.total_tokens) == (3, 3)
    assert floats.model == "text-embedding-3-small"
    sent = [r.json.get("encoding_format") for r in fake.requests]
    assert sent[:2] == ["float", "base64"]
    # Unasked, recent SDKs (late 1.x onwards) request base64 and decode it; early 1.x (e.g. 1.26) requested
    # base64 only when numpy was installed. Either way the caller got the same floats (checked above).
    assert sent[2] in ("base64", None)
    if SDK_MAJOR >= 2:
        assert sent[2] == "base64"


def test_embeddings_single_string_dimensions_and_scripted_usage(client, fake):
    one = client.embeddings.create(model="text-embedding-3-large", input="hello", dimensions=8)
    assert len(one.data) == 1 and len(one.data[0].embedding) == 8
    again = client.embeddings.create(model="text-embedding-3-large", input="hello", dimensions=8)
    assert again.data[0].embedding == one.data[0].embedding  # deterministic
    fake.enqueue(EmbeddingsReply(dimensions=3, usage=Usage(prompt=42), model="text-embedding-3-large-v9"))
    scripted = client.embeddings.create(model="text-embedding-3-large", input=["x"])
    assert len(scripted.data[0].embedding) == 3 and scripted.usage.prompt_tokens == 42
    assert scripted.model == "text-embedding-3-large-v9"


def test_legacy_completions_plain_and_stream(client, fake):
    completion = client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say hi")
    assert completion.object == "text_completion" and completion.id == "cmpl-fake000001"
    assert completion.choices[0].text == "Fake reply to: Say hi"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.prompt_tokens == 2

    usage = Usage(prompt=2, completion=4)
    fake.enqueue(CompletionReply("once upon a time", finish_reason="length", usage=usage))
    stream = client.completions.create(
        model="gpt-3.5-turbo-instruct", prompt="Say hi", stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert "".join(c.choices[0].text for c in chunks if c.choices) == "once upon a time"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 6


# -- errors -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "exception", "status", "code"),
    [
        (ErrorReply.bad_request("bad temperature", param="temperature"), openai.BadRequestError, 400, None),
        (ErrorReply.context_length_exceeded(), openai.BadRequestError, 400, "context_length_exceeded"),
        (ErrorReply.invalid_api_key(), openai.AuthenticationError, 401, "invalid_api_key"),
        (
            ErrorReply.permission_denied(),
            openai.PermissionDeniedError,
            403,
            "unsupported_country_region_territory",
        ),
        (ErrorReply.model_not_found("gpt-9"), openai.NotFoundError, 404, "model_not_found"),
        (ErrorReply.rate_limited(), openai.RateLimitError, 429, "rate_limit_exceeded"),
        (ErrorReply.insufficient_quota(), openai.RateLimitError, 429, "insufficient_quota"),
        (ErrorReply.server_error(), openai.InternalServerError, 500, None),
        (ErrorReply.overloaded(), openai.InternalServerError, 503, None),
    ],
)
def test_error_replies_raise_the_sdk_exception(client, fake, reply, exception, status, code):
    fake.enqueue(reply)
    with pytest.raises(exception) as caught:
        ask(client)
    error = caught.value
    assert error.status_code == status and error.code == code
    assert error.type == reply.type and error.param == reply.param
    assert error.body == {"message": reply.message, "type": reply.type, "param": reply.param, "code": code}
    assert len(fake.requests) == 1  # max_retries=0


def test_rate_limit_headers_then_success_with_one_retry(fake):
    fake.enqueue(ErrorReply.rate_limited(retry_after=0))
    with make_client(fake, max_retries=1) as client:
        assert text_of(ask(client)).startswith("Fake reply")
    assert len(fake.requests) == 2
    if "x-stainless-retry-count" in fake.requests[0].headers:  # not sent by openai 1.26
        assert [r.headers["x-stainless-retry-count"] for r in fake.requests] == ["0", "1"]

    fake.enqueue(ErrorReply.rate_limited(retry_after=2))
    status, headers, _ = post_raw(fake, "/v1/chat/completions", {"model": "m", "messages": USER})
    assert status == 429 and headers["retry-after"] == "2" and headers["retry-after-ms"] == "2000"
    assert headers["x-ratelimit-remaining-requests"] == "0" and "x-ratelimit-reset-tokens" in headers


def test_scripted_replies_match_their_endpoint_fifo_and_times(client, fake):
    fake.enqueue(EmbeddingsReply(dimensions=2))
    fake.enqueue(ChatReply("first"))
    fake.enqueue(ChatReply("second"), times=2)
    fake.enqueue(ErrorReply.server_error(), endpoint=EMBEDDINGS)
    assert fake.pending == 5
    assert text_of(ask(client)) == "first"  # the queued EmbeddingsReply waits for an embeddings request
    embedding = client.embeddings.create(model="e", input="x", encoding_format="float")
    assert len(embedding.data[0].embedding) == 2
    assert [text_of(ask(client)), text_of(ask(client))] == ["second", "second"]
    with pytest.raises(openai.InternalServerError):
        client.embeddings.create(model="e", input="x")
    assert fake.pending == 0
    assert text_of(ask(client)).startswith("Fake reply")  # back to the default
    with pytest.raises(ValueError):
        fake.enqueue(ChatReply("x"), endpoint=EMBEDDINGS)


def test_a_broken_script_is_reported_not_hung(client, fake, caplog):
    with pytest.raises(ValueError):
        ChatReply("abc", chunks=["a", "b"])  # chunks must join to the content
    fake.enqueue(ChatReply(["one", "two"], chunks=["o", "ne"]))  # fine for choice 0, not for choice 1
    with pytest.raises(openai.InternalServerError) as caught:
        ask(client, stream=True)
    assert caught.value.type == "fake_openai_error" and "do not join" in caught.value.message
    assert "FakeOpenAI could not answer POST /v1/chat/completions" in caplog.text
    assert text_of(ask(client)).startswith("Fake reply")  # and the server carries on


def test_api_key_check_unknown_path_and_invalid_request(fake):
    with FakeOpenAI(api_key="sk-right") as guarded:
        with make_client(guarded) as wrong, pytest.raises(openai.AuthenticationError):
            ask(wrong)
        with make_client(guarded, api_key="sk-right") as right:
            assert ask(right).choices
        assert len(guarded.requests) == 2
    status, _, text = post_raw(fake, "/v1/nowhere", {})
    assert status == 404 and json.loads(text)["error"]["message"] == "Invalid URL (POST /v1/nowhere)"
    status, _, text = post_raw(fake, "/v1/chat/completions", {"model": "m"})
    assert status == 400 and json.loads(text)["error"]["code"] == "missing_required_parameter"


# -- Azure --------------------------------------------------------------------------------------------------


def test_azure_chat_and_embeddings_report_the_underlying_model(fake):
    fake.azure_models["emb-deployment"] = "text-embedding-3-large"
    with make_azure_client(fake) as azure:
        completion = azure.chat.completions.create(model="my-gpt4o", messages=USER)
        embedding = azure.embeddings.create(model="emb-deployment", input="hi", encoding_format="float")
    chat_request, embeddings_request = fake.requests
    assert completion.model == "gpt-4o-2024-08-06" != chat_request.json["model"]
    assert chat_request.path == "/openai/deployments/my-gpt4o/chat/completions"
    assert chat_request.query == {"api-version": "2024-10-21"}
    assert chat_request.deployment == "my-gpt4o" and chat_request.endpoint == CHAT_COMPLETIONS
    assert chat_request.headers["api-key"] == "test"
    if SDK_MAJOR >= 2:  # openai 1.26's AzureOpenAI also sends `Authorization: Bearer <key>`
        assert "authorization" not in chat_request.headers
    assert embeddings_request.path == "/openai/deployments/emb-deployment/embeddings"
    assert embedding.model == "text-embedding-3-large" and len(embedding.data[0].embedding) == 3072


# -- malformed replies: what the SDK does with them ----------------------------------------------------------


def test_missing_usage_gives_usage_none(client, fake):
    fake.enqueue(ChatReply("no usage here", usage=None), times=2)
    assert ask(client).usage is None
    _, _, text = post_raw(fake, "/v1/chat/completions", {"model": "m", "messages": USER})
    assert "usage" not in json.loads(text)  # absent from the body, not null


def test_malformed_json_replies_are_passed_through_by_the_sdk(client, fake):
    base = {"id": "chatcmpl-x", "object": "chat.completion", "created": 1, "model": "m"}
    null_content = {"index": 0, "message": {"role": "assistant", "content": None}, "finish_reason": "stop"}
    weird = {"index": 0, "message": {"role": "assistant", "content": "x"}, "finish_reason": "brand_new"}
    fake.enqueue(RawReply.json({**base, "choices": []}))
    fake.enqueue(RawReply.json({**base, "choices": [null_content]}))
    fake.enqueue(RawReply.json({**base, "choices": [weird]}))

    assert ask(client).choices == []
    assert ask(client).choices[0].message.content is None
    # The SDK does not validate literals: an unknown finish_reason arrives as the plain string.
    assert ask(client).choices[0].finish_reason == "brand_new"


def test_non_json_error_body(client, fake):
    fake.enqueue(RawReply(502, b"<html>502 Bad Gateway</html>", "text/html"))
    with pytest.raises(openai.InternalServerError) as caught:
        ask(client)
    assert caught.value.status_code == 502 and caught.value.body == "<html>502 Bad Gateway</html>"
    assert caught.value.code is None


def test_hand_written_stream_with_an_empty_leading_chunk(client, fake):
    # Azure sends a first chunk with `choices: []` (prompt filter results) and empty id/model.
    azure_first = {"id": "", "object": "", "created": 0, "model": "", "choices": []}
    azure_first["prompt_filter_results"] = []
    chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-2024-08-06"}
    fake.enqueue(
        RawReply.sse(
            [
                azure_first,
                {**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "hi"}}]},
                {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
            ]
        )
    )
    chunks = list(ask(client, stream=True))
    assert [len(c.choices) for c in chunks] == [0, 1, 1] and chunks[0].model == ""
    assert chunks[1].choices[0].delta.content == "hi" and chunks[2].choices[0].finish_reason == "stop"


def test_truncated_stream_ends_quietly_without_finish_reason(client, fake):
    fake.enqueue(ChatReply("one two three four", fault=StreamFault(after=3, kind="truncate")))
    chunks = list(ask(client, stream=True))
    assert len(chunks) == 3  # role chunk + 2 content chunks, and the SDK raises nothing
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "one two"
    assert all(c.choices[0].finish_reason is None for c in chunks)


def test_error_chunk_mid_stream_raises_api_error(client, fake):
    fake.enqueue(ChatReply("one two three", fault=StreamFault(after=2, kind="error")))
    received = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in ask(client, stream=True):
            received.append(chunk)
    assert len(received) == 2
    assert "server had an error" in caught.value.message
    assert caught.value.body == ErrorReply.server_error().body()["error"]


def test_disconnect_mid_stream_and_before_reply(client, fake):
    fake.enqueue(ChatReply("one two three", fault=StreamFault(after=2, kind="disconnect")))
    received = []
    with pytest.raises(Exception) as caught:
        for chunk in ask(client, stream=True):
            received.append(chunk)
    assert len(received) == 2
    if SDK_MAJOR >= 3:
        assert isinstance(caught.value, openai.APIConnectionError)
    else:  # openai 1.x and 2.x let httpx's error escape from stream iteration
        assert type(caught.value).__name__ == "RemoteProtocolError"
    fake.enqueue(Disconnect())
    with pytest.raises(openai.APIConnectionError):
        ask(client)


# -- timing, cancellation, lifecycle -------------------------------------------------------------------------


@pytest.mark.timeout(10)
def test_delay_triggers_client_timeout_and_server_keeps_serving(fake):
    fake.enqueue(Delay(2.0, ChatReply("late")))
    with make_client(fake, timeout=0.3) as client:
        started = time.monotonic()
        with pytest.raises(openai.APITimeoutError):
            ask(client)
        assert time.monotonic() - started < 1.5
        assert text_of(ask(client)).startswith("Fake reply")
    assert wait_for_disconnects(fake, 1) == 1  # the fake noticed the client hang up during the delay


@pytest.mark.timeout(10)
def test_slow_stream_can_be_cancelled(fake):
    fake.enqueue(ChatReply("a b c d e f g h i j", chunk_delay=0.3))

    async def run() -> tuple[list[str], float]:
        async with make_async_client(fake) as client:
            got: list[str] = []
            first = asyncio.Event()

            async def consume() -> None:
                stream = await client.chat.completions.create(model="m", messages=USER, stream=True)
                async for chunk in stream:
                    got.append(chunk.choices[0].delta.content or "")
                    first.set()

            task = asyncio.create_task(consume())
            await asyncio.wait_for(first.wait(), 2)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            started = time.monotonic()
            follow_up = await client.chat.completions.create(model="m", messages=USER)
            assert text_of(follow_up).startswith("Fake reply")
            return got, time.monotonic() - started

    got, follow_up_seconds = asyncio.run(run())
    assert 1 <= len(got) < 5 and follow_up_seconds < 1.0
    assert wait_for_disconnects(fake, 1) == 1  # cancelling closed the connection, and the fake saw it


@pytest.mark.timeout(10)
def test_stop_returns_promptly_while_a_slow_stream_is_in_flight():
    fake = FakeOpenAI().start()
    fake.enqueue(ChatReply("a b c d e f g h", chunk_delay=1.0))
    outcome: list[object] = []
    first_chunk = threading.Event()

    def consume() -> None:
        try:
            with make_client(fake, timeout=5) as client:
                for _ in ask(client, stream=True):
                    first_chunk.set()
            outcome.append("finished")
        except Exception as error:  # noqa: BLE001 - the type is asserted below
            outcome.append(error)

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    assert first_chunk.wait(3)
    started = time.monotonic()
    fake.stop()
    assert time.monotonic() - started < 1.0
    thread.join(3)
    assert not thread.is_alive() and len(outcome) == 1
    assert outcome[0] != "finished"  # the stream was cut off, not completed
    with pytest.raises(RuntimeError):
        _ = fake.base_url
    fake.stop()  # idempotent
