"""Records handled on another thread than the one that logged them (stdlib ``QueueHandler`` /
``QueueListener``, non-blocking logging) are exported with the trace and span they were logged in, checked at
the real OTLP receiver."""

from __future__ import annotations

import logging
import logging.handlers
import queue

import pytest
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider

import llmtel
from llmtel import pipeline
from llmtel.logs import OTelLogHandler, install_record_stamping, uninstall_record_stamping


@pytest.fixture
def tracer(monkeypatch):
    provider = TracerProvider()
    provider.add_span_processor(pipeline.PipelineSpanProcessor())
    monkeypatch.setattr(pipeline, "_tracer", provider.get_tracer("llmtel.pipeline"))
    install_record_stamping()
    yield provider.get_tracer("tests.queue")
    uninstall_record_stamping()
    provider.shutdown()


@pytest.fixture
def queued(otlp_receiver):
    """A logger whose records go through a queue to a listener thread running llmtel's handler (OTLP/HTTP)."""
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(
        OTLPLogExporter(endpoint=f"{otlp_receiver.http_endpoint}/v1/logs")))
    records: queue.Queue[logging.LogRecord] = queue.Queue()
    handler = OTelLogHandler(provider)
    listener = logging.handlers.QueueListener(records, handler)
    logger = logging.getLogger("tests.logs.queued")
    queue_handler = logging.handlers.QueueHandler(records)
    logger.addHandler(queue_handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    listener.start()
    yield logger, listener, handler
    logger.removeHandler(queue_handler)
    logger.propagate = True
    provider.shutdown()


def hex_ids(span) -> tuple[str, str]:
    ctx = span.get_span_context()
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")


def test_a_record_handled_by_a_queue_listener_keeps_the_span_it_was_logged_in(tracer, queued, otlp_receiver):
    logger, listener, handler = queued
    with llmtel.run("r", session_id="s1") as run, llmtel.step("s"):
        with tracer.start_as_current_span("work") as work:
            logger.info("inside")
    logger.info("outside any span")
    listener.stop()
    # the same record handled where another span is current still carries its own
    with tracer.start_as_current_span("elsewhere"):
        record = logger.makeRecord(logger.name, logging.INFO, __file__, 1, "made elsewhere", (), None)
    with tracer.start_as_current_span("handler thread"):
        handler.handle(record)
    elsewhere_ids = (record.trace_id, record.span_id)
    uninstall_record_stamping()  # a record made now carries empty fields and no stamp: the current span counts
    unstamped = logger.makeRecord(logger.name, logging.INFO, __file__, 1, "unstamped", (), None)
    with tracer.start_as_current_span("current") as current:
        handler.handle(unstamped)

    assert otlp_receiver.store.wait_for(lambda s: len(s.logs()) >= 4)
    logs = {r.body: r for r in otlp_receiver.store.logs()}
    inside = logs["inside"]
    assert (inside.trace_id, inside.span_id) == hex_ids(work)
    assert (inside.attributes["llmtel.run.id"], inside.attributes["llmtel.step"]) == (run.run_id, "s")
    assert (logs["outside any span"].trace_id, logs["outside any span"].span_id) == (None, None)
    assert (logs["made elsewhere"].trace_id, logs["made elsewhere"].span_id) == elsewhere_ids
    assert (logs["unstamped"].trace_id, logs["unstamped"].span_id) == hex_ids(current)
