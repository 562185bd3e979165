"""Embeddings through the real client: request attributes as sent, input tokens only, cost; sync and async."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from llmtel import semconv as sc
from llmtel.testing import EmbeddingsReply, ErrorReply, Usage
from tests.instrumentation.openai import _stream_helpers

# shared fixtures (see _stream_helpers)
aclient = _stream_helpers.aclient
client = _stream_helpers.client
frozen = _stream_helpers.frozen
frozen_heap = _stream_helpers.frozen_heap

openai = pytest.importorskip("openai")

pytestmark = pytest.mark.timeout(20)

MODEL = "text-embedding-3-small"
PRICE = 0.02 / 1e6  # text-embedding-3-small, USD per input token


def expected(fake: Any, **extra: Any) -> dict[str, Any]:
    attrs = {
        sc.GEN_AI_OPERATION_NAME: "embeddings",
        sc.GEN_AI_PROVIDER_NAME: "openai",
        sc.GEN_AI_REQUEST_MODEL: MODEL,
        sc.SERVER_ADDRESS: "127.0.0.1",
        sc.SERVER_PORT: fake.port,
        sc.GEN_AI_RESPONSE_MODEL: MODEL,
        sc.GEN_AI_USAGE_INPUT_TOKENS: 1234,
        sc.LLMTEL_USAGE_SOURCE: "response",
        sc.LLMTEL_COST_STATUS: "priced",
    }
    sent = fake.last_request.json.get("encoding_format")
    if sent is not None:  # what the SDK sends unasked differs between generations (base64 since 1.x with numpy)
        attrs[sc.GEN_AI_REQUEST_ENCODING_FORMATS] = (sent,)
    attrs.update(extra)
    return attrs


def check(telemetry: Any, fake: Any, **extra: Any) -> None:
    span = telemetry.one_llm_span()
    assert span.name == f"embeddings {MODEL}"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    attrs = dict(span.attributes)
    cost = attrs.pop(sc.LLMTEL_COST_USD)
    assert attrs.pop(sc.LLMTEL_COST_PRICES).startswith("genai-prices ")
    assert attrs == expected(fake, **extra)
    assert cost == pytest.approx(1234 * PRICE)
    tokens = telemetry.metric_points(sc.METRIC_TOKEN_USAGE)
    assert [(p.attributes[sc.GEN_AI_TOKEN_TYPE], p.sum) for p in tokens] == [("input", 1234)]
    (point,) = telemetry.metric_points(sc.METRIC_COST)
    assert point.value == pytest.approx(1234 * PRICE)
    assert telemetry.metric_points(sc.METRIC_TIME_TO_FIRST_CHUNK) == []


def test_embeddings_defaults(instrument, telemetry, client, fake):
    instrument()
    fake.enqueue(EmbeddingsReply(usage=Usage(prompt=1234)))
    result = client.embeddings.create(model=MODEL, input=["first text", "second"])
    assert len(result.data) == 2 and len(result.data[0].embedding) == 1536
    assert isinstance(result.data[0].embedding[0], float)  # the caller gets floats whatever was sent
    # openai 3.x always asks for base64 (and decodes it); 1.26 only does so when numpy is installed
    assert fake.last_request.json.get("encoding_format") in ("base64", None)
    check(telemetry, fake)


def test_embeddings_float_and_dimensions(instrument, telemetry, client, fake):
    instrument()
    fake.enqueue(EmbeddingsReply(usage=Usage(prompt=1234)))
    result = client.embeddings.create(model=MODEL, input="one text", encoding_format="float", dimensions=256)
    assert len(result.data[0].embedding) == 256
    assert fake.last_request.json["encoding_format"] == "float"
    check(telemetry, fake, **{sc.GEN_AI_REQUEST_ENCODING_FORMATS: ("float",), sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT: 256})


def test_embeddings_content_is_never_recorded(instrument, telemetry, client, fake):
    instrument(capture_content=True)
    client.embeddings.create(model=MODEL, input="secret text")
    attrs = telemetry.one_llm_span().attributes
    assert [k for k in attrs if k.startswith("gen_ai.") and "messages" in k] == []
    assert "secret text" not in str(dict(attrs))


def test_embeddings_without_usage(instrument, telemetry, client, fake):
    instrument()
    fake.enqueue(EmbeddingsReply(usage=None))
    client.embeddings.create(model=MODEL, input="x")
    attrs = telemetry.one_llm_span().attributes
    assert sc.GEN_AI_USAGE_INPUT_TOKENS not in attrs
    assert attrs[sc.LLMTEL_USAGE_SOURCE] == "absent"
    assert attrs[sc.LLMTEL_COST_STATUS] == "no_usage"
    assert telemetry.metric_points(sc.METRIC_TOKEN_USAGE) == []


def test_embeddings_error(instrument, telemetry, client, fake):
    instrument()
    fake.enqueue(ErrorReply.model_not_found(MODEL))
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model=MODEL, input="x")
    span = telemetry.one_llm_span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[sc.ERROR_TYPE] == "NotFoundError"
    assert span.attributes[sc.GEN_AI_OPERATION_NAME] == "embeddings"


def test_async_embeddings(instrument, telemetry, aclient, fake):
    instrument()
    fake.enqueue(EmbeddingsReply(usage=Usage(prompt=1234)))
    result = asyncio.run(aclient.embeddings.create(model=MODEL, input=["a", "b", "c"], dimensions=64))
    assert [len(d.embedding) for d in result.data] == [64, 64, 64]
    check(telemetry, fake, **{sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT: 64})
