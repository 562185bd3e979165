"""Text OTLP cannot carry (lone surrogates: a file name's undecodable bytes, half an emoji) and integers beyond
64 bits, exported through the stock encoders to the real receiver: repaired, never costing the rest of a batch.
Before, a log body or span name with a lone surrogate failed its whole batch's encoding, and an attribute with
one was dropped with an error."""

from __future__ import annotations

import logging

import pytest
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode

from llmtel.export.scrubbing import ScrubbingSpanExporter
from llmtel.logs import OTelLogHandler
from tests.export.conftest import PROTOCOLS
from tests.export.test_durable import eventually

FILE = "report-\udcff\udcfe.csv"  # ``os.listdir`` gives this for a name whose bytes are not UTF-8
EMOJI_HALVES = "\ud83d" + "\ude00"  # two stream chunks' halves of one emoji, concatenated


def _emit_odd_spans(tracer) -> None:
    with tracer.start_as_current_span("ok before"):
        pass
    with tracer.start_as_current_span(f"read {FILE}", attributes={"file": FILE, "n": 10**30, "tags": ["a", FILE]}) as s:
        s.add_event("seen \udcff", {"half": "\ud83d"})
        s.set_status(Status(StatusCode.ERROR, f"cannot read {FILE}"))
    with tracer.start_as_current_span("ok after", attributes={"text": EMOJI_HALVES}):
        pass


def _assert_odd_spans_arrived(receiver) -> None:
    assert receiver.store.wait_for(lambda s: len(s.spans()) >= 3)
    spans = {s.name: s for s in receiver.store.spans()}
    assert set(spans) == {"ok before", "read report-\ufffd\ufffd.csv", "ok after"}
    odd = spans["read report-\ufffd\ufffd.csv"]
    repaired = "report-\ufffd\ufffd.csv"
    assert odd.attributes == {"file": repaired, "n": str(10**30), "tags": ("a", repaired)}
    assert odd.status_message == "cannot read report-\ufffd\ufffd.csv"
    assert [(name, dict(attributes)) for name, attributes in odd.events] == [("seen \ufffd", {"half": "\ufffd"})]
    assert spans["ok after"].attributes["text"] == "😀"


def test_spans_on_the_stock_path_arrive_repaired(otlp_receiver, caplog):
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(ScrubbingSpanExporter(OTLPSpanExporter(
        endpoint=otlp_receiver.http_endpoint + "/v1/traces"))))
    _emit_odd_spans(provider.get_tracer("app"))
    _assert_odd_spans_arrived(otlp_receiver)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.records
    provider.shutdown()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_spans_on_the_durable_path_arrive_repaired(otlp_receiver, rig, protocol, caplog):
    r = rig(otlp_receiver, protocol)
    _emit_odd_spans(r.tracer)
    _assert_odd_spans_arrived(otlp_receiver)
    assert r.stats().dropped == 0
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.records


def test_log_records_through_the_bridge_arrive_repaired(otlp_receiver, caplog):
    provider = LoggerProvider(shutdown_on_exit=False)
    provider.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(
        endpoint=otlp_receiver.http_endpoint + "/v1/logs")))
    logger = logging.getLogger("app.files")
    handler = OTelLogHandler(provider)
    logger.addHandler(handler)
    try:
        logger.warning("skipping %s", FILE, extra={"size": 2**70, "path": FILE})
        logger.warning("done")
    finally:
        logger.removeHandler(handler)
    assert otlp_receiver.store.wait_for_logs(2)
    by_body = {r.body: r for r in otlp_receiver.store.logs()}
    assert set(by_body) == {"skipping report-\ufffd\ufffd.csv", "done"}
    odd = by_body["skipping report-\ufffd\ufffd.csv"].attributes
    assert odd["size"] == str(2**70) and odd["path"] == "report-\ufffd\ufffd.csv"
    assert not [r for r in caplog.records if r.name.startswith("opentelemetry")], caplog.records
    provider.shutdown()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_record_that_cannot_be_encoded_costs_only_itself_on_the_durable_path(otlp_receiver, rig, protocol, caplog):
    """A record emitted straight through the OpenTelemetry logs API (not the bridge, which repairs its text) with a
    body UTF-8 cannot encode: dropped and counted, and the records batched with it are sent."""
    r = rig(otlp_receiver, protocol, logs=True)
    logger = r.logger_provider.get_logger("app")
    logger.emit(body="line 0")
    logger.emit(body=f"line {FILE}")
    logger.emit(body="line 2")
    r.logger_provider.force_flush()
    assert otlp_receiver.store.wait_for_logs(2)
    assert eventually(lambda: r.stats("logs").delivered == 2)
    assert sorted(rec.body for rec in otlp_receiver.store.logs()) == ["line 0", "line 2"]
    assert r.stats("logs").dropped_by_reason == {"encode_error": 1}
    assert [rec.getMessage() for rec in caplog.records if "could not encode" in rec.getMessage()] == [
        "llmtel: could not encode 1 of 3 logs; those were dropped, the others kept"]
