"""``llmtel.record_feedback`` / ``feedback_target``: validation, the event's shape and its target context."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider

import llmtel
from llmtel import feedback, pipeline

TRACE = "0af7651916cd43dd8448eb211c80319c"
SPAN = "b7ad6b7169203331"


@pytest.fixture
def events(monkeypatch):
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    real_get_logger = feedback._logs.get_logger
    monkeypatch.setattr(
        feedback._logs, "get_logger", lambda *a, **k: real_get_logger(*a, logger_provider=provider, **k)
    )
    yield lambda: [r.log_record for r in exporter.get_finished_logs()]
    provider.shutdown()


@pytest.fixture
def provider(monkeypatch):
    provider = TracerProvider()
    provider.add_span_processor(pipeline.PipelineSpanProcessor())
    monkeypatch.setattr(pipeline, "_tracer", provider.get_tracer("llmtel.pipeline"))
    return provider


@pytest.fixture
def tracer(provider):
    return provider.get_tracer("tests")


def test_event_carries_the_target_ids_and_evaluation_attributes(events):
    llmtel.record_feedback(score=1, label="thumbs_up", comment="great", trace_id=TRACE, span_id=SPAN,
                           response_id="chatcmpl-1", attributes={"app.screen": "chat"})
    (event,) = events()
    assert event.event_name == "gen_ai.evaluation.result"
    assert format(event.trace_id, "032x") == TRACE and format(event.span_id, "016x") == SPAN
    assert dict(event.attributes) == {
        "gen_ai.evaluation.name": "user_feedback",
        "gen_ai.evaluation.score.value": 1.0,
        "gen_ai.evaluation.score.label": "thumbs_up",
        "gen_ai.evaluation.explanation": "great",
        "gen_ai.response.id": "chatcmpl-1",
        "app.screen": "chat",
    }


def test_ids_as_ints_and_0x_hex(events):
    llmtel.record_feedback(score=0.5, trace_id=int(TRACE, 16), span_id="0x" + SPAN.upper())
    (event,) = events()
    assert (event.trace_id, event.span_id) == (int(TRACE, 16), int(SPAN, 16))


def test_response_id_alone_is_not_attached_to_the_current_span(events, tracer):
    with tracer.start_as_current_span("unrelated"):
        llmtel.record_feedback(label="bad", response_id="resp_1", name="relevance")
    (event,) = events()
    assert not event.trace_id and not event.span_id
    assert event.attributes["gen_ai.response.id"] == "resp_1"
    assert event.attributes["gen_ai.evaluation.name"] == "relevance"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"score": 1}, "nothing to attach to"),
        ({"score": 1, "trace_id": TRACE}, "go together"),
        ({"score": 1, "trace_id": "xyz", "span_id": SPAN}, "trace_id: 'xyz'"),
        ({"score": 1, "trace_id": TRACE + "00", "span_id": SPAN}, "trace_id:"),
        ({"score": 1, "trace_id": "0" * 32, "span_id": SPAN}, "trace_id:"),
        ({"score": 1, "trace_id": TRACE, "span_id": True}, "span_id:"),
        ({"score": float("nan"), "response_id": "r"}, "score:"),
        ({"score": "5", "response_id": "r"}, "score:"),
        ({"label": "", "response_id": "r"}, "label:"),
        ({"response_id": "r"}, "score, a label or a comment"),
        ({"score": 1, "response_id": "r", "name": " "}, "name:"),
    ],
)
def test_bad_input_is_a_clear_value_error(events, kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        llmtel.record_feedback(**kwargs)
    assert events() == []


def test_feedback_target_in_a_run_is_the_latest_llm_call_else_the_run_span(provider, tracer):
    genai = provider.get_tracer("llmtel")  # the scope GenAI call spans are created under
    with llmtel.run("chat") as run:
        assert llmtel.feedback_target() == feedback.target_of_span(run.span)  # before any LLM call
        for response_id in ("first", "second"):
            with genai.start_as_current_span("chat gpt", attributes={"gen_ai.operation.name": "chat"}) as llm:
                llm.set_attribute("gen_ai.response.id", response_id)
            with tracer.start_as_current_span("not an llm call"):
                pass
        target = llmtel.feedback_target()
    ctx = llm.get_span_context()
    assert target == llmtel.FeedbackTarget(format(ctx.trace_id, "032x"), format(ctx.span_id, "016x"), "second")
    assert run.feedback_target() == target  # also after the run
    assert target.as_dict() == {"trace_id": target.trace_id, "span_id": target.span_id, "response_id": "second"}


def test_feedback_target_outside_a_run(tracer):
    with tracer.start_as_current_span("handler") as span:
        assert llmtel.feedback_target().span_id == format(span.get_span_context().span_id, "016x")
    assert not trace.get_current_span().get_span_context().is_valid
    with pytest.raises(ValueError, match="nothing to attach feedback to"):
        llmtel.feedback_target()


@pytest.fixture
def content_policy():
    """Put a content policy in force, as ``instrument()`` does; the environment's again afterwards."""
    from llmtel.genai.content import use_policy

    yield use_policy
    use_policy(None)


def test_a_comment_is_bounded_and_redacted_by_the_policy_in_force(events, content_policy):
    from llmtel.genai.content import ContentPolicy
    from llmtel.redaction import with_secrets_masked

    content_policy(ContentPolicy(max_length=12, redactor=with_secrets_masked(lambda text: text.replace("Ada", "[name]"))))
    llmtel.record_feedback(label="bad", comment="Ada says the answer was wrong", trace_id=TRACE, span_id=SPAN)
    (event,) = events()
    assert event.attributes["gen_ai.evaluation.explanation"] == "[name] says "
    assert event.attributes["llmtel.content.truncated"] is True


def test_a_comment_with_the_content_redactor_off_keeps_personal_data_but_not_credentials(events, content_policy):
    from llmtel.genai.content import ContentPolicy

    content_policy(ContentPolicy(redactor=None))
    llmtel.record_feedback(label="bad", trace_id=TRACE, span_id=SPAN,
                           comment="mail ada@example.com, key sk-proj-abcdefghijklmnopqrstuvwxyz0123456789")
    (event,) = events()
    text = event.attributes["gen_ai.evaluation.explanation"]
    assert "ada@example.com" in text and "sk-proj-abcdefghij" not in text


def test_a_comment_by_default_has_personal_data_masked(events, content_policy):
    content_policy(None)
    llmtel.record_feedback(label="bad", comment="write to ada@example.com", trace_id=TRACE, span_id=SPAN)
    (event,) = events()
    assert event.attributes["gen_ai.evaluation.explanation"] == "write to [REDACTED:email]"
