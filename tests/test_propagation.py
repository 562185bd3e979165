"""Headers in and out: ``inject_headers`` / ``extract_context`` / ``continue_run`` in one process (the
two-process case is tests/e2e/test_cross_service.py)."""

from __future__ import annotations

import logging
from email.message import Message

import pytest
from opentelemetry.trace import SpanKind

import llmtel
from llmtel import pipeline
from tests.pipeline.conftest import tel  # noqa: F401 - the in-process pipeline fixture

app_log = logging.getLogger("tests.pipeline.app")


def test_round_trip_continues_the_run_in_the_same_trace(tel):  # noqa: F811
    with llmtel.run("caller", session_id="s-1", propagate_identity=True) as caller:
        with tel.tracer.start_as_current_span("client call", kind=SpanKind.CLIENT) as client:
            headers = llmtel.inject_headers({"content-type": "application/json"})
    assert headers["content-type"] == "application/json"
    assert {"traceparent", "baggage"} <= set(headers)

    # header names as a server may hand them over: other case, in an email.message.Message
    incoming = Message()
    for key, value in headers.items():
        incoming[key.title()] = value
    assert pipeline.current_run() is None
    with llmtel.continue_run(incoming, "server.handle", tier="b") as run:
        assert pipeline.current_run() is run
        app_log.warning("handled")
        with llmtel.step("work"):
            with tel.tracer.start_as_current_span("inner"):
                pass
    assert (run.run_id, run.session_id) == (caller.run_id, "s-1")

    spans = tel.spans()
    server = spans["server.handle"]
    assert server.kind == SpanKind.SERVER
    assert server.parent.span_id == client.get_span_context().span_id
    assert server.context.trace_id == client.get_span_context().trace_id
    for name in ("server.handle", "step work", "inner"):
        assert spans[name].attributes["llmtel.run.id"] == caller.run_id, name
        assert spans[name].attributes["tier"] == "b", name
    record = next(r for r in tel.logs() if r.body == "handled")
    assert record.attributes["llmtel.run.id"] == caller.run_id
    assert record.span_id == server.context.span_id


def test_no_incoming_context_starts_a_fresh_run(tel):  # noqa: F811
    with llmtel.continue_run({}, "server.handle") as run:
        pass
    assert len(run.run_id) == 32
    assert tel.spans()["server.handle"].parent is None


def test_extract_context_accepts_pairs():
    with llmtel.run("caller") as caller:
        headers = llmtel.inject_headers()
    from opentelemetry import baggage

    ctx = llmtel.extract_context([(k.upper(), v) for k, v in headers.items()])
    assert baggage.get_baggage("llmtel.run.id", ctx) == caller.run_id


@pytest.mark.parametrize("bad", [None, 42])
def test_unusable_headers_are_a_type_error(bad):
    with pytest.raises(TypeError, match="headers: expected a mapping"):
        llmtel.extract_context(bad)
