"""Fixtures: the real openai client against the fake OpenAI server, instrumented into in-memory SDK pipelines."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

openai = pytest.importorskip("openai")

from llmtel.instrumentation.openai import OpenAIInstrumentor, streams  # noqa: E402
from llmtel.testing import FakeOpenAI  # noqa: E402

from openai import _base_client as openai_base_client  # noqa: E402
from opentelemetry.instrumentation.httpx import HTTPX2ClientInstrumentor, HTTPXClientInstrumentor  # noqa: E402

# openai 3.x sends through httpx2, older releases through httpx: instrument the one this SDK uses.
OPENAI_USES_HTTPX2 = hasattr(openai_base_client, "httpx2")
HTTPClientInstrumentor = HTTPX2ClientInstrumentor if OPENAI_USES_HTTPX2 else HTTPXClientInstrumentor
HTTP_SCOPE = "opentelemetry.instrumentation.httpx"

API_KEY = "sk-test-0123456789abcdefghijklmnop"


@dataclass
class Telemetry:
    """In-memory SDK pipelines and views over what they hold."""

    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    logger_provider: LoggerProvider
    span_exporter: InMemorySpanExporter
    metric_reader: InMemoryMetricReader
    log_exporter: InMemoryLogRecordExporter

    def spans(self) -> list[ReadableSpan]:
        return list(self.span_exporter.get_finished_spans())

    def llm_spans(self) -> list[ReadableSpan]:
        return [s for s in self.spans() if s.instrumentation_scope.name == "llmtel"]

    def span_named(self, name: str) -> ReadableSpan:
        found = [s for s in self.spans() if s.name == name]
        assert len(found) == 1, [s.name for s in self.spans()]
        return found[0]

    def one_llm_span(self) -> ReadableSpan:
        spans = self.llm_spans()
        assert len(spans) == 1, [s.name for s in spans]
        return spans[0]

    def metric_points(self, name: str) -> list[Any]:
        """Data points of metric ``name`` collected now."""
        data = self.metric_reader.get_metrics_data()
        points = []
        for resource_metrics in data.resource_metrics if data else ():
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    if metric.name == name:
                        points.extend(metric.data.data_points)
        return points

    def events(self) -> list[Any]:
        return [r.log_record for r in self.log_exporter.get_finished_logs()]


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    logs = InMemoryLogRecordExporter()
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    yield Telemetry(tracer_provider, meter_provider, logger_provider, spans, reader, logs)


@pytest.fixture
def instrument(telemetry: Telemetry) -> Iterator[Callable[..., OpenAIInstrumentor]]:
    """Instrument openai (and the HTTP client, for nesting) into ``telemetry``; undone after the test."""
    instrumentor = OpenAIInstrumentor()
    http = HTTPClientInstrumentor()

    def start(**kwargs: Any) -> OpenAIInstrumentor:
        http.instrument(tracer_provider=telemetry.tracer_provider)
        instrumentor.instrument(
            tracer_provider=telemetry.tracer_provider,
            meter_provider=telemetry.meter_provider,
            logger_provider=telemetry.logger_provider,
            **kwargs,
        )
        return instrumentor

    yield start
    gc.collect()  # let abandoned streams of this test end their spans before the pipelines go
    streams.settle_abandoned()
    instrumentor.uninstrument()
    http.uninstrument()


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def client(fake: FakeOpenAI) -> Any:
    return openai.OpenAI(base_url=fake.base_url, api_key=API_KEY, max_retries=0)


@pytest.fixture
def aclient(fake: FakeOpenAI) -> Any:
    return openai.AsyncOpenAI(base_url=fake.base_url, api_key=API_KEY, max_retries=0)


@pytest.fixture
def pipelines(telemetry: Telemetry, instrument: Callable[..., OpenAIInstrumentor], monkeypatch: pytest.MonkeyPatch
              ) -> Telemetry:
    """Runs, steps, tools and agents traced into ``telemetry`` with the pipeline's span processor (and their
    metrics recorded into it), the openai client instrumented."""
    from llmtel import pipeline, scope_metrics

    telemetry.tracer_provider.add_span_processor(pipeline.PipelineSpanProcessor())
    monkeypatch.setattr(pipeline, "_tracer", telemetry.tracer_provider.get_tracer("llmtel.pipeline"))
    monkeypatch.setattr(scope_metrics, "recorder",
                        scope_metrics.ScopeMetrics(telemetry.meter_provider.get_meter("llmtel.pipeline")))
    instrument()
    return telemetry
