"""Log-record stamping and a JSON formatter.

``install_record_stamping()`` chains ``logging.setLogRecordFactory`` so every ``LogRecord`` carries, from
the moment it is created, ``trace_id``, ``span_id``, ``trace_flags`` (hex; "" outside a span), ``run_id``,
``step``, ``session_id`` and ``user_id`` ("" when absent). The app's own formatters can then use
``%(trace_id)s`` or ``%(run_id)s``. ``uninstall_record_stamping()`` (llmtel's shutdown and exit hook) stops
stamping but leaves every field present with its empty value, so those formatters keep printing the lines
logged afterwards (by later ``atexit`` hooks, daemon threads) instead of failing on a missing field.

The stamped fields must not break ``logger.info(..., extra={"run_id": ...})``: ``Logger.makeRecord``
refuses an ``extra`` key the record already has. The record's ``__dict__`` is therefore a dict whose
``in`` test does not see the stamped fields, so ``extra=`` overrides them as before. The values llmtel
stamped stay available under the private ``_llmtel`` field.

``JsonFormatter`` writes one JSON object per line.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import re
from typing import Any

from opentelemetry import trace

from llmtel import semconv
from llmtel.credentials import REDACTED, cleaned_scalar, could_be_secret, is_credential_name
from llmtel.logs.redaction import log_redactor
from llmtel.pipeline import log_fields
from llmtel.redaction import Redactor

STAMP_FIELDS = frozenset(semconv.LOG_STAMP_FIELDS)
STAMP_KEY = "_llmtel"  # private field holding what llmtel stamped (never exported as payload)


class _StampedDict(dict):
    """A record ``__dict__`` whose ``in`` test skips the stamped fields, so ``extra=`` may override them."""

    __slots__ = ()

    def __contains__(self, key: object) -> bool:
        return key not in STAMP_FIELDS and dict.__contains__(self, key)


def stamp_values() -> dict[str, str]:
    """The fields a record created now gets stamped with."""
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid:
        ids = {
            semconv.LOG_TRACE_ID: format(ctx.trace_id, "032x"),
            semconv.LOG_SPAN_ID: format(ctx.span_id, "016x"),
            semconv.LOG_TRACE_FLAGS: format(ctx.trace_flags, "02x"),
        }
    else:
        ids = {semconv.LOG_TRACE_ID: "", semconv.LOG_SPAN_ID: "", semconv.LOG_TRACE_FLAGS: ""}
    ids.update(log_fields())
    return ids


def record_stamp(record: logging.LogRecord) -> dict[str, str]:
    """What llmtel stamped on ``record``; computed from the current context if the record was not stamped."""
    stamp = record.__dict__.get(STAMP_KEY)
    return stamp if isinstance(stamp, dict) else stamp_values()


# What a record carries once stamping is uninstalled: the values README documents for outside a span.
_EMPTY_STAMP = {field: "" for field in semconv.LOG_STAMP_FIELDS}


class _StampingFactory:
    """The installed record factory: calls the previous factory, then stamps.

    Disabled (uninstalled), it still gives each record the fields, empty, where no factory before it set
    them, and no ``_llmtel`` stamp: consumers then read the context as for a record llmtel never stamped."""

    def __init__(self, previous: Any) -> None:
        self.previous = previous
        self.enabled = True

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.previous(*args, **kwargs)
        try:
            fields = _StampedDict(record.__dict__)
            if self.enabled:
                stamp = stamp_values()
                fields.update(stamp)
                fields[STAMP_KEY] = stamp
            else:
                for field, value in _EMPTY_STAMP.items():
                    fields.setdefault(field, value)
            record.__dict__ = fields
        except Exception:  # noqa: BLE001 - creating a log record must never fail because of us
            pass
        return record


_factory: _StampingFactory | None = None


def install_record_stamping() -> None:
    """Chain the stamping factory onto ``logging``'s record factory. Installing twice changes nothing; after
    ``uninstall_record_stamping`` the factory still in the chain stamps again."""
    global _factory
    current = logging.getLogRecordFactory()
    if isinstance(current, _StampingFactory):
        current.enabled = True
        _factory = current
        return
    if _factory is not None and _chained(current, _factory):
        _factory.enabled = True  # someone wrapped ours; it is still in the chain
        return
    _factory = _StampingFactory(current)
    logging.setLogRecordFactory(_factory)


def _chained(factory: Any, ours: _StampingFactory) -> bool:
    seen = 0
    while factory is not None and seen < 32:
        if factory is ours:
            return True
        factory = getattr(factory, "previous", None)
        seen += 1
    return False


def uninstall_record_stamping() -> None:
    """Undo ``install_record_stamping``: stop stamping. The factory stays in the chain, giving records the
    fields with their empty values: an app formatter using ``%(trace_id)s`` (as the README suggests) would
    otherwise fail on every line logged after llmtel's shutdown ("Formatting field not found in record")."""
    if _factory is not None:
        _factory.enabled = False


