"""structlog: context on every event and OTLP export with the key-value pairs as attributes, checked at the
real OTLP receiver — plain structlog with JSONRenderer, and structlog on top of stdlib logging."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys

import pytest
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import LogExportResult, LogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider

import llmtel
from llmtel import pipeline
from llmtel.logs import OTelLogHandler, install_record_stamping, uninstall_record_stamping
from llmtel.logs.structlog_support import OTLPShipper, add_context, level_of

structlog = pytest.importorskip("structlog")


@pytest.fixture
def tracer(monkeypatch):
    provider = TracerProvider()
    provider.add_span_processor(pipeline.PipelineSpanProcessor())
    monkeypatch.setattr(pipeline, "_tracer", provider.get_tracer("llmtel.pipeline"))
    install_record_stamping()
    yield provider.get_tracer("tests.structlog")
    uninstall_record_stamping()
    structlog.reset_defaults()


@pytest.fixture
def logger_provider(otlp_receiver):
    provider = LoggerProvider()
    exporter = OTLPLogExporter(endpoint=f"{otlp_receiver.http_endpoint}/v1/logs")
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    yield provider
    provider.shutdown()


def hex_ids(span) -> tuple[str, str]:
    ctx = span.get_span_context()
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")


def test_plain_structlog_json_lines_carry_context_and_events_arrive_with_their_keys(
    tracer, logger_provider, otlp_receiver
):
    out = io.StringIO()
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            llmtel.structlog_context,
            OTLPShipper(logger_provider),
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    log = structlog.get_logger("tests.app")
    with llmtel.run("answer", session_id="s-1", user_id="u-1") as run:
        with llmtel.step("parse"):
            with tracer.start_as_current_span("work") as span:
                log.info("answer_parsed", attempts=2, ratio=0.5, ok=True, tags=["a", "b"], doc={"id": 7})
    log.warning("outside_any_run", count=1)

    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    trace_id, span_id = hex_ids(span)
    assert first["trace_id"] == trace_id and first["span_id"] == span_id
    assert (first["run_id"], first["step"], first["session_id"], first["user_id"]) == (run.run_id, "parse", "s-1", "u-1")
    assert first["event"] == "answer_parsed" and first["attempts"] == 2
    assert not {"trace_id", "span_id", "run_id", "step"} & set(second)  # nothing made up outside a run

    assert otlp_receiver.store.wait_for(lambda s: len(s.logs()) >= 2)
    records = {r.body: r for r in otlp_receiver.store.logs()}
    assert len(otlp_receiver.store.logs()) == 2
    rec = records["answer_parsed"]
    assert (rec.trace_id, rec.span_id) == (trace_id, span_id)
    assert rec.severity_text == "INFO" and rec.severity_number == 9
    attrs = rec.attributes
    assert (attrs["attempts"], attrs["ratio"], attrs["ok"], attrs["tags"]) == (2, 0.5, True, ("a", "b"))
    assert json.loads(attrs["doc"]) == {"id": 7}
    assert (attrs["llmtel.run.id"], attrs["llmtel.step"], attrs["session.id"], attrs["user.id"]) == (
        run.run_id, "parse", "s-1", "u-1"
    )
    assert not {"trace_id", "span_id", "event", "level", "run_id"} & set(attrs)  # carried by the record itself
    assert rec.scope_name == "structlog"  # PrintLogger has no name and the chain added none
    outside = records["outside_any_run"]
    assert outside.severity_text == "WARNING" and outside.trace_id is None and outside.attributes["count"] == 1


def test_stdlib_backed_structlog_ships_each_event_once_with_its_keys(tracer, logger_provider, otlp_receiver):
    out = io.StringIO()
    parent = logging.getLogger("tests.structlog")
    formatter = structlog.stdlib.ProcessorFormatter(
        processor=structlog.processors.JSONRenderer(),
        foreign_pre_chain=[structlog.stdlib.add_log_level, add_context, llmtel.structlog_otlp],
    )
    stream = logging.StreamHandler(out)
    stream.setFormatter(formatter)
    otlp = OTelLogHandler(logger_provider)  # stands in for the root handler instrument() attaches
    for handler in (stream, otlp):
        parent.addHandler(handler)
    parent.setLevel(logging.INFO)
    parent.propagate = False
    structlog.configure(
        processors=[
            structlog.stdlib.add_log_level,
            llmtel.structlog_context,
            llmtel.structlog_otlp,  # steps aside: the stdlib handler ships these events
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    try:
        log = structlog.get_logger("tests.structlog.app")
        with llmtel.run("answer") as run:
            with tracer.start_as_current_span("work") as span:
                log.warning("retrying_call", attempt=3, model="gpt-4o-mini")
                logging.getLogger("tests.structlog.foreign").warning("plain %s record", "stdlib")
                try:
                    raise KeyError("missing")
                except KeyError:
                    log.exception("lookup_failed", key="k")
    finally:
        for handler in (stream, otlp):
            parent.removeHandler(handler)
        parent.propagate = True

    trace_id, span_id = hex_ids(span)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["event"] for line in lines] == ["retrying_call", "plain stdlib record", "lookup_failed"]
    for line in lines:
        assert (line["trace_id"], line["span_id"], line["run_id"]) == (trace_id, span_id, run.run_id)

    assert otlp_receiver.store.wait_for(lambda s: len(s.logs()) >= 3)
    logs = otlp_receiver.store.logs()
    assert sorted(r.body for r in logs) == ["lookup_failed", "plain stdlib record", "retrying_call"]  # once each
    for rec in logs:
        assert (rec.trace_id, rec.span_id) == (trace_id, span_id)
        assert rec.attributes["llmtel.run.id"] == run.run_id
    retry = next(r for r in logs if r.body == "retrying_call")
    assert retry.severity_text == "WARNING"
    assert (retry.attributes["attempt"], retry.attributes["model"]) == (3, "gpt-4o-mini")
    assert not {"trace_id", "span_id", "run_id", "level", "event"} & set(retry.attributes)
    failed = next(r for r in logs if r.body == "lookup_failed")
    assert failed.severity_text == "ERROR" and failed.attributes["key"] == "k"
    assert failed.attributes["exception.type"] == "KeyError"


def test_levels_from_method_names():
    assert level_of("exception", {}) == logging.ERROR
    assert level_of("warn", {}) == logging.WARNING
    assert level_of("debug", {}) == logging.DEBUG
    assert level_of("msg", {}) == logging.INFO
    assert level_of("log", {"level": "error"}) == logging.ERROR


class ChattyExporter(LogRecordExporter):
    """An exporter that fails and complains through every logging route an app may have wired up."""

    def __init__(self) -> None:
        self.exported = 0

    def export(self, batch):
        self.exported += len(batch)
        logging.getLogger("opentelemetry.exporter.chatty").error("export failed")
        structlog.get_logger("opentelemetry.exporter.chatty").error("export failed")
        structlog.get_logger("app.inside_export").error("export failed")
        return LogExportResult.FAILURE

    def shutdown(self):
        pass

    def force_flush(self, timeout_millis=30000):
        return True


def test_an_exporter_that_logs_its_errors_does_not_feed_itself(tracer):
    exporter = ChattyExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    shipper = OTLPShipper(provider)
    root = logging.getLogger("tests.structlog")
    handler = OTelLogHandler(provider)
    root.addHandler(handler)
    root.propagate = False
    structlog.configure(
        processors=[add_context, shipper, structlog.processors.JSONRenderer()],
        logger_factory=structlog.PrintLoggerFactory(file=io.StringIO()),
        cache_logger_on_first_use=False,
    )
    try:
        structlog.get_logger("app").info("one")
        logging.getLogger("tests.structlog.app").warning("two")
    finally:
        root.removeHandler(handler)
        root.propagate = True
        provider.shutdown()
    assert exporter.exported == 2  # the two app lines; nothing the exporter said came back to it


def test_import_llmtel_does_not_import_structlog():
    code = "import sys, llmtel; assert 'structlog' not in sys.modules; llmtel.structlog_context; print('ok')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "ok", done.stderr


def test_json_formatter_renders_a_stdlib_backed_structlog_event(tracer, json_lines):
    logger, lines = json_lines
    structlog.configure(
        processors=[llmtel.structlog_context, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    with llmtel.run("answer") as run:
        structlog.get_logger(logger.name).info("Model Answered", tokens=12)
    (line,) = lines()
    assert (line["event"], line["message"], line["level"]) == ("model_answered", "Model Answered", "INFO")
    assert line["tokens"] == 12 and line["run_id"] == run.run_id


def test_events_with_text_or_numbers_otlp_cannot_carry_arrive_repaired(tracer, logger_provider, otlp_receiver):
    """A lone surrogate (a file name's undecodable bytes) in the event would fail its batch's encoding, a number
    beyond 64 bits would be dropped with an error: both arrive, repaired, beside an ordinary event."""
    structlog.configure(processors=[OTLPShipper(logger_provider), structlog.processors.KeyValueRenderer()],
                        logger_factory=structlog.PrintLoggerFactory(file=io.StringIO()),
                        cache_logger_on_first_use=False)
    log = structlog.get_logger("tests.app")
    log.info("skipped report-\udcff.csv", path="report-\udcff.csv", size=2**70)
    log.info("done")
    assert otlp_receiver.store.wait_for(lambda s: len(s.logs()) >= 2)
    records = {r.body: r for r in otlp_receiver.store.logs()}
    assert set(records) == {"skipped report-\ufffd.csv", "done"}
    attrs = records["skipped report-\ufffd.csv"].attributes
    assert (attrs["path"], attrs["size"]) == ("report-\ufffd.csv", str(2**70))
