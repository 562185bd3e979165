"""Metrics named as the newest GenAI conventions have them (``OTEL_SEMCONV_STABILITY_OPT_IN=
gen_ai_latest_experimental``), through the real client: which instruments, which points, which attributes."""

from __future__ import annotations

import pytest

from llmtel import semconv as sc
from llmtel.testing import ChatReply, EmbeddingsReply, ErrorReply, ResponsesReply, Usage

openai = pytest.importorskip("openai")

MESSAGES = [{"role": "user", "content": "what is otel?"}]
LATEST = "http,gen_ai_latest_experimental"  # a shared variable: other areas' tokens are not ours
RELEASED_NAMES = (sc.METRIC_TOKEN_USAGE, sc.METRIC_TIME_TO_FIRST_CHUNK, sc.METRIC_TIME_PER_OUTPUT_CHUNK)


def names(telemetry):
    data = telemetry.metric_reader.get_metrics_data()
    return {m.name for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}


def by_modality(telemetry, name):
    return {p.attributes[sc.GEN_AI_TOKEN_MODALITY]: p.value for p in telemetry.metric_points(name)}


def base(fake, response_model, operation="chat", request_model="gpt-4o-mini"):
    return {sc.GEN_AI_OPERATION_NAME: operation, sc.GEN_AI_PROVIDER_NAME: "openai",
            sc.GEN_AI_REQUEST_MODEL: request_model, sc.GEN_AI_RESPONSE_MODEL: response_model,
            sc.SERVER_ADDRESS: "127.0.0.1", sc.SERVER_PORT: fake.port}


def test_a_chat_call_is_recorded_under_the_newest_names(instrument, telemetry, client, fake, monkeypatch):
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", LATEST)
    instrument()
    fake.enqueue(ChatReply(model="gpt-4o-mini-2024-07-18", usage=Usage(
        prompt=1000, completion=200, cached=600, reasoning=50, input_audio=300, output_audio=20)))
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    span = telemetry.one_llm_span()
    attrs = base(fake, "gpt-4o-mini-2024-07-18")
    (duration,) = telemetry.metric_points(sc.METRIC_INFERENCE_DURATION)  # first: a collection takes the exemplars
    assert duration.exemplars[0].span_id == span.context.span_id
    assert names(telemetry) == {
        sc.METRIC_INFERENCE_DURATION, sc.METRIC_USAGE_INPUT_TOKENS, sc.METRIC_USAGE_OUTPUT_TOKENS,
        sc.METRIC_USAGE_CACHE_READ_TOKENS, sc.METRIC_USAGE_REASONING_TOKENS, sc.METRIC_OPERATION_INPUT_TOKENS,
        sc.METRIC_OPERATION_OUTPUT_TOKENS, sc.METRIC_COST,
    }
    assert dict(duration.attributes) == attrs
    assert duration.sum == pytest.approx((span.end_time - span.start_time) / 1e9, abs=1e-6)
    assert tuple(duration.explicit_bounds) == sc.DURATION_BUCKETS
    assert by_modality(telemetry, sc.METRIC_USAGE_INPUT_TOKENS) == {"audio": 300, "unknown": 700}
    assert by_modality(telemetry, sc.METRIC_USAGE_OUTPUT_TOKENS) == {"audio": 20, "unknown": 180}
    assert by_modality(telemetry, sc.METRIC_USAGE_CACHE_READ_TOKENS) == {"unknown": 600}
    assert by_modality(telemetry, sc.METRIC_USAGE_REASONING_TOKENS) == {"unknown": 50}
    (point,) = [p for p in telemetry.metric_points(sc.METRIC_USAGE_INPUT_TOKENS) if p.value == 700]
    assert dict(point.attributes) == {**attrs, sc.GEN_AI_TOKEN_MODALITY: "unknown"}
    (per_call_in,) = telemetry.metric_points(sc.METRIC_OPERATION_INPUT_TOKENS)
    (per_call_out,) = telemetry.metric_points(sc.METRIC_OPERATION_OUTPUT_TOKENS)
    assert (per_call_in.sum, per_call_out.sum, per_call_in.count) == (1000, 200, 1)
    assert dict(per_call_in.attributes) == attrs  # not by modality
    assert tuple(per_call_in.explicit_bounds) == sc.TOKEN_BUCKETS
    (cost,) = telemetry.metric_points(sc.METRIC_COST)
    assert cost.value == pytest.approx(span.attributes[sc.LLMTEL_COST_USD])
    assert span.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] == 1000  # the span is as without the opt-in


