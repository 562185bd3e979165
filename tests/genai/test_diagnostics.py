"""The pure failure-mode mapping: evidence in, mode / hint / retry delay out."""

from __future__ import annotations

import email.utils

import pytest

from llmtel.genai import diagnostics as d


@pytest.mark.parametrize(
    ("evidence", "mode", "retryable"),
    [
        ({"status": 429, "code": "rate_limit_exceeded", "error_type": "requests"}, d.RATE_LIMITED, True),
        ({"status": 429, "code": "insufficient_quota", "error_type": "insufficient_quota"}, d.INSUFFICIENT_QUOTA, False),
        ({"status": 400, "code": "context_length_exceeded", "param": "messages"}, d.CONTEXT_LENGTH_EXCEEDED, False),
        ({"status": 400, "message": "This model's maximum context length is 8192 tokens."}, d.CONTEXT_LENGTH_EXCEEDED, False),
        ({"status": 401, "code": "invalid_api_key"}, d.AUTHENTICATION, False),
        ({"exception_names": ["OpenAIError"], "message": "The api_key client option must be set"}, d.UNKNOWN, False),
        ({"status": 403, "code": "unsupported_country_region_territory"}, d.PERMISSION_DENIED, False),
        ({"status": 404, "code": "model_not_found"}, d.MODEL_NOT_FOUND, False),
        ({"status": 404, "message": "Not found"}, d.NOT_FOUND, False),
        ({"status": 400, "code": "content_filter"}, d.CONTENT_FILTER, False),
        ({"exception_names": ["ContentFilterFinishReasonError", "OpenAIError"]}, d.CONTENT_FILTER, False),
        ({"exception_names": ["LengthFinishReasonError"]}, d.OUTPUT_TRUNCATED, False),
        ({"status": 400, "code": None, "param": "temperature"}, d.BAD_REQUEST, False),
        ({"exception_names": ["APITimeoutError", "APIConnectionError", "APIError"]}, d.TIMEOUT, True),
        ({"exception_names": ["APIConnectionError", "APIError"]}, d.CONNECTION_ERROR, True),
        ({"status": 500, "error_type": "server_error"}, d.SERVER_ERROR, True),
        ({"status": 503, "message": "The engine is currently overloaded"}, d.OVERLOADED, True),
        ({"status": 502}, d.OVERLOADED, True),
        ({}, d.UNKNOWN, False),
        # a failed Responses call: an error code and no HTTP status
        ({"code": "server_error"}, d.SERVER_ERROR, True),
        ({"code": "vector_store_timeout"}, d.TIMEOUT, True),
        ({"code": "image_content_policy_violation"}, d.CONTENT_FILTER, False),
        ({"code": "failed_to_download_image"}, d.BAD_REQUEST, False),
        ({"code": "image_too_large"}, d.BAD_REQUEST, False),
        ({"code": "some_new_code"}, d.UNKNOWN, False),
    ],
)
def test_failure_modes(evidence, mode, retryable):
    diagnosis = d.diagnose(**evidence)
    assert (diagnosis.mode, diagnosis.retryable) == (mode, retryable)
    assert diagnosis.hint and "\n" not in diagnosis.hint


def test_bad_request_hint_names_the_parameter():
    assert "'temperature'" in d.diagnose(status=400, param="temperature").hint


def test_rate_limit_carries_the_requested_delay_and_code():
    diagnosis = d.diagnose(status=429, code="rate_limit_exceeded", headers={"Retry-After-Ms": "1500", "retry-after": "9"})
    assert diagnosis.retry_after == 1.5  # the millisecond header is the more precise one
    assert diagnosis.code == "rate_limit_exceeded"
    assert "wait 1.5 s" in diagnosis.hint
    # a delay is only read for modes where waiting helps
    assert d.diagnose(status=401, headers={"retry-after": "3"}).retry_after is None


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "2"}, 2.0),
        ({"retry-after": "0.25"}, 0.25),
        ({"retry-after-ms": "40"}, 0.04),
        ({"retry-after-ms": "soon", "retry-after": "3"}, 3.0),
        ({"retry-after": "-1"}, None),
        ({"retry-after": "whenever"}, None),
        ({}, None),
        (None, None),
    ],
)
def test_retry_after_seconds(headers, seconds):
    assert d.retry_after_seconds(headers) == seconds


def test_retry_after_as_http_date():
    now = 1_700_000_000.0
    headers = {"retry-after": email.utils.formatdate(now + 30, usegmt=True)}
    assert d.retry_after_seconds(headers, now=now) == pytest.approx(30, abs=1)
