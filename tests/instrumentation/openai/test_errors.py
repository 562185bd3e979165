"""Failed OpenAI calls, through the real client against the fake server: each failure mode on the span and in
one WARNING (retryable) or ERROR log record stamped with the call's span."""

from __future__ import annotations

import logging

import pytest
from opentelemetry.trace import StatusCode

from llmtel.logs import OTelLogHandler
from llmtel.testing import ChatReply, Delay, Disconnect, ErrorReply, StreamFault
from tests.instrumentation.openai.conftest import API_KEY

openai = pytest.importorskip("openai")

pytestmark = pytest.mark.timeout(30)
MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
def diagnostic_logs(telemetry):
    logger = logging.getLogger("llmtel.genai.diagnostics")
    handler = OTelLogHandler(telemetry.logger_provider)
    logger.addHandler(handler)
    yield lambda: [r for r in telemetry.events() if r.attributes.get("event") == "llm_call_failed"]
    logger.removeHandler(handler)


CASES = [
    (ErrorReply.rate_limited(3), "RateLimitError", "rate_limited", "WARNING", 3.0, "rate_limit_exceeded"),
    (ErrorReply.context_length_exceeded(), "BadRequestError", "context_length_exceeded", "ERROR", None,
     "context_length_exceeded"),
    (ErrorReply.invalid_api_key(), "AuthenticationError", "authentication", "ERROR", None, "invalid_api_key"),
    (ErrorReply.permission_denied(), "PermissionDeniedError", "permission_denied", "ERROR", None,
     "unsupported_country_region_territory"),
    (ErrorReply.model_not_found(), "NotFoundError", "model_not_found", "ERROR", None, "model_not_found"),
    (ErrorReply.insufficient_quota(), "RateLimitError", "insufficient_quota", "ERROR", None, "insufficient_quota"),
    (ErrorReply.bad_request("flagged", code="content_filter"), "BadRequestError", "content_filter", "ERROR", None,
     "content_filter"),
    (ErrorReply.server_error(), "InternalServerError", "server_error", "WARNING", 0.0, None),
    (ErrorReply.overloaded(), "InternalServerError", "overloaded", "WARNING", 0.0, None),
    (Disconnect(), "APIConnectionError", "connection_error", "WARNING", None, None),
    (Delay(1.0), "APITimeoutError", "timeout", "WARNING", None, None),
]


@pytest.mark.parametrize(("reply", "error", "mode", "level", "retry_after", "code"), CASES, ids=[c[2] for c in CASES])
def test_failure_mode_on_span_and_log(
    instrument, telemetry, fake, diagnostic_logs, reply, error, mode, level, retry_after, code
):
    instrument()
    client = openai.OpenAI(base_url=fake.base_url, api_key=API_KEY, max_retries=0, timeout=0.3)
    fake.enqueue(reply)
    with pytest.raises(openai.APIError) as raised:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert type(raised.value).__name__ == error

    span = telemetry.one_llm_span()
    assert span.status.status_code == StatusCode.ERROR
    attrs = span.attributes
    assert attrs["error.type"] == error
    assert attrs["llmtel.error.mode"] == mode
    assert attrs["llmtel.error.retryable"] is (level == "WARNING")
    assert attrs["llmtel.error.hint"]
    assert attrs.get("llmtel.error.retry_after") == retry_after
    assert attrs.get("llmtel.error.code") == code

    (record,) = diagnostic_logs()
    assert record.severity_text == level
    assert record.span_id == span.context.span_id and record.trace_id == span.context.trace_id
    assert record.attributes["llmtel.error.mode"] == mode
    assert record.attributes["error.type"] == error
    assert record.attributes["gen_ai.request.model"] == "gpt-4o-mini"
    assert mode in record.body


def test_retried_then_successful_call_has_no_diagnosis(instrument, telemetry, fake, diagnostic_logs):
    instrument()
    client = openai.OpenAI(base_url=fake.base_url, api_key=API_KEY, max_retries=1)
    fake.enqueue(ErrorReply.rate_limited(0))
    fake.enqueue(ChatReply("fine"))
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    span = telemetry.one_llm_span()
    assert span.status.status_code == StatusCode.UNSET
    assert not any(k.startswith("llmtel.error.") for k in span.attributes)
    assert diagnostic_logs() == []


def test_diagnosis_failure_never_reaches_the_caller(instrument, telemetry, fake, monkeypatch):
    from llmtel.instrumentation.openai import extract, wrappers

    monkeypatch.setattr(wrappers, "_logged", set())

    def broken(call, error):
        raise RuntimeError("llmtel bug")

    monkeypatch.setattr(extract, "apply_error", broken)
    instrument()
    client = openai.OpenAI(base_url=fake.base_url, api_key=API_KEY, max_retries=0)
    fake.enqueue(ErrorReply.invalid_api_key())
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    span = telemetry.one_llm_span()
    assert span.attributes["error.type"] == "AuthenticationError"
    assert "llmtel.error.mode" not in span.attributes


