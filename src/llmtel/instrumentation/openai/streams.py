"""Stream instrumentation that keeps the SDK's own objects: a returned stream is still the same
``openai.Stream`` / ``AsyncStream`` instance, with the same API.

The stream is instrumented in place: its iterator is wrapped, its HTTP response's ``close`` is hooked (the
SDK's ``close()``, ``with`` exit and the ``.stream()`` helpers all close the response), and a finaliser
covers streams that are abandoned. Whichever comes first ends the span, exactly once. No context is
attached across ``yield``, so nothing is ever detached in the wrong task.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import threading
import time
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import Any, Protocol

from opentelemetry.context import Context
from opentelemetry.trace import Span

from llmtel.genai.emit import GenAITelemetry
from llmtel.genai.record import GenAICall
from llmtel.instrumentation.openai.extract import apply_error

_logger = logging.getLogger("llmtel.instrumentation.openai")


class Accumulator(Protocol):
    def add(self, item: Any) -> bool: ...

    def close(self, completed: bool) -> None: ...


class StreamState:
    """The span of one streamed call and everything needed to end it once."""

    __slots__ = ("_once", "accumulator", "call", "context", "hide_usage_chunk", "in_iteration", "span", "telemetry")

    def __init__(
        self,
        telemetry: GenAITelemetry,
        call: GenAICall,
        span: Span,
        accumulator: Accumulator,
        hide_usage_chunk: bool,
        context: Context | None = None,
    ) -> None:
        self.telemetry = telemetry
        self.call = call
        self.span = span
        self.accumulator = accumulator
        self.hide_usage_chunk = hide_usage_chunk
        self.context = context  # the span's context, for the metric points recorded when the stream ends
        # Who is inside the inner iterator's next() right now (a thread id, or an asyncio task), else None:
        # a close() from there is the iterator's own clean-up; from anywhere else it is the caller's.
        self.in_iteration: object = None
        self._once = threading.Lock()

    def observe(self, item: Any) -> bool:
        """Fold one item in; False when the item must be hidden from the caller (injected usage chunk)."""
        call = self.call
        if call.first_chunk_perf is None:
            call.first_chunk_perf = time.perf_counter()
        try:
            visible = self.accumulator.add(item) or not self.hide_usage_chunk
        except Exception:  # noqa: BLE001 - a malformed chunk must not break the caller's stream
            _log_once("chunk", "llmtel: could not read a stream chunk; the span keeps what was read before")
            visible = True
        if visible:  # chunks counts what the caller is given, not the usage chunk hidden from it
            call.chunk_count += 1
            if call.chunk_times is not None:  # chunk timing is on (time_per_output_chunk)
                call.chunk_times.append(time.perf_counter())
        return visible

    def finish(self, end: str, error: BaseException | None = None) -> None:
        """End the span with what was received so far. Safe to call from any thread, any number of times."""
        if not self._once.acquire(blocking=False):
            return
        try:
            self.call.stream_end = end
            self.accumulator.close(end == "completed")
            if self.hide_usage_chunk and self.call.usage_source == "stream_usage_chunk":
                self.call.usage_source = "injected"  # the usage chunk was asked for by llmtel, not the caller
            if isinstance(error, Exception):
                apply_error(self.call, error)  # the stream broke: failure mode and hint, as for a failed call
        except Exception:  # noqa: BLE001
            _log_once("close", "llmtel: could not summarise a stream")
        self.telemetry.finish(self.call, self.span, error, self.context)


_logged: set[str] = set()


def _log_once(key: str, message: str) -> None:
    if key not in _logged:
        _logged.add(key)
        _logger.warning(message, exc_info=True)


def _traced_iterator(inner: Iterator[Any], state: StreamState) -> Iterator[Any]:
    observe, get_ident = state.observe, threading.get_ident  # bound once: this loop runs for every chunk
    try:
        while True:
            state.in_iteration = get_ident()
            try:
                item = next(inner)
            except StopIteration:
                state.finish("completed")
                return
            finally:
                state.in_iteration = None
            if observe(item):
                yield item
    except GeneratorExit:
        inner_close = getattr(inner, "close", None)
        if inner_close is not None:
            inner_close()
        state.finish("closed")
        raise
    except BaseException as error:
        state.finish("error", error)
        raise


async def _traced_async_iterator(inner: AsyncIterator[Any], state: StreamState) -> AsyncIterator[Any]:
    observe, next_item = state.observe, inner.__anext__
    try:
        while True:
            state.in_iteration = _current_task()
            try:
                item = await next_item()
            except StopAsyncIteration:
                state.finish("completed")
                return
            finally:
                state.in_iteration = None
            if observe(item):
                yield item
    except GeneratorExit:
        state.finish("closed")
        raise
    except asyncio.CancelledError:
        state.finish("cancelled")
        raise
    except BaseException as error:
        state.finish("error", error)
        raise


_NO_TASK = object()


def _current_task() -> object:
    try:
        task = asyncio.current_task()
    except RuntimeError:  # not under asyncio (e.g. trio): every close then counts as the iterator's own
        task = None
    return _NO_TASK if task is None else task


def _hook_close(target: Any, method: str, state: StreamState) -> None:
    """Make ``target.method()`` (sync) end the span too, unless it is the iterator's own clean-up (called
    from inside the iteration, which then records the outcome). A close from another thread, while the
    stream is being read, is the caller's: it ends the span as closed."""
    original = getattr(target, method)

    def close(*args: Any, **kwargs: Any) -> Any:
        try:
            return original(*args, **kwargs)
        finally:
            if state.in_iteration != threading.get_ident():
                state.finish("closed")

    setattr(target, method, close)


