"""structlog integration: the same correlation for structlog events as for stdlib records, and OTLP export.

Two processors, usable in any structlog processor chain (neither imports structlog):

``add_context``
    adds ``trace_id``, ``span_id``, ``run_id``, ``step``, ``session_id`` and ``user_id`` (those that are set)
    to every event dict, without overwriting keys the event already has.

``ship_to_otlp`` (an ``OTLPShipper`` over the global LoggerProvider)
    emits the event as an OpenTelemetry log record — body ``event``, severity from the method name, every
    other key-value pair as an attribute — and returns the event unchanged for the renderer after it.
    It steps aside for events that are, or will become, stdlib ``LogRecord``s (a ``structlog.stdlib``
    logger, or an event being formatted by ``ProcessorFormatter``): llmtel's log handler on the root logger
    ships those, with the event dict's key-value pairs as attributes, so nothing is sent twice.

Plain structlog (printing JSON)::

    structlog.configure(processors=[
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso"),
        llmtel.structlog_context,
        llmtel.structlog_otlp,
        structlog.processors.JSONRenderer(),
    ])

structlog on top of stdlib logging (the root OTLP handler ships the records)::

    structlog.configure(
        processors=[llmtel.structlog_context, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
    )
    handler = logging.StreamHandler()
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(processor=structlog.processors.JSONRenderer()))
    logging.getLogger().addHandler(handler)
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import MutableMapping
from typing import Any

from opentelemetry import _logs
from opentelemetry import context as otel_context

from llmtel import semconv
from llmtel.encodable import encodable_attributes, encodable_text
from llmtel.logs.formatting import record_stamp, stamp_values
from llmtel.logs.handler import (
    _PIPELINE_LOGGERS,
    event_dict_attributes,
    exception_attributes,
    exception_of,
    severity_number,
)
from llmtel.logs.redaction import log_redactor, masked_name
from llmtel.redaction import REDACTOR_FAILED

EventDict = MutableMapping[str, Any]
_logger = logging.getLogger("llmtel.logs")

_CONTEXT_KEYS = (
    semconv.LOG_TRACE_ID,
    semconv.LOG_SPAN_ID,
    semconv.LOG_RUN_ID,
    semconv.LOG_STEP,
    semconv.LOG_SESSION_ID,
    semconv.LOG_USER_ID,
)
# structlog method names that are not stdlib level names
_METHOD_LEVELS = {"exception": logging.ERROR, "warn": logging.WARNING, "fatal": logging.CRITICAL, "msg": logging.INFO}


def add_context(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    """structlog processor: add the trace, span, run, step, session and user ids of the current context.

    For a stdlib record being formatted by ``ProcessorFormatter`` (the event carries ``_record``) the ids are
    the ones stamped on the record when it was created, not those of the thread formatting it."""
    record = event_dict.get("_record")
    stamp = record_stamp(record) if isinstance(record, logging.LogRecord) else stamp_values()
    for key in _CONTEXT_KEYS:
        value = stamp.get(key)
        if value:
            event_dict.setdefault(key, value)
    return event_dict


def level_of(method_name: str, event_dict: EventDict) -> int:
    """The stdlib level of a structlog call: its method name (``info``, ``exception``...), else ``level``."""
    level = _METHOD_LEVELS.get(method_name)
    if level is not None:
        return level
    for name in (method_name, event_dict.get("level")):
        if isinstance(name, str):
            number = logging.getLevelName(name.upper())
            if isinstance(number, int):
                return number
    return logging.INFO


class OTLPShipper:
    """structlog processor that emits each event as an OpenTelemetry log record and passes it on unchanged.

    ``logger_provider``: where to emit (default: the global provider, looked up at each event, so the
    processor can be configured before ``llmtel.instrument()``). Events from the telemetry pipeline itself,
    and events logged while an export is running, are never shipped, so a failing exporter cannot feed
    itself."""

    def __init__(self, logger_provider: Any = None) -> None:
        self._provider = logger_provider
        self._local = threading.local()
        self._warned = False

    def __call__(self, logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
        if "_record" in event_dict or isinstance(logger, logging.Logger):
            return event_dict  # a stdlib record: the root log handler ships it (with these pairs as attributes)
        if getattr(self._local, "busy", False) or otel_context.get_value(otel_context._SUPPRESS_INSTRUMENTATION_KEY):
            return event_dict
        name = event_dict.get("logger") or getattr(logger, "name", None)
        name = name if isinstance(name, str) and name else "structlog"
        if name.startswith(_PIPELINE_LOGGERS):
            return event_dict
        self._local.busy = True
        try:
            provider = self._provider or _logs.get_logger_provider()
            level = level_of(method_name, event_dict)
            clean = log_redactor()
            attributes = event_dict_attributes(event_dict, stamp_values(), clean)
            exception = exception_of(event_dict.get("exc_info"))
            if exception is not None:  # recorded here, not by the SDK: cleaned like the body
                attributes.update(exception_attributes(exception, clean))
            body = clean(str(event_dict.get("event", "")))
            # The scope is named after the logger: masked as the ``logger.name`` attribute is.
            provider.get_logger(masked_name(name, clean)).emit(
                timestamp=time.time_ns(),
                severity_number=severity_number(level),
                severity_text=logging.getLevelName(level),
                body=encodable_text(body if type(body) is str else REDACTOR_FAILED),
                attributes=encodable_attributes(attributes),
            )
        except Exception:  # noqa: BLE001 - shipping a log line must never break the application
            if not self._warned:
                self._warned = True
                _logger.warning("llmtel: shipping a structlog event over OTLP failed (logged once)", exc_info=True)
        finally:
            self._local.busy = False
        return event_dict


ship_to_otlp = OTLPShipper()

__all__ = ["OTLPShipper", "add_context", "level_of", "ship_to_otlp"]
