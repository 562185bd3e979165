"""Durable export: the application's thread only appends to a bounded queue; encoding, sending, spooling and
replaying happen on two threads per signal, and shutdown returns by its deadline with nothing left in memory.

Path of one item: ``on_end`` / ``on_emit`` appends it to a `BoundedQueue` (O(1); when full the item is
dropped and counted). The `Batcher` thread encodes batches into ``Export*ServiceRequest`` bytes and hands
them to the `DeliveryPipeline`. Its sender thread posts each request once while the collector answers; a
request that fails with a retryable error, or arrives while earlier ones wait on disk, goes to the `Spool`.
The sender replays the spool oldest first with exponential backoff and jitter, and removes a record only
after the collector acknowledged it — so delivery is at-least-once: a crash between the two, or a send
abandoned at shutdown that completes anyway, can send a request twice.
"""

from __future__ import annotations

import logging
import math
import os
import random
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from opentelemetry import context as otel_context
from opentelemetry.sdk._logs import LogRecordProcessor
from opentelemetry.sdk.trace import SpanProcessor

from llmtel.config import Signal, byte_size
from llmtel.export.senders import Outcome, Sender, display_endpoint, redact_endpoints
from llmtel.export.spool import Spool, spool_scope
from llmtel.export.stats import Counters, ExportStats, RateLimitedWarning

_logger = logging.getLogger("llmtel.export")

T = TypeVar("T")


# --- batching settings (the SDK's OTEL_BSP_* / OTEL_BLRP_* variables) ----------------------------------------

# A burst of this many items fits in memory before any is dropped: the encoder thread shares one
# interpreter lock with the application's threads and cannot always keep pace with them.
DEFAULT_MAX_QUEUE_SIZE = 32_768
DEFAULT_BATCH_SIZE = 512
DEFAULT_DELAY = {"traces": 5.0, "logs": 1.0, "metrics": 1.0}
# The largest request a batch is encoded into: the OpenTelemetry Collector's default limit for an OTLP/gRPC message
# (its HTTP limit is larger). A collector answers a larger one with RESOURCE_EXHAUSTED or 413, for good: a batch
# of 512 spans with captured prompts easily exceeds it. Larger batches are split until each request fits.
DEFAULT_MAX_REQUEST_BYTES = 4 * 1024 * 1024
MAX_REQUEST_VARIABLE = "LLMTEL_EXPORT_MAX_REQUEST_BYTES"


@dataclass(frozen=True, slots=True)
class BatchTuning:
    """How items are queued and batched before encoding."""

    max_queue_size: int = DEFAULT_MAX_QUEUE_SIZE
    max_batch_size: int = DEFAULT_BATCH_SIZE
    schedule_delay: float = 5.0  # seconds
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES  # a batch encoding to more is split (one item is sent whole)


def batch_tuning(signal: Signal, environ: Mapping[str, str]) -> BatchTuning:
    """Read ``OTEL_BSP_*`` (traces) or ``OTEL_BLRP_*`` (logs), and ``LLMTEL_EXPORT_MAX_REQUEST_BYTES``;
    ``ValueError`` names a bad variable."""
    prefix = "OTEL_BSP_" if signal == "traces" else "OTEL_BLRP_"

    def number(name: str, default: float) -> float:
        key = prefix + name
        raw = (environ.get(key) or "").strip()
        if not raw:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"{key}: {raw!r} is not a number") from None
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"{key}: must be a positive number, got {raw!r}")
        return value

    queue = int(number("MAX_QUEUE_SIZE", DEFAULT_MAX_QUEUE_SIZE))
    batch = int(number("MAX_EXPORT_BATCH_SIZE", DEFAULT_BATCH_SIZE))
    if batch > queue:
        raise ValueError(f"{prefix}MAX_EXPORT_BATCH_SIZE: {batch} is larger than {prefix}MAX_QUEUE_SIZE ({queue})")
    raw_size = (environ.get(MAX_REQUEST_VARIABLE) or "").strip()
    max_request = byte_size(raw_size, MAX_REQUEST_VARIABLE) if raw_size else DEFAULT_MAX_REQUEST_BYTES
    return BatchTuning(queue, batch, number("SCHEDULE_DELAY", DEFAULT_DELAY[signal] * 1000) / 1000, max_request)


# --- retry pacing ---------------------------------------------------------------------------------------------


