"""Suppressed instrumentation: a call made where OpenTelemetry's suppression is on is not traced, whichever of the
two keys says so (``suppress_instrumentation()`` sets both; older code sets the plain one)."""

from __future__ import annotations

import pytest
from opentelemetry import context as otel_context

from llmtel.testing import ChatReply

MESSAGES = [{"role": "user", "content": "what is otel?"}]


@pytest.mark.parametrize("key", [otel_context._SUPPRESS_INSTRUMENTATION_KEY, "suppress_instrumentation"],
                         ids=["key", "plain"])
def test_a_call_where_instrumentation_is_suppressed_is_not_traced(instrument, telemetry, client, fake, key):
    instrument()
    fake.enqueue(ChatReply("hi"))
    fake.enqueue(ChatReply("hi"))
    token = otel_context.attach(otel_context.set_value(key, True))
    try:
        reply = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    finally:
        otel_context.detach(token)
    assert reply.choices[0].message.content == "hi"  # the call itself goes through
    assert telemetry.llm_spans() == []
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert len(telemetry.llm_spans()) == 1  # and the next one, outside, is traced
