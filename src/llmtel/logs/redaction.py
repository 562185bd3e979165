"""What the text of a log record passes before it leaves the process: the log handler, the structlog shipper and
``JsonFormatter`` read it here, once per record.

Credentials are always masked (``llmtel.credentials``). Personal data is masked too unless the setup turned it
off (``LLMTEL_LOG_REDACTION=false``): by the default redactor, or by the user's ``redactor=`` after the secrets.
Before any setup (a structlog chain or a formatter built first), records get the default redactor.

Besides the text of each record, two kinds of value pass here:

- texts that repeat on record after record (logger and thread names, the pipeline's ids), masked once and
  remembered (``masked_name``, ``masked_id``), so that masking them costs a dictionary look-up per record;
- structured payloads (an ``extra=`` dict, a structlog value) before they are written out as text
  (``redacted_by_name``): a value under a credential's name that is not a text (``{"password": ["..."]}``)
  cannot be found once the structure is text.
"""

from __future__ import annotations

from typing import Any

from llmtel.credentials import REDACTED, could_be_secret, is_credential_name, known_secrets, redact_secrets
from llmtel.redaction import REDACTOR_FAILED, Redactor, default_redactor, with_secrets_masked

_current: list[Redactor] = [default_redactor]  # one slot: read per record, replaced by the setup


def log_redactor() -> Redactor:
    """What each text of a shipped or formatted log record passes now."""
    return _current[0]


def use_log_redaction(personal_data: bool, redactor: Redactor | None = default_redactor) -> None:
    """Mask personal data in log text (with ``redactor``, after the secrets; the default one when None) or, with
    ``personal_data=False``, credentials only."""
    if not personal_data:
        _current[0] = redact_secrets
    else:
        _current[0] = default_redactor if redactor is None else with_secrets_masked(redactor)


def reset_log_redaction() -> None:
    """Back to the default: secrets and personal data masked."""
    _current[0] = default_redactor


# --- texts that repeat from record to record -----------------------------------------------------------------

_MEMO_SIZE = 512  # distinct texts remembered; a name made per request (``worker-<uuid>``) must not grow it forever


class _Memo:
    """Masked forms of texts seen before, for one redactor and one set of known secrets: when either changes
    (the setup, ``mask_secret``) the memo starts again. The state is one tuple replaced whole, so threads racing
    on it at worst mask a text twice."""

    __slots__ = ("_state",)

    def __init__(self) -> None:
        self._state: tuple[Any, tuple[str, ...], dict[str, str]] = (None, (), {})

    def masked(self, text: str, redactor: Redactor) -> str:
        redactor_then, known_then, masked = self._state
        known = known_secrets()
        if redactor_then is not redactor or known_then is not known:
            masked = {}
            self._state = (redactor, known, masked)
        found = masked.get(text)
        if found is None:
            found = redactor(text)
            if not isinstance(found, str):  # a user's redactor returning None or bytes: the text stays hidden
                found = REDACTOR_FAILED
            if len(masked) >= _MEMO_SIZE:
                masked.clear()
            masked[text] = found
        return found


_names = _Memo()
_ids = _Memo()


def masked_name(text: Any, clean: Redactor) -> str:
    """A logger's or thread's name passed through ``clean`` (the log redactor), remembered: apps name loggers and
    threads after tenants and requests (``tenant.<e-mail>``, ``worker-<e-mail>``), and the names repeat on
    every record. A name that is not text (a record made by hand) is masked as its ``str``."""
    if type(text) is not str:
        try:
            text = str(text)
        except Exception:  # noqa: BLE001 - an app's broken ``__str__``
            text = f"<{type(text).__name__}>"
    return _names.masked(text, clean)


def masked_id(text: str) -> str:
    """A pipeline id (run, step, session, user) with the credentials in it masked, remembered. Only credentials:
    the ids are what the app chose to correlate by, kept as it set them (README, "Personal data in log lines");
    but a credential never leaves, and ids also arrive in baggage from callers."""
    return _ids.masked(text, redact_secrets)


# --- structured payloads -------------------------------------------------------------------------------------

_MAX_DEPTH = 8  # deeper, a structure is masked as its text only


def redacted_by_name(value: Any, depth: int = 0) -> Any:
    """``value`` with every value under a credential's name inside its dicts (``{"db": {"password": [...]}}``,
    a list or bytes included) replaced by ``[REDACTED]``, in lists and tuples too; the same object when there is
    none, as there usually is not. The rest of the text is masked once the structure is written out: this only
    does what the text's patterns cannot, which is to tell where a non-text value under such a name ends."""
    if depth > _MAX_DEPTH:
        return value
    if isinstance(value, dict):
        copy: dict[Any, Any] | None = None
        for key, item in value.items():
            if isinstance(key, str) and is_credential_name(key) and could_be_secret(item):
                new = REDACTED
            elif isinstance(item, (dict, list, tuple)):
                new = redacted_by_name(item, depth + 1)
            else:
                continue
            if new is not item:
                if copy is None:
                    copy = dict(value)
                copy[key] = new
        return value if copy is None else copy
    if isinstance(value, (list, tuple)):
        items: list[Any] | None = None
        for index, item in enumerate(value):
            if isinstance(item, (dict, list, tuple)):
                new = redacted_by_name(item, depth + 1)
                if new is not item:
                    if items is None:
                        items = list(value)
                    items[index] = new
        if items is None:
            return value
        return tuple(items) if isinstance(value, tuple) else items
    return value