def test_a_failed_call_counts_zero_tokens_of_unknown_modality(instrument, telemetry, client, fake, monkeypatch):
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", LATEST)
    instrument()
    fake.enqueue(ErrorReply.server_error())
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    failed = {sc.GEN_AI_OPERATION_NAME: "chat", sc.GEN_AI_PROVIDER_NAME: "openai",
              sc.GEN_AI_REQUEST_MODEL: "gpt-4o-mini", sc.SERVER_ADDRESS: "127.0.0.1", sc.SERVER_PORT: fake.port}
    (duration,) = telemetry.metric_points(sc.METRIC_INFERENCE_DURATION)
    assert dict(duration.attributes) == {**failed, sc.ERROR_TYPE: "InternalServerError"}
    for counter in (sc.METRIC_USAGE_INPUT_TOKENS, sc.METRIC_USAGE_OUTPUT_TOKENS):
        (point,) = telemetry.metric_points(counter)
        assert point.value == 0
        assert dict(point.attributes) == {**failed, sc.GEN_AI_TOKEN_MODALITY: "unknown"}  # counters: no error.type
    (per_call,) = telemetry.metric_points(sc.METRIC_OPERATION_INPUT_TOKENS)
    assert (per_call.sum, per_call.count) == (0, 1)
    assert dict(per_call.attributes) == {**failed, sc.ERROR_TYPE: "InternalServerError"}
    assert telemetry.metric_points(sc.METRIC_USAGE_CACHE_READ_TOKENS) == []


def test_a_stream_records_its_first_chunk_and_chunk_gaps_under_the_inference_names(
    instrument, telemetry, client, fake, monkeypatch
):
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", LATEST)
    instrument(chunk_timing=True)
    fake.enqueue(ChatReply("alpha beta gamma", model="gpt-4o-mini-2024-07-18", chunk_delay=0.01))
    received = list(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))
    span = telemetry.one_llm_span()
    (first,) = telemetry.metric_points(sc.METRIC_INFERENCE_TIME_TO_FIRST_CHUNK)
    assert first.sum == pytest.approx(span.attributes[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK])
    (gaps,) = telemetry.metric_points(sc.METRIC_INFERENCE_TIME_PER_OUTPUT_CHUNK)
    assert gaps.count == len(received) - 1
    assert dict(first.attributes) == dict(gaps.attributes) == base(fake, "gpt-4o-mini-2024-07-18")
    # no usage chunk was asked for: 0 tokens of unknown modality, as the conventions ask
    assert by_modality(telemetry, sc.METRIC_USAGE_OUTPUT_TOKENS) == {"unknown": 0}
    assert not names(telemetry) & set(RELEASED_NAMES)


def test_embeddings_have_their_own_duration_and_input_tokens(instrument, telemetry, client, fake, monkeypatch):
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", LATEST)
    instrument()
    fake.enqueue(EmbeddingsReply(model="text-embedding-3-small", usage=Usage(prompt=12)))
    client.embeddings.create(model="text-embedding-3-small", input="hello")
    attrs = base(fake, "text-embedding-3-small", "embeddings", "text-embedding-3-small")
    assert names(telemetry) == {sc.METRIC_EMBEDDINGS_DURATION, sc.METRIC_EMBEDDINGS_INPUT_TOKENS, sc.METRIC_COST}
    (duration,) = telemetry.metric_points(sc.METRIC_EMBEDDINGS_DURATION)
    (tokens,) = telemetry.metric_points(sc.METRIC_EMBEDDINGS_INPUT_TOKENS)
    assert dict(duration.attributes) == dict(tokens.attributes) == attrs
    assert (tokens.sum, tokens.count) == (12, 1)


def test_a_fetch_is_an_operation_without_usage(instrument, telemetry, client, fake, monkeypatch):
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", LATEST)
    instrument()
    fake.enqueue(ResponsesReply("done", model="gpt-4o-mini-2024-07-18"))
    created = client.responses.create(model="gpt-4o-mini", input="hi")
    fake.enqueue(ResponsesReply("done", model="gpt-4o-mini-2024-07-18"))
    client.responses.retrieve(created.id)
    fetch = {p.attributes[sc.GEN_AI_OPERATION_NAME] for p in telemetry.metric_points(sc.METRIC_OPERATION_DURATION)}
    assert fetch == {sc.OP_FETCH_RESPONSE}
    inference = telemetry.metric_points(sc.METRIC_INFERENCE_DURATION)
    assert [p.attributes[sc.GEN_AI_OPERATION_NAME] for p in inference] == ["chat"]
    operations = {p.attributes[sc.GEN_AI_OPERATION_NAME] for p in telemetry.metric_points(sc.METRIC_USAGE_INPUT_TOKENS)}
    assert operations == {"chat"}  # the retrieved reply's tokens were counted when it was created


def test_without_the_opt_in_the_released_names_are_kept(instrument, telemetry, client, fake, monkeypatch):
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http")
    instrument()
    fake.enqueue(ChatReply(model="gpt-4o-mini-2024-07-18"))
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert names(telemetry) == {sc.METRIC_OPERATION_DURATION, sc.METRIC_TOKEN_USAGE, sc.METRIC_COST}


def test_the_keyword_overrides_the_variable(instrument, telemetry, client, fake, monkeypatch):
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "gen_ai_latest_experimental")
    instrument(semconv_opt_in="")
    fake.enqueue(ChatReply(model="gpt-4o-mini-2024-07-18"))
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert sc.METRIC_TOKEN_USAGE in names(telemetry)
