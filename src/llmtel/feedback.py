"""User feedback attached to the trace of the answer it judges: ``llmtel.record_feedback(...)``.

A user's judgement (thumbs up/down, a score, a comment) usually arrives after the answer was sent, often
in another process (the web handler that receives the click). It is recorded as the GenAI conventions'
``gen_ai.evaluation.result`` event: an OpenTelemetry log record whose trace and span ids are the judged
call's, so backends show it on that span. The ids travel to the UI with the answer
(``llmtel.feedback_target()`` or ``run.feedback_target()``) and come back with the feedback.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry import _logs, trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from llmtel import semconv as sc
from llmtel._version import __version__
from llmtel.credentials import redact_secrets
from llmtel.genai.content import ContentPolicy, active_policy

_HEX = re.compile(r"(?:0x)?[0-9a-fA-F]+")


def _comment_policy() -> ContentPolicy:
    """How a comment (free text from a user) is treated: like captured content, with the redactor and length bound
    in force (``instrument(redactor=..., content_max_length=...)``); with the content redactor off, credentials
    are still masked, as in every error text that leaves the process."""
    policy = active_policy()
    if policy.redactor is None:
        return ContentPolicy(max_length=policy.max_length, redactor=redact_secrets)
    return policy


@dataclass(frozen=True, slots=True)
class FeedbackTarget:
    """What a piece of feedback is about: hex trace and span ids, and the model's response id if known."""

    trace_id: str
    span_id: str
    response_id: str | None = None

    def as_dict(self) -> dict[str, str]:
        """The ids as a JSON-ready dict (``response_id`` only when known), to send with the answer to the UI
        and pass back as ``record_feedback(**ids, ...)``."""
        ids = {"trace_id": self.trace_id, "span_id": self.span_id}
        if self.response_id:
            ids["response_id"] = self.response_id
        return ids


def target_of_span(span: Any) -> FeedbackTarget:
    """The feedback target of a span (started or ended): its ids and its ``gen_ai.response.id``."""
    ctx = span.get_span_context()
    if not ctx.is_valid:
        raise ValueError("feedback_target: the span has no valid ids (tracing is off?); nothing to attach to")
    attributes = getattr(span, "attributes", None) or {}
    response_id = attributes.get(sc.GEN_AI_RESPONSE_ID)
    return FeedbackTarget(format(ctx.trace_id, "032x"), format(ctx.span_id, "016x"), response_id or None)


def feedback_target() -> FeedbackTarget:
    """Ids for feedback on what the calling code is doing: inside ``llmtel.run``, its latest LLM call (or the
    run's span before any call); elsewhere the current span. ``ValueError`` when there is none."""
    from llmtel.pipeline import current_run

    run = current_run()
    if run is not None:
        return run.feedback_target()
    span = trace.get_current_span()
    if not span.get_span_context().is_valid:
        raise ValueError("feedback_target: no run and no current span; nothing to attach feedback to")
    return target_of_span(span)


