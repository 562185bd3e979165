"""Headers in and out: ``inject_headers`` / ``extract_context`` / ``continue_run`` in one process (the
two-process case is tests/e2e/test_cross_service.py)."""

from __future__ import annotations

import logging
from email.message import Message

import pytest
from opentelemetry import baggage, trace
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
    ctx = llmtel.extract_context([(k.upper(), v) for k, v in headers.items()])
    assert baggage.get_baggage("llmtel.run.id", ctx) == caller.run_id


@pytest.mark.parametrize("bad", [None, 42])
def test_unusable_headers_are_a_type_error(bad):
    with pytest.raises(TypeError, match="headers: expected a mapping"):
        llmtel.extract_context(bad)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"session_id": "s-9"}, ("remote-run", "s-9", "u-1")),
        ({"user_id": "u-9"}, ("remote-run", "s-1", "u-9")),
        ({"run_id": "r-9", "session_id": "s-9", "user_id": "u-9"}, ("r-9", "s-9", "u-9")),
    ],
)
def test_identity_given_to_continue_run_wins_over_the_one_in_baggage(tel, given, expected):  # noqa: F811
    headers = {"baggage": "llmtel.run.id=remote-run,session.id=s-1,user.id=u-1"}
    with llmtel.continue_run(headers, "server.handle", tier="b", **given) as run:
        with tel.tracer.start_as_current_span("inner"):
            pass
    assert (run.run_id, run.session_id, run.user_id) == expected
    inner = tel.spans()["inner"].attributes
    assert (inner["llmtel.run.id"], inner["session.id"], inner["user.id"], inner["tier"]) == (*expected, "b")


def test_repeated_baggage_header_lines_are_read_as_one_list():
    lines = Message()
    lines["Baggage"] = "tenant=acme"
    lines["baggage"] = "llmtel.run.id=R9,session.id=s-9"
    with llmtel.continue_run(lines, "srv") as run:
        pass
    assert (run.run_id, run.session_id) == ("R9", "s-9")
    ctx = llmtel.extract_context([("baggage", "a=1"), ("x-other", "y"), ("BAGGAGE", "b=2"), ("baggage", "")])
    assert baggage.get_all(ctx) == {"a": "1", "b": "2"}


def test_a_repeated_traceparent_keeps_the_first_and_repeated_tracestate_lines_are_joined():
    first = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    second = "00-11111111111111111111111111111111-2222222222222222-01"
    ctx = llmtel.extract_context([("traceparent", first), ("tracestate", "a=1"), ("TraceParent", second),
                                  ("tracestate", "b=2")])
    span = trace.get_current_span(ctx).get_span_context()
    assert (format(span.trace_id, "032x"), format(span.span_id, "016x")) == (first[3:35], first[36:52])
    assert dict(span.trace_state) == {"a": "1", "b": "2"}
