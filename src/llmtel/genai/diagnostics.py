"""Error diagnostics: a failed model call mapped to a known failure mode and a one-line actionable hint.

Provider errors are cryptic ("429", ``context_length_exceeded``, a bare connection reset). ``diagnose`` is a
pure function over what any provider's error carries — HTTP status, the error body's code / type / param,
the exception's class names, the response headers — so each provider instrumentation only extracts those
inputs. Retryable modes (rate limits, timeouts, connection and server errors) are reported at WARNING,
the rest at ERROR.
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace

from llmtel import semconv as sc

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from llmtel.genai.record import GenAICall

# failure modes (values of ``llmtel.error.mode``)
RATE_LIMITED = "rate_limited"
INSUFFICIENT_QUOTA = "insufficient_quota"
CONTEXT_LENGTH_EXCEEDED = "context_length_exceeded"
OUTPUT_TRUNCATED = "output_truncated"
AUTHENTICATION = "authentication"
PERMISSION_DENIED = "permission_denied"
MODEL_NOT_FOUND = "model_not_found"
NOT_FOUND = "not_found"
CONTENT_FILTER = "content_filter"
BAD_REQUEST = "bad_request"
TIMEOUT = "timeout"
CONNECTION_ERROR = "connection_error"
SERVER_ERROR = "server_error"
OVERLOADED = "overloaded"
UNKNOWN = "unknown"

# mode -> (retryable, hint)
_MODES: dict[str, tuple[bool, str]] = {
    RATE_LIMITED: (True, "rate limit reached: retry after the indicated delay with backoff, or lower request/token rate"),
    INSUFFICIENT_QUOTA: (False, "quota exhausted: check the account's plan and billing; retrying will not help"),
    CONTEXT_LENGTH_EXCEEDED: (
        False,
        "prompt too long for the model's context window: trim history or retrieved documents, or use a "
        "model with a larger context",
    ),
    OUTPUT_TRUNCATED: (False, "output hit the token limit before finishing: raise max_tokens or ask for less"),
    AUTHENTICATION: (False, "API key missing, invalid or revoked: check the key the client is configured with"),
    PERMISSION_DENIED: (
        False,
        "the key may not use this resource (model, organisation, project or region): check its permissions",
    ),
    MODEL_NOT_FOUND: (False, "model name unknown or not available to this key: check the model id / deployment"),
    NOT_FOUND: (False, "resource not found: check the endpoint URL (base_url) and the ids in the request"),
    CONTENT_FILTER: (False, "blocked by the provider's content filter: rephrase the input or handle the refusal"),
    BAD_REQUEST: (False, "the request was rejected as invalid: check the parameter named in the error"),
    TIMEOUT: (True, "no reply before the client timeout: retry, raise the timeout, or stream long answers"),
    CONNECTION_ERROR: (True, "could not reach the API: check network, proxy, DNS and base_url; retry with backoff"),
    SERVER_ERROR: (True, "provider-side error: retry with backoff; check the provider's status page if it persists"),
    OVERLOADED: (True, "provider overloaded or unavailable: retry with backoff, or fall back to another model"),
    UNKNOWN: (False, "unrecognised failure: see error.type and the exception message"),
}

_CONTENT_FILTER_CODES = frozenset(
    {"content_filter", "content_policy_violation", "invalid_prompt", "image_content_policy_violation"}
)
# Error codes of a failed Responses call (no HTTP status) that reject what was sent.
_REJECTED_INPUT_PREFIXES = ("invalid_", "image_", "unsupported_", "empty_", "failed_to_download")
_AUTH_CODES = frozenset({"invalid_api_key", "invalid_authentication", "missing_api_key", "incorrect_api_key"})


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """A failure mode, whether retrying can help, a one-line hint, and the provider's requested delay."""

    mode: str
    retryable: bool
    hint: str
    retry_after: float | None = None  # seconds, from retry-after-ms / retry-after headers
    code: str | None = None  # the provider's own error code, when it sent one


def _lower(value: str | None) -> str:
    return value.lower() if isinstance(value, str) else ""


