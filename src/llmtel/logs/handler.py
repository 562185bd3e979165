"""A ``logging.Handler`` that turns stdlib records into OpenTelemetry log records.

It emits through the LoggerProvider (so the active span's trace and span ids ride along), never blocks
the calling thread, and drops records produced by the export pipeline itself so telemetry about exporting
cannot loop back into the exporter.

Adding a handler to the root logger must not change what the application sees: the handler stands in for
``logging.lastResort`` (warnings to stderr) when it is the only handler a record meets, and
``llmtel.logs.attachment`` keeps the app's own logging configuration (``basicConfig``, ``dictConfig``...)
working as it would without it.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry._logs import LoggerProvider, SeverityNumber

from llmtel import semconv
from llmtel.credentials import redact_secrets, scrubbed_log_value
from llmtel.encodable import encodable_attributes, encodable_text
from llmtel.logs.formatting import STAMP_FIELDS, STAMP_KEY, record_stamp
from llmtel.logs.redaction import log_redactor
from llmtel.redaction import Redactor

# Attributes every LogRecord carries; anything else on a record came from ``extra=`` and is payload.
# (Stamped fields never count as standard, whatever record factory is installed at import.)
_STANDARD_RECORD_KEYS = (
    frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}
) - STAMP_FIELDS

# Loggers whose records describe the telemetry pipeline itself; exporting them could recurse.
_PIPELINE_LOGGERS = ("opentelemetry", "grpc", "urllib3", "llmtel.export")

_SEVERITY: tuple[tuple[int, SeverityNumber], ...] = (
    (logging.CRITICAL, SeverityNumber.FATAL),
    (logging.ERROR, SeverityNumber.ERROR),
    (logging.WARNING, SeverityNumber.WARN),
    (logging.INFO, SeverityNumber.INFO),
    (logging.DEBUG, SeverityNumber.DEBUG),
)


def severity_number(levelno: int) -> SeverityNumber:
    """Map a stdlib level number to the OpenTelemetry severity number of the same band."""
    for threshold, number in _SEVERITY:
        if levelno >= threshold:
            return number
    return SeverityNumber.TRACE


def _attribute_value(value: Any) -> Any:
    if isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(v, (str, bool, int, float)) for v in value):
        return list(value)
    return _repr(value)


def _repr(value: Any) -> str:
    """``repr(value)``, or a placeholder when the app's ``__repr__`` raises: an ``extra=`` field that cannot be
    shown must not cost the record (a plain ``StreamHandler`` never renders it)."""
    try:
        return repr(value)
    except Exception:  # noqa: BLE001
        return f"<{type(value).__name__} object: repr() failed>"


# stamped record field -> attribute it is exported as (trace_id / span_id / trace_flags are not exported:
# the OpenTelemetry record carries the real ids)
_PIPELINE_ATTRIBUTES = (
    (semconv.LOG_RUN_ID, semconv.LLMTEL_RUN_ID),
    (semconv.LOG_STEP, semconv.LLMTEL_STEP),
    (semconv.LOG_SESSION_ID, semconv.SESSION_ID),
    (semconv.LOG_USER_ID, semconv.USER_ID),
)


# structlog event-dict keys with a meaning of their own (everything else is payload, kept under its own key)
_EVENT_DICT_RENAMES = {
    semconv.LOG_RUN_ID: semconv.LLMTEL_RUN_ID,
    semconv.LOG_STEP: semconv.LLMTEL_STEP,
    semconv.LOG_SESSION_ID: semconv.SESSION_ID,
    semconv.LOG_USER_ID: semconv.USER_ID,
    "logger": "logger.name",
    "exception": "exception.stacktrace",  # the text structlog's format_exc_info puts there
}
_EVENT_DICT_SKIPPED = frozenset({"event", "level", "exc_info", "positional_args"})
_IDS = (semconv.LOG_TRACE_ID, semconv.LOG_SPAN_ID, semconv.LOG_TRACE_FLAGS)


def _structured_value(value: Any) -> Any:
    if isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(v, (str, bool, int, float)) for v in value):
        return list(value)
    try:
        return json.dumps(value, ensure_ascii=False, default=_repr)
    except (TypeError, ValueError):
        return _repr(value)


def event_dict_attributes(
    event_dict: Mapping[str, Any], stamp: Mapping[str, str], clean: Redactor = redact_secrets
) -> dict[str, Any]:
    """A structlog event dict's key-value pairs as OpenTelemetry attributes.

    ``event`` is the body and ``level`` the severity, so neither is repeated; keys starting with ``_`` are
    structlog's own; trace / span ids equal to the record's context are carried by the record itself;
    ``run_id``, ``step``, ``session_id``, ``user_id`` get the span attributes' names; other values are kept
    as they are when OpenTelemetry can hold them, as JSON otherwise. Payload strings pass ``clean``
    (``scrubbed_log_value``), as does a stack trace; the pipeline's ids only have secrets masked: they are what
    the app chose to correlate by."""
    attributes: dict[str, Any] = {}
    for key, value in event_dict.items():
        if not isinstance(key, str) or key.startswith("_") or key in _EVENT_DICT_SKIPPED or value is None:
            continue
        if key in _IDS and (value == stamp.get(key) or value == ""):
            continue
        if key in _EVENT_DICT_RENAMES:
            if value == "":
                continue
            name = _EVENT_DICT_RENAMES[key]
            # The pipeline's ids and the logger's name have only their secrets masked (as on spans).
            attributes[name] = scrubbed_log_value(name, _structured_value(value), clean if key == "exception" else
                                                  redact_secrets)
            continue
        attributes[key] = scrubbed_log_value(key, _structured_value(value), clean)
    return attributes


def exception_of(exc_info: Any) -> BaseException | None:
    """The exception an ``exc_info`` value designates: an exception, a ``sys.exc_info()`` tuple, or True
    (the one being handled now)."""
    if isinstance(exc_info, BaseException):
        return exc_info
    if isinstance(exc_info, tuple) and len(exc_info) == 3 and isinstance(exc_info[1], BaseException):
        return exc_info[1]
    if exc_info is True:
        return sys.exc_info()[1]
    return None


def record_body(record: logging.LogRecord, clean: Redactor = redact_secrets) -> str:
    """The record's message passed through ``clean`` (by default with secrets masked); for a structlog event
    dict handed over by ``ProcessorFormatter.wrap_for_formatter``, its ``event``."""
    if isinstance(record.msg, dict):
        return clean(str(record.msg.get("event", "")))
    return clean(record.getMessage())


def exception_text(exception: BaseException) -> str:
    """``str(exception)``, or what Python's own tracebacks print when an exception's ``__str__`` itself raises."""
    try:
        return str(exception)
    except Exception:  # noqa: BLE001 - an app's broken exception must not become ours
        return "<exception str() failed>"


def exception_attributes(exception: BaseException, clean: Callable[[str], str] = redact_secrets) -> dict[str, str]:
    """The conventions' ``exception.*`` attributes of a log record, message and stack trace passed through
    ``clean``: by default with secrets masked (an ``HTTPError`` names the URL it failed on, query string and all)."""
    cls = type(exception)
    module = cls.__module__
    return {
        semconv.EXCEPTION_TYPE: f"{module}.{cls.__qualname__}" if module and module != "builtins" else cls.__qualname__,
        semconv.EXCEPTION_MESSAGE: clean(exception_text(exception)),
        semconv.EXCEPTION_STACKTRACE: clean("".join(traceback.format_exception(exception))),
    }


def record_attributes(record: logging.LogRecord, clean: Redactor = redact_secrets) -> dict[str, Any]:
    """Code location, logger name, run / step / session / user and ``extra=`` fields of a record, as
    OpenTelemetry attributes; for a structlog event dict carried as the message, its key-value pairs too. The
    strings of ``extra=`` fields and key-value pairs pass ``clean`` (``scrubbed_log_value``)."""
    attributes: dict[str, Any] = {
        "code.file.path": record.pathname,
        "code.function.name": record.funcName,
        "code.line.number": record.lineno,
        "logger.name": record.name,
        "thread.name": record.threadName or "",
    }
    stamp = record_stamp(record)
    for field, name in _PIPELINE_ATTRIBUTES:
        if stamp.get(field):
            attributes[name] = stamp[field]
    for key, value in record.__dict__.items():
        if key not in _STANDARD_RECORD_KEYS and not key.startswith("_") and value is not None:
            if key in STAMP_FIELDS and (value == stamp.get(key) or value == ""):
                continue  # stamped by llmtel (or left empty), not the app's payload (an ``extra=`` override is kept)
            attributes[key] = scrubbed_log_value(key, _attribute_value(value), clean)
    if isinstance(record.msg, dict):
        attributes.update(event_dict_attributes(record.msg, stamp, clean))
    return attributes


def stamped_context(record: logging.LogRecord) -> otel_context.Context | None:
    """The Context of the span ``record`` was stamped in, for a record handled elsewhere (a ``QueueListener``'s
    thread, where the current span is another or none); None (the current Context) when the record carries no
    stamped span, or when that span is the current one anyway (the usual case: no Context to build)."""
    stamp = record.__dict__.get(STAMP_KEY)
    if not isinstance(stamp, dict) or not stamp.get(semconv.LOG_SPAN_ID):
        return None
    try:
        trace_id = int(stamp[semconv.LOG_TRACE_ID], 16)
        span_id = int(stamp[semconv.LOG_SPAN_ID], 16)
        flags = int(stamp.get(semconv.LOG_TRACE_FLAGS) or "0", 16)
    except (KeyError, TypeError, ValueError):
        return None
    current = trace.get_current_span().get_span_context()
    if current.span_id == span_id and current.trace_id == trace_id:
        return None
    stamped = trace.SpanContext(trace_id, span_id, is_remote=False, trace_flags=trace.TraceFlags(flags))
    return trace.set_span_in_context(trace.NonRecordingSpan(stamped)) if stamped.is_valid else None


class OTelLogHandler(logging.Handler):
    """Ship stdlib log records to an OpenTelemetry LoggerProvider."""

    def __init__(self, logger_provider: LoggerProvider, level: int = logging.NOTSET) -> None:
        # The handler itself accepts every record so it can stand in for lastResort; ``level`` is only the
        # threshold for exporting.
        super().__init__(logging.NOTSET)
        self.export_level = level
        self._provider = logger_provider
        self._local = threading.local()

    def _from_pipeline(self, record: logging.LogRecord) -> bool:
        if record.name.startswith(_PIPELINE_LOGGERS):
            return True
        # Export workers run with instrumentation suppressed; whatever they log stays out of the pipeline.
        return bool(otel_context.get_value(otel_context._SUPPRESS_INSTRUMENTATION_KEY))

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= self.export_level and not (
            getattr(self._local, "busy", False) or self._from_pipeline(record)
        ):
            self._export(record)
        last_resort = logging.lastResort
        if last_resort is not None and record.levelno >= last_resort.level and self._only_handler_for(record):
            last_resort.handle(record)

    def _export(self, record: logging.LogRecord) -> None:
        self._local.busy = True
        try:
            logger = self._provider.get_logger(record.name)
            exc = record.exc_info[1] if record.exc_info else None
            if exc is None and isinstance(record.msg, dict):  # structlog's ``exc_info`` in the event dict
                exc = exception_of(record.msg.get("exc_info"))
            clean = log_redactor()
            attributes = record_attributes(record, clean)
            if isinstance(exc, BaseException):  # recorded here, not by the SDK: cleaned like the body
                attributes.update(exception_attributes(exc, clean))
            logger.emit(
                timestamp=int(record.created * 1e9),
                context=stamped_context(record),  # the span it was logged in, though handled on another thread
                severity_number=severity_number(record.levelno),
                severity_text=record.levelname,
                # Text UTF-8 cannot encode (a file name's undecodable bytes) would fail the whole batch's export.
                body=encodable_text(record_body(record, clean)),
                attributes=encodable_attributes(attributes),
            )
        except Exception:  # noqa: BLE001 - a logging failure must never reach the application
            self.handleError(record)
        finally:
            self._local.busy = False

    def _only_handler_for(self, record: logging.LogRecord) -> bool:
        """True when no other handler sees ``record``: without us, stdlib would print it via lastResort."""
        logger: logging.Logger | None = logging.getLogger(record.name) if record.name != "root" else logging.root
        while logger is not None:
            if any(h is not self for h in logger.handlers):
                return False
            logger = logger.parent if logger.propagate else None
        return True

    def flush(self) -> None:
        """Nothing to do here: the provider's batch processor flushes on its own thread or at shutdown."""
