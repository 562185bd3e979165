"""Spans scrubbed as they are exported: what was set after they started, and the error text they record."""

from __future__ import annotations

import logging

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, Status, StatusCode

from llmtel.export import scrubbing
from llmtel.export.durable import encode_span_batch
from llmtel.export.scrubbing import ScrubbingSpanExporter, scrubbed_span, scrubbed_spans
from llmtel.logs.redaction import reset_log_redaction, use_log_redaction

KEY = "sk-scrub-test-0123456789abcdef"
EMAIL = "carol@example.org"


@pytest.fixture
def export():
    """A provider exporting through ``ScrubbingSpanExporter`` and, beside it, the same spans unscrubbed."""
    scrubbed, raw = InMemorySpanExporter(), InMemorySpanExporter()
    provider = TracerProvider(span_limits=SpanLimits(max_span_attributes=6, max_events=2))
    provider.add_span_processor(SimpleSpanProcessor(ScrubbingSpanExporter(scrubbed)))
    provider.add_span_processor(SimpleSpanProcessor(raw))
    yield provider, scrubbed, raw
    provider.shutdown()
    reset_log_redaction()


def failed_request(provider: TracerProvider, scope: str = "opentelemetry.instrumentation.requests") -> None:
    """An HTTP client span as instrumentations make one: headers captured after the start, then an error that
    names the URL, key and all."""
    linked = provider.get_tracer("other").start_span("earlier")
    linked.end()
    tracer = provider.get_tracer(scope)
    span = tracer.start_span("GET", links=[Link(linked.get_span_context(), {"why": "retry"})])
    for index in range(5):  # with the headers, past the limit of six: the SDK drops two, and the count must survive
        span.set_attribute(f"extra.{index}", index)
    span.set_attributes({
        "http.response.header.set_cookie": (f"session={KEY}",),
        "http.response.header.content_type": ("application/json",),
        "http.response.header.x_api_key": (KEY,),
    })
    error = ConnectionError(f"Max retries exceeded with url: /v1/models?api_key={KEY} (for {EMAIL})")
    for _ in range(3):  # past the limit of two events
        span.record_exception(error)
    span.set_status(Status(StatusCode.ERROR, f"ConnectionError: {error}"))
    span.end()


def test_what_was_set_after_the_start_and_the_error_text_are_masked_on_export(export):
    provider, scrubbed, raw = export
    failed_request(provider)
    [original] = [s for s in raw.get_finished_spans() if s.name == "GET"]
    [span] = [s for s in scrubbed.get_finished_spans() if s.name == "GET"]
    assert original.attributes["http.response.header.set_cookie"] == (f"session={KEY}",)  # the SDK's own span
    assert span.attributes["http.response.header.set_cookie"] == ("[REDACTED]",)
    assert span.attributes["http.response.header.x_api_key"] == ("[REDACTED]",)
    assert span.attributes["http.response.header.content_type"] == ("application/json",)
    assert span.status.status_code == StatusCode.ERROR
    assert span.status.description == (
        "ConnectionError: Max retries exceeded with url: /v1/models?api_key=REDACTED (for [REDACTED:email])"
    )
    assert [e.name for e in span.events] == ["exception", "exception"]
    for event in span.events:
        assert event.attributes["exception.message"] == (
            "Max retries exceeded with url: /v1/models?api_key=REDACTED (for [REDACTED:email])"
        )
        assert KEY not in event.attributes["exception.stacktrace"]
        assert event.attributes["exception.type"] == "ConnectionError"
        assert event.timestamp > 0
    # Everything else is the span as it was, counts of what the SDK dropped included.
    assert (span.dropped_attributes, span.dropped_events, span.dropped_links) == (
        original.dropped_attributes, original.dropped_events, original.dropped_links) == (2, 1, 0)
    assert [e.timestamp for e in span.events] == [e.timestamp for e in original.events]
    assert [e.dropped_attributes for e in span.events] == [e.dropped_attributes for e in original.events]
    assert span.links == original.links and span.links[0].attributes == {"why": "retry"}
    for field in ("name", "context", "parent", "resource", "kind", "start_time", "end_time", "instrumentation_scope"):
        assert getattr(span, field) == getattr(original, field), field
    assert {k: v for k, v in span.attributes.items() if not k.startswith("http.")} == {
        k: v for k, v in original.attributes.items() if not k.startswith("http.")
    }


