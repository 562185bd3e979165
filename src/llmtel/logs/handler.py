"""A ``logging.Handler`` that turns stdlib records into OpenTelemetry log records.

It emits through the LoggerProvider (so the active span's trace and span ids ride along), never blocks
the calling thread, and drops records produced by the export pipeline itself so telemetry about exporting
cannot loop back into the exporter.

A record is never lost for what it holds: one whose message cannot be made from its arguments ships as its
template with the mistake named, and one that cannot be shipped whole ships as a placeholder (``RECORD_FAILED``).

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
import time
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry._logs import LoggerProvider, SeverityNumber

from llmtel import semconv
from llmtel.credentials import redact_secrets, scrubbed_log_value
from llmtel.encodable import encodable_attributes, encodable_text
from llmtel.logs.formatting import STAMP_FIELDS, STAMP_KEY, record_message, record_stamp, repr_of, text_of
from llmtel.logs.redaction import log_redactor, masked_id, masked_name, redacted_by_name
from llmtel.redaction import REDACTOR_FAILED, Redactor

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
    """An ``extra=`` value as OpenTelemetry can hold it: as it is, a list of plain values as a list, anything else as
    its ``repr``; inside a dict, values under a credential's name are ``[REDACTED]`` before (``redacted_by_name``):
    the repr's text no longer tells where ``{'password': ['...']}`` ends."""
    if isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(v, (str, bool, int, float)) for v in value):
        return list(value)
    return repr_of(redacted_by_name(value))


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
    value = redacted_by_name(value)  # values under a credential's name, before the text hides where they end
    try:
        return json.dumps(value, ensure_ascii=False, default=repr_of)
    except (TypeError, ValueError):
        return repr_of(value)


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
            if type(value) is str and key != "exception":
                # The pipeline's ids have only their secrets masked (the app's chosen ids, as on spans); the logger's
                # name is masked as a stdlib logger's is.
                attributes[name] = masked_name(value, clean) if key == "logger" else masked_id(value)
            else:
                attributes[name] = scrubbed_log_value(name, _structured_value(value), clean if key == "exception"
                                                      else redact_secrets)
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


def record_body(record: logging.LogRecord, clean: Redactor = redact_secrets, message: str | None = None) -> str:
    """The record's message (``message`` when the caller made it already) passed through ``clean`` (by default with
    secrets masked); for a structlog event dict handed over by ``ProcessorFormatter.wrap_for_formatter``, its
    ``event``. A message that cannot be made (``record_message``) is its template. What a user's redactor returns
    that is not a text (None, bytes) is not shipped: the body is the placeholder a failing redactor gives."""
    if isinstance(record.msg, dict):
        body = clean(text_of(record.msg.get("event", "")))
    else:
        body = clean(record_message(record)[0] if message is None else message)
    return body if type(body) is str else REDACTOR_FAILED


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


RECORD_FAILED = "[llmtel: log record could not be shipped]"  # the body of a record shipped as a placeholder


def record_attributes(
    record: logging.LogRecord, clean: Redactor = redact_secrets, logger_name: str | None = None
) -> dict[str, Any]:
    """Code location, logger and thread names, run / step / session / user and ``extra=`` fields of a record, as
    OpenTelemetry attributes; for a structlog event dict carried as the message, its key-value pairs too. The
    strings of ``extra=`` fields and key-value pairs pass ``clean`` (``scrubbed_log_value``), as do the logger's
    and thread's names (``masked_name``: apps name them after tenants and requests); the pipeline's ids have their
    credentials masked (``masked_id``). ``logger_name``: the logger's name masked already, when the caller has it."""
    attributes: dict[str, Any] = {
        semconv.CODE_FILE_PATH: record.pathname,
        semconv.CODE_FUNCTION_NAME: record.funcName,
        semconv.CODE_LINE_NUMBER: record.lineno,
        semconv.LOGGER_NAME: masked_name(record.name, clean) if logger_name is None else logger_name,
        semconv.THREAD_NAME: masked_name(record.threadName or "", clean),
    }
    if record.stack_info:  # ``stack_info=True``: where the call was made from, masked as a traceback is
        attributes[semconv.CODE_STACKTRACE] = clean(text_of(record.stack_info))
    stamp = record_stamp(record)
    for field, name in _PIPELINE_ATTRIBUTES:
        if stamp.get(field):
            attributes[name] = masked_id(stamp[field])
    for key, value in record.__dict__.items():
        if key not in _STANDARD_RECORD_KEYS and value is not None:
            if not isinstance(key, str):  # ``extra={1: ...}``: stdlib lets it through, OpenTelemetry keys are text
                key = clean(repr_of(key))
            elif key.startswith("_"):
                continue
            elif key in STAMP_FIELDS and (value == stamp.get(key) or value == ""):
                continue  # stamped by llmtel (or left empty), not the app's payload (an ``extra=`` override is kept)
            attributes[key] = scrubbed_log_value(key, _attribute_value(value), clean)
    if isinstance(record.msg, dict):
        attributes.update(event_dict_attributes(record.msg, stamp, clean))
    return attributes