# Attributes every LogRecord carries; anything else on a record came from ``extra=`` and is payload.
# (Stamped fields never count as standard, whatever record factory is installed at import.)
_STANDARD_RECORD_KEYS = (
    frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}
) - STAMP_FIELDS
_PLACEHOLDER = re.compile(r"%(\([^)]*\))?[#0\- +]*(\d+|\*)?(\.(\d+|\*))?[a-zA-Z%]|\{[^}]*\}")
_NON_WORD = re.compile(r"[^0-9a-zA-Z]+")


def snake_case(template: str) -> str:
    """``"Step %s finished OK"`` -> ``"step_finished_ok"``: placeholders dropped, words joined by ``_``."""
    return _NON_WORD.sub("_", _PLACEHOLDER.sub(" ", template)).strip("_").lower()


def _timestamp(record: logging.LogRecord) -> str:
    moment = _dt.datetime.fromtimestamp(int(record.created), tz=_dt.timezone.utc)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{int(record.msecs):03d}Z"


def _cleaned(key: str, value: Any, clean: Redactor, depth: int = 0) -> Any:
    """A payload value as written: under a credential's name ``[REDACTED]``; strings passed through ``clean``,
    inside lists and dicts too (a few levels deep; deeper, as ``repr`` cleaned); other values as they are."""
    if isinstance(value, str):
        return REDACTED if is_credential_name(key) else clean(value)
    if could_be_secret(value) and is_credential_name(key):
        return REDACTED
    if isinstance(value, (dict, list, tuple)):
        if depth >= 4:
            return clean(repr(value))
        if isinstance(value, dict):
            return {clean(str(k)): _cleaned(str(k), v, clean, depth + 1) for k, v in value.items()}
        return [_cleaned(key, v, clean, depth + 1) for v in value]
    return cleaned_scalar(value, clean)


def _stamped_field(fields: dict[str, Any], stamp: dict[str, str], key: str) -> Any:
    """The record's value of a stamped field; where it is missing or empty (a record created while stamping was
    uninstalled), the stamp's, read from the context then."""
    value = fields.get(key, "")
    return stamp.get(key, "") if value == "" else value


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``timestamp`` (UTC, ms), ``level``, ``event``, ``message``, ``logger``,
    ``run_id``, ``step``, ``trace_id``, ``span_id``, ``session_id``/``user_id`` when set, the record's
    ``extra=`` payload, and ``exception`` when there is one. Values JSON cannot encode are written as
    ``repr``. The message, the exception and the payload's strings are masked as shipped log records are
    (``llmtel.logs.redaction``): credentials always, personal data unless turned off."""

    def format(self, record: logging.LogRecord) -> str:
        fields = record.__dict__
        stamp = record_stamp(record)
        clean = log_redactor()
        event_dict = record.msg if isinstance(record.msg, dict) else None  # structlog's, via ProcessorFormatter
        raw = str(event_dict.get("event", "")) if event_dict is not None else record.getMessage()
        message = clean(raw)
        event = fields.get(semconv.LOG_EVENT)
        if not isinstance(event, str) or not event:
            template = raw if event_dict is not None else record.msg
            if template == raw:  # no arguments: the message is its own template (``f"mail {email}"``)
                event = snake_case(message)
            else:
                event = snake_case(clean(template)) if isinstance(template, str) else type(template).__name__
        out: dict[str, Any] = {
            "timestamp": _timestamp(record),
            "level": record.levelname,
            "event": event,
            "message": message,
            "logger": record.name,
        }
        for key in (semconv.LOG_RUN_ID, semconv.LOG_STEP, semconv.LOG_TRACE_ID, semconv.LOG_SPAN_ID):
            out[key] = _stamped_field(fields, stamp, key)
        for key in (semconv.LOG_SESSION_ID, semconv.LOG_USER_ID):
            value = _stamped_field(fields, stamp, key)
            if value:
                out[key] = value
        for key, value in fields.items():
            if (
                key in _STANDARD_RECORD_KEYS
                or key in out
                or key in STAMP_FIELDS
                or key == semconv.LOG_EVENT
                or key.startswith("_")
            ):
                continue
            out[key] = _cleaned(key, value, clean)
        for key, value in (event_dict or {}).items():
            if isinstance(key, str) and not key.startswith("_") and key not in out and key not in ("level", "exc_info"):
                out[key] = _cleaned(key, value, clean)
        if record.exc_info:
            out["exception"] = clean(self.formatException(record.exc_info))
        elif record.exc_text:
            out["exception"] = clean(record.exc_text)
        if record.stack_info:
            out["stack"] = clean(self.formatStack(record.stack_info))
        return json.dumps(out, default=repr, ensure_ascii=False)
