"""``GenAITelemetry.start``: a call's span is a CLIENT span whose parent is the span in the context it is given,
or in the current context when it is given none."""

from __future__ import annotations

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from llmtel.genai.emit import GenAITelemetry
from llmtel.genai.record import GenAICall


def test_the_parent_is_the_given_context_s_span_else_the_current_one():
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    telemetry = GenAITelemetry(tracer_provider=provider)
    other = provider.get_tracer("t")
    given, current = other.start_span("given"), other.start_span("current")
    token = otel_context.attach(trace.set_span_in_context(current))
    try:
        for parent in (trace.set_span_in_context(given), None):
            call = GenAICall("chat", "openai", request_model="m")
            telemetry.finish(call, telemetry.start(call, parent))
    finally:
        otel_context.detach(token)
    first, second = spans.get_finished_spans()
    assert first.parent.span_id == given.get_span_context().span_id
    assert second.parent.span_id == current.get_span_context().span_id
    assert first.context.trace_id == given.get_span_context().trace_id
    assert first.kind is second.kind is SpanKind.CLIENT
    provider.shutdown()
