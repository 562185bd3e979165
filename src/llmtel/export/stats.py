"""Counts of what the export pipeline did with each signal's items, and rate-limited warnings about it.

The warnings go to the ``llmtel.export`` logger, whose records the log bridge never exports: telemetry
about a failing pipeline must not be queued into that same pipeline.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

_logger = logging.getLogger("llmtel.export")


@dataclass(frozen=True, slots=True)
class ExportStats:
    """A snapshot of one signal's export counters (items: spans, log records or metric data batches' points).

    ``exported`` arrived on the first attempt, ``replayed`` arrived from the spool, ``spooled`` were written
    to the spool, ``dropped`` are lost for good (by reason in ``dropped_by_reason``); ``queued`` wait in
    memory and ``spool_items`` / ``spool_bytes`` on disk right now.
    """

    exported: int = 0
    spooled: int = 0
    replayed: int = 0
    dropped: int = 0
    dropped_by_reason: Mapping[str, int] = field(default_factory=dict)
    queued: int = 0
    spool_items: int = 0
    spool_bytes: int = 0

    @property
    def delivered(self) -> int:
        """Items the collector accepted, first time or from the spool."""
        return self.exported + self.replayed


class Counters:
    """The mutable, thread-safe counters behind `ExportStats`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.exported = 0
        self.spooled = 0
        self.replayed = 0
        self.dropped: dict[str, int] = {}

    def add(self, name: str, items: int) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + items)

    def drop(self, items: int, reason: str) -> None:
        with self._lock:
            self.dropped[reason] = self.dropped.get(reason, 0) + items

    def snapshot(self, *, queued: int, spool_items: int, spool_bytes: int) -> ExportStats:
        with self._lock:
            return ExportStats(
                exported=self.exported,
                spooled=self.spooled,
                replayed=self.replayed,
                dropped=sum(self.dropped.values()),
                dropped_by_reason=dict(self.dropped),
                queued=queued,
                spool_items=spool_items,
                spool_bytes=spool_bytes,
            )


class RateLimitedWarning:
    """Logs a WARNING at most once per ``interval`` seconds per key (later ones in the window are dropped)."""

    def __init__(self, interval: float = 60.0) -> None:
        self._interval = interval
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def after_fork(self) -> None:
        """A forked child gets a fresh lock (another thread may have held the old one at fork time)."""
        self._lock = threading.Lock()

    def __call__(self, key: str, message: str, *args: object, exc_info: bool = False) -> bool:
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self._interval:
                return False
            self._last[key] = now
        _logger.warning(message, *args, exc_info=exc_info)
        return True
