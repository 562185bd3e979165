"""OTelLogHandler in-process, exporting through the SDK's in-memory exporter."""

from __future__ import annotations

import json
import logging

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider

import llmtel
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


# --- records the app got slightly wrong still ship, and nothing raises into it ---------------------------------

KEY = "sk-abcdefghijklmnopqrstuvwxyz0123"


def test_a_message_that_cannot_be_made_ships_as_its_template_with_the_mistake_named(exported, capsys):
    """Arguments that do not match the format, or a ``msg`` whose ``__str__`` raises, cost the whole record (shipped
    nothing, and the handler printed the arguments, unmasked, to stderr). The record ships as its template, with the
    mistake and the masked arguments; the app's own handlers still report it, as they would without llmtel."""

    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("no text")

    logger, handler, records = exported
    formatter = llmtel.JsonFormatter()
    lines = []
    for msg, args in (("retry %s of %s", (KEY,)), (Unprintable(), ())):
        # Handed to the handler and formatter themselves: pytest's own capturing handler, which it attaches to
        # every logger, fails the test on such a record by design.
        record = logger.makeRecord(logger.name, logging.INFO, __file__, 1, msg, args, None)
        handler.handle(record)
        lines.append(json.loads(formatter.format(record)))
    retry, unprintable = records()
    assert retry.body == "retry %s of %s"
    assert retry.attributes["llmtel.log.format_error"] == "TypeError: not enough arguments for format string"
    assert retry.attributes["llmtel.log.args"] == "('[REDACTED:api_key]',)"
    assert unprintable.body == "<Unprintable object: str() failed>"
    assert unprintable.attributes["llmtel.log.format_error"] == "RuntimeError: no text"
    assert "llmtel.log.args" not in unprintable.attributes
    first, second = lines
    assert (first["message"], first["args"]) == ("retry %s of %s", ["[REDACTED:api_key]"])
    assert first["format_error"] == "TypeError: not enough arguments for format string"
    assert (second["message"], second["event"]) == ("<Unprintable object: str() failed>", "Unprintable")
    err = capsys.readouterr().err
    assert "Logging error" not in err and KEY not in err


def test_an_extra_key_that_is_not_text_does_not_cost_the_record(exported, json_lines, capsys):
    """stdlib lets ``extra={1: ...}`` through to the record; the handler and ``JsonFormatter`` failed on it and the
    record was lost."""
    logger, _, records = exported
    json_logger, lines = json_lines
    for each in (logger, json_logger):
        each.info("ranked", extra={1: "alice.liddell@example.org", "rank": 2})
    (record,) = records()
    assert record.body == "ranked"
    assert (record.attributes["1"], record.attributes["rank"]) == ("[REDACTED:email]", 2)
    (line,) = lines()
    assert (line["1"], line["rank"]) == ("[REDACTED:email]", 2)
    assert "Logging error" not in capsys.readouterr().err


def test_a_redactor_returning_no_text_still_ships_the_record_without_its_text(exported):
    """A user's redactor returning None or bytes made the handler fail on the body: the record was lost."""
    from llmtel.logs.redaction import reset_log_redaction, use_log_redaction

    logger, _, records = exported
    use_log_redaction(True, lambda text: None)
    try:
        logger.warning("mail %s", "alice.liddell@example.org")
    finally:
        reset_log_redaction()
    (record,) = records()
    assert record.body == "[REDACTED:redactor_failed]"
    assert record.severity_text == "WARNING"


def test_a_record_that_cannot_be_shipped_whole_ships_as_a_placeholder_and_is_reported(exported, capsys):
    """A record made from a dict (``logging.makeLogRecord``, as socket and queue receivers make them) with a field
    the handler cannot use was lost; it ships as a placeholder with its severity and location, nothing of its text,
    and the failure goes to ``handleError`` as logging's convention is for a handler's own failures."""
    logger, handler, records = exported
    handler.handle(logging.makeLogRecord({
        "name": logger.name, "msg": f"key {KEY}", "levelno": logging.INFO, "levelname": "INFO", "created": None,
        "funcName": "receive", "lineno": 7,
    }))
    (record,) = records()
    from llmtel.logs.handler import RECORD_FAILED

    assert record.body == RECORD_FAILED and record.severity_text == "INFO"
    assert (record.attributes["code.function.name"], record.attributes["code.line.number"]) == ("receive", 7)
    assert KEY not in repr(dict(record.attributes))
    assert "Logging error" in capsys.readouterr().err


def test_a_stack_asked_for_ships_as_code_stacktrace_masked(exported):
    logger, _, records = exported
    logger.info("who calls this?", stack_info=True)  # the caller's line: key=sk-abcdefghijklmnopqrstuvwx
    (rec,) = records()
    stack = rec.attributes["code.stacktrace"]
    assert stack.startswith("Stack (most recent call last):")
    assert "test_a_stack_asked_for_ships_as_code_stacktrace_masked" in stack
    assert "key=[REDACTED:api_key]" in stack and "sk-abcdefghij" not in stack
    assert rec.body == "who calls this?"  # the body stays the message
    logger.info("no stack asked for")
    assert "code.stacktrace" not in records()[-1].attributes


@pytest.mark.parametrize("name", [None, 42], ids=["none", "int"])
def test_a_record_made_by_hand_with_a_name_that_is_not_text_is_shipped_and_printed_as_without_llmtel(name, capsys):
    """``logging.makeLogRecord`` takes any name: stdlib's last resort prints such a record; llmtel ships it and
    lets the last resort print it, raising nothing into the app."""
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    handler = OTelLogHandler(provider)
    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers[:] = [handler]
    try:
        root.handle(logging.makeLogRecord({"msg": "made by hand", "levelno": logging.WARNING, "levelname": "WARNING",
                                           "name": name}))
    finally:
        root.handlers[:] = saved
    (shipped,) = [r.log_record for r in exporter.get_finished_logs()]
    assert shipped.body == "made by hand"
    assert "made by hand" in capsys.readouterr().err
