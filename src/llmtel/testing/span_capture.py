"""Capture, in memory, the spans an app makes under llmtel's instrumentation: for users' own tests.

    with capture_spans() as spans:
        client.chat.completions.create(model="gpt-4o-mini", messages=[...])
    assert spans.one("chat gpt-4o-mini").attributes["gen_ai.usage.input_tokens"] > 0

The first capture makes sure a global SDK ``TracerProvider`` exists (creating one, with llmtel's pipeline
span processor, if the process has none — OpenTelemetry allows setting it only once) and adds one processor
that hands finished spans to the captures open at that moment. Each capture instruments the libraries llmtel
knows (OpenAI, httpx, requests) that are not instrumented yet, and undoes exactly that when it ends.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from llmtel import semconv

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

__all__ = ["SpanCapture", "capture_spans"]

_lock = threading.Lock()
_open: list[SpanCapture] = []
_installed = False


class SpanCapture:
    """The spans that finished while this capture was open, oldest first, with lookups for assertions."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spans: list[ReadableSpan] = []

    def _add(self, span: ReadableSpan) -> None:
        with self._lock:
            self._spans.append(span)

    @property
    def spans(self) -> list[ReadableSpan]:
        """Every finished span so far (a copy)."""
        with self._lock:
            return list(self._spans)

    def names(self) -> list[str]:
        """The finished spans' names, in the order they ended."""
        return [span.name for span in self.spans]

    def llm_spans(self) -> list[ReadableSpan]:
        """The spans of model calls (those with ``gen_ai.provider.name``)."""
        return [s for s in self.spans if semconv.GEN_AI_PROVIDER_NAME in (s.attributes or {})]

    def named(self, name: str) -> list[ReadableSpan]:
        """The finished spans called ``name``."""
        return [span for span in self.spans if span.name == name]

    def one(self, name: str) -> ReadableSpan:
        """The single finished span called ``name``; AssertionError (listing what there is) otherwise."""
        found = self.named(name)
        if len(found) != 1:
            raise AssertionError(f"expected one span named {name!r}, found {len(found)} among {self.names()}")
        return found[0]

    def clear(self) -> None:
        """Forget the spans captured so far."""
        with self._lock:
            self._spans.clear()


def _make_router() -> Any:
    from opentelemetry.sdk.trace import SpanProcessor

    class _Router(SpanProcessor):
        """Hands every finished span to the captures open when it ends."""

        def on_end(self, span: ReadableSpan) -> None:
            with _lock:
                targets = list(_open)
            for capture in targets:
                capture._add(span)

    return _Router()


def _install() -> None:
    """Once per process: a global SDK tracer provider (made if missing) with the routing processor on it."""
    global _installed
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    from llmtel.credentials import CredentialScrubber
    from llmtel.pipeline import PipelineSpanProcessor

    with _lock:
        if _installed:
            return
        provider = trace.get_tracer_provider()
        if type(provider).__name__ == "ProxyTracerProvider":
            provider = TracerProvider(shutdown_on_exit=False)
            provider.add_span_processor(CredentialScrubber())
            provider.add_span_processor(PipelineSpanProcessor())
            trace.set_tracer_provider(provider)
        if not hasattr(provider, "add_span_processor"):
            raise RuntimeError(
                f"capture_spans needs the OpenTelemetry SDK's TracerProvider; the global one is {provider!r}"
            )
        provider.add_span_processor(_make_router())
        _installed = True


def _instrument() -> list[Any]:
    """Instrument every known, importable library not instrumented yet; return those instrumentors."""
    from llmtel.instrumentation import KNOWN

    done = []
    for item in KNOWN:
        if not item.library_available():
            continue
        try:
            instrumentor = item.load()
        except ImportError:
            continue
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument()
            done.append(instrumentor)
    return done


@contextmanager
def capture_spans() -> Iterator[SpanCapture]:
    """Capture the spans finished inside the block, with llmtel's library instrumentation on meanwhile."""
    _install()
    capture = SpanCapture()
    instrumented = _instrument()
    with _lock:
        _open.append(capture)
    try:
        yield capture
    finally:
        with _lock:
            _open.remove(capture)
        for instrumentor in reversed(instrumented):
            instrumentor.uninstrument()