class Backoff:
    """Exponential backoff with jitter: the n-th delay is uniform in [base/2, base], base = initial·2ⁿ ≤ maximum."""

    def __init__(self, initial: float = 0.5, maximum: float = 30.0, rng: Callable[[], float] = random.random) -> None:
        self.initial, self.maximum, self._rng = initial, maximum, rng
        self._failures = 0

    def reset(self) -> None:
        self._failures = 0

    def next_delay(self, retry_after: float | None = None) -> float:
        """The wait before the next attempt; a collector's ``Retry-After`` is honoured up to ``maximum``."""
        base = min(self.maximum, self.initial * (2 ** min(self._failures, 30)))
        self._failures += 1
        delay = base / 2 + self._rng() * base / 2
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.maximum))
        return delay


# --- the application-facing queue ----------------------------------------------------------------------------


class BoundedQueue(Generic[T]):
    """A FIFO the application's threads append to without ever waiting; when full, new items are dropped."""

    __slots__ = ("_items", "maxsize", "_wake_at", "wake", "_on_full")

    def __init__(self, maxsize: int, wake_at: int, on_full: Callable[[], None]) -> None:
        self._items: deque[T] = deque()
        self.maxsize = maxsize
        self._wake_at = wake_at
        self.wake = threading.Event()
        self._on_full = on_full

    def offer(self, item: T) -> None:
        """Append ``item`` (O(1), no lock shared with the export threads); drop and count it when full."""
        items = self._items
        if len(items) >= self.maxsize:
            self._on_full()
            return
        items.append(item)
        if len(items) >= self._wake_at and not self.wake.is_set():
            self.wake.set()

    def reset(self) -> None:
        """Empty, with a fresh wake-up event (after a fork)."""
        self._items.clear()
        self.wake = threading.Event()

    def take(self, n: int) -> list[T]:
        items, out = self._items, []
        try:
            for _ in range(n):
                out.append(items.popleft())
        except IndexError:
            pass
        return out

    def __len__(self) -> int:
        return len(self._items)


def _suppressed() -> object:
    """Mark this thread's work as telemetry's own: instrumented HTTP clients and the log bridge skip it."""
    return otel_context.attach(otel_context.set_value(otel_context._SUPPRESS_INSTRUMENTATION_KEY, True))