def format_error_attributes(record: logging.LogRecord, failed: str, clean: Redactor) -> dict[str, str]:
    """What names a record whose message could not be made (``record_message``): the mistake and the arguments,
    cleaned (``llmtel.log.format_error``, ``llmtel.log.args``, when there are arguments)."""
    attributes = {semconv.LLMTEL_LOG_FORMAT_ERROR: clean(failed)}
    if record.args:
        attributes[semconv.LLMTEL_LOG_ARGS] = clean(repr_of(redacted_by_name(record.args)))
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
        name = record.name
        if isinstance(name, str) and name.startswith(_PIPELINE_LOGGERS):
            return True
        # Export workers run with instrumentation suppressed; whatever they log stays out of the pipeline.
        return bool(otel_context.get_value(otel_context._SUPPRESS_INSTRUMENTATION_KEY))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            export = record.levelno >= self.export_level and not (
                getattr(self._local, "busy", False) or self._from_pipeline(record)
            )
        except Exception:  # noqa: BLE001 - a record made by hand with a level that is no number: shipped as it can be
            export = True
        if export:
            self._export(record)
        try:
            last_resort = logging.lastResort
            if last_resort is not None and record.levelno >= last_resort.level and self._only_handler_for(record):
                last_resort.handle(record)
        except Exception:  # noqa: BLE001 - a logging failure must never reach the application
            self.handleError(record)

    def _export(self, record: logging.LogRecord) -> None:
        self._local.busy = True
        try:
            self._emit(record)
        except Exception:  # noqa: BLE001 - a logging failure must never reach the application
            self._emit_placeholder(record)
            self.handleError(record)
        finally:
            self._local.busy = False

    def _emit(self, record: logging.LogRecord) -> None:
        """Ship ``record``. A message that cannot be made from its arguments (``log.info("%s %s", one)``, a ``msg``
        whose ``__str__`` raises) is shipped as its template, the mistake and the arguments named, and not reported
        through ``handleError``: the app's own handlers report it as they would without llmtel (and ``lastResort``,
        which this handler stands in for), and a second report would print the arguments, unmasked, again."""
        clean = log_redactor()
        message, failed = (None, None) if isinstance(record.msg, dict) else record_message(record)
        exc = record.exc_info[1] if record.exc_info else None
        if exc is None and isinstance(record.msg, dict):  # structlog's ``exc_info`` in the event dict
            exc = exception_of(record.msg.get("exc_info"))
        logger_name = masked_name(record.name, clean)  # the scope's name too
        attributes = record_attributes(record, clean, logger_name)
        if failed is not None:
            attributes.update(format_error_attributes(record, failed, clean))
        if isinstance(exc, BaseException):  # recorded here, not by the SDK: cleaned like the body
            attributes.update(exception_attributes(exc, clean))
        self._provider.get_logger(logger_name).emit(
            timestamp=int(record.created * 1e9),
            context=stamped_context(record),  # the span it was logged in, though handled on another thread
            severity_number=severity_number(record.levelno),
            severity_text=record.levelname,
            # Text UTF-8 cannot encode (a file name's undecodable bytes) would fail the whole batch's export.
            body=encodable_text(record_body(record, clean, message)),
            attributes=encodable_attributes(attributes),
        )

    def _emit_placeholder(self, record: logging.LogRecord) -> None:
        """Ship a record that could not be shipped whole (a record made from a dict with odd fields, a redactor's
        output OpenTelemetry cannot hold, a bug of ours) as its time, severity, trace and code location, with
        ``RECORD_FAILED`` as its body: the backend still shows that something was logged there, and nothing of its
        text, which may not have been masked, leaves. ``handleError`` reports the failure next, as logging's
        convention is for a handler's own failures."""
        try:
            logger_name = masked_name(text_of(record.name), log_redactor())
            try:
                timestamp = int(record.created * 1e9)
            except (TypeError, ValueError, OverflowError):  # a record made from a dict (``makeLogRecord``)
                timestamp = time.time_ns()
            self._provider.get_logger(logger_name).emit(
                timestamp=timestamp,
                context=stamped_context(record),
                severity_number=severity_number(record.levelno),
                severity_text=record.levelname,
                body=RECORD_FAILED,
                attributes=encodable_attributes({
                    semconv.CODE_FILE_PATH: str(record.pathname),
                    semconv.CODE_FUNCTION_NAME: str(record.funcName),
                    semconv.CODE_LINE_NUMBER: record.lineno if type(record.lineno) is int else 0,
                    semconv.LOGGER_NAME: logger_name,
                }),
            )
        except Exception:  # noqa: BLE001 - handleError, next, reports the failure
            pass

    def _only_handler_for(self, record: logging.LogRecord) -> bool:
        """True when no other handler sees ``record``: without us, stdlib would print it via lastResort."""
        name = record.name  # a record made by hand (``makeLogRecord``) may have no name, or one that is not text
        logger: logging.Logger | None = logging.getLogger(name) if isinstance(name, str) and name != "root" \
            else logging.root
        while logger is not None:
            if any(h is not self for h in logger.handlers):
                return False
            logger = logger.parent if logger.propagate else None
        return True

    def flush(self) -> None:
        """Nothing to do here: the provider's batch processor flushes on its own thread or at shutdown."""
