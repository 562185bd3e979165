"""Runs across service boundaries: W3C trace context and baggage out of and into HTTP headers.

Outgoing calls made through an instrumented HTTP client (httpx, httpx2, requests; the openai client's go
through httpx or httpx2) already carry ``traceparent`` and ``baggage`` (with the run id), set by that client's
OpenTelemetry instrumentation. ``inject_headers`` does the same for any other client. On
the receiving side, ``continue_run(headers, name)`` restores the caller's context: its span is a child of
the caller's HTTP client span in the same trace, and it continues the caller's run — the run id (and the
session and user ids, if the caller propagated them) go on every span and log record inside.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from opentelemetry import baggage, propagate
from opentelemetry import context as otel_context
from opentelemetry.trace import SpanKind

from llmtel import semconv
from llmtel.pipeline import Run

# Headers W3C lets a request repeat, the lines meaning one list joined with "," (RFC 9110, section 5.3). Any
# other header keeps its first line: a repeated ``traceparent`` is invalid, and OpenTelemetry's propagator reads
# only the first value it is given.
_JOINED = frozenset({"baggage", "tracestate"})


def _lowered(headers: Any) -> dict[str, Any]:
    """Header names in lower case (W3C propagators look up ``traceparent``, ``baggage``); repeated ``baggage``
    and ``tracestate`` lines joined with commas, the first line of any other header kept."""
    items = headers.items() if hasattr(headers, "items") else headers
    lowered: dict[str, Any] = {}
    try:
        for key, value in items:
            name = str(key).lower()
            if name not in lowered:
                lowered[name] = value
            elif name in _JOINED:
                lowered[name] = _joined(lowered[name], value)
    except (TypeError, ValueError):
        raise TypeError(f"headers: expected a mapping or (name, value) pairs, got {type(headers).__name__}") from None
    return lowered


def _joined(first: Any, more: Any) -> Any:
    """Two lines of a list header as one; the first alone when either is not text (or the second is empty)."""
    if not isinstance(first, str) or not isinstance(more, str) or not more.strip():
        return first
    return f"{first},{more}" if first.strip() else more


def extract_context(headers: Any) -> otel_context.Context:
    """The Context carried by incoming request headers (``traceparent``, ``tracestate``, ``baggage``), through
    the globally configured propagators. ``headers``: a mapping (a dict, ``http.server``'s ``self.headers``,
    a framework's request headers) or ``(name, value)`` pairs; names in any case. Attach it with
    ``opentelemetry.context.attach`` — or use ``continue_run``, which also continues the caller's run."""
    return propagate.extract(_lowered(headers))


def inject_headers(headers: MutableMapping[str, str] | None = None) -> MutableMapping[str, str]:
    """Add ``traceparent`` / ``baggage`` for the current context to ``headers`` (a new dict if None) and
    return it: for HTTP clients llmtel does not instrument."""
    carrier: MutableMapping[str, str] = {} if headers is None else headers
    propagate.inject(carrier)
    return carrier


def continue_run(
    headers: Any, name: str, *, run_id: str | None = None, session_id: str | None = None,
    user_id: str | None = None, **attributes: Any,
) -> Run:
    """Continue, in a receiving service, the run whose request carried ``headers``.

    A context manager (sync and async)::

        with llmtel.continue_run(self.headers, "answer_question") as run:
            ...   # spans and logs here: the caller's trace, the caller's run id

    The span ``name`` (SERVER kind) is a child of the caller's span; the run id comes from the ``baggage``
    header (a new one when the caller sent none), and so do the session and user ids if the caller
    propagated them. ``run_id``, ``session_id`` and ``user_id`` given here win over those in baggage (the
    service knows its user better than the header it was sent). ``attributes`` (and ``llmtel.run``'s other
    keywords) go on every span inside, as with ``llmtel.run``."""
    parent = extract_context(headers)
    values = baggage.get_all(parent)

    def text(given: str | None, key: str) -> str | None:
        if given is not None:
            return given
        value = values.get(key)
        return str(value) if value else None

    run = Run(
        name,
        run_id=text(run_id, semconv.LLMTEL_RUN_ID),
        session_id=text(session_id, semconv.SESSION_ID),
        user_id=text(user_id, semconv.USER_ID),
        **attributes,
    )
    run.kind = SpanKind.SERVER
    run.parent_context = parent
    return run


__all__ = ["continue_run", "extract_context", "inject_headers"]