class Batcher(Generic[T]):
    """The thread that turns queued items into encoded requests, every ``schedule_delay`` or full batch."""

    def __init__(
        self,
        signal: Signal,
        tuning: BatchTuning,
        encode: Callable[[list[T]], bytes],
        counters: Counters,
        warn: RateLimitedWarning,
    ) -> None:
        self.signal = signal
        self.tuning = tuning
        self._encode = encode
        self._counters = counters
        self._warn = warn
        self.queue: BoundedQueue[T] = BoundedQueue(tuning.max_queue_size, tuning.max_batch_size, self._queue_full)
        self._submit: Callable[[bytes, int], None] | None = None
        self._cond = threading.Condition()
        self._flush_requested = 0
        self._flush_done = 0
        self._closing = False
        self._thread = threading.Thread(target=self._run, name=f"llmtel-{signal}-batch", daemon=True)

    def start(self, submit: Callable[[bytes, int], None]) -> None:
        self._submit = submit
        self._thread.start()

    def after_fork(self, counters: Counters) -> None:
        """In a forked child: the queued items are the parent's to send; start empty, on a new thread."""
        self._counters = counters
        self.queue.reset()  # the same object: processors hold its ``offer``
        self._cond = threading.Condition()
        self._flush_requested = self._flush_done = 0
        self._closing = False
        self._thread = threading.Thread(target=self._run, name=f"llmtel-{self.signal}-batch", daemon=True)
        self._thread.start()

    def _queue_full(self) -> None:
        self._counters.drop(1, "queue_full")
        self._warn(
            f"{self.signal}-queue",
            "llmtel: the %s queue is full (%d items); new items are dropped and counted",
            self.signal,
            self.queue.maxsize,
        )

    def _run(self) -> None:
        _suppressed()
        while True:
            self.queue.wake.wait(self.tuning.schedule_delay)
            self.queue.wake.clear()
            with self._cond:
                generation, closing = self._flush_requested, self._closing
            try:
                self.drain()
            except Exception:  # noqa: BLE001 - the thread must survive anything
                _logger.debug("llmtel: %s batching failed", self.signal, exc_info=True)
            with self._cond:
                self._flush_done = max(self._flush_done, generation)
                self._cond.notify_all()
            if closing and not len(self.queue):
                return

    def drain(self, until: float | None = None) -> None:
        """Encode and submit everything queued (until the monotonic time ``until``, if given)."""
        while len(self.queue) and (until is None or time.monotonic() < until):
            self.emit(self.queue.take(self.tuning.max_batch_size))

    def emit(self, batch: list[T]) -> None:
        if not batch:
            return
        try:
            payload = self._encode(batch)
        except Exception:  # noqa: BLE001 - a bad item must not stop the thread, nor cost the others
            kept = [item for item in batch if self._encodes(item)]
            try:
                payload = self._encode(kept) if kept else b""
            except Exception:  # noqa: BLE001 - each encodes alone, not together: drop them all
                kept = []
            self._counters.drop(len(batch) - len(kept), "encode_error")
            self._warn(
                f"{self.signal}-encode",
                "llmtel: could not encode %d of %d %s; those were dropped, the others kept",
                len(batch) - len(kept),
                len(batch),
                self.signal,
                exc_info=True,
            )
            if not kept:
                return
            batch = kept
        if len(payload) > self.tuning.max_request_bytes and len(batch) > 1:  # too large for the collector: halve
            half = len(batch) // 2
            self.emit(batch[:half])
            self.emit(batch[half:])
            return
        assert self._submit is not None
        self._submit(payload, len(batch))

    def _encodes(self, item: T) -> bool:
        try:
            self._encode([item])
        except Exception:  # noqa: BLE001
            return False
        return True

    def flush(self, deadline: float) -> bool:
        """Encode everything queued before this call; False if ``deadline`` came first."""
        with self._cond:
            self._flush_requested += 1
            target = self._flush_requested
            self.queue.wake.set()
            while self._flush_done < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._thread.is_alive():
                    return False
                self._cond.wait(remaining)
        return True

    def close(self, deadline: float) -> None:
        """Finish encoding by ``deadline``; what is left stays queued for `drain` by the caller."""
        with self._cond:
            self._closing = True
            self._flush_requested += 1
        self.queue.wake.set()
        if self._thread.is_alive():
            self._thread.join(max(0.0, deadline - time.monotonic()))


# --- sending, spooling, replaying ----------------------------------------------------------------------------


@dataclass(slots=True)
class _Job:
    payload: bytes
    items: int