@pytest.mark.parametrize(
    ("fault", "mode", "level"),
    [
        (StreamFault(after=2, kind="disconnect"), "connection_error", "WARNING"),
        (StreamFault(after=2, kind="error", error=ErrorReply.context_length_exceeded()), "context_length_exceeded",
         "ERROR"),
    ],
    ids=["disconnect", "error_chunk"],
)
def test_stream_broken_mid_way_is_diagnosed(instrument, telemetry, fake, diagnostic_logs, fault, mode, level):
    instrument()
    client = openai.OpenAI(base_url=fake.base_url, api_key=API_KEY, max_retries=0)
    fake.enqueue(ChatReply("one two three four five", chunks=5, fault=fault))
    received = []
    with pytest.raises(Exception):  # noqa: B017 - whatever the SDK raises for this break
        for chunk in client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True):
            received.append(chunk)
    assert received  # it broke mid-way, not before the first chunk
    span = telemetry.one_llm_span()
    assert span.attributes["llmtel.stream.end"] == "error"
    assert span.attributes["llmtel.error.mode"] == mode
    (record,) = diagnostic_logs()
    assert record.severity_text == level and record.span_id == span.context.span_id


def _exception_events(telemetry):
    return [r for r in telemetry.events() if r.event_name == "gen_ai.client.operation.exception"]


def test_failed_call_emits_the_conventions_exception_event(instrument, telemetry, fake):
    instrument()
    client = openai.OpenAI(base_url=fake.base_url, api_key=API_KEY, max_retries=0)
    fake.enqueue(ErrorReply.rate_limited(3))
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    span = telemetry.one_llm_span()
    (event,) = _exception_events(telemetry)
    assert (event.trace_id, event.span_id) == (span.context.trace_id, span.context.span_id)
    assert event.severity_text == "WARN" and event.severity_number.value == 13
    assert event.timestamp == span.end_time  # when the call ended, not when the exporter saw it
    attrs = dict(event.attributes)
    assert attrs.pop("exception.type") in ("openai.RateLimitError", "openai._exceptions.RateLimitError")
    assert attrs.pop("exception.message") == span.status.description
    stacktrace = attrs.pop("exception.stacktrace")
    assert stacktrace.startswith("Traceback") and "RateLimitError" in stacktrace
    assert attrs == {  # the call's low-cardinality attributes, as on its metrics
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "server.address": "127.0.0.1",
        "server.port": fake.port,
        "error.type": "RateLimitError",
    }


def test_successful_and_retried_calls_emit_no_exception_event(instrument, telemetry, fake):
    instrument()
    client = openai.OpenAI(base_url=fake.base_url, api_key=API_KEY, max_retries=1)
    fake.enqueue(ErrorReply.rate_limited(0))  # retried inside the SDK: the call itself succeeds
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert len(telemetry.llm_spans()) == 2
    assert _exception_events(telemetry) == []


def test_stream_broken_mid_way_emits_the_exception_event(instrument, telemetry, fake):
    instrument()
    client = openai.OpenAI(base_url=fake.base_url, api_key=API_KEY, max_retries=0)
    fake.enqueue(ChatReply("one two three four five", chunks=5, fault=StreamFault(after=2, kind="disconnect")))
    with pytest.raises(Exception):  # noqa: B017 - whatever the SDK raises for this break
        for _ in client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True):
            pass
    span = telemetry.one_llm_span()
    (event,) = _exception_events(telemetry)
    assert event.span_id == span.context.span_id
    assert event.attributes["error.type"] == span.attributes["error.type"]


def _error_texts(telemetry) -> list[str]:
    """Where a failed call's error text goes: the span's status, its exception event's message and stack trace,
    and the conventions' exception event's."""
    span = telemetry.one_llm_span()
    (span_event,) = [e for e in span.events if e.name == "exception"]
    (event,) = _exception_events(telemetry)
    return [span.status.description, span_event.attributes["exception.message"],
            span_event.attributes["exception.stacktrace"], event.attributes["exception.message"],
            event.attributes["exception.stacktrace"]]


