"""Stream instrumentation that keeps the SDK's own objects: a returned stream is still the same
``openai.Stream`` / ``AsyncStream`` instance, with the same API.

The stream is instrumented in place: its iterator is wrapped, and a weak reference covers streams that are
abandoned (their spans end on a thread of their own: see ``_abandoned``). The ``close`` methods of the stream classes and of the ``.stream()`` helpers' classes are wrapped
once, when instrumenting (``stream_closed``): a stream costs nothing for them, and the SDK's iterator closing
its HTTP response as it ends does not go through them. Whichever comes first ends the span, exactly once. No
context is attached across ``yield``, so nothing is ever detached in the wrong task.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import queue
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Protocol

from opentelemetry.context import Context
from opentelemetry.trace import Span

from llmtel.genai.emit import GenAITelemetry
from llmtel.genai.record import GenAICall
from llmtel.instrumentation.openai.extract import (
    apply_error,
    chat_usage,
    chunk_ids,
    summarise_chunks,
    unset_null_usage,
)
from llmtel.instrumentation.patching import Hook

_logger = logging.getLogger("llmtel.instrumentation.openai")


class Accumulator(Protocol):
    """What a stream's items are folded into one by one (Responses events; chat chunks when their content is
    captured or their arrival timed). It keeps its own counters and writes the call when the stream closes; the
    traced iterator counts the items it gives the caller into ``count``."""

    count: int

    def add(self, item: Any) -> bool:
        """Fold one item in; False when it must be hidden from the caller."""
        ...

    def unreadable(self) -> None:
        """Note an item that could not be read (it is passed to the caller unchanged, and counted)."""
        ...

    def close(self, completed: bool) -> None:
        """Write what the stream amounted to into the call."""
        ...


class StreamState:
    """The span of one streamed call (or of a raw response not read yet) and everything needed to end it exactly
    once. Subclasses write what the stream amounted to into the call (``summarise``); this one has nothing to add."""

    __slots__ = ("_open", "_watch", "call", "context", "span", "telemetry")

    def __init__(self, telemetry: GenAITelemetry, call: GenAICall, span: Span, context: Context | None = None) -> None:
        self.telemetry = telemetry
        self.call = call
        self.span = span
        self.context = context  # the span's context, for the metric points recorded when the stream ends
        self._open = [True]  # popped by the one finish that ends the span: ``list.pop`` is atomic
        self._watch: weakref.ref[Any] | None = None  # see ``on_abandon``

    def finish(self, end: str, error: BaseException | None = None) -> None:
        """End the span with what was received so far. Safe to call from any thread, any number of times."""
        try:
            self._open.pop()
        except IndexError:
            return
        self._end(end, error)

    def _end(self, end: str, error: BaseException | None) -> None:
        """What ``finish`` does once the span is this caller's to end."""
        self.unwatch()  # its object's collection has nothing left to end
        try:
            self.call.stream_end = end
            self.summarise(end == "completed")
            if error is not None and isinstance(error, Exception):  # not a KeyboardInterrupt and the like
                apply_error(self.call, error)  # the stream broke: failure mode and hint, as for a failed call
        except Exception:  # noqa: BLE001
            _log_once("close", "llmtel: could not summarise a stream")
        self.telemetry.finish(self.call, self.span, error, self.context)

    def unwatch(self) -> None:
        """Stop watching for the collection of the object ``on_abandon`` watches (it ended, or another object
        stands for the call now: the stream a raw response was parsed into)."""
        _watched.discard(self._watch)
        self._watch = None

    def summarise(self, completed: bool) -> None:
        """Write what the stream amounted to into the call (``completed``: it was read to its end)."""

    def unreadable(self) -> None:
        """An item could not be read; it is passed on unchanged, and counted."""

    def _collected(self, ref: weakref.ref[Any]) -> None:
        """The watched object was garbage-collected before the span ended: the span is claimed here, and ended as
        abandoned on the ending thread (see ``_abandoned``). The iterator's own close, which the collection may
        run next, then ends nothing."""
        _watched.discard(ref)
        try:
            self._open.pop()
        except IndexError:
            return
        _abandoned.put(self)


class AccumulatedStream(StreamState):
    """A stream whose items an ``Accumulator`` folds in, one call per item."""

    __slots__ = ("accumulator",)

    def __init__(
        self, telemetry: GenAITelemetry, call: GenAICall, span: Span, accumulator: Accumulator,
        context: Context | None = None,
    ) -> None:
        StreamState.__init__(self, telemetry, call, span, context)
        self.accumulator = accumulator

    def summarise(self, completed: bool) -> None:
        self.accumulator.close(completed)

    def unreadable(self) -> None:
        self.accumulator.unreadable()


