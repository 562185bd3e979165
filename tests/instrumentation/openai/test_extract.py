"""Pure extraction: request bodies and SDK response objects into GenAICall, without any network."""

from __future__ import annotations

import pytest

from llmtel import semconv as sc
from llmtel.genai.content import CaptureMode, ContentPolicy
from llmtel.genai.record import GenAICall
from llmtel.instrumentation.openai import extract

openai = pytest.importorskip("openai")
from openai.types.chat import ChatCompletion, ChatCompletionChunk  # noqa: E402
from openai.types.create_embedding_response import CreateEmbeddingResponse  # noqa: E402

OFF = ContentPolicy()
ON = ContentPolicy(mode=CaptureMode.SPAN_ONLY, redactor=None)


def chat_call() -> GenAICall:
    return GenAICall(operation=sc.OP_CHAT, provider=sc.PROVIDER_OPENAI, api_type=sc.API_TYPE_CHAT_COMPLETIONS)


@pytest.mark.parametrize(
    ("method", "url", "expected"),
    [
        ("post", "/chat/completions", (sc.OP_CHAT, sc.API_TYPE_CHAT_COMPLETIONS)),
        ("POST", "/responses", (sc.OP_CHAT, sc.API_TYPE_RESPONSES)),
        ("get", "/responses/resp_123", (sc.OP_FETCH_RESPONSE, sc.API_TYPE_RESPONSES)),
        ("post", "/embeddings", (sc.OP_EMBEDDINGS, None)),
        ("post", "/completions", (sc.OP_TEXT_COMPLETION, None)),
        ("get", "/models", None),
        ("post", "/files", None),
        ("get", "/responses/resp_123/input_items", None),
        ("post", "/responses/resp_123/cancel", None),
    ],
)
def test_routes(method, url, expected):
    assert extract.route(method, url) == expected


def test_chat_request_parameters():
    call = chat_call()
    extract.apply_request(
        call,
        {
            "model": "gpt-4o",
            "messages": [{"role": "user", "content": "hi"}],
            "temperature": 0.2,
            "top_p": 0.9,
            "max_completion_tokens": 100,
            "max_tokens": 50,
            "seed": 7,
            "stop": "END",
            "frequency_penalty": 0.5,
            "presence_penalty": -0.5,
            "n": 2,
            "stream": True,
            "reasoning_effort": "low",
            "service_tier": "flex",
            "response_format": {"type": "json_schema", "json_schema": {"name": "x"}},
        },
        OFF,
    )
    assert (call.request_model, call.temperature, call.top_p, call.max_tokens) == ("gpt-4o", 0.2, 0.9, 100)
    assert (call.seed, call.stop_sequences, call.frequency_penalty, call.presence_penalty) == (7, ("END",), 0.5, -0.5)
    assert (call.choice_count, call.stream, call.reasoning_level) == (2, True, "low")
    assert (call.request_service_tier, call.output_type) == ("flex", "json")
    assert call.input_messages is None  # content off


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"max_tokens": 50}, 50),
        ({"max_completion_tokens": 100}, 100),
        ({"max_completion_tokens": 100, "max_tokens": 50}, 100),  # the newer key wins, in either order
        ({"max_tokens": 50, "max_completion_tokens": 100}, 100),
        ({"max_tokens": 50, "max_completion_tokens": "100"}, 50),  # an invalid one does not erase a valid one
        ({"max_tokens": 50, "max_completion_tokens": None}, 50),
        ({"max_tokens": True}, None),
        ({"max_tokens": 2.0}, None),
    ],
)
def test_chat_max_tokens_from_either_key(body, expected):
    call = chat_call()
    extract.apply_request(call, {"model": "gpt-4o", **body}, OFF)
    assert call.max_tokens == expected


def test_defaults_are_not_reported():
    call = chat_call()
    extract.apply_request(call, {"model": "m", "n": 1, "service_tier": "auto", "temperature": True}, OFF)
    assert call.choice_count is None
    assert call.request_service_tier is None
    assert call.temperature is None  # a bool is not a temperature
    assert call.stream is False


