"""Spans as they leave the process: scrubbed once more on the export thread, for what was set after they started.

``llmtel.credentials.CredentialScrubber`` cleans a span's attributes as it starts, which is when HTTP
instrumentations set the URL and the request headers. What comes later is cleaned here, as llmtel's own trace
pipelines export (``ScrubbingSpanExporter`` on the stock path, ``scrubbed_spans`` before the durable path
encodes): response headers captured through OpenTelemetry's opt-in (``set-cookie``), headers a server
instrumentation sets after the start, and the error text other instrumentations record (an exception event's
message and stack trace, the status description), where an HTTP client's error names the URL it failed on,
query string and key included. Error text passes the log redactor (``llmtel.logs.redaction``): an exception
leaves the process masked the same way in a span as in a log record. llmtel's GenAI spans are cleaned as they
are made. Every span is also made encodable (``encodable_span``): text that is not valid UTF-8 repaired, integers
beyond 64 bits as text. Nothing here runs on the application's threads.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.util import BoundedList
from opentelemetry.trace import Status

from llmtel import semconv as sc
from llmtel.credentials import scrubbed_span_attributes
from llmtel.encodable import encodable_text, repaired_attributes
from llmtel.logs.redaction import log_redactor

_logger = logging.getLogger("llmtel.export")

# Scopes whose spans are cleaned as they are made: the GenAI spans (content, error text and URLs included).
_CLEAN_SCOPES = frozenset({"llmtel"})
_ERROR_TEXT = (sc.EXCEPTION_MESSAGE, sc.EXCEPTION_STACKTRACE)
_warned: list[bool] = [False]


def _cleaned_error_text(attributes: Mapping[str, Any], clean: Callable[[str], str]) -> dict[str, Any]:
    """The replacements for an event's exception message and stack trace (empty when they are clean)."""
    changes: dict[str, Any] = {}
    for key in _ERROR_TEXT:
        value = attributes.get(key)
        if isinstance(value, str) and value:
            cleaned = clean(value)
            if cleaned != value:
                changes[key] = cleaned
    return changes


def _bounded(attributes: Mapping[str, Any], dropped: int) -> BoundedAttributes:
    """Attributes as the SDK holds them, keeping the count of those it had dropped."""
    bounded = BoundedAttributes(maxlen=None, attributes=attributes, immutable=True)
    bounded.dropped = dropped
    return bounded


def _sequence(items: Sequence[Any], dropped: int) -> BoundedList:
    kept = BoundedList.from_seq(None, items)
    kept.dropped = dropped
    return kept


def _copy(span: ReadableSpan, name: str, attributes: Mapping[str, Any], events: Sequence[Event],
          status: Status) -> ReadableSpan:
    """``span`` with another name, attributes, events and status (what scrubbing changes)."""
    return ReadableSpan(
        name=name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=_bounded(attributes, span.dropped_attributes),
        events=_sequence(events, span.dropped_events),
        links=_sequence(span.links, span.dropped_links),
        kind=span.kind,
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def scrubbed_span(span: ReadableSpan, clean: Callable[[str], str] | None = None) -> ReadableSpan:
    """``span`` with the credentials in its attributes and the secrets (and, by default, personal data) in its
    error text masked, and made encodable (``encodable_span``): the same object when there is nothing to change,
    a copy otherwise. ``clean`` is what error text passes; by default the log redactor in force."""
    scope = span.instrumentation_scope
    if scope is not None and scope.name in _CLEAN_SCOPES:
        return encodable_span(span)
    attributes = span.attributes or {}
    changes = scrubbed_span_attributes(attributes)
    status = span.status
    events = span.events
    description = status.description
    if not (changes or events or description):
        return encodable_span(span)
    clean = clean or log_redactor()
    if description:
        cleaned = clean(description)
        if cleaned != description:
            status = Status(status.status_code, cleaned)
    new_events: list[Event] | None = None
    for index, event in enumerate(events):
        event_attributes = event.attributes or {}
        event_changes = {**scrubbed_span_attributes(event_attributes), **_cleaned_error_text(event_attributes, clean)}
        if event_changes:
            if new_events is None:
                new_events = list(events)
            new_events[index] = Event(
                event.name, _bounded({**event_attributes, **event_changes}, event.dropped_attributes), event.timestamp
            )
    if not changes and new_events is None and status is span.status:
        return encodable_span(span)
    return encodable_span(_copy(span, span.name, {**attributes, **changes},
                                events if new_events is None else new_events, status))


def encodable_span(span: ReadableSpan) -> ReadableSpan:
    """``span`` with the text OTLP cannot carry repaired and integers beyond 64 bits as text
    (``llmtel.encodable``): a name or a status description with a lone surrogate would fail its whole batch, an
    attribute would be dropped with an error. The same object when nothing needs it, the usual case."""
    name = encodable_text(span.name)
    attributes = repaired_attributes(span.attributes or {})
    status = span.status
    if status.description and encodable_text(status.description) is not status.description:
        status = Status(status.status_code, encodable_text(status.description))
    new_events: list[Event] | None = None
    for index, event in enumerate(span.events):
        event_name = encodable_text(event.name)
        event_attributes = repaired_attributes(event.attributes or {})
        if event_attributes is not None or event_name is not event.name:
            if new_events is None:
                new_events = list(span.events)
            new_events[index] = Event(event_name, _bounded(event.attributes if event_attributes is None else
                                                           event_attributes, event.dropped_attributes), event.timestamp)
    if name is span.name and attributes is None and status is span.status and new_events is None:
        return span
    return _copy(span, name, span.attributes if attributes is None else attributes,
                 span.events if new_events is None else new_events, status)


def scrubbed_spans(spans: Sequence[ReadableSpan]) -> Sequence[ReadableSpan]:
    """A batch of spans as they may leave the process (``scrubbed_span``); the same sequence when none changed.
    Never raises: a span that cannot be scrubbed is logged once and left out of the batch, not exported with a
    credential in it."""
    clean = log_redactor()
    result: list[ReadableSpan] | None = None
    for index, span in enumerate(spans):
        try:
            scrubbed = scrubbed_span(span, clean)
        except Exception:  # noqa: BLE001 - export must go on
            if not _warned[0]:
                _warned[0] = True
                _logger.warning("llmtel: could not scrub a span before export; it was left out", exc_info=True)
            scrubbed = None
        if scrubbed is not span:
            if result is None:
                result = list(spans[:index])
            if scrubbed is not None:
                result.append(scrubbed)
        elif result is not None:
            result.append(span)
    return spans if result is None else result


class ScrubbingSpanExporter(SpanExporter):
    """A span exporter that hands ``exporter`` each batch scrubbed (``scrubbed_spans``)."""

    def __init__(self, exporter: SpanExporter) -> None:
        self.exporter = exporter

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self.exporter.export(scrubbed_spans(spans))

    def shutdown(self) -> None:
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.exporter.force_flush(timeout_millis)
