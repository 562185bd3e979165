"""`TraceStore`: the viewer's SQLite store. A `Sink` for `OTLPReceiver` whose `accept` only enqueues; one
writer thread commits each drained group of requests in a single transaction (WAL mode), keeps a per-trace
summary table up to date and applies retention; queries run on separate read connections."""

from __future__ import annotations

import json
import logging
import math
import queue
import re
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from llmtel.receiver import RequestMeta, Signal
from llmtel.viewer._ingest import (
    LOG_COLUMNS,
    LOG_RESOURCE_INDEX,
    METRIC_COLUMNS,
    METRIC_RESOURCE_INDEX,
    SPAN_COLUMNS,
    SPAN_RESOURCE_INDEX,
    SpanRow,
    TraceDelta,
    flatten_logs,
    flatten_metrics,
    flatten_traces,
    summarize,
)
from llmtel.viewer._params import TraceQuery

_logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
_QUEUE_REQUESTS = 256
"""Export requests buffered for the writer; beyond this `accept` waits (back-pressure, never a drop)."""
_DRAIN_REQUESTS = 64
"""Most requests committed in one transaction."""
_READ_POOL = 4

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS resources (
    id INTEGER PRIMARY KEY, service TEXT NOT NULL, attributes TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS spans (
    trace_id TEXT NOT NULL, span_id TEXT NOT NULL, parent_id TEXT, name TEXT NOT NULL, kind INTEGER NOT NULL,
    start_us INTEGER NOT NULL, duration_us INTEGER NOT NULL, status_code INTEGER NOT NULL, status_message TEXT,
    service TEXT NOT NULL, resource_id INTEGER NOT NULL, scope_name TEXT, scope_version TEXT, flags INTEGER,
    attributes TEXT NOT NULL, events TEXT, links TEXT, model TEXT, response_model TEXT, operation TEXT,
    input_tokens INTEGER, output_tokens INTEGER, cost_usd REAL, error_type TEXT, run_id TEXT, session_id TEXT);
CREATE UNIQUE INDEX IF NOT EXISTS spans_by_trace ON spans (trace_id, span_id);
CREATE INDEX IF NOT EXISTS spans_by_service ON spans (service, start_us);
CREATE INDEX IF NOT EXISTS spans_by_operation ON spans (service, name, start_us);
CREATE INDEX IF NOT EXISTS spans_by_model ON spans (model, start_us) WHERE model IS NOT NULL;
CREATE INDEX IF NOT EXISTS spans_with_error ON spans (start_us) WHERE status_code = 2;
CREATE TABLE IF NOT EXISTS traces (
    trace_id TEXT PRIMARY KEY, start_us INTEGER NOT NULL, end_us INTEGER NOT NULL, span_count INTEGER NOT NULL,
    has_root INTEGER NOT NULL, root_name TEXT NOT NULL, root_service TEXT NOT NULL,
    input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, cost_usd REAL, error_count INTEGER NOT NULL,
    run_id TEXT, session_id TEXT,
    search TEXT GENERATED ALWAYS AS (
        lower(coalesce(run_id, '') || char(31) || coalesce(session_id, '') || char(31) || root_name)) STORED);
CREATE INDEX IF NOT EXISTS traces_by_start ON traces (start_us);
CREATE INDEX IF NOT EXISTS traces_with_errors ON traces (start_us) WHERE error_count > 0;
CREATE TABLE IF NOT EXISTS trace_models (
    trace_id TEXT NOT NULL, model TEXT NOT NULL, PRIMARY KEY (trace_id, model)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS trace_models_by_model ON trace_models (model);
CREATE TABLE IF NOT EXISTS trace_services (
    trace_id TEXT NOT NULL, service TEXT NOT NULL, PRIMARY KEY (trace_id, service)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS trace_services_by_service ON trace_services (service);
CREATE TABLE IF NOT EXISTS models (model TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS services (service TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS operations (
    service TEXT NOT NULL, name TEXT NOT NULL, kind INTEGER NOT NULL, PRIMARY KEY (service, name, kind)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS logs (
    id INTEGER PRIMARY KEY, time_us INTEGER NOT NULL, trace_id TEXT, span_id TEXT, severity_number INTEGER,
    severity_text TEXT, body TEXT, attributes TEXT NOT NULL, resource_id INTEGER NOT NULL, scope_name TEXT,
    event_name TEXT);
CREATE INDEX IF NOT EXISTS logs_by_trace ON logs (trace_id, time_us) WHERE trace_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS logs_by_time ON logs (time_us);
CREATE TABLE IF NOT EXISTS metric_points (
    id INTEGER PRIMARY KEY, time_us INTEGER NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL, unit TEXT,
    value REAL, count INTEGER, sum REAL, attributes TEXT NOT NULL, resource_id INTEGER NOT NULL, scope_name TEXT);
CREATE INDEX IF NOT EXISTS metric_points_by_time ON metric_points (time_us);
CREATE INDEX IF NOT EXISTS metric_points_by_name ON metric_points (name, time_us);
"""

_UPSERT_TRACE = """
INSERT INTO traces (trace_id, start_us, end_us, span_count, has_root, root_name, root_service, input_tokens,
                    output_tokens, cost_usd, error_count, run_id, session_id)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (trace_id) DO UPDATE SET
    root_name = CASE WHEN traces.has_root THEN traces.root_name
                     WHEN excluded.has_root OR excluded.start_us < traces.start_us THEN excluded.root_name
                     ELSE traces.root_name END,
    root_service = CASE WHEN traces.has_root THEN traces.root_service
                        WHEN excluded.has_root OR excluded.start_us < traces.start_us THEN excluded.root_service
                        ELSE traces.root_service END,
    has_root = max(traces.has_root, excluded.has_root),
    start_us = min(traces.start_us, excluded.start_us),
    end_us = max(traces.end_us, excluded.end_us),
    span_count = traces.span_count + excluded.span_count,
    input_tokens = traces.input_tokens + excluded.input_tokens,
    output_tokens = traces.output_tokens + excluded.output_tokens,
    cost_usd = CASE WHEN traces.cost_usd IS NULL AND excluded.cost_usd IS NULL THEN NULL
                    ELSE coalesce(traces.cost_usd, 0) + coalesce(excluded.cost_usd, 0) END,
    error_count = traces.error_count + excluded.error_count,
    run_id = coalesce(traces.run_id, excluded.run_id),
    session_id = coalesce(traces.session_id, excluded.session_id)
"""

_SPAN_SELECT = (
    "SELECT s.trace_id, s.span_id, s.parent_id, s.name, s.kind, s.start_us, s.duration_us, s.status_code, "
    "s.status_message, s.service, s.resource_id, s.scope_name, s.scope_version, s.flags, s.attributes, "
    "s.events, s.links, r.attributes FROM spans s JOIN resources r ON r.id = s.resource_id"
)

_SPAN_KINDS = {"unspecified": 0, "internal": 1, "server": 2, "client": 3, "producer": 4, "consumer": 5}
_STATUS_CODES = {"unset": 0, "ok": 1, "error": 2}


@dataclass(frozen=True, slots=True)
class StoredSpan:
    """One span row as read back (attributes, events, links and resource still as JSON text)."""

    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    kind: int
    start_us: int
    duration_us: int
    status_code: int
    status_message: str | None
    service: str
    resource_id: int
    scope_name: str | None
    scope_version: str | None
    flags: int | None
    attributes: str
    events: str | None
    links: str | None
    resource: str


@dataclass(frozen=True, slots=True)
class TraceSummary:
    """One row of the per-trace summary table."""

    trace_id: str
    start_us: int
    end_us: int
    span_count: int
    root_name: str
    root_service: str
    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    error_count: int
    run_id: str | None
    session_id: str | None
    models: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StoredLog:
    time_us: int
    trace_id: str | None
    span_id: str | None
    severity_number: int | None
    severity_text: str | None
    body: str | None
    attributes: str
    resource: str
    scope_name: str | None
    event_name: str | None


@dataclass(frozen=True, slots=True)
class Retention:
    """Limits the writer enforces by deleting the oldest traces (with their logs and metric points)."""

    max_age_us: int | None = None
    max_spans: int | None = None
    max_db_bytes: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_age_us", "max_spans", "max_db_bytes"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"retention {name}: {value} must be positive")

    @property
    def active(self) -> bool:
        return any(v is not None for v in (self.max_age_us, self.max_spans, self.max_db_bytes))


class _Flush:
    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


class _Prune(_Flush):
    __slots__ = ("now_us", "deleted")

    def __init__(self, now_us: int | None) -> None:
        super().__init__()
        self.now_us = now_us
        self.deleted = 0


_STOP = object()


def _jaeger_text_sql(type_sql: str, value_sql: str) -> str:
    """SQL for an attribute's value as Jaeger compares it: text, booleans as true/false."""
    return f"(CASE {type_sql} WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' ELSE CAST({value_sql} AS TEXT) END)"


def _attribute_text_sql(column: str, key: str) -> tuple[str, list[Any]]:
    """SQL (and its parameters) for attribute `key` of the JSON object in `column`, as Jaeger compares it."""
    if json.dumps(key, ensure_ascii=False)[1:-1] == key:  # stored as written: a JSON path names it
        path = '$."' + key + '"'
        return _jaeger_text_sql(f"json_type({column}, ?)", f"json_extract({column}, ?)"), [path, path]
    # A quote, backslash or control character is escaped in the stored JSON, and a JSON path cannot name such a
    # key on every SQLite (3.40 ends a quoted key at its first quote and compares it with the escaped text):
    # compare the decoded keys instead.
    value_sql = _jaeger_text_sql("e.type", "e.value")
    return f"(SELECT {value_sql} FROM json_each({column}) e WHERE e.key = ?)", [key]


_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_INT64 = range(-(2**63), 2**63)


def tag_number(text: str) -> int | float | None:
    """The number a tag filter's value spells as JSON does (``2``, ``-0.5``, ``1e-06``, ``1.0E-6``), or None.

    A whole number without fraction or exponent is kept an `int` (exact against 64-bit attributes); one beyond
    64 bits, or any other, a `float`. Infinity (``1e400``) is no number: no attribute holds it as one."""
    match = _JSON_NUMBER.fullmatch(text.strip())
    if match is None:
        return None
    if match.group(1) is None and match.group(2) is None:
        whole = int(match.group(0))
        if whole in _INT64:
            return whole
    try:
        number = float(match.group(0))
    except OverflowError:  # a whole number of hundreds of digits
        return None
    return number if math.isfinite(number) else None


def _number_needles(number: int | float) -> list[str]:
    """Texts one of which the attributes' JSON holds wherever an attribute equals `number`: stored integers are
    written as `str` writes them, doubles as `repr` does (``2.0``, ``1e-06``, ``1e+20``)."""
    if isinstance(number, int):
        return list(dict.fromkeys([str(number), repr(float(number))]))
    needles = [repr(number)]
    if number.is_integer() and int(number) in _INT64:
        needles.append(str(int(number)))
    return needles


def _attribute_number_sql(column: str, key: str) -> tuple[str, list[Any]]:
    """SQL (and its parameters) for attribute `key` of the JSON object in `column` if it is a number, else NULL."""
    if json.dumps(key, ensure_ascii=False)[1:-1] == key:  # see `_attribute_text_sql`
        path = '$."' + key + '"'
        return f"(CASE WHEN json_type({column}, ?) IN ('integer', 'real') THEN json_extract({column}, ?) END)", [
            path,
            path,
        ]
    value_sql = "CASE WHEN e.type IN ('integer', 'real') THEN e.value END"
    return f"(SELECT {value_sql} FROM json_each({column}) e WHERE e.key = ?)", [key]


def _attribute_match_sql(
    column: str, key: str, value: str, number: int | float | None
) -> tuple[str, list[Any]]:
    """SQL (and its parameters) true when attribute `key` in `column` matches a tag filter's `value`.

    As Jaeger does, the attribute's text must equal `value`; and when `value` is a number, a numeric attribute
    equal to it matches too, so ``1e-06`` and ``1.0e-06`` find a cost of 1e-06, and ``2`` a double 2.0 (whose
    text SQLite writes ``1.0e-06`` and ``2.0``). Each test is preceded by a cheap substring test on the JSON
    (the value's text, or a number's, must occur in it), which spares most rows the JSON parsing."""
    text_sql, text_params = _attribute_text_sql(column, key)
    needle = json.dumps(value, ensure_ascii=False)[1:-1]
    sql = f"(instr({column}, ?) > 0 AND {text_sql} = ?)"
    params: list[Any] = [needle, *text_params, value]
    if number is not None:
        needles = _number_needles(number)
        number_sql, number_params = _attribute_number_sql(column, key)
        prefilter = " OR ".join(f"instr({column}, ?) > 0" for _ in needles)
        sql = f"({sql} OR (({prefilter}) AND {number_sql} = ?))"
        params += [*needles, *number_params, number]
    return sql, params


def _tag_condition(key: str, value: str) -> tuple[str, list[Any]]:
    """A WHERE fragment (over spans `s` joined to resources `r`) matching one Jaeger tag filter."""
    lowered = value.strip().lower()
    if key == "error":
        return ("s.status_code = 2", []) if lowered == "true" else ("s.status_code != 2", [])
    if key == "span.kind":
        return "s.kind = ?", [_SPAN_KINDS.get(lowered, -1)]
    if key == "otel.status_code":
        return "s.status_code = ?", [_STATUS_CODES.get(lowered, -1)]
    if key == "otel.status_description":
        return "s.status_message = ?", [value]
    if key == "otel.scope.name":
        return "s.scope_name = ?", [value]
    if key == "otel.scope.version":
        return "s.scope_version = ?", [value]
    number = tag_number(value)
    span_sql, span_params = _attribute_match_sql("s.attributes", key, value, number)
    resource_sql, resource_params = _attribute_match_sql("r.attributes", key, value, number)
    sql = f"({span_sql} OR {resource_sql})"
    params: list[Any] = [*span_params, *resource_params]
    if key in ("gen_ai.request.model", "gen_ai.response.model"):
        # Lets the planner use the model index: the model column holds the request (else response) model.
        column = "s.model" if key == "gen_ai.request.model" else "s.response_model"
        sql = f"({column} = ? AND {sql})"
        params.insert(0, value)
    return sql, params


class NotATraceDatabase(sqlite3.DatabaseError):
    """The database file is not one llmtel's viewer wrote: not SQLite at all, or SQLite without llmtel's tables."""


def _check_trace_database(path: str) -> None:
    """Raise `NotATraceDatabase` unless the database file is new, empty or has llmtel's ``meta`` table (present
    from the first schema on); reading the schema also makes SQLite check that the file is a database at all.
    Only reads: a file found not to be llmtel's is left exactly as it was."""
    conn = sqlite3.connect(path)
    try:
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        conn.close()
    if names and "meta" not in names:
        raise NotATraceDatabase(f"{path} is not an llmtel trace database (it holds other tables)")


def _close_quietly(conn: sqlite3.Connection | None) -> None:
    if conn is not None:
        conn.close()


class TraceStore:
    """SQLite-backed `Sink` and query engine for traces, logs and metric points.

    ``path`` is a file (created with its directory) or ``":memory:"``. Thread-safe; `close()` drains the queue.
    """

    def __init__(
        self,
        path: str | Path = ":memory:",
        *,
        retention: Retention | None = None,
        prune_interval: float = 5.0,
    ) -> None:
        if not prune_interval > 0:
            raise ValueError(f"prune_interval: {prune_interval!r} must be a positive number of seconds")
        self._path = str(path)
        self._memory = self._path == ":memory:"
        self._retention = retention or Retention()
        self._prune_interval = prune_interval
        if not self._memory:
            Path(self._path).expanduser().parent.mkdir(parents=True, exist_ok=True)
            self._path = str(Path(self._path).expanduser())
        self._db_lock = threading.RLock()
        self._writer_conn = self._open_writer()
        self._readers: queue.LifoQueue[sqlite3.Connection] = queue.LifoQueue()
        self._all_readers: list[sqlite3.Connection] = []
        self._reader_lock = threading.Lock()
        self._resource_ids: dict[str, int] = {}
        self._span_total = self._writer_conn.execute("SELECT count(*) FROM spans").fetchone()[0]
        self._counts_cond = threading.Condition()
        self._received_spans = 0
        self._received_logs = 0
        self._received_points = 0
        self._failed_requests = 0
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=_QUEUE_REQUESTS)
        self._closed = False
        self._last_prune = time.monotonic()
        self._writer = threading.Thread(target=self._write_loop, name="llmtel-viewer-writer", daemon=True)
        self._writer.start()
        if self._retention.active:
            self._queue.put(_Prune(None))  # an old database may hold data past its limits already

    # -- connections -------------------------------------------------------------------------------------

    def _open_writer(self) -> sqlite3.Connection:
        """The writer's connection, on a database checked to be llmtel's (or empty) and given the schema.

        Raises `NotATraceDatabase` for a file that is not SQLite, or SQLite without llmtel's tables: the schema
        is not added to another program's database, and the caller can name the file instead of showing
        SQLite's bare "file is not a database"."""
        conn = None
        try:
            if not self._memory:
                _check_trace_database(self._path)  # before _connect's PRAGMAs, which would switch it to WAL
            conn = self._connect()
            conn.executescript(_SCHEMA)
            conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        except sqlite3.OperationalError:  # locked, unreadable, read-only...: SQLite's message says it
            _close_quietly(conn)
            raise
        except sqlite3.DatabaseError as error:
            _close_quietly(conn)
            if isinstance(error, NotATraceDatabase):
                raise
            raise NotATraceDatabase(f"{self._path} is not an llmtel trace database ({error})") from error
        return conn

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        if not self._memory:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=5000")
        conn.execute("PRAGMA cache_size=-32000")  # 32 MB page cache per connection
        conn.execute("PRAGMA temp_store=MEMORY")
        return conn

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """A connection for queries: a pooled read connection (file), or the one connection (``:memory:``)."""
        if self._memory:
            with self._db_lock:
                yield self._writer_conn
            return
        try:
            conn = self._readers.get_nowait()
        except queue.Empty:
            conn = self._connect()
            conn.execute("PRAGMA query_only=1")
            with self._reader_lock:
                self._all_readers.append(conn)
        try:
            yield conn
        finally:
            if self._readers.qsize() < _READ_POOL:
                self._readers.put(conn)
            else:
                with self._reader_lock:
                    self._all_readers.remove(conn)
                conn.close()

    @property
    def path(self) -> str:
        return self._path

    # -- ingest (Sink) -----------------------------------------------------------------------------------

    def accept(self, signal: Signal, request: Message, meta: RequestMeta) -> None:
        """Queue one export request for the writer thread (waits only while the queue is full)."""
        if self._closed:
            raise RuntimeError("the trace store is closed")
        expected = {
            "traces": ExportTraceServiceRequest,
            "logs": ExportLogsServiceRequest,
            "metrics": ExportMetricsServiceRequest,
        }[signal]
        if not isinstance(request, expected):
            raise TypeError(f"{type(request).__name__} is not an export request for signal {signal!r}")
        self._queue.put((signal, request))

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until everything accepted so far is committed; False on timeout."""
        if self._closed:
            return True
        marker = _Flush()
        self._queue.put(marker)
        return marker.done.wait(timeout)

    def prune(self, now_us: int | None = None, timeout: float | None = 30.0) -> int:
        """Apply the retention limits now (after committing what is queued); returns how many spans went."""
        if self._closed:
            raise RuntimeError("the trace store is closed")
        marker = _Prune(now_us)
        self._queue.put(marker)
        if not marker.done.wait(timeout):
            raise TimeoutError("retention pruning did not finish in time")
        return marker.deleted

    def close(self, timeout: float = 10.0) -> None:
        """Commit what is queued, stop the writer and close every connection. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._writer.join(timeout)
        with self._reader_lock:
            readers, self._all_readers = list(self._all_readers), []
        for conn in readers:
            conn.close()
        with self._db_lock:
            self._writer_conn.close()

    def __enter__(self) -> TraceStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def wait_for_spans(self, n: int, timeout: float = 10.0) -> bool:
        """Block until at least `n` spans have been committed since this store was opened."""
        with self._counts_cond:
            return self._counts_cond.wait_for(lambda: self._received_spans >= n, timeout)

    def wait_for_logs(self, n: int, timeout: float = 10.0) -> bool:
        with self._counts_cond:
            return self._counts_cond.wait_for(lambda: self._received_logs >= n, timeout)

    @property
    def received(self) -> dict[str, int]:
        """Spans, log records and metric points committed since open, and requests that failed to store."""
        with self._counts_cond:
            return {
                "spans": self._received_spans,
                "logs": self._received_logs,
                "metric_points": self._received_points,
                "failed_requests": self._failed_requests,
            }

    def _write_loop(self) -> None:
        while True:
            try:
                if not self._write_some():
                    return
            except Exception:  # never let the writer die: accept() would block once the queue is full
                _logger.exception("llmtel viewer: the store's writer failed; continuing")

    def _write_some(self) -> bool:
        """Commit one drained group of queued items; False once the stop marker was seen."""
        try:
            # With retention on, wake up now and then even when idle, so age limits apply without traffic.
            items = [self._queue.get(timeout=self._prune_interval if self._retention.active else None)]
        except queue.Empty:
            self._prune_if_due()
            return True
        while len(items) < _DRAIN_REQUESTS:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                break
        requests: list[tuple[Signal, Message]] = []
        for item in [*items, None]:  # markers act in queue order: after the requests before them
            if isinstance(item, tuple):
                requests.append(item)
                continue
            if requests:
                self._commit(requests)
                requests = []
                self._prune_if_due()
            if isinstance(item, _Prune):
                item.deleted = self._prune_safely(item.now_us)
            if isinstance(item, _Flush):
                item.done.set()
        return not any(item is _STOP for item in items)

    def _prune_if_due(self) -> None:
        if not self._retention.active:
            return
        due = time.monotonic() - self._last_prune >= self._prune_interval
        over_spans = self._retention.max_spans is not None and self._span_total > self._retention.max_spans
        if due or over_spans:
            self._prune_safely(None)

    def _commit(self, requests: list[tuple[Signal, Message]]) -> None:
        flattened: list[tuple[Signal, dict[str, str], list[SpanRow]]] = []
        for signal, request in requests:
            try:
                if signal == "traces":
                    flattened.append((signal, *flatten_traces(request)))  # type: ignore[arg-type]
                elif signal == "logs":
                    flattened.append((signal, *flatten_logs(request)))  # type: ignore[arg-type]
                else:
                    flattened.append((signal, *flatten_metrics(request)))  # type: ignore[arg-type]
            except Exception:
                _logger.exception("llmtel viewer: could not read a %s request; it is not stored", signal)
                with self._counts_cond:
                    self._failed_requests += 1
        spans = logs = points = stored = 0
        with self._db_lock:
            conn = self._writer_conn
            try:
                conn.execute("BEGIN")
                for signal, resources, rows in flattened:
                    added = self._store_request(conn, signal, resources, rows)
                    if added is None:
                        continue
                    stored += 1
                    if signal == "traces":
                        spans += added
                    elif signal == "logs":
                        logs += added
                    else:
                        points += added
                conn.execute("COMMIT")
            except Exception:
                _logger.exception("llmtel viewer: storing %d requests failed; they are lost", stored)
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                self._resource_ids.clear()
                with self._counts_cond:
                    self._failed_requests += len(flattened)
                return
        self._span_total += spans
        with self._counts_cond:
            self._received_spans += spans
            self._received_logs += logs
            self._received_points += points
            self._failed_requests += len(flattened) - stored
            self._counts_cond.notify_all()

    def _store_request(
        self, conn: sqlite3.Connection, signal: Signal, resources: dict[str, str], rows: list[SpanRow]
    ) -> int | None:
        """Insert one request's rows under its own savepoint; the spans, records or points stored, or None if
        they failed: then only this request is rolled back (and logged), not the others of its transaction."""
        new_resources = [key for key in resources if key not in self._resource_ids]
        conn.execute("SAVEPOINT request")
        try:
            self._resolve_resources(conn, resources)
            if signal == "traces":
                added = self._insert_spans(conn, rows)
            elif signal == "logs":
                added = self._insert_rows(conn, "logs", LOG_COLUMNS, LOG_RESOURCE_INDEX, rows)
            else:
                added = self._insert_rows(conn, "metric_points", METRIC_COLUMNS, METRIC_RESOURCE_INDEX, rows)
        except Exception as error:
            conn.execute("ROLLBACK TO request")
            conn.execute("RELEASE request")
            for key in new_resources:  # their rows went with the savepoint
                self._resource_ids.pop(key, None)
            # Data SQLite refuses is the sender's problem: one line (the traceback at debug); anything else a bug.
            refused = isinstance(error, (sqlite3.Error, OverflowError, ValueError))
            _logger.warning(
                "llmtel viewer: a %s request could not be stored and is dropped (%s: %s); the others are kept",
                signal, type(error).__name__, error, exc_info=not refused or _logger.isEnabledFor(logging.DEBUG),
            )
            return None
        conn.execute("RELEASE request")
        return added

    def _resolve_resources(self, conn: sqlite3.Connection, resources: dict[str, str]) -> None:
        for key, service in resources.items():
            if key in self._resource_ids:
                continue
            conn.execute("INSERT OR IGNORE INTO resources (service, attributes) VALUES (?, ?)", (service, key))
            row = conn.execute("SELECT id FROM resources WHERE attributes = ?", (key,)).fetchone()
            self._resource_ids[key] = row[0]

    def _with_resource_ids(self, rows: list[SpanRow], index: int) -> list[SpanRow]:
        ids = self._resource_ids
        return [(*row[:index], ids[row[index]], *row[index + 1 :]) for row in rows]

    def _insert_rows(
        self, conn: sqlite3.Connection, table: str, columns: str, resource_index: int, rows: list[SpanRow]
    ) -> int:
        if not rows:
            return 0
        marks = ", ".join("?" * len(rows[0]))
        conn.executemany(
            f"INSERT INTO {table} ({columns}) VALUES ({marks})", self._with_resource_ids(rows, resource_index)
        )
        return len(rows)

    def _insert_spans(self, conn: sqlite3.Connection, rows: list[SpanRow]) -> int:
        if not rows:
            return 0
        marks = ", ".join("?" * len(rows[0]))
        insert = f"INSERT OR IGNORE INTO spans ({SPAN_COLUMNS}) VALUES ({marks})"
        conn.execute("SAVEPOINT spans_batch")
        before = conn.total_changes
        conn.executemany(insert, self._with_resource_ids(rows, SPAN_RESOURCE_INDEX))
        inserted = conn.total_changes - before
        if inserted != len(rows):
            # Some spans were already stored (an exporter retried after a timeout): keep only the new ones,
            # so the trace summaries count each span once.
            conn.execute("ROLLBACK TO spans_batch")
            existing: set[tuple[str, str]] = set()
            trace_ids = sorted({r[0] for r in rows})
            for chunk in range(0, len(trace_ids), 500):
                part = trace_ids[chunk : chunk + 500]
                existing.update(
                    conn.execute(
                        f"SELECT trace_id, span_id FROM spans WHERE trace_id IN ({', '.join('?' * len(part))})",
                        part,
                    ).fetchall()
                )
            seen: set[tuple[str, str]] = set()
            fresh = []
            for row in rows:
                key = (row[0], row[1])
                if key in existing or key in seen:
                    continue
                seen.add(key)
                fresh.append(row)
            rows = fresh
            conn.executemany(insert, self._with_resource_ids(rows, SPAN_RESOURCE_INDEX))
            inserted = len(rows)
        conn.execute("RELEASE spans_batch")
        self._update_summaries(conn, summarize(rows))
        return inserted

    @staticmethod
    def _update_summaries(conn: sqlite3.Connection, deltas: dict[str, TraceDelta]) -> None:
        conn.executemany(
            _UPSERT_TRACE,
            [
                (
                    trace_id,
                    d.start_us,
                    d.end_us,
                    d.span_count,
                    int(d.has_root),
                    d.root_name,
                    d.root_service,
                    d.input_tokens,
                    d.output_tokens,
                    d.cost_usd,
                    d.error_count,
                    d.run_id,
                    d.session_id,
                )
                for trace_id, d in deltas.items()
            ],
        )
        models = [(trace_id, m) for trace_id, d in deltas.items() for m in d.models]
        if models:
            conn.executemany("INSERT OR IGNORE INTO trace_models (trace_id, model) VALUES (?, ?)", models)
            conn.executemany("INSERT OR IGNORE INTO models (model) VALUES (?)", [(m,) for m in {m for _, m in models}])
        conn.executemany(
            "INSERT OR IGNORE INTO trace_services (trace_id, service) VALUES (?, ?)",
            [(trace_id, s) for trace_id, d in deltas.items() for s in d.services],
        )
        services = {s for d in deltas.values() for s in d.services}
        conn.executemany("INSERT OR IGNORE INTO services (service) VALUES (?)", [(s,) for s in services])
        operations = {op for d in deltas.values() for op in d.operations}
        conn.executemany("INSERT OR IGNORE INTO operations (service, name, kind) VALUES (?, ?, ?)", operations)

    # -- retention ---------------------------------------------------------------------------------------

    def _prune_safely(self, now_us: int | None) -> int:
        self._last_prune = time.monotonic()
        if not self._retention.active:
            return 0
        try:
            with self._db_lock:
                return self._prune(now_us if now_us is not None else time.time_ns() // 1000)
        except Exception:
            _logger.exception("llmtel viewer: retention pruning failed")
            if self._writer_conn.in_transaction:
                self._writer_conn.execute("ROLLBACK")
            return 0

    def _prune(self, now_us: int) -> int:
        conn = self._writer_conn
        retention = self._retention
        deleted = 0
        if retention.max_age_us is not None:
            cutoff = now_us - retention.max_age_us
            deleted += self._delete_traces(conn, "start_us < ? AND end_us < ?", (cutoff, cutoff), cutoff)
        if retention.max_spans is not None and self._span_total > retention.max_spans:
            deleted += self._delete_oldest_spans(conn, self._span_total - retention.max_spans)
        if retention.max_db_bytes is not None:
            for _ in range(20):
                page_size, pages, free = (
                    conn.execute(f"PRAGMA {name}").fetchone()[0] for name in ("page_size", "page_count", "freelist_count")
                )
                used = (pages - free) * page_size
                if used <= retention.max_db_bytes or self._span_total == 0:
                    break
                # Free about the overshoot plus a tenth, in proportion to the spans' share of the space.
                share = (used - retention.max_db_bytes) / used + 0.1
                deleted += self._delete_oldest_spans(conn, max(1, int(self._span_total * share)))
        if deleted:
            conn.execute("BEGIN")
            conn.execute("DELETE FROM models WHERE model NOT IN (SELECT model FROM trace_models)")
            conn.execute(
                "DELETE FROM services WHERE NOT EXISTS (SELECT 1 FROM spans s WHERE s.service = services.service)"
            )
            conn.execute(
                "DELETE FROM operations WHERE NOT EXISTS (SELECT 1 FROM spans s WHERE s.service = operations.service"
                " AND s.name = operations.name AND s.kind = operations.kind)"
            )
            conn.execute("COMMIT")
            if not self._memory:
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        return deleted

    def _delete_oldest_spans(self, conn: sqlite3.Connection, excess: int) -> int:
        removed, cutoff = 0, None
        for start_us, count in conn.execute("SELECT start_us, span_count FROM traces ORDER BY start_us"):
            removed += count
            cutoff = start_us
            if removed >= excess:
                break
        if cutoff is None:
            return 0
        return self._delete_traces(conn, "start_us <= ?", (cutoff,), cutoff + 1)

    def _delete_traces(self, conn: sqlite3.Connection, where: str, params: Sequence[Any], log_cutoff: int) -> int:
        """Delete the traces matching `where` (on `traces`) with their spans; logs and points before cutoff."""
        conn.execute("BEGIN")
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS doomed (trace_id TEXT PRIMARY KEY) WITHOUT ROWID")
        conn.execute("DELETE FROM doomed")
        conn.execute(f"INSERT INTO doomed SELECT trace_id FROM traces WHERE {where}", params)
        before = conn.total_changes
        conn.execute("DELETE FROM spans WHERE trace_id IN (SELECT trace_id FROM doomed)")
        deleted = conn.total_changes - before
        for table in ("traces", "trace_models", "trace_services", "logs"):
            conn.execute(f"DELETE FROM {table} WHERE trace_id IN (SELECT trace_id FROM doomed)")
        conn.execute("DELETE FROM logs WHERE time_us < ?", (log_cutoff,))
        conn.execute("DELETE FROM metric_points WHERE time_us < ?", (log_cutoff,))
        conn.execute("DELETE FROM doomed")
        conn.execute("COMMIT")
        self._span_total -= deleted
        return deleted

    # -- queries -----------------------------------------------------------------------------------------

    def services(self) -> list[str]:
        with self._reading() as conn:
            return [r[0] for r in conn.execute("SELECT service FROM services ORDER BY service")]

    def operations(self, service: str, kind: int | None = None) -> list[tuple[str, int]]:
        """(name, span kind) pairs of `service`, sorted by name."""
        sql = "SELECT name, kind FROM operations WHERE service = ?"
        params: list[Any] = [service]
        if kind is not None:
            sql += " AND kind = ?"
            params.append(kind)
        with self._reading() as conn:
            return [(r[0], r[1]) for r in conn.execute(sql + " ORDER BY name, kind", params)]

    def models(self) -> list[str]:
        with self._reading() as conn:
            return [r[0] for r in conn.execute("SELECT model FROM models ORDER BY model")]

    def span_count(self) -> int:
        with self._reading() as conn:
            return int(conn.execute("SELECT count(*) FROM spans").fetchone()[0])

    def find_trace_ids(self, query: TraceQuery) -> list[str]:
        """Jaeger search: ids of traces with a span matching every criterion, newest matching span first."""
        where: list[str] = []
        params: list[Any] = []
        for condition, value in (
            ("s.service = ?", query.service),
            ("s.name = ?", query.operation),
            ("s.start_us >= ?", query.start_us),
            ("s.start_us <= ?", query.end_us),
            ("s.duration_us >= ?", query.min_duration_us),
            ("s.duration_us <= ?", query.max_duration_us),
        ):
            if value is not None:
                where.append(condition)
                params.append(value)
        joins_resources = False
        for key, value in query.tags.items():
            sql, extra = _tag_condition(key, value)
            joins_resources = joins_resources or "r." in sql
            where.append(sql)
            params.extend(extra)
        if query.model is not None:
            where.append("(s.model = ? OR s.response_model = ?)")
            params.extend([query.model, query.model])
        if query.trace_ids:
            where.append(f"s.trace_id IN ({', '.join('?' * len(query.trace_ids))})")
            params.extend(query.trace_ids)
        join = " JOIN resources r ON r.id = s.resource_id" if joins_resources else ""
        sql = f"SELECT s.trace_id FROM spans s{join}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY s.start_us DESC"
        found: dict[str, None] = {}
        with self._reading() as conn:
            for (trace_id,) in conn.execute(sql, params):
                found[trace_id] = None
                if len(found) >= query.limit:
                    break
        return list(found)

    def spans_of(self, trace_ids: Sequence[str]) -> dict[str, list[StoredSpan]]:
        """The spans of each trace (in start order), keyed by trace id, in the order asked; absent ids left out."""
        out: dict[str, list[StoredSpan]] = {}
        if not trace_ids:
            return out
        with self._reading() as conn:
            for chunk in range(0, len(trace_ids), 500):
                part = list(trace_ids[chunk : chunk + 500])
                sql = f"{_SPAN_SELECT} WHERE s.trace_id IN ({', '.join('?' * len(part))}) ORDER BY s.start_us"
                for row in conn.execute(sql, part):
                    out.setdefault(row[0], []).append(StoredSpan(*row))
        return {t: out[t] for t in trace_ids if t in out}

    @staticmethod
    def _summary_conditions(query: TraceQuery) -> list[tuple[str, list[Any]]]:
        """WHERE terms over `traces t` for everything but the service and model filters."""
        terms: list[tuple[str, list[Any]]] = []
        if query.start_us is not None:
            terms.append(("t.start_us >= ?", [query.start_us]))
        if query.end_us is not None:
            terms.append(("t.start_us <= ?", [query.end_us]))
        if query.errors_only:
            terms.append(("t.error_count > 0", []))
        if query.min_duration_us is not None:
            terms.append(("t.end_us - t.start_us >= ?", [query.min_duration_us]))
        if query.max_duration_us is not None:
            terms.append(("t.end_us - t.start_us <= ?", [query.max_duration_us]))
        if query.operation is not None:
            terms.append(("t.root_name = ?", [query.operation]))
        if query.text is not None:
            # `search` is the lower-cased run id, session id and root name (a stored generated column).
            terms.append(("(instr(t.search, lower(?)) > 0 OR t.trace_id = ?)", [query.text, query.text.strip().lower()]))
        if query.trace_ids:
            terms.append((f"t.trace_id IN ({', '.join('?' * len(query.trace_ids))})", list(query.trace_ids)))
        return terms

    @staticmethod
    def _membership(query: TraceQuery) -> list[tuple[str, str, str]]:
        """(table, column, value) of the association filters: model first (the more selective, usually)."""
        out = []
        if query.model is not None:
            out.append(("trace_models", "model", query.model))
        if query.service is not None:
            out.append(("trace_services", "service", query.service))
        return out

    @staticmethod
    def _where(terms: list[tuple[str, list[Any]]]) -> tuple[str, list[Any]]:
        if not terms:
            return "", []
        return " WHERE " + " AND ".join(t for t, _ in terms), [p for _, ps in terms for p in ps]

    @staticmethod
    def _scan_hint(query: TraceQuery) -> str:
        """A text search that no index narrows reads the table in storage order (about 3x faster than in start
        order through the index) and keeps the newest matches in a top-N sort."""
        if query.text is not None and query.start_us is None and query.end_us is None and not query.trace_ids:
            return " NOT INDEXED"
        return ""

    def trace_summaries(self, query: TraceQuery) -> tuple[list[TraceSummary], int]:
        """Summaries matching `query`, newest first, at most `query.limit`; plus how many match in all."""
        terms = self._summary_conditions(query)
        membership = self._membership(query)
        exists = [
            (f"EXISTS (SELECT 1 FROM {table} a WHERE a.trace_id = t.trace_id AND a.{column} = ?)", [value])
            for table, column, value in membership
        ]
        where, params = self._where(terms + exists)
        sql = (
            "SELECT t.trace_id, t.start_us, t.end_us, t.span_count, t.root_name, t.root_service, t.input_tokens,"
            " t.output_tokens, t.cost_usd, t.error_count, t.run_id, t.session_id,"
            " (SELECT group_concat(tm.model, char(31)) FROM trace_models tm WHERE tm.trace_id = t.trace_id)"
            f" FROM traces t{self._scan_hint(query)}{where} ORDER BY t.start_us DESC LIMIT ?"
        )
        with self._reading() as conn:
            rows = conn.execute(sql, [*params, query.limit]).fetchall()
            if len(rows) < query.limit:
                total = len(rows)
            elif not membership or query.errors_only:  # (traces with errors have their own, small index)
                total = conn.execute(f"SELECT count(*) FROM traces t{where}", params).fetchone()[0]
            else:
                # Count from the association table's index instead of probing it for every trace.
                table, column, value = membership[0]
                other_where, other_params = self._where(terms + exists[1:])
                if other_where:
                    count_sql = (
                        f"SELECT count(*) FROM {table} m JOIN traces t ON t.trace_id = m.trace_id"
                        f"{other_where} AND m.{column} = ?"
                    )
                else:
                    count_sql = f"SELECT count(*) FROM {table} m WHERE m.{column} = ?"
                total = conn.execute(count_sql, [*other_params, value]).fetchone()[0]
        summaries = [
            TraceSummary(*row[:12], models=tuple(sorted(row[12].split("\x1f"))) if row[12] else ())
            for row in rows
        ]
        return summaries, int(total)

    def logs_of(self, trace_id: str) -> list[StoredLog]:
        sql = (
            "SELECT l.time_us, l.trace_id, l.span_id, l.severity_number, l.severity_text, l.body, l.attributes,"
            " r.attributes, l.scope_name, l.event_name FROM logs l JOIN resources r ON r.id = l.resource_id"
            " WHERE l.trace_id = ? ORDER BY l.time_us, l.id"
        )
        with self._reading() as conn:
            return [StoredLog(*row) for row in conn.execute(sql, (trace_id,))]

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one read-only query (used by the report); returns all rows."""
        with self._reading() as conn:
            return conn.execute(sql, params).fetchall()

