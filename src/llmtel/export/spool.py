"""The on-disk spool: encoded OTLP requests that could not be delivered yet, oldest first, bounded in bytes.

Layout of one spool directory (one per signal)::

    {created_ns:020d}-{owner}.seg       append-only segment files of framed records
    {created_ns:020d}-{owner}.seg.ack   byte offset up to which the segment's records were delivered
    {owner}.lock                        held (``fcntl.flock``) by the owning process while it lives
    {scope}.dest                        where the scope's requests go, and which program wrote them (text)

An owner is ``{scope}_{pid}x{random}``. The scope is a hash of the destination (the collector the requests
go to) and, where unrelated programs may share the directory, of the program: a process adopts only the
segments of its own scope, so spooled telemetry is only ever sent by the same app to the same collector.
Segments of other scopes, and those of llmtel versions that wrote no scope (owner ``{pid}x{random}``), are
left where they are.

Each record is a 16-byte header (magic ``LT``, format version, signal code, item count, payload length,
CRC-32 of header fields and payload) followed by the payload: one serialized ``Export*ServiceRequest``.
A torn or corrupt record is skipped and reading resumes at the next valid header.

Each process writes only its own segments. A process whose lock can be taken is gone; its segments are
adopted by renaming them to the adopter's name — the rename is the claim, so two processes never send the
same segment. Locking needs ``fcntl`` (Linux, macOS); elsewhere no other process's segments are adopted.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
import struct
import sys
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks, no adoption
    fcntl = None  # type: ignore[assignment]

_logger = logging.getLogger("llmtel.export")

MAGIC: Final = b"LT"
VERSION: Final = 1
HEADER: Final = struct.Struct("<2sBBIII")  # magic, version, signal code, items, payload length, crc32
_PREFIX: Final = struct.Struct("<2sBBII")  # the header without its crc: what the crc covers (with the payload)
MAX_RECORD_BYTES: Final = 256 * 1024 * 1024
DEFAULT_SEGMENT_BYTES: Final = 4 * 1024 * 1024
SIGNAL_CODES: Final[dict[str, int]] = {"traces": 1, "metrics": 2, "logs": 3}

_SEGMENT_NAME = re.compile(r"^(\d{20})-((?:[0-9a-f]{20}_)?[0-9a-zA-Z]+)\.seg$")
_LOCK_NAME = re.compile(r"^((?:[0-9a-f]{20}_)?[0-9a-zA-Z]+)\.lock$")
_DEFAULT_ROOT = ("llmtel", "spool")  # config.default_spool_directory: <cache>/llmtel/spool/<service.name>
_UNNAMED_SERVICE = "unknown_service"

DropCallback = Callable[[int, str], None]  # (items, reason)


def frame(signal_code: int, items: int, payload: bytes) -> bytes:
    """One spool record: header plus payload."""
    prefix = _PREFIX.pack(MAGIC, VERSION, signal_code, items, len(payload))
    crc = zlib.crc32(payload, zlib.crc32(prefix))
    return HEADER.pack(MAGIC, VERSION, signal_code, items, len(payload), crc) + payload


@dataclass(frozen=True, slots=True)
class RecordRef:
    """Where a valid record sits in its segment, and how many items (spans, log records, points) it holds."""

    offset: int
    size: int  # header + payload
    items: int


def _valid_at(data: bytes | memoryview, pos: int, signal_code: int | None) -> RecordRef | None:
    if len(data) - pos < HEADER.size:
        return None
    magic, version, code, items, length, crc = HEADER.unpack_from(data, pos)
    if magic != MAGIC or version != VERSION or length > MAX_RECORD_BYTES:
        return None
    if signal_code is not None and code != signal_code:
        return None
    end = pos + HEADER.size + length
    if end > len(data):
        return None
    prefix = _PREFIX.pack(magic, version, code, items, length)
    if zlib.crc32(data[pos + HEADER.size : end], zlib.crc32(prefix)) != crc:
        return None
    return RecordRef(pos, HEADER.size + length, items)


def scan_records(data: bytes, start: int = 0, signal_code: int | None = None) -> tuple[list[RecordRef], int]:
    """The valid records in ``data`` from ``start``, and how many damaged stretches were skipped."""
    refs: list[RecordRef] = []
    damaged = 0
    pos = start
    view = memoryview(data)
    while pos < len(data):
        ref = _valid_at(view, pos, signal_code)
        if ref is not None:
            refs.append(ref)
            pos += ref.size
            continue
        damaged += 1
        nxt = data.find(MAGIC, pos + 1)
        while nxt != -1 and _valid_at(view, nxt, signal_code) is None:
            nxt = data.find(MAGIC, nxt + 1)
        if nxt == -1:
            break
        pos = nxt
    return refs, damaged


@dataclass(slots=True)
class _Segment:
    path: Path
    created_ns: int
    records: deque[RecordRef] = field(default_factory=deque)
    size: int = 0  # bytes on disk
    evicted: bool = False

    @property
    def ack_path(self) -> Path:
        return self.path.with_name(self.path.name + ".ack")

    @property
    def items(self) -> int:
        return sum(r.items for r in self.records)


@dataclass(frozen=True, slots=True)
class SpooledRecord:
    """A record handed out for sending; give it back with `Spool.ack`, `Spool.release` or `Spool.discard`."""

    items: int
    payload: bytes
    segment: _Segment
    ref: RecordRef


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def _read_ack(path: Path) -> int:
    try:
        return max(0, int(path.read_text().strip() or 0))
    except (OSError, ValueError):
        return 0


def main_program() -> str:
    """The running program, as it stays from one run to the next: the module run with ``-m``, else the
    script's absolute path (a console script's, such as ``gunicorn``), else ``sys.argv[0]`` (``-c``).

    Works before the program has started too (from ``sitecustomize``, where ``sys.argv[0]`` is still ``-m``).
    """
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and getattr(spec, "name", None):
        return f"module {spec.name.removesuffix('.__main__')}"
    path = getattr(main, "__file__", None) or (sys.argv[0] if sys.argv else "")
    original = list(getattr(sys, "orig_argv", ()))
    if path == "-m" and "-m" in original[:-1]:
        return f"module {original[original.index('-m') + 1]}"
    if path and path not in ("-c", "-m", "-"):
        return os.path.abspath(path)
    return f"<{path or 'interactive'}>"


def _named_service_directory(signal_directory: Path) -> bool:
    """Whether ``signal_directory`` is the default spool of a named service (``…/llmtel/spool/<name>/<signal>``).

    Only that service's processes use it. Any other directory may be shared by unrelated programs: the
    default one of apps without a service name (``unknown_service``), or one chosen with ``LLMTEL_SPOOL_DIR``.
    """
    service = signal_directory.parent
    root = (service.parent.parent.name, service.parent.name)
    return root == _DEFAULT_ROOT and not service.name.startswith(_UNNAMED_SERVICE)


def spool_scope(signal_directory: str | os.PathLike[str], destination: str, shown_as: str) -> tuple[str, str]:
    """The scope of a process's spool segments, and its description (naming the destination ``shown_as``).

    Requests are only replayed by a process of the same scope: the same ``destination``, and in a directory
    unrelated programs may share, the same program too. The scope is 20 hex digits: 8 of the program's hash,
    then 12 of the destination's.
    """
    program = "" if _named_service_directory(Path(signal_directory)) else main_program()
    program_hash = hashlib.sha256(program.encode("utf-8", "backslashreplace")).hexdigest()[:8]
    destination_hash = hashlib.sha256(destination.encode("utf-8", "backslashreplace")).hexdigest()[:12]
    about = f"destination: {shown_as}\nprogram: {program or '(any process of the service)'}\n"
    return program_hash + destination_hash, about


def _scope_of(owner: str) -> str | None:
    """The scope in an owner name, None for an owner written by a version without scopes."""
    scope, sep, _ = owner.partition("_")
    return scope if sep else None


@dataclass(frozen=True, slots=True)
class OtherSegments:
    """Segments in the directory this spool will not send: unscoped ones (from a version that wrote no
    scope), and those of the same program for other destinations (by destination, as recorded)."""

    unscoped: int = 0
    elsewhere: dict[str, int] = field(default_factory=dict)


class Spool:
    """Durable FIFO of encoded requests for one signal in one directory, capped at ``max_bytes``.

    Thread-safe. ``on_drop(items, reason)`` is told about every item the spool had to give up (evicted to
    stay under the cap, too large, damaged on disk, or written after `close`).
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        signal: str,
        max_bytes: int,
        on_drop: DropCallback,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        scope: str | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.scope = scope
        self.owner = f"{scope + '_' if scope else ''}{os.getpid()}x{secrets.token_hex(4)}"
        self.signal = signal
        self.max_bytes = max_bytes
        self._code = SIGNAL_CODES[signal]
        self._segment_bytes_asked = segment_bytes
        self._segment_bytes = max(1, min(segment_bytes, max_bytes // 4 or 1))
        self._on_drop = on_drop
        self._lock = threading.RLock()
        self._sealed: list[_Segment] = []  # oldest first
        self._active: _Segment | None = None
        self._active_fd: int | None = None
        self._bytes = 0
        self._items = 0
        self._inflight: SpooledRecord | None = None
        self._closed = False
        self._lock_fd = self._take_own_lock()

    # -- ownership ---------------------------------------------------------------------------------------

    def _take_own_lock(self) -> int | None:
        """Create ``{owner}.lock`` already locked (lock a temporary name, then rename it into place)."""
        final = self.directory / f"{self.owner}.lock"
        temp = self.directory / f".{self.owner}.lock.tmp"
        fd = os.open(temp, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.replace(temp, final)
        except BaseException:
            os.close(fd)
            _unlink(temp)
            raise
        return fd

    def scoped(self, scope: str, about: str) -> Spool:
        """This (still unused) spool as one of ``scope``, described by ``about`` in ``{scope}.dest``.

        Returns a new spool in the same directory with the same settings; this one is closed (its lock file
        removed). ``OSError`` if the directory cannot be written.
        """
        spool = Spool(
            self.directory,
            signal=self.signal,
            max_bytes=self.max_bytes,
            on_drop=self._on_drop,
            segment_bytes=self._segment_bytes_asked,
            scope=scope,
        )
        self.close()
        spool._describe(about)
        return spool

    def _describe(self, about: str) -> None:
        """Record what the scope stands for, for the messages of processes of other scopes."""
        path = self.directory / f"{self.scope}.dest"
        try:
            if path.read_text(encoding="utf-8") == about:
                return
        except (OSError, UnicodeDecodeError):
            pass
        temp = self.directory / f".{self.owner}.dest.tmp"
        try:
            temp.write_text(about, encoding="utf-8")
            os.replace(temp, path)
        except OSError:
            _unlink(temp)
            _logger.debug("llmtel: cannot write %s", path, exc_info=True)

    def adopt_orphans(self) -> int:
        """Claim the segments of this scope's processes that are gone; returns the number of items adopted."""
        if fcntl is None:
            return 0
        adopted = 0
        owners = {owner for owner in self._owners() if _scope_of(owner) == self.scope}
        owners.discard(self.owner)
        for owner in sorted(owners):
            adopted += self._adopt_owner(owner)
        return adopted

    def _owners(self, segments_only: bool = False) -> list[str]:
        """The owner of each segment (and, unless ``segments_only``, lock file) in the directory."""
        owners = []
        for entry in os.scandir(self.directory):
            match = _SEGMENT_NAME.match(entry.name) or (not segments_only and _LOCK_NAME.match(entry.name))
            if match:
                owners.append(match.group(match.lastindex or 1))
        return owners

    def other_segments(self) -> OtherSegments:
        """Count the segments this spool leaves alone that may concern its program: unscoped ones, and its
        program's for other destinations. Other programs' segments are none of its business."""
        unscoped = 0
        elsewhere: dict[str, int] = {}
        for owner in self._owners(segments_only=True):
            scope = _scope_of(owner)
            if scope is None:
                if self.scope is not None:
                    unscoped += 1
            elif self.scope is not None and scope != self.scope and scope[:8] == self.scope[:8]:
                where = self._destination_of(scope)
                elsewhere[where] = elsewhere.get(where, 0) + 1
        return OtherSegments(unscoped, elsewhere)

    def _destination_of(self, scope: str) -> str:
        try:
            about = (self.directory / f"{scope}.dest").read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return "a destination not recorded"
        for line in about.splitlines():
            if line.startswith("destination: "):
                return line.removeprefix("destination: ")
        return "a destination not recorded"

    def _adopt_owner(self, owner: str) -> int:
        lock_path = self.directory / f"{owner}.lock"
        fd: int | None
        try:
            fd = os.open(lock_path, os.O_RDWR)
        except FileNotFoundError:
            fd = None  # no lock at all: nobody owns these segments
        except OSError:
            return 0
        if fd is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                return 0  # the owner is alive
            try:
                still_there = os.stat(lock_path).st_ino == os.fstat(fd).st_ino
            except OSError:
                still_there = False
            if not still_there:  # another process adopted these meanwhile and removed the lock
                os.close(fd)
                return 0
        adopted = 0
        try:
            names = sorted(
                e.name
                for e in os.scandir(self.directory)
                if e.name.endswith(f"-{owner}.seg") and _SEGMENT_NAME.match(e.name)
            )
            for name in names:
                adopted += self._adopt_segment(self.directory / name, owner)
            for entry in os.scandir(self.directory):  # acknowledgements left without their segment
                if entry.name.endswith(f"-{owner}.seg.ack"):
                    _unlink(Path(entry.path))
            if fd is not None:
                _unlink(lock_path)
        finally:
            if fd is not None:
                os.close(fd)
        return adopted

    def _adopt_segment(self, path: Path, owner: str) -> int:
        created = int(path.name.split("-", 1)[0])
        mine = path.with_name(f"{created:020d}-{self.owner}.seg")
        try:
            os.rename(path, mine)  # the claim: exactly one process's rename succeeds
        except FileNotFoundError:
            return 0
        segment = _Segment(mine, created)
        try:
            os.rename(path.with_name(path.name + ".ack"), segment.ack_path)
        except FileNotFoundError:
            pass
        start = _read_ack(segment.ack_path)
        try:
            data = mine.read_bytes()
        except OSError:
            _logger.warning("llmtel: cannot read spool segment %s; skipped", mine, exc_info=True)
            return 0
        refs, damaged = scan_records(data, start, self._code)
        if damaged:
            _logger.warning("llmtel: skipped %d damaged record(s) in spool segment %s", damaged, mine.name)
            self._on_drop(0, "damaged")
        if not refs:
            _unlink(mine)
            _unlink(segment.ack_path)
            return 0
        segment.records.extend(refs)
        segment.size = len(data)
        with self._lock:
            self._sealed.append(segment)
            self._sealed.sort(key=lambda s: s.created_ns)
            self._bytes += segment.size
            self._items += segment.items
            self._enforce_cap(0)
        return segment.items

    # -- writing -----------------------------------------------------------------------------------------

    def append(self, items: int, payload: bytes) -> bool:
        """Write one request to disk; False (and ``on_drop``) if it could not be kept."""
        record = frame(self._code, items, payload)
        with self._lock:
            if self._closed:
                self._on_drop(items, "closed")
                return False
            if len(record) > self.max_bytes or not self._enforce_cap(len(record)):
                self._on_drop(items, "spool_full")
                return False
            if self._active is not None and self._active.size and self._active.size + len(record) > self._segment_bytes:
                self._seal_active()
            try:
                if self._active is None:
                    self._open_active()
                assert self._active is not None and self._active_fd is not None
                written = os.write(self._active_fd, record)
            except OSError:
                _logger.warning("llmtel: cannot write to the spool in %s", self.directory, exc_info=True)
                self._on_drop(items, "spool_error")
                return False
            offset = self._active.size
            self._active.size += written
            self._bytes += written
            if written != len(record):  # disk full mid-record: the torn tail is skipped on reading
                self._on_drop(items, "spool_error")
                return False
            self._active.records.append(RecordRef(offset, len(record), items))
            self._items += items
            return True

    def _open_active(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)  # in case it was removed under us
        created = time.time_ns()
        path = self.directory / f"{created:020d}-{self.owner}.seg"
        self._active_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._active = _Segment(path, created)

    def _seal_active(self) -> None:
        segment, fd = self._active, self._active_fd
        self._active = self._active_fd = None
        if fd is not None:
            try:
                os.fsync(fd)
            except OSError:
                pass
            os.close(fd)
        if segment is None:
            return
        if segment.records:
            self._sealed.append(segment)
        else:
            self._bytes -= segment.size
            _unlink(segment.path)

    def _enforce_cap(self, incoming: int) -> bool:
        """Evict the oldest segments until ``incoming`` more bytes fit; False if they cannot."""
        while self._bytes + incoming > self.max_bytes:
            if not self._sealed:
                if self._active is None or not self._active.records:
                    return self._bytes + incoming <= self.max_bytes
                self._seal_active()
                continue
            self._evict(self._sealed[0])
        return True

    def _evict(self, segment: _Segment) -> None:
        inflight = self._inflight.ref if self._inflight is not None and self._inflight.segment is segment else None
        dropped = sum(r.items for r in segment.records if r is not inflight)
        self._items -= dropped
        segment.records.clear()
        segment.evicted = True
        self._remove(segment)
        if dropped:
            self._on_drop(dropped, "spool_full")

    def _remove(self, segment: _Segment) -> None:
        if segment in self._sealed:
            self._sealed.remove(segment)
        self._bytes -= segment.size
        _unlink(segment.path)
        _unlink(segment.ack_path)

    # -- reading -----------------------------------------------------------------------------------------

    def peek(self) -> SpooledRecord | None:
        """The oldest record not yet delivered (the same one again until it is acked or discarded)."""
        with self._lock:
            if self._inflight is not None:
                return self._inflight
            while True:
                if not self._sealed and self._active is not None and self._active.records:
                    self._seal_active()
                if not self._sealed:
                    return None
                segment = self._sealed[0]
                if not segment.records:
                    self._remove(segment)
                    continue
                ref = segment.records[0]
                payload = self._read(segment, ref)
                if payload is None:
                    segment.records.popleft()
                    self._items -= ref.items
                    self._on_drop(ref.items, "damaged")
                    self._write_ack(segment, ref)
                    continue
                self._inflight = SpooledRecord(ref.items, payload, segment, ref)
                return self._inflight

    def _read(self, segment: _Segment, ref: RecordRef) -> bytes | None:
        try:
            with open(segment.path, "rb") as file:
                file.seek(ref.offset)
                data = file.read(ref.size)
        except OSError:
            return None
        if _valid_at(data, 0, self._code) is None:
            return None
        return data[HEADER.size :]

    def ack(self, record: SpooledRecord) -> None:
        """``record`` was delivered: forget it (on disk too)."""
        self._settle(record, None)

    def discard(self, record: SpooledRecord, reason: str) -> None:
        """``record`` can never be delivered (the collector rejected it): forget it and count it dropped."""
        self._settle(record, reason)

    def release(self, record: SpooledRecord) -> None:
        """Sending ``record`` failed; keep it for the next attempt (unless it was evicted meanwhile)."""
        with self._lock:
            if self._inflight is not record:
                return
            self._inflight = None
            if record.segment.evicted:
                self._items -= record.items
                self._on_drop(record.items, "spool_full")

    def _settle(self, record: SpooledRecord, drop_reason: str | None) -> None:
        with self._lock:
            if self._inflight is not record:
                return
            self._inflight = None
            self._items -= record.items
            if drop_reason is not None:
                self._on_drop(record.items, drop_reason)
            segment = record.segment
            if segment.evicted:
                return
            if segment.records and segment.records[0] is record.ref:
                segment.records.popleft()
            if segment.records:
                self._write_ack(segment, record.ref)
            else:
                self._remove(segment)

    def _write_ack(self, segment: _Segment, ref: RecordRef) -> None:
        temp = segment.ack_path.with_name(segment.ack_path.name + ".tmp")
        try:
            temp.write_text(str(ref.offset + ref.size))
            os.replace(temp, segment.ack_path)
        except OSError:
            _logger.debug("llmtel: cannot write %s", segment.ack_path, exc_info=True)

    # -- state -------------------------------------------------------------------------------------------

    @property
    def items(self) -> int:
        """Items waiting on disk (including one being sent)."""
        return self._items

    @property
    def bytes(self) -> int:
        return self._bytes

    def sync(self) -> None:
        """Push what was written to the disk itself (records already survive a killed process without it)."""
        with self._lock:
            if self._active_fd is not None:
                try:
                    os.fsync(self._active_fd)
                except OSError:
                    pass

    def forget_after_fork(self) -> None:
        """In a forked child: let go of the parent's descriptors without touching its files or its lock."""
        self._lock = threading.RLock()
        for fd in (self._lock_fd, self._active_fd):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._lock_fd = self._active_fd = None
        self._active = None
        self._closed = True

    def close(self) -> None:
        """Stop writing; release the directory to the next process (remove our files if nothing is left)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._seal_active()
            empty = self._items == 0
            if self._lock_fd is not None:
                if empty:
                    _unlink(self.directory / f"{self.owner}.lock")
                os.close(self._lock_fd)
                self._lock_fd = None
