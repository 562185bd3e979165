"""Feedback recorded in a second process lands on the judged LLM call's span, at the real OTLP receiver."""

from __future__ import annotations

import json

import pytest

from llmtel.testing import FakeOpenAI
from tests.e2e.harness import run_app

pytestmark = pytest.mark.e2e


def test_feedback_from_another_process_targets_the_llm_call(otlp_receiver, otlp_env):
    with FakeOpenAI() as fake:
        answer = run_app(["feedback_answer.py", fake.base_url], otlp_env())
    assert answer.returncode == 0, answer.stderr
    target = answer.result["target"]
    assert target == answer.result["inside"]  # the same ids inside the run and after it
    assert target["response_id"] == answer.result["response_id"]

    feedback = run_app(["feedback_record.py", json.dumps(target)], {**otlp_env(), "OTEL_SERVICE_NAME": "feedback"})
    assert feedback.returncode == 0, feedback.stderr

    store = otlp_receiver.store
    assert store.wait_for(
        lambda s: any(r.event_name == "gen_ai.evaluation.result" for r in s.logs())
        and any(x.scope_name == "llmtel" for x in s.spans())
    )
    (llm,) = [s for s in store.spans() if s.scope_name == "llmtel"]
    assert (llm.trace_id, llm.span_id) == (target["trace_id"], target["span_id"])
    assert llm.attributes["llmtel.session.turn"] == 2 and llm.attributes["session.id"] == "s-1"
    (event,) = [r for r in store.logs() if r.event_name == "gen_ai.evaluation.result"]
    assert (event.trace_id, event.span_id) == (llm.trace_id, llm.span_id)
    assert event.time_ns > llm.end_ns  # stamped when the judgement was recorded, after the answer
    assert event.resource["service.name"] == "feedback"
    assert event.attributes["gen_ai.evaluation.name"] == "user_feedback"
    assert event.attributes["gen_ai.evaluation.score.value"] == 0.0
    assert event.attributes["gen_ai.evaluation.score.label"] == "thumbs_down"
    assert event.attributes["gen_ai.evaluation.explanation"] == "Wrong answer; mail me at [REDACTED:email]"
    assert event.attributes["gen_ai.response.id"] == llm.attributes["gen_ai.response.id"]