class DeliveryPipeline:
    """Delivers one signal's encoded requests: directly while the collector answers, through the spool when not.

    Never blocks its callers on the network. `shutdown` returns by its deadline, spooling whatever it
    could not send; the next process of the same scope (`spool_scope`: the same destination, and where
    unrelated programs may share the directory, the same program) sends it. ``endpoint`` is only shown,
    without credentials (`display_endpoint`).
    """

    def __init__(
        self,
        signal: Signal,
        sender: Sender,
        spool: Spool | None,
        *,
        endpoint: str = "",
        attempt_timeout: float = 10.0,
        shutdown_timeout: float = 2.0,
        backoff: Backoff | None = None,
        adopt_interval: float = 30.0,
        outbox_size: int = 4,
        counters: Counters | None = None,
        warn: RateLimitedWarning | None = None,
        reopen: Callable[[Counters], tuple[Sender, Spool | None]] | None = None,
    ) -> None:
        self.signal = signal
        self.endpoint = display_endpoint(endpoint) if endpoint else endpoint
        self.destination = getattr(sender, "destination", None) or endpoint
        self.counters = counters or Counters()
        self.warn = warn or RateLimitedWarning()
        self.spool = self._scoped(spool)
        self._sender = sender
        self._other_segments_told = False
        self._attempt_timeout = attempt_timeout
        self.shutdown_timeout = shutdown_timeout
        self._backoff = backoff or Backoff()
        self._adopt_interval = adopt_interval
        self._outbox_size = outbox_size
        self._batchers: list[Batcher[Any]] = []
        self._cond = threading.Condition()
        self._outbox: deque[_Job] = deque()
        self._inflight: _Job | None = None
        self._busy = True  # until the sender thread has done its first round (adopting orphans)
        self._down = False
        self._next_attempt = 0.0
        self._stop_sending_at: float | None = None  # set by shutdown
        self._closed = False
        self._shutdown_end: float | None = None
        self._finished = False
        self._result = True
        self._warned_rejected = False
        self._reopen = reopen
        self._started = False
        self._thread = threading.Thread(target=self._run, name=f"llmtel-{signal}-send", daemon=True)

    # -- wiring ------------------------------------------------------------------------------------------

    def attach(self, batcher: Batcher[Any]) -> None:
        """Feed ``batcher``'s encoded requests into this pipeline (before `start`)."""
        self._batchers.append(batcher)

    def start(self) -> DeliveryPipeline:
        self._thread.start()
        for batcher in self._batchers:
            batcher.start(self.submit)
        self._started = True
        _FORK_AWARE.add(self)
        return self

    def _after_fork_in_child(self) -> None:
        """A forked child keeps the pipeline working with its own spool, sender and threads.

        Whatever the parent had queued, in flight or spooled stays the parent's: sending it here too would
        duplicate it. The inherited spool files and lock stay untouched (closing our copies of the
        descriptors does not release the parent's lock).
        """
        if not self._started or self._shutdown_end is not None or self._reopen is None:
            return
        if self.spool is not None:
            self.spool.forget_after_fork()
        self.counters = Counters()
        self.warn.after_fork()
        self._cond = threading.Condition()
        self._outbox.clear()
        self._inflight = None
        self._busy = True
        self._down = False
        self._next_attempt = 0.0
        self._sender, spool = self._reopen(self.counters)
        self.spool = self._scoped(spool)
        self._thread = threading.Thread(target=self._run, name=f"llmtel-{self.signal}-send", daemon=True)
        self._thread.start()
        for batcher in self._batchers:
            batcher.after_fork(self.counters)

    def _scoped(self, spool: Spool | None) -> Spool | None:
        """``spool`` narrowed to this pipeline's scope, so that only this app's requests to this destination
        are replayed from it; None (with a warning) if that cannot be set up."""
        if spool is None or spool.scope is not None:
            return spool
        scope, about = spool_scope(spool.directory, self.destination, self.endpoint)
        try:
            return spool.scoped(scope, about)
        except OSError as error:
            spool.close()
            _logger.warning(
                "llmtel: cannot use %s as the %s spool (%s); undeliverable %s will be dropped",
                spool.directory,
                self.signal,
                error,
                self.signal,
            )
            return None

    def stats(self) -> ExportStats:
        spool = self.spool
        return self.counters.snapshot(
            queued=sum(len(b.queue) for b in self._batchers) + sum(j.items for j in list(self._outbox)),
            spool_items=spool.items if spool is not None else 0,
            spool_bytes=spool.bytes if spool is not None else 0,
        )

    # -- intake ------------------------------------------------------------------------------------------

    def submit(self, payload: bytes, items: int) -> None:
        """Take one encoded request: queue it for sending, or spool it when sending cannot happen now."""
        with self._cond:
            direct = not self._closed and not self._down and not self._spooled_items()
            if direct and len(self._outbox) < self._outbox_size:
                self._outbox.append(_Job(payload, items))
                self._cond.notify_all()
                return
        self._keep(_Job(payload, items))

    def _spooled_items(self) -> int:
        return self.spool.items if self.spool is not None else 0

    def _keep(self, job: _Job) -> None:
        if self.spool is None:
            self.counters.drop(job.items, "no_spool")
            return
        try:
            kept = self.spool.append(job.items, job.payload)
        except Exception:  # noqa: BLE001 - counted, never raised into a caller
            _logger.debug("llmtel: spooling %s failed", self.signal, exc_info=True)
            self.counters.drop(job.items, "spool_error")
            return
        if kept:
            self.counters.add("spooled", job.items)
            if not self._down:
                self.warn(
                    f"{self.signal}-overflow",
                    "llmtel: %s arrive faster than %s takes them; the excess waits in the spool at %s",
                    self.signal,
                    self.endpoint,
                    self.spool.directory,
                )

    # -- the sender thread -------------------------------------------------------------------------------

    def _run(self) -> None:
        _suppressed()
        next_adopt = 0.0
        while True:
            with self._cond:
                self._busy = False
                self._cond.notify_all()
                while True:
                    if self._closed:
                        return
                    now = time.monotonic()
                    action, job = self._next_action(now, next_adopt)
                    if action:
                        break
                    self._cond.wait(self._idle_wait(now, next_adopt))
                self._busy = True
                if action == "send":
                    self._inflight = job
            try:
                if action == "adopt":
                    next_adopt = time.monotonic() + self._adopt_interval
                    self._adopt()
                elif action == "spool":
                    assert job is not None
                    self._keep(job)
                elif action == "send":
                    assert job is not None
                    self._send_direct(job)
                else:
                    self._replay_one()
            except Exception:  # noqa: BLE001 - the thread must survive anything
                _logger.debug("llmtel: %s export step failed", self.signal, exc_info=True)

    def _next_action(self, now: float, next_adopt: float) -> tuple[str, _Job | None]:
        can_try = now >= self._next_attempt and (self._stop_sending_at is None or now < self._stop_sending_at)
        if self._outbox:
            job = self._outbox.popleft()
            if self._down or self._spooled_items() or not can_try:
                return "spool", job
            return "send", job
        if self.spool is not None and self.spool.items and can_try:
            return "replay", None
        if self.spool is not None and now >= next_adopt and self._stop_sending_at is None:
            return "adopt", None
        return "", None

    def _idle_wait(self, now: float, next_adopt: float) -> float:
        wake = next_adopt
        if self.spool is not None and self.spool.items:
            wake = min(wake, self._next_attempt)
        if self._stop_sending_at is not None:
            wake = min(wake, self._stop_sending_at)
        return min(max(0.001, wake - now), 30.0)

    def _attempt_budget(self) -> float:
        if self._stop_sending_at is None:
            return self._attempt_timeout
        return min(self._attempt_timeout, self._stop_sending_at - time.monotonic())

    def _send(self, payload: bytes, budget: float) -> Outcome:
        try:
            return self._sender.send(payload, budget)
        except Exception as error:  # noqa: BLE001 - a sender bug is a failed attempt, not a dead thread
            return Outcome("retry", f"{type(error).__name__}: {error}")

    def _send_direct(self, job: _Job) -> None:
        budget = self._attempt_budget()
        outcome = self._send(job.payload, budget) if budget > 0 else Outcome("retry", "shutting down")
        with self._cond:
            if self._inflight is not job:  # shutdown salvaged it into the spool meanwhile
                return
            self._inflight = None
        if outcome.delivered:
            self.counters.add("exported", job.items)
            self._went_up()
        elif outcome.kind == "rejected":
            self._rejected(job.items, outcome)
        else:
            self._went_down(outcome)
            self._keep(job)

    def _replay_one(self) -> None:
        assert self.spool is not None
        record = self.spool.peek()
        if record is None:
            return
        budget = self._attempt_budget()
        if budget <= 0:
            self.spool.release(record)
            return
        outcome = self._send(record.payload, budget)
        if outcome.delivered:
            self.spool.ack(record)
            self.counters.add("replayed", record.items)
            self._went_up()
            if not self.spool.items:
                self.warn(
                    f"{self.signal}-drained",
                    "llmtel: the %s spool is drained: everything in it was delivered to %s",
                    self.signal,
                    self.endpoint,
                )
        elif outcome.kind == "rejected":
            self.spool.discard(record, "rejected")
            self._log_rejected(record.items, outcome)
        else:
            self.spool.release(record)
            self._went_down(outcome)

    def _went_up(self) -> None:
        with self._cond:
            if self._down:
                self._down = False
            self._backoff.reset()
            self._next_attempt = 0.0

    def _went_down(self, outcome: Outcome) -> None:
        with self._cond:
            self._down = True
            self._next_attempt = time.monotonic() + self._backoff.next_delay(outcome.retry_after)
        where = f"keeping them in the spool at {self.spool.directory}" if self.spool is not None else "dropping them"
        self.warn(
            f"{self.signal}-down",
            "llmtel: %s cannot be delivered to %s right now (%s); %s until it answers",
            self.signal,
            self.endpoint,
            redact_endpoints(outcome.detail),
            where,
        )

    def _rejected(self, items: int, outcome: Outcome) -> None:
        self.counters.drop(items, "rejected")
        self._log_rejected(items, outcome)

    def _log_rejected(self, items: int, outcome: Outcome) -> None:
        if not self._warned_rejected:
            self._warned_rejected = True
            _logger.warning(
                "llmtel: %s rejected %d %s (%s); rejected requests are dropped, not retried",
                self.endpoint,
                items,
                self.signal,
                redact_endpoints(outcome.detail),
            )

    def _adopt(self) -> None:
        assert self.spool is not None
        try:
            if not self._other_segments_told:
                self._other_segments_told = True
                self._tell_other_segments()
            adopted = self.spool.adopt_orphans()
        except OSError:
            _logger.debug("llmtel: adopting orphaned spool segments failed", exc_info=True)
            return
        if adopted:
            _logger.info("llmtel: %d %s left by an earlier process will be sent from the spool", adopted, self.signal)

    def _tell_other_segments(self) -> None:
        """Say once that spooled requests this pipeline will not send are on disk: unscoped ones (written by an
        llmtel version that did not record their destination), and this program's for other destinations."""
        assert self.spool is not None
        others = self.spool.other_segments()
        if others.unscoped:
            _logger.warning(
                "llmtel: %d %s spool segment(s) in %s were written by an earlier llmtel version, which did not "
                "record where they were going; they are left there, not sent (delete them if not needed)",
                others.unscoped,
                self.signal,
                self.spool.directory,
            )
        for where, count in sorted(others.elsewhere.items()):
            _logger.warning(
                "llmtel: %d %s spool segment(s) in %s are for %s, not %s; they are left there for a process "
                "sending there (delete them if none will)",
                count,
                self.signal,
                self.spool.directory,
                where,
                self.endpoint,
            )

    # -- flush and shutdown ------------------------------------------------------------------------------

    def flush(self, timeout: float) -> bool:
        """Send everything received so far; False if some of it could not be delivered within ``timeout``."""
        deadline = time.monotonic() + max(0.0, timeout)
        for batcher in self._batchers:
            if not batcher.flush(deadline):
                return False
        with self._cond:
            while True:
                settled = not self._outbox and self._inflight is None and not self._busy
                if settled and (self._down or not self._spooled_items()):
                    return not self._down and not self._spooled_items()
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closed:
                    return False
                self._cond.wait(remaining)

    def shutdown(self, timeout: float | None = None) -> bool:
        """Deliver what can be delivered quickly, spool the rest, stop; returns within ``timeout`` seconds.

        True when nothing was lost (everything was delivered or is in the spool). A second call (even
        concurrent) can only shorten the deadline, and waits for the first.
        """
        budget = self.shutdown_timeout if timeout is None else max(0.0, timeout)
        end = time.monotonic() + budget
        with self._cond:
            if self._shutdown_end is not None:
                self._shutdown_end = min(self._shutdown_end, end)
                if self._stop_sending_at is not None:
                    self._stop_sending_at = min(self._stop_sending_at, end - _margin(budget))
                self._cond.notify_all()
                while not self._finished and time.monotonic() < end:
                    self._cond.wait(end - time.monotonic())
                return self._result and self._finished
            self._shutdown_end = end
            self._stop_sending_at = end - _margin(budget)
            dropped_before = self.counters.snapshot(queued=0, spool_items=0, spool_bytes=0).dropped
            self._cond.notify_all()
        for batcher in self._batchers:
            batcher.close(self._stop_sending_at)
        with self._cond:
            while (
                self._outbox or self._inflight is not None or self._busy
            ) and time.monotonic() < self._stop_sending_at:
                self._cond.wait(max(0.001, self._stop_sending_at - time.monotonic()))
            self._closed = True
            salvage = list(self._outbox)
            self._outbox.clear()
            if self._inflight is not None:
                salvage.append(self._inflight)
                self._inflight = None
            self._cond.notify_all()
        for batcher in self._batchers:  # items the batcher thread did not get to: encode them here
            batcher.drain()
        for job in salvage:
            self._keep(job)
        if self.spool is not None:
            self.spool.sync()
            kept = self.spool.items
            self.spool.close()
            if kept:
                _logger.warning(
                    "llmtel: %d %s kept in the spool at %s; the next process of this app exporting to %s "
                    "will send them",
                    kept,
                    self.signal,
                    self.spool.directory,
                    self.endpoint,
                )
        try:
            self._sender.close()
        except Exception:  # noqa: BLE001
            _logger.debug("llmtel: closing the %s sender failed", self.signal, exc_info=True)
        dropped_after = self.counters.snapshot(queued=0, spool_items=0, spool_bytes=0).dropped
        with self._cond:
            self._result = dropped_after == dropped_before and time.monotonic() <= end
            self._finished = True
            self._cond.notify_all()
            return self._result


