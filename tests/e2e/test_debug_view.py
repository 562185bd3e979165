"""``LLMTEL_DEBUG``: a readable view of each call on the process's stderr, never exported over OTLP unless
content capture is on too; and the failure diagnosis of a call, on its span and in a shipped log record."""

from __future__ import annotations

import pytest

from llmtel.testing import ChatReply, ErrorReply, FakeOpenAI
from tests.e2e.harness import run_app

pytestmark = pytest.mark.e2e


def run_debug_app(env):
    with FakeOpenAI() as fake:
        fake.enqueue(ChatReply("ANSWER-MARKER here", model="gpt-4o-mini-2024-07-18"))
        fake.enqueue(ErrorReply.rate_limited(2.5))
        return run_app(["debug_app.py", fake.base_url], env)


def everything_exported(store) -> str:
    return repr([(s.attributes, s.events) for s in store.spans()]) + repr(
        [(r.body, r.attributes) for r in store.logs()]
    )


def test_debug_view_on_stderr_and_not_exported(otlp_receiver, otlp_env):
    run = run_debug_app(otlp_env(LLMTEL_DEBUG="true"))
    assert run.returncode == 0, run.stderr
    assert run.result["errors"] == ["RateLimitError"]
    err = run.stderr
    assert "[llmtel] chat gpt-4o-mini -> gpt-4o-mini-2024-07-18 (openai)" in err
    assert "> user: PROMPT-MARKER-1 what is up?" in err
    assert "< assistant: ANSWER-MARKER here" in err
    assert "tokens: " in err and " in, " in err and "cost: $" in err and "finish: stop" in err
    assert "> user: PROMPT-MARKER-2 again?" in err
    assert "! rate_limited: rate limit reached" in err and "wait 2.5 s" in err

    store = otlp_receiver.store
    assert store.wait_for(
        lambda s: len([x for x in s.spans() if x.scope_name == "llmtel"]) == 2
        and any(r.attributes.get("event") == "llm_call_failed" for r in s.logs())
    )
    exported = everything_exported(store)
    assert "MARKER" not in exported  # content collected for the console only
    assert not any("gen_ai.input.messages" in s.attributes for s in store.spans())

    failed = [s for s in store.spans() if s.scope_name == "llmtel" and s.status_code == 2]
    assert len(failed) == 1
    span = failed[0]
    assert span.attributes["llmtel.error.mode"] == "rate_limited"
    assert span.attributes["llmtel.error.retry_after"] == 2.5
    assert span.attributes["llmtel.error.code"] == "rate_limit_exceeded"
    assert "retry" in span.attributes["llmtel.error.hint"]
    (record,) = [r for r in store.logs() if r.attributes.get("event") == "llm_call_failed"]
    assert record.severity_text == "WARNING"  # retryable
    assert (record.trace_id, record.span_id) == (span.trace_id, span.span_id)
    assert record.attributes["llmtel.run.id"] == run.result["run_id"]
    assert record.attributes["llmtel.error.mode"] == "rate_limited"
    assert record.attributes["error.type"] == "RateLimitError"


def test_bad_debug_value_names_the_variable(otlp_env):
    run = run_debug_app(otlp_env(LLMTEL_DEBUG="loud"))
    assert run.returncode != 0
    assert "LLMTEL_DEBUG: 'loud' is not a boolean" in run.stderr