def test_chat_input_messages_cover_roles_tools_and_media():
    call = chat_call()
    body = {
        "model": "m",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "what is this?"},
                                         {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]},
            {"role": "assistant", "content": None,
             "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "42"},
        ],
        "tools": [{"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object"}}}],
    }
    extract.apply_request(call, body, ON)
    assert call.input_messages == [
        {"role": "system", "parts": [{"type": "text", "content": "be brief"}]},
        {"role": "user", "parts": [
            {"type": "text", "content": "what is this?"},
            {"type": "blob", "modality": "image", "mime_type": "image/png", "byte_size": 26},
        ]},
        {"role": "assistant", "parts": [{"type": "tool_call", "id": "call_1", "name": "f", "arguments": {"a": 1}}]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1", "response": "42"}]},
    ]
    assert call.tool_definitions == [
        {"type": "function", "name": "f", "description": "d", "parameters": {"type": "object"}}
    ]


def test_responses_request():
    call = GenAICall(operation=sc.OP_CHAT, provider=sc.PROVIDER_OPENAI, api_type=sc.API_TYPE_RESPONSES)
    extract.apply_request(
        call,
        {
            "model": "o4-mini",
            "instructions": "be kind",
            "input": [
                {"role": "user", "content": [{"type": "input_text", "text": "hello"}]},
                {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "not json"},
                {"type": "function_call_output", "call_id": "c1", "output": "done"},
            ],
            "max_output_tokens": 64,
            "reasoning": {"effort": "high"},
            "text": {"format": {"type": "json_object"}},
            "previous_response_id": "resp_1",
            "conversation": {"id": "conv_1"},
            "tools": [{"type": "function", "name": "f", "parameters": None}],
        },
        ON,
    )
    assert (call.max_tokens, call.reasoning_level, call.output_type) == (64, "high", "json")
    assert (call.previous_response_id, call.conversation_id) == ("resp_1", "conv_1")
    assert call.system_instructions == [{"type": "text", "content": "be kind"}]
    assert call.input_messages == [
        {"role": "user", "parts": [{"type": "text", "content": "hello"}]},
        {"role": "assistant", "parts": [{"type": "tool_call", "id": "c1", "name": "f", "arguments": "not json"}]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "response": "done"}]},
    ]
    assert call.tool_definitions == [{"type": "function", "name": "f"}]


def test_embeddings_request_and_response():
    call = GenAICall(operation=sc.OP_EMBEDDINGS, provider=sc.PROVIDER_OPENAI)
    extract.apply_request(call, {"model": "text-embedding-3-small", "input": "x", "encoding_format": "base64",
                                 "dimensions": 256}, ON)
    assert (call.encoding_formats, call.dimensions) == (("base64",), 256)
    response = CreateEmbeddingResponse.model_validate(
        {"object": "list", "model": "text-embedding-3-small", "data": [],
         "usage": {"prompt_tokens": 5, "total_tokens": 5}}
    )
    extract.apply_response(call, response, ON)
    assert (call.response_model, call.input_tokens, call.output_tokens) == ("text-embedding-3-small", 5, None)
    assert call.input_messages is None and call.output_messages is None  # embeddings carry no content


