"""What the text of a log record passes before it leaves the process: the log handler, the structlog shipper and
``JsonFormatter`` read it here, once per record.

Credentials are always masked (``llmtel.credentials``). Personal data is masked too unless the setup turned it
off (``LLMTEL_LOG_REDACTION=false``): by the default redactor, or by the user's ``redactor=`` after the secrets.
Before any setup (a structlog chain or a formatter built first), records get the default redactor.
"""

from __future__ import annotations

from llmtel.credentials import redact_secrets
from llmtel.redaction import Redactor, default_redactor, with_secrets_masked

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