_FORK_AWARE: weakref.WeakSet[DeliveryPipeline] = weakref.WeakSet()


def _reinit_after_fork() -> None:
    for pipeline in list(_FORK_AWARE):
        try:
            pipeline._after_fork_in_child()
        except Exception:  # noqa: BLE001 - never break the child process
            _logger.debug("llmtel: re-creating the %s pipeline after fork failed", pipeline.signal, exc_info=True)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_after_fork)


def _margin(budget: float) -> float:
    """Time kept back at the end of a shutdown for writing what is still in memory to the spool."""
    return min(0.3, 0.25 * budget)


# --- SDK-facing processors and exporter -------------------------------------------------------------------


def encode_span_batch(spans: Sequence[Any]) -> bytes:
    """Encode SDK spans, scrubbed of what was set after they started (``llmtel.export.scrubbing``)."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    from llmtel.export.scrubbing import scrubbed_spans

    return encode_spans(scrubbed_spans(spans)).SerializeToString()


def encode_log_batch(records: Sequence[Any]) -> bytes:
    """Encode SDK ``ReadWriteLogRecord``s (converted here, off the application's thread)."""
    import copy

    from opentelemetry.context import Context
    from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
    from opentelemetry.sdk._logs import ReadableLogRecord
    from opentelemetry.sdk.resources import Resource

    readable = []
    for record in records:
        api_record = copy.copy(record.log_record)
        api_record.context = Context()
        readable.append(
            ReadableLogRecord(
                log_record=api_record,
                resource=record.resource if record.resource is not None else Resource.create({}),
                instrumentation_scope=record.instrumentation_scope,
                limits=record.limits,
            )
        )
    return encode_logs(readable).SerializeToString()


class DurableSpanProcessor(SpanProcessor):
    """Span processor whose ``on_end`` only appends the span to a bounded queue; see the module docstring."""

    def __init__(self, pipeline: DeliveryPipeline, batcher: Batcher[Any]) -> None:
        self.pipeline = pipeline
        self._offer = batcher.queue.offer
        self._open = True

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        return None

    def on_end(self, span: Any) -> None:
        context = span.context
        if self._open and context is not None and context.trace_flags.sampled:
            self._offer(span)

    def shutdown(self) -> None:
        self._open = False  # spans ending after shutdown are not exported (as with the SDK's processors)
        self.pipeline.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.pipeline.flush(timeout_millis / 1000)


class DurableLogProcessor(LogRecordProcessor):
    """Log record processor whose ``on_emit`` only appends the record to a bounded queue."""

    def __init__(self, pipeline: DeliveryPipeline, batcher: Batcher[Any]) -> None:
        self.pipeline = pipeline
        self._offer = batcher.queue.offer
        self._open = True

    def on_emit(self, log_record: Any) -> None:
        if self._open:
            self._offer(log_record)

    def shutdown(self) -> None:
        self._open = False
        self.pipeline.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.pipeline.flush(timeout_millis / 1000)


def durable_metric_exporter(pipeline: DeliveryPipeline, preferred: Any | None = None) -> Any:
    """A MetricExporter that encodes each collection and hands it to ``pipeline`` (never waits on the network).

    ``preferred`` is a stock OTLP metric exporter whose temporality and aggregation preferences (from
    ``OTEL_EXPORTER_OTLP_METRICS_*``) are copied.
    """
    from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
    from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult

    class DurableMetricExporter(MetricExporter):
        def __init__(self) -> None:
            super().__init__(
                preferred_temporality=getattr(preferred, "_preferred_temporality", None),
                preferred_aggregation=getattr(preferred, "_preferred_aggregation", None),
            )
            self.pipeline = pipeline

        def export(self, metrics_data: Any, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
            points = sum(
                len(metric.data.data_points)
                for rm in metrics_data.resource_metrics
                for sm in rm.scope_metrics
                for metric in sm.metrics
            )
            if points:
                pipeline.submit(encode_metrics(metrics_data).SerializeToString(), points)
            return MetricExportResult.SUCCESS

        def force_flush(self, timeout_millis: float = 10_000) -> bool:
            return pipeline.flush(timeout_millis / 1000)

        def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
            pipeline.shutdown(min(pipeline.shutdown_timeout, timeout_millis / 1000))

    return DurableMetricExporter()
