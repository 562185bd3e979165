"""Runs across service boundaries: W3C trace context and baggage out of and into HTTP headers.

Outgoing calls made through an instrumented client (httpx, httpx2, requests, openai) already carry
``traceparent`` and ``baggage`` (with the run id). ``inject_headers`` does the same for any other client. On
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

def _lowered(headers: Any) -> dict[str, str]:
    """Header names in lower case (W3C propagators look up ``traceparent``, ``baggage``); the first value wins."""
    items = headers.items() if hasattr(headers, "items") else headers
    lowered: dict[str, str] = {}
    try:
        for key, value in items:
            lowered.setdefault(str(key).lower(), value)
    except (TypeError, ValueError):
        raise TypeError(f"headers: expected a mapping or (name, value) pairs, got {type(headers).__name__}") from None
    return lowered


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


def continue_run(headers: Any, name: str, **attributes: Any) -> Run:
    """Continue, in a receiving service, the run whose request carried ``headers``.

    A context manager (sync or async)::

        with llmtel.continue_run(self.headers, "answer_question") as run:
            ...   # spans and logs here: the caller's trace, the caller's run id

    The span ``name`` (SERVER kind) is a child of the caller's span; the run id comes from the ``baggage``
    header (a new one when the caller sent none), and so do the session and user ids if the caller
    propagated them. ``attributes`` go on every span inside, as with ``llmtel.run``."""
    parent = extract_context(headers)
    values = baggage.get_all(parent)

    def text(key: str) -> str | None:
        value = values.get(key)
        return str(value) if value else None

    run = Run(
        name,
        run_id=text(semconv.LLMTEL_RUN_ID),
        session_id=text(semconv.SESSION_ID),
        user_id=text(semconv.USER_ID),
        **attributes,
    )
    run.kind = SpanKind.SERVER
    run.parent_context = parent
    return run


__all__ = ["continue_run", "extract_context", "inject_headers"]
