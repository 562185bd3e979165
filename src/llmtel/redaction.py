"""Personal data masked in telemetry text: e-mail addresses, card numbers and phone numbers.

``default_redactor`` masks the secrets ``llmtel.credentials`` knows, then personal data. It is the default
redaction hook of captured content, and what shipped log records pass (``llmtel.logs.redaction``). Credentials
are masked whatever the settings; personal data only where the hook is on, which it is by default.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from llmtel.credentials import redact_secrets

Redactor = Callable[[str], str]
REDACTOR_FAILED = "[REDACTED:redactor_failed]"  # what a text becomes when a user's redactor raises on it


def _luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _card_number(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group())
    return "[REDACTED:card_number]" if 13 <= len(digits) <= 19 and _luhn_valid(digits) else match.group()


# Numbers inside decimals, versions and timestamps are left alone: phone numbers need separators or a leading
# "+", card numbers must pass the Luhn check. Like the secrets' patterns, these run in time linear in the text
# (an e-mail's local part starts where its run of characters starts).
_NOT_IN_NUMBER = r"(?<![\w.+])"
_NUMBER_END = r"(?![\w]|\.\d)"
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9\-]{1,63}(?:\.[A-Za-z0-9\-]{1,63}){0,8}\.[A-Za-z]{2,63}\b"
)
_CARD = re.compile(_NOT_IN_NUMBER + r"\d(?:[ \-]?\d){12,18}" + _NUMBER_END)
_PHONE = re.compile(
    r"(?:(?<![\w.])\+\d{1,3}[ .\-]?|" + _NOT_IN_NUMBER + r")\(?\d{2,4}\)?[ .\-]\d{3,4}[ .\-]\d{3,4}" + _NUMBER_END
)
# What every phone number the pattern above matches contains (two digits, three, three, with separators), found
# with a pattern that starts with a digit: the regular expression engine skips to digits and tries far fewer
# places than the phone pattern, whose alternation of look-behinds it must try everywhere. A log line without
# one (most: "0.412 s", "2026-11-24", "127.0.0.1:4318") costs the phone pattern nothing.
_PHONE_CORE = re.compile(r"\d\d\)?[ .\-]\d{3,4}[ .\-]\d{3}")


def mask_personal_data(text: str) -> str:
    """``text`` with e-mail addresses, card numbers (Luhn-valid, 13 to 19 digits) and phone numbers masked."""
    if "@" in text:
        text = _EMAIL.sub("[REDACTED:email]", text)
    text = _CARD.sub(_card_number, text)
    if _PHONE_CORE.search(text) is not None:
        text = _PHONE.sub("[REDACTED:phone]", text)
    return text


def default_redactor(text: str) -> str:
    """Mask API keys, tokens, URL passwords and credential query parameters, e-mail addresses, card numbers
    (Luhn-valid) and phone numbers."""
    return mask_personal_data(redact_secrets(text))


def with_secrets_masked(redactor: Redactor) -> Redactor:
    """``redactor`` run after ``redact_secrets`` (credentials are masked whatever a user's hook does); a text
    it raises on becomes a placeholder, never the unredacted text. The default redactor is returned as it is."""
    if redactor is default_redactor:
        return redactor

    def redact(text: str) -> str:
        try:
            return redactor(redact_secrets(text))
        except Exception:  # noqa: BLE001 - never leak text because the hook failed
            return REDACTOR_FAILED

    redact.__qualname__ = f"with_secrets_masked({getattr(redactor, '__qualname__', type(redactor).__name__)})"
    return redact


__all__ = ["REDACTOR_FAILED", "Redactor", "default_redactor", "mask_personal_data", "with_secrets_masked"]