def completion(**overrides):
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-2024-08-06",
        "system_fingerprint": "fp_1",
        "service_tier": "default",
        "choices": [
            {"index": 0, "finish_reason": "tool_calls",
             "message": {"role": "assistant", "content": "thinking", "tool_calls": [
                 {"id": "call_9", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "x"}'}}]}},
            {"index": 1, "finish_reason": "length", "message": {"role": "assistant", "content": "cut"}},
        ],
        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120,
                  "prompt_tokens_details": {"cached_tokens": 64},
                  "completion_tokens_details": {"reasoning_tokens": 8}},
    }
    body.update(overrides)
    return ChatCompletion.model_validate(body)


def test_chat_response():
    call = chat_call()
    extract.apply_response(call, completion(), ON)
    assert (call.response_id, call.response_model) == ("chatcmpl-1", "gpt-4o-2024-08-06")
    assert (call.system_fingerprint, call.response_service_tier) == ("fp_1", "default")
    assert call.finish_reasons == ["tool_calls", "length"]
    assert (call.input_tokens, call.output_tokens, call.cache_read_tokens, call.reasoning_tokens) == (100, 20, 64, 8)
    assert call.usage_source == "response"
    assert call.output_messages == [
        {"role": "assistant", "parts": [
            {"type": "text", "content": "thinking"},
            {"type": "tool_call", "id": "call_9", "name": "lookup", "arguments": {"q": "x"}},
        ], "finish_reason": "tool_calls"},
        {"role": "assistant", "parts": [{"type": "text", "content": "cut"}], "finish_reason": "length"},
    ]


def test_malformed_chat_response_keeps_what_is_known():
    raw = ChatCompletion.construct(id="x", model="m", choices=[], usage=None)
    call = chat_call()
    extract.apply_response(call, raw, ON)
    assert call.finish_reasons == []
    assert call.input_tokens is None and call.usage_source == "absent"
    odd = ChatCompletion.construct(id="y", choices=[type("C", (), {"finish_reason": None, "message": None})()])
    extract.apply_response(call, odd, ON)
    assert call.finish_reasons == ["error"]


def test_output_messages_carry_their_finish_reason():
    # a chat choice without a finish reason: its output message says "error" (the conventions require one)
    unfinished = ChatCompletion.construct(
        id="chatcmpl-2", object="chat.completion", created=1, model="gpt-4o-mini",
        choices=[{"index": 0, "finish_reason": None, "message": {"role": "assistant", "content": "par"}}])
    call = chat_call()
    extract.apply_response(call, unfinished, ON)
    assert call.output_messages == [
        {"role": "assistant", "parts": [{"type": "text", "content": "par"}], "finish_reason": "error"}]
    # a Responses reply cut short by max_output_tokens: its one output message says "length"
    responses = pytest.importorskip("openai.types.responses")
    incomplete = responses.Response.model_validate({
        "id": "resp_1", "object": "response", "created_at": 1, "model": "gpt-4o-mini", "status": "incomplete",
        "incomplete_details": {"reason": "max_output_tokens"},
        "output": [{"type": "message", "id": "msg_1", "role": "assistant", "status": "incomplete",
                    "content": [{"type": "output_text", "text": "Par", "annotations": []}]}],
        "parallel_tool_calls": True, "tool_choice": "auto", "tools": [],
    })
    call = GenAICall(operation=sc.OP_CHAT, provider=sc.PROVIDER_OPENAI, api_type=sc.API_TYPE_RESPONSES)
    extract.apply_response(call, incomplete, ON)
    assert call.finish_reasons == ["length"]
    assert call.output_messages == [
        {"role": "assistant", "parts": [{"type": "text", "content": "Par"}], "finish_reason": "length"}]


def chunk(**body):
    base = {"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini", "choices": []}
    base.update(body)
    return ChatCompletionChunk.model_validate(base)


def fold(target, chunks, *, completed=True, hide_usage_chunk=False):
    """Run ``chunks`` through a stream's fold as a stream runs it, and end the stream: read to the end when
    ``completed``, else closed after the last chunk. ``target`` is the call (the lean fold, inline in
    ``_traced_chunks``) or a ``DetailedChunkAccumulator`` (folding item by item in ``_traced_iterator``). Returns
    the chunks the caller is given. ``hide_usage_chunk`` is the lean fold's (the accumulator has its own)."""
    from opentelemetry.metrics import NoOpMeterProvider
    from opentelemetry.trace import NoOpTracerProvider

    from llmtel.genai.emit import GenAITelemetry
    from llmtel.instrumentation.openai import streams

    telemetry = GenAITelemetry(tracer_provider=NoOpTracerProvider(), meter_provider=NoOpMeterProvider())
    source = iter(chunks)
    if isinstance(target, extract.DetailedChunkAccumulator):
        call = target.call
        reader = streams._traced_iterator(source, streams.AccumulatedStream(telemetry, call, telemetry.start(call), target))
    else:
        call = target
        state = streams.ChunkStream(telemetry, call, telemetry.start(call), hide_usage_chunk=hide_usage_chunk)
        reader = streams._traced_chunks(source, state)
    given = []
    while completed or source.__length_hint__():
        try:
            given.append(next(reader))
        except StopIteration:
            break
    reader.close()
    assert call.stream_end == ("completed" if completed else "closed")
    return given


def test_chunk_accumulator_reassembles_tool_calls_and_usage():
    call = chat_call()
    call.stream = True
    acc = extract.DetailedChunkAccumulator(call, ON, hide_usage_chunk=True)
    chunks = [
        chunk(choices=[{"index": 0, "delta": {"role": "assistant", "content": "Hel"}}]),
        chunk(choices=[{"index": 0, "delta": {"content": "lo"}}]),
        chunk(choices=[{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "id": "call_1", "type": "function", "function": {"name": "get", "arguments": '{"ci'}}]}}]),
        chunk(choices=[{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": 'ty": "Oslo"}'}}]}}]),
        chunk(choices=[{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]),
        chunk(choices=[], usage={"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13}),
    ]
    assert fold(acc, chunks) == chunks[:5]  # the usage-only chunk llmtel asked for is hidden
    assert call.finish_reasons == ["tool_calls"]
    assert call.chunk_count == 5  # what the caller was given
    assert (call.input_tokens, call.output_tokens, call.usage_source) == (9, 4, "injected")
    assert call.output_messages == [{"role": "assistant", "parts": [
        {"type": "text", "content": "Hello"},
        {"type": "tool_call", "id": "call_1", "name": "get", "arguments": {"city": "Oslo"}},
    ], "finish_reason": "tool_calls"}]


def test_chunk_accumulator_marks_missing_finish_reasons_as_error_when_cut_short():
    call = chat_call()
    call.choice_count = 2
    fold(call, [chunk(choices=[{"index": 0, "delta": {"content": "a"}},
                              {"index": 1, "delta": {"content": "b"}, "finish_reason": "stop"}])], completed=False)
    assert call.finish_reasons == ["error", "stop"]
    assert call.usage_source == "absent"
    assert call.output_messages is None  # content off: nothing accumulated


def test_chunk_accumulator_passes_the_callers_own_usage_chunk_and_counts_it():
    call = chat_call()
    call.stream = True
    acc = extract.DetailedChunkAccumulator(call, OFF, chunk_timing=True)
    chunks = [
        chunk(choices=[{"index": 0, "delta": {"content": "Hi"}, "finish_reason": "stop"}]),
        chunk(choices=[], usage={"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10}),
    ]
    assert fold(acc, chunks) == chunks  # asked for by the caller: never hidden
    assert call.chunk_count == 2
    assert call.chunk_times is not None and len(call.chunk_times) == 2
    assert call.chunk_times[0] <= call.chunk_times[1]
    assert call.first_chunk_perf is not None and call.first_chunk_perf <= call.chunk_times[0]
    assert (call.input_tokens, call.output_tokens, call.usage_source) == (9, 1, "stream_usage_chunk")


@pytest.mark.parametrize("hide_usage_chunk", [False, True])
@pytest.mark.parametrize("completed", [True, False])
def test_the_lean_and_the_detailed_fold_read_the_same(hide_usage_chunk, completed):
    """The lean fold (inline in ``_traced_chunks``) and ``DetailedChunkAccumulator`` (one ``add`` per chunk) are two
    writings of one fold: with content off and no timing, they must leave the same record."""
    chunks = [
        chunk(id="", model="", choices=[]),  # Azure's prompt-filter chunk: no id, no choice
        chunk(choices=[{"index": 0, "delta": {"content": "a"}}, {"index": 1, "delta": {"content": "b"}}],
              system_fingerprint="fp_1"),
        chunk(choices=[{"index": 1, "delta": {}, "finish_reason": "length"}], service_tier="default"),
        chunk(choices=[{"index": 2, "delta": {}, "finish_reason": "stop"}]),
        chunk(choices=[], usage={"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13,
                                 "completion_tokens_details": {"reasoning_tokens": 2}}),
    ]
    if not completed:
        chunks = chunks[:-1]  # cut short before the usage chunk
    records = []
    for detailed in (False, True):
        call = chat_call()
        call.stream = True
        call.choice_count = 2
        target = extract.DetailedChunkAccumulator(call, OFF, hide_usage_chunk=hide_usage_chunk) if detailed else call
        given = fold(target, chunks, completed=completed, hide_usage_chunk=hide_usage_chunk)
        assert given == (chunks[:-1] if hide_usage_chunk and completed else chunks)
        records.append({name: getattr(call, name) for name in (
            "response_id", "response_model", "system_fingerprint", "response_service_tier", "finish_reasons",
            "input_tokens", "output_tokens", "reasoning_tokens", "usage_source", "chunk_count", "stream_end")})
        assert call.first_chunk_perf is not None
    assert records[0] == records[1]
    assert records[0]["finish_reasons"] == ["error", "length", "stop"]  # choice 0 never finished
    assert records[0]["usage_source"] == ("absent" if not completed else "injected" if hide_usage_chunk
                                          else "stream_usage_chunk")
    assert records[0]["response_id"] == "chatcmpl-s" and records[0]["system_fingerprint"] == "fp_1"


@pytest.mark.parametrize(("model", "operation", "searches"), [
    ("gpt-4o-search-preview-2025-03-11", sc.OP_CHAT, {"web_search": 1}),
    ("gpt-5-search-api", sc.OP_CHAT, {"web_search": 1}),
    ("gpt-4o-2024-08-06", sc.OP_CHAT, None),
    ("sonar-search-pro", sc.OP_CHAT, None),  # another vendor's name: its fees are its own price data's
    ("gpt-4o-search-preview", sc.OP_TEXT_COMPLETION, None),  # no search model answers the legacy API
])
def test_only_openais_chat_search_models_count_a_search_per_reply(model, operation, searches):
    for streamed in (False, True):
        call = chat_call()
        call.operation = operation
        if streamed:
            call.stream = True
            fold(call, [chunk(model=model, choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}])])
        else:
            extract.apply_response(call, completion(model=model), OFF)
        assert call.hosted_tool_calls == searches, streamed


def test_fields_an_older_sdk_has_no_type_for_are_still_read():
    """An SDK older than a field keeps it untyped among the model's extras (openai 1.26 and
    ``prompt_tokens_details``); the SDK's own ``construct`` is what builds responses."""
    from openai.types.completion_usage import CompletionUsage

    class OldUsage(CompletionUsage):  # a usage type from before the detail fields existed
        pass

    for name in ("prompt_tokens_details", "completion_tokens_details"):
        OldUsage.model_fields.pop(name, None)
    OldUsage.model_rebuild(force=True)
    usage = OldUsage.construct(prompt_tokens=100, completion_tokens=20, total_tokens=120,
                               prompt_tokens_details={"cached_tokens": 64},
                               completion_tokens_details={"reasoning_tokens": 8})
    assert "prompt_tokens_details" not in usage.__dict__  # kept as an extra, untyped
    call = chat_call()
    extract.apply_response(call, completion(usage=None).model_copy(update={"usage": usage}), OFF)
    assert (call.input_tokens, call.output_tokens, call.cache_read_tokens, call.reasoning_tokens) == (100, 20, 64, 8)


def test_objects_that_are_not_pydantic_models_are_read_by_attribute():
    from types import SimpleNamespace

    usage = SimpleNamespace(prompt_tokens=7, completion_tokens=3, prompt_tokens_details=None,
                            completion_tokens_details={"reasoning_tokens": 2})
    response = SimpleNamespace(id="r-1", model="m-1", usage=usage,
                               choices=[SimpleNamespace(index=0, finish_reason="stop")])
    call = chat_call()
    extract.apply_response(call, response, OFF)
    assert (call.response_id, call.response_model, call.finish_reasons) == ("r-1", "m-1", ["stop"])
    assert (call.input_tokens, call.output_tokens, call.cache_read_tokens, call.reasoning_tokens) == (7, 3, None, 2)
    assert call.system_fingerprint is None and call.response_service_tier is None  # absent: None, not an error


def test_stream_finish_reasons_cover_every_index_up_to_the_highest_seen():
    call = chat_call()
    call.stream = True
    fold(call, [chunk(choices=[{"index": 1, "delta": {"content": "only choice 1"}}]),
               chunk(choices=[{"index": 1, "delta": {}, "finish_reason": "stop"}])])
    assert call.finish_reasons == ["error", "stop"]  # choice 0 never came; choice 1 keeps its own reason


def test_a_choice_is_noted_even_when_the_first_chunk_has_none():
    """A first chunk with an id but no choices (a filter or role-less chunk) must not hide that choice 0 came
    later without a finish reason: that stream was cut short ("error"), not choiceless."""
    call = chat_call()
    call.stream = True
    fold(call, [chunk(choices=[], system_fingerprint="fp_1"), chunk(choices=[{"index": 0, "delta": {"content": "a"}}]),
               chunk(choices=[{"index": 0, "delta": {"content": "b"}}])])
    assert call.finish_reasons == ["error"]
    assert call.chunk_count == 3
    assert (call.response_id, call.system_fingerprint) == ("chatcmpl-s", "fp_1")  # kept from the first chunk

    empty = chat_call()
    empty.stream = True
    fold(empty, [chunk(choices=[])])
    assert empty.finish_reasons == []  # no choice at all: no reason to report


def test_a_model_built_without_pydantic_constructors_is_still_read():
    raw = CreateEmbeddingResponse.__new__(CreateEmbeddingResponse)  # no extras slot set
    object.__setattr__(raw, "__dict__", {"model": "text-embedding-3-small", "data": [], "object": "list",
                                         "usage": {"prompt_tokens": 3, "total_tokens": 3}})
    call = GenAICall(operation=sc.OP_EMBEDDINGS, provider=sc.PROVIDER_OPENAI)
    extract.apply_response(call, raw, OFF)
    assert (call.response_model, call.input_tokens, call.usage_source) == ("text-embedding-3-small", 3, "response")


def test_the_inline_checks_of_generated_readers_agree_with_the_functions():
    """``_params_reader`` writes the checks of ``request_number``, ``_int`` and ``_str`` inline, and the readers of
    ``n`` and ``max_completion_tokens``: the copies must give what the functions give, value for value."""
    import enum

    class Tier(str, enum.Enum):
        FLEX = "flex"

    values = [0, 1, -3, 2.5, float("nan"), True, False, "0.3", "", "x", Tier.FLEX, [], {}, b"1", 10**20]
    for check, expression in extract._INLINE_CHECKS.items():
        inline = eval(f"lambda v: {expression}")  # noqa: S307 - our own constant expressions
        for value in values:
            expected, got = check(value), inline(value)
            assert type(got) is type(expected) and (got == expected or got != got), (check.__name__, value)
    for reader, statement in extract._INLINE_READERS.items():
        namespace: dict = {}
        exec(f"def inline(call, v):\n    {statement}", namespace)  # noqa: S102 - our own constant statements
        for value in values:
            for before in (None, 7):  # a field already set (``max_tokens`` read first) is kept or replaced alike
                expected, got = GenAICall("chat", "openai"), GenAICall("chat", "openai")
                expected.max_tokens = got.max_tokens = expected.choice_count = got.choice_count = before
                reader(expected, value)
                namespace["inline"](got, value)
                assert (got.max_tokens, got.choice_count) == (expected.max_tokens, expected.choice_count), (
                    reader.__name__, value, before)