def _hook_async_close(target: Any, method: str, state: StreamState) -> None:
    original = getattr(target, method)

    async def close(*args: Any, **kwargs: Any) -> Any:
        try:
            return await original(*args, **kwargs)
        finally:
            if state.in_iteration is not _current_task():
                state.finish("closed")

    setattr(target, method, close)


# Weak references to the objects whose collection ends a span as "abandoned". The set keeps each reference
# alive until its object dies (a weakref that dies first never calls back). Cheaper than
# ``weakref.finalize`` (a quarter of the cost per stream), and like ``finalize(...).atexit = False`` nothing
# runs at interpreter exit, when the telemetry pipeline is already shut down.
_watched: set[weakref.ref[Any]] = set()
atexit.register(_watched.clear)  # a reference dropped before its object dies never calls back


def on_abandon(state: StreamState, target: Any) -> None:
    """End ``state``'s span as abandoned when ``target`` is garbage-collected before the span ended."""

    def collected(ref: weakref.ref[Any]) -> None:
        _watched.discard(ref)
        state.finish("abandoned")

    _watched.add(weakref.ref(target, collected))


def _traced_already(inner: Any) -> bool:
    """True for a stream instrumented before (``APIResponse.parse()`` returns its cached stream again)."""
    code = getattr(inner, "gi_code", None) or getattr(inner, "ag_code", None)
    return code is _traced_iterator.__code__ or code is _traced_async_iterator.__code__


def _instrument(stream: Any, state: StreamState, traced: Any, hook: Any, close_method: str) -> bool:
    inner = getattr(stream, "_iterator", None)
    response = getattr(stream, "response", None)
    if inner is None or response is None:
        return False
    if _traced_already(inner):
        return True
    stream._iterator = traced(inner, state)
    hook(response, close_method, state)
    on_abandon(state, stream)
    return True


def instrument_stream(stream: Any, state: StreamState) -> bool:
    """Instrument an ``openai.Stream`` in place; False if its internals are not what we expect."""
    return _instrument(stream, state, _traced_iterator, _hook_close, "close")


def instrument_async_stream(stream: Any, state: StreamState) -> bool:
    """Instrument an ``openai.AsyncStream`` in place; False if its internals are not what we expect."""
    return _instrument(stream, state, _traced_async_iterator, _hook_async_close, "aclose")