def parse_id(value: str | int | None, name: str, digits: int) -> int | None:
    """A trace id (32 hex digits) or span id (16) given as hex text or an int; ``ValueError`` naming ``name``."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"{name}: expected {digits} hex digits or an int, got {value!r}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and _HEX.fullmatch(value.strip()):
        text = value.strip().lower().removeprefix("0x")
        if len(text) > digits:
            raise ValueError(f"{name}: {value!r} is longer than {digits} hex digits")
        number = int(text, 16)
    else:
        raise ValueError(f"{name}: {value!r} is not a hex id of {digits} digits")
    if not 0 < number < 16**digits:
        raise ValueError(f"{name}: {value!r} is not a valid id (zero or out of range)")
    return number


def evaluation_attributes(
    *,
    name: str,
    score: float | None,
    label: str | None,
    comment: str | None,
    response_id: str | None,
    error_type: str | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``gen_ai.evaluation.result`` attributes, validated (``ValueError`` names the bad argument)."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"name: expected a non-empty string, got {name!r}")
    if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score)):
        raise ValueError(f"score: expected a finite number, got {score!r}")
    if label is not None and (not isinstance(label, str) or not label):
        raise ValueError(f"label: expected a non-empty string, got {label!r}")
    if comment is not None and not isinstance(comment, str):
        raise ValueError(f"comment: expected a string, got {comment!r}")
    if response_id is not None and (not isinstance(response_id, str) or not response_id):
        raise ValueError(f"response_id: expected a non-empty string, got {response_id!r}")
    if score is None and label is None and not comment:
        raise ValueError("record_feedback: give a score, a label or a comment")
    attrs: dict[str, Any] = dict(attributes or {})
    attrs[sc.GEN_AI_EVALUATION_NAME] = name
    if score is not None:
        attrs[sc.GEN_AI_EVALUATION_SCORE_VALUE] = float(score)
    if label is not None:
        attrs[sc.GEN_AI_EVALUATION_SCORE_LABEL] = label
    if comment:
        text, cut = _comment_policy().bound(comment)
        attrs[sc.GEN_AI_EVALUATION_EXPLANATION] = text
        if cut is not None:
            attrs[sc.LLMTEL_CONTENT_TRUNCATED] = True
    if response_id is not None:
        attrs[sc.GEN_AI_RESPONSE_ID] = response_id
    if error_type is not None:
        attrs[sc.ERROR_TYPE] = error_type
    return attrs


def record_feedback(
    *,
    name: str = "user_feedback",
    score: float | None = None,
    label: str | None = None,
    comment: str | None = None,
    trace_id: str | int | None = None,
    span_id: str | int | None = None,
    response_id: str | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> None:
    """Record a judgement of an earlier answer as a ``gen_ai.evaluation.result`` event.

    ``score`` (a number, e.g. 1 / 0 for thumbs up / down), ``label`` (low-cardinality text such as ``"good"``)
    and ``comment`` (free text, redacted and bounded like captured content) — at least one of them.
    The target is ``trace_id`` + ``span_id`` (hex strings as ``feedback_target()`` gives them, or ints) and/or
    ``response_id`` (the model's ``gen_ai.response.id``): the event is emitted with the target's trace and
    span ids as its context, so it lands on the judged span, from any process running llmtel. ``name``
    is ``gen_ai.evaluation.name``; ``attributes`` adds your own. Raises ``ValueError`` for a malformed id, an
    invalid score, or nothing to attach to. Goes through the global LoggerProvider (set up by
    ``llmtel.instrument()``), so it is exported with the other log records.
    """
    trace_number = parse_id(trace_id, "trace_id", 32)
    span_number = parse_id(span_id, "span_id", 16)
    if (trace_number is None) != (span_number is None):
        raise ValueError("record_feedback: trace_id and span_id go together (give both, or response_id alone)")
    if trace_number is None and not response_id:
        raise ValueError("record_feedback: nothing to attach to; give trace_id and span_id, or response_id")
    attrs = evaluation_attributes(
        name=name, score=score, label=label, comment=comment, response_id=response_id, attributes=attributes
    )
    context = None
    if trace_number is not None and span_number is not None:
        target = SpanContext(trace_number, span_number, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
        context = trace.set_span_in_context(NonRecordingSpan(target))
    else:
        # no span to hang it on: keep it out of whatever span happens to be current here
        context = trace.set_span_in_context(trace.INVALID_SPAN)
    logger = _logs.get_logger("llmtel.feedback", __version__, schema_url=sc.SCHEMA_URL)
    logger.emit(
        event_name=sc.EVENT_EVALUATION_RESULT,
        timestamp=time.time_ns(),  # when the judgement was made (the SDK would leave the event time unset)
        severity_number=SeverityNumber.INFO,
        attributes=attrs,
        context=context,
    )