def test_with_log_redaction_off_error_text_keeps_personal_data_and_loses_the_keys(export):
    provider, scrubbed, _ = export
    use_log_redaction(False)
    failed_request(provider)
    [span] = [s for s in scrubbed.get_finished_spans() if s.name == "GET"]
    assert span.events[0].attributes["exception.message"] == (
        f"Max retries exceeded with url: /v1/models?api_key=REDACTED (for {EMAIL})"
    )


def test_a_redactor_of_the_apps_own_masks_error_text_after_the_secrets(export):
    provider, scrubbed, _ = export
    use_log_redaction(True, lambda text: text.replace("carol", "[someone]"))
    failed_request(provider)
    [span] = [s for s in scrubbed.get_finished_spans() if s.name == "GET"]
    assert span.status.description.endswith("api_key=REDACTED (for [someone]@example.org)")


def test_spans_with_nothing_to_mask_and_llmtels_own_spans_leave_as_they_are(export):
    provider, _, raw = export
    with provider.get_tracer("app").start_as_current_span("clean") as span:
        span.set_attribute("http.response.header.content_type", ("text/plain",))
        span.add_event("note", {"exception.message": "nothing secret"})
        span.set_status(Status(StatusCode.ERROR, "a plain failure"))
    failed_request(provider, scope="llmtel")  # cleaned as llmtel makes them: not looked at again
    spans = raw.get_finished_spans()
    for span in spans:
        if span.name in ("clean", "GET"):
            assert scrubbed_span(span) is span, span.name
    assert scrubbed_spans(spans) is spans


def test_a_span_that_cannot_be_scrubbed_is_left_out_and_the_batch_goes_on(export, caplog):
    provider, _, raw = export
    failed_request(provider)

    class Unreadable(dict):
        def __iter__(self):
            raise RuntimeError("unreadable attributes")

    broken = ReadableSpan(name="broken", attributes=Unreadable(a=1))
    spans = [*raw.get_finished_spans(), broken]
    with caplog.at_level(logging.WARNING, logger="llmtel.export"):
        kept = scrubbed_spans(spans)
        scrubbed_spans([broken])
    assert [s.name for s in kept] == ["earlier", "GET"]
    assert KEY not in str([dict(s.attributes) for s in kept])
    assert [r.getMessage() for r in caplog.records if r.name == "llmtel.export"] == [
        "llmtel: could not scrub a span before export; it was left out"]
    scrubbing._warned[0] = False


def test_the_wrapper_hands_on_the_exporters_results_and_its_shutdown(export):
    provider, _, raw = export
    failed_request(provider)
    inner = InMemorySpanExporter()
    wrapper = ScrubbingSpanExporter(inner)
    assert wrapper.export(raw.get_finished_spans()) is SpanExportResult.SUCCESS
    assert len(inner.get_finished_spans()) == 2
    assert wrapper.force_flush(10) is True
    wrapper.shutdown()
    assert wrapper.export(raw.get_finished_spans()) is SpanExportResult.FAILURE  # the in-memory one, shut down


def test_the_durable_path_encodes_the_spans_scrubbed(export):
    provider, _, raw = export
    failed_request(provider)
    spans = raw.get_finished_spans()
    request = ExportTraceServiceRequest.FromString(encode_span_batch(spans))
    assert KEY.encode() not in request.SerializeToString()
    assert KEY.encode() in encode_spans(spans).SerializeToString()  # the stock encoder alone would send it
    [get] = [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans if s.name == "GET"]
    assert get.dropped_attributes_count == 2 and get.dropped_events_count == 1
    assert "api_key=REDACTED" in get.status.message
