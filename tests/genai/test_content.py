"""Content policy: capture modes, redaction (and what it must leave alone), bounding with preview and hash."""

from __future__ import annotations

import hashlib

import pytest

from llmtel.genai.content import CaptureMode, ContentPolicy, default_redactor, parse_capture_mode, short_sha256


@pytest.mark.parametrize(
    ("raw", "mode"),
    [
        ("true", CaptureMode.SPAN_ONLY), ("FALSE", CaptureMode.NO_CONTENT), (True, CaptureMode.SPAN_ONLY),
        ("span_only", CaptureMode.SPAN_ONLY), ("EVENT_ONLY", CaptureMode.EVENT_ONLY),
        ("Span_And_Event", CaptureMode.SPAN_AND_EVENT), ("NO_CONTENT", CaptureMode.NO_CONTENT), ("", CaptureMode.NO_CONTENT),
    ],
)
def test_capture_modes(raw, mode):
    assert parse_capture_mode(raw, "X") is mode


def test_unknown_capture_mode_names_the_setting():
    with pytest.raises(ValueError, match="OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: 'sometimes'"):
        parse_capture_mode("sometimes", "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT")


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        ("key sk-proj-abcdefghijklmnop1234 here", "key [REDACTED:api_key] here"),
        ("aws AKIAABCDEFGHIJKLMNOP", "aws [REDACTED:aws_key]"),
        ("Authorization: Bearer abcdefghijklmnopqrstuv", "Authorization: Bearer [REDACTED:token]"),
        ("jwt eyJhbGciOiJIUzI1.eyJzdWIiOiIxMjM0.c2lnbmF0dXJlMTI", "jwt [REDACTED:jwt]"),
        ("mail ann.lee+x@example.co.uk please", "mail [REDACTED:email] please"),
        ("card 4111 1111 1111 1111.", "card [REDACTED:card_number]."),
        ("call +44 20 7946 0958 now", "call [REDACTED:phone] now"),
        ("call (555) 123-4567", "call [REDACTED:phone]"),
    ],
)
def test_default_redactor_masks_secrets_and_personal_data(text, redacted):
    assert default_redactor(text) == redacted


@pytest.mark.parametrize(
    "text",
    [
        "gpt-4o-2024-08-06", "version 1.45.2", "at 2026-11-22T10:49:00Z", "iso 2026-11-22 10:49:00",
        "id 1795345208.868655", "count 1234567890123", "pi 3.14159265358979", "port 127.0.0.1:4318",
        "tokens 1000000", "not a card 4111111111111112",
    ],
)
def test_default_redactor_leaves_ordinary_numbers_alone(text):
    assert default_redactor(text) == text


def test_bound_keeps_preview_length_and_hash_of_the_redacted_text():
    policy = ContentPolicy(mode=CaptureMode.SPAN_ONLY, max_length=10)
    text = "mail ann@example.com now"
    content, cut = policy.bound(text)
    redacted = "mail [REDACTED:email] now"
    assert content == redacted[:10]
    assert cut == {"length": len(redacted), "sha256": hashlib.sha256(redacted.encode()).hexdigest()[:16]}
    assert policy.bound("short") == ("short", None)
    assert short_sha256("abc") == "ba7816bf8f01cfea"


def test_text_part_and_nested_values():
    policy = ContentPolicy(mode=CaptureMode.SPAN_ONLY, max_length=8, redactor=str.upper)
    assert policy.text_part("hi") == {"type": "text", "content": "HI"}
    part = policy.text_part("abcdefghijkl", "reasoning")
    assert part["type"] == "reasoning" and part["content"] == "ABCDEFGH" and part["truncated"]["length"] == 12
    assert policy.value({"a": ["x", {"b": "y"}], "n": 3}) == {"a": ["X", {"b": "Y"}], "n": 3}
    assert policy.value("0123456789") == {"preview": "01234567", "truncated": {"length": 10,
                                                                             "sha256": short_sha256("0123456789")}}


def test_a_failing_redactor_never_leaks_the_text():
    def broken(text: str) -> str:
        raise RuntimeError("boom")

    policy = ContentPolicy(mode=CaptureMode.SPAN_ONLY, redactor=broken)
    assert policy.clean("secret") == "[REDACTED:redactor_failed]"


def test_no_redactor_keeps_text():
    assert ContentPolicy(redactor=None).clean("sk-abcdefghijklmnopqrstu") == "sk-abcdefghijklmnopqrstu"


def test_mode_flags():
    assert not ContentPolicy().capture
    assert ContentPolicy(mode=CaptureMode.SPAN_ONLY).on_span and not ContentPolicy(mode=CaptureMode.SPAN_ONLY).on_event
    both = ContentPolicy(mode=CaptureMode.SPAN_AND_EVENT)
    assert both.on_span and both.on_event