class ChunkStream(StreamState):
    """A Chat Completions (or legacy Completions) stream whose chunks ``_traced_chunks`` folds inline, keeping
    here what the span needs of them: the chunk count, whether the response's ids are still to be read, the
    highest choice index seen and the finish reasons. Usage is read into the call as it arrives.

    One object per stream, read and written by the traced iterator itself: a typical chunk (one choice, no
    finish reason yet) costs four attribute reads and calls nothing."""

    __slots__ = ("count", "hide_usage_chunk", "pending", "reasons", "top")

    def __init__(
        self, telemetry: GenAITelemetry, call: GenAICall, span: Span, context: Context | None = None,
        hide_usage_chunk: bool = False,
    ) -> None:
        # The base class's fields, set here rather than through a second ``__init__`` call: one runs per stream.
        self.telemetry, self.call, self.span, self.context = telemetry, call, span, context
        self._open = [True]
        self._watch = None
        self.count = 0  # the chunks the caller is given
        self.pending = True  # until a chunk with an id and a choice has been read
        self.top = -1  # the highest choice index seen (see ``extract.summarise_chunks``)
        self.reasons: dict[int, str] = {}  # choice index -> finish reason
        self.hide_usage_chunk = hide_usage_chunk  # the usage chunk was asked for by llmtel, not the caller

    # The count, finish reasons and usage source into the call: ``extract``'s pure function is the method itself
    # (no call in between: it runs once per stream).
    summarise = summarise_chunks


# Weak references to the objects whose collection ends a span as "abandoned". The set keeps each reference
# alive until its object dies or the span ends otherwise (a weakref that dies first never calls back). Like
# ``weakref.finalize(...).atexit = False``, nothing runs at interpreter exit, when the telemetry pipeline is
# already shut down; cheaper per stream than ``finalize``.
_watched: set[weakref.ref[Any] | None] = set()
atexit.register(_watched.clear)

# The spans of abandoned streams end on a thread of their own. A weakref callback runs wherever the garbage
# collector happened to start, which may be inside a lock that ending a span takes (the SDK's metric aggregation, a
# run's totals, logging): ended there, it would wait on itself. ``SimpleQueue.put`` is safe in that place (it is
# made for weakref callbacks), and the thread does the rest. Started with the first watched stream; a forked child
# starts its own.
_abandoned: queue.SimpleQueue[StreamState | threading.Event] = queue.SimpleQueue()
_ender: threading.Thread | None = None


def _end_abandoned(pending: queue.SimpleQueue[StreamState | threading.Event]) -> None:
    while True:
        item = pending.get()
        if isinstance(item, threading.Event):  # ``settle_abandoned``: everything queued before it has ended
            item.set()
            continue
        try:
            item._end("abandoned", None)
        except Exception:  # noqa: BLE001 - the thread must go on for the next stream
            _log_once("abandoned", "llmtel: could not end the span of an abandoned stream")


def _start_ender() -> None:
    global _ender
    thread = threading.Thread(target=_end_abandoned, args=(_abandoned,), name="llmtel-abandoned-streams",
                              daemon=True)
    thread.start()
    _ender = thread


def _after_fork() -> None:
    global _abandoned, _ender
    _abandoned, _ender = queue.SimpleQueue(), None  # the parent's thread did not come along


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


def settle_abandoned(timeout: float = 5.0) -> bool:
    """Wait until the spans of the streams abandoned so far have ended; False if ``timeout`` seconds passed first.
    (Run ``gc.collect()`` first for streams in reference cycles.)"""
    if _ender is None:
        return True
    done = threading.Event()
    _abandoned.put(done)
    return done.wait(timeout)


def on_abandon(state: StreamState, target: Any) -> None:
    """End ``state``'s span as abandoned when ``target`` is garbage-collected before the span ended."""
    if _ender is None:
        _start_ender()
    state._watch = ref = weakref.ref(target, state._collected)
    _watched.add(ref)


_logged: set[str] = set()


def _log_once(key: str, message: str) -> None:
    if key not in _logged:
        _logged.add(key)
        _logger.warning(message, exc_info=True)


def _ended(state: StreamState, error: BaseException, inner_close: Any = None) -> None:
    """A traced iterator stopped early: closed (``break``, ``close()``, collection), cancelled, or broken."""
    if isinstance(error, GeneratorExit):
        if inner_close is not None:
            inner_close()
        state.finish("closed")
    elif isinstance(error, asyncio.CancelledError):
        state.finish("cancelled")
    else:
        state.finish("error", error)


def _unreadable(state: StreamState) -> None:
    """An item the fold raised on: logged once and counted; the caller gets it unchanged."""
    _log_once("chunk", "llmtel: could not read a stream chunk; the span keeps what was read before")
    state.unreadable()


