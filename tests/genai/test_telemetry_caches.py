"""``GenAITelemetry`` builds span names, start attributes and metric attribute sets once per shape of call
and shares them: what each span and metric point carries must still be exactly its own call's, and the
caches must stay bounded when every call names a new model."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llmtel import semconv as sc
from llmtel.genai import emit
from llmtel.genai.emit import GenAITelemetry, end_attributes
from llmtel.genai.record import GenAICall


@pytest.fixture
def telemetry():
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    yield GenAITelemetry(tracer_provider=tracer_provider, meter_provider=meter_provider), spans, reader
    tracer_provider.shutdown()
    meter_provider.shutdown()


def record(telemetry: GenAITelemetry, request_model: str, response_model: str, tokens: int) -> None:
    call = GenAICall("chat", "openai", request_model=request_model, server_address="h", server_port=1)
    span = telemetry.start(call)
    call.response_model, call.input_tokens, call.output_tokens = response_model, tokens, tokens + 1
    telemetry.finish(call, span)


def token_points(reader: InMemoryMetricReader) -> dict[tuple[str, str, str], tuple[int, float]]:
    """(request model, response model, token type) -> (count, sum) of the token-usage points."""
    found = {}
    for resource_metrics in reader.get_metrics_data().resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                if metric.name == sc.METRIC_TOKEN_USAGE:
                    for point in metric.data.data_points:
                        a = point.attributes
                        key = (a[sc.GEN_AI_REQUEST_MODEL], a[sc.GEN_AI_RESPONSE_MODEL], a[sc.GEN_AI_TOKEN_TYPE])
                        found[key] = (point.count, point.sum)
    return found


def test_each_span_and_point_carries_its_own_call(telemetry):
    tel, spans, reader = telemetry
    record(tel, "m1", "m1-2024", 10)
    record(tel, "m1", "m1-2025", 20)  # same start shape, another response model
    record(tel, "m2", "m2-2024", 30)
    record(tel, "m1", "m1-2024", 40)  # the first shape again: its cached sets, and nothing of the others'
    names = [s.name for s in spans.get_finished_spans()]
    assert names == ["chat m1", "chat m1", "chat m2", "chat m1"]
    response_models = [s.attributes[sc.GEN_AI_RESPONSE_MODEL] for s in spans.get_finished_spans()]
    assert response_models == ["m1-2024", "m1-2025", "m2-2024", "m1-2024"]
    assert token_points(reader) == {
        ("m1", "m1-2024", "input"): (2, 50), ("m1", "m1-2024", "output"): (2, 52),
        ("m1", "m1-2025", "input"): (1, 20), ("m1", "m1-2025", "output"): (1, 21),
        ("m2", "m2-2024", "input"): (1, 30), ("m2", "m2-2024", "output"): (1, 31),
    }


def test_the_caches_stay_bounded_when_every_call_names_a_new_model(telemetry):
    tel, spans, _ = telemetry
    for i in range(emit._MAX_CACHED * 2 + 5):
        record(tel, f"model-{i}", f"model-{i}-v", 1)
    assert len(tel._starts) <= emit._MAX_CACHED and len(tel.metrics.sets) <= emit._MAX_CACHED
    last = spans.get_finished_spans()[-1]
    assert last.name == f"chat model-{emit._MAX_CACHED * 2 + 4}"
    assert last.attributes[sc.GEN_AI_RESPONSE_MODEL] == f"model-{emit._MAX_CACHED * 2 + 4}-v"


def test_the_generated_field_reader_reads_exactly_the_known_fields():
    call = GenAICall("chat", "openai", temperature=0.0, seed=0, response_id="r", system_fingerprint="fp")
    attrs = end_attributes(call, None)
    assert attrs == {sc.GEN_AI_REQUEST_TEMPERATURE: 0.0, sc.GEN_AI_REQUEST_SEED: 0, sc.GEN_AI_RESPONSE_ID: "r",
                     sc.OPENAI_RESPONSE_SYSTEM_FINGERPRINT: "fp"}  # zeros are known values, kept


def test_a_field_reader_refuses_a_name_that_is_not_a_record_field():
    with pytest.raises(ValueError, match="not a GenAICall field"):
        emit._known_fields(((sc.GEN_AI_REQUEST_SEED, "seed"), ("x", "seed; import os")))
    with pytest.raises(ValueError, match="not a GenAICall field"):
        emit._known_fields((("x", "no_such_field"),))
