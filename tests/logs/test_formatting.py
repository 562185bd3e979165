"""JsonFormatter and log-record stamping."""

from __future__ import annotations

import io
import logging
import re

import pytest
from opentelemetry.sdk.trace import TracerProvider

import llmtel
from llmtel import pipeline
from llmtel.logs import install_record_stamping, uninstall_record_stamping
from llmtel.logs.formatting import snake_case


@pytest.fixture
def stamping():
    install_record_stamping()
    yield
    uninstall_record_stamping()


@pytest.fixture
def tracer(monkeypatch):
    provider = TracerProvider()
    provider.add_span_processor(pipeline.PipelineSpanProcessor())
    monkeypatch.setattr(pipeline, "_tracer", provider.get_tracer("llmtel.pipeline"))
    return provider.get_tracer("t")


def test_json_fields_and_formats(json_lines):
    logger, lines = json_lines
    logger.warning("Loaded %d documents from %s", 3, "disk", extra={"tokens": 12, "tags": ["a", "b"]})
    (line,) = lines()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["timestamp"])
    assert line["level"] == "WARNING"
    assert line["event"] == "loaded_documents_from"
    assert line["message"] == "Loaded 3 documents from disk"
    assert line["logger"] == "tests.logs.json"
    assert (line["run_id"], line["step"], line["trace_id"], line["span_id"]) == ("", "", "", "")
    assert line["tokens"] == 12 and line["tags"] == ["a", "b"]
    assert "exception" not in line and "session_id" not in line
    assert not {"msg", "args", "levelno", "pathname", "_llmtel"} & set(line)


def test_timestamp_is_utc_with_milliseconds(json_lines):
    logger, lines = json_lines
    record = logger.makeRecord(logger.name, logging.INFO, __file__, 1, "x", (), None)
    record.created = 1_795_000_000.1239  # 2026-11-18T11:06:40.123Z
    record.msecs = 123.9
    logger.handle(record)
    assert lines()[0]["timestamp"] == "2026-11-18T11:06:40.123Z"


def test_explicit_event_wins_and_is_not_repeated_as_payload(json_lines):
    logger, lines = json_lines
    logger.info("whatever text", extra={"event": "doc_indexed"})
    (line,) = lines()
    assert line["event"] == "doc_indexed"
    assert list(line).count("event") == 1


def test_exception_and_unserialisable_payload(json_lines):
    logger, lines = json_lines

    class Opaque:
        def __repr__(self):
            return "<Opaque 7>"

    try:
        raise KeyError("missing")
    except KeyError:
        logger.exception("lookup failed", extra={"obj": Opaque(), "nested": {"o": Opaque()}})
    (line,) = lines()
    assert line["level"] == "ERROR"
    assert line["exception"].startswith("Traceback (most recent call last):")
    assert "KeyError: 'missing'" in line["exception"]
    assert line["obj"] == "<Opaque 7>" and line["nested"] == {"o": "<Opaque 7>"}


def test_snake_case():
    assert snake_case("Step %s finished OK") == "step_finished_ok"
    assert snake_case("user {name} logged-in!") == "user_logged_in"


def test_records_are_stamped_inside_span_and_run(stamping, tracer, json_lines):
    logger, lines = json_lines
    stream = io.StringIO()
    plain = logging.StreamHandler(stream)
    plain.setFormatter(logging.Formatter("%(trace_id)s|%(span_id)s|%(trace_flags)s|%(run_id)s|%(step)s|%(user_id)s"))
    logger.addHandler(plain)
    try:
        logger.info("outside")
        with llmtel.run("pipe", user_id="u-1", session_id="s-1") as r, llmtel.step("load"):
            with tracer.start_as_current_span("inner") as span:
                logger.info("inside")
    finally:
        logger.removeHandler(plain)
    ctx = span.get_span_context()
    trace_id, span_id = format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")
    flags = format(ctx.trace_flags, "02x")
    assert ctx.trace_flags.sampled
    outside, inside = stream.getvalue().splitlines()
    assert outside == "|||||"
    assert inside == f"{trace_id}|{span_id}|{flags}|{r.run_id}|load|u-1"
    json_inside = lines()[1]
    assert (json_inside["trace_id"], json_inside["span_id"]) == (trace_id, span_id)
    assert (json_inside["run_id"], json_inside["step"]) == (r.run_id, "load")
    assert (json_inside["session_id"], json_inside["user_id"]) == ("s-1", "u-1")