def _traced_iterator(inner: Iterator[Any], state: AccumulatedStream) -> Iterator[Any]:
    """Passes ``inner``'s items on, folding each into the state's accumulator with its ``add``."""
    accumulator = state.accumulator
    add = accumulator.add  # bound once: the loop runs for every item
    try:
        for item in inner:
            try:
                if not add(item):
                    continue
            except Exception:  # noqa: BLE001 - a malformed item must not break the caller's stream
                _unreadable(state)
            accumulator.count += 1
            yield item
    except BaseException as error:
        _ended(state, error, getattr(inner, "close", None))
        raise
    state.finish("completed")


def _traced_chunks(inner: Iterator[Any], state: ChunkStream) -> Iterator[Any]:
    """Passes Chat Completions (or legacy Completions) chunks on, folding them inline into ``state``: it runs for
    every chunk, and a method call per chunk would cost a third as much again.

    The fold: ``extract.chunk_ids`` while the ids are pending, the usage where a chunk has it (the usage-only
    chunk llmtel asked for is hidden), and each finish reason. A choice's index is learned from the first chunk
    with choices and from its finish reason."""
    call = state.call
    try:
        for chunk in inner:
            try:
                if state.pending:  # the ids: the first chunk, and any after it until one has an id and a choice
                    chunk_ids(state, chunk)
                if chunk.usage is not None:
                    chat_usage(call, chunk.usage, "stream_usage_chunk")
                    if state.hide_usage_chunk and not chunk.choices:  # not e.g. Azure's prompt-filter chunk
                        continue  # the usage-only chunk llmtel asked for: hidden from the caller
                elif state.hide_usage_chunk:
                    unset_null_usage(chunk)  # and the ``usage: null`` it brought to every other chunk
                for choice in chunk.choices or ():
                    if choice.finish_reason is not None:
                        index = choice.index
                        if index > state.top:
                            state.top = index
                        state.reasons[index] = choice.finish_reason
            except Exception:  # noqa: BLE001 - a malformed chunk must not break the caller's stream
                _unreadable(state)
            state.count += 1
            yield chunk
    except BaseException as error:
        _ended(state, error, getattr(inner, "close", None))
        raise
    state.finish("completed")


async def _traced_async_iterator(inner: AsyncIterator[Any], state: AccumulatedStream) -> AsyncIterator[Any]:
    """``_traced_iterator`` for async streams."""
    accumulator = state.accumulator
    add = accumulator.add
    try:
        async for item in inner:
            try:
                if not add(item):
                    continue
            except Exception:  # noqa: BLE001
                _unreadable(state)
            accumulator.count += 1
            yield item
    except BaseException as error:
        _ended(state, error)
        raise
    state.finish("completed")


async def _traced_async_chunks(inner: AsyncIterator[Any], state: ChunkStream) -> AsyncIterator[Any]:
    """``_traced_chunks`` for async streams."""
    call = state.call
    try:
        async for chunk in inner:
            try:
                if state.pending:
                    chunk_ids(state, chunk)
                if chunk.usage is not None:
                    chat_usage(call, chunk.usage, "stream_usage_chunk")
                    if state.hide_usage_chunk and not chunk.choices:
                        continue
                elif state.hide_usage_chunk:
                    unset_null_usage(chunk)
                for choice in chunk.choices or ():
                    if choice.finish_reason is not None:
                        index = choice.index
                        if index > state.top:
                            state.top = index
                        state.reasons[index] = choice.finish_reason
            except Exception:  # noqa: BLE001
                _unreadable(state)
            state.count += 1
            yield chunk
    except BaseException as error:
        _ended(state, error)
        raise
    state.finish("completed")


_TRACED_CODES = (_traced_chunks.__code__, _traced_async_chunks.__code__, _traced_iterator.__code__,
                 _traced_async_iterator.__code__)


def stream_closed(stream: Any, error: BaseException | None = None) -> None:
    """The caller closed ``stream`` (an ``openai.Stream`` / ``AsyncStream``, also from a helper around it): end
    its span as closed, or as failed with the ``error`` its helper raised on a chunk, unless the span has ended.
    Called by the wrapped ``close`` methods; never raises.

    The span is found through the stream's traced iterator, whose frame holds it: nothing is stored on the
    stream for this, so a stream costs nothing for the close it may never get."""
    try:
        reader = getattr(stream, "_iterator", None)
        if (getattr(reader, "gi_code", None) or getattr(reader, "ag_code", None)) not in _TRACED_CODES:
            return  # not traced
        frame = getattr(reader, "gi_frame", None) or getattr(reader, "ag_frame", None)
        if frame is None:  # the iteration is over: it ended the span
            return
        state = frame.f_locals.get("state")
        if isinstance(state, StreamState):
            if error is None:
                state.finish("closed")
            else:
                state.finish("error", error)
    except Exception:  # noqa: BLE001
        _log_once("hook", "llmtel: could not end the span of a closed stream; it ends when the stream is collected")