def test_error_messages_are_redacted_everywhere(instrument, telemetry, fake):
    """An error body that echoes what was sent (an e-mail address, a key) is redacted on the span's status,
    its exception event and the conventions' exception event; the caller still gets the original error."""
    instrument()
    client = openai.OpenAI(base_url=fake.base_url, api_key=API_KEY, max_retries=0)
    secret = "sk-live0123456789abcdefghij"
    fake.enqueue(ErrorReply.bad_request(f"Invalid 'user': ann@example.com (key {secret})"))
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert "ann@example.com" in str(raised.value)  # the application's own error is untouched
    for text in _error_texts(telemetry):
        assert "[REDACTED:email]" in text and "[REDACTED:api_key]" in text
        assert "ann@example.com" not in text and secret not in text


def test_redaction_can_be_turned_off_for_error_messages_but_credentials_stay_masked(instrument, telemetry, fake):
    instrument(redactor=None)
    client = openai.OpenAI(base_url=fake.base_url, api_key=API_KEY, max_retries=0)
    fake.enqueue(ErrorReply.bad_request("Invalid 'user': ann@example.com (password=hunter2, sk-live0123456789abcdef)"))
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    for text in _error_texts(telemetry):
        assert "Invalid 'user': ann@example.com (password=[REDACTED], [REDACTED:api_key])" in text, text


SHAPELESS_KEY = "Zq8v3Lm1Rt7Xp2Nc9Wk4Hb6Jd0Fs5Gy"  # no prefix, no credential's name beside it where it is echoed


@pytest.mark.parametrize("redactor", ["default", None])
def test_a_key_the_server_echoes_is_masked_by_value_whatever_its_shape(instrument, telemetry, fake, redactor, caplog):
    instrument() if redactor == "default" else instrument(redactor=None)
    client = openai.OpenAI(base_url=fake.base_url, api_key=SHAPELESS_KEY, max_retries=0)
    fake.enqueue(ErrorReply(401, "invalid_request_error", "invalid_api_key", f"Received API Key = {SHAPELESS_KEY}"))
    with pytest.raises(openai.AuthenticationError) as raised:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert SHAPELESS_KEY in str(raised.value)  # the application's own error is untouched
    for text in _error_texts(telemetry):
        assert "Received API Key = [REDACTED:secret]" in text, text
    # From now on the key is masked wherever the app's logs would carry it, as the error it logs next.
    logging.getLogger("app").error("call failed: %s", raised.value)
    handler = OTelLogHandler(telemetry.logger_provider)
    handler.emit(caplog.records[-1])
    [body] = [str(r.body) for r in telemetry.events() if r.body and "call failed" in str(r.body)]
    # (openai 1.x puts the whole error body in the message, later SDKs its message alone)
    assert body.startswith("call failed: Error code: 401 - ") and "Received API Key = [REDACTED:secret]" in body
    assert SHAPELESS_KEY not in body


@pytest.mark.parametrize(("error", "error_type", "mode"), [
    ({"message": "Rate limit exceeded: free-models-per-day", "code": 429}, "429", "rate_limited"),
    ({"message": "The model `gpt-9` does not exist", "type": "invalid_request_error", "code": "model_not_found"},
     "model_not_found", "model_not_found"),
    ({"message": "upstream failed"}, "reply_error", "unknown"),
], ids=["gateway-code", "openai-shaped", "message-only"])
def test_a_reply_carrying_an_error_instead_of_choices_fails_the_call(instrument, telemetry, fake, diagnostic_logs,
                                                                     error, error_type, mode):
    """Some OpenAI-compatible servers and gateways answer a failure with status 200 and an ``error`` object; the
    SDK returns it as a reply with no choices. The caller gets exactly that; the span says the call failed."""
    from llmtel.testing import RawReply

    instrument()
    client = openai.OpenAI(base_url=fake.base_url, api_key=API_KEY, max_retries=0)
    fake.enqueue(RawReply.json({"error": error}))
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert not reply.choices  # the SDK's own object, unchanged
    span = telemetry.one_llm_span()
    attrs = span.attributes
    assert span.status.status_code == StatusCode.ERROR and span.status.description == error["message"]
    assert (attrs["error.type"], attrs["llmtel.error.mode"]) == (error_type, mode)
    assert "gen_ai.response.finish_reasons" not in attrs
    (record,) = diagnostic_logs()
    assert record.attributes["error.type"] == error_type


def test_a_reply_with_choices_and_an_error_field_is_no_failure(instrument, telemetry, fake):
    from llmtel.testing import RawReply

    instrument()
    client = openai.OpenAI(base_url=fake.base_url, api_key=API_KEY, max_retries=0)
    fake.enqueue(RawReply.json({"id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-4o-mini", "error": None,
                                "choices": [{"index": 0, "finish_reason": "stop",
                                             "message": {"role": "assistant", "content": "ok"}}]}))
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    span = telemetry.one_llm_span()
    assert span.status.status_code == StatusCode.UNSET and "error.type" not in span.attributes
