"""Content policy: capture modes, redaction (and what it must leave alone), bounding with preview and hash."""

from __future__ import annotations

import hashlib

import pytest

from llmtel import semconv as sc
from llmtel.genai.content import (
    ALL_CONTENT_FIELDS,
    CaptureMode,
    ContentPolicy,
    default_redactor,
    omit_fields,
    parse_capture_mode,
    parse_content_fields,
    short_sha256,
)


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
        ("gh ghu_abcdefghijklmnopqrstuvwxyz0123456789 ghr_abcdefghijklmnopqrstuvwxyz0123456789",
         "gh [REDACTED:token] [REDACTED:token]"),
        ("google AIzaSyA1234567890abcdefghijklmnopqrstuv.", "google [REDACTED:api_key]."),
        ("slack xoxb-1234567890-abcdefghij", "slack [REDACTED:token]"),
        ("key -----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\n-----END RSA PRIVATE KEY----- end",
         "key [REDACTED:private_key] end"),
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
    assert policy.value({"a": ["x", {"b": "y"}], "n": 3}) == {"A": ["X", {"B": "Y"}], "N": 3}  # keys cleaned too
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


@pytest.mark.parametrize(
    ("raw", "fields"),
    [
        ("all", ALL_CONTENT_FIELDS), ("ALL", ALL_CONTENT_FIELDS), ("none", frozenset()),
        (" output , tool_calls ", frozenset({"output", "tool_calls"})), (["input"], frozenset({"input"})),
        (("system_instructions", "tool_definitions"), frozenset({"system_instructions", "tool_definitions"})),
    ],
)
def test_content_fields(raw, fields):
    assert parse_content_fields(raw, "X") == fields


@pytest.mark.parametrize("raw", ["outputs", "output,prompt", ",", 3, "all,none"])
def test_unknown_content_fields_name_the_setting_and_the_choices(raw):
    with pytest.raises(ValueError, match="LLMTEL_CONTENT_FIELDS: .* is not all, none or a list of system_instructions"):
        parse_content_fields(raw, "LLMTEL_CONTENT_FIELDS")


def test_leaving_every_field_out_keeps_the_structure_with_lengths_and_hashes():
    policy = ContentPolicy(mode=CaptureMode.SPAN_ONLY, max_length=5)
    long_answer = policy.text_part("a long answer")  # cut: its marker describes the whole text
    captured = {
        sc.GEN_AI_SYSTEM_INSTRUCTIONS: [policy.text_part("be kind")],
        sc.GEN_AI_INPUT_MESSAGES: [{"role": "user", "parts": [policy.text_part("hi"),
                                                              {"type": "blob", "modality": "image", "byte_size": 9}]}],
        sc.GEN_AI_OUTPUT_MESSAGES: [{"role": "assistant", "parts": [long_answer], "finish_reason": "length"}],
    }
    kept = omit_fields(captured, frozenset())
    assert kept == {
        sc.GEN_AI_SYSTEM_INSTRUCTIONS: [{"type": "text", "omitted": {"length": 7, "sha256": short_sha256("be kind")}}],
        sc.GEN_AI_INPUT_MESSAGES: [{"role": "user", "parts": [
            {"type": "text", "omitted": {"length": 2, "sha256": short_sha256("hi")}},
            {"type": "blob", "modality": "image", "byte_size": 9}]}],  # carries no content: kept
        sc.GEN_AI_OUTPUT_MESSAGES: [{"role": "assistant", "parts": [
            {"type": "text", "omitted": {"length": 13, "sha256": short_sha256("a long answer")}}],
            "finish_reason": "length"}],
    }
    assert captured[sc.GEN_AI_OUTPUT_MESSAGES][0]["parts"][0] is long_answer and "content" in long_answer  # untouched
    assert omit_fields(captured, ALL_CONTENT_FIELDS) is captured


def test_error_text_keeps_credentials_masked_with_the_content_redactor_off():
    text = "rejected password=hunter2 for ann@example.com"
    assert ContentPolicy(redactor=None).clean(text) == text  # content as sent: the user turned redaction off
    assert ContentPolicy(redactor=None).clean_error(text) == "rejected password=[REDACTED] for ann@example.com"
    assert ContentPolicy().clean_error(text) == "rejected password=[REDACTED] for [REDACTED:email]"


def test_structured_values_are_cleaned_by_name_keys_and_numbers():
    """Tool arguments parsed into objects: a credential's name masks its value whatever it is, keys are text too,
    and a card number sent as a number is still a card number."""
    policy = ContentPolicy(mode=CaptureMode.SPAN_ONLY)
    arguments = {"db": {"password": "correct horse", "pin": 4711, "secret": 98765432109876},
                 "alice@example.com": "x", "card": 4111111111111111, "count": 123456789, "list": [{"api_key": 7e9}],
                 "token": 42}
    assert policy.value(arguments) == {
        "db": {"password": "[REDACTED]", "pin": 4711, "secret": "[REDACTED]"},
        "[REDACTED:email]": "x", "card": "[REDACTED:card_number]", "count": 123456789,
        "list": [{"api_key": "[REDACTED]"}], "token": 42,  # a small number under a credential's name is a count
    }
    schema = {"type": "object", "properties": {"password": {"type": "string", "default": "4111 1111 1111 1111"}}}
    assert policy.value(schema, by_name=False) == {  # a schema's keys name fields: only what it holds is cleaned
        "type": "object", "properties": {"password": {"type": "string", "default": "[REDACTED:card_number]"}}}
