"""OTelLogHandler in-process, exporting through the SDK's in-memory exporter."""

from __future__ import annotations

import logging

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider

from llmtel.logs import OTelLogHandler
from llmtel.logs.handler import record_attributes, severity_number


def test_record_becomes_an_otel_log_record_with_location_and_extra(exported):
    logger, _, records = exported
    logger.info("hello %s", "world", extra={"run_id": "r-1", "tokens": 12, "tags": ("a", "b"), "obj": object})
    (rec,) = records()
    assert rec.body == "hello world"
    assert (rec.severity_number, rec.severity_text) == (SeverityNumber.INFO, "INFO")
    attrs = dict(rec.attributes)
    assert attrs["run_id"] == "r-1" and attrs["tokens"] == 12
    assert list(attrs["tags"]) == ["a", "b"]
    assert attrs["obj"] == repr(object)  # non-primitive payloads are kept, as text
    assert attrs["code.file.path"] == __file__
    assert attrs["code.function.name"] == "test_record_becomes_an_otel_log_record_with_location_and_extra"
    assert attrs["logger.name"] == "tests.logs.app"


def test_a_payload_whose_repr_raises_is_shipped_with_a_placeholder(exported, capsys):
    class Unshowable:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    logger, _, records = exported
    logger.info("saved", extra={"obj": Unshowable(), "nested": {"inner": Unshowable()}})
    (rec,) = records()
    assert rec.body == "saved"
    assert rec.attributes["obj"] == "<Unshowable object: repr() failed>"
    assert rec.attributes["nested"] == "<dict object: repr() failed>"  # the dict's repr calls the item's
    assert "Logging error" not in capsys.readouterr().err


def test_active_span_ids_ride_along():
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = logging.getLogger("tests.logs.span")
    handler = OTelLogHandler(provider)
    logger.addHandler(handler)
    try:
        tracer = TracerProvider().get_tracer("t")
        with tracer.start_as_current_span("s") as span:
            logger.warning("inside")
        (rec,) = [r.log_record for r in exporter.get_finished_logs()]
        assert rec.trace_id == span.get_span_context().trace_id
        assert rec.span_id == span.get_span_context().span_id
        assert rec.trace_id != trace.INVALID_TRACE_ID
    finally:
        logger.removeHandler(handler)


def test_exception_is_recorded(exported):
    logger, _, records = exported
    try:
        raise KeyError("missing")
    except KeyError:
        logger.exception("lookup failed")
    (rec,) = records()
    attrs = dict(rec.attributes)
    assert rec.severity_number == SeverityNumber.ERROR
    assert attrs["exception.type"] == "KeyError"
    assert "missing" in attrs["exception.message"]
    assert "raise KeyError" in attrs["exception.stacktrace"]


def test_export_threshold(exported):
    logger, handler, records = exported
    handler.export_level = logging.WARNING
    logger.info("dropped")
    logger.error("kept")
    assert [r.body for r in records()] == ["kept"]


def test_pipeline_records_are_never_exported(exported):
    _, handler, records = exported
    pipeline_logger = logging.getLogger("opentelemetry.exporter.otlp.proto.http.trace_exporter")
    pipeline_logger.addHandler(handler)
    try:
        pipeline_logger.warning("Transient error, retrying")
    finally:
        pipeline_logger.removeHandler(handler)
    logger = logging.getLogger("tests.logs.app")
    token = otel_context.attach(otel_context.set_value(otel_context._SUPPRESS_INSTRUMENTATION_KEY, True))
    try:
        logger.warning("logged by something running inside an export")
    finally:
        otel_context.detach(token)
    assert records() == []


def test_a_provider_that_logs_while_emitting_does_not_recurse():
    class ChattyProvider(LoggerProvider):
        def get_logger(self, *args, **kwargs):
            logging.getLogger("tests.logs.chatty").warning("provider speaking")  # would recurse without the guard
            return super().get_logger(*args, **kwargs)

    exporter = InMemoryLogRecordExporter()
    provider = ChattyProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    handler = OTelLogHandler(provider)
    logger = logging.getLogger("tests.logs.chatty")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("outer")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    assert [r.log_record.body for r in exporter.get_finished_logs()] == ["outer"]


@pytest.mark.parametrize(
    ("level", "number"),
    [
        (logging.DEBUG, SeverityNumber.DEBUG),
        (logging.INFO, SeverityNumber.INFO),
        (logging.WARNING, SeverityNumber.WARN),
        (logging.ERROR, SeverityNumber.ERROR),
        (logging.CRITICAL, SeverityNumber.FATAL),
        (5, SeverityNumber.TRACE),
        (25, SeverityNumber.INFO),
    ],
)
def test_severity_mapping(level, number):
    assert severity_number(level) == number


def test_standard_record_fields_are_not_payload():
    record = logging.LogRecord("n", logging.INFO, "/p.py", 3, "m %s", ("x",), None, func="f")
    attrs = record_attributes(record)
    assert set(attrs) == {"code.file.path", "code.function.name", "code.line.number", "logger.name", "thread.name"}
