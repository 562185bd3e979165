"""Stream instrumentation that keeps the SDK's own objects: a returned stream is still the same
``openai.Stream`` / ``AsyncStream`` instance, with the same API.

The stream is instrumented in place: its iterator is wrapped, its HTTP response's ``close`` is hooked (the
SDK's ``close()``, ``with`` exit and the ``.stream()`` helpers all close the response), and a weak
reference covers streams that are abandoned. Whichever comes first ends the span, exactly once. No context is
attached across ``yield``, so nothing is ever detached in the wrong task.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import sys
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
    """Folds a stream's items into its call, one at a time: the per-item work of a stream, so it keeps its
    own counters and touches the call only at the edges (first item, usage, close)."""

    def add(self, item: Any) -> bool:
        """Fold one item in; False when it must be hidden from the caller (the usage chunk llmtel asked for)."""
        ...

    def unreadable(self) -> None:
        """Count an item ``add`` raised on (it is passed to the caller unchanged)."""
        ...

    def close(self, completed: bool) -> None:
        """Write what the stream amounted to into the call."""
        ...


class StreamState:
    """The span of one streamed call and everything needed to end it exactly once."""

    __slots__ = ("_open", "_watch", "accumulator", "call", "context", "span", "telemetry")

    def __init__(
        self,
        telemetry: GenAITelemetry,
        call: GenAICall,
        span: Span,
        accumulator: Accumulator,
        context: Context | None = None,
    ) -> None:
        self.telemetry = telemetry
        self.call = call
        self.span = span
        self.accumulator = accumulator
        self.context = context  # the span's context, for the metric points recorded when the stream ends
        self._open = [True]  # popped by the one finish that ends the span: ``list.pop`` is atomic
        self._watch: weakref.ref[Any] | None = None  # see ``on_abandon``

    def finish(self, end: str, error: BaseException | None = None) -> None:
        """End the span with what was received so far. Safe to call from any thread, any number of times."""
        try:
            self._open.pop()
        except IndexError:
            return
        _watched.discard(self._watch)  # dropped: its object's collection has nothing left to end
        self._watch = None
        try:
            self.call.stream_end = end
            self.accumulator.close(end == "completed")
            if error is not None and isinstance(error, Exception):  # not a KeyboardInterrupt and the like
                apply_error(self.call, error)  # the stream broke: failure mode and hint, as for a failed call
        except Exception:  # noqa: BLE001
            _log_once("close", "llmtel: could not summarise a stream")
        self.telemetry.finish(self.call, self.span, error, self.context)

    def _collected(self, ref: weakref.ref[Any]) -> None:
        _watched.discard(ref)  # not always ``_watch``: a raw response and the stream parsed from it are both watched
        self.finish("abandoned")


# Weak references to the objects whose collection ends a span as "abandoned". The set keeps each reference
# alive until its object dies or the span ends otherwise (a weakref that dies first never calls back). Like
# ``weakref.finalize(...).atexit = False``, nothing runs at interpreter exit, when the telemetry pipeline is
# already shut down; cheaper per stream than ``finalize``.
_watched: set[weakref.ref[Any] | None] = set()
atexit.register(_watched.clear)


def on_abandon(state: StreamState, target: Any) -> None:
    """End ``state``'s span as abandoned when ``target`` is garbage-collected before the span ended."""
    state._watch = ref = weakref.ref(target, state._collected)
    _watched.add(ref)


_logged: set[str] = set()


def _log_once(key: str, message: str) -> None:
    if key not in _logged:
        _logged.add(key)
        _logger.warning(message, exc_info=True)


def _unreadable(state: StreamState) -> None:
    """An item the accumulator raised on: logged once and counted; the caller gets it unchanged."""
    _log_once("chunk", "llmtel: could not read a stream chunk; the span keeps what was read before")
    state.accumulator.unreadable()


def _traced_iterator(inner: Iterator[Any], state: StreamState) -> Iterator[Any]:
    add = state.accumulator.add  # bound once: the loop runs for every chunk, and touches nothing else of ours
    try:
        for item in inner:
            try:
                if not add(item):
                    continue
            except Exception:  # noqa: BLE001 - a malformed chunk must not break the caller's stream
                _unreadable(state)
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
    state.finish("completed")


async def _traced_async_iterator(inner: AsyncIterator[Any], state: StreamState) -> AsyncIterator[Any]:
    add = state.accumulator.add
    try:
        async for item in inner:
            try:
                if not add(item):
                    continue
            except Exception:  # noqa: BLE001
                _unreadable(state)
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
    state.finish("completed")


_TRACED_CODES = (_traced_iterator.__code__, _traced_async_iterator.__code__)


def _closed(state: StreamState) -> None:
    """The stream's response was closed (called by the hooked close, never raises into it).

    Unless the close comes from inside ``state``'s own traced iteration, on this thread or asyncio task (the
    SDK's iterator closing its response as it ends, an outcome the iteration records itself), it is the
    caller's: the span ends as closed. Walks the stack once per close, so reading a chunk costs nothing for it."""
    try:
        if not state._open:  # already ended (closed after being read to the end, as ``with`` does)
            return
        frame: Any = sys._getframe(2)  # the hooked close's caller
        while frame is not None:
            if frame.f_code in _TRACED_CODES and frame.f_locals.get("state") is state:
                return
            frame = frame.f_back
        state.finish("closed")
    except Exception:  # noqa: BLE001
        _log_once("hook", "llmtel: could not tell who closed a stream; its span ends when the stream does")


def _hook_close(response: Any, state: StreamState) -> None:
    """Make ``response.close()`` end the span too, unless it is the iterator's own clean-up (see ``_closed``).
    A close from another thread, while the stream is being read, is the caller's: it ends the span as closed."""
    original = response.close

    def close(*args: Any, **kwargs: Any) -> Any:
        try:
            return original(*args, **kwargs)
        finally:
            _closed(state)

    response.close = close


def _hook_async_close(response: Any, state: StreamState) -> None:
    original = response.aclose

    async def aclose(*args: Any, **kwargs: Any) -> Any:
        try:
            return await original(*args, **kwargs)
        finally:
            _closed(state)

    response.aclose = aclose


def _instrument(stream: Any, state: StreamState, traced: Any, hook: Any, code_attribute: str) -> bool:
    inner = getattr(stream, "_iterator", None)
    response = getattr(stream, "response", None)
    if inner is None or response is None:
        return False
    if getattr(inner, code_attribute, None) is traced.__code__:  # ``APIResponse.parse()`` returns its stream again
        return True
    stream._iterator = traced(inner, state)
    hook(response, state)
    on_abandon(state, stream)
    return True


def instrument_stream(stream: Any, state: StreamState) -> bool:
    """Instrument an ``openai.Stream`` in place; False if its internals are not what we expect."""
    return _instrument(stream, state, _traced_iterator, _hook_close, "gi_code")


def instrument_async_stream(stream: Any, state: StreamState) -> bool:
    """Instrument an ``openai.AsyncStream`` in place; False if its internals are not what we expect."""
    return _instrument(stream, state, _traced_async_iterator, _hook_async_close, "ag_code")