def test_extra_may_still_override_stamped_fields(stamping):
    logger = logging.getLogger("tests.logs.override")
    record = logger.makeRecord(logger.name, logging.INFO, __file__, 1, "x", (), None, extra={"run_id": "mine"})
    assert record.run_id == "mine"
    assert record.trace_id == ""


def test_install_twice_does_not_double_wrap_and_reinstall_reuses_the_factory():
    install_record_stamping()
    installed = logging.getLogRecordFactory()
    install_record_stamping()
    assert logging.getLogRecordFactory() is installed
    uninstall_record_stamping()
    install_record_stamping()
    assert logging.getLogRecordFactory() is installed
    assert "_llmtel" in logging.makeLogRecord({}).__dict__  # stamping again
    uninstall_record_stamping()


def test_after_uninstall_records_carry_the_fields_empty_so_app_formatters_still_print(tracer):
    install_record_stamping()
    uninstall_record_stamping()
    logger = logging.getLogger("tests.logs.after_uninstall")
    stream = io.StringIO()
    plain = logging.StreamHandler(stream)
    plain.setFormatter(logging.Formatter("%(trace_id)s|%(span_id)s|%(trace_flags)s|%(run_id)s|%(step)s|%(message)s"))
    braces = logging.StreamHandler(stream)
    braces.setFormatter(logging.Formatter("{trace_id}|{session_id}|{user_id}|{message}", style="{"))
    logger.addHandler(plain)
    logger.addHandler(braces)
    logger.propagate = False
    try:
        with tracer.start_as_current_span("s"):
            logger.warning("in a span")
        logger.warning("mine", extra={"run_id": "r-9"})  # extra= may still set a stamped field
    finally:
        logger.removeHandler(plain)
        logger.removeHandler(braces)
        logger.propagate = True
    assert stream.getvalue().splitlines() == ["|||||in a span", "|||in a span", "|||r-9||mine", "|||mine"]
    record = logging.makeLogRecord({})
    assert record.run_id == "" and "_llmtel" not in record.__dict__


def test_after_uninstall_json_lines_and_exports_still_read_the_context(tracer, json_lines):
    from llmtel.logs.handler import record_attributes

    install_record_stamping()
    uninstall_record_stamping()
    logger, lines = json_lines
    with llmtel.run("pipe", run_id="r-1"), tracer.start_as_current_span("s") as span:
        logger.info("inside")
        record = logger.makeRecord(logger.name, logging.INFO, __file__, 1, "x", (), None)
        attrs = record_attributes(record)
    (line,) = lines()
    assert (line["trace_id"], line["run_id"]) == (format(span.get_span_context().trace_id, "032x"), "r-1")
    assert attrs["llmtel.run.id"] == "r-1"
    assert not {"trace_id", "span_id", "trace_flags", "run_id", "step", "session_id", "user_id"} & set(attrs)


def test_handler_exports_user_override_as_payload_and_stamp_as_attributes(stamping, tracer):
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

    from llmtel.logs import OTelLogHandler

    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = logging.getLogger("tests.logs.otel")
    handler = OTelLogHandler(provider)
    logger.addHandler(handler)
    try:
        with llmtel.run("pipe", run_id="real"), llmtel.step("s"):
            logger.warning("override", extra={"run_id": "app-own"})
    finally:
        logger.removeHandler(handler)
    (rec,) = [r.log_record for r in exporter.get_finished_logs()]
    attrs = dict(rec.attributes)
    assert attrs["run_id"] == "app-own"  # the app's extra= is payload, as before
    assert attrs["llmtel.run.id"] == "real" and attrs["llmtel.step"] == "s"
    assert not {"trace_id", "span_id", "trace_flags", "step"} & set(attrs)


def test_json_lines_clean_bytes_and_numbers_under_credential_names(stamping):
    import json

    from llmtel import JsonFormatter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.logs.bytes")
    logger.addHandler(handler)
    try:
        logger.warning("x", extra={"body": b"mail dave@example.com", "password": 98765432109876, "tokens": 42})
    finally:
        logger.removeHandler(handler)
    line = json.loads(stream.getvalue())
    assert (line["body"], line["password"], line["tokens"]) == ("mail [REDACTED:email]", "[REDACTED]", 42)
