"""In-process fixtures: a TracerProvider with the pipeline processor, in-memory span and log exporters."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llmtel import pipeline
from llmtel.logs import OTelLogHandler, install_record_stamping, uninstall_record_stamping


@dataclass
class Telemetry:
    tracer: Any
    spans_exporter: InMemorySpanExporter
    logs_exporter: InMemoryLogRecordExporter

    def spans(self) -> dict[str, Any]:
        return {s.name: s for s in self.spans_exporter.get_finished_spans()}

    def span_list(self) -> list[Any]:
        return list(self.spans_exporter.get_finished_spans())

    def logs(self) -> list[Any]:
        return [r.log_record for r in self.logs_exporter.get_finished_logs()]


@pytest.fixture
def tel(monkeypatch):
    provider = TracerProvider()
    provider.add_span_processor(pipeline.PipelineSpanProcessor())
    spans = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    # the pipeline's own tracer follows the global provider; point it at this test's provider instead
    monkeypatch.setattr(pipeline, "_tracer", provider.get_tracer("llmtel.pipeline"))

    logs = InMemoryLogRecordExporter()
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    handler = OTelLogHandler(logger_provider)
    pipeline_logger = logging.getLogger("llmtel.pipeline")
    app_logger = logging.getLogger("tests.pipeline.app")
    app_logger.setLevel(logging.INFO)
    for logger in (pipeline_logger, app_logger):
        logger.addHandler(handler)
        logger.propagate = False
    install_record_stamping()
    yield Telemetry(provider.get_tracer("app"), spans, logs)
    uninstall_record_stamping()
    for logger in (pipeline_logger, app_logger):
        logger.removeHandler(handler)
        logger.propagate = True
    provider.shutdown()
    logger_provider.shutdown()
