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
from llmtel.logs.redaction import log_redactor, masked_id, masked_name
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


def unprintable(value: object, what: str = "str") -> str:
    """What stands for a value whose ``__str__`` or ``__repr__`` raises (as Python's tracebacks say it)."""
    return f"<{type(value).__name__} object: {what}() failed>"


def text_of(value: Any) -> str:
    """``str(value)``, or a placeholder when the app's ``__str__`` raises."""
    try:
        return str(value)
    except Exception:  # noqa: BLE001 - an app's broken ``__str__`` must not cost the record
        return unprintable(value)


def repr_of(value: Any) -> str:
    """``repr(value)``, or a placeholder when the app's ``__repr__`` raises: a payload that cannot be shown must not
    cost the record (a plain ``StreamHandler`` never renders it)."""
    try:
        return repr(value)
    except Exception:  # noqa: BLE001
        return unprintable(value, "repr")


def record_message(record: logging.LogRecord) -> tuple[str, str | None]:
    """The record's message and None; when the message cannot be made (arguments that do not match the format, a
    ``msg`` whose ``__str__`` raises), the template's text and what went wrong (``TypeError: not enough arguments
    for format string``), so that the record is still written and shipped, with its mistake named."""
    try:
        return record.getMessage(), None
    except Exception as error:  # noqa: BLE001 - the app's mistake, reported by its own handlers (handleError)
        return text_of(record.msg), f"{type(error).__name__}: {text_of(error)}"


_JSON_SCALARS = (str, int, float, bool, type(None))


def _cleaned(key: str, value: Any, clean: Redactor, depth: int = 0) -> Any:
    """A payload value as written: under a credential's name ``[REDACTED]``; strings passed through ``clean``,
    inside lists and dicts too (keys included; a few levels deep; deeper, as ``repr`` cleaned); anything JSON
    does not write as it is (an object, a set, a date) as its cleaned ``repr``, whose fields may hold the same
    data (``User(email='...')``)."""
    if isinstance(value, str):
        return REDACTED if is_credential_name(key) else clean(value)
    if could_be_secret(value) and is_credential_name(key):
        return REDACTED
    if isinstance(value, (dict, list, tuple)):
        if depth >= 4:
            return clean(repr_of(value))
        if isinstance(value, dict):
            return {clean(str(k)): _cleaned(str(k), v, clean, depth + 1) for k, v in value.items()}
        return [_cleaned(key, v, clean, depth + 1) for v in value]
    value = cleaned_scalar(value, clean)
    return value if isinstance(value, _JSON_SCALARS) else clean(repr_of(value))


def _kept(text: str) -> str:
    return text


def _stamped_field(
    fields: dict[str, Any], stamp: dict[str, str], key: str, clean: Redactor, mask: Redactor = _kept
) -> Any:
    """A stamped field as written: llmtel's stamp passed through ``mask`` (``masked_id`` for the pipeline's ids;
    trace and span ids are llmtel's own hex); where the record's field is missing or empty (a record created
    while stamping was uninstalled), the stamp read from the context then. A value the app set itself
    (``extra={"user_id": ...}``) is payload, cleaned as any other."""
    value = fields.get(key, "")
    if value == "":
        value = stamp.get(key, "")
        return mask(value) if value else value
    if type(value) is str and value == stamp.get(key):
        return mask(value)
    return _cleaned(key, value, clean)


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
        failed = None
        if event_dict is not None:
            raw = text_of(event_dict.get("event", ""))
        else:
            raw, failed = record_message(record)
        message = clean(raw)
        event = fields.get(semconv.LOG_EVENT)
        if not isinstance(event, str) or not event:
            template = raw if event_dict is not None else record.msg
            if template is raw or (isinstance(template, str) and template == raw):
                event = snake_case(message)  # no arguments: the message is its own template (``f"mail {email}"``)
            else:
                event = snake_case(clean(template)) if isinstance(template, str) else type(template).__name__
        out: dict[str, Any] = {
            "timestamp": _timestamp(record),
            "level": record.levelname,
            "event": event,
            "message": message,
            "logger": masked_name(record.name, clean),
        }
        for key in (semconv.LOG_RUN_ID, semconv.LOG_STEP):
            out[key] = _stamped_field(fields, stamp, key, clean, masked_id)
        for key in (semconv.LOG_TRACE_ID, semconv.LOG_SPAN_ID):
            out[key] = _stamped_field(fields, stamp, key, clean)
        for key in (semconv.LOG_SESSION_ID, semconv.LOG_USER_ID):
            value = _stamped_field(fields, stamp, key, clean, masked_id)
            if value:
                out[key] = value
        if failed is not None:
            out["format_error"] = clean(failed)
            if record.args:
                out["args"] = _cleaned("args", record.args, clean)
        for key, value in fields.items():
            if key in _STANDARD_RECORD_KEYS or key in out or key in STAMP_FIELDS or key == semconv.LOG_EVENT:
                continue
            if not isinstance(key, str):  # ``extra={1: ...}``: stdlib lets it through
                key = clean(repr_of(key))
            elif key.startswith("_"):
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