def retry_after_seconds(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """The delay a reply asks for: ``retry-after-ms`` (ms), else ``retry-after`` (seconds or an HTTP date)."""
    if not headers:
        return None
    lowered = {str(k).lower(): v for k, v in headers.items()}
    raw_ms = lowered.get("retry-after-ms")
    if raw_ms is not None:
        try:
            value = float(raw_ms) / 1000
            if value >= 0:
                return value
        except (TypeError, ValueError):
            pass
    raw = lowered.get("retry-after")
    if raw is None:
        return None
    try:
        value = float(raw)
        return value if value >= 0 else None
    except (TypeError, ValueError):
        pass
    try:
        moment = email.utils.parsedate_to_datetime(str(raw))
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


def failure_mode(
    *,
    status: int | None = None,
    code: str | None = None,
    error_type: str | None = None,
    message: str | None = None,
    exception_names: Iterable[str] = (),
) -> str:
    """The failure mode of an error, from the most specific evidence available (body code first)."""
    code_l, type_l, message_l = _lower(code), _lower(error_type), _lower(message)
    names = {_lower(name) for name in exception_names}
    if code_l == "insufficient_quota" or type_l == "insufficient_quota":
        return INSUFFICIENT_QUOTA
    if code_l == "context_length_exceeded" or "maximum context length" in message_l:
        return CONTEXT_LENGTH_EXCEEDED
    if code_l in _CONTENT_FILTER_CODES or "contentfilterfinishreasonerror" in names:
        return CONTENT_FILTER
    if "lengthfinishreasonerror" in names:
        return OUTPUT_TRUNCATED
    if code_l == "model_not_found" or (status == 404 and "model" in message_l):
        return MODEL_NOT_FOUND
    if code_l in _AUTH_CODES or status == 401 or "authenticationerror" in names:
        return AUTHENTICATION
    if status == 403 or "permissiondeniederror" in names:
        return PERMISSION_DENIED
    if status == 429 or code_l == "rate_limit_exceeded" or "ratelimiterror" in names:
        return RATE_LIMITED
    if status == 404:
        return NOT_FOUND
    if status in (408,) or "apitimeouterror" in names or "timeoutexception" in names or "timeouterror" in names:
        return TIMEOUT
    if status in (502, 503, 504, 529) or "overloaded" in message_l:
        return OVERLOADED
    if (status is not None and status >= 500) or code_l == "server_error":
        return SERVER_ERROR
    if status in (400, 409, 422):
        return BAD_REQUEST
    if status is None and code_l.endswith("_timeout"):  # Responses error codes: vector_store_timeout, ...
        return TIMEOUT
    if status is None and code_l.startswith(_REJECTED_INPUT_PREFIXES):  # invalid_image_url, image_too_large...
        return BAD_REQUEST
    if status is None and names & {"apiconnectionerror", "connecterror", "connectionerror", "remoteprotocolerror"}:
        return CONNECTION_ERROR
    return UNKNOWN


def diagnose(
    *,
    status: int | None = None,
    code: str | None = None,
    error_type: str | None = None,
    param: str | None = None,
    message: str | None = None,
    exception_names: Iterable[str] = (),
    headers: Mapping[str, str] | None = None,
) -> Diagnosis:
    """Map an error's evidence to a ``Diagnosis``. Pure: the same inputs always give the same answer."""
    mode = failure_mode(status=status, code=code, error_type=error_type, message=message, exception_names=exception_names)
    retryable, hint = _MODES[mode]
    if mode == BAD_REQUEST and param:
        hint = f"the request was rejected as invalid: check parameter {param!r}"
    retry_after = retry_after_seconds(headers) if mode in (RATE_LIMITED, OVERLOADED, SERVER_ERROR) else None
    if retry_after:  # a zero delay says nothing worth a word in the hint (it stays an attribute)
        hint = f"{hint} (provider asks to wait {retry_after:g} s)"
    return Diagnosis(mode=mode, retryable=retryable, hint=hint, retry_after=retry_after, code=code or None)


# --- reporting (glue) ----------------------------------------------------------------------------------------

_log = logging.getLogger("llmtel.genai.diagnostics")


def diagnosis_attributes(diagnosis: Diagnosis) -> dict[str, Any]:
    """The diagnosis as span / log attributes."""
    attrs: dict[str, Any] = {
        sc.LLMTEL_ERROR_MODE: diagnosis.mode,
        sc.LLMTEL_ERROR_HINT: diagnosis.hint,
        sc.LLMTEL_ERROR_RETRYABLE: diagnosis.retryable,
    }
    if diagnosis.retry_after is not None:
        attrs[sc.LLMTEL_ERROR_RETRY_AFTER] = diagnosis.retry_after
    if diagnosis.code is not None:
        attrs[sc.LLMTEL_ERROR_CODE] = diagnosis.code
    return attrs


def report_failure(call: GenAICall, span: Span) -> None:
    """Put ``call.diagnosis`` on the span and log it (WARNING if retryable, else ERROR) inside the span's
    context, so the record is stamped with the call's trace and span ids and shipped like any other."""
    diagnosis = call.diagnosis
    if diagnosis is None:
        return
    attrs = diagnosis_attributes(diagnosis)
    if span.is_recording():
        span.set_attributes(attrs)
    extra: dict[str, Any] = {sc.LOG_EVENT: sc.LOG_EVENT_LLM_CALL_FAILED, **attrs}
    extra[sc.ERROR_TYPE] = call.error_type or sc.ERROR_TYPE_OTHER
    if call.request_model is not None:
        extra[sc.GEN_AI_REQUEST_MODEL] = call.request_model
    if call.http_status is not None:
        extra[sc.HTTP_RESPONSE_STATUS_CODE] = call.http_status
    token = otel_context.attach(trace.set_span_in_context(span))
    try:
        _log.log(
            logging.WARNING if diagnosis.retryable else logging.ERROR,
            "%s %s failed (%s): %s",
            call.operation,
            call.request_model or "",
            diagnosis.mode,
            diagnosis.hint,
            extra=extra,
        )
    finally:
        otel_context.detach(token)