def _own(stream: Any) -> Any:
    return stream


def _raw_stream(helper: Any) -> Any:
    return getattr(helper, "_raw_stream", None)


# The ``.stream()`` helpers raise from their own code, on an item our iterator has just handed them: the chat
# helper, given a response format or strict tools to parse into, ``LengthFinishReasonError`` /
# ``ContentFilterFinishReasonError`` on the finish chunk, as ``parse()`` does on the same reply; the Responses helper,
# given a ``text_format``, the validation error of an answer that does not fit it; either, on a malformed item,
# whatever its reading raises. Our iterator never sees these. The helpers' item handlers are wrapped to note the
# error here, under the helper's state object, and the helper's ``close`` (which its ``with`` block always calls)
# ends the span as failed with it, whether or not the app caught the error. Entries go with their state objects.
_chunk_errors: weakref.WeakKeyDictionary[Any, BaseException] = weakref.WeakKeyDictionary()


def chunk_error_hook() -> Hook:
    """The hook for a helper state's item handler (``handle_chunk``, ``handle_event``): the item is handled as it
    would be, and an error it raises is noted for the helper's ``close``."""

    def handle_item(original: Callable[..., Any], owner: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        try:
            return original(owner, *args, **kwargs)
        except Exception as error:
            try:
                _chunk_errors[owner] = error
            except TypeError:  # a state object without weak references: the span ends as closed
                pass
            raise

    return handle_item


def _chunk_error_of(helper: Any) -> BaseException | None:
    try:
        return _chunk_errors.pop(helper._state, None)
    except Exception:  # noqa: BLE001 - not a helper as we know it
        return None


def close_hooks(stream_of: Callable[[Any], Any]) -> tuple[Hook, Hook]:
    """The (sync, async) hooks for the ``close`` method of a class whose instances' stream ``stream_of`` returns:
    the close runs as it would, then ``stream_closed`` ends the stream's span (as failed when a helper raised on a
    chunk)."""
    helper = stream_of is _raw_stream

    def close(original: Callable[..., Any], owner: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        try:
            return original(owner, *args, **kwargs)
        finally:
            stream_closed(stream_of(owner), _chunk_error_of(owner) if helper else None)

    async def aclose(original: Callable[..., Any], owner: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        try:
            return await original(owner, *args, **kwargs)
        finally:
            stream_closed(stream_of(owner), _chunk_error_of(owner) if helper else None)

    return close, aclose


# The classes whose ``close`` ends a stream's span: (module, class, async, how to reach the stream). The
# ``.stream()`` helpers close the HTTP response themselves, not the stream they wrap; an SDK without one skips it.
CLOSING_CLASSES: tuple[tuple[str, str, bool, Callable[[Any], Any]], ...] = (
    ("openai", "Stream", False, _own),
    ("openai", "AsyncStream", True, _own),
    ("openai.lib.streaming.chat", "ChatCompletionStream", False, _raw_stream),
    ("openai.lib.streaming.chat", "AsyncChatCompletionStream", True, _raw_stream),
    ("openai.lib.streaming.responses", "ResponseStream", False, _raw_stream),
    ("openai.lib.streaming.responses", "AsyncResponseStream", True, _raw_stream),
)


def instrument_stream(stream: Any, state: ChunkStream | AccumulatedStream) -> bool:
    """Instrument an ``openai.Stream`` in place; False if its internals are not what we expect."""
    inner = getattr(stream, "_iterator", None)
    if inner is None:
        return False
    if getattr(inner, "gi_code", None) not in _TRACED_CODES:  # ``APIResponse.parse()`` returns its stream again
        traced = _traced_chunks if type(state) is ChunkStream else _traced_iterator
        stream._iterator = traced(inner, state)  # type: ignore[arg-type]
        if _ender is None:  # ``on_abandon``, inline: once per stream
            _start_ender()
        state._watch = ref = weakref.ref(stream, state._collected)
        _watched.add(ref)
    return True


def instrument_async_stream(stream: Any, state: ChunkStream | AccumulatedStream) -> bool:
    """Instrument an ``openai.AsyncStream`` in place; False if its internals are not what we expect."""
    inner = getattr(stream, "_iterator", None)
    if inner is None:
        return False
    if getattr(inner, "ag_code", None) not in _TRACED_CODES:
        traced = _traced_async_chunks if type(state) is ChunkStream else _traced_async_iterator
        stream._iterator = traced(inner, state)  # type: ignore[arg-type]
        if _ender is None:  # ``on_abandon``, inline: once per stream
            _start_ender()
        state._watch = ref = weakref.ref(stream, state._collected)
        _watched.add(ref)
    return True
