"""The run id, session and user in force inside steps and nested runs: those received in baggage by a service
that attached the incoming Context itself, and those of an enclosing run."""

from __future__ import annotations

import logging

from opentelemetry import context as otel_context

import llmtel

RUN_KEYS = ("llmtel.run.id", "session.id", "user.id")
app_log = logging.getLogger("tests.pipeline.app")


def run_values(span) -> tuple:
    return tuple(span.attributes.get(key) for key in RUN_KEYS)


def logged(tel, body: str):
    return next(record for record in tel.logs() if record.body == body)


def test_a_step_in_a_service_that_attached_the_incoming_context_keeps_the_run_received_in_baggage(tel):
    incoming = llmtel.extract_context({"baggage": "llmtel.run.id=abc123,session.id=s-1,user.id=u-1"})
    token = otel_context.attach(incoming)
    try:
        with llmtel.step("retrieve"):
            with tel.tracer.start_as_current_span("inside-step"):
                app_log.warning("inside step")
        with llmtel.agent("a"), llmtel.step("in-agent"):
            app_log.warning("step in agent")
    finally:
        otel_context.detach(token)

    spans = tel.spans()
    for name in ("step retrieve", "inside-step", "step in-agent"):
        assert run_values(spans[name]) == ("abc123", "s-1", "u-1"), name
    assert spans["inside-step"].attributes["llmtel.step"] == "retrieve"
    for body, step in (("inside step", "retrieve"), ("step in agent", "in-agent")):
        attributes = logged(tel, body).attributes
        assert (attributes["llmtel.run.id"], attributes["session.id"], attributes["user.id"]) == (
            "abc123", "s-1", "u-1"), body
        assert attributes["llmtel.step"] == step
    started = [r for r in tel.logs() if r.body == "step started"]
    assert [r.attributes["llmtel.run.id"] for r in started] == ["abc123", "abc123"]


def test_a_nested_run_keeps_the_enclosing_runs_session_and_user_unless_given_its_own(tel):
    @llmtel.run("sub-pipeline")
    def sub() -> str:
        with tel.tracer.start_as_current_span("inner-work"):
            app_log.warning("inside sub")
        return llmtel.inject_headers()["baggage"]

    with llmtel.run("request", session_id="s-42", user_id="u-7", propagate_identity=True):
        sent = sub()
        with llmtel.run("own", user_id="u-other") as own:
            with tel.tracer.start_as_current_span("own-work"):
                pass

    spans = tel.spans()
    sub_run_id = spans["sub-pipeline"].attributes["llmtel.run.id"]
    assert sub_run_id != spans["request"].attributes["llmtel.run.id"]  # its own run, the outer identity
    for name in ("sub-pipeline", "inner-work"):
        assert run_values(spans[name]) == (sub_run_id, "s-42", "u-7"), name
    assert "session.id=s-42" in sent and "user.id=u-7" in sent  # what the baggage already carried on
    record = logged(tel, "inside sub").attributes
    assert (record["llmtel.run.id"], record["session.id"], record["user.id"]) == (sub_run_id, "s-42", "u-7")
    assert (own.session_id, own.user_id) == ("s-42", "u-other")
    assert run_values(spans["own-work"])[1:] == ("s-42", "u-other")


def test_a_run_object_entered_in_two_runs_inherits_from_each_and_its_decorated_calls_from_theirs(tel):
    shared = llmtel.run("shared")
    with llmtel.run("a", session_id="s-a"):
        with shared:
            pass
    with llmtel.run("b", user_id="u-b"):
        with shared:
            pass
    with shared:
        pass
    sessions = [(s.attributes.get("session.id"), s.attributes.get("user.id"))
                for s in tel.span_list() if s.name == "shared"]
    assert sessions == [("s-a", None), (None, "u-b"), (None, None)]
    assert (shared.session_id, shared.user_id) == (None, None)
